//! The production backend: PostgreSQL, shared by any number of Roster nodes.
//!
//! Every statement runs at the default READ COMMITTED isolation. Lost updates are excluded by the
//! version check in `update users … where version = $expected`; unique keys by the primary key of
//! `user_keys`; feed order by the tenant row lock taken last in every write transaction.

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Pool, Postgres};

use crate::ACQUIRE_TIMEOUT;

type Db = Postgres;
type DbRow = sqlx::postgres::PgRow;
/// Appended to the claim of due webhook deliveries: concurrent nodes skip each other's rows
/// (SQLite has one writer, so nothing to skip).
const SKIP_LOCKED: &str = " for update skip locked";
type This = PgStore;

/// Most jobs the writer commits in one transaction. Each job is a savepoint, and PostgreSQL
/// slows down sharply once a transaction has more than 64 subtransactions.
const MAX_BATCH: usize = 48;

/// The advisory lock nodes hold while they prepare the schema (`roster` in ASCII, then 1).
const SCHEMA_LOCK: i64 = 0x726f_7374_6572_0001;

/// Other nodes' notifications are sent (`NOTIFY`, delivered when the transaction commits).
const NOTIFY: bool = true;

/// Listens for other nodes' notifications until `stop` ends: a commit ticks `feed` (waking this
/// node's waiting feed readers at once, not at their next poll) and the workers it left work
/// for, a hint goes to `hints`. A lost connection is taken up again; what it may have missed
/// counts as a commit with work for every worker and as [`Hint::Lost`], and the readers' poll,
/// the workers' timers and the principal cache's lifetime stay the safety net.
async fn listen(
    pool: Pool<Postgres>,
    feed: tokio::sync::watch::Sender<u64>,
    wake: Wake,
    hints: tokio::sync::broadcast::Sender<roster_core::store::Hint>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    use roster_core::store::Hint;
    let lost = || {
        feed.send_modify(|n| *n = n.wrapping_add(1));
        Work { jobs: true, deliveries: true }.wake(&wake.jobs, &wake.deliveries);
        let _ = hints.send(Hint::Lost);
    };
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen_all([FEED_CHANNEL, HINT_CHANNEL]).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = &mut stop => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::debug!(error = %e, "listening for other nodes failed; trying again");
                    tokio::select! {
                        _ = &mut stop => return,
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        lost();
        loop {
            let received = tokio::select! {
                _ = &mut stop => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(n)) if n.channel() == FEED_CHANNEL => {
                    feed.send_modify(|n| *n = n.wrapping_add(1));
                    let flags = n.payload();
                    let work = Work { jobs: flags.contains('j'), deliveries: flags.contains('d') };
                    work.wake(&wake.jobs, &wake.deliveries);
                }
                Ok(Some(n)) => {
                    if let Some(hint) = parse_hint(n.payload()) {
                        let _ = hints.send(hint);
                    }
                }
                // The connection was lost; the next call takes it up again.
                Ok(None) => lost(),
                Err(e) => {
                    tracing::debug!(error = %e, "listening for other nodes failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// A hint's payload: `token:<id>` or `tenant:<id>`.
fn parse_hint(payload: &str) -> Option<roster_core::store::Hint> {
    use roster_core::store::Hint;
    let (kind, id) = payload.split_once(':')?;
    let id: Uuid = id.parse().ok()?;
    match kind {
        "token" => Some(Hint::TokenRevoked(TokenId::from_uuid(id))),
        "tenant" => Some(Hint::TenantDeleted(TenantId::from_uuid(id))),
        _ => None,
    }
}

pub(crate) struct PgStore {
    pool: Pool<Postgres>,
    queue: tokio::sync::mpsc::Sender<crate::Job>,
    /// Ticks after every committed write batch.
    feed: tokio::sync::watch::Sender<u64>,
    hints: tokio::sync::broadcast::Sender<roster_core::store::Hint>,
    wake: Wake,
    /// Dropped with the store: ends the task that listens for other nodes' notifications.
    _listening: tokio::sync::oneshot::Sender<()>,
}

impl PgStore {
    pub(crate) async fn open(
        url: &SecretString,
        max_connections: u32,
        schema: crate::Schema,
    ) -> Result<Self> {
        let options: PgConnectOptions = url.expose_secret().parse().map_err(db_error)?;
        // Statements are logged by sqlx at debug level only; keep them out of normal logs.
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(db_error)?;
        // Nodes starting together take turns: one migrates (and indexes what a migration
        // asks to), the others then find the schema current. The lock is held by a session of
        // its own, outside the pool the migrations use; a node that dies holding it lets go.
        use sqlx::Connection as _;
        let mut session = sqlx::PgConnection::connect_with(&options).await.map_err(db_error)?;
        sqlx::query("select pg_advisory_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut session)
            .await
            .map_err(db_error)?;
        let prepared = prepare_schema(&pool, sqlx::migrate!("migrations/postgres"), schema).await;
        let _ = session.close().await;
        prepared?;
        let feed = tokio::sync::watch::Sender::new(0);
        let hints = tokio::sync::broadcast::Sender::new(256);
        let wake = Wake::default();
        let queue = spawn_writer(pool.clone(), feed.clone(), wake.clone());
        let (_listening, stop) = tokio::sync::oneshot::channel();
        tokio::spawn(listen(pool.clone(), feed.clone(), wake.clone(), hints.clone(), stop));
        Ok(PgStore { pool, queue, feed, hints, wake, _listening })
    }

    fn reader(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn writer(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn feed(&self) -> &tokio::sync::watch::Sender<u64> {
        &self.feed
    }

    fn hint_sender(&self) -> &tokio::sync::broadcast::Sender<roster_core::store::Hint> {
        &self.hints
    }

    fn wake(&self) -> &Wake {
        &self.wake
    }

    fn queue(&self) -> &tokio::sync::mpsc::Sender<crate::Job> {
        &self.queue
    }
}

include!("sql.rs");
