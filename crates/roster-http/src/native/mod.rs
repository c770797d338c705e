//! The native API, `/v1`: Roster's own clean REST surface over the directory.

pub(crate) mod events;
pub(crate) mod passwords;
pub(crate) mod tenants;
pub(crate) mod tokens;
pub(crate) mod users;
