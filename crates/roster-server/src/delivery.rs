//! The webhook delivery worker: claims due deliveries (see [`roster_core::webhooks`]), sends
//! each as a signed POST and records the outcome. Every node runs one; the store's claim gives
//! each delivery to one node at a time, and a node that dies mid-delivery loses its lease, so
//! another node (or this one, restarted) tries again: delivery is at least once.
//!
//! Outbound requests: 5 s to connect, 10 s in all (`webhooks.timeout_seconds`), no redirects,
//! the answer's body never read (only its status counts), and no proxy from the environment
//! (`HTTP_PROXY` and its siblings): a proxy resolves names itself, where the private-address
//! guard cannot see. Unless `webhooks.allow_private_targets` is set, a target that is — or
//! resolves to — a loopback, private, link-local or metadata address is refused: checked on the
//! addresses actually connected to when Roster connects itself (so DNS rebinding cannot get
//! around it), and on every address the name has when `webhooks.proxy` connects for it.
//!
//! Why an attempt could not connect is logged, not recorded: the delivery's `last_error`, which
//! a tenant's admin reads, says only "target refused or unreachable", so that it cannot tell a
//! name that does not resolve from one that resolves to an internal address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use roster_core::Directory;
use roster_core::webhooks::{Attempt, Claimed, is_public};
use secrecy::{ExposeSecret as _, SecretString};

/// Deliveries claimed at a time, and sent concurrently.
const BATCH: u32 = 32;
const CONCURRENCY: usize = 8;
/// How often an idle worker looks for due deliveries (retries, other nodes' events).
const POLL: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a delivery's record says of a target it could not reach, whatever the reason.
const UNREACHABLE: &str = "target refused or unreachable";

/// How the worker reaches targets.
#[derive(Clone, Copy)]
struct Route {
    allow_private: bool,
    /// Through `webhooks.proxy`: the guard resolves targets itself before sending.
    proxied: bool,
}

/// Starts the worker; it runs until the returned handle is aborted.
pub fn spawn(
    directory: Directory,
    proxy: Option<&SecretString>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let settings = directory.webhook_settings();
    let route = Route { allow_private: settings.allow_private_targets, proxied: proxy.is_some() };
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Roster-Webhooks/", env!("CARGO_PKG_VERSION")));
    match proxy {
        // The proxy's own address is the operator's choice (often a private one).
        Some(url) => client = client.proxy(reqwest::Proxy::all(url.expose_secret())?),
        None if !route.allow_private => client = client.dns_resolver(Arc::new(PublicOnly)),
        None => {}
    }
    let client = client.build()?;
    Ok(tokio::spawn(run(directory, client, route)))
}

async fn run(directory: Directory, client: reqwest::Client, route: Route) {
    let mut changes = directory.work_changes(roster_core::store::Worker::Deliveries);
    loop {
        match directory.claim_deliveries(BATCH).await {
            Ok(claimed) if !claimed.is_empty() => {
                futures::stream::iter(claimed)
                    .for_each_concurrent(CONCURRENCY, |c| deliver(&directory, &client, c, route))
                    .await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
        }
        let _ = tokio::time::timeout(POLL, changes.changed()).await;
    }
}

async fn deliver(directory: &Directory, client: &reqwest::Client, claimed: Claimed, route: Route) {
    let id = claimed.delivery.id;
    let attempt = match directory.outgoing(&claimed).await {
        Ok(Some(out)) => match guard(&out.url, route).await {
            Ok(()) => send(client, out, id).await,
            Err(why) => unreachable(id, &why),
        },
        Ok(None) => Attempt::Failed { status: None, error: "the event is gone".to_owned() },
        Err(e) => {
            tracing::warn!(error = %e, delivery = id, "preparing a delivery failed");
            return; // The lease runs out and the delivery is tried again.
        }
    };
    if let Attempt::Failed { error, .. } = &attempt {
        tracing::info!(delivery = id, webhook = %claimed.delivery.webhook_id, error, "webhook delivery failed");
    }
    if let Err(e) = directory.finish_delivery(&claimed, attempt).await {
        tracing::warn!(error = %e, delivery = id, "recording a delivery failed");
    }
}

/// A failed attempt that never reached the target: `why` goes to the log only.
fn unreachable(delivery: i64, why: &str) -> Attempt {
    tracing::info!(delivery, why, "webhook target refused or unreachable");
    Attempt::Failed { status: None, error: UNREACHABLE.to_owned() }
}

/// Refuses a target the node may not reach (`Err` with the reason, for the log): a private
/// address literal, or, through a proxy, a name with any private address (the proxy may pick
/// any of them).
async fn guard(url: &str, route: Route) -> Result<(), String> {
    if route.allow_private {
        return Ok(());
    }
    let url = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        // Connecting itself, the node resolves through `PublicOnly`.
        Some(url::Host::Domain(_)) if !route.proxied => return Ok(()),
        Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| format!("{name} does not resolve: {e}"))?
            .map(|a| a.ip())
            .collect(),
        None => return Err("no host".to_owned()),
    };
    match addresses.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(format!("refused: {ip} is not a public address")),
        None if addresses.is_empty() => Err("resolves to no address".to_owned()),
        None => Ok(()),
    }
}

async fn send(client: &reqwest::Client, out: roster_core::webhooks::Outgoing, id: i64) -> Attempt {
    let response = client
        .post(&out.url)
        .header("content-type", "application/json")
        .header("roster-event-id", &out.event_id)
        .header("roster-signature", &out.signature)
        .body(out.body)
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Attempt::Delivered { status: r.status().as_u16() },
        Ok(r) => Attempt::Failed {
            status: Some(r.status().as_u16()),
            error: format!("answered {}", r.status()),
        },
        Err(e) if e.is_timeout() => Attempt::Failed { status: None, error: "timed out".to_owned() },
        Err(e) if e.is_connect() => unreachable(id, &innermost(&e)),
        Err(e) => Attempt::Failed { status: None, error: innermost(&e) },
    }
}

/// The innermost cause of a failed request, without the URL (it may carry a token in its query).
fn innermost(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

/// Resolves host names to their public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("refused: {host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn through_a_proxy_every_address_of_the_target_is_checked() {
        let guarded = Route { allow_private: false, proxied: true };
        // `localhost` resolves from the hosts file, to loopback: the proxy would reach it.
        assert!(guard("http://localhost:8080/hook", guarded).await.is_err());
        assert!(guard("http://10.1.2.3/hook", guarded).await.is_err());
        assert!(guard("http://[64:ff9b::a9fe:a9fe]/", guarded).await.is_err());
        assert!(guard("http://93.184.216.34/hook", guarded).await.is_ok());
        // Connecting itself, the node checks names as it resolves them (`PublicOnly`).
        let direct = Route { allow_private: false, proxied: false };
        assert!(guard("http://localhost:8080/hook", direct).await.is_ok());
        assert!(guard("http://10.1.2.3/hook", direct).await.is_err());
        let open = Route { allow_private: true, proxied: true };
        assert!(guard("http://localhost:8080/hook", open).await.is_ok());
    }
}
