//! The persistence port. Every call is scoped to one tenant, so no query can forget it.
//!
//! Reads return records; every write goes through [`Store::commit`], which applies one
//! [`Change`] — state rows, unique keys and events — in one transaction.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::applications::{AppMembership, Application};
use crate::audit::{AuditEntry, AuditQuery, Trail};
use crate::credentials::Credential;
use crate::error::Result;
use crate::event::{Event, EventQuery, NewEvent};
use crate::groups::{Group, GroupQuery, Member};
use crate::id::{
    ApplicationId, CredentialId, DelegationId, GroupId, InvitationId, JobId, MandateId, OrgId,
    RoleId, TenantId, TokenId, UserId, WebhookId,
};
use crate::invitations::{Invitation, InvitationsOf};
use crate::jobs::{ImportProgress, Job, JobRecord, JobState};
use crate::mandates::{Delegation, DelegationsOf, Mandate, MandatesOf};
use crate::organizations::Organization;
use crate::query::UserQuery;
use crate::relay::FeedCursor;
use crate::roles::Role;
use crate::tenant::{NewToken, Principal, Tenant, Token};
use crate::user::User;
use crate::webhooks::{Claimed, Delivery, DeliveryStatus, Webhook};

/// A background worker that waits for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    Jobs,
    Deliveries,
}

/// A change another node committed that this node may hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    TokenRevoked(TokenId),
    TenantDeleted(TenantId),
    /// The hints may have missed some (the connection that brings them was lost): forget all.
    Lost,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;
    /// Connections open and idle, for metrics.
    fn pool_stats(&self) -> PoolStats;

    async fn has_tenants(&self) -> Result<bool>;
    /// Creates a tenant with its root organization and first tokens. A tenant name that is taken
    /// is `Error::Conflict { field: "name" }`.
    async fn create_tenant(&self, tenant: &Tenant, tokens: &[NewToken]) -> Result<()>;
    /// Every tenant, oldest first.
    async fn tenants(&self) -> Result<Vec<Tenant>>;
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>>;
    /// `false` when there is no such tenant; a taken name is `Error::Conflict { field: "name" }`.
    async fn rename_tenant(&self, id: TenantId, name: &str) -> Result<bool>;
    /// Deletes a tenant and everything it holds; `false` when there is no such tenant.
    async fn delete_tenant(&self, id: TenantId) -> Result<bool>;
    /// The principal of the unexpired token whose secret hashes to `secret_hash`.
    async fn principal(
        &self,
        secret_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<Principal>>;
    /// The principal of the tenant's unexpired token `id` (an OAuth client, for its access
    /// tokens).
    async fn principal_of_token(
        &self,
        tenant: TenantId,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<Option<Principal>>;

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>>;

    async fn create_token(&self, tenant: TenantId, token: &NewToken) -> Result<()>;
    /// The tenant's tokens, oldest first.
    async fn tokens(&self, tenant: TenantId) -> Result<Vec<Token>>;
    async fn token(&self, tenant: TenantId, id: TokenId) -> Result<Option<Token>>;
    /// Deletes a token; `false` when the tenant has none with this id.
    async fn revoke_token(&self, tenant: TenantId, id: TokenId) -> Result<bool>;
    /// Records that the token authenticated a request at `at`.
    async fn touch_token(&self, tenant: TenantId, id: TokenId, at: OffsetDateTime) -> Result<()>;
    async fn organization(&self, tenant: TenantId, id: OrgId) -> Result<Option<Organization>>;
    /// Organizations in id order after `after`: all, or the children of `parent`.
    async fn organizations(
        &self,
        tenant: TenantId,
        parent: Option<OrgId>,
        after: Option<OrgId>,
        limit: u32,
    ) -> Result<Vec<Organization>>;
    /// The organization and every organization below it.
    async fn organization_subtree(&self, tenant: TenantId, id: OrgId) -> Result<Vec<Organization>>;
    async fn is_member(&self, tenant: TenantId, organization: OrgId, user: UserId) -> Result<bool>;
    async fn mandate(&self, tenant: TenantId, id: MandateId) -> Result<Option<Mandate>>;
    /// The mandates a party gave or received, in id order.
    async fn mandates(&self, tenant: TenantId, of: MandatesOf) -> Result<Vec<Mandate>>;
    async fn delegation(&self, tenant: TenantId, id: DelegationId) -> Result<Option<Delegation>>;
    /// A mandate's delegations, or a user's received ones, in id order.
    async fn delegations(&self, tenant: TenantId, of: DelegationsOf) -> Result<Vec<Delegation>>;
    async fn invitation(&self, tenant: TenantId, id: InvitationId) -> Result<Option<Invitation>>;
    /// An organization's or a user's invitations, in id order.
    async fn invitations(&self, tenant: TenantId, of: InvitationsOf) -> Result<Vec<Invitation>>;
    async fn credential(&self, tenant: TenantId, id: CredentialId) -> Result<Option<Credential>>;
    /// A user's credential records in id order after `after`.
    async fn credentials(
        &self,
        tenant: TenantId,
        user: UserId,
        after: Option<CredentialId>,
        limit: u32,
    ) -> Result<Vec<Credential>>;
    async fn application(&self, tenant: TenantId, id: ApplicationId)
    -> Result<Option<Application>>;
    /// Applications in id order after `after`.
    async fn applications(
        &self,
        tenant: TenantId,
        after: Option<ApplicationId>,
        limit: u32,
    ) -> Result<Vec<Application>>;
    async fn app_membership(
        &self,
        tenant: TenantId,
        application: ApplicationId,
        user: UserId,
    ) -> Result<Option<AppMembership>>;
    /// A user's application memberships, in application id order.
    async fn app_memberships(&self, tenant: TenantId, user: UserId) -> Result<Vec<AppMembership>>;
    async fn role(&self, tenant: TenantId, id: RoleId) -> Result<Option<Role>>;
    /// The roles defined in an organization, by name.
    async fn roles(&self, tenant: TenantId, organization: OrgId) -> Result<Vec<Role>>;
    /// A page of the tenant's roles (of one organization, when given) in id order, after
    /// `after`.
    async fn roles_page(
        &self,
        tenant: TenantId,
        organization: Option<OrgId>,
        after: Option<RoleId>,
        limit: u32,
    ) -> Result<Vec<Role>>;
    /// A page of the tenant's mandates in id order, after `after`.
    async fn mandates_page(
        &self,
        tenant: TenantId,
        after: Option<MandateId>,
        limit: u32,
    ) -> Result<Vec<Mandate>>;
    /// A page of the tenant's invitations in id order, after `after`.
    async fn invitations_page(
        &self,
        tenant: TenantId,
        after: Option<InvitationId>,
        limit: u32,
    ) -> Result<Vec<Invitation>>;
    async fn has_role(&self, tenant: TenantId, user: UserId, role: RoleId) -> Result<bool>;
    /// The roles assigned to a user, by organization and name.
    async fn user_roles(&self, tenant: TenantId, user: UserId) -> Result<Vec<Role>>;
    async fn group(&self, tenant: TenantId, id: GroupId) -> Result<Option<Group>>;
    /// A user's pending verification code for `purpose`.
    async fn verification_code(
        &self,
        tenant: TenantId,
        user: UserId,
        purpose: crate::verification::Purpose,
    ) -> Result<Option<crate::verification::CodeRecord>>;
    /// Groups in id order, as `query` selects them.
    async fn groups(&self, tenant: TenantId, query: &GroupQuery) -> Result<Vec<Group>>;
    /// How many groups `query` selects, whatever its page.
    async fn count_groups(&self, tenant: TenantId, query: &GroupQuery) -> Result<u64>;
    async fn is_group_member(
        &self,
        tenant: TenantId,
        group: GroupId,
        member: Member,
    ) -> Result<bool>;
    /// A group's direct members: users, then groups, each in id order.
    async fn group_members(&self, tenant: TenantId, group: GroupId) -> Result<Vec<Member>>;
    /// The groups `user` is a member of (with `transitive`, also the groups above those).
    async fn user_groups(
        &self,
        tenant: TenantId,
        user: UserId,
        transitive: bool,
    ) -> Result<Vec<Group>>;
    /// The organizations `user` is a member of, in id order.
    async fn memberships(&self, tenant: TenantId, user: UserId) -> Result<Vec<Organization>>;

    async fn user(&self, tenant: TenantId, id: UserId) -> Result<Option<UserRecord>>;
    /// The user holding a unique key (a username, e-mail, phone or external id).
    async fn user_by_key(
        &self,
        tenant: TenantId,
        kind: KeyKind,
        value: &str,
    ) -> Result<Option<UserRecord>>;
    /// The page of users `query` selects, in its order.
    async fn users(&self, tenant: TenantId, query: &UserQuery) -> Result<Vec<UserRecord>>;
    /// How many users match `query`'s condition, regardless of its page.
    async fn count_users(&self, tenant: TenantId, query: &UserQuery) -> Result<u64>;

    /// A deployment setting written by the migrations (e.g. `cursor_key`).
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// The unexpired idempotency record under `key`.
    async fn idempotency(
        &self,
        tenant: TenantId,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>>;

    /// Applies `change` atomically. Fails, writing nothing, with `Error::Stale` when a user is no
    /// longer at the expected version, `Error::Conflict` when a unique key is held by another
    /// user, and `Error::IdempotencyMismatch` when the idempotency key was taken meanwhile.
    async fn commit(&self, tenant: TenantId, change: Change) -> Result<()>;
    /// Applies `changes` together: with `atomic`, all or none (the failing change reports its
    /// error, the others `Error::Aborted`); otherwise each on its own. The outer error is for
    /// a failure of the whole batch.
    async fn commit_all(
        &self,
        tenant: TenantId,
        changes: Vec<Change>,
        atomic: bool,
    ) -> Result<Vec<Result<()>>>;

    /// The events `query` selects, in feed order.
    async fn events(&self, tenant: TenantId, query: &EventQuery) -> Result<Vec<Event>>;
    /// Changes after every commit made through this store, and, where the database tells
    /// (PostgreSQL's `NOTIFY`), after other nodes' commits too.
    fn feed_changes(&self) -> tokio::sync::watch::Receiver<u64>;
    /// What other nodes changed that this node may remember (a revoked token), as the database
    /// tells (PostgreSQL's `NOTIFY`); a store with one node tells nothing.
    fn hints(&self) -> tokio::sync::broadcast::Receiver<Hint>;
    /// Changes after a commit that left `worker` something to do (a job queued, a webhook
    /// delivery due), on this node or, where the database tells, on another.
    fn work_changes(&self, worker: Worker) -> tokio::sync::watch::Receiver<u64>;
    /// The sum of every tenant's last feed sequence number: it moves whenever any node
    /// commits events (one query tells a node whether others committed).
    async fn feed_heads(&self) -> Result<i64>;

    async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<Job>>;
    /// Claims up to `limit` jobs that are queued, or running under a lease that ran out,
    /// leasing them until `lease_until` and counting the run. Of concurrent claimers, each job
    /// goes to one. Across tenants: for the job worker.
    async fn claim_jobs(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<JobRecord>>;
    /// Saves how far run number `attempt` of an import got and extends its lease; ignored when
    /// the job was claimed again since.
    async fn save_job_progress(
        &self,
        id: JobId,
        attempt: u32,
        progress: &ImportProgress,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<()>;
    /// Records the outcome of run number `attempt`; ignored when the job was claimed again.
    async fn finish_job(
        &self,
        id: JobId,
        attempt: u32,
        state: JobState,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()>;

    async fn create_webhook(&self, tenant: TenantId, webhook: &Webhook) -> Result<()>;
    /// The tenant's webhooks, oldest first.
    async fn webhooks(&self, tenant: TenantId) -> Result<Vec<Webhook>>;
    async fn webhook(&self, tenant: TenantId, id: WebhookId) -> Result<Option<Webhook>>;
    /// `false` when the tenant has no such webhook.
    async fn update_webhook(&self, tenant: TenantId, webhook: &Webhook) -> Result<bool>;
    /// Deletes a webhook and its deliveries; `false` when the tenant has no such webhook.
    async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> Result<bool>;
    /// Queues a delivery without an event (a `webhook.test`).
    async fn add_test_delivery(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        now: OffsetDateTime,
    ) -> Result<Delivery>;
    /// A webhook's deliveries, newest first, with ids below `before`.
    async fn deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Makes a delivery pending again, due `now`, its retry window starting over.
    async fn redeliver(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        delivery: i64,
        now: OffsetDateTime,
    ) -> Result<Option<Delivery>>;
    /// Claims up to `limit` pending deliveries due at `now` whose lease is free, leasing them
    /// until `lease_until` and counting the attempt. Of concurrent claimers (nodes), each
    /// delivery goes to one. Across tenants: for the delivery worker.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Claimed>>;
    /// Records the outcome of attempt number `attempt` of a delivery and frees its lease;
    /// ignored when the delivery has been claimed again since.
    #[allow(clippy::too_many_arguments)]
    async fn finish_delivery(
        &self,
        delivery: i64,
        attempt: u32,
        status: DeliveryStatus,
        next_attempt_at: OffsetDateTime,
        status_code: Option<u16>,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()>;

    /// Claims for `holder` up to `limit` cursors of `sink` whose tenant's feed is ahead of them
    /// and whose lease ran out before `now` (or that `holder` holds), leasing them until
    /// `lease_until`; a tenant without a cursor gets one at 0 first. Across tenants: for the
    /// relay. Of concurrent claimers (nodes), each cursor goes to one.
    async fn claim_feed_cursors(
        &self,
        sink: &str,
        holder: Uuid,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<FeedCursor>>;
    /// Moves a cursor forward to `to` and extends its lease, if `holder` still holds it.
    async fn advance_feed_cursor(
        &self,
        tenant: TenantId,
        sink: &str,
        holder: Uuid,
        to: i64,
        lease_until: OffsetDateTime,
    ) -> Result<bool>;

    /// Appends audit entries (their `id`s are assigned here).
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()>;
    /// The audit entries of `trail` that `query` selects, oldest first.
    async fn audit(&self, trail: Trail, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
    /// Deletes audit entries that occurred before `before`; returns how many.
    async fn prune_audit(&self, before: OffsetDateTime) -> Result<u64>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

/// A user as stored: the public view plus the secrets' hashes, which never leave the core.
#[derive(Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: Option<String>,
    pub national_id_hash: Option<String>,
    pub secret_hash: Option<String>,
    /// Consecutive failed password verifications since the last success (lockout counter).
    pub password_failures: u32,
}

/// What makes a user findable and unique within a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Username,
    Email,
    Phone,
    ExternalUserId,
    /// `<namespace>:<value>` of an alias.
    Alias,
    /// `<provider>\n<subject>` of an identity link.
    Identity,
}

impl KeyKind {
    pub const ALL: [KeyKind; 6] = [
        KeyKind::Username,
        KeyKind::Email,
        KeyKind::Phone,
        KeyKind::ExternalUserId,
        KeyKind::Alias,
        KeyKind::Identity,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            KeyKind::Username => "username",
            KeyKind::Email => "email",
            KeyKind::Phone => "phone",
            KeyKind::ExternalUserId => "external_user_id",
            KeyKind::Alias => "alias",
            KeyKind::Identity => "identity",
        }
    }
}

/// One unique key of a user; `field` names where it came from in the input, for a 409.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKey {
    pub kind: KeyKind,
    /// Normalised (lower-cased where comparison is case-insensitive).
    pub value: String,
    pub field: String,
}

/// One atomic change: writes and the events describing them, committed together or not at all.
pub struct Change {
    pub writes: Vec<Write>,
    pub events: Vec<NewEvent>,
    pub idempotency: Option<IdempotencyRecord>,
}

impl Change {
    /// `writes` and their `events`, without an idempotency record.
    pub fn of(writes: Vec<Write>, events: Vec<NewEvent>) -> Change {
        Change { writes, events, idempotency: None }
    }
}

#[derive(Clone)]
pub enum Write {
    /// Inserts a user, claiming its unique keys and indexing its values (see [`crate::index`]).
    CreateUser {
        record: Box<UserRecord>,
    },
    /// Replaces `before` (the record as read) with `record`, if the stored record still has
    /// `before`'s version and failure count: the unique keys and indexed values move with it. A
    /// tombstone has no keys, and replacing a user with one also forgets the idempotency records
    /// that hold its data.
    UpdateUser {
        record: Box<UserRecord>,
        before: Box<UserRecord>,
    },
    /// Inserts an organization; a technical name taken in the tenant is a conflict.
    CreateOrganization {
        org: Box<Organization>,
    },
    /// Replaces an organization that still has `before_version` (its parent stays).
    UpdateOrganization {
        org: Box<Organization>,
        before_version: i64,
    },
    /// Gives an organization that still has `before_version` its new parent, refusing a cycle.
    MoveOrganization {
        org: Box<Organization>,
        before_version: i64,
    },
    /// Deletes an organization and every organization below it with their memberships; the
    /// tombstones of users they owned move to `parent`. A live user they still own fails it.
    DeleteOrganization {
        id: OrgId,
        parent: OrgId,
    },
    /// Makes `user` a member of `organization`; a conflict when it is one already.
    AddMember {
        organization: OrgId,
        user: UserId,
        at: OffsetDateTime,
    },
    RemoveMember {
        organization: OrgId,
        user: UserId,
    },
    /// Inserts a group; a name taken in the tenant is a conflict.
    CreateGroup {
        group: Box<Group>,
    },
    /// Replaces a group that still has `before_version`.
    UpdateGroup {
        group: Box<Group>,
        before_version: i64,
    },
    /// Deletes a group with every membership of and in it.
    DeleteGroup {
        id: GroupId,
    },
    /// Adds a member; a conflict when it is one already, refused when it would close a cycle.
    AddGroupMember {
        group: GroupId,
        member: Member,
        at: OffsetDateTime,
    },
    RemoveGroupMember {
        group: GroupId,
        member: Member,
    },
    /// Inserts a role; a name taken in its organization is a conflict.
    CreateRole {
        role: Box<Role>,
    },
    /// Replaces a role that still has `before_version`.
    UpdateRole {
        role: Box<Role>,
        before_version: i64,
    },
    /// Deletes a role with its assignments.
    DeleteRole {
        id: RoleId,
    },
    /// Assigns a role; a conflict when the user has it already.
    AssignRole {
        user: UserId,
        role: RoleId,
        at: OffsetDateTime,
    },
    UnassignRole {
        user: UserId,
        role: RoleId,
    },
    /// Inserts an application; a name taken in the tenant is a conflict.
    CreateApplication {
        app: Box<Application>,
    },
    /// Replaces an application that still has `before_version`.
    UpdateApplication {
        app: Box<Application>,
        before_version: i64,
    },
    /// Deletes an application with its memberships.
    DeleteApplication {
        id: ApplicationId,
    },
    /// Inserts (`new`) or replaces a user's membership of an application.
    PutAppMembership {
        membership: Box<AppMembership>,
        new: bool,
    },
    RemoveAppMembership {
        application: ApplicationId,
        user: UserId,
    },
    CreateCredential {
        credential: Box<Credential>,
    },
    /// Replaces a credential record that still has `before_version`.
    UpdateCredential {
        credential: Box<Credential>,
        before_version: i64,
    },
    DeleteCredential {
        id: CredentialId,
    },
    /// Inserts an invitation (`before_version` `None`) or replaces one that still has it.
    PutInvitation {
        invitation: Box<Invitation>,
        before_version: Option<i64>,
    },
    /// Inserts a mandate (`before_version` `None`) or replaces one that still has it; revoking
    /// one revokes its active delegations.
    PutMandate {
        mandate: Box<Mandate>,
        before_version: Option<i64>,
    },
    CreateDelegation {
        delegation: Box<Delegation>,
    },
    /// Keeps a user's pending verification code for its purpose, replacing an earlier one.
    PutVerificationCode {
        user: UserId,
        record: Box<crate::verification::CodeRecord>,
    },
    DeleteVerificationCode {
        user: UserId,
        purpose: crate::verification::Purpose,
    },
    /// Queues a job (see [`crate::jobs`]).
    CreateJob {
        job: Box<JobRecord>,
    },
    /// Ends run number `attempt` of a job (ignored when the job was claimed again since).
    FinishJob {
        id: JobId,
        attempt: u32,
        state: JobState,
        error: Option<String>,
        at: OffsetDateTime,
    },
}

/// The outcome of a create made under an `Idempotency-Key`, replayed on a retry.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub key: String,
    /// SHA-256 of what the request said; a retry must say the same.
    pub fingerprint: [u8; 32],
    pub user_id: UserId,
    /// The user as the first response returned it.
    pub response: Value,
    pub expires_at: OffsetDateTime,
}
