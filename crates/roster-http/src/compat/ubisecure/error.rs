//! CustomerID's errors: `<error><code/><message/></error>` (no namespace), or `{"code",
//! "message"}` when the client accepts JSON; `code` is the documented name of the error.
//! Handlers' errors and the shared layers' refusals travel in the response's extensions and
//! are rendered by [`super::finish`], which knows the format the request asked for.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::Error;

use super::map;
use crate::surface::{Refusal, Rejection, Surface};

/// The documented error names this dialect answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    InvalidArguments,
    AuthenticationFailed,
    Unauthorized,
    AlreadyExists,
    ParentNotFound,
    InternalServerError,
    EntityNotFound,
    SizeLimitExceeded,
    MethodNotAllowed,
    ClientError,
}

impl Code {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArguments => "Invalid arguments",
            Code::AuthenticationFailed => "Authentication failed",
            Code::Unauthorized => "Unauthorized",
            Code::AlreadyExists => "Already exists",
            Code::ParentNotFound => "Parent not found",
            Code::InternalServerError => "Internal server error",
            Code::EntityNotFound => "Entity not found",
            Code::SizeLimitExceeded => "Size limit exceeded",
            Code::MethodNotAllowed => "Method not allowed",
            Code::ClientError => "Client error",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct UbisecureError {
    pub(crate) status: StatusCode,
    pub(crate) code: Code,
    pub(crate) message: String,
}

pub(crate) type Result<T> = std::result::Result<T, UbisecureError>;

impl UbisecureError {
    pub(crate) fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        UbisecureError { status, code, message: message.into() }
    }

    /// `Invalid arguments` (400), the message naming the parameter or member.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        UbisecureError::new(StatusCode::BAD_REQUEST, Code::InvalidArguments, message)
    }

    pub(crate) fn not_found(what: &str) -> Self {
        UbisecureError::new(StatusCode::NOT_FOUND, Code::EntityNotFound, format!("no such {what}"))
    }
}

/// The status and the error itself, for [`super::finish`] to render.
impl IntoResponse for UbisecureError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<Error> for UbisecureError {
    fn from(e: Error) -> Self {
        let with = |status, code| UbisecureError::new(status, code, e.to_string());
        match &e {
            Error::NotFound { kind } => UbisecureError::not_found(kind),
            Error::Conflict { field } => UbisecureError::new(
                StatusCode::CONFLICT,
                Code::AlreadyExists,
                format!("{} is already taken", map::parameter(field)),
            ),
            Error::Invalid(errors) => UbisecureError::invalid(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", map::parameter(&e.field), e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Error::InvalidTransition { .. } | Error::Refused(_) => {
                with(StatusCode::BAD_REQUEST, Code::InvalidArguments)
            }
            Error::Stale { .. } | Error::IdempotencyMismatch | Error::Aborted => {
                with(StatusCode::CONFLICT, Code::ClientError)
            }
            Error::Unauthenticated | Error::BadSignature(_) | Error::CredentialsRejected => {
                with(StatusCode::UNAUTHORIZED, Code::AuthenticationFailed)
            }
            Error::Forbidden => UbisecureError::new(
                StatusCode::FORBIDDEN,
                Code::Unauthorized,
                "the API token lacks the permission this needs",
            ),
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "storage unavailable");
                UbisecureError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::InternalServerError,
                    "storage unavailable, retry later",
                )
            }
            Error::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                UbisecureError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Code::InternalServerError,
                    "internal error",
                )
            }
        }
    }
}

/// CustomerID as a surface: shared extractors and layers refuse in its error shape.
pub(crate) struct Ubisecure;

impl Surface for Ubisecure {
    type Error = UbisecureError;
}

impl From<Rejection> for UbisecureError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Core(e) => UbisecureError::from(e),
            Rejection::UnsupportedMediaType(_) => UbisecureError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::ClientError,
                "the body must be application/x-www-form-urlencoded, application/xml or \
                 application/json",
            ),
            Rejection::TooLarge => UbisecureError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::SizeLimitExceeded,
                "the body is larger than the server takes",
            ),
            Rejection::Malformed(detail) => {
                UbisecureError::new(StatusCode::BAD_REQUEST, Code::ClientError, detail)
            }
            Rejection::Refused(refusal) => {
                let code = match refusal {
                    Refusal::NoRoute => Code::EntityNotFound,
                    Refusal::MethodNotAllowed => Code::MethodNotAllowed,
                    Refusal::HeadTooLarge | Refusal::BodyTooLarge => Code::SizeLimitExceeded,
                    Refusal::Overloaded => Code::InternalServerError,
                    Refusal::RateLimited | Refusal::LongPollsTaken { .. } => Code::ClientError,
                };
                UbisecureError::new(refusal.status(), code, refusal.message())
            }
        }
    }
}
