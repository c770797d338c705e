//! `/v1/groups`: groups of users and groups, their members, and a user's groups.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{ETAG, LOCATION};
use axum::response::Response;
use roster_core::GroupId;
use roster_core::groups::{Group, GroupInput, GroupQuery, Member, Members};
use roster_core::input::parse_document;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PageParams, json_with, next_after};
use crate::AppState;
use crate::auth::{Auth, DirectoryAdmin, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, IfMatch, JsonBody, etag, from_str, parse_id};
use crate::problem::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub(crate) struct GroupList {
    data: Vec<Group>,
    meta: GroupMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct GroupMeta {
    /// Pass as `after` for the next page; `null` on the last page.
    next_after: Option<GroupId>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct MemberList {
    /// Users, then groups.
    data: Vec<Member>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UserGroups {
    data: Vec<Group>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserGroupsParams {
    /// Also the groups that the user's groups belong to, and so on up (default `false`).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    transitive: Option<bool>,
}

/// The body of `POST /v1/groups/{id}/members`: one of the two.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewMember {
    #[schema(format = Uuid)]
    user_id: Option<String>,
    #[schema(format = Uuid)]
    group_id: Option<String>,
}

fn group_response(status: StatusCode, group: &Group) -> Response {
    json_with(status, group, ETAG, &etag(group.version))
}

/// Create a group.
#[utoipa::path(
    post, path = "/v1/groups", tag = "groups",
    request_body(content = GroupInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Group,
            headers(("ETag" = String, description = "The group's version"), ("Location" = String))),
        (status = 400, description = "Invalid document", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn create_group(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let group = state.directory.create_group(&auth.principal, body.value, &[]).await?;
    let mut response = group_response(StatusCode::CREATED, &group);
    if let Ok(location) = format!("/v1/groups/{}", group.id).parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// List groups in creation order.
#[utoipa::path(
    get, path = "/v1/groups", tag = "groups",
    params(PageParams),
    responses(
        (status = 200, description = "A page of groups", body = GroupList),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_groups(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<GroupList>, ApiError> {
    let limit = params.limit();
    let query = GroupQuery { after: params.after()?, limit, ..GroupQuery::default() };
    let data = state.directory.groups(&auth.principal, &query).await?;
    let next_after = next_after(&data, limit, |g| g.id);
    Ok(Json(GroupList { data, meta: GroupMeta { next_after } }))
}

/// Get a group.
#[utoipa::path(
    get, path = "/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The group", body = Group, headers(("ETag" = String))),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_group(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let group = state.directory.group(&auth.principal, parse_id("id", &id)?).await?;
    Ok(group_response(StatusCode::OK, &group))
}

/// Change a group's name, description or custom data with a JSON Merge Patch (RFC 7396).
#[utoipa::path(
    patch, path = "/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The group", body = Group, headers(("ETag" = String))),
        (status = 400, description = "Invalid patch or resulting document", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn update_group(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let group = state
        .directory
        .update_group(&auth.principal, id, version, &body.value, Members::Keep)
        .await?;
    Ok(group_response(StatusCode::OK, &group))
}

/// Delete a group with its memberships (its members stay).
#[utoipa::path(
    delete, path = "/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn delete_group(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_group(&auth.principal, parse_id("id", &id)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A group's direct members: users, then groups.
#[utoipa::path(
    get, path = "/v1/groups/{id}/members", tag = "groups",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_members(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<MemberList>, ApiError> {
    let data = state.directory.group_members(&auth.principal, parse_id("id", &id)?).await?;
    Ok(Json(MemberList { data }))
}

/// Add a user (`{"user_id": …}`) or a group (`{"group_id": …}`) to a group. Idempotent; a group
/// cannot join itself or a group below it.
#[utoipa::path(
    post, path = "/v1/groups/{id}/members", tag = "groups",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = NewMember, content_type = "application/json"),
    responses(
        (status = 204, description = "A member"),
        (status = 400, description = "Bad id or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The membership would make a cycle", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let id = parse_id("id", &id)?;
    let request: NewMember = parse_document(body.value)?;
    let member = match (request.user_id, request.group_id) {
        (Some(user), None) => Member::User(
            user.parse()
                .map_err(|_| Problem::invalid("user_id", "invalid_format", "must be a UUID"))?,
        ),
        (None, Some(group)) => Member::Group(parse_id("group_id", &group)?),
        _ => {
            let message = "give exactly one of `user_id` and `group_id`";
            return Err(Problem::invalid("", "invalid_value", message).into());
        }
    };
    state.directory.add_group_member(&auth.principal, id, member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a direct member (a user or a group) from a group.
#[utoipa::path(
    delete, path = "/v1/groups/{id}/members/{member_id}", tag = "groups",
    params(("id" = String, Path, format = Uuid), ("member_id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "No longer a member"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group or member", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id("id", &id)?;
    let member = member
        .parse()
        .map_err(|_| Problem::invalid("member_id", "invalid_format", "must be a UUID"))?;
    state.directory.remove_group_member(&auth.principal, id, member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The groups a user is a member of (with `transitive=true`, also those above them).
#[utoipa::path(
    get, path = "/v1/users/{id}/groups", tag = "groups",
    params(("id" = String, Path, format = Uuid), UserGroupsParams),
    responses(
        (status = 200, description = "The user's groups", body = UserGroups),
        (status = 400, description = "Bad id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn user_groups(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<UserGroupsParams>,
) -> Result<Json<UserGroups>, ApiError> {
    let transitive = params.transitive.unwrap_or(false);
    let data =
        state.directory.user_groups(&auth.principal, parse_id("id", &id)?, transitive).await?;
    Ok(Json(UserGroups { data }))
}
