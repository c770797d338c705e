//! MATTR's errors: `{code, message, details?}`, `code` the status's reason phrase in PascalCase;
//! a validation error is `message: "Validation Error"` with one `{msg, param, location, value?}`
//! a failing field.

use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use roster_core::Error;
use serde_json::{Value, json};

use crate::surface::{Rejection, Surface};

#[derive(Debug)]
pub(crate) struct MattrError {
    status: StatusCode,
    message: String,
    details: Vec<Value>,
}

pub(crate) type Result<T> = std::result::Result<T, MattrError>;

/// Where a failing value was: `body`, `query` or `params` (the path).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Location {
    Body,
    Query,
    Params,
}

impl Location {
    const fn as_str(self) -> &'static str {
        match self {
            Location::Body => "body",
            Location::Query => "query",
            Location::Params => "params",
        }
    }
}

/// One failing field of a validation error.
pub(crate) fn detail(param: &str, location: Location, msg: &str, value: Option<&Value>) -> Value {
    let mut detail = json!({ "msg": msg, "param": param, "location": location.as_str() });
    if let Some(value) = value {
        detail["value"] = value.clone();
    }
    detail
}

impl MattrError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        MattrError { status, message: message.into(), details: Vec::new() }
    }

    /// A validation error naming each failing field.
    pub(crate) fn invalid(details: Vec<Value>) -> Self {
        MattrError { status: StatusCode::BAD_REQUEST, message: "Validation Error".into(), details }
    }

    /// A validation error of one field.
    pub(crate) fn invalid_one(param: &str, location: Location, msg: &str) -> Self {
        MattrError::invalid(vec![detail(param, location, msg, None)])
    }

    pub(crate) fn not_found() -> Self {
        MattrError::new(StatusCode::NOT_FOUND, "User not found")
    }
}

/// The reason phrase of `status` in PascalCase, as MATTR's `code`.
fn code(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("Error")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .collect::<String>()
}

impl IntoResponse for MattrError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": code(self.status), "message": self.message });
        if !self.details.is_empty() {
            body["details"] = Value::Array(self.details);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if matches!(self.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            response.headers_mut().insert(RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<Error> for MattrError {
    fn from(e: Error) -> Self {
        let status = |s| MattrError::new(s, e.to_string());
        match &e {
            Error::NotFound { kind: "user" } => MattrError::not_found(),
            Error::NotFound { .. } => status(StatusCode::NOT_FOUND),
            Error::Conflict { field } => MattrError::new(
                StatusCode::CONFLICT,
                format!("{} is already taken by another user", super::map::param(field)),
            ),
            Error::Invalid(errors) => MattrError::invalid(
                errors
                    .iter()
                    .map(|e| detail(&super::map::param(&e.field), Location::Body, &e.message, None))
                    .collect(),
            ),
            Error::InvalidTransition { .. } | Error::Refused(_) => status(StatusCode::BAD_REQUEST),
            Error::Stale { .. } | Error::IdempotencyMismatch | Error::Aborted => {
                status(StatusCode::CONFLICT)
            }
            Error::Unauthenticated | Error::BadSignature(_) | Error::CredentialsRejected => {
                status(StatusCode::UNAUTHORIZED)
            }
            Error::Forbidden => MattrError::new(
                StatusCode::FORBIDDEN,
                "the access token lacks the permission this needs",
            ),
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "storage unavailable");
                MattrError::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable, retry later")
            }
            Error::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                MattrError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// MATTR as a surface: shared extractors and layers refuse in its error shape.
pub(crate) struct Mattr;

impl Surface for Mattr {
    type Error = MattrError;
}

impl From<Rejection> for MattrError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Core(e) => MattrError::from(e),
            Rejection::UnsupportedMediaType(_) => MattrError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON: Content-Type: application/json",
            ),
            Rejection::TooLarge => {
                MattrError::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is larger than 1 MiB")
            }
            Rejection::Malformed(detail) => MattrError::new(StatusCode::BAD_REQUEST, detail),
            Rejection::Refused(refusal) => MattrError::new(refusal.status(), refusal.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_reason_phrases_in_pascal_case() {
        assert_eq!(code(StatusCode::BAD_REQUEST), "BadRequest");
        assert_eq!(code(StatusCode::PAYLOAD_TOO_LARGE), "PayloadTooLarge");
        assert_eq!(code(StatusCode::UNSUPPORTED_MEDIA_TYPE), "UnsupportedMediaType");
        assert_eq!(code(StatusCode::NOT_FOUND), "NotFound");
    }
}
