//! The Roster directory: everything Roster knows about users, independent of HTTP and SQL.
//!
//! Layout:
//! - [`Directory`] is the one service every surface calls. Each mutation loads state, decides
//!   (validation, state machine, events) and hands the [`Store`] one [`Change`] to commit.
//! - [`user`] holds the user model, [`input`] the unvalidated document a surface parses, and
//!   [`validate`] turns one into the other, collecting every field error at once.
//! - [`roles`] defines roles in organizations and assigns them to users.
//! - [`applications`] registers applications and users' memberships of them.
//! - [`invitations`] invites addresses to organizations and roles.
//! - [`mandates`] records mandates between users and organizations, and delegations.
//! - [`groups`] keeps groups of users and groups.
//! - [`organizations`] keeps the organization tree and memberships.
//! - [`webhooks`] pushes events to tenants' endpoints (the worker lives in `roster-server`).
//! - [`relay`] keeps each tenant's position in a message broker the feed is relayed to.
//! - [`jobs`] runs asynchronous work (offboarding) queued with the change that asks for it.
//! - [`audit`] keeps the audit trail of API operations.
//! - [`state`] is the lifecycle state machine; [`event`] the events every change emits.
//! - [`store`] is the persistence port; `roster-store` implements it for SQLite and PostgreSQL.
//! - [`secret`] hashes passwords and tokens; [`passwords`] sets and verifies passwords;
//!   [`credentials`] keeps metadata of credentials issued to users;
//!   [`tokens`] issues and revokes API tokens; [`tenants`] creates and deletes tenants; [`clock`]
//!   is where time and ids come from.
//!
//! This crate depends on no HTTP framework and no database driver.

pub mod applications;
pub mod audit;
pub mod clock;
pub mod credentials;
pub mod cursor;
pub mod directory;
pub mod error;
pub mod event;
pub mod filter;
pub mod groups;
pub mod id;
pub mod index;
pub mod input;
pub mod invitations;
pub mod jobs;
pub mod keys;
pub mod mandates;
pub mod organizations;
pub mod passwords;
pub mod query;
pub mod relay;
pub mod roles;
pub mod secret;
pub mod state;
pub mod store;
pub mod tenant;
pub mod tenants;
pub mod tokens;
pub mod user;
pub mod validate;
pub mod verification;
pub mod webhooks;

pub use audit::{AuditEntry, AuditLog, AuditQuery, Outcome, Trail};
pub use clock::{Clock, SystemClock};
pub use directory::{Created, Directory, Found, Lookup, Search, Within};
pub use error::{Error, FieldError, Result};
pub use event::{Actor, Event};
pub use id::{
    ApplicationId, CredentialId, DelegationId, GroupId, InvitationId, JobId, MandateId, OrgId,
    RoleId, TenantId, TokenId, UserId, WebhookId,
};
pub use input::UserInput;
pub use keys::PublicKey;
pub use secret::{Argon2Params, HashLimits};
pub use state::Transition;
pub use store::{Change, Store};
pub use tenant::{Principal, Scope, Tenant, Token};
pub use tenants::{Bootstrapped, TenantInput};
pub use tokens::TokenInput;
pub use user::{User, UserKind, UserState};
