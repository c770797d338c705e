//! Roles: `/v1/organizations/{id}/roles`, `/v1/roles/{id}` (and its users) and
//! `/v1/users/{id}/roles`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{ETAG, LOCATION};
use axum::response::Response;
use roster_core::input::parse_document;
use roster_core::roles::{Role, RoleInput};
use roster_core::{OrgId, RoleId, Within};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::users::{ListParams, SearchBody, UserList, search};
use super::{PageMeta, json_with};
use crate::AppState;
use crate::auth::{Auth, DirectoryAdmin, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, IfMatch, JsonBody, etag, parse_id};
use crate::problem::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub(crate) struct RoleList {
    data: Vec<Role>,
}

/// The body of `POST /v1/users/{id}/roles`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct Assignment {
    #[schema(format = Uuid)]
    role_id: String,
    /// The role's organization; when given, it must be the one the role is defined in.
    #[schema(format = Uuid)]
    organization_id: Option<String>,
}

fn role_response(status: StatusCode, role: &Role) -> Response {
    json_with(status, role, ETAG, &etag(role.version))
}

/// Define a role in an organization.
#[utoipa::path(
    post, path = "/v1/organizations/{id}/roles", tag = "roles",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = RoleInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Role,
            headers(("ETag" = String, description = "The role's version"), ("Location" = String))),
        (status = 400, description = "Invalid document", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken in the organization", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn create_role(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let org: OrgId = parse_id("id", &id)?;
    let role = state.directory.create_role(&auth.principal, org, body.value).await?;
    let mut response = role_response(StatusCode::CREATED, &role);
    if let Ok(location) = format!("/v1/roles/{}", role.id).parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// A page of the tenant's roles.
#[derive(Serialize, ToSchema)]
pub(crate) struct RolePage {
    data: Vec<Role>,
    meta: PageMeta,
}

/// The parameters of the tenant's role listing.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RolePageParams {
    /// The `next_after` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "crate::extract::from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only the roles defined in this organization.
    #[param(value_type = Option<String>, format = Uuid)]
    organization_id: Option<String>,
}

/// List the tenant's roles in creation order.
#[utoipa::path(
    get, path = "/v1/roles", tag = "roles",
    params(RolePageParams),
    responses(
        (status = 200, description = "A page of roles", body = RolePage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_all_roles(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<RolePageParams>,
) -> Result<Json<RolePage>, ApiError> {
    let after = params.after.as_deref().map(|a| parse_id("after", a)).transpose()?;
    let org =
        params.organization_id.as_deref().map(|o| parse_id("organization_id", o)).transpose()?;
    let limit = params.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT);
    let data = state.directory.all_roles(&auth.principal, org, after, limit).await?;
    let meta = PageMeta::of(&data, limit, |r| *r.id.as_uuid());
    Ok(Json(RolePage { data, meta }))
}

/// The roles defined in an organization, by name.
#[utoipa::path(
    get, path = "/v1/organizations/{id}/roles", tag = "roles",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The roles", body = RoleList),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_roles(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<RoleList>, ApiError> {
    let data = state.directory.roles(&auth.principal, parse_id("id", &id)?).await?;
    Ok(Json(RoleList { data }))
}

/// Get a role.
#[utoipa::path(
    get, path = "/v1/roles/{id}", tag = "roles",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The role", body = Role, headers(("ETag" = String))),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_role(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let role = state.directory.role(&auth.principal, parse_id("id", &id)?).await?;
    Ok(role_response(StatusCode::OK, &role))
}

/// Rename a role (a JSON Merge Patch of `{"name"}`).
#[utoipa::path(
    patch, path = "/v1/roles/{id}", tag = "roles",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = Object, content_type = "application/merge-patch+json", description = "A merge patch of the role document (`name`)"),
    responses(
        (status = 200, description = "The role", body = Role, headers(("ETag" = String))),
        (status = 400, description = "Invalid patch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken in the organization", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn update_role(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id: RoleId = parse_id("id", &id)?;
    let role = state.directory.update_role(&auth.principal, id, version, &body.value).await?;
    Ok(role_response(StatusCode::OK, &role))
}

/// Delete a role and its assignments.
#[utoipa::path(
    delete, path = "/v1/roles/{id}", tag = "roles",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn delete_role(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_role(&auth.principal, parse_id("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The users assigned a role: filtered, sorted and paged as `GET /v1/users`.
#[utoipa::path(
    get, path = "/v1/roles/{id}/users", tag = "roles",
    params(("id" = String, Path, format = Uuid), ListParams),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Bad id, parameter, filter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_role_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<UserList>, ApiError> {
    let within = Within::Role(parse_id("id", &id)?);
    search(&state, &auth, SearchBody::from(params), Some(within)).await
}

/// The roles assigned to a user, each naming its organization.
#[utoipa::path(
    get, path = "/v1/users/{id}/roles", tag = "roles",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The user's roles", body = RoleList),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn user_roles(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<RoleList>, ApiError> {
    let data = state.directory.user_roles(&auth.principal, parse_id("id", &id)?).await?;
    Ok(Json(RoleList { data }))
}

/// Assign a role to a user. Idempotent.
#[utoipa::path(
    post, path = "/v1/users/{id}/roles", tag = "roles",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = Assignment, content_type = "application/json"),
    responses(
        (status = 204, description = "The user has the role"),
        (status = 400, description = "Bad id or body, unknown role, or the role of another organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn assign_role(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let user = parse_id("id", &id)?;
    let request: Assignment = parse_document(body.value)?;
    let role: RoleId = parse_id("role_id", &request.role_id)?;
    let org =
        request.organization_id.as_deref().map(|o| parse_id("organization_id", o)).transpose()?;
    state.directory.assign_role(&auth.principal, user, role, org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a role from a user.
#[utoipa::path(
    delete, path = "/v1/users/{id}/roles/{role_id}", tag = "roles",
    params(("id" = String, Path, format = Uuid), ("role_id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "The user no longer has the role"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, role or assignment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn unassign_role(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, role)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (user, role) = (parse_id("id", &id)?, parse_id::<RoleId>("role_id", &role)?);
    state.directory.unassign_role(&auth.principal, user, role).await?;
    Ok(StatusCode::NO_CONTENT)
}
