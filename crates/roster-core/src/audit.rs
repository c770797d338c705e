//! The audit trail: one entry per API operation — who (token, client address), what (operation,
//! resource id), when, how long and with what outcome — authentication failures included.
//!
//! Entries hold no personal data: the operation is a route template, never a raw path or query,
//! and the resource is an id. Requests hand their entry to [`AuditLog::record`], which queues it
//! for one background writer; the writer appends what gathered over a quarter of a second in one
//! statement, so auditing every read costs a few transactions a second, not one per request. The
//! queue is bounded: when the database falls behind, requests wait for room rather than entries
//! being dropped. Entries older than the retention period are deleted by the same writer.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clock::Clock;
use crate::id::{TenantId, TokenId};
use crate::store::Store;

/// Entries queued before a request has to wait for the writer.
const QUEUE: usize = 16_384;
/// Most entries appended in one statement.
const MAX_BATCH: usize = 1_000;
/// How long the writer gathers entries before appending them (unless the batch fills or a
/// reader asks for a flush): a few transactions a second, however busy the server.
const LINGER: Duration = Duration::from_millis(250);
/// How often the writer deletes expired entries.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long entries are kept unless configured otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered with a 1xx, 2xx or 3xx status.
    Success,
    /// Refused or failed: a 4xx or 5xx status.
    Fail,
}

impl Outcome {
    pub fn of_status(status: u16) -> Outcome {
        if status < 400 { Outcome::Success } else { Outcome::Fail }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "fail" => Some(Outcome::Fail),
            _ => None,
        }
    }
}

/// One API operation, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the trail (assigned when written; 0 before).
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The tenant of the token that made the request; absent when no valid token was given, or
    /// a system token.
    pub tenant_id: Option<TenantId>,
    /// The token that made the request; absent when no valid token was given.
    pub token_id: Option<TokenId>,
    /// Method and route template, e.g. `POST /v1/users/{id}/password/verify`.
    pub operation: String,
    /// The id the route names (a user, token or tenant), if any.
    pub resource_id: Option<Uuid>,
    /// The request's `x-request-id`.
    pub request_id: String,
    pub outcome: Outcome,
    /// The HTTP status of the answer.
    pub status: u16,
    pub duration_us: u64,
    #[schema(value_type = Option<String>)]
    pub client_ip: Option<IpAddr>,
}

/// Whose entries a reading is of. Requests made with the deployment's system token belong to no
/// tenant: they are the operator's, and a tenant's admin never reads them (they name other
/// tenants' ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trail {
    /// The requests of one tenant's tokens (other than a system token).
    Tenant(TenantId),
    /// Requests that carried no valid token.
    Unauthenticated,
    /// Requests made with a system token.
    System,
}

/// Which entries to read: those after `after` (oldest first) or, with `before`, those below it
/// (newest first), optionally narrowed.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub after: i64,
    /// Newest first, from the entry below this position (`i64::MAX`: from the newest).
    pub before: Option<i64>,
    pub limit: u32,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub outcome: Option<Outcome>,
    pub token_id: Option<TokenId>,
    /// Only these requests (by `x-request-id`), when any.
    pub request_ids: Vec<String>,
    /// Only these operations (method and route template), when any.
    pub operations: Vec<String>,
}

enum Message {
    Entry(Box<AuditEntry>),
    /// Answered once every entry queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The queue in front of the audit writer, started on first use.
#[derive(Clone)]
pub struct AuditLog {
    queue: Arc<OnceLock<mpsc::Sender<Message>>>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl AuditLog {
    pub(crate) fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> AuditLog {
        AuditLog { queue: Arc::default(), store, clock, retention: DEFAULT_RETENTION }
    }

    pub(crate) fn with_retention(mut self, retention: Duration) -> AuditLog {
        self.retention = retention;
        self
    }

    /// Queues `entry`; waits only while the queue is full.
    pub async fn record(&self, entry: AuditEntry) {
        // The writer lives as long as the process; a send fails only during shutdown.
        let _ = self.queue().send(Message::Entry(Box::new(entry))).await;
    }

    /// Returns once every entry recorded before the call is written (or failed to be).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue().send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    fn queue(&self) -> &mpsc::Sender<Message> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(write_entries(rx, self.store.clone(), self.clock.clone(), self.retention));
            tx
        })
    }
}

async fn write_entries(
    mut queue: mpsc::Receiver<Message>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    retention: Duration,
) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut next_prune = clock.now();
    while queue.recv_many(&mut messages, MAX_BATCH).await > 0 {
        let linger = tokio::time::Instant::now() + LINGER;
        let mut seen = 0;
        loop {
            let flush = messages[seen..].iter().any(|m| matches!(m, Message::Flush(_)));
            seen = messages.len();
            if flush || seen >= MAX_BATCH {
                break;
            }
            let more = queue.recv_many(&mut messages, MAX_BATCH - seen);
            match tokio::time::timeout_at(linger, more).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let mut entries = Vec::with_capacity(messages.len());
        let mut flushed = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Entry(entry) => entries.push(*entry),
                Message::Flush(done) => flushed.push(done),
            }
        }
        if !entries.is_empty() {
            append(&*store, &entries).await;
        }
        let now = clock.now();
        if now >= next_prune {
            next_prune = now + PRUNE_EVERY;
            match store.prune_audit(now - retention).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "expired audit entries deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "deleting expired audit entries failed"),
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// Appends a batch, retrying a database that is briefly away; a batch that still fails is
/// reported and dropped, so one outage cannot stall every request behind a full queue.
async fn append(store: &dyn Store, entries: &[AuditEntry]) {
    let mut wait = Duration::from_millis(100);
    for attempt in 1..=5 {
        match store.append_audit(entries).await {
            Ok(()) => return,
            Err(e) if attempt == 5 => {
                tracing::error!(error = %e, lost = entries.len(), "audit entries could not be written");
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "writing audit entries failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}
