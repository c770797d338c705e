//! `/v1/organizations`: the organization tree, its users and memberships.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{ETAG, LOCATION};
use axum::response::{IntoResponse, Response};
use roster_core::organizations::{Organization, OrganizationInput};
use roster_core::{OrgId, Within};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::users::{SearchBody, UserList, search};
use super::{PageParams, json_with, next_after};
use crate::AppState;
use crate::auth::{Auth, DirectoryAdmin, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, IfMatch, JsonBody, etag, from_str, parse_id};
use crate::problem::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub(crate) struct OrganizationList {
    data: Vec<Organization>,
    meta: OrganizationMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct OrganizationMeta {
    /// Pass as `after` for the next page; `null` on the last page.
    next_after: Option<OrgId>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Memberships {
    /// The organizations the user is a member of (not the one that owns it).
    data: Vec<Organization>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only the children of this organization.
    #[param(format = Uuid)]
    parent_id: Option<String>,
    /// The `next_after` of the previous page.
    #[param(format = Uuid)]
    after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteParams {
    /// Also delete the organizations below it and the users they own.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    cascade: Option<bool>,
}

/// The body of `POST /v1/organizations/{id}/move`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct MoveRequest {
    /// The new parent.
    #[schema(format = Uuid)]
    parent_id: String,
}

/// The parameters of `GET /v1/organizations/{id}/users`: those of `GET /v1/users`, and
/// `recursive`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsersParams {
    /// Also the users of the organizations below it (default `false`).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    recursive: Option<bool>,
    /// A SCIM filter over the native attribute names.
    #[param(min_length = 1)]
    filter: Option<String>,
    /// As for `GET /v1/users`.
    #[param(value_type = Option<roster_core::query::SortKey>)]
    sort_by: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(value_type = Option<roster_core::query::Order>)]
    order: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Users to skip; excludes `cursor`.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u64>, maximum = 9223372036854775807_u64)]
    offset: Option<u64>,
    /// The `next_cursor` of the previous page of the same listing.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Also count all matches (`total_count`).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    count: Option<bool>,
}

fn organization_response(status: StatusCode, org: &Organization) -> Response {
    json_with(status, org, ETAG, &etag(org.version))
}

fn page(data: Vec<Organization>, limit: u32) -> OrganizationList {
    let next_after = next_after(&data, limit, |o| o.id);
    OrganizationList { data, meta: OrganizationMeta { next_after } }
}

/// Create an organization, under `parent_id` or the root.
#[utoipa::path(
    post, path = "/v1/organizations", tag = "organizations",
    request_body(content = OrganizationInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Organization,
            headers(("ETag" = String, description = "The organization's version"), ("Location" = String))),
        (status = 400, description = "Invalid document or unknown parent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The technical name is taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn create_organization(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let org = state.directory.create_organization(&auth.principal, body.value).await?;
    let mut response = organization_response(StatusCode::CREATED, &org);
    if let Ok(location) = format!("/v1/organizations/{}", org.id).parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// List organizations in creation order: all, or the children of `parent_id`.
#[utoipa::path(
    get, path = "/v1/organizations", tag = "organizations",
    params(ListParams),
    responses(
        (status = 200, description = "A page of organizations", body = OrganizationList),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such parent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_organizations(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<OrganizationList>, ApiError> {
    let parent = params.parent_id.as_deref().map(|p| parse_id("parent_id", p)).transpose()?;
    let after = params.after.as_deref().map(|a| parse_id("after", a)).transpose()?;
    let limit = params.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT);
    let orgs = state.directory.organizations(&auth.principal, parent, after, limit).await?;
    Ok(Json(page(orgs, limit)))
}

/// Get an organization.
#[utoipa::path(
    get, path = "/v1/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The organization", body = Organization, headers(("ETag" = String))),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_organization(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let org = state.directory.organization(&auth.principal, parse_id("id", &id)?).await?;
    Ok(organization_response(StatusCode::OK, &org))
}

/// Change an organization with a JSON Merge Patch (RFC 7396): names, type, `virtual`,
/// attributes. It moves with `POST /v1/organizations/{id}/move`.
#[utoipa::path(
    patch, path = "/v1/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The organization", body = Organization, headers(("ETag" = String))),
        (status = 400, description = "Invalid patch or resulting document", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The technical name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn update_organization(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let org =
        state.directory.update_organization(&auth.principal, id, version, &body.value).await?;
    Ok(organization_response(StatusCode::OK, &org))
}

/// Delete an organization. One with sub-organizations, users or members needs `cascade=true`,
/// which also deletes the organizations below it and the users they own (at most 1000).
#[utoipa::path(
    delete, path = "/v1/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, format = Uuid), DeleteParams),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The root, or not empty without `cascade`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn delete_organization(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id("id", &id)?;
    let cascade = params.cascade.unwrap_or(false);
    state.directory.delete_organization(&auth.principal, id, cascade).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List an organization's children, in creation order.
#[utoipa::path(
    get, path = "/v1/organizations/{id}/children", tag = "organizations",
    params(("id" = String, Path, format = Uuid), PageParams),
    responses(
        (status = 200, description = "A page of organizations", body = OrganizationList),
        (status = 400, description = "Bad id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_children(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<OrganizationList>, ApiError> {
    let id = parse_id("id", &id)?;
    let (after, limit) = (params.after()?, params.limit());
    let orgs = state.directory.organizations(&auth.principal, Some(id), after, limit).await?;
    Ok(Json(page(orgs, limit)))
}

/// Move an organization, with everything below it, under another parent.
#[utoipa::path(
    post, path = "/v1/organizations/{id}/move", tag = "organizations",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = MoveRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The organization, moved", body = Organization, headers(("ETag" = String))),
        (status = 400, description = "Bad id, body or unknown parent", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The root, or a move below itself", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn move_organization(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let request: MoveRequest = roster_core::input::parse_document(body.value)?;
    let parent = parse_id("parent_id", &request.parent_id)?;
    let org = state.directory.move_organization(&auth.principal, id, version, parent).await?;
    Ok(organization_response(StatusCode::OK, &org))
}

/// List the users an organization owns or has as members (with `recursive=true`, also those
/// of the organizations below it): filtered, sorted and paged as `GET /v1/users`.
#[utoipa::path(
    get, path = "/v1/organizations/{id}/users", tag = "organizations",
    params(("id" = String, Path, format = Uuid), UsersParams),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Bad id, parameter, filter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_organization_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<UsersParams>,
) -> Result<Json<UserList>, ApiError> {
    let within =
        Within::Organization { id: parse_id("id", &id)?, recursive: p.recursive.unwrap_or(false) };
    let body = SearchBody {
        filter: p.filter,
        sort_by: p.sort_by,
        order: p.order,
        limit: p.limit,
        offset: p.offset,
        cursor: p.cursor,
        count: p.count,
        include_deleted: None,
    };
    search(&state, &auth, body, Some(within)).await
}

/// Make a user a member of an organization (besides the one that owns it). Idempotent.
#[utoipa::path(
    put, path = "/v1/organizations/{id}/members/{user_id}", tag = "organizations",
    params(("id" = String, Path, format = Uuid), ("user_id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "The user is a member"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (id, user) = (parse_id("id", &id)?, parse_id("user_id", &user)?);
    state.directory.add_member(&auth.principal, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End a user's membership of an organization.
#[utoipa::path(
    delete, path = "/v1/organizations/{id}/members/{user_id}", tag = "organizations",
    params(("id" = String, Path, format = Uuid), ("user_id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "No longer a member"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or membership", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (id, user) = (parse_id("id", &id)?, parse_id("user_id", &user)?);
    state.directory.remove_member(&auth.principal, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organizations a user is a member of (its owning organization is its `organization_id`).
#[utoipa::path(
    get, path = "/v1/users/{id}/organizations", tag = "organizations",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The user's memberships", body = Memberships),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn user_memberships(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let orgs = state.directory.memberships(&auth.principal, parse_id("id", &id)?).await?;
    Ok(Json(Memberships { data: orgs }).into_response())
}
