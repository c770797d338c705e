//! Roster's [`Store`] on SQLite (the embedded default) and PostgreSQL.
//!
//! Both backends share one body of SQL, `sql.rs`, compiled once for each in [`sqlite`] and
//! [`postgres`]: the schema is the same, placeholders are `$n` on both engines, and the few real
//! differences (connection set-up, pools) live in those two modules. All SQL of Roster is in this
//! crate; values are always bound, never spliced into SQL text.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use roster_core::{Error, Store};

mod postgres;
mod sqlite;

/// Where the data lives.
#[derive(Clone)]
pub enum Database {
    /// An embedded SQLite file (created when missing).
    Sqlite { path: PathBuf },
    /// A PostgreSQL server; `url` is a `postgres://` URL.
    Postgres { url: secrecy::SecretString, max_connections: u32 },
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            // The URL may carry a password.
            Database::Postgres { .. } => f.write_str("postgres://[redacted]"),
        }
    }
}

/// Changes of one request, handed to the writer task (see `sql.rs`, group commit).
struct Job {
    tenant: roster_core::TenantId,
    changes: Vec<roster_core::Change>,
    /// All changes or none; otherwise each on its own.
    atomic: bool,
    reply: tokio::sync::oneshot::Sender<roster_core::Result<Vec<roster_core::Result<()>>>>,
}

/// How long a request waits for a connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the database and applies pending migrations.
pub async fn open(db: &Database) -> Result<Arc<dyn Store>, Error> {
    Ok(match db {
        Database::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path).await?),
        Database::Postgres { url, max_connections } => {
            Arc::new(postgres::PgStore::open(url, *max_connections).await?)
        }
    })
}

/// Turns a driver error into a directory error. Lost or exhausted connections are
/// `Unavailable` (a 503 the client may retry); everything else is `Internal`.
fn db_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => Error::Unavailable(Box::new(e)),
        // A row it refers to was deleted, or one that refers to it was added, by a change that
        // committed meanwhile (an organization and its users).
        sqlx::Error::Database(ref db) if db.is_foreign_key_violation() => {
            Error::Refused("another change to what this refers to came first: try again")
        }
        sqlx::Error::Database(ref db) if db.is_unique_violation() => {
            // Unique keys of users are claimed with `on conflict do nothing`; the constraints
            // that can still fire are a tenant's name and a user id a client chose.
            let tenant_name = db.constraint() == Some("tenants_name_key")
                || db.message().contains("tenants.name");
            let user_id = db.constraint() == Some("users_pkey")
                || db.message().contains("users.tenant_id, users.id");
            if tenant_name {
                Error::Conflict { field: "name".to_owned() }
            } else if user_id {
                Error::Conflict { field: "id".to_owned() }
            } else {
                Error::internal(e)
            }
        }
        e => Error::internal(e),
    }
}
