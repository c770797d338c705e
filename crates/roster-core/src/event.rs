//! Events: the immutable, sequenced record of every change. Each committed change writes its
//! events in the same transaction (design rule 2). Events carry ids, states and the names of
//! changed fields, never personal data or secrets, so erasing a person never rewrites history.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::id::{TenantId, TokenId};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// Roster itself (bootstrap, background work).
    System,
    Token(TokenId),
}

impl Actor {
    pub fn to_string_repr(self) -> String {
        match self {
            Actor::System => "system".to_owned(),
            Actor::Token(id) => format!("token:{id}"),
        }
    }

    /// The inverse of [`Actor::to_string_repr`].
    pub fn parse(s: &str) -> Option<Actor> {
        match s.strip_prefix("token:") {
            Some(id) => id.parse().ok().map(Actor::Token),
            None => (s == "system").then_some(Actor::System),
        }
    }
}

/// Every event type, by resource: `<resource>.<what happened>`.
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.state_changed",
    "user.deleted",
    "user.data_changed",
    "user.data_change_failed",
    "user.password_changed",
    "user.secret_changed",
    "user.verification_code_issued",
    "organization.created",
    "organization.updated",
    "organization.moved",
    "organization.deleted",
    "organization.member_added",
    "organization.member_removed",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
    "role.created",
    "role.updated",
    "role.deleted",
    "role.assigned",
    "role.unassigned",
    "application.created",
    "application.updated",
    "application.deleted",
    "application.member_added",
    "application.member_updated",
    "application.member_removed",
    "credential.created",
    "credential.updated",
    "credential.deleted",
    "invitation.created",
    "invitation.accepted",
    "invitation.reissued",
    "mandate.created",
    "mandate.revoked",
    "mandate.delegated",
    "mandate.deleted",
];

/// The kinds of resource events are about.
pub const RESOURCE_TYPES: &[&str] = &[
    "user",
    "organization",
    "group",
    "role",
    "application",
    "credential",
    "invitation",
    "mandate",
];

/// An event about to be committed; the store assigns its `seq`.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: &'static str,
    /// One of [`RESOURCE_TYPES`].
    pub resource_type: &'static str,
    pub resource_id: Uuid,
    /// The resource's version after this event.
    pub version: i64,
    pub actor: Actor,
    pub occurred_at: OffsetDateTime,
    pub data: Value,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ResourceRef {
    /// `user`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Uuid,
    /// The resource's version after this event (its ETag).
    pub version: i64,
}

/// A committed event, as the feed returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    /// Position in the tenant's feed: gap-free and in commit order.
    pub seq: i64,
    /// Stable identity of the event (for receivers that deduplicate).
    pub id: Uuid,
    /// `user.created`, `user.updated`, `user.state_changed` or `user.deleted`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub tenant_id: TenantId,
    pub resource: ResourceRef,
    /// `system` or `token:<id>`.
    pub actor: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

impl Event {
    /// The id of the event at `seq` in `tenant`'s feed: the same on every read and every node,
    /// and unique across tenants (a version-8 UUID from SHA-256 of the two).
    pub fn id_of(tenant: TenantId, seq: i64) -> Uuid {
        let mut hash = Sha256::new();
        hash.update(tenant.as_uuid().as_bytes());
        hash.update(seq.to_be_bytes());
        let digest = hash.finalize();
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::new_v8(bytes)
    }
}

/// Which events to read: those after `after`, in feed order, optionally narrowed.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub after: i64,
    pub limit: u32,
    /// Exact types (`user.created`) and prefixes (`user.`, from `user.*`); empty: all.
    pub types: Vec<TypePattern>,
    pub resource: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypePattern {
    Exact(&'static str),
    /// `user.*`: every type of a resource; holds `user.`.
    Prefix(String),
}

impl TypePattern {
    /// `user.created`, `user.*` or `*`; `None` for anything else. `*` matches every type and is
    /// returned as no pattern at all (`Some(None)`).
    pub fn parse(s: &str) -> Option<Option<TypePattern>> {
        if s == "*" {
            return Some(None);
        }
        if let Some(resource) = s.strip_suffix(".*") {
            return RESOURCE_TYPES
                .contains(&resource)
                .then(|| Some(TypePattern::Prefix(format!("{resource}."))));
        }
        EVENT_TYPES.iter().find(|t| **t == s).map(|t| Some(TypePattern::Exact(t)))
    }

    pub fn matches(&self, kind: &str) -> bool {
        match self {
            TypePattern::Exact(t) => *t == kind,
            TypePattern::Prefix(p) => kind.starts_with(p.as_str()),
        }
    }
}
