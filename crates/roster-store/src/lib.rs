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

/// What opening a database does to its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Applies pending migrations (nodes starting together on PostgreSQL take turns).
    Migrate,
    /// Applies none: the schema must be the binary's already (a deployment that migrates in a
    /// step of its own, `roster serve --no-migrate`).
    AsIs,
}

/// Opens the database; a schema newer than this binary knows is refused.
pub async fn open(db: &Database, schema: Schema) -> Result<Arc<dyn Store>, Error> {
    Ok(match db {
        Database::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path, schema).await?),
        Database::Postgres { url, max_connections } => {
            Arc::new(postgres::PgStore::open(url, *max_connections, schema).await?)
        }
    })
}

/// Turns a driver error into a directory error. Lost or exhausted connections, and a database
/// that cannot write now (disk full, read-only, shutting down), are `Unavailable` (a 503 the
/// client may retry); everything else is `Internal`.
fn db_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => Error::Unavailable(Box::new(e)),
        sqlx::Error::Database(ref db)
            if db.code().is_some_and(|c| {
                unavailable(db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some(), &c)
            }) =>
        {
            Error::Unavailable(Box::new(e))
        }
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

/// Whether the database rolled a transaction back for a conflict with a concurrent one
/// (PostgreSQL's SQLSTATE class 40: a deadlock, a serialization failure): nothing of it was
/// written, and it may be tried again as it was.
fn rolled_back(e: &Error) -> bool {
    let Error::Unavailable(source) = e else { return false };
    match source.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => {
            db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_none()
                && db.code().is_some_and(|c| c.starts_with("40"))
        }
        _ => false,
    }
}

/// Whether a database error code means "not now" rather than "wrong": SQLite's result codes
/// (primary or extended) for a busy, read-only, failing or full file; PostgreSQL's SQLSTATE
/// classes 08 (connection), 40 (a transaction rolled back for a conflict: deadlock,
/// serialization), 53 (insufficient resources) and 57P (operator intervention).
fn unavailable(sqlite: bool, code: &str) -> bool {
    if sqlite {
        // SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_NOMEM 7, SQLITE_READONLY 8, SQLITE_IOERR 10,
        // SQLITE_FULL 13, SQLITE_CANTOPEN 14.
        return code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14));
    }
    ["08", "40", "53", "57P"].iter().any(|class| code.starts_with(class))
}

#[cfg(test)]
mod tests {
    use super::unavailable;

    #[test]
    fn codes_that_mean_not_now() {
        // SQLite: full, read-only (extended: READONLY_DBMOVED 1032), I/O (IOERR_WRITE 778), busy.
        for code in ["13", "8", "1032", "778", "5", "14"] {
            assert!(unavailable(true, code), "{code}");
        }
        // PostgreSQL: disk full, connection failure, shutting down, cannot connect now, a
        // deadlock, a serialization failure.
        for code in ["53100", "08006", "57P01", "57P03", "40P01", "40001"] {
            assert!(unavailable(false, code), "{code}");
        }
        // Constraint violations, syntax, a corrupt file: the request or the server is wrong.
        for code in ["2067", "19", "1", "11"] {
            assert!(!unavailable(true, code), "{code}");
        }
        for code in ["23505", "42601", "XX001"] {
            assert!(!unavailable(false, code), "{code}");
        }
    }
}
