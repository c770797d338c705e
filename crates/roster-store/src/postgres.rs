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

pub(crate) struct PgStore {
    pool: Pool<Postgres>,
    queue: tokio::sync::mpsc::Sender<crate::Job>,
    /// Ticks after every committed write batch.
    feed: tokio::sync::watch::Sender<u64>,
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
        let queue = spawn_writer(pool.clone(), feed.clone());
        Ok(PgStore { pool, queue, feed })
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

    fn queue(&self) -> &tokio::sync::mpsc::Sender<crate::Job> {
        &self.queue
    }
}

include!("sql.rs");
