//! The `Directory`: the one service every surface calls.
//!
//! Each mutation follows the same path: load the current record, decide (validate, apply the state
//! machine, describe the change as events), then hand the store one [`Change`]. Writers that did
//! not pin a version with `If-Match` are retried on a concurrent change, so no update is lost and
//! none overwrites a newer one unseen.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::audit::{AuditEntry, AuditLog, AuditQuery, Trail};
use crate::clock::Clock;
use crate::cursor::{self, CursorKey};
use crate::error::{Error, FieldError, Result};
use crate::event::{Actor, Event, EventQuery, NewEvent};
use crate::filter::Filter;
use crate::id::{OrgId, TenantId, TokenId, UserId};
use crate::index;
use crate::input::UserInput;
use crate::jobs::{Job, JobKind, JobRecord};
use crate::query::{self, Cond, Order, SortKey, SortValue, UserQuery};
use crate::secret::{self, Argon2Params, HashLimits, Hasher};
use crate::state::Transition;
use crate::store::{Change, IdempotencyRecord, KeyKind, Store, UserRecord, Write};
use crate::tenant::Principal;
use crate::user::{PasswordInfo, Profile, SecretInfo, User, UserKind, UserState};
use crate::validate::{self, Mode, ValidUser};

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::hours(24);
/// How often a write without `If-Match` is tried when it keeps losing races: each loss means
/// another writer (on another node, since one node's writes of a resource take turns) won, so
/// with N nodes writing one resource flat out an attempt loses with odds (N-1)/N — with three
/// nodes, 64 losses in a row are a chance of one in 10^11.
pub(crate) const RETRIES: usize = 64;
/// Stripes of the lock under which one node's writes of one resource take turns.
const TURN_STRIPES: usize = 1024;
/// Consecutive failed password verifications that lock a user, unless configured.
pub const DEFAULT_LOCKOUT_AFTER: u32 = 10;

#[derive(Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    /// Loaded from the store on first use.
    cursor_key: Arc<tokio::sync::OnceCell<CursorKey>>,
    /// Wakes this node's waiting feed readers when other nodes commit.
    remote: RemoteCommits,
    /// The country a phone number without a country code is read in.
    phone_region: Option<phonenumber::country::Id>,
    /// The webhook payload formats this node renders.
    webhook_formats: Arc<crate::webhooks::Formats>,
    /// Derives webhook signing secrets; loaded from the store on first use.
    webhook_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    /// Signs access tokens (derived from the deployment's cursor key).
    access_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    principals: Arc<PrincipalCache>,
    /// Set once the task that forgets what other nodes revoked runs.
    following_hints: Arc<std::sync::OnceLock<()>>,
    /// Consecutive failed password verifications that lock a user.
    lockout_after: u32,
    audit: AuditLog,
    webhooks: crate::webhooks::WebhookSettings,
    organization_types: Arc<crate::organizations::OrganizationTypes>,
    invitation_ttl: std::time::Duration,
    turns: Turns,
}

/// The striped lock under which this node's versioned writes of one resource take turns. Two
/// writes of one user that ran at once would read the same version, and all but one would lose
/// at commit and start over, again and again under contention (a burst of patches of one user
/// could run out of retries); taking turns leaves only other nodes' writes to race with. A
/// write holds one stripe at a time, never two, so turns cannot deadlock.
#[derive(Clone)]
struct Turns(Arc<[tokio::sync::Mutex<()>]>);

impl Default for Turns {
    fn default() -> Self {
        Turns((0..TURN_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect())
    }
}

impl Turns {
    async fn take(&self, resource: uuid::Uuid) -> tokio::sync::MutexGuard<'_, ()> {
        // The low bits of a version-7 (or random) id are random.
        let stripe = (resource.as_u128() % self.0.len() as u128) as usize;
        self.0[stripe].lock().await
    }
}

/// How long an authenticated token is trusted without asking the store again: the most a
/// revocation or scope change can take to reach a running node.
pub const PRINCIPAL_TTL: Duration = Duration::seconds(10);
/// Most principals remembered; past that the least recently used is forgotten.
const PRINCIPAL_CACHE_SIZE: std::num::NonZeroUsize = std::num::NonZeroUsize::new(10_000).unwrap();

/// Token hash → principal, each until it is `PRINCIPAL_TTL` old or its token expires; the
/// least recently used goes first when it is full, so a busy node keeps its hot tokens.
struct PrincipalCache(std::sync::Mutex<lru::LruCache<[u8; 32], (Principal, OffsetDateTime)>>);

impl Default for PrincipalCache {
    fn default() -> Self {
        PrincipalCache(std::sync::Mutex::new(lru::LruCache::new(PRINCIPAL_CACHE_SIZE)))
    }
}

impl PrincipalCache {
    fn get(&self, hash: &[u8; 32], now: OffsetDateTime) -> Option<Principal> {
        let mut map = self.0.lock().ok()?;
        map.get(hash).filter(|(_, until)| *until > now).map(|(p, _)| p.clone())
    }

    /// Forgets every principal `matches` (after a revocation or a tenant's deletion).
    fn forget(&self, matches: impl Fn(&Principal) -> bool) {
        if let Ok(mut map) = self.0.lock() {
            let gone: Vec<[u8; 32]> =
                map.iter().filter(|(_, (p, _))| matches(p)).map(|(hash, _)| *hash).collect();
            for hash in gone {
                map.pop(&hash);
            }
        }
    }

    fn put(&self, hash: [u8; 32], principal: Principal, now: OffsetDateTime) {
        let until =
            principal.expires_at.map_or(now + PRINCIPAL_TTL, |e| e.min(now + PRINCIPAL_TTL));
        if let Ok(mut map) = self.0.lock() {
            map.put(hash, (principal, until));
        }
    }
}

/// A listing, as surfaces ask for it.
#[derive(Debug, Clone)]
pub struct Search {
    pub filter: Option<Filter>,
    pub sort: SortKey,
    pub order: Order,
    pub limit: u32,
    /// Offset paging; excludes `cursor`.
    pub offset: Option<u64>,
    /// Keyset paging: a `next_cursor` of an earlier page of the same query.
    pub cursor: Option<String>,
    /// Also count every match.
    pub count: bool,
    pub include_deleted: bool,
    /// Only the users of an organization, or of a role.
    pub within: Option<Within>,
    /// Keyset paging from a plain position (the sort key and id of the last user seen), for a
    /// surface with cursors of its own; excludes `cursor`.
    pub after: Option<(SortValue, UserId)>,
    /// A test the users `filter` selects must also pass, for what the index cannot decide
    /// (exact, case-sensitive values): pages are filled from further matches. Excludes
    /// `offset` and `count`.
    pub refine: Option<Refine>,
}

/// A test of a user beyond the filter (see [`Search::refine`]).
#[derive(Clone)]
pub struct Refine(pub Arc<dyn Fn(&User) -> bool + Send + Sync>);

impl std::fmt::Debug for Refine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refine(..)")
    }
}

/// Most users a refined search reads for one page, beyond which it answers what it found with
/// a cursor to go on from.
const MAX_REFINE_READ: u32 = 10_000;

/// Narrows a user listing to an organization's or a role's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// Owned by, or members of, the organization (with `recursive`, or of one below it).
    Organization { id: OrgId, recursive: bool },
    /// Assigned the role.
    Role(crate::RoleId),
}

impl Default for Search {
    fn default() -> Self {
        Search {
            filter: None,
            sort: SortKey::CreatedAt,
            order: Order::Asc,
            limit: DEFAULT_LIMIT,
            offset: None,
            cursor: None,
            count: false,
            include_deleted: false,
            within: None,
            after: None,
            refine: None,
        }
    }
}

/// A page of users.
#[derive(Debug)]
pub struct Found {
    pub users: Vec<User>,
    /// Continues after the last user of this page; `None` when the page was not full.
    pub next_cursor: Option<String>,
    /// The position `next_cursor` holds, for surfaces with cursors of their own.
    pub next: Option<(SortValue, UserId)>,
    pub total_count: Option<u64>,
}

/// Everything Roster holds about one person.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PersonalData {
    /// The record: profile, state, credential metadata (never a secret or a hash).
    pub user: User,
    /// Every event about the person, oldest first.
    pub events: Vec<Event>,
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: OffsetDateTime,
}

/// Page size bounds of every listing.
pub const MAX_LIMIT: u32 = 1000;
/// The largest offset a listing takes (what the databases can skip).
pub const MAX_OFFSET: u64 = i64::MAX as u64;
pub const DEFAULT_LIMIT: u32 = 100;
/// The longest a feed reader may wait for new events.
pub const MAX_FEED_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// How often a waiting feed reader looks for events committed by other nodes.
pub const FEED_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// The result of a create: the user, and whether it was replayed from an idempotency record.
#[derive(Debug)]
pub struct Created {
    pub user: User,
    pub replayed: bool,
}

/// A create's `Idempotency-Key` and the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: [u8; 32],
}

/// The unique values a user can be looked up by.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    Username(&'a str),
    /// Primary or secondary address.
    Email(&'a str),
    Phone(&'a str),
    ExternalId(&'a str),
    /// The user's id in another system.
    Alias {
        namespace: &'a str,
        value: &'a str,
    },
    /// The user's account at an external identity provider, both parts compared exactly.
    Identity {
        provider: &'a str,
        subject: &'a str,
    },
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, argon2: Argon2Params) -> Result<Self> {
        Ok(Directory {
            audit: AuditLog::new(store.clone(), clock.clone()),
            webhooks: crate::webhooks::WebhookSettings::default(),
            organization_types: Arc::default(),
            invitation_ttl: crate::invitations::DEFAULT_TTL,
            store,
            clock,
            hasher: Hasher::new(argon2)?,
            cursor_key: Arc::default(),
            webhook_key: Arc::default(),
            access_key: Arc::default(),
            principals: Arc::default(),
            following_hints: Arc::default(),
            remote: RemoteCommits::default(),
            phone_region: None,
            webhook_formats: Arc::default(),
            lockout_after: DEFAULT_LOCKOUT_AFTER,
            turns: Turns::default(),
        })
    }

    /// Adds a webhook payload format (a dialect's envelope); a webhook may then name it.
    pub fn with_webhook_format(mut self, format: Arc<dyn crate::webhooks::PayloadFormat>) -> Self {
        Arc::make_mut(&mut self.webhook_formats).add(format);
        self
    }

    pub(crate) fn webhook_formats(&self) -> &crate::webhooks::Formats {
        &self.webhook_formats
    }

    /// Reads phone numbers without a country code as numbers of `region` (ISO 3166-1 alpha-2).
    pub fn with_phone_default_region(mut self, region: &str) -> std::result::Result<Self, String> {
        let id = region
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .map_err(|_| format!("`{region}` is not an ISO 3166-1 alpha-2 country code"))?;
        self.phone_region = Some(id);
        Ok(self)
    }

    /// What validation depends on besides the document.
    pub(crate) fn rules(&self) -> validate::Rules {
        validate::Rules { hashes: *self.hasher.limits(), phone_region: self.phone_region }
    }

    /// Bounds the cost of imported password hashes (see [`HashLimits`]).
    pub fn with_hash_limits(mut self, limits: HashLimits) -> Self {
        self.hasher = self.hasher.with_limits(limits);
        self
    }

    /// Locks users after `n` consecutive failed password verifications (at least 1).
    pub fn with_lockout_after(mut self, n: u32) -> Self {
        self.lockout_after = n.max(1);
        self
    }

    /// Keeps audit entries for `retention` (default 90 days).
    pub fn with_audit_retention(mut self, retention: std::time::Duration) -> Self {
        self.audit = self.audit.with_retention(retention);
        self
    }

    pub fn with_webhooks(mut self, settings: crate::webhooks::WebhookSettings) -> Self {
        self.webhooks = settings;
        self
    }

    /// The organization types of this deployment (see [`crate::organizations`]); an error
    /// names a default that is not among the types.
    pub fn with_organization_types(
        mut self,
        types: crate::organizations::OrganizationTypes,
    ) -> std::result::Result<Self, String> {
        types.check()?;
        self.organization_types = Arc::new(types);
        Ok(self)
    }

    pub fn organization_types(&self) -> &crate::organizations::OrganizationTypes {
        &self.organization_types
    }

    /// How long an invitation can be accepted (default 7 days).
    pub fn with_invitation_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.invitation_ttl = ttl;
        self
    }

    pub(crate) fn invitation_ttl(&self) -> std::time::Duration {
        self.invitation_ttl
    }

    /// Ticks after every commit on this node and, on PostgreSQL, on the others (for workers
    /// that follow the feed).
    pub fn feed_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.feed_changes()
    }

    /// Ticks after a commit that left `worker` something to do.
    pub fn work_changes(&self, worker: crate::store::Worker) -> tokio::sync::watch::Receiver<u64> {
        self.store.work_changes(worker)
    }

    pub fn webhook_settings(&self) -> crate::webhooks::WebhookSettings {
        self.webhooks
    }

    /// Where surfaces record the operations they answer.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// The principal's tenant's audit entries, including everything recorded before the call.
    pub async fn audit(&self, p: &Principal, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        self.audit_of(Trail::Tenant(p.tenant), query).await
    }

    /// The operator's trails (`system` scope): requests that carried no valid token, or those
    /// made with a system token; neither belongs to a tenant.
    pub async fn operator_audit(
        &self,
        p: &Principal,
        trail: Trail,
        query: AuditQuery,
    ) -> Result<Vec<AuditEntry>> {
        crate::tenants::require_system(p)?;
        if let Trail::Tenant(_) = trail {
            return Err(Error::Forbidden);
        }
        self.audit_of(trail, query).await
    }

    async fn audit_of(&self, trail: Trail, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        if query.after < 0 {
            return Err(Error::invalid("after", "out_of_range", "must not be negative"));
        }
        check_limit(query.limit)?;
        self.audit.flush().await;
        self.store.audit(trail, &query).await
    }

    pub(crate) fn lockout_after(&self) -> u32 {
        self.lockout_after
    }

    pub(crate) fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Connections open and idle, for metrics.
    pub fn pool_stats(&self) -> crate::store::PoolStats {
        self.store.pool_stats()
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await
    }

    /// The principal a bearer token stands for.
    ///
    /// Principals are remembered for [`PRINCIPAL_TTL`] (never past the token's expiry), which
    /// saves a query on every request.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let hash = secret::token_hash(token);
        let now = self.now();
        self.following_hints.get_or_init(|| {
            let cache = Arc::downgrade(&self.principals);
            tokio::spawn(follow_hints(cache, self.store.hints()));
        });
        if let Some(principal) = self.principals.get(&hash, now) {
            return Ok(principal);
        }
        let principal = match token.strip_prefix(crate::tokens::ACCESS_TOKEN_PREFIX) {
            Some(access) => self.access_principal(access, now).await?,
            None => self.store.principal(&hash, now).await?,
        };
        let principal = principal.ok_or(Error::Unauthenticated)?;
        // Recorded when the token is looked up, and kept by the store at most once a minute
        // (whichever node asks). A failure to record it does not fail the request.
        if let Actor::Token(id) = principal.actor
            && let Err(e) = self.store.touch_token(principal.tenant, id, now).await
        {
            tracing::warn!(error = %e, token = %id, "recording a token's use failed");
        }
        self.principals.put(hash, principal.clone(), now);
        Ok(principal)
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub(crate) fn forget_token(&self, id: TokenId) {
        self.principals.forget(|p| p.actor == Actor::Token(id));
    }

    pub(crate) fn forget_tenant(&self, id: TenantId) {
        self.principals.forget(|p| p.tenant == id);
    }

    pub async fn create_user(
        &self,
        p: &Principal,
        input: UserInput,
        idempotency: Option<Idempotency>,
    ) -> Result<Created> {
        let now = self.now();
        if let Some(idem) = &idempotency
            && let Some(created) = self.replay(p.tenant, idem, now).await?
        {
            return Ok(created);
        }
        let valid = validate::user(input, Mode::Create, now.date(), &self.rules())?;
        let (record, change) = self.new_user(p, valid, now).await?;
        let id = record.user.id;
        let idempotency_record = match &idempotency {
            Some(idem) => Some(IdempotencyRecord {
                key: idem.key.clone(),
                fingerprint: idem.fingerprint,
                user_id: id,
                response: serde_json::to_value(&record.user).map_err(Error::internal)?,
                expires_at: now + IDEMPOTENCY_TTL,
            }),
            None => None,
        };
        let user = record.user.clone();
        let change = Change { idempotency: idempotency_record, ..change };
        match (self.store.commit(p.tenant, change).await, &idempotency) {
            (Ok(()), _) => Ok(Created { user, replayed: false }),
            // Another request with the same key committed first: answer as it did.
            (Err(Error::IdempotencyMismatch), Some(idem)) => {
                self.replay(p.tenant, idem, now).await?.ok_or(Error::IdempotencyMismatch)
            }
            (Err(e), _) => Err(e),
        }
    }

    /// Creates many users in batched transactions. `items` holds what the surface parsed, in
    /// request order, with the items it could not parse as their errors. With `atomic`, all are
    /// created or none (then the failing items report why, the others `Error::Aborted`);
    /// otherwise each item succeeds or fails on its own. Results come in request order.
    pub async fn create_users(
        &self,
        p: &Principal,
        items: Vec<Result<UserInput>>,
        atomic: bool,
    ) -> Result<Vec<Result<User>>> {
        let now = self.now();
        let mut results: Vec<Option<Result<User>>> = Vec::with_capacity(items.len());
        let mut pending = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match item
                .and_then(|input| validate::user(input, Mode::Create, now.date(), &self.rules()))
            {
                Ok(valid) => {
                    pending.push((i, valid));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        if atomic && results.iter().any(Option::is_some) {
            return Ok(results.into_iter().map(|r| r.unwrap_or(Err(Error::Aborted))).collect());
        }
        // Secrets are hashed concurrently, as many at a time as the hasher allows.
        let mut built = tokio::task::JoinSet::new();
        for (i, valid) in pending {
            let (this, p) = (self.clone(), p.clone());
            built.spawn(async move { (i, this.new_user(&p, valid, now).await) });
        }
        let mut changes = Vec::new();
        while let Some(joined) = built.join_next().await {
            let (i, outcome) = joined.map_err(Error::internal)?;
            match outcome {
                Ok((record, change)) => changes.push((i, record.user, change)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        if atomic && results.iter().any(Option::is_some) {
            return Ok(results.into_iter().map(|r| r.unwrap_or(Err(Error::Aborted))).collect());
        }
        changes.sort_by_key(|(i, _, _)| *i);
        let (placed, changes): (Vec<(usize, User)>, Vec<Change>) =
            changes.into_iter().map(|(i, user, change)| ((i, user), change)).unzip();
        let committed = self.store.commit_all(p.tenant, changes, atomic).await?;
        for ((i, user), outcome) in placed.into_iter().zip(committed) {
            results[i] = Some(outcome.map(|()| user));
        }
        Ok(results.into_iter().map(|r| r.unwrap_or(Err(Error::Aborted))).collect())
    }

    /// Checks a create document as `create_user` would, writing nothing.
    pub async fn check_user(&self, p: &Principal, input: UserInput) -> Result<()> {
        let valid = validate::user(input, Mode::Create, self.now().date(), &self.rules())?;
        if let Some(org) = valid.organization_id {
            self.owning_organization(p.tenant, org).await?;
        }
        Ok(())
    }

    /// A new user from a validated document: its record and the change that creates it.
    pub(crate) async fn new_user(
        &self,
        p: &Principal,
        valid: ValidUser,
        now: OffsetDateTime,
    ) -> Result<(UserRecord, Change)> {
        let organization_id = match valid.organization_id {
            Some(org) => self.owning_organization(p.tenant, org).await?,
            None => p.root_organization,
        };
        let (hashed, national_id_hash) = tokio::try_join!(
            self.hash(flat(&valid.password)),
            self.hash(flat(&valid.national_id))
        )?;
        // An imported hash is kept as it is; it is verified in its own scheme later.
        let password_hash = valid.password_hash.or(hashed);
        let user = User {
            id: valid.id.unwrap_or_else(|| UserId::generate(now)),
            kind: valid.kind,
            state: valid.state.unwrap_or(UserState::Active),
            username: valid.username,
            organization_id,
            profile: valid.profile,
            password: PasswordInfo {
                set: password_hash.is_some(),
                change_required: password_hash.is_some() && valid.password_change_required,
                changed_at: password_hash.as_ref().map(|_| now),
            },
            national_id: SecretInfo { set: national_id_hash.is_some() },
            has_secret: (valid.kind == UserKind::Machine).then_some(false),
            created_at: now,
            updated_at: now,
            last_auth_at: None,
            version: 1,
        };
        let event =
            event(p, "user.created", &user, json!({ "kind": user.kind, "state": user.state }));
        let record = UserRecord {
            user,
            password_hash,
            national_id_hash,
            secret_hash: None,
            password_failures: 0,
        };
        let change = Change {
            writes: vec![Write::CreateUser { record: Box::new(record.clone()) }],
            events: vec![event],
            idempotency: None,
        };
        Ok((record, change))
    }

    async fn replay(
        &self,
        tenant: TenantId,
        idem: &Idempotency,
        now: OffsetDateTime,
    ) -> Result<Option<Created>> {
        let Some(record) = self.store.idempotency(tenant, &idem.key, now).await? else {
            return Ok(None);
        };
        if record.fingerprint != idem.fingerprint {
            return Err(Error::IdempotencyMismatch);
        }
        let user = serde_json::from_value(record.response).map_err(Error::internal)?;
        Ok(Some(Created { user, replayed: true }))
    }

    /// A user by id; a deleted tombstone only with `include_deleted`.
    pub async fn user(&self, p: &Principal, id: UserId, include_deleted: bool) -> Result<User> {
        Ok(self.record(p.tenant, id, include_deleted).await?.user)
    }

    /// Everything Roster holds about a person (a subject access request): the record with its
    /// credential metadata, and every event about them. Works on a tombstone too.
    pub async fn export_user(&self, p: &Principal, id: UserId) -> Result<PersonalData> {
        let user = self.record(p.tenant, id, true).await?.user;
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(0, |e: &Event| e.seq);
            let query = EventQuery {
                after,
                limit: MAX_LIMIT,
                resource: Some(*id.as_uuid()),
                ..EventQuery::default()
            };
            let page = self.store.events(p.tenant, &query).await?;
            let done = page.len() < MAX_LIMIT as usize;
            events.extend(page);
            if done {
                break;
            }
        }
        Ok(PersonalData { user, events, exported_at: self.now() })
    }

    pub async fn find_user(&self, p: &Principal, lookup: Lookup<'_>) -> Result<User> {
        let (kind, value) = match lookup {
            Lookup::Username(u) => (KeyKind::Username, validate::username_key(u)),
            Lookup::Email(e) => (KeyKind::Email, validate::email_key(e)),
            Lookup::Phone(ph) => (KeyKind::Phone, validate::phone(ph).ok_or(NOT_FOUND)?),
            Lookup::ExternalId(x) => (KeyKind::ExternalUserId, x.to_owned()),
            Lookup::Alias { namespace, value } => {
                (KeyKind::Alias, index::alias_key(namespace, value))
            }
            Lookup::Identity { provider, subject } => {
                (KeyKind::Identity, index::identity_key(provider, subject))
            }
        };
        let record = self.store.user_by_key(p.tenant, kind, &value).await?.ok_or(NOT_FOUND)?;
        Ok(record.user)
    }

    /// A page of the users `search` selects, with the cursor of the next page when the page is
    /// full, and the number of all matches when asked for.
    pub async fn search(&self, p: &Principal, search: &Search) -> Result<Found> {
        check_limit(search.limit)?;
        if search.offset.is_some_and(|o| o > MAX_OFFSET) {
            return Err(Error::invalid(
                "offset",
                "out_of_range",
                format!("must be from 0 to {MAX_OFFSET}"),
            ));
        }
        if [search.offset.is_some(), search.cursor.is_some(), search.after.is_some()]
            .into_iter()
            .filter(|set| *set)
            .count()
            > 1
        {
            return Err(Error::invalid(
                "cursor",
                "conflict",
                "a page is chosen by offset or by cursor, not both",
            ));
        }
        if search.refine.is_some() && (search.offset.is_some() || search.count) {
            return Err(Error::invalid(
                "offset",
                "conflict",
                "a refined search pages by cursor and does not count",
            ));
        }
        let mut cond = search.filter.as_ref().map(query::resolve).transpose()?;
        let mut filter_text = search.filter.as_ref().map(ToString::to_string).unwrap_or_default();
        if let Some(within) = search.within {
            let scope = match within {
                Within::Organization { id, recursive } => {
                    if self.store.organization(p.tenant, id).await?.is_none() {
                        return Err(Error::NotFound { kind: "organization" });
                    }
                    // A cursor belongs to the listing it came from.
                    filter_text.push_str(&format!(" @organization/{id}/{recursive}"));
                    Cond::Organization { id, recursive, members: true }
                }
                Within::Role(id) => {
                    if self.store.role(p.tenant, id).await?.is_none() {
                        return Err(Error::NotFound { kind: "role" });
                    }
                    filter_text.push_str(&format!(" @role/{id}"));
                    Cond::HasRole(id)
                }
            };
            cond = Some(match cond {
                Some(c) => Cond::And(Box::new(c), Box::new(scope)),
                None => scope,
            });
        }
        let binding =
            cursor::Binding::new(search.sort, search.order, &filter_text, search.include_deleted);
        let key = self.cursor_key().await?;
        let after = match &search.cursor {
            Some(c) => Some(cursor::decode(key, p.tenant, &binding, c)?),
            None => search.after.clone(),
        };
        let query = UserQuery {
            cond,
            sort: search.sort,
            order: search.order,
            limit: search.limit,
            offset: search.offset.unwrap_or(0),
            after,
            include_deleted: search.include_deleted,
        };
        if let Some(refine) = &search.refine {
            return self.refined(p, query, refine, key, &binding).await;
        }
        let (records, total_count) = if search.count {
            let (records, total) = tokio::try_join!(
                self.store.users(p.tenant, &query),
                self.store.count_users(p.tenant, &query)
            )?;
            (records, Some(total))
        } else {
            (self.store.users(p.tenant, &query).await?, None)
        };
        let full = records.len() == usize::try_from(search.limit).unwrap_or(usize::MAX);
        let next = records.last().filter(|_| full).map(|last| position(&last.user, search.sort));
        let next_cursor =
            next.clone().map(|at| cursor::encode(key, p.tenant, &binding, at)).transpose()?;
        let users = records.into_iter().map(|r| r.user).collect();
        Ok(Found { users, next_cursor, next, total_count })
    }

    /// A page of the users `query` selects that also pass `refine`, read in pages of the query
    /// until the page is full, the matches end, or [`MAX_REFINE_READ`] users were read (then
    /// the cursor goes on from the last one read).
    async fn refined(
        &self,
        p: &Principal,
        mut query: UserQuery,
        refine: &Refine,
        key: &cursor::CursorKey,
        binding: &cursor::Binding,
    ) -> Result<Found> {
        let (limit, sort) = (usize::try_from(query.limit).unwrap_or(usize::MAX), query.sort);
        let mut users = Vec::new();
        let mut read = 0u32;
        query.limit = query.limit.max(DEFAULT_LIMIT);
        let next = loop {
            let records = self.store.users(p.tenant, &query).await?;
            let ended = records.len() < usize::try_from(query.limit).unwrap_or(usize::MAX);
            read = read.saturating_add(query.limit);
            for record in records {
                query.after = Some(position(&record.user, sort));
                if (refine.0)(&record.user) {
                    users.push(record.user);
                    if users.len() == limit {
                        break;
                    }
                }
            }
            if users.len() == limit {
                break users.last().map(|u| position(u, sort));
            }
            if ended {
                break None;
            }
            if read >= MAX_REFINE_READ {
                break query.after.clone();
            }
        };
        let next_cursor =
            next.clone().map(|at| cursor::encode(key, p.tenant, binding, at)).transpose()?;
        Ok(Found { users, next_cursor, next, total_count: None })
    }

    /// How many users match `filter`.
    pub async fn count(
        &self,
        p: &Principal,
        filter: Option<&Filter>,
        include_deleted: bool,
    ) -> Result<u64> {
        let query = UserQuery {
            cond: filter.map(query::resolve).transpose()?,
            sort: SortKey::CreatedAt,
            order: Order::Asc,
            limit: 0,
            offset: 0,
            after: None,
            include_deleted,
        };
        self.store.count_users(p.tenant, &query).await
    }

    pub(crate) async fn webhook_key(&self) -> Result<&[u8]> {
        let key = self
            .webhook_key
            .get_or_try_init(|| async {
                let key = self.store.setting("webhook_key").await?;
                key.ok_or_else(|| Error::internal("the webhook key is missing"))
            })
            .await?;
        Ok(key)
    }

    /// The key access tokens are signed with: HMAC-SHA256 under the deployment's cursor key of
    /// a label, the same on every node.
    pub(crate) async fn access_key(&self) -> Result<&[u8]> {
        let key = self
            .access_key
            .get_or_try_init(|| async {
                let key = self.store.setting("cursor_key").await?;
                let key = key.ok_or_else(|| Error::internal("the cursor key is missing"))?;
                Ok::<_, Error>(secret::derive(&key, b"roster access token key v1").to_vec())
            })
            .await?;
        Ok(key)
    }

    async fn cursor_key(&self) -> Result<&CursorKey> {
        self.cursor_key
            .get_or_try_init(|| async {
                let key = self.store.setting("cursor_key").await?;
                key.map(CursorKey::new).ok_or_else(|| Error::internal("the cursor key is missing"))
            })
            .await
    }

    /// Replaces the writable fields of a user with the document `edit` makes from the current user.
    /// `edit` runs again when a concurrent writer got in first (only without `if_match`), so a
    /// merge patch is always applied to the newest version.
    pub async fn update_user<F>(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        edit: F,
    ) -> Result<User>
    where
        F: Fn(&User) -> Result<UserInput> + Send + Sync,
    {
        self.update_user_as(p, id, if_match, edit, &|_| Ok(None), "user.updated", Extra::default())
            .await
    }

    /// [`Directory::update_user`] that also makes the user active or not, in the same commit
    /// (see [`Transition::towards_active`]).
    pub async fn update_user_active<F>(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        edit: F,
        active: Option<bool>,
    ) -> Result<User>
    where
        F: Fn(&User) -> Result<UserInput> + Send + Sync,
    {
        let toward = |from| Ok(active.and_then(|a| Transition::towards_active(a, from)));
        self.update_user_as(p, id, if_match, edit, &toward, "user.updated", Extra::default()).await
    }

    /// A dialect's change of a user, written in one commit or not at all: a JSON Merge Patch,
    /// the transition `toward` picks from the user's current state (or none; offboarding is
    /// not one of them, as it queues a job of its own), and the data of the user's membership
    /// of an application (a native membership document). A change of the membership alone is a
    /// new version of the user too: a dialect shows it in the user.
    pub async fn change_user(
        &self,
        p: &Principal,
        id: UserId,
        patch: serde_json::Value,
        toward: &(dyn Fn(UserState) -> Result<Option<Transition>> + Sync),
        membership: Option<(crate::ApplicationId, serde_json::Value)>,
    ) -> Result<User> {
        crate::input::reject_read_only(&patch)?;
        let extra = match membership {
            Some((app, input)) => self.membership_change(p, id, app, input).await?,
            None => Extra::default(),
        };
        let edit = |current: &User| crate::input::merged(current, &patch);
        let toward = |from| match toward(from)? {
            Some(Transition::Offboard | Transition::Delete) => {
                Err(Error::internal("change_user does not offboard or delete"))
            }
            t => Ok(t),
        };
        self.update_user_as(p, id, None, edit, &toward, "user.updated", extra).await
    }

    /// Applies a JSON Merge Patch (RFC 7396) to a user; read-only fields in it are errors.
    pub async fn merge_user(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        patch: serde_json::Value,
    ) -> Result<User> {
        crate::input::reject_read_only(&patch)?;
        self.update_user(p, id, if_match, |current| crate::input::merged(current, &patch)).await
    }

    /// Runs one attempt of a versioned write of `resource` until it does not lose a race: an
    /// attempt whose commit finds the resource moved on runs again on the fresh one, unless
    /// `if_match` pinned the version (then the `Stale` error is the answer). This node's writes
    /// of one resource take turns ([`Turns`]). A write without `If-Match` that still loses
    /// [`RETRIES`] times is `Unavailable` (503, try again), never a 412 the client did not ask
    /// for. The one retry policy of every versioned write.
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        resource: uuid::Uuid,
        if_match: Option<i64>,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let _turn = self.turns.take(resource).await;
        let mut lost = 0;
        loop {
            match attempt().await {
                // At once: a loser that paused would fall behind the other nodes' next writers.
                Err(e) if retry(&e, if_match) && lost + 1 < RETRIES => lost += 1,
                Err(e) if retry(&e, if_match) && if_match.is_none() => {
                    let why = format!("{resource} kept changing under this write ({e})");
                    return Err(Error::Unavailable(why.into()));
                }
                result => return result,
            }
        }
    }

    /// [`Directory::update_user_active`] with an event of type `kind`, committing `also` with it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn update_user_as<F>(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        edit: F,
        toward: &(dyn Fn(UserState) -> Result<Option<Transition>> + Sync),
        kind: &'static str,
        extra: Extra,
    ) -> Result<User>
    where
        F: Fn(&User) -> Result<UserInput> + Send + Sync,
    {
        let (edit, extra) = (&edit, &extra);
        self.with_retries(*id.as_uuid(), if_match, || async move {
            let current = self.record(p.tenant, id, false).await?;
            check_version(&current.user, if_match)?;
            let input = edit(&current.user)?;
            let moving = toward(current.user.state)?;
            let (mut record, mut events) = match self.replaced(p, &current, input).await? {
                Some((record, mut event)) => {
                    event.kind = kind;
                    (record, vec![event])
                }
                None if moving.is_none() && extra.events.is_empty() => return Ok(current.user),
                None => {
                    let mut record = current.clone();
                    record.user.updated_at = self.now();
                    record.user.version += 1;
                    (record, Vec::new())
                }
            };
            if let Some(t) = moving {
                let (kind, data) = transition(&mut record, t)?;
                events.push(event(p, kind, &record.user, data));
            }
            events.extend(extra.events.iter().cloned());
            self.commit_update(p.tenant, current, record, events, extra.writes.clone()).await
        })
        .await
    }

    /// Moves a user through the state machine. `Delete` leaves a tombstone: id, kind,
    /// organization, timestamps and events stay; personal data and secrets are erased, and the
    /// username, e-mails and phones become free for others.
    pub async fn transition(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        t: Transition,
    ) -> Result<User> {
        if t == Transition::Offboard {
            return Ok(self.offboard(p, id, if_match).await?.0);
        }
        self.modify(p, id, if_match, |record| transition(record, t)).await
    }

    /// Moves a user to `offboarding` and, in the same transaction, queues the job that erases
    /// it (see [`crate::jobs`]).
    pub async fn offboard(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
    ) -> Result<(User, Job)> {
        let job = JobRecord::new(p, JobKind::Offboard, Some(*id.as_uuid()), self.now());
        let queue = Write::CreateJob { job: Box::new(job.clone()) };
        let change = |record: &mut UserRecord| transition(record, Transition::Offboard);
        let user = self.modify_with(p, id, if_match, change, vec![queue]).await?;
        Ok((user, job.job))
    }

    /// Changes a user with `change`, which edits a copy of the current record and names the
    /// event; the version and `updated_at` move on, and a write that loses a race runs `change`
    /// again on the fresh record (see [`retry`]).
    pub(crate) async fn modify<F>(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        change: F,
    ) -> Result<User>
    where
        F: Fn(&mut UserRecord) -> Result<(&'static str, serde_json::Value)>,
    {
        self.modify_with(p, id, if_match, change, Vec::new()).await
    }

    /// [`Directory::modify`], committing `also` in the same transaction.
    pub(crate) async fn modify_with<F>(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        change: F,
        also: Vec<Write>,
    ) -> Result<User>
    where
        F: Fn(&mut UserRecord) -> Result<(&'static str, serde_json::Value)>,
    {
        let (change, also) = (&change, &also);
        self.with_retries(*id.as_uuid(), if_match, || async move {
            let current = self.record(p.tenant, id, false).await?;
            check_version(&current.user, if_match)?;
            let mut record = current.clone();
            let (kind, data) = change(&mut record)?;
            record.user.updated_at = self.now();
            record.user.version += 1;
            let event = event(p, kind, &record.user, data);
            self.commit_update(p.tenant, current, record, vec![event], also.clone()).await
        })
        .await
    }

    /// The events `query` selects, oldest first. With a `wait`, an empty answer is held until
    /// an event arrives or the wait is over: a commit on this node answers at once, one made
    /// by another node within [`FEED_POLL`]. Waiting readers read the feed again only when
    /// something was committed: one watcher a node looks for other nodes' commits for all of
    /// them ([`RemoteCommits`]).
    pub async fn events(
        &self,
        p: &Principal,
        query: &EventQuery,
        wait: std::time::Duration,
    ) -> Result<Vec<Event>> {
        if query.after < 0 {
            return Err(Error::invalid("after", "out_of_range", "must not be negative"));
        }
        check_limit(query.limit)?;
        if wait > MAX_FEED_WAIT {
            let most = MAX_FEED_WAIT.as_secs();
            return Err(Error::invalid("wait", "out_of_range", format!("must be at most {most}s")));
        }
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribed before reading, so a commit between the read and the wait is not missed.
        let mut local = self.store.feed_changes();
        let mut remote = (!wait.is_zero()).then(|| self.remote.subscribe(&self.store));
        loop {
            let events = self.store.events(p.tenant, query).await?;
            if !events.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(events);
            }
            let commit = async {
                match remote.as_mut() {
                    Some(remote) => tokio::select! {
                        _ = local.changed() => {}
                        _ = remote.changed() => {}
                    },
                    None => {
                        let _ = local.changed().await;
                    }
                }
            };
            let _ = tokio::time::timeout_at(deadline, commit).await;
        }
    }

    /// The record that `input` makes of `current`, with its event; `None` when nothing changes.
    async fn replaced(
        &self,
        p: &Principal,
        current: &UserRecord,
        mut input: UserInput,
    ) -> Result<Option<(UserRecord, NewEvent)>> {
        let now = self.now();
        let kind = current.user.kind;
        let kind_error = match input.kind.take() {
            Some(k) if k != kind.as_str() => {
                Some(FieldError::new("kind", "read_only", "the kind of a user cannot change"))
            }
            _ => None,
        };
        input.kind = Some(kind.as_str().to_owned());
        let valid: ValidUser =
            match (validate::user(input, Mode::Replace, now.date(), &self.rules()), kind_error) {
                (Ok(v), None) => v,
                (Ok(_), Some(e)) => return Err(Error::Invalid(vec![e])),
                (Err(Error::Invalid(mut errors)), Some(e)) => {
                    errors.insert(0, e);
                    return Err(Error::Invalid(errors));
                }
                (Err(e), _) => return Err(e),
            };
        let organization_id = match valid.organization_id {
            Some(org) if org != current.user.organization_id => {
                self.owning_organization(p.tenant, org).await?
            }
            _ => current.user.organization_id,
        };
        let mut record = current.clone();
        let user = &mut record.user;
        let mut fields = Vec::new();
        if user.username != valid.username {
            fields.push("username");
            user.username = valid.username;
        }
        if user.organization_id != organization_id {
            fields.push("organization_id");
            user.organization_id = organization_id;
        }
        fields.extend(changed_fields(&user.profile, &valid.profile));
        user.profile = valid.profile;
        if let Some(password) = valid.password {
            fields.push("password");
            record.password_hash = self.hash(password.as_ref()).await?;
            record.user.password = PasswordInfo {
                set: record.password_hash.is_some(),
                change_required: false,
                changed_at: Some(now),
            };
        }
        if let Some(hash) = valid.password_hash {
            fields.push("password");
            record.password_hash = Some(hash);
            record.user.password =
                PasswordInfo { set: true, change_required: false, changed_at: Some(now) };
        }
        if let Some(national_id) = valid.national_id {
            if national_id.is_some() || record.national_id_hash.is_some() {
                fields.push("national_id");
            }
            record.national_id_hash = self.hash(national_id.as_ref()).await?;
            record.user.national_id = SecretInfo { set: record.national_id_hash.is_some() };
        }
        if fields.is_empty() {
            return Ok(None);
        }
        record.user.updated_at = now;
        record.user.version += 1;
        let event = event(p, "user.updated", &record.user, json!({ "fields": fields }));
        Ok(Some((record, event)))
    }

    /// Replaces `before` with `record` and appends `events`; `Error::Stale` when `before` moved.
    pub(crate) async fn commit_update(
        &self,
        tenant: TenantId,
        before: UserRecord,
        record: UserRecord,
        events: Vec<NewEvent>,
        also: Vec<Write>,
    ) -> Result<User> {
        let user = record.user.clone();
        let update = Write::UpdateUser { record: Box::new(record), before: Box::new(before) };
        let change = Change {
            writes: std::iter::once(update).chain(also).collect(),
            events,
            idempotency: None,
        };
        self.store.commit(tenant, change).await?;
        Ok(user)
    }

    pub(crate) async fn record(
        &self,
        tenant: TenantId,
        id: UserId,
        include_deleted: bool,
    ) -> Result<UserRecord> {
        match self.store.user(tenant, id).await? {
            Some(r) if include_deleted || r.user.state != UserState::Deleted => Ok(r),
            _ => Err(NOT_FOUND),
        }
    }

    async fn owning_organization(&self, tenant: TenantId, id: OrgId) -> Result<OrgId> {
        if self.store.organization(tenant, id).await?.is_some() {
            Ok(id)
        } else {
            Err(Error::invalid("organization_id", "not_found", "no such organization"))
        }
    }

    async fn hash(&self, secret: Option<&SecretString>) -> Result<Option<String>> {
        match secret {
            Some(s) => self.hasher.hash(s.clone()).await.map(Some),
            None => Ok(None),
        }
    }
}

const NOT_FOUND: Error = Error::NotFound { kind: "user" };

/// Where `user` stands in a listing sorted by `sort`.
fn position(user: &User, sort: SortKey) -> (SortValue, UserId) {
    let micros =
        |t: OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX);
    let keys = || index::sort_keys(user);
    let value = match sort {
        SortKey::CreatedAt => SortValue::Int(micros(user.created_at)),
        SortKey::UpdatedAt => SortValue::Int(micros(user.updated_at)),
        SortKey::LastAuthAt => SortValue::Int(user.last_auth_at.map_or(0, micros)),
        SortKey::Username => SortValue::Text(keys().username),
        SortKey::Email => SortValue::Text(keys().email),
        SortKey::FamilyName => SortValue::Text(keys().family_name),
        SortKey::Phone => SortValue::Text(keys().phone),
    };
    (value, user.id)
}

/// Every listing's page size: 1 to `MAX_LIMIT`.
pub(crate) fn check_limit(limit: u32) -> Result<()> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(Error::invalid("limit", "out_of_range", format!("must be from 1 to {MAX_LIMIT}")))
    }
}

/// Whether a write that lost a race should run again on the fresh record: always without
/// `If-Match`, and with it when only the failure count moved (the version still matches).
pub(crate) fn retry(e: &Error, if_match: Option<i64>) -> bool {
    matches!(e, Error::Stale { expected, current } if if_match.is_none() || expected == current)
}

fn check_version(user: &User, if_match: Option<i64>) -> Result<()> {
    stale_unless(user.version, if_match)
}

/// `Error::Stale` when an `If-Match` pins another version than `current`.
pub(crate) fn stale_unless(current: i64, if_match: Option<i64>) -> Result<()> {
    match if_match {
        Some(expected) if expected != current => Err(Error::Stale { expected, current }),
        _ => Ok(()),
    }
}

fn flat(secret: &Option<Option<SecretString>>) -> Option<&SecretString> {
    secret.as_ref().and_then(Option::as_ref)
}

pub(crate) fn event(
    p: &Principal,
    kind: &'static str,
    user: &User,
    data: serde_json::Value,
) -> NewEvent {
    NewEvent {
        kind,
        resource_type: "user",
        resource_id: *user.id.as_uuid(),
        version: user.version,
        actor: p.actor,
        occurred_at: user.updated_at,
        data,
    }
}

/// What a change of a user commits besides the user: other writes and their events.
#[derive(Default, Clone)]
pub(crate) struct Extra {
    pub(crate) writes: Vec<Write>,
    pub(crate) events: Vec<NewEvent>,
}

/// Applies `t` to a record: its new state (a tombstone for `delete`) and the event.
fn transition(record: &mut UserRecord, t: Transition) -> Result<(&'static str, serde_json::Value)> {
    let from = record.user.state;
    let to = t.target(from).ok_or(Error::InvalidTransition { action: t.name(), from })?;
    record.user.state = to;
    if t == Transition::Unlock {
        record.password_failures = 0;
    }
    let kind = if to == UserState::Deleted {
        erase(record);
        "user.deleted"
    } else {
        "user.state_changed"
    };
    Ok((kind, json!({ "from": from, "to": to, "action": t.name() })))
}

/// Turns a record into a tombstone.
pub(crate) fn erase(record: &mut UserRecord) {
    record.user.username = None;
    record.user.profile = Profile::default();
    record.user.password = PasswordInfo::default();
    record.password_failures = 0;
    record.user.national_id = SecretInfo::default();
    record.user.has_secret = record.user.has_secret.map(|_| false);
    record.user.last_auth_at = None;
    record.password_hash = None;
    record.national_id_hash = None;
    record.secret_hash = None;
}

/// The names of the top-level profile fields that differ.
fn changed_fields(old: &Profile, new: &Profile) -> Vec<&'static str> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    PROFILE_FIELDS.iter().copied().filter(|f| old.get(*f) != new.get(*f)).collect()
}

const PROFILE_FIELDS: &[&str] = &[
    "name",
    "salutation",
    "title",
    "gender",
    "birth",
    "nationalities",
    "emails",
    "phones",
    "locale",
    "picture",
    "address",
    "postal_address",
    "external_ids",
    "aliases",
    "identities",
    "attributes",
    "claims",
    "app_data",
    "machine",
];

/// Forgets the principals other nodes revoked (or whose tenant they deleted), as the store
/// tells; everything when it may have missed some. Ends when the directory is gone.
async fn follow_hints(
    cache: std::sync::Weak<PrincipalCache>,
    mut hints: tokio::sync::broadcast::Receiver<crate::store::Hint>,
) {
    use crate::store::Hint;
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let hint = hints.recv().await;
        let Some(cache) = cache.upgrade() else { return };
        match hint {
            Ok(Hint::TokenRevoked(id)) => cache.forget(|p| p.actor == Actor::Token(id)),
            Ok(Hint::TenantDeleted(id)) => cache.forget(|p| p.tenant == id),
            Ok(Hint::Lost) | Err(RecvError::Lagged(_)) => cache.forget(|_| true),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Tells the feed readers waiting on this node that another node committed: one task polls the
/// feed heads every [`FEED_POLL`] while someone waits, and ticks the channel they wait on when
/// the heads moved. Waiting readers thus cost the database nothing until there is something to
/// read, however many wait.
#[derive(Clone)]
struct RemoteCommits {
    ticks: Arc<tokio::sync::watch::Sender<u64>>,
    started: Arc<std::sync::OnceLock<()>>,
}

impl Default for RemoteCommits {
    fn default() -> Self {
        RemoteCommits {
            ticks: Arc::new(tokio::sync::watch::Sender::new(0)),
            started: Arc::default(),
        }
    }
}

impl RemoteCommits {
    /// A receiver that changes when another node commits; starts the watcher on first use.
    fn subscribe(&self, store: &Arc<dyn Store>) -> tokio::sync::watch::Receiver<u64> {
        let receiver = self.ticks.subscribe();
        self.started.get_or_init(|| {
            tokio::spawn(watch_remote_commits(Arc::downgrade(&self.ticks), store.clone()));
        });
        receiver
    }
}

/// The watcher: ends when the directory is gone.
async fn watch_remote_commits(
    ticks: std::sync::Weak<tokio::sync::watch::Sender<u64>>,
    store: Arc<dyn Store>,
) {
    let mut last = None;
    loop {
        tokio::time::sleep(FEED_POLL).await;
        let Some(ticks) = ticks.upgrade() else { return };
        if ticks.receiver_count() == 0 {
            last = None;
            continue;
        }
        match store.feed_heads().await {
            // After an idle spell, readers may have read before this first look: they read again.
            Ok(heads) if last != Some(heads) => {
                last = Some(heads);
                ticks.send_modify(|n| *n += 1);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "reading the feed heads failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_principal_cache_forgets_the_least_recently_used_first() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let tenant = crate::tenant::Tenant {
            id: crate::TenantId::generate(now),
            name: "t".to_owned(),
            root_organization_id: crate::OrgId::generate(now),
            created_at: now,
        };
        let principal = crate::Principal::system(&tenant);
        let cache = super::PrincipalCache::default();
        let hash = |i: usize| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            h
        };
        for i in 0..super::PRINCIPAL_CACHE_SIZE.get() {
            cache.put(hash(i), principal.clone(), now);
        }
        assert!(cache.get(&hash(0), now).is_some(), "the first, used again");
        cache.put(hash(usize::MAX), principal.clone(), now);
        assert!(cache.get(&hash(0), now).is_some(), "kept: it was used last");
        assert!(cache.get(&hash(1), now).is_none(), "the least recently used went");
        assert!(cache.get(&hash(2), now).is_some(), "one went, not all");
        cache.forget(|_| true);
        assert!(cache.get(&hash(2), now).is_none());
    }

    /// A change to any field of the profile is seen (and so written and announced).
    #[test]
    fn profile_fields_name_every_field_of_the_profile() {
        let profile = serde_json::to_value(super::Profile::default()).unwrap_or_default();
        let mut fields: Vec<&str> =
            profile.as_object().into_iter().flatten().map(|(k, _)| k.as_str()).collect();
        let mut named = super::PROFILE_FIELDS.to_vec();
        fields.sort_unstable();
        named.sort_unstable();
        assert_eq!(fields, named);
    }
}
