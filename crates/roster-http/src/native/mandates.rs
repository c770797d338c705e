//! `/v1/mandates`: mandates between users and organizations, their delegations, and the
//! mandates and delegations of a user or an organization.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use roster_core::mandates::{
    Delegation, DelegationInput, DelegationsOf, Mandate, MandateInput, MandatesOf, Party,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PageMeta, PageParams};
use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, JsonBody, parse_id};
use crate::problem::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub(crate) struct MandateList {
    data: Vec<Mandate>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DelegationList {
    data: Vec<Delegation>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DirectionParams {
    /// `received` (default) or `given`.
    #[param(pattern = "^(received|given)$")]
    direction: Option<String>,
}

impl DirectionParams {
    fn given(&self) -> Result<bool, ApiError> {
        match self.direction.as_deref() {
            None | Some("received") => Ok(false),
            Some("given") => Ok(true),
            Some(_) => {
                Err(Problem::invalid("direction", "invalid_value", "must be `given` or `received`")
                    .into())
            }
        }
    }
}

fn created<T: Serialize>(body: &T, location: String) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = location.parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// Record a mandate: `grantor` authorises `grantee` (each `{"user_id"}` or
/// `{"organization_id"}`) for roles, optionally until `valid_until`.
#[utoipa::path(
    post, path = "/v1/mandates", tag = "mandates",
    request_body(content = MandateInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded", body = Mandate, headers(("Location" = String))),
        (status = 400, description = "Invalid document, unknown party or role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn create_mandate(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mandate = state.directory.create_mandate(&auth.principal, body.value).await?;
    Ok(created(&mandate, format!("/v1/mandates/{}", mandate.id)))
}

/// Get a mandate.
#[utoipa::path(
    get, path = "/v1/mandates/{id}", tag = "mandates",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The mandate", body = Mandate),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mandate", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_mandate(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<Mandate>, ApiError> {
    Ok(Json(state.directory.mandate(&auth.principal, parse_id("id", &id)?).await?))
}

/// Revoke a mandate and every delegation under it.
#[utoipa::path(
    post, path = "/v1/mandates/{id}/revoke", tag = "mandates",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "Revoked", body = Mandate),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mandate", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn revoke_mandate(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
) -> Result<Json<Mandate>, ApiError> {
    Ok(Json(state.directory.revoke_mandate(&auth.principal, parse_id("id", &id)?).await?))
}

/// Delegate some of a mandate's roles to a user, within the mandate's time.
#[utoipa::path(
    post, path = "/v1/mandates/{id}/delegations", tag = "mandates",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = DelegationInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Delegated", body = Delegation),
        (status = 400, description = "Invalid document, unknown user, or roles or time beyond the mandate", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mandate", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The mandate is not active", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn delegate(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let delegation = state.directory.delegate(&auth.principal, id, body.value).await?;
    Ok(created(&delegation, format!("/v1/mandates/{id}/delegations")))
}

/// A mandate's delegations, oldest first.
#[utoipa::path(
    get, path = "/v1/mandates/{id}/delegations", tag = "mandates",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The delegations", body = DelegationList),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mandate", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_delegations(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<DelegationList>, ApiError> {
    let of = DelegationsOf::Mandate(parse_id("id", &id)?);
    Ok(Json(DelegationList { data: state.directory.delegations(&auth.principal, of).await? }))
}

/// The mandates a user received (default) or gave.
#[utoipa::path(
    get, path = "/v1/users/{id}/mandates", tag = "mandates",
    params(("id" = String, Path, format = Uuid), DirectionParams),
    responses(
        (status = 200, description = "The mandates", body = MandateList),
        (status = 400, description = "Bad id or direction", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn user_mandates(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DirectionParams>,
) -> Result<Json<MandateList>, ApiError> {
    let of = MandatesOf { party: Party::User(parse_id("id", &id)?), given: params.given()? };
    Ok(Json(MandateList { data: state.directory.mandates(&auth.principal, of).await? }))
}

/// A page of the tenant's mandates.
#[derive(Serialize, ToSchema)]
pub(crate) struct MandatePage {
    data: Vec<Mandate>,
    meta: PageMeta,
}

/// List the tenant's mandates in creation order.
#[utoipa::path(
    get, path = "/v1/mandates", tag = "mandates",
    params(PageParams),
    responses(
        (status = 200, description = "A page of mandates", body = MandatePage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_mandates(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<MandatePage>, ApiError> {
    let limit = params.limit();
    let data = state.directory.all_mandates(&auth.principal, params.after()?, limit).await?;
    let meta = PageMeta::of(&data, limit, |m| *m.id.as_uuid());
    Ok(Json(MandatePage { data, meta }))
}

/// The mandates an organization received (default) or gave.
#[utoipa::path(
    get, path = "/v1/organizations/{id}/mandates", tag = "mandates",
    params(("id" = String, Path, format = Uuid), DirectionParams),
    responses(
        (status = 200, description = "The mandates", body = MandateList),
        (status = 400, description = "Bad id or direction", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn organization_mandates(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DirectionParams>,
) -> Result<Json<MandateList>, ApiError> {
    let org = id.parse().map_err(|_| Problem::invalid("id", "invalid_format", "must be a UUID"))?;
    let of = MandatesOf { party: Party::Organization(org), given: params.given()? };
    Ok(Json(MandateList { data: state.directory.mandates(&auth.principal, of).await? }))
}

/// The delegations a user received, oldest first.
#[utoipa::path(
    get, path = "/v1/users/{id}/delegations", tag = "mandates",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The delegations", body = DelegationList),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn user_delegations(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<DelegationList>, ApiError> {
    let of = DelegationsOf::Delegate(parse_id("id", &id)?);
    Ok(Json(DelegationList { data: state.directory.delegations(&auth.principal, of).await? }))
}
