//! Tenants, API tokens and the principal a request acts as.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::event::Actor;
use crate::id::{ApplicationId, OrgId, TenantId, TokenId};
use crate::keys::PublicKey;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// The organization users belong to unless they say otherwise.
    pub root_organization_id: OrgId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a token may do. Every route names the one scope it needs; `tenant:admin` implies every
/// scope of its tenant; `system` manages tenants and is implied by nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "directory:admin")]
    DirectoryAdmin,
    #[serde(rename = "tenant:admin")]
    TenantAdmin,
    #[serde(rename = "system")]
    System,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::DirectoryAdmin,
        Scope::TenantAdmin,
        Scope::System,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::DirectoryAdmin => "directory:admin",
            Scope::TenantAdmin => "tenant:admin",
            Scope::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// An API token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Token {
    pub id: TokenId,
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the token last authenticated a request (to within [`TOKEN_USE_GRAIN`]).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// The application the token acts for ("the requesting application" of dialects that have
    /// one), inherited by its access tokens.
    pub application_id: Option<ApplicationId>,
    /// The public key (PEM) whose private half must sign every request made with the token or
    /// its access tokens.
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "pem")]
    pub public_key: Option<PublicKey>,
}

fn pem<S: serde::Serializer>(key: &Option<PublicKey>, s: S) -> Result<S::Ok, S::Error> {
    key.as_ref().map(PublicKey::to_pem).serialize(s)
}

/// A token as stored: only the SHA-256 of its secret is kept.
#[derive(Clone)]
pub struct NewToken {
    pub id: TokenId,
    pub name: String,
    pub secret_hash: [u8; 32],
    pub scopes: Vec<Scope>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub application_id: Option<ApplicationId>,
    pub public_key: Option<PublicKey>,
}

/// How finely a token's `last_used_at` is kept: a use within this long of the recorded one is
/// not written again, whichever node sees it.
pub const TOKEN_USE_GRAIN: time::Duration = time::Duration::minutes(1);

/// The tenant and permissions a request acts with, resolved from its bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    /// The tenant's root organization, where users belong unless they say otherwise.
    pub root_organization: OrgId,
    /// Who acts: the token, or Roster itself (command-line tools).
    pub actor: Actor,
    pub scopes: Vec<Scope>,
    /// When the token stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// The application the token is bound to, if any.
    pub application: Option<ApplicationId>,
    /// The key that must sign each request of the token, if it has one (see [`crate::keys`]).
    pub public_key: Option<PublicKey>,
}

impl Principal {
    /// Roster itself acting in `tenant`, with every scope: for command-line tools that open the
    /// database directly.
    pub fn system(tenant: &Tenant) -> Principal {
        Principal {
            tenant: tenant.id,
            root_organization: tenant.root_organization_id,
            actor: Actor::System,
            scopes: vec![Scope::TenantAdmin, Scope::System],
            expires_at: None,
            application: None,
            public_key: None,
        }
    }

    /// `tenant:admin` implies every scope of its tenant; `system` only itself.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == scope || (*s == Scope::TenantAdmin && scope != Scope::System))
    }
}
