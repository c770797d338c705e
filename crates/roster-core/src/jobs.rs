//! Asynchronous work. A job is queued in the transaction of the change that asks for it (an
//! offboarding user and its erasure job commit together), then a worker on some node claims it
//! under a lease, runs it and records the outcome. A node that stops mid-job loses the lease and
//! the job runs again elsewhere or after the restart, so jobs are idempotent; while the lease
//! holds, no other node runs it.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::directory::Directory;
use crate::error::{Error, Result};
use crate::event::Actor;
use crate::id::{JobId, TenantId, UserId};
use crate::state::Transition;
use crate::tenant::{Principal, Scope};

/// How long a claimed job stays with its node.
pub const LEASE: Duration = Duration::from_secs(60);
/// A job that failed (or whose node stopped) this many times is given up.
const MAX_ATTEMPTS: u32 = 5;
/// How often an idle worker looks for jobs.
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Erases an `offboarding` user's personal data: the user becomes a tombstone (`deleted`).
    Offboard,
}

impl JobKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            JobKind::Offboard => "offboard",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        (s == "offboard").then_some(JobKind::Offboard)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    pub const fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        [JobState::Queued, JobState::Running, JobState::Succeeded, JobState::Failed]
            .into_iter()
            .find(|j| j.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub state: JobState,
    /// What the job works on (the user, for `offboard`).
    pub resource_id: Option<Uuid>,
    /// Runs so far (a run cut short by a stopped node counts).
    pub attempts: u32,
    /// Why the last run failed.
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A job as the store keeps it: with its tenant and who asked for it.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job: Job,
    pub tenant_id: TenantId,
    pub actor: Actor,
}

impl JobRecord {
    pub(crate) fn new(p: &Principal, kind: JobKind, resource: Uuid, now: OffsetDateTime) -> Self {
        JobRecord {
            job: Job {
                id: JobId::generate(now),
                kind,
                state: JobState::Queued,
                resource_id: Some(resource),
                attempts: 0,
                error: None,
                created_at: now,
                updated_at: now,
            },
            tenant_id: p.tenant,
            actor: p.actor,
        }
    }
}

impl Directory {
    pub async fn job(&self, p: &Principal, id: JobId) -> Result<Job> {
        self.store().job(p.tenant, id).await?.ok_or(Error::NotFound { kind: "job" })
    }

    /// Runs jobs as they come, until the future is dropped.
    pub async fn run_jobs(self) {
        let mut changes = self.feed_changes();
        loop {
            let now = self.now();
            match self.store().claim_jobs(now, now + LEASE, 8).await {
                Ok(claimed) if !claimed.is_empty() => {
                    for record in claimed {
                        self.run_job(record).await;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
            }
            let _ = tokio::time::timeout(POLL, changes.changed()).await;
        }
    }

    async fn run_job(&self, record: JobRecord) {
        let job = &record.job;
        let outcome = match job.kind {
            JobKind::Offboard => self.erase_offboarded(&record).await,
        };
        let (state, error) = match outcome {
            Ok(()) => (JobState::Succeeded, None),
            Err(e) if job.attempts >= MAX_ATTEMPTS => (JobState::Failed, Some(e.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, job = %job.id, "job failed; it runs again");
                (JobState::Queued, Some(e.to_string()))
            }
        };
        let finished =
            self.store().finish_job(job.id, job.attempts, state, error.as_deref(), self.now());
        if let Err(e) = finished.await {
            tracing::warn!(error = %e, job = %job.id, "recording a job's outcome failed");
        }
    }

    /// Deletes the user of an `offboard` job, as the principal that asked; done already when
    /// it is deleted.
    async fn erase_offboarded(&self, record: &JobRecord) -> Result<()> {
        let Some(id) = record.job.resource_id.map(UserId::from_uuid) else {
            return Err(Error::internal("an offboard job without a user"));
        };
        let tenant = self.store().tenant(record.tenant_id).await?;
        let tenant = tenant.ok_or(Error::NotFound { kind: "tenant" })?;
        let p = Principal {
            actor: record.actor,
            scopes: vec![Scope::UsersWrite],
            ..Principal::system(&tenant)
        };
        match self.transition(&p, id, None, Transition::Delete).await {
            Ok(_) => Ok(()),
            Err(Error::InvalidTransition { from: crate::UserState::Deleted, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
