//! `/v1/applications` and `/v1/users/{id}/applications`: registered applications and users'
//! memberships of them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{ETAG, LOCATION};
use axum::response::{IntoResponse, Response};
use roster_core::ApplicationId;
use roster_core::applications::{AppMembership, Application, ApplicationInput, MembershipInput};
use serde::Serialize;
use utoipa::ToSchema;

use super::{PageParams, json_with, next_after};
use crate::AppState;
use crate::auth::{Auth, DirectoryAdmin, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, IfMatch, JsonBody, etag, parse_id};
use crate::problem::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub(crate) struct ApplicationList {
    data: Vec<Application>,
    meta: ApplicationMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ApplicationMeta {
    /// Pass as `after` for the next page; `null` on the last page.
    next_after: Option<ApplicationId>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct MembershipList {
    data: Vec<AppMembership>,
}

fn app_response(status: StatusCode, app: &Application) -> Response {
    json_with(status, app, ETAG, &etag(app.version))
}

/// Register an application.
#[utoipa::path(
    post, path = "/v1/applications", tag = "applications",
    request_body(content = ApplicationInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Application,
            headers(("ETag" = String, description = "The application's version"), ("Location" = String))),
        (status = 400, description = "Invalid document", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn create_application(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let app = state.directory.create_application(&auth.principal, body.value).await?;
    let mut response = app_response(StatusCode::CREATED, &app);
    if let Ok(location) = format!("/v1/applications/{}", app.id).parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// List applications in creation order.
#[utoipa::path(
    get, path = "/v1/applications", tag = "applications",
    params(PageParams),
    responses(
        (status = 200, description = "A page of applications", body = ApplicationList),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_applications(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<ApplicationList>, ApiError> {
    let limit = params.limit();
    let data = state.directory.applications(&auth.principal, params.after()?, limit).await?;
    let next_after = next_after(&data, limit, |a| a.id);
    Ok(Json(ApplicationList { data, meta: ApplicationMeta { next_after } }))
}

/// Get an application.
#[utoipa::path(
    get, path = "/v1/applications/{id}", tag = "applications",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The application", body = Application, headers(("ETag" = String))),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_application(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let app = state.directory.application(&auth.principal, parse_id("id", &id)?).await?;
    Ok(app_response(StatusCode::OK, &app))
}

/// Change an application's name or description with a JSON Merge Patch (RFC 7396).
#[utoipa::path(
    patch, path = "/v1/applications/{id}", tag = "applications",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The application", body = Application, headers(("ETag" = String))),
        (status = 400, description = "Invalid patch or resulting document", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn update_application(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let app = state.directory.update_application(&auth.principal, id, version, &body.value).await?;
    Ok(app_response(StatusCode::OK, &app))
}

/// Delete an application with every user's membership of it.
#[utoipa::path(
    delete, path = "/v1/applications/{id}", tag = "applications",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn delete_application(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_application(&auth.principal, parse_id("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's application memberships.
#[utoipa::path(
    get, path = "/v1/users/{id}/applications", tag = "applications",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The memberships", body = MembershipList),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_memberships(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<MembershipList>, ApiError> {
    let data = state.directory.app_memberships(&auth.principal, parse_id("id", &id)?).await?;
    Ok(Json(MembershipList { data }))
}

/// Add a user to an application (201), or replace its `app_data` and `external_account_id` (200).
#[utoipa::path(
    put, path = "/v1/users/{id}/applications/{app_id}", tag = "applications",
    params(("id" = String, Path, format = Uuid), ("app_id" = String, Path, format = Uuid)),
    request_body(content = MembershipInput, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = AppMembership),
        (status = 201, description = "Added", body = AppMembership),
        (status = 400, description = "Bad id or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or application", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Changed meanwhile", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn put_membership(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, app)): Path<(String, String)>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (user, app) = (parse_id("id", &id)?, parse_id("app_id", &app)?);
    let (membership, new) =
        state.directory.put_app_membership(&auth.principal, user, app, body.value).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(membership)).into_response())
}

/// A user's membership of one application.
#[utoipa::path(
    get, path = "/v1/users/{id}/applications/{app_id}", tag = "applications",
    params(("id" = String, Path, format = Uuid), ("app_id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The membership", body = AppMembership),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, application or membership", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_membership(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path((id, app)): Path<(String, String)>,
) -> Result<Json<AppMembership>, ApiError> {
    let (user, app) = (parse_id("id", &id)?, parse_id("app_id", &app)?);
    Ok(Json(state.directory.app_membership(&auth.principal, user, app).await?))
}

/// Remove a user from an application: that membership and its data, nothing else.
#[utoipa::path(
    delete, path = "/v1/users/{id}/applications/{app_id}", tag = "applications",
    params(("id" = String, Path, format = Uuid), ("app_id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, application or membership", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn remove_membership(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, app)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (user, app) = (parse_id("id", &id)?, parse_id("app_id", &app)?);
    state.directory.remove_app_membership(&auth.principal, user, app).await?;
    Ok(StatusCode::NO_CONTENT)
}
