//! Abuse limits: password verifications and writes are rate-limited per token and per client
//! address, each by a token bucket (`governor`). Past a limit the answer is 429 with
//! `Retry-After`, before any work is done. Reads (searches and RPC reads sent as `POST`
//! included) are not limited here.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};

use crate::problem::Problem;

/// Requests per second allowed to one token, and to one client address, separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Creates, updates, deletes and every other non-read request.
    pub writes_per_second: u32,
    /// `POST /v1/users/{id}/password/verify`.
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

/// The answer past the concurrency cap: 503 (with `Retry-After`, as every 503).
pub(crate) fn overloaded() -> Response {
    let detail = "the server is at its limit of concurrent requests, retry later";
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", detail).into_response()
}

/// Whether a request only reads: `GET`, `HEAD`, `OPTIONS`, and the searches and RPC reads that
/// travel as `POST` (`…/search`, SCIM's `…/.search`, a Connect `Get…` or `List…` method, the
/// ZITADEL gateway's user listing).
fn is_read(method: &Method, path: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let last = path.rsplit('/').next().unwrap_or("");
    let connect_read =
        path.contains("Service/") && (last.starts_with("Get") || last.starts_with("List"));
    *method == Method::POST
        && (matches!(last, "search" | ".search" | "_search")
            || connect_read
            || path == "/compat/zitadel/v2/users")
}

/// The middleware: answers 429 when the request's token or address is over its limit.
pub(crate) async fn limit(
    State(limiter): State<Arc<Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    let buckets = if request.uri().path().ends_with("/password/verify") {
        &limiter.verifications
    } else if is_read(request.method(), request.uri().path()) {
        return next.run(request).await;
    } else {
        &limiter.writes
    };
    let mut keys = Vec::with_capacity(2);
    if let Some(token) = request.headers().get(AUTHORIZATION) {
        keys.push(Key::Token(Sha256::digest(token.as_bytes()).into()));
    }
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        keys.push(Key::Address(peer.ip()));
    }
    for key in &keys {
        if let Err(not_until) = buckets.check_key(key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "too many requests: retry after the time in Retry-After",
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            return response;
        }
    }
    if buckets.len() > MAX_KEYS {
        buckets.retain_recent();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sent_as_post_are_reads() {
        for path in [
            "/v1/users/search",
            "/scim/v2/Users/.search",
            "/compat/zitadel/zitadel.user.v2.UserService/GetUserByID",
            "/compat/zitadel/zitadel.user.v2.UserService/ListUsers",
            "/compat/zitadel/v2/users",
        ] {
            assert!(is_read(&Method::POST, path), "{path}");
        }
        for path in [
            "/v1/users",
            "/scim/v2/Users",
            "/scim/v2/Bulk",
            "/compat/zitadel/zitadel.user.v2.UserService/LockUser",
            "/compat/zitadel/v2/users/new",
        ] {
            assert!(!is_read(&Method::POST, path), "{path}");
        }
        assert!(is_read(&Method::GET, "/v1/users"));
        assert!(!is_read(&Method::DELETE, "/v1/users/x"));
    }
}
