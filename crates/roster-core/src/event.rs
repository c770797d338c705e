//! Events: the immutable, sequenced record of every change. Each committed change writes its
//! events in the same transaction (design rule 2). Events carry ids, states and the names of
//! changed fields, never personal data or secrets, so erasing a person never rewrites history.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::id::{TokenId, UserId};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// An event about to be committed; the store assigns its `seq`.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: &'static str,
    pub user_id: UserId,
    /// The user's version after this event.
    pub version: i64,
    pub actor: Actor,
    pub occurred_at: OffsetDateTime,
    pub data: Value,
}

/// A committed event, as the feed returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    /// Position in the tenant's feed: gap-free and in commit order.
    pub seq: i64,
    /// `user.created`, `user.updated`, `user.state_changed` or `user.deleted`.
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: UserId,
    /// The user's version after this event.
    pub version: i64,
    /// `system` or `token:<id>`.
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[schema(value_type = Object)]
    pub data: Value,
}
