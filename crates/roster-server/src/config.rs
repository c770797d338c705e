//! Configuration: defaults, then an optional `roster.toml`, then `ROSTER_*` environment
//! variables (`__` separates nested keys: `ROSTER_ARGON2__MEMORY_KIB`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use roster_core::Argon2Params;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the embedded SQLite database lives (`roster.db` inside).
    pub data_dir: PathBuf,
    /// A `postgres://` URL selects PostgreSQL instead of the embedded SQLite file.
    pub database_url: Option<SecretString>,
    /// PostgreSQL connections per node.
    pub database_max_connections: u32,
    /// The default tenant's admin token on first start; generated and printed once when unset.
    pub bootstrap_token: Option<SecretString>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `roster=debug,sqlx=warn`.
    pub log: String,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Password hashing cost.
    pub argon2: Argon2Params,
    /// How long in-flight requests may take to finish after SIGTERM or SIGINT.
    pub shutdown_grace_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./roster-data"),
            database_url: None,
            database_max_connections: 16,
            bootstrap_token: None,
            log_format: LogFormat::Text,
            log: "info".to_owned(),
            max_body_bytes: 1024 * 1024,
            argon2: Argon2Params::default(),
            shutdown_grace_seconds: 30,
        }
    }
}

impl Config {
    /// Reads `file` (when it exists) and the environment over the defaults.
    pub fn load(file: &Path) -> Result<Config, Box<figment::Error>> {
        let figment =
            Figment::new().merge(Toml::file(file)).merge(Env::prefixed("ROSTER_").split("__"));
        figment.extract().map_err(Box::new)
    }

    /// The database this configuration selects.
    pub fn database(&self) -> roster_store::Database {
        match &self.database_url {
            Some(url) => roster_store::Database::Postgres {
                url: url.clone(),
                max_connections: self.database_max_connections,
            },
            None => roster_store::Database::Sqlite { path: self.data_dir.join("roster.db") },
        }
    }
}
