//! Asynchronous work. A job is queued in the transaction of the change that asks for it (an
//! offboarding user and its erasure job commit together), then a worker on some node claims it
//! under a lease, runs it and records the outcome. A node that stops mid-job loses the lease and
//! the job runs again elsewhere or after the restart, so jobs are idempotent; while the lease
//! holds, no other node runs it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::directory::{Directory, Extra};
use crate::error::{Error, Result};
use crate::event::{Actor, NewEvent};
use crate::id::{JobId, TenantId, UserId};
use crate::state::Transition;
use crate::store::{Change, Write};
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
    /// Applies a merge patch to a user: event `user.data_changed`, or `user.data_change_failed`
    /// when the patch is refused (invalid, conflicting, or the user is gone).
    DataChange,
    /// Creates users from NDJSON rows, reporting progress and each refused row.
    Import,
}

impl JobKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            JobKind::Offboard => "offboard",
            JobKind::DataChange => "data_change",
            JobKind::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        [JobKind::Offboard, JobKind::DataChange, JobKind::Import]
            .into_iter()
            .find(|k| k.as_str() == s)
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
    /// How far an import got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ImportProgress>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Where an import stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportProgress {
    /// Lines of the body (blank ones included, so that line numbers match the file).
    pub lines: u64,
    /// Lines done so far.
    pub processed: u64,
    pub created: u64,
    pub failed: u64,
    /// The refused rows, by line number (the first 1,000).
    pub errors: Vec<RowError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RowError {
    /// 1-based, as editors count.
    pub line: u64,
    /// `[{field, code, message}]`, as a 400 would name them.
    #[schema(value_type = Vec<Object>)]
    pub errors: serde_json::Value,
}

/// Rows an import creates in one go (and saves its progress after).
const IMPORT_CHUNK: usize = 500;
/// Refused rows an import reports in full.
const MAX_ROW_ERRORS: usize = 1_000;

/// A job as the store keeps it: with its tenant and who asked for it.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job: Job,
    pub tenant_id: TenantId,
    pub actor: Actor,
    /// What the job works from (a data change: the merge patch).
    pub input: Option<serde_json::Value>,
}

impl JobRecord {
    pub(crate) fn new(
        p: &Principal,
        kind: JobKind,
        resource: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Self {
        JobRecord {
            job: Job {
                id: JobId::generate(now),
                kind,
                state: JobState::Queued,
                resource_id: resource,
                attempts: 0,
                error: None,
                progress: None,
                created_at: now,
                updated_at: now,
            },
            tenant_id: p.tenant,
            actor: p.actor,
            input: None,
        }
    }
}

impl Directory {
    pub async fn job(&self, p: &Principal, id: JobId) -> Result<Job> {
        self.store().job(p.tenant, id).await?.ok_or(Error::NotFound { kind: "job" })
    }

    /// Runs jobs as they come, until the future is dropped.
    pub async fn run_jobs(self) {
        let mut changes = self.store().work_changes(crate::store::Worker::Jobs);
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
            JobKind::DataChange => self.apply_data_change(&record).await,
            JobKind::Import => self.run_import(&record).await,
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

    /// Queues a data change: `patch` (a JSON Merge Patch) is applied to the user later, and the
    /// outcome told by an event. Read-only fields and an unknown user are refused at once.
    pub async fn request_data_change(
        &self,
        p: &Principal,
        id: UserId,
        patch: serde_json::Value,
    ) -> Result<Job> {
        crate::input::reject_read_only(&patch)?;
        self.user(p, id, false).await?;
        let mut job = JobRecord::new(p, JobKind::DataChange, Some(*id.as_uuid()), self.now());
        job.input = Some(patch);
        self.queue_job(job).await
    }

    /// Queues a job on its own (not as part of a change).
    async fn queue_job(&self, job: JobRecord) -> Result<Job> {
        let tenant = job.tenant_id;
        let view = job.job.clone();
        let change = Change {
            writes: vec![Write::CreateJob { job: Box::new(job) }],
            events: Vec::new(),
            idempotency: None,
        };
        self.store().commit(tenant, change).await?;
        Ok(view)
    }

    /// Applies a data change. Its outcome commits with the job's end: the patched user with
    /// `user.data_changed`, or, when the patch is refused, `user.data_change_failed` naming why.
    async fn apply_data_change(&self, record: &JobRecord) -> Result<()> {
        let job = &record.job;
        let id =
            job.resource_id.map(UserId::from_uuid).ok_or_else(|| Error::internal("no user"))?;
        let patch = record.input.clone().unwrap_or_default();
        let p = self.acting_for(record).await?;
        let now = self.now();
        let done = |state: JobState, error: Option<String>| Write::FinishJob {
            id: job.id,
            attempt: job.attempts,
            state,
            error,
            at: now,
        };
        let edit = |current: &crate::User| crate::input::merged(current, &patch);
        let kind = "user.data_changed";
        let refused = match self
            .update_user_as(
                &p,
                id,
                None,
                edit,
                &|_| Ok(None),
                kind,
                Extra { writes: vec![done(JobState::Succeeded, None)], events: Vec::new() },
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e @ (Error::Invalid(_) | Error::Conflict { .. } | Error::NotFound { .. })) => e,
            Err(e) => return Err(e),
        };
        let user = self.store().user(record.tenant_id, id).await?.map(|r| r.user);
        let errors = field_errors(&refused);
        let event = NewEvent {
            kind: "user.data_change_failed",
            resource_type: "user",
            resource_id: *id.as_uuid(),
            version: user.map_or(0, |u| u.version),
            actor: record.actor,
            occurred_at: now,
            data: serde_json::json!({ "job_id": job.id, "errors": errors }),
        };
        let change = Change {
            writes: vec![done(JobState::Failed, Some(refused.to_string()))],
            events: vec![event],
            idempotency: None,
        };
        self.store().commit(record.tenant_id, change).await
    }

    /// Queues an import of `rows` (NDJSON: one native create document a line); `GET
    /// /v1/imports/{id}` follows it.
    pub async fn start_import(&self, p: &Principal, rows: String) -> Result<Job> {
        let lines = rows.lines().count();
        if rows.lines().all(|l| l.trim().is_empty()) {
            return Err(Error::invalid("", "required", "the body holds no rows"));
        }
        let mut job = JobRecord::new(p, JobKind::Import, None, self.now());
        job.job.progress =
            Some(ImportProgress { lines: lines as u64, ..ImportProgress::default() });
        job.input = Some(serde_json::Value::String(rows));
        self.queue_job(job).await
    }

    /// The import job `id`.
    pub async fn import(&self, p: &Principal, id: JobId) -> Result<Job> {
        let job = self.store().job(p.tenant, id).await?;
        job.filter(|j| j.kind == JobKind::Import).ok_or(Error::NotFound { kind: "import" })
    }

    /// Creates the rows of an import from where it stopped, a chunk at a time, saving its
    /// progress after each. A run cut short re-runs at most the chunk it was in: its rows with a
    /// unique value (username, e-mail, phone, external id) then report a conflict rather than
    /// being created twice.
    async fn run_import(&self, record: &JobRecord) -> Result<()> {
        let job = &record.job;
        let text = record.input.as_ref().and_then(serde_json::Value::as_str).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let mut progress = job.progress.clone().unwrap_or_default();
        progress.lines = lines.len() as u64;
        let p = self.acting_for(record).await?;
        let mut start = usize::try_from(progress.processed).unwrap_or(usize::MAX).min(lines.len());
        while start < lines.len() {
            let end = (start + IMPORT_CHUNK).min(lines.len());
            let mut numbers = Vec::new();
            let mut items = Vec::new();
            for (n, line) in lines[start..end].iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                numbers.push((start + n + 1) as u64);
                items.push(
                    serde_json::from_str::<serde_json::Value>(line)
                        .map_err(|e| Error::invalid("", "invalid_json", e.to_string()))
                        .and_then(|doc| {
                            crate::input::reject_read_only(&doc)?;
                            crate::input::parse_document(doc)
                        }),
                );
            }
            let results = self.create_users(&p, items, false).await?;
            for (line, result) in numbers.into_iter().zip(results) {
                match result {
                    Ok(_) => progress.created += 1,
                    Err(e) => {
                        progress.failed += 1;
                        if progress.errors.len() < MAX_ROW_ERRORS {
                            progress.errors.push(RowError { line, errors: field_errors(&e) });
                        }
                    }
                }
            }
            progress.processed = end as u64;
            let now = self.now();
            self.store()
                .save_job_progress(job.id, job.attempts, &progress, now, now + LEASE)
                .await?;
            start = end;
        }
        Ok(())
    }

    /// The principal a job acts as: the one that asked for it, with the scope to write users.
    async fn acting_for(&self, record: &JobRecord) -> Result<Principal> {
        let tenant = self.store().tenant(record.tenant_id).await?;
        let tenant = tenant.ok_or(Error::NotFound { kind: "tenant" })?;
        Ok(Principal {
            actor: record.actor,
            scopes: vec![Scope::UsersWrite],
            ..Principal::system(&tenant)
        })
    }

    /// Deletes the user of an `offboard` job, as the principal that asked; done already when
    /// it is deleted.
    async fn erase_offboarded(&self, record: &JobRecord) -> Result<()> {
        let Some(id) = record.job.resource_id.map(UserId::from_uuid) else {
            return Err(Error::internal("an offboard job without a user"));
        };
        let p = self.acting_for(record).await?;
        match self.transition(&p, id, None, Transition::Delete).await {
            Ok(_) => Ok(()),
            Err(Error::InvalidTransition { from: crate::UserState::Deleted, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// An error as the list of field errors a 400 would carry.
fn field_errors(e: &Error) -> serde_json::Value {
    match e {
        Error::Invalid(errors) => serde_json::to_value(errors).unwrap_or_default(),
        Error::Conflict { field } => serde_json::json!([{
            "field": field, "code": "conflict", "message": "is taken by another user",
        }]),
        other => serde_json::json!([{ "message": other.to_string() }]),
    }
}
