//! Relaying each tenant's feed to a message broker (the NATS JetStream relay lives in
//! `roster-server`).
//!
//! The feed is the outbox: a relay reads it in sequence order and keeps, per (tenant, sink), a
//! cursor at the last event the sink acknowledged. A cursor is held by one node at a time
//! under a lease, so two nodes do not publish the same tenant at once; each advance is fenced by
//! the holder, so a node whose lease was taken over cannot move the cursor. An event published
//! but not yet recorded when a node stops is published again by the next holder: at least once,
//! with the event id for the broker (and receivers) to deduplicate.

use std::time::Duration;

use uuid::Uuid;

use crate::directory::Directory;
use crate::error::Result;
use crate::event::{Event, EventQuery};
use crate::id::TenantId;

/// Longest a node holds a tenant's cursor without advancing it before another may take over.
pub const LEASE: Duration = Duration::from_secs(30);
/// Events read (and published) at a time.
pub const BATCH: u32 = 500;

/// One tenant's position in a sink: every event up to `after` has been acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedCursor {
    pub tenant_id: TenantId,
    pub after: i64,
}

/// A relay's handle on the cursors of one sink, as one holder (a node's relay).
#[derive(Clone)]
pub struct Relay {
    directory: Directory,
    sink: String,
    holder: Uuid,
}

impl Directory {
    /// A relay to `sink` (a name for the destination: each sink has its own cursors, so a new
    /// one receives every tenant's feed from the start).
    pub fn relay(&self, sink: impl Into<String>) -> Relay {
        Relay { directory: self.clone(), sink: sink.into(), holder: Uuid::new_v4() }
    }
}

impl Relay {
    /// Claims up to `limit` cursors that are behind their feed and free (or already this
    /// relay's). A tenant that has no cursor yet gets one at the start of its feed.
    pub async fn claim(&self, limit: u32) -> Result<Vec<FeedCursor>> {
        let now = self.directory.now();
        self.directory
            .store()
            .claim_feed_cursors(&self.sink, self.holder, now, now + LEASE, limit)
            .await
    }

    /// The next events a cursor has to relay, in sequence order.
    pub async fn pending(&self, cursor: &FeedCursor) -> Result<Vec<Event>> {
        let query = EventQuery { after: cursor.after, limit: BATCH, ..EventQuery::default() };
        self.directory.store().events(cursor.tenant_id, &query).await
    }

    /// Records that the sink acknowledged every event up to `to`, extending the lease. `false`
    /// when this relay no longer holds the cursor: it must stop relaying that tenant.
    pub async fn advance(&self, cursor: &mut FeedCursor, to: i64) -> Result<bool> {
        let lease_until = self.directory.now() + LEASE;
        let held = self
            .directory
            .store()
            .advance_feed_cursor(cursor.tenant_id, &self.sink, self.holder, to, lease_until)
            .await?;
        if held {
            cursor.after = to;
        }
        Ok(held)
    }
}
