//! The workspace's one integration-test binary. Every test starts a real Roster over HTTP on
//! 127.0.0.1:0 with a fresh database: SQLite by default, PostgreSQL when
//! `ROSTER_TEST_POSTGRES_URL` is set (CI runs the suite both ways).

// A test panics on the unexpected, helpers included; `unwrap` is how it says so.
#![allow(clippy::unwrap_used)]

mod authz;
mod compat;
mod native;
mod oauth;
mod ops;
mod overload;
mod scim;
mod security;
mod signatures;
mod surfaces;
mod tidy;
mod transfer;
