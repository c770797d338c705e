//! `/v1/users/{id}/password`: set a user's password, and verify one.
//! `/v1/users/{id}/secret`: a machine user's client secret, generated and shown once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::ETAG;
use axum::response::Response;
use roster_core::User;
use roster_core::input::parse_document;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json_with;
use super::users::user_response;
use crate::AppState;
use crate::auth::{Auth, UsersWrite};
use crate::extract::{IfMatch, JsonBody, etag, parse_id};
use crate::limits::Budget;
use crate::problem::{ApiError, Problem};

/// The body of `POST /v1/users/{id}/password`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SetPassword {
    /// 8 characters to 1,024 bytes. Stored as an argon2id hash; never returned.
    #[schema(value_type = String, format = Password, min_length = 8)]
    password: SecretString,
    /// Ask the user to change it at the next sign-in (default false).
    #[serde(default)]
    change_required: bool,
}

/// The body of `POST /v1/users/{id}/password/verify`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct VerifyPassword {
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Set a user's password.
#[utoipa::path(
    post, path = "/v1/users/{id}/password", tag = "users",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = SetPassword, content_type = "application/json"),
    responses(
        (status = 200, description = "The user, password set", body = roster_core::User, headers(("ETag" = String))),
        (status = 400, description = "Bad id, or the password breaks the policy", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn set_password(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let body: SetPassword = parse_document(body.value)?;
    let user = state
        .directory
        .set_password(&auth.principal, id, version, body.password, body.change_required)
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Verify a user's password.
///
/// 200 with the user (its `last_auth_at` now set) when the password is right and the user is
/// active; otherwise 401 `credentials-rejected`, whatever the reason (wrong password; locked,
/// inactive or deleted user; no password; no such user). After 10 consecutive failures (see
/// `password_lockout_after`) the user is locked.
#[utoipa::path(
    post, path = "/v1/users/{id}/password/verify", tag = "users",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = VerifyPassword, content_type = "application/json"),
    responses(
        (status = 200, description = "Accepted", body = roster_core::User, headers(("ETag" = String))),
        (status = 400, description = "Bad id or body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token, or the password was not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many verifications by this token or client address", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn verify_password(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    budget: Budget,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    budget.verification()?;
    let id = parse_id("id", &id)?;
    let body: VerifyPassword = parse_document(body.value)?;
    let user = state.directory.verify_password(&auth.principal, id, body.password).await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// A machine user with, this once, its new client secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssuedSecret {
    user: User,
    /// The client secret (`rcs_…`). Shown only in this response; Roster keeps a digest.
    client_secret: String,
}

/// Generate a machine user's client secret (replacing any earlier one).
#[utoipa::path(
    post, path = "/v1/users/{id}/secret", tag = "users",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    responses(
        (status = 201, description = "The secret, shown once, and the user", body = IssuedSecret, headers(("ETag" = String))),
        (status = 400, description = "Bad id or header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a machine user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn add_secret(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
) -> Result<Response, ApiError> {
    let (user, secret) =
        state.directory.add_secret(&auth.principal, parse_id("id", &id)?, version).await?;
    let tag = etag(user.version);
    let issued = IssuedSecret { user, client_secret: secret.expose_secret().to_owned() };
    Ok(json_with(StatusCode::CREATED, issued, ETAG, &tag))
}

/// Remove a machine user's client secret.
#[utoipa::path(
    delete, path = "/v1/users/{id}/secret", tag = "users",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    responses(
        (status = 200, description = "The user, without a secret", body = User, headers(("ETag" = String))),
        (status = 400, description = "Bad id or header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no secret", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a machine user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn remove_secret(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
) -> Result<Response, ApiError> {
    let user =
        state.directory.remove_secret(&auth.principal, parse_id("id", &id)?, version).await?;
    Ok(user_response(StatusCode::OK, &user))
}
