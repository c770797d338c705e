//! Transmit's errors: `{"message", "error_code": <status>}`, `message` an array of strings for a
//! 400 (each naming a field by its Transmit path) and a string otherwise; a 409 adds a
//! `ts_error_code`.

use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use roster_core::Error;
use serde_json::json;

use crate::surface::{Rejection, Surface};

#[derive(Debug)]
pub(crate) struct TransmitError {
    status: StatusCode,
    /// One message a field for a 400; one message otherwise.
    messages: Vec<String>,
    ts_error_code: Option<&'static str>,
}

pub(crate) type Result<T> = std::result::Result<T, TransmitError>;

impl TransmitError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        TransmitError { status, messages: vec![message.into()], ts_error_code: None }
    }

    pub(crate) fn bad(messages: Vec<String>) -> Self {
        TransmitError { status: StatusCode::BAD_REQUEST, messages, ts_error_code: None }
    }

    pub(crate) fn bad_one(message: impl Into<String>) -> Self {
        TransmitError::bad(vec![message.into()])
    }

    pub(crate) fn not_found() -> Self {
        TransmitError::new(StatusCode::NOT_FOUND, "User not found")
    }
}

impl TransmitError {
    /// The error's body: `message` (an array for a 400), `error_code`, and `ts_error_code`.
    fn body(&self) -> serde_json::Value {
        let message = if self.status == StatusCode::BAD_REQUEST {
            json!(self.messages)
        } else {
            json!(self.messages.join("; "))
        };
        let mut body = json!({ "message": message, "error_code": self.status.as_u16() });
        if let Some(code) = self.ts_error_code {
            body["ts_error_code"] = json!(code);
        }
        body
    }

    /// The error of item `index` of a bulk request.
    pub(crate) fn item(&self, index: usize) -> serde_json::Value {
        let mut body = self.body();
        body["index"] = json!(index);
        body
    }
}

impl IntoResponse for TransmitError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if matches!(self.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            response.headers_mut().insert(RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<Error> for TransmitError {
    fn from(e: Error) -> Self {
        let status = |s| TransmitError::new(s, e.to_string());
        match &e {
            Error::NotFound { kind: "user" } => TransmitError::not_found(),
            Error::NotFound { .. } => status(StatusCode::NOT_FOUND),
            Error::Conflict { field } => TransmitError {
                status: StatusCode::CONFLICT,
                messages: vec![format!("{} is already taken", super::map::field_name(field))],
                ts_error_code: Some("IDENTIFIER_ALREADY_EXISTS"),
            },
            Error::Invalid(errors) => TransmitError::bad(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", super::map::field_name(&e.field), e.message))
                    .collect(),
            ),
            Error::InvalidTransition { .. } | Error::Refused(_) => {
                TransmitError::bad_one(format!("status: {e}"))
            }
            Error::Stale { .. } | Error::IdempotencyMismatch | Error::Aborted => {
                status(StatusCode::CONFLICT)
            }
            Error::Unauthenticated | Error::BadSignature(_) | Error::CredentialsRejected => {
                status(StatusCode::UNAUTHORIZED)
            }
            Error::Forbidden => TransmitError::new(
                StatusCode::FORBIDDEN,
                "the access token lacks the permission this needs",
            ),
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "storage unavailable");
                TransmitError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage unavailable, retry later",
                )
            }
            Error::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                TransmitError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// Transmit as a surface: shared extractors and layers refuse in its error shape.
pub(crate) struct Transmit;

impl Surface for Transmit {
    type Error = TransmitError;
}

impl From<Rejection> for TransmitError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Core(e) => TransmitError::from(e),
            Rejection::UnsupportedMediaType(_) => TransmitError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON: Content-Type: application/json",
            ),
            Rejection::TooLarge => {
                TransmitError::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large")
            }
            Rejection::Malformed(detail) => TransmitError::bad_one(detail),
            Rejection::Refused(refusal) => TransmitError::new(refusal.status(), refusal.message()),
        }
    }
}
