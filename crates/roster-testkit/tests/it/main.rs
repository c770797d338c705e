//! The workspace's one integration-test binary. Every test starts a real Roster over HTTP on
//! 127.0.0.1:0 with a fresh database: SQLite by default, PostgreSQL when
//! `ROSTER_TEST_POSTGRES_URL` is set (CI runs the suite both ways).

mod native;
mod ops;
mod tidy;
