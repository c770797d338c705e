//! `/v1/users/{id}/credentials`: metadata of the credentials issued to a user.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{ETAG, LOCATION};
use axum::response::Response;
use roster_core::CredentialId;
use roster_core::credentials::{Credential, CredentialInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{json_with, next_after};
use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, IfMatch, JsonBody, etag, from_str, parse_id};
use crate::problem::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub(crate) struct CredentialList {
    data: Vec<Credential>,
    meta: CredentialMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct CredentialMeta {
    /// Pass as `after` for the next page; `null` on the last page.
    next_after: Option<CredentialId>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// The `next_after` of the previous page.
    #[param(format = Uuid)]
    after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Also for a deleted user (whose records stay, without their metadata).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    include_deleted: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReadParams {
    /// Also for a deleted user.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    include_deleted: Option<bool>,
}

fn credential_response(status: StatusCode, c: &Credential) -> Response {
    json_with(status, c, ETAG, &etag(c.version))
}

/// Record a credential issued to a user.
#[utoipa::path(
    post, path = "/v1/users/{id}/credentials", tag = "credentials",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = CredentialInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded", body = Credential,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String))),
        (status = 400, description = "Invalid document", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn create_credential(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let user = parse_id("id", &id)?;
    let c = state.directory.create_credential(&auth.principal, user, body.value).await?;
    let mut response = credential_response(StatusCode::CREATED, &c);
    if let Ok(location) = format!("/v1/users/{user}/credentials/{}", c.id).parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// A user's credential records, oldest first.
#[utoipa::path(
    get, path = "/v1/users/{id}/credentials", tag = "credentials",
    params(("id" = String, Path, format = Uuid), ListParams),
    responses(
        (status = 200, description = "A page of credential records", body = CredentialList),
        (status = 400, description = "Bad id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_credentials(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<CredentialList>, ApiError> {
    let user = parse_id("id", &id)?;
    let after = params.after.as_deref().map(|a| parse_id("after", a)).transpose()?;
    let limit = params.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT);
    let deleted = params.include_deleted.unwrap_or(false);
    let data = state.directory.credentials(&auth.principal, user, after, limit, deleted).await?;
    let next_after = next_after(&data, limit, |c| c.id);
    Ok(Json(CredentialList { data, meta: CredentialMeta { next_after } }))
}

/// One credential record.
#[utoipa::path(
    get, path = "/v1/users/{id}/credentials/{credential_id}", tag = "credentials",
    params(("id" = String, Path, format = Uuid), ("credential_id" = String, Path, format = Uuid), ReadParams),
    responses(
        (status = 200, description = "The record", body = Credential, headers(("ETag" = String))),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or record", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_credential(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path((id, credential)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> Result<Response, ApiError> {
    let (user, credential) = (parse_id("id", &id)?, parse_id("credential_id", &credential)?);
    let deleted = params.include_deleted.unwrap_or(false);
    let c = state.directory.credential(&auth.principal, user, credential, deleted).await?;
    Ok(credential_response(StatusCode::OK, &c))
}

/// Change a credential record (status, validity, metadata…) with a JSON Merge Patch.
#[utoipa::path(
    patch, path = "/v1/users/{id}/credentials/{credential_id}", tag = "credentials",
    params(("id" = String, Path, format = Uuid), ("credential_id" = String, Path, format = Uuid),
        ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The record", body = Credential, headers(("ETag" = String))),
        (status = 400, description = "Invalid patch or resulting document", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or record", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn update_credential(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, credential)): Path<(String, String)>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (user, credential) = (parse_id("id", &id)?, parse_id("credential_id", &credential)?);
    let c = state
        .directory
        .update_credential(&auth.principal, user, credential, version, &body.value)
        .await?;
    Ok(credential_response(StatusCode::OK, &c))
}

/// Delete a credential record.
#[utoipa::path(
    delete, path = "/v1/users/{id}/credentials/{credential_id}", tag = "credentials",
    params(("id" = String, Path, format = Uuid), ("credential_id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or record", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn delete_credential(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, credential)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (user, credential) = (parse_id("id", &id)?, parse_id("credential_id", &credential)?);
    state.directory.delete_credential(&auth.principal, user, credential).await?;
    Ok(StatusCode::NO_CONTENT)
}
