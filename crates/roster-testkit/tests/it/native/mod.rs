//! The native `/v1` API.

mod applications;
mod audit;
mod bulk;
mod concurrency;
mod credentials;
mod events;
mod groups;
mod idempotency;
mod invitations;
mod jobs;
mod lifecycle;
mod limits;
mod lookup;
mod organizations;
mod passwords;
mod privacy;
mod protocol;
mod query;
mod relay;
mod roles;
mod secrets;
mod tenants;
mod tokens;
mod users;
mod validation;
mod webhooks;
