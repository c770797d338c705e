//! `/v1/tokens`: the tenant's API tokens. Issuing one returns its secret, once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::Response;
use roster_core::input::parse_document;
use roster_core::{Token, TokenInput};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use super::json_with;
use crate::AppState;
use crate::auth::{Auth, TenantAdmin};
use crate::extract::{JsonBody, parse_id};
use crate::problem::{ApiError, Problem};

/// A new token: its description and, this once, its secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssuedToken {
    #[serde(flatten)]
    token: Token,
    /// The bearer secret (`rst_…`). Shown only in this response; Roster keeps a digest.
    #[serde(rename = "token")]
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TokenList {
    data: Vec<Token>,
}

/// Issue an API token.
#[utoipa::path(
    post, path = "/v1/tokens", tag = "tokens",
    request_body(content = TokenInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Issued; the secret is in `token`, shown once", body = IssuedToken, headers(("Location" = String))),
        (status = 400, description = "Invalid document", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["tenant:admin"]))
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    auth: Auth<TenantAdmin>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let input: TokenInput = parse_document(body.value)?;
    let (token, secret) = state.directory.create_token(&auth.principal, input).await?;
    let location = format!("/v1/tokens/{}", token.id);
    let issued = IssuedToken { token, secret: secret.expose_secret().to_owned() };
    Ok(json_with(StatusCode::CREATED, issued, LOCATION, &location))
}

/// List the tenant's tokens, oldest first (never their secrets).
#[utoipa::path(
    get, path = "/v1/tokens", tag = "tokens",
    responses(
        (status = 200, description = "The tokens", body = TokenList),
    ),
    security(("bearer" = ["tenant:admin"]))
)]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    auth: Auth<TenantAdmin>,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList { data: state.directory.tokens(&auth.principal).await? }))
}

/// Get a token (never its secret).
#[utoipa::path(
    get, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The token", body = Token),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["tenant:admin"]))
)]
pub(crate) async fn get_token(
    State(state): State<AppState>,
    auth: Auth<TenantAdmin>,
    Path(id): Path<String>,
) -> Result<Json<Token>, ApiError> {
    Ok(Json(state.directory.token(&auth.principal, parse_id("id", &id)?).await?))
}

/// Revoke a token. It stops working at once on this node, and within 10 seconds on others.
#[utoipa::path(
    delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["tenant:admin"]))
)]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth<TenantAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.directory.revoke_token(&auth.principal, parse_id("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
