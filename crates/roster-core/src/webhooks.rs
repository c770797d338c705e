//! Webhooks: a tenant's events pushed to its HTTP endpoints.
//!
//! The store writes one delivery per (webhook, event) in the transaction that commits the event
//! (the outbox), so nothing committed is ever left undelivered and nothing uncommitted is sent.
//! A delivery worker (in `roster-server`) claims due deliveries with a lease — one node at a
//! time per delivery — sends them signed, and records the outcome here: success, or a retry
//! with exponential backoff and jitter until the retry window closes, then `failed`.
//!
//! The signing secret is derived, not stored: HMAC-SHA256 of the webhook's id under the
//! deployment's `webhook_key`. It is returned once, when the webhook is created.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::{Directory, MAX_LIMIT, check_limit};
use crate::error::{Error, FieldError, Result};
use crate::event::{Event, TypePattern};
use crate::id::{TenantId, WebhookId};
use crate::tenant::Principal;

/// Longest accepted webhook URL.
const MAX_URL: usize = 2048;
/// Most event type patterns of one webhook.
const MAX_TYPES: usize = 32;
/// Longest a claimed delivery stays with its node before another may take it over.
pub const LEASE: Duration = Duration::from_secs(60);
/// The first retry comes after this; each later one after twice the one before (capped).
const FIRST_RETRY: Duration = Duration::from_secs(10);
const MAX_RETRY: Duration = Duration::from_secs(3600);
/// How long deliveries are retried unless configured otherwise.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// How webhooks behave in this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Lets webhooks point at loopback, private and link-local addresses (tests, closed
    /// networks). Off by default: a webhook URL must not reach into Roster's own network.
    pub allow_private_targets: bool,
    /// How long a delivery is retried before it is marked failed.
    pub retry_window: Duration,
    /// How long one attempt may take, connecting included, before it counts as failed.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private_targets: false,
            retry_window: DEFAULT_RETRY_WINDOW,
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    /// Event types sent: exact (`user.created`), `user.*`, or `*`.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// The shape of the deliveries: `roster` (the event document), or a platform's envelope.
    pub format: String,
    /// What the webhook is for, in a few words.
    pub title: Option<String>,
    /// Settings of a platform's format (its own subscription fields), kept as given.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The body of `POST /v1/webhooks` (`url` and `event_types` required) and of
/// `PATCH /v1/webhooks/{id}` (what is given changes).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// `https://…` (or `http://`); no user name or password in it.
    #[schema(required = true, nullable = false)]
    pub url: Option<String>,
    /// Event types (`user.created`) or families (`user.*`).
    #[schema(required = true, nullable = false, min_items = 1, max_items = 32)]
    pub event_types: Option<Vec<String>>,
    /// Default `true`.
    pub enabled: Option<bool>,
    /// The shape of the deliveries: `roster` (default, the event document) or a platform's
    /// envelope a dialect registers.
    #[schema(nullable = false)]
    pub format: Option<String>,
    /// What the webhook is for, at most 100 characters.
    #[schema(nullable = false)]
    pub title: Option<String>,
    /// Settings of a platform's format, a JSON object kept as given (at most 4 KiB).
    #[schema(value_type = Option<Object>, nullable = false)]
    pub settings: Option<Value>,
}

/// How a webhook's deliveries are shaped: Roster's event document (`roster`, the default), or a
/// platform's envelope that its dialect registers ([`Directory::with_webhook_format`]). The
/// outbox, retries and signing are one mechanism whatever the format.
#[async_trait::async_trait]
pub trait PayloadFormat: Send + Sync + 'static {
    /// The name a webhook's `format` gives.
    fn name(&self) -> &'static str;
    /// The body of a delivery of `event` (Roster's document of it) to `webhook` of `tenant`.
    /// The format reads what it needs (the user at delivery: [`Directory::user_at_delivery`]).
    async fn body(
        &self,
        directory: &Directory,
        tenant: TenantId,
        webhook: WebhookId,
        event: &Value,
    ) -> Result<Vec<u8>>;
}

/// Roster's own format: the event document, as the feed has it.
struct RosterFormat;

#[async_trait::async_trait]
impl PayloadFormat for RosterFormat {
    fn name(&self) -> &'static str {
        "roster"
    }

    async fn body(
        &self,
        _: &Directory,
        _: TenantId,
        _: WebhookId,
        event: &Value,
    ) -> Result<Vec<u8>> {
        serde_json::to_vec(event).map_err(Error::internal)
    }
}

/// The payload formats a node knows, by name.
#[derive(Clone)]
pub(crate) struct Formats(std::collections::BTreeMap<&'static str, Arc<dyn PayloadFormat>>);

impl Default for Formats {
    fn default() -> Self {
        let roster: Arc<dyn PayloadFormat> = Arc::new(RosterFormat);
        Formats([(roster.name(), roster)].into_iter().collect())
    }
}

impl Formats {
    pub(crate) fn add(&mut self, format: Arc<dyn PayloadFormat>) {
        self.0.insert(format.name(), format);
    }

    /// `name`, if known; else a field error on `format` listing the known ones.
    fn check(&self, name: &str, errors: &mut Vec<FieldError>) -> bool {
        if self.0.contains_key(name) {
            return true;
        }
        let known: Vec<&str> = self.0.keys().copied().collect();
        let message = format!("must be one of: {}", known.join(", "));
        errors.push(FieldError::new("format", "invalid_value", message));
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    Succeeded,
    /// Out of retries: the retry window closed.
    Failed,
}

impl DeliveryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [DeliveryStatus::Pending, DeliveryStatus::Succeeded, DeliveryStatus::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One event's way to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: WebhookId,
    /// The event's feed position; absent for a test delivery.
    pub event_seq: Option<i64>,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// The HTTP status of the last attempt's answer, if one came.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed (a status, a timeout, a refused address).
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A delivery a worker has claimed, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: Delivery,
    pub tenant_id: TenantId,
    pub url: String,
    /// The webhook's payload format.
    pub format: String,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered {
        status: u16,
    },
    Failed {
        status: Option<u16>,
        error: String,
    },
}

/// A request to push to a webhook: the event's JSON, signed.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub body: Vec<u8>,
    pub event_id: String,
    /// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
    pub signature: String,
}

impl Directory {
    pub async fn create_webhook(
        &self,
        p: &Principal,
        input: WebhookInput,
    ) -> Result<(Webhook, SecretString)> {
        let allow_private = self.webhook_settings().allow_private_targets;
        let now = self.now();
        let mut errors = Vec::new();
        let url = match input.url {
            Some(url) => check_url(&url, allow_private, &mut errors),
            None => {
                errors.push(FieldError::new("url", "required", "the endpoint to push to"));
                None
            }
        };
        let event_types = match input.event_types {
            Some(types) => check_types(&types, &mut errors),
            None => {
                errors.push(FieldError::new("event_types", "required", "e.g. [\"user.*\"]"));
                Vec::new()
            }
        };
        let format = input.format.unwrap_or_else(|| "roster".to_owned());
        self.webhook_formats().check(&format, &mut errors);
        check_title_and_settings(&input.title, &input.settings, &mut errors);
        let (Some(url), true) = (url, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let webhook = Webhook {
            id: WebhookId::generate(now),
            url,
            event_types,
            enabled: input.enabled.unwrap_or(true),
            format,
            title: input.title,
            settings: input.settings,
            created_at: now,
            updated_at: now,
        };
        self.store().create_webhook(p.tenant, &webhook).await?;
        let secret = self.webhook_secret(webhook.id).await?;
        Ok((webhook, secret))
    }

    pub async fn webhooks(&self, p: &Principal) -> Result<Vec<Webhook>> {
        self.store().webhooks(p.tenant).await
    }

    pub async fn webhook(&self, p: &Principal, id: WebhookId) -> Result<Webhook> {
        self.store().webhook(p.tenant, id).await?.ok_or(NOT_FOUND)
    }

    pub async fn update_webhook(
        &self,
        p: &Principal,
        id: WebhookId,
        input: WebhookInput,
    ) -> Result<Webhook> {
        let allow_private = self.webhook_settings().allow_private_targets;
        let mut webhook = self.webhook(p, id).await?;
        let mut errors = Vec::new();
        if let Some(url) = input.url {
            webhook.url = check_url(&url, allow_private, &mut errors).unwrap_or_default();
        }
        if let Some(types) = input.event_types {
            webhook.event_types = check_types(&types, &mut errors);
        }
        if let Some(format) = input.format
            && self.webhook_formats().check(&format, &mut errors)
        {
            webhook.format = format;
        }
        check_title_and_settings(&input.title, &input.settings, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        webhook.enabled = input.enabled.unwrap_or(webhook.enabled);
        webhook.title = input.title.or(webhook.title);
        webhook.settings = input.settings.or(webhook.settings);
        webhook.updated_at = self.now();
        if self.store().update_webhook(p.tenant, &webhook).await? {
            Ok(webhook)
        } else {
            Err(NOT_FOUND)
        }
    }

    /// Deletes a webhook with its deliveries.
    pub async fn delete_webhook(&self, p: &Principal, id: WebhookId) -> Result<()> {
        if self.store().delete_webhook(p.tenant, id).await? { Ok(()) } else { Err(NOT_FOUND) }
    }

    /// Queues a `webhook.test` delivery to the webhook (also when it is disabled).
    pub async fn test_webhook(&self, p: &Principal, id: WebhookId) -> Result<Delivery> {
        self.webhook(p, id).await?;
        self.store().add_test_delivery(p.tenant, id, self.now()).await
    }

    /// The webhook's deliveries, newest first, below `before` (a delivery id).
    pub async fn deliveries(
        &self,
        p: &Principal,
        id: WebhookId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        check_limit(limit)?;
        self.webhook(p, id).await?;
        self.store().deliveries(p.tenant, id, before, limit).await
    }

    /// Sends a delivery again, now, with a fresh retry window — whatever became of it.
    pub async fn redeliver(&self, p: &Principal, id: WebhookId, delivery: i64) -> Result<Delivery> {
        self.store()
            .redeliver(p.tenant, id, delivery, self.now())
            .await?
            .ok_or(Error::NotFound { kind: "delivery" })
    }

    /// Claims up to `limit` due deliveries for this node (for the delivery worker).
    pub async fn claim_deliveries(&self, limit: u32) -> Result<Vec<Claimed>> {
        let now = self.now();
        self.store().claim_deliveries(now, now + LEASE, limit.min(MAX_LIMIT)).await
    }

    /// The signed request for a claimed delivery; `None` when its event is gone (the tenant's
    /// feed no longer holds it), which ends the delivery as failed.
    pub async fn outgoing(&self, claimed: &Claimed) -> Result<Option<Outgoing>> {
        let d = &claimed.delivery;
        let event = match d.event_seq {
            Some(seq) => {
                let query =
                    crate::event::EventQuery { after: seq - 1, limit: 1, ..Default::default() };
                match self.store().events(claimed.tenant_id, &query).await?.pop() {
                    Some(e) if e.seq == seq => serde_json::to_value(e).map_err(Error::internal)?,
                    _ => return Ok(None),
                }
            }
            None => serde_json::json!({
                "id": Event::id_of(claimed.tenant_id, -d.id),
                "type": "webhook.test",
                "occurred_at": d.created_at.format(&time::format_description::well_known::Rfc3339).map_err(Error::internal)?,
                "tenant_id": claimed.tenant_id,
                "resource": { "type": "webhook", "id": d.webhook_id },
                "data": {},
            }),
        };
        let event_id = event["id"].as_str().unwrap_or_default().to_owned();
        let Some(format) = self.webhook_formats().0.get(claimed.format.as_str()) else {
            // Registered by a dialect this node does not serve: the lease runs out and a node
            // that knows the format delivers.
            return Err(Error::internal(format!("no webhook format `{}` here", claimed.format)));
        };
        let body = format.body(self, claimed.tenant_id, d.webhook_id, &event).await?;
        let secret = self.webhook_secret(d.webhook_id).await?;
        let signature = sign(&secret, self.now().unix_timestamp(), &body);
        Ok(Some(Outgoing { url: claimed.url.clone(), body, event_id, signature }))
    }

    /// A user of `tenant` as it is when a delivery is made (a tombstone once deleted), for a
    /// payload format whose events carry the user; `None` when there is no such user.
    pub async fn user_at_delivery(
        &self,
        tenant: TenantId,
        id: crate::UserId,
    ) -> Result<Option<crate::User>> {
        Ok(self.store().user(tenant, id).await?.map(|record| record.user))
    }

    /// Records how an attempt went: done, retried later, or failed for good once the retry
    /// window (counted from when the delivery was created) is over.
    pub async fn finish_delivery(&self, claimed: &Claimed, attempt: Attempt) -> Result<()> {
        let now = self.now();
        let retry_window = self.webhook_settings().retry_window;
        let d = &claimed.delivery;
        let (status, next, code, error) = match attempt {
            Attempt::Delivered { status } => (DeliveryStatus::Succeeded, now, Some(status), None),
            Attempt::Failed { status, error } => {
                let next = now + backoff(d.attempts);
                let over = next > d.created_at + retry_window;
                let state = if over { DeliveryStatus::Failed } else { DeliveryStatus::Pending };
                (state, next, status, Some(error))
            }
        };
        self.store()
            .finish_delivery(d.id, d.attempts, status, next, code, error.as_deref(), now)
            .await
    }

    async fn webhook_secret(&self, id: WebhookId) -> Result<SecretString> {
        let key = self.webhook_key().await?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(Error::internal)?;
        mac.update(id.as_uuid().as_bytes());
        let digest = mac.finalize().into_bytes();
        use base64::Engine as _;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        Ok(SecretString::from(format!("whsec_{text}")))
    }
}

const NOT_FOUND: Error = Error::NotFound { kind: "webhook" };

/// `t=<timestamp>,v1=<hex HMAC-SHA256 over "<timestamp>.<body>" keyed with the secret>`.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    use secrecy::ExposeSecret as _;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// The wait before the attempt after `attempts` failed ones: 10 s doubling up to an hour, each
/// with up to a fifth added at random so that retries of many deliveries spread out.
fn backoff(attempts: u32) -> Duration {
    let base = FIRST_RETRY.saturating_mul(1 << attempts.saturating_sub(1).min(16)).min(MAX_RETRY);
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() { u32::from(byte[0]) } else { 0 };
    base + base / 5 * jitter / 255
}

/// Whether Roster may push to `ip` without `allow_private_targets`: not loopback, private,
/// link-local (cloud metadata lives there), shared, benchmarking, reserved, unspecified,
/// multicast or broadcast — nor an IPv6 address that carries such an IPv4 address (mapped,
/// compatible, SIIT, NAT64, 6to4), which a translating network delivers to that IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b & 0xfe) == 18)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0)
        }
    }
}

/// The IPv4 address an IPv6 address stands for, in the forms that translate to it:
/// IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`, SIIT `::ffff:0:0:0/96`, NAT64
/// `64:ff9b::/96` (RFC 6052) and `64:ff9b:1::/48` (RFC 8215, the last 32 bits), and 6to4
/// `2002::/16` (RFC 3056, bits 16 to 48).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let last =
        std::net::Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0xffff, 0, ..] => Some(last),
        // `::` and `::1` are themselves (unspecified, loopback), not IPv4-compatible addresses.
        [0, 0, 0, 0, 0, 0, ..] if !v6.is_unspecified() && !v6.is_loopback() => Some(last),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] | [0x64, 0xff9b, 1, ..] => Some(last),
        [0x2002, hi, lo, ..] => {
            Some(std::net::Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8))
        }
        _ => None,
    }
}

fn check_url(raw: &str, allow_private: bool, errors: &mut Vec<FieldError>) -> Option<String> {
    let bad = |errors: &mut Vec<FieldError>, code, message: &str| {
        errors.push(FieldError::new("url", code, message));
        None
    };
    if raw.len() > MAX_URL {
        return bad(errors, "too_long", "at most 2048 bytes");
    }
    let Ok(url) = url::Url::parse(raw) else {
        return bad(errors, "invalid_format", "must be an absolute http or https URL");
    };
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return bad(errors, "invalid_format", "must be an absolute http or https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad(errors, "invalid_format", "must not hold a user name or password");
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    // `localhost.` is `localhost`: a name with its trailing dot is the same absolute name.
    let local_name = url.host_str().map(|h| h.trim_end_matches('.')).is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost")
    });
    if !allow_private && (local_name || ip.is_some_and(|ip| !is_public(ip))) {
        return bad(
            errors,
            "private_target",
            "points at a loopback, private or link-local address (allowed only with \
             webhooks.allow_private_targets)",
        );
    }
    Some(url.to_string())
}

/// The valid, distinct patterns of `types`, in their order.
fn check_title_and_settings(
    title: &Option<String>,
    settings: &Option<Value>,
    errors: &mut Vec<FieldError>,
) {
    if title.as_ref().is_some_and(|t| t.chars().count() > 100 || t.chars().any(char::is_control)) {
        errors.push(FieldError::new(
            "title",
            "invalid_format",
            "at most 100 characters, no control characters",
        ));
    }
    if let Some(settings) = settings
        && (!settings.is_object() || settings.to_string().len() > 4096)
    {
        errors.push(FieldError::new("settings", "invalid", "a JSON object of at most 4 KiB"));
    }
}

fn check_types(types: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if types.is_empty() || types.len() > MAX_TYPES {
        errors.push(FieldError::new("event_types", "out_of_range", "name 1 to 32 event types"));
    }
    let mut patterns: Vec<String> = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if TypePattern::parse(t).is_none() {
            errors.push(FieldError::new(
                format!("event_types[{i}]"),
                "invalid",
                format!("`{t}` is not an event type (e.g. `user.created`, `user.*`, `*`)"),
            ));
        } else if !patterns.contains(t) {
            patterns.push(t.clone());
        }
    }
    patterns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            // The forms of the security probe: compatible, SIIT, NAT64, 6to4, site-local,
            // benchmarking, reserved.
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.254",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "1.1.1.1",
            "198.20.0.1",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "::5db8:d822",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_backoff_doubles_from_ten_seconds_to_an_hour_with_a_fifth_of_jitter() {
        for (attempts, base) in [(1, 10), (2, 20), (3, 40), (10, 3600), (40, 3600)] {
            let wait = backoff(attempts).as_secs_f64();
            assert!((base as f64..=base as f64 * 1.2).contains(&wait), "{attempts}: {wait}");
        }
    }

    #[test]
    fn a_signature_covers_timestamp_and_body() {
        let secret = SecretString::from("whsec_test");
        let a = sign(&secret, 1_700_000_000, b"{}");
        assert!(a.starts_with("t=1700000000,v1=") && a.len() == "t=1700000000,v1=".len() + 64);
        assert_ne!(a, sign(&secret, 1_700_000_001, b"{}"));
        assert_ne!(a, sign(&secret, 1_700_000_000, b"{ }"));
        assert_ne!(a, sign(&SecretString::from("whsec_other"), 1_700_000_000, b"{}"));
    }
}
