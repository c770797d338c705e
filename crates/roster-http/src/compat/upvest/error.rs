//! The investment platform's errors: `application/problem+json` with only `type`, `status`,
//! `title`, `detail`, `instance` and `request_id`, `type` being
//! `https://docs.upvest.co/errors/<slug>`. The request id is the answer's `upvest-request-id`,
//! which [`finish`] sets on every answer of the dialect, refusals of the shared layers included.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::Error;
use serde_json::json;
use uuid::Uuid;

use crate::surface::{Rejection, Surface};

/// A refusal of the dialect, rendered by [`finish`] once the request id is known.
#[derive(Debug, Clone)]
pub(crate) struct UpvestError {
    pub(crate) status: StatusCode,
    /// The last segment of `type`.
    pub(crate) slug: &'static str,
    pub(crate) detail: String,
}

pub(crate) type Result<T> = std::result::Result<T, UpvestError>;

impl UpvestError {
    pub(crate) fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        UpvestError { status, slug, detail: detail.into() }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        UpvestError::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        UpvestError::new(StatusCode::CONFLICT, "conflict", detail)
    }

    fn title(&self) -> &'static str {
        match self.slug {
            "missing_idempotency_key" => "Missing idempotency key",
            "unauthorised" => "Unauthorised",
            "forbidden" => "Forbidden",
            "not_found" => "Not found",
            "not_acceptable" => "Not acceptable",
            "conflict" => "Conflict",
            "unprocessable_entity" => "Unprocessable entity",
            "too_many_requests" => "Too many requests",
            "payload_too_large" => "Payload too large",
            "service_unavailable" => "Service unavailable",
            "internal_server_error" => "Internal server error",
            _ => "Bad request",
        }
    }

    /// The problem document for the request `request_id` of `instance` (its path).
    fn render(&self, request_id: Uuid, instance: &str) -> Response {
        let body = json!({
            "type": format!("https://docs.upvest.co/errors/{}", self.slug),
            "status": self.status.as_u16(),
            "title": self.title(),
            "detail": self.detail,
            "instance": instance,
            "request_id": request_id.to_string(),
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if matches!(self.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A handler's refusal: carried in the response for [`finish`] to render.
impl IntoResponse for UpvestError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<Error> for UpvestError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound { kind } => {
                UpvestError::new(StatusCode::NOT_FOUND, "not_found", format!("{kind} not found"))
            }
            Error::Conflict { field } => UpvestError::conflict(format!(
                "{} is already taken",
                super::map::field_name(&field)
            )),
            Error::InvalidTransition { .. } | Error::Stale { .. } | Error::Refused(_) => {
                UpvestError::conflict(e.to_string())
            }
            Error::IdempotencyMismatch => UpvestError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable_entity",
                "idempotency-key was already used with a different request body",
            ),
            Error::Invalid(errors) => {
                let detail: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", super::map::field_name(&e.field), e.message))
                    .collect();
                UpvestError::bad_request(detail.join("; "))
            }
            Error::Aborted => UpvestError::conflict(e.to_string()),
            Error::Unauthenticated | Error::BadSignature(_) | Error::CredentialsRejected => {
                UpvestError::new(StatusCode::UNAUTHORIZED, "unauthorised", e.to_string())
            }
            Error::Forbidden => UpvestError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the access token lacks the scope this needs",
            ),
            Error::Unavailable(ref source) => {
                tracing::warn!(error = %source, "storage unavailable");
                UpvestError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "storage is unavailable, retry later",
                )
            }
            Error::Internal(ref source) => {
                tracing::error!(error = %source, "internal error");
                UpvestError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_server_error",
                    "internal error",
                )
            }
        }
    }
}

/// The investment platform as a surface: shared extractors refuse in its error shape.
pub(crate) struct Upvest;

impl Surface for Upvest {
    type Error = UpvestError;
}

impl From<Rejection> for UpvestError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Core(e) => UpvestError::from(e),
            // The platform answers a body in another media type with a 400, not a 415.
            Rejection::UnsupportedMediaType(_) => {
                UpvestError::bad_request("the body must be JSON: Content-Type: application/json")
            }
            Rejection::TooLarge => UpvestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body exceeds the size limit",
            ),
            Rejection::Malformed(detail) => UpvestError::bad_request(detail),
            Rejection::Refused(refusal) => {
                let slug = match refusal.status() {
                    StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
                    StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
                    StatusCode::NOT_FOUND => "not_found",
                    StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                    _ => "bad_request",
                };
                UpvestError::new(refusal.status(), slug, refusal.message())
            }
        }
    }
}

/// Every answer of the dialect, last: it gets an `upvest-request-id` (the request's
/// `x-request-id` when that is a UUID, as Roster makes them), and a refusal — the dialect's own
/// or a shared layer's — is rendered with it.
pub(crate) fn finish(request_id: Option<Uuid>, instance: &str, mut response: Response) -> Response {
    let request_id = request_id.unwrap_or_else(Uuid::new_v4);
    let refusal = response.extensions_mut().remove::<UpvestError>().or_else(|| {
        let layer = response.extensions().get::<crate::surface::Refusal>().copied()?;
        Some(UpvestError::from(Rejection::Refused(layer)))
    });
    if let Some(error) = refusal {
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let status = response.status();
        response = error.render(request_id, instance);
        *response.status_mut() = status;
        if let Some(retry_after) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, retry_after);
        }
    }
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert("upvest-request-id", value);
    }
    response
}
