//! RFC 9457 problem details: the one error body of the native API, and the one place where a
//! directory error becomes a status code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::{Error, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::surface::Rejection;

/// `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:roster:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Every problem with a field of the request, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For an illegal state transition: the state the user is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
    /// For a failed precondition: the resource's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:roster:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            current_state: None,
            current_version: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// A 400 about one named field (a query parameter, a header, a path segment).
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Problem::from(Error::invalid(field, code, message))
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound { kind } => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", format!("{kind} not found"))
            }
            Error::Conflict { field } => Problem {
                errors: vec![FieldError::new(field.clone(), "taken", "is already taken")],
                ..Problem::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("{field} is already taken"),
                )
            },
            Error::InvalidTransition { from, .. } => Problem {
                current_state: Some(from.to_string()),
                ..Problem::new(StatusCode::CONFLICT, "invalid-transition", e.to_string())
            },
            Error::Stale { expected, current } => Problem {
                current_version: Some(current),
                ..Problem::new(
                    StatusCode::PRECONDITION_FAILED,
                    "precondition-failed",
                    if expected < 1 {
                        "If-Match names no version of the resource".to_owned()
                    } else {
                        e.to_string()
                    },
                )
            },
            Error::IdempotencyMismatch => {
                Problem::new(StatusCode::CONFLICT, "idempotency-key-reused", e.to_string())
            }
            Error::Invalid(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                let detail = format!("invalid fields: {}", fields.join(", "));
                Problem { errors, ..Problem::new(StatusCode::BAD_REQUEST, "validation", detail) }
            }
            Error::Aborted => Problem::new(StatusCode::FAILED_DEPENDENCY, "aborted", e.to_string()),
            Error::Unauthenticated => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string())
            }
            Error::BadSignature(_) => {
                Problem::new(StatusCode::UNAUTHORIZED, "bad-signature", e.to_string())
            }
            Error::CredentialsRejected => {
                Problem::new(StatusCode::UNAUTHORIZED, "credentials-rejected", e.to_string())
            }
            Error::Refused(reason) => Problem::new(StatusCode::CONFLICT, "refused", reason),
            Error::Forbidden => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the token lacks the scope this needs",
            ),
            Error::Unavailable(ref source) => {
                tracing::warn!(error = %source, "storage unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "storage is unavailable, retry later",
                )
            }
            Error::Internal(ref source) => {
                // Logged once, here; the text never leaves the process.
                tracing::error!(error = %source, "internal error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// Lets handlers use `?` on directory results. Boxed: the happy path stays small.
pub struct ApiError(pub Box<Problem>);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(Box::new(Problem::from(e)))
    }
}

/// A shared extractor's or layer's refusal, in the native shape.
impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let problem = match rejection {
            Rejection::Core(e) => Problem::from(e),
            Rejection::UnsupportedMediaType(expected) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                format!("the body must be {expected}"),
            ),
            Rejection::TooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the body exceeds the size limit",
            ),
            Rejection::Malformed(detail) => {
                Problem::new(StatusCode::BAD_REQUEST, "malformed-json", detail)
            }
            Rejection::Refused(r) => Problem::new(r.status(), r.code(), r.message()),
        };
        ApiError(Box::new(problem))
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(Box::new(p))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}
