//! Errors of the directory, in domain terms. Surfaces decide status codes and bodies.

use serde::Serialize;

use crate::user::UserState;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} not found")]
    NotFound { kind: &'static str },
    /// A unique value is held by another resource; `field` is the path in the input document.
    #[error("{field} is already taken")]
    Conflict { field: String },
    #[error("cannot {action} a user in state {from}")]
    InvalidTransition { action: &'static str, from: UserState },
    /// An `If-Match` precondition, or a concurrent writer, moved the resource on.
    #[error("version {expected} does not match the current version {current}")]
    Stale { expected: i64, current: i64 },
    #[error("the idempotency key was already used for a different request")]
    IdempotencyMismatch,
    /// Every field error of the input at once, never the first only.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Not written because another change of the same all-or-nothing request failed.
    #[error("not written: another item of the atomic request failed")]
    Aborted,
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// The token signs its requests (it holds a public key) and this request's signature was
    /// missing or not accepted, for the reason given.
    #[error("the request's signature was not accepted: {0}")]
    BadSignature(&'static str),
    /// A user's password was not accepted: wrong, or the user cannot sign in (locked, inactive,
    /// deleted, no password). Which of these is never said.
    #[error("the password was not accepted")]
    CredentialsRejected,
    #[error("not allowed")]
    Forbidden,
    /// A well-formed request the directory will not carry out, for the reason given.
    #[error("{0}")]
    Refused(&'static str),
    /// The database cannot be reached or is overloaded; retrying later may succeed.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(e.into())
    }

    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid(vec![FieldError::new(field, code, message)])
    }
}

/// One problem with one field of an input document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the field in the request document, e.g. `emails[1].value`.
    pub field: String,
    /// Stable machine-readable code, e.g. `required`, `too_long`, `invalid_format`.
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), code, message: message.into() }
    }
}
