//! ZITADEL's errors: a gRPC status code, answered in the shape of the transport that carried the
//! call — Connect `{code: "not_found", message}` or the REST gateway's `{code: 5, message,
//! details}` — with the same HTTP status either way.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::Error;
use serde_json::json;

use crate::surface::{Refusal, Rejection, Surface};

/// The gRPC status codes ZITADEL answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    Unimplemented,
    Internal,
    Unavailable,
    Unauthenticated,
}

impl Code {
    /// Connect's name, gRPC's number and the HTTP status both transports use.
    fn parts(self) -> (&'static str, u16, StatusCode) {
        match self {
            Code::InvalidArgument => ("invalid_argument", 3, StatusCode::BAD_REQUEST),
            Code::NotFound => ("not_found", 5, StatusCode::NOT_FOUND),
            Code::AlreadyExists => ("already_exists", 6, StatusCode::CONFLICT),
            Code::PermissionDenied => ("permission_denied", 7, StatusCode::FORBIDDEN),
            Code::ResourceExhausted => ("resource_exhausted", 8, StatusCode::TOO_MANY_REQUESTS),
            Code::FailedPrecondition => ("failed_precondition", 9, StatusCode::BAD_REQUEST),
            Code::Aborted => ("aborted", 10, StatusCode::CONFLICT),
            Code::Unimplemented => ("unimplemented", 12, StatusCode::NOT_IMPLEMENTED),
            Code::Internal => ("internal", 13, StatusCode::INTERNAL_SERVER_ERROR),
            Code::Unavailable => ("unavailable", 14, StatusCode::SERVICE_UNAVAILABLE),
            Code::Unauthenticated => ("unauthenticated", 16, StatusCode::UNAUTHORIZED),
        }
    }
}

/// Which transport carried a call, and so the shape of its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Connect,
    Rest,
}

#[derive(Debug)]
pub(crate) struct ZitadelError {
    pub(crate) code: Code,
    pub(crate) message: String,
}

pub(crate) type Result<T> = std::result::Result<T, ZitadelError>;

impl ZitadelError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        ZitadelError { code, message: message.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ZitadelError::new(Code::InvalidArgument, message)
    }

    /// The error as `transport` answers it.
    pub(crate) fn render(self, transport: Transport) -> Response {
        let (name, number, status) = self.code.parts();
        let body = match transport {
            Transport::Connect => json!({ "code": name, "message": self.message }),
            Transport::Rest => json!({ "code": number, "message": self.message, "details": [] }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if matches!(self.code, Code::ResourceExhausted | Code::Unavailable) {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<Error> for ZitadelError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::NotFound { .. } => Code::NotFound,
            Error::Conflict { .. } | Error::IdempotencyMismatch => Code::AlreadyExists,
            Error::InvalidTransition { .. } | Error::Refused(_) => Code::FailedPrecondition,
            Error::Stale { .. } => Code::Aborted,
            Error::Invalid(_) | Error::Aborted => Code::InvalidArgument,
            Error::Unauthenticated | Error::BadSignature(_) => Code::Unauthenticated,
            Error::CredentialsRejected => Code::InvalidArgument,
            Error::Forbidden => Code::PermissionDenied,
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "storage unavailable");
                Code::Unavailable
            }
            Error::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                return ZitadelError::new(Code::Internal, "internal error");
            }
        };
        let message = match e {
            Error::NotFound { kind: "user" } => "User could not be found".to_owned(),
            Error::Conflict { field } => {
                format!("user already exists: {} is taken", super::map::field_name(&field))
            }
            Error::Invalid(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", super::map::field_name(&e.field), e.message))
                .collect::<Vec<_>>()
                .join("; "),
            e => e.to_string(),
        };
        ZitadelError::new(code, message)
    }
}

/// ZITADEL as a surface: shared extractors refuse in its error shape.
pub(crate) struct Zitadel;

impl Surface for Zitadel {
    type Error = ZitadelError;
}

/// A shared extractor's or layer's refusal as a gRPC status.
impl From<Rejection> for ZitadelError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Core(e) => ZitadelError::from(e),
            Rejection::UnsupportedMediaType(expected) => {
                ZitadelError::invalid(format!("the body must be {expected}"))
            }
            Rejection::TooLarge => {
                ZitadelError::new(Code::ResourceExhausted, "the body is too large")
            }
            Rejection::Malformed(detail) => ZitadelError::invalid(detail),
            Rejection::Refused(refusal) => {
                let code = match refusal {
                    Refusal::RateLimited | Refusal::LongPollsTaken { .. } => {
                        Code::ResourceExhausted
                    }
                    Refusal::Overloaded => Code::Unavailable,
                    Refusal::HeadTooLarge => Code::InvalidArgument,
                    Refusal::BodyTooLarge => Code::ResourceExhausted,
                    Refusal::NoRoute => Code::NotFound,
                    Refusal::MethodNotAllowed => Code::Unimplemented,
                };
                ZitadelError::new(code, refusal.message())
            }
        }
    }
}

/// Outside a call (an extractor's refusal), ZITADEL answers in the Connect shape; a call
/// renders its errors for its transport ([`ZitadelError::render`]).
impl IntoResponse for ZitadelError {
    fn into_response(self) -> Response {
        self.render(Transport::Connect)
    }
}
