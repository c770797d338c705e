//! The Roster server: builds the application from a [`Config`] and runs it until shutdown.
//!
//! [`build`] is the seam used by `main` and by the test harness alike: it opens the store,
//! applies migrations, bootstraps the default tenant, binds the listener and returns a
//! [`Server`] that knows its address before it starts serving.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use roster_core::organizations::OrganizationTypes;
use roster_core::webhooks::WebhookSettings;
use roster_core::{Clock, Directory, SystemClock};
use roster_http::{HttpConfig, Metrics};
use roster_store::Schema;
use secrecy::ExposeSecret;

pub mod config;
pub mod delivery;
pub mod relay;
pub mod transfer;

pub use config::{Config, LogFormat};

/// How long a stopping node waits for the relay to record the batch it has published.
const RELAY_GRACE: Duration = Duration::from_secs(10);

pub struct Server {
    listener: tokio::net::TcpListener,
    app: axum::Router,
    directory: Directory,
    grace: Duration,
    nats: config::NatsConfig,
    webhook_proxy: Option<secrecy::SecretString>,
}

/// Opens the database (applying migrations) and bootstraps an empty one.
pub async fn open(config: &Config) -> anyhow::Result<Directory> {
    open_with_clock(config, Arc::new(SystemClock)).await
}

/// [`open`] with time from `clock` (tests pin it).
pub async fn open_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Directory> {
    let database = config.database();
    let schema = if config.migrate { Schema::Migrate } else { Schema::AsIs };
    let store = roster_store::open(&database, schema)
        .await
        .with_context(|| format!("open {database:?}"))?;
    tracing::info!(database = ?database, "data store open");
    let directory = Directory::new(store, clock, config.argon2)?
        .with_hash_limits(config.password_hash_limits)
        .with_lockout_after(config.password_lockout_after)
        .with_audit_retention(Duration::from_secs(u64::from(config.audit_retention_days) * 86_400))
        .with_invitation_ttl(Duration::from_secs(config.invitation_ttl_hours.saturating_mul(3600)))
        .with_webhooks(WebhookSettings {
            allow_private_targets: config.webhooks.allow_private_targets,
            retry_window: Duration::from_secs(config.webhooks.retry_hours.saturating_mul(3600)),
            timeout: Duration::from_secs(config.webhooks.timeout_seconds.max(1)),
        })
        .with_organization_types(OrganizationTypes {
            types: config.organizations.types.clone(),
            default_type: config.organizations.default_type.clone(),
            default_virtual_type: config.organizations.default_virtual_type.clone(),
        })
        .map_err(anyhow::Error::msg)?;
    let directory = roster_http::webhook_formats()
        .into_iter()
        .fold(directory, |directory, format| directory.with_webhook_format(format));
    let directory = match &config.phone_default_region {
        Some(region) => directory.with_phone_default_region(region).map_err(anyhow::Error::msg)?,
        None => directory,
    };
    let (admin, system) = (config.bootstrap_token.clone(), config.system_token.clone());
    if let Some(done) = directory.bootstrap(admin, system).await? {
        tracing::info!(tenant_id = %done.tenant.id, "created tenant `default`");
        // Generated tokens are shown once, on the terminal, and never logged: logs are kept
        // and shipped.
        if let Some(token) = done.admin_token {
            eprintln!(
                "\nAdmin token of tenant `default` (shown once, store it now):\n\n    {}\n",
                token.expose_secret()
            );
        }
        if let Some(token) = done.system_token {
            eprintln!(
                "System token, which manages tenants (shown once, store it now):\n\n    {}\n",
                token.expose_secret()
            );
        }
    }
    Ok(directory)
}

/// Opens the database, bootstraps an empty one, and binds the listener.
pub async fn build(config: &Config) -> anyhow::Result<Server> {
    build_with_clock(config, Arc::new(SystemClock)).await
}

/// [`build`] with time from `clock` (tests pin it).
pub async fn build_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
    let trusted_proxies = roster_http::TrustedProxies::parse(&config.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
    let directory = open_with_clock(config, clock).await?;
    let app = roster_http::app(
        directory.clone(),
        Metrics::new(),
        &HttpConfig {
            max_body_bytes: config.max_body_bytes,
            max_bulk_body_bytes: config.max_bulk_body_bytes,
            rate_limits: config.rate_limits,
            max_concurrent_requests: config.max_concurrent_requests,
            max_long_polls: config.max_long_polls,
            max_long_polls_per_token: config.max_long_polls_per_token,
            trusted_proxies,
        },
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen on {}", config.listen))?;
    Ok(Server {
        listener,
        app,
        directory,
        grace: Duration::from_secs(config.shutdown_grace_seconds),
        nats: config.nats.clone(),
        webhook_proxy: config.webhooks.proxy.clone(),
    })
}

/// Applies pending migrations and returns.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let database = config.database();
    roster_store::open(&database, Schema::Migrate)
        .await
        .with_context(|| format!("migrate {database:?}"))?;
    Ok(())
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The directory the server answers from (for tools and tests that bootstrap more tenants).
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for at most the
    /// grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let deliveries = delivery::spawn(self.directory.clone(), self.webhook_proxy.as_ref())
            .map_err(std::io::Error::other)?;
        let jobs = tokio::spawn(self.directory.clone().run_jobs());
        let (stopping, mut stopped) = tokio::sync::watch::channel(false);
        let relay = relay::spawn(self.directory.clone(), &self.nats, stopped.clone())
            .map_err(std::io::Error::other)?;
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stopping.send(true);
        };
        // Small responses must not wait for delayed ACKs.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // Rate limits key on the client's address.
        let app = self.app.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(signal);
        let grace = self.grace;
        let deadline = async move {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        };
        let result = tokio::select! {
            result = serve => result,
            () = deadline => {
                tracing::warn!(grace_seconds = grace.as_secs(), "grace period over, closing remaining connections");
                Ok(())
            }
        };
        // A delivery or job cut short here runs again when its lease runs out. The relay
        // finishes the batch in hand first, so the next holder does not publish it again.
        deliveries.abort();
        jobs.abort();
        if let Some(mut relay) = relay
            && tokio::time::timeout(RELAY_GRACE, &mut relay).await.is_err()
        {
            relay.abort();
        }
        // The audit entries of the last requests are written before the process ends.
        self.directory.audit_log().flush().await;
        result
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
