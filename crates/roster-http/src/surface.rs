//! What every surface shares: one typed refusal, [`Rejection`], that the shared extractors and
//! layers produce, and the trait, [`Surface`], by which each surface — native, SCIM, each vendor
//! dialect — answers it in its own shape. No surface reads another's rendered error back.
//!
//! The shared layers (rate limits, the concurrency cap, the size of a request's head, unknown
//! routes) run before any surface: they answer natively and leave their [`Refusal`] in the
//! response, and [`shape`], the outermost layer, renders it again for the surface that owns
//! the path (crates.io's `cargo_compat` middleware does the same for one client family).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::compat::{mattr, transmit, ubisecure, upvest, zitadel};
use crate::problem::{ApiError, Problem};
use crate::scim::ScimError;

/// Why a shared extractor or layer refused a request, before any surface shaped it.
#[derive(Debug)]
pub enum Rejection {
    /// The directory said no: no valid token, a missing scope, fields that are wrong (all of
    /// them, each named by its core path for the surface to rename).
    Core(roster_core::Error),
    /// The body is not in a media type the route takes.
    UnsupportedMediaType(&'static str),
    /// The body is larger than the route takes.
    TooLarge,
    /// The body could not be read as what it claims to be; the message says where.
    Malformed(String),
    /// A shared layer refused the request.
    Refused(Refusal),
}

impl From<roster_core::Error> for Rejection {
    fn from(e: roster_core::Error) -> Self {
        Rejection::Core(e)
    }
}

/// What the shared layers refuse, before any surface runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many writes or secret checks from this token or address (429).
    RateLimited,
    /// This token, or this node, has no long-poll slot free (429).
    LongPollsTaken {
        per_token: bool,
    },
    /// The node serves as many requests as it may (503).
    Overloaded,
    /// The request's target and headers exceed the limit (431).
    HeadTooLarge,
    /// The body exceeds the largest any route takes (413), found by a layer that reads it.
    BodyTooLarge,
    NoRoute,
    MethodNotAllowed,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::RateLimited | Refusal::LongPollsTaken { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Refusal::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::NoRoute => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The native problem type's last segment (`urn:roster:problem:<code>`).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::RateLimited => "rate-limited",
            Refusal::LongPollsTaken { .. } => "too-many-long-polls",
            Refusal::Overloaded => "overloaded",
            Refusal::HeadTooLarge => "request-header-fields-too-large",
            Refusal::BodyTooLarge => "payload-too-large",
            Refusal::NoRoute => "not-found",
            Refusal::MethodNotAllowed => "method-not-allowed",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::RateLimited => "too many requests: retry after the time in Retry-After",
            Refusal::LongPollsTaken { per_token: true } => {
                "this token already long-polls as often as it may at once; retry after the time in Retry-After"
            }
            Refusal::LongPollsTaken { per_token: false } => {
                "every long-poll slot of this node is taken; retry after the time in Retry-After"
            }
            Refusal::Overloaded => "the server is at its limit of concurrent requests, retry later",
            Refusal::HeadTooLarge => "the request's target and headers exceed 16384 bytes",
            Refusal::BodyTooLarge => "the body is larger than any route takes",
            Refusal::NoRoute => "no such route",
            Refusal::MethodNotAllowed => "the route does not allow this method",
        }
    }
}

/// The native answer to a layer's refusal, carrying the refusal for [`shape`].
impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = Problem::new(self.status(), self.code(), self.message()).into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// What a surface that serves several operations on one route (an RPC dialect) says about the
/// operation it served, in the response's extensions: the audit trail and the metrics name it
/// by `route` instead of the route template, and the audit records the `resource`.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The route with the operation filled in (`/compat/zitadel/…UserService/GetUserByID`).
    pub route: Option<String>,
    /// The resource the operation is about.
    pub resource: Option<uuid::Uuid>,
}

/// Whether the surface owning `path` charges its writes to the rate limits itself, knowing its
/// operations (an RPC dialect's reads travel as `POST` too).
pub(crate) fn charges_own_writes(path: &str) -> bool {
    matches!(owner(path), Owner::Zitadel(_))
}

/// A surface: the error type its handlers answer with, which every [`Rejection`] becomes.
/// Shared extractors are generic over it (`Auth<UsersRead, Scim>`), so they refuse straight
/// into the surface's shape.
pub trait Surface: Send + Sync + 'static {
    type Error: From<Rejection> + IntoResponse + Send;
    /// Whether the surface's `ETag`s are weak, so that `If-Match` compares weakly.
    const WEAK_ETAGS: bool = false;
}

/// The native `/v1` API: RFC 9457 problem documents.
pub struct Native;

impl Surface for Native {
    type Error = ApiError;
}

/// A core field path (`name.given`, `emails[0].value`) in a surface's words: the surface's name
/// for the first entry of `table` whose core path is `field` or begins it (up to a `.` or `[`),
/// and the rest of the path. Each surface gives only its table.
pub(crate) fn rename<'f>(
    field: &'f str,
    table: &[(&str, &'static str)],
) -> Option<(&'static str, &'f str)> {
    table.iter().find_map(|(core, theirs)| {
        let rest = field.strip_prefix(core)?;
        (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
            .then_some((*theirs, rest))
    })
}

/// Which surface owns a path, for the layers' refusals.
enum Owner {
    Native,
    Scim,
    Zitadel(zitadel::Transport),
    Upvest,
    Transmit,
    Mattr,
    Ubisecure,
}

/// The surface that owns `path`: one line a surface.
fn owner(path: &str) -> Owner {
    if path.starts_with("/scim/v2") {
        Owner::Scim
    } else if let Some(rest) = path.strip_prefix("/compat/zitadel") {
        Owner::Zitadel(zitadel::transport(rest))
    } else if path.starts_with("/compat/upvest") {
        Owner::Upvest
    } else if path.starts_with("/compat/transmit") {
        Owner::Transmit
    } else if path.starts_with("/compat/mattr") {
        Owner::Mattr
    } else if path.starts_with(ubisecure::MOUNT) {
        Owner::Ubisecure
    } else {
        Owner::Native
    }
}

/// The outermost layer: a refusal of the shared layers under a surface's prefix is answered in
/// that surface's shape, with the layer's status and `Retry-After`.
pub(crate) async fn shape(request: Request, next: Next) -> Response {
    let owner = owner(request.uri().path());
    if let Owner::Upvest = owner {
        // The dialect renders every answer itself, its request id in each.
        let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok());
        let id = id.and_then(|v| uuid::Uuid::parse_str(v).ok());
        let path = request.uri().path().to_owned();
        return upvest::finish(id, &path, next.run(request).await);
    }
    if let Owner::Ubisecure = owner {
        // The dialect renders every answer itself, in the format the request accepts.
        return ubisecure::finish(request, next).await;
    }
    let response = next.run(request).await;
    let Some(refusal) = response.extensions().get::<Refusal>().copied() else { return response };
    let mut shaped = match owner {
        Owner::Native | Owner::Upvest | Owner::Ubisecure => return response,
        Owner::Scim => ScimError::from(Rejection::Refused(refusal)).into_response(),
        Owner::Zitadel(transport) => {
            zitadel::ZitadelError::from(Rejection::Refused(refusal)).render(transport)
        }
        Owner::Mattr => mattr::MattrError::from(Rejection::Refused(refusal)).into_response(),
        Owner::Transmit => {
            transmit::TransmitError::from(Rejection::Refused(refusal)).into_response()
        }
    };
    // The body is the surface's; the status stays the layer's (a vendor's code table may
    // have no 431 or 405 of its own).
    *shaped.status_mut() = response.status();
    if let Some(retry_after) = response.headers().get(RETRY_AFTER) {
        shaped.headers_mut().insert(RETRY_AFTER, retry_after.clone());
    }
    shaped
}
