//! The embedded backend: one SQLite file in WAL mode.
//!
//! SQLite allows one writer at a time beside many readers. Writes go through a pool of exactly
//! one connection, so transactions queue in the process instead of failing with `SQLITE_BUSY`;
//! reads use their own pool and never wait for a writer. `synchronous=FULL`: an acknowledged
//! write survives power loss.
//!
//! The query planner works from fixed statistics written by the migrations (the shape of a large
//! tenant), never from measured ones: SQLite's measurements carry no value distribution, and with
//! them it walks a whole sort index for a selective prefix filter (see migration 0002).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::ACQUIRE_TIMEOUT;

type Db = Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
/// Appended to the claim of due webhook deliveries: concurrent nodes skip each other's rows
/// (SQLite has one writer, so nothing to skip).
const SKIP_LOCKED: &str = "";
/// One node writes a SQLite file: there is no one to notify.
const NOTIFY: bool = false;
type This = SqliteStore;

/// Most jobs the writer commits in one transaction.
const MAX_BATCH: usize = 256;

pub(crate) struct SqliteStore {
    reader: Pool<Sqlite>,
    writer: Pool<Sqlite>,
    queue: tokio::sync::mpsc::Sender<crate::Job>,
    /// Ticks after every committed write batch.
    feed: tokio::sync::watch::Sender<u64>,
    hints: tokio::sync::broadcast::Sender<roster_core::store::Hint>,
    wake: Wake,
}

impl SqliteStore {
    pub(crate) async fn open(path: &Path, schema: crate::Schema) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| roster_core::Error::Unavailable(Box::new(e)))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(db_error)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Savepoints journal the pages they change; in memory rather than in a temporary file
        // that costs a third less time per write (measured on a 100,000-user import).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone().pragma("temp_store", "memory"))
            .await
            .map_err(db_error)?;
        prepare_schema(&writer, sqlx::migrate!("migrations/sqlite"), schema).await?;
        let readers = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
        let reader = SqlitePoolOptions::new()
            .max_connections(u32::try_from(readers).unwrap_or(8))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.read_only(true))
            .await
            .map_err(db_error)?;
        let feed = tokio::sync::watch::Sender::new(0);
        let wake = Wake::default();
        let queue = spawn_writer(writer.clone(), feed.clone(), wake.clone());
        let hints = tokio::sync::broadcast::Sender::new(1);
        Ok(SqliteStore { reader, writer, queue, feed, hints, wake })
    }

    fn reader(&self) -> &Pool<Sqlite> {
        &self.reader
    }

    fn writer(&self) -> &Pool<Sqlite> {
        &self.writer
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
