//! Abuse limits: password verifications and writes are rate-limited per token and per client
//! address, each by a token bucket (`governor`). Past a limit the answer is 429 with
//! `Retry-After`, before any work is done. Reads (searches and RPC reads sent as `POST`
//! included) are not limited here.
//!
//! Load: one semaphore caps the requests the API surfaces serve at once ([`cap`]); past it a
//! request is answered 503 at once. A feed reader that long-polls gives its permit back while
//! it waits and holds one of the node's long-poll slots instead ([`LongPolls`]), a few at most
//! per token: idle waiters of one tenant can then neither starve every tenant's requests nor
//! take every slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use prometheus_client::metrics::gauge::Gauge;
use roster_core::{Actor, Principal};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::client::ClientAddr;
use crate::problem::ApiError;
use crate::surface::{Refusal, Rejection};

/// Requests per second allowed to one token, and to one client address, separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Creates, updates, deletes and every other non-read request.
    pub writes_per_second: u32,
    /// Operations that check a password or a verification code (`…/password/verify`, a
    /// dialect's password change with the current password, code verifications).
    pub verifications_per_second: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits { writes_per_second: 10_000, verifications_per_second: 50 }
    }
}

/// Who a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// The SHA-256 of the bearer token: the token itself is never kept.
    Token([u8; 32]),
    Address(IpAddr),
}

/// The buckets of both kinds of limited request.
pub(crate) struct Limiter {
    writes: DefaultKeyedRateLimiter<Key>,
    verifications: DefaultKeyedRateLimiter<Key>,
}

/// Buckets idle long enough to be full again are dropped beyond this many keys.
const MAX_KEYS: usize = 100_000;

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Arc<Limiter> {
        // A burst of one second's worth, refilled at the rate.
        let quota = |n: u32| Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Arc::new(Limiter {
            writes: DefaultKeyedRateLimiter::keyed(quota(limits.writes_per_second)),
            verifications: DefaultKeyedRateLimiter::keyed(quota(limits.verifications_per_second)),
        })
    }
}

/// The largest request head served: the target and the header lines, in bytes.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The middleware that answers 431 to a request whose head is larger than [`MAX_HEAD_BYTES`]
/// (RFC 6585 §5), before anything reads it.
pub(crate) async fn head_size(request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let headers: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if target + headers > MAX_HEAD_BYTES {
        return Refusal::HeadTooLarge.into_response();
    }
    next.run(request).await
}

/// A request's permit of the concurrency cap, which a handler may give back early.
#[derive(Clone)]
pub(crate) struct Slot(Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>);

impl Slot {
    /// Gives the permit back: the rest of the request does not count against the cap.
    pub(crate) fn release(&self) {
        if let Ok(mut permit) = self.0.lock() {
            permit.take();
        }
    }
}

/// The request's slot; a request that came in past [`cap`] (none does on the served app) has
/// none to give back.
impl<S: Send + Sync> FromRequestParts<S> for Slot {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Slot>().cloned().unwrap_or_else(|| Slot(Arc::default())))
    }
}

/// The middleware of the concurrency cap: a permit per request in flight, or 503 at once.
pub(crate) async fn cap(
    State(permits): State<Arc<Semaphore>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Ok(permit) = permits.try_acquire_owned() else {
        return Refusal::Overloaded.into_response();
    };
    let slot = Slot(Arc::new(std::sync::Mutex::new(Some(permit))));
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    slot.release();
    response
}

/// The node's long-poll slots: `max` in all, `per_token` for one token.
pub(crate) struct LongPolls {
    slots: Arc<Semaphore>,
    per_token: usize,
    held: std::sync::Mutex<HashMap<Actor, usize>>,
    /// Long-polls holding a slot now (`roster_long_polls` in `/metrics`).
    waiting: Gauge,
}

/// A long-poll slot, given back when dropped.
pub(crate) struct LongPoll {
    polls: Arc<LongPolls>,
    actor: Actor,
    _slot: OwnedSemaphorePermit,
}

impl LongPolls {
    pub(crate) fn new(max: usize, per_token: usize, waiting: Gauge) -> Arc<LongPolls> {
        Arc::new(LongPolls {
            slots: Arc::new(Semaphore::new(max.max(1))),
            per_token: per_token.max(1),
            held: std::sync::Mutex::default(),
            waiting,
        })
    }

    /// A slot for `p` to wait in, exchanged for the request's `slot` of the concurrency cap;
    /// 429 (with `Retry-After`) when the token or the node has no slot free.
    pub(crate) fn enter(
        self: &Arc<Self>,
        p: &Principal,
        slot: &Slot,
    ) -> Result<LongPoll, Rejection> {
        let taken = |per_token| Rejection::Refused(Refusal::LongPollsTaken { per_token });
        let mut held = self.held.lock().map_err(|_| taken(false))?;
        if held.get(&p.actor).is_some_and(|count| *count >= self.per_token) {
            return Err(taken(true));
        }
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            return Err(taken(false));
        };
        *held.entry(p.actor).or_default() += 1;
        self.waiting.inc();
        slot.release();
        Ok(LongPoll { polls: self.clone(), actor: p.actor, _slot: permit })
    }
}

impl Drop for LongPoll {
    fn drop(&mut self) {
        self.polls.waiting.dec();
        if let Ok(mut held) = self.polls.held.lock()
            && let Some(count) = held.get_mut(&self.actor)
        {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.actor);
            }
        }
    }
}

/// Whether a request only reads: `GET`, `HEAD`, `OPTIONS`, and the searches that travel as
/// `POST` (`…/search`, SCIM's `…/.search`). A surface whose reads and writes share a method
/// (an RPC dialect) charges its writes itself ([`Budget::write`]).
fn is_read(method: &Method, path: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let last = path.rsplit('/').next().unwrap_or("");
    *method == Method::POST && matches!(last, "search" | ".search")
}

/// The middleware: answers 429 when a write's token or address is over its limit, and leaves
/// the request a [`Budget`] for the verifications its operation may make.
pub(crate) async fn limit(
    State(limiter): State<Arc<Limiter>>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut keys = Vec::with_capacity(2);
    if let Some(token) = request.headers().get(AUTHORIZATION) {
        keys.push(Key::Token(Sha256::digest(token.as_bytes()).into()));
    }
    if let Some(ClientAddr(client)) = request.extensions().get::<ClientAddr>() {
        keys.push(Key::Address(*client));
    }
    let path = request.uri().path();
    if !is_read(request.method(), path)
        && !crate::surface::charges_own_writes(path)
        && let Err(seconds) = spend(&limiter.writes, &keys)
    {
        return too_many(seconds);
    }
    request.extensions_mut().insert(Budget { limiter, keys: keys.into() });
    next.run(request).await
}

/// Takes one request from each key's bucket; `Err` with the seconds until all have room.
fn spend(buckets: &DefaultKeyedRateLimiter<Key>, keys: &[Key]) -> Result<(), u64> {
    for key in keys {
        if let Err(not_until) = buckets.check_key(key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1));
        }
    }
    if buckets.len() > MAX_KEYS {
        buckets.retain_recent();
    }
    Ok(())
}

fn too_many(seconds: u64) -> Response {
    let mut response = Refusal::RateLimited.into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// What this request may still spend: the buckets of its token and client address. An
/// operation that checks a secret (a password, a verification code) spends a verification
/// before it does the hashing work, whichever surface and route it came by.
#[derive(Clone)]
pub(crate) struct Budget {
    limiter: Arc<Limiter>,
    keys: Arc<[Key]>,
}

impl Budget {
    /// One write, for a surface that tells its writes from its reads itself; 429 past the limit.
    pub(crate) fn write(&self) -> Result<(), Rejection> {
        spend(&self.limiter.writes, &self.keys)
            .map_err(|_| Rejection::Refused(Refusal::RateLimited))
    }

    /// One password or code verification; 429 (with `Retry-After`) past the limit.
    pub(crate) fn verification(&self) -> Result<(), Rejection> {
        spend(&self.limiter.verifications, &self.keys)
            .map_err(|_| Rejection::Refused(Refusal::RateLimited))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Budget {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Budget>().cloned().ok_or_else(|| {
            ApiError::from(roster_core::Error::internal("the rate limiter is not installed"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_sent_as_post_are_reads() {
        for path in ["/v1/users/search", "/scim/v2/Users/.search", "/scim/v2/Groups/.search"] {
            assert!(is_read(&Method::POST, path), "{path}");
        }
        for path in ["/v1/users", "/scim/v2/Users", "/scim/v2/Bulk", "/v1/users/x/password"] {
            assert!(!is_read(&Method::POST, path), "{path}");
        }
        assert!(is_read(&Method::GET, "/v1/users"));
        assert!(!is_read(&Method::DELETE, "/v1/users/x"));
    }
}
