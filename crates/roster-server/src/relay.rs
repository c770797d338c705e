//! The NATS JetStream relay: publishes every tenant's feed to `<prefix>.<tenant id>.<type>`
//! (see [`roster_core::relay`] for the cursors it keeps). Each event is the feed item as JSON,
//! with the event id as `Nats-Msg-Id`, so the stream drops a republished event within its
//! duplicate window and receivers can drop one after it. A cursor advances only over events
//! the stream acknowledged, in sequence order; an event not acknowledged is published again.
//!
//! The relay connects in the background and reconnects by itself: while NATS is away events
//! wait in the feed, and Roster serves as before.

use std::time::Duration;

use anyhow::{Context as _, bail};
use async_nats::jetstream::{self, message::PublishMessage};
use roster_core::Directory;
use roster_core::relay::{FeedCursor, Relay};
use secrecy::ExposeSecret as _;
use tokio::sync::watch;

use crate::config::NatsConfig;

/// Cursors (tenants) claimed at a time.
const TENANTS: u32 = 64;
/// How often an idle relay looks for other nodes' events (its own commits wake it at once).
const POLL: Duration = Duration::from_millis(250);
/// How long to wait before trying again after NATS failed.
const BACKOFF: Duration = Duration::from_secs(2);

/// Starts the relay when `config.url` is set. Once `stop` turns true it finishes the batch in
/// hand (publish, acknowledgements, cursor) and returns, so a node that shuts down leaves
/// nothing for the next holder to publish twice; the handle may still be aborted.
pub fn spawn(
    directory: Directory,
    config: &NatsConfig,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(url) = &config.url else { return Ok(None) };
    check_subject_prefix(&config.subject_prefix)?;
    check_stream_name(&config.stream)?;
    let url = url.expose_secret().to_owned();
    let (prefix, stream) = (config.subject_prefix.clone(), config.stream.clone());
    let relay = directory.relay(format!("nats:{stream}"));
    Ok(Some(tokio::spawn(async move {
        let options = async_nats::ConnectOptions::new()
            .name(concat!("roster/", env!("CARGO_PKG_VERSION")))
            .retry_on_initial_connect();
        let client = match options.connect(url).await {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "the NATS URL is not usable; events are not relayed");
                return;
            }
        };
        let js = jetstream::new(client);
        let stream = jetstream::stream::Config {
            name: stream,
            subjects: vec![format!("{prefix}.>")],
            ..Default::default()
        };
        while let Err(e) = js.get_or_create_stream(stream.clone()).await {
            tracing::warn!(error = %e, stream = stream.name, "setting up the JetStream stream failed");
            tokio::time::sleep(BACKOFF).await;
        }
        run(&directory, &relay, &js, &prefix, stop).await;
    })))
}

async fn run(
    directory: &Directory,
    relay: &Relay,
    js: &jetstream::Context,
    prefix: &str,
    mut stop: watch::Receiver<bool>,
) {
    let mut changes = directory.feed_changes();
    while !*stop.borrow() {
        match relay.claim(TENANTS).await {
            Ok(cursors) if !cursors.is_empty() => {
                let mut failed = false;
                for cursor in cursors {
                    if *stop.borrow() {
                        return;
                    }
                    if let Err(e) = relay_tenant(relay, js, prefix, cursor, &stop).await {
                        tracing::warn!(error = %e, tenant_id = %cursor.tenant_id, "relaying events to NATS failed");
                        failed = true;
                    }
                }
                if failed {
                    tokio::time::sleep(BACKOFF).await;
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "claiming feed cursors failed"),
        }
        tokio::select! {
            _ = tokio::time::timeout(POLL, changes.changed()) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Publishes a tenant's pending events in order until it is caught up, its cursor is taken over,
/// publishing fails or the relay is stopping.
async fn relay_tenant(
    relay: &Relay,
    js: &jetstream::Context,
    prefix: &str,
    mut cursor: FeedCursor,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    while !*stop.borrow() {
        let events = relay.pending(&cursor).await?;
        let Some(last) = events.last().map(|e| e.seq) else { return Ok(()) };
        // Sent back to back, then acknowledged in order: the cursor moves over the longest
        // acknowledged run.
        let mut acks = Vec::with_capacity(events.len());
        for event in &events {
            let subject = format!("{prefix}.{}.{}", event.tenant_id, event.kind);
            let payload = serde_json::to_vec(event)?;
            let message =
                PublishMessage::build().payload(payload.into()).message_id(event.id.to_string());
            acks.push((event.seq, js.send_publish(subject, message).await?));
        }
        let mut acknowledged = cursor.after;
        let mut failure = None;
        for (seq, ack) in acks {
            match ack.await {
                Ok(_) if failure.is_none() => acknowledged = seq,
                Ok(_) => {}
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if acknowledged > cursor.after && !relay.advance(&mut cursor, acknowledged).await? {
            return Ok(()); // Another node holds this tenant now.
        }
        if let Some(e) = failure {
            return Err(e).context("a publish was not acknowledged");
        }
        if acknowledged < last {
            return Ok(());
        }
    }
    Ok(())
}

/// Subject tokens are separated by dots and must not be empty or hold wildcards or spaces.
fn check_subject_prefix(prefix: &str) -> anyhow::Result<()> {
    let token_ok =
        |t: &str| !t.is_empty() && !t.chars().any(|c| c.is_whitespace() || c == '*' || c == '>');
    if !prefix.split('.').all(token_ok) {
        bail!("nats.subject_prefix {prefix:?}: dot-separated tokens without spaces, `*` or `>`");
    }
    Ok(())
}

/// JetStream stream names: no dots, wildcards, spaces or path separators.
fn check_stream_name(name: &str) -> anyhow::Result<()> {
    let bad = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
    if name.is_empty() || name.len() > 255 || name.chars().any(bad) {
        bail!("nats.stream {name:?}: a name without dots, spaces, `*`, `>` or slashes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_connecting() {
        assert!(check_subject_prefix("roster").is_ok());
        assert!(check_subject_prefix("acme.roster").is_ok());
        for bad in ["", "a..b", "roster.", "ro ster", "roster.*", "roster.>"] {
            assert!(check_subject_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(check_stream_name("ROSTER_EVENTS").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a/b"] {
            assert!(check_stream_name(bad).is_err(), "{bad:?}");
        }
    }
}
