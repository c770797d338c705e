//! The webhook delivery worker: claims due deliveries (see [`roster_core::webhooks`]), sends
//! each as a signed POST and records the outcome. Every node runs one; the store's claim gives
//! each delivery to one node at a time, and a node that dies mid-delivery loses its lease, so
//! another node (or this one, restarted) tries again: delivery is at least once.
//!
//! Outbound requests: 5 s to connect, 10 s in all (`webhooks.timeout_seconds`), no redirects, the answer's body never read
//! (only its status counts). Unless `webhooks.allow_private_targets` is set, a target that is —
//! or resolves to — a loopback, private, link-local or metadata address is refused, checked on
//! the addresses actually connected to (so DNS rebinding cannot get around it).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use roster_core::Directory;
use roster_core::webhooks::{Attempt, Claimed, is_public};

/// Deliveries claimed at a time, and sent concurrently.
const BATCH: u32 = 32;
const CONCURRENCY: usize = 8;
/// How often an idle worker looks for due deliveries (retries, other nodes' events).
const POLL: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the worker; it runs until the returned handle is aborted.
pub fn spawn(directory: Directory) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let settings = directory.webhook_settings();
    let allow_private = settings.allow_private_targets;
    let mut client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Roster-Webhooks/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        client = client.dns_resolver(Arc::new(PublicOnly));
    }
    let client = client.build()?;
    Ok(tokio::spawn(run(directory, client, allow_private)))
}

async fn run(directory: Directory, client: reqwest::Client, allow_private: bool) {
    let mut changes = directory.feed_changes();
    loop {
        match directory.claim_deliveries(BATCH).await {
            Ok(claimed) if !claimed.is_empty() => {
                futures::stream::iter(claimed)
                    .for_each_concurrent(CONCURRENCY, |c| {
                        deliver(&directory, &client, c, allow_private)
                    })
                    .await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
        }
        let _ = tokio::time::timeout(POLL, changes.changed()).await;
    }
}

async fn deliver(
    directory: &Directory,
    client: &reqwest::Client,
    claimed: Claimed,
    allow_private: bool,
) {
    let attempt = match directory.outgoing(&claimed).await {
        Ok(Some(out)) => {
            let literal = reqwest::Url::parse(&out.url).ok().and_then(|u| match u.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            });
            if !allow_private && literal.is_some_and(|ip| !is_public(ip)) {
                Attempt::Failed { status: None, error: "refused: a private address".to_owned() }
            } else {
                send(client, out).await
            }
        }
        Ok(None) => Attempt::Failed { status: None, error: "the event is gone".to_owned() },
        Err(e) => {
            tracing::warn!(error = %e, delivery = claimed.delivery.id, "preparing a delivery failed");
            return; // The lease runs out and the delivery is tried again.
        }
    };
    if let Attempt::Failed { error, .. } = &attempt {
        tracing::info!(delivery = claimed.delivery.id, webhook = %claimed.delivery.webhook_id, error, "webhook delivery failed");
    }
    if let Err(e) = directory.finish_delivery(&claimed, attempt).await {
        tracing::warn!(error = %e, delivery = claimed.delivery.id, "recording a delivery failed");
    }
}

async fn send(client: &reqwest::Client, out: roster_core::webhooks::Outgoing) -> Attempt {
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
        Err(e) => Attempt::Failed { status: None, error: describe(&e) },
    }
}

/// The innermost cause of a failed request, without the URL (it may carry a token in its query).
fn describe(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    if e.is_connect() { format!("could not connect: {source}") } else { source.to_string() }
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
