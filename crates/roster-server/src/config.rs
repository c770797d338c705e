//! Configuration: defaults, then an optional `roster.toml`, then `ROSTER_*` environment
//! variables (`__` separates nested keys: `ROSTER_ARGON2__MEMORY_KIB`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use roster_core::{Argon2Params, HashLimits};
use roster_http::RateLimits;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
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
    /// Whether a node applies pending migrations when it starts; `false` (`roster serve
    /// --no-migrate`) for deployments that run `roster migrate` in a step of their own: the node
    /// then refuses a schema that is not current.
    pub migrate: bool,
    /// The default tenant's admin token on first start; generated and printed once when unset.
    pub bootstrap_token: Option<SecretString>,
    /// The system token (scope `system`: manages tenants) on first start; generated and printed
    /// once when unset.
    pub system_token: Option<SecretString>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `roster=debug,sqlx=warn`.
    pub log: String,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest body of a bulk request, in bytes.
    pub max_bulk_body_bytes: usize,
    /// Password hashing cost.
    pub argon2: Argon2Params,
    /// The most an imported password hash may cost to verify.
    pub password_hash_limits: HashLimits,
    /// The country (ISO 3166-1 alpha-2, e.g. `DE`) a phone number without a country code is read
    /// in; unset, such a number is refused, or kept as given where a surface asks (SCIM).
    pub phone_default_region: Option<String>,
    /// Consecutive failed password verifications that lock a user.
    pub password_lockout_after: u32,
    /// Writes and password verifications per second, per token and per client address.
    pub rate_limits: RateLimits,
    /// Requests served at once; beyond it the API answers 503 with `Retry-After` rather than
    /// queueing (health checks are not counted).
    pub max_concurrent_requests: usize,
    /// Feed readers that may long-poll (`/v1/events?wait=`) at once, outside
    /// `max_concurrent_requests`; beyond, 429 with `Retry-After`.
    pub max_long_polls: usize,
    /// Long-polls one token may hold at once; beyond, 429 with `Retry-After`.
    pub max_long_polls_per_token: usize,
    /// Load balancers and proxies (addresses or CIDR blocks; in `ROSTER_TRUSTED_PROXIES`
    /// comma-separated) whose `Forwarded`/`X-Forwarded-For` name the client; empty by default,
    /// when those headers are ignored.
    #[serde(deserialize_with = "comma_separated")]
    pub trusted_proxies: Vec<String>,
    /// How long in-flight requests may take to finish after SIGTERM or SIGINT.
    pub shutdown_grace_seconds: u64,
    /// How long audit entries are kept.
    pub audit_retention_days: u32,
    /// How long an invitation can be accepted.
    pub invitation_ttl_hours: u64,
    pub webhooks: WebhookConfig,
    /// Relaying events to NATS JetStream.
    pub nats: NatsConfig,
    pub organizations: OrganizationConfig,
}

/// Organization types: every type an organization may have, and those given when a create
/// names none.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrganizationConfig {
    pub types: Vec<String>,
    pub default_type: String,
    pub default_virtual_type: String,
}

impl Default for OrganizationConfig {
    fn default() -> Self {
        let defaults = roster_core::organizations::OrganizationTypes::default();
        OrganizationConfig {
            types: defaults.types,
            default_type: defaults.default_type,
            default_virtual_type: defaults.default_virtual_type,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Lets webhooks target loopback, private and link-local addresses.
    pub allow_private_targets: bool,
    /// An egress proxy (`http://proxy:3128`) deliveries go through. Unset, deliveries connect
    /// directly: `HTTP_PROXY` and its siblings in the environment are ignored, since a proxy
    /// resolves names itself, out of reach of the private-address guard.
    pub proxy: Option<SecretString>,
    /// How long a failing delivery is retried before it is marked failed.
    pub retry_hours: u64,
    /// How long one delivery attempt may take.
    pub timeout_seconds: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow_private_targets: false,
            proxy: None,
            retry_hours: 24,
            timeout_seconds: 10,
        }
    }
}

/// Where events are relayed besides the feed and webhooks: a NATS JetStream stream, when `url`
/// is set (also read from `ROSTER_NATS_URL`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// `nats://host:4222` (it may hold credentials, so it is never printed).
    pub url: Option<SecretString>,
    /// Events go to `<subject_prefix>.<tenant id>.<event type>`.
    pub subject_prefix: String,
    /// The JetStream stream that captures `<subject_prefix>.>`; created when missing.
    pub stream: String,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig { url: None, subject_prefix: "roster".to_owned(), stream: "ROSTER".to_owned() }
    }
}

/// The top-level keys of [`Config`].
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "database_max_connections",
    "migrate",
    "bootstrap_token",
    "system_token",
    "log_format",
    "log",
    "max_body_bytes",
    "max_bulk_body_bytes",
    "argon2",
    "password_hash_limits",
    "phone_default_region",
    "password_lockout_after",
    "rate_limits",
    "max_concurrent_requests",
    "max_long_polls",
    "max_long_polls_per_token",
    "trusted_proxies",
    "shutdown_grace_seconds",
    "audit_retention_days",
    "invitation_ttl_hours",
    "webhooks",
    "nats",
    "organizations",
];

/// A list given as a TOML array or as one comma-separated string (as an environment variable
/// holds it).
fn comma_separated<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    let items = match List::deserialize(d)? {
        List::One(s) => s.split(',').map(str::to_owned).collect(),
        List::Many(items) => items,
    };
    Ok(items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
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
            migrate: true,
            bootstrap_token: None,
            system_token: None,
            log_format: LogFormat::Text,
            log: "info".to_owned(),
            max_body_bytes: 1024 * 1024,
            max_bulk_body_bytes: 16 * 1024 * 1024,
            argon2: Argon2Params::default(),
            password_hash_limits: HashLimits::default(),
            phone_default_region: None,
            password_lockout_after: roster_core::directory::DEFAULT_LOCKOUT_AFTER,
            rate_limits: RateLimits::default(),
            max_concurrent_requests: 1024,
            max_long_polls: 256,
            max_long_polls_per_token: 4,
            trusted_proxies: Vec::new(),
            shutdown_grace_seconds: 30,
            audit_retention_days: 90,
            invitation_ttl_hours: 168,
            webhooks: WebhookConfig::default(),
            nats: NatsConfig::default(),
            organizations: OrganizationConfig::default(),
        }
    }
}

impl Config {
    /// Reads `file` (when it exists) and the environment over the defaults.
    pub fn load(file: &Path) -> Result<Config, Box<figment::Error>> {
        // Only variables naming a key are read: others with the prefix (`ROSTER_CONFIG`, a test
        // harness's) are not configuration, while a typo in the file is still an error.
        // `ROSTER_NATS_URL`, the broker's conventional name, is `nats.url`.
        let env = Env::prefixed("ROSTER_")
            .map(|key| {
                if key.as_str().eq_ignore_ascii_case("nats_url") {
                    "nats__url".into()
                } else {
                    key.into()
                }
            })
            .filter(|key| {
                let top = key.as_str().split("__").next().unwrap_or_default();
                KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
            })
            .split("__");
        let figment = Figment::new().merge(Toml::file(file)).merge(env);
        let mut config: Config = figment.extract().map_err(Box::new)?;
        // An empty value (`ROSTER_DATABASE_URL=`, as deployment templates leave them) is unset.
        for secret in [
            &mut config.database_url,
            &mut config.bootstrap_token,
            &mut config.system_token,
            &mut config.nats.url,
            &mut config.webhooks.proxy,
        ] {
            if secret.as_ref().is_some_and(|s| s.expose_secret().trim().is_empty()) {
                *secret = None;
            }
        }
        Ok(config)
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

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's `Jail` closures return its error by value
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "roster.toml",
                "listen = \"127.0.0.1:9000\"\nlog = \"debug\"\n[argon2]\nmemory_kib = 4096\niterations = 3\nparallelism = 1\n",
            )?;
            jail.set_env("ROSTER_LOG", "warn");
            jail.set_env("ROSTER_ARGON2__ITERATIONS", "4");
            jail.set_env("ROSTER_NOT_A_KEY", "ignored");
            let config = Config::load(Path::new("roster.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
            assert_eq!(config.log, "warn");
            assert_eq!(
                config.argon2,
                Argon2Params { memory_kib: 4096, iterations: 4, parallelism: 1 }
            );
            assert_eq!(config.data_dir, PathBuf::from("./roster-data"), "a default");
            assert!(matches!(config.database(), roster_store::Database::Sqlite { .. }));
            Ok(())
        });
    }

    #[test]
    fn nested_settings_can_be_given_one_key_at_a_time() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROSTER_ARGON2__MEMORY_KIB", "8192");
            jail.set_env("ROSTER_RATE_LIMITS__VERIFICATIONS_PER_SECOND", "7");
            let config = Config::load(Path::new("absent.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.argon2, Argon2Params { memory_kib: 8192, ..Argon2Params::default() });
            assert_eq!(
                config.rate_limits,
                RateLimits { verifications_per_second: 7, ..RateLimits::default() }
            );
            Ok(())
        });
    }

    #[test]
    fn the_nats_url_has_its_conventional_name() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROSTER_NATS_URL", "nats://127.0.0.1:4222");
            jail.set_env("ROSTER_NATS__STREAM", "EVENTS");
            let config = Config::load(Path::new("absent.toml")).map_err(|e| e.to_string())?;
            let url = config.nats.url.as_ref().map(|u| u.expose_secret().to_owned());
            assert_eq!(url.as_deref(), Some("nats://127.0.0.1:4222"));
            assert_eq!(
                (config.nats.subject_prefix.as_str(), config.nats.stream.as_str()),
                ("roster", "EVENTS")
            );
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_are_a_list_or_a_comma_separated_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROSTER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7");
            let config = Config::load(Path::new("absent.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.trusted_proxies, ["10.0.0.0/8", "192.0.2.7"]);
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("roster.toml", r#"trusted_proxies = ["fd00::/8"]"#)?;
            let config = Config::load(Path::new("roster.toml")).map_err(|e| e.to_string())?;
            assert_eq!(config.trusted_proxies, ["fd00::/8"]);
            Ok(())
        });
    }

    #[test]
    fn empty_secrets_are_unset() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROSTER_DATABASE_URL", "");
            jail.set_env("ROSTER_NATS_URL", " ");
            jail.set_env("ROSTER_BOOTSTRAP_TOKEN", "");
            let config = Config::load(Path::new("absent.toml")).map_err(|e| e.to_string())?;
            assert!(matches!(config.database(), roster_store::Database::Sqlite { .. }));
            assert!(config.nats.url.is_none() && config.bootstrap_token.is_none());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("roster.toml", "lisen = \"127.0.0.1:9000\"\n")?;
            let error = Config::load(Path::new("roster.toml")).expect_err("a typo must not pass");
            assert!(error.to_string().contains("lisen"), "{error}");
            Ok(())
        });
    }
}
