//! `/v1/invitations`: invite an address to an organization and roles, accept, re-invite; and
//! the invitations of an organization or a user.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use roster_core::invitations::{Invitation, InvitationInput, InvitationsOf};
use serde::Serialize;
use utoipa::ToSchema;

use super::{PageMeta, PageParams};
use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, JsonBody, parse_id};
use crate::problem::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub(crate) struct InvitationList {
    data: Vec<Invitation>,
}

/// A page of the tenant's invitations.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvitationPage {
    data: Vec<Invitation>,
    meta: PageMeta,
}

/// List the tenant's invitations in creation order.
#[utoipa::path(
    get, path = "/v1/invitations", tag = "invitations",
    params(PageParams),
    responses(
        (status = 200, description = "A page of invitations", body = InvitationPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_invitations(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<InvitationPage>, ApiError> {
    let limit = params.limit();
    let data = state.directory.all_invitations(&auth.principal, params.after()?, limit).await?;
    let meta = PageMeta::of(&data, limit, |i| *i.id.as_uuid());
    Ok(Json(InvitationPage { data, meta }))
}

/// Invite an e-mail address to an organization and roles.
///
/// Creates the user in state `initial`, owned by the organization, or links the user that has
/// the address. Roster sends no mail: a mailer follows the `invitation.created` event.
#[utoipa::path(
    post, path = "/v1/invitations", tag = "invitations",
    request_body(content = InvitationInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Invited", body = Invitation, headers(("Location" = String))),
        (status = 400, description = "Invalid address, unknown organization or role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address is another user's username", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn invite(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let invitation = state.directory.invite(&auth.principal, body.value).await?;
    let mut response = (StatusCode::CREATED, Json(&invitation)).into_response();
    if let Ok(location) = format!("/v1/invitations/{}", invitation.id).parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// Get an invitation.
#[utoipa::path(
    get, path = "/v1/invitations/{id}", tag = "invitations",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The invitation", body = Invitation),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invitation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_invitation(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<Invitation>, ApiError> {
    Ok(Json(state.directory.invitation(&auth.principal, parse_id("id", &id)?).await?))
}

/// Accept an invitation: a user still `initial` becomes `active` and gets the roles.
#[utoipa::path(
    post, path = "/v1/invitations/{id}/accept", tag = "invitations",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "Accepted", body = Invitation),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invitation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Accepted already, or expired", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn accept_invitation(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
) -> Result<Json<Invitation>, ApiError> {
    Ok(Json(state.directory.accept_invitation(&auth.principal, parse_id("id", &id)?).await?))
}

/// Issue an invitation again with a fresh expiry; only while its user is `initial`.
#[utoipa::path(
    post, path = "/v1/invitations/{id}/reinvite", tag = "invitations",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "Issued again", body = Invitation),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invitation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user is no longer waiting for registration", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn reinvite(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
) -> Result<Json<Invitation>, ApiError> {
    Ok(Json(state.directory.reinvite(&auth.principal, parse_id("id", &id)?).await?))
}

/// The invitations to an organization, oldest first.
#[utoipa::path(
    get, path = "/v1/organizations/{id}/invitations", tag = "invitations",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The invitations", body = InvitationList),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn organization_invitations(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<InvitationList>, ApiError> {
    let org = id.parse().map_err(|_| Problem::invalid("id", "invalid_format", "must be a UUID"))?;
    let data =
        state.directory.invitations(&auth.principal, InvitationsOf::Organization(org)).await?;
    Ok(Json(InvitationList { data }))
}

/// A user's invitations, oldest first.
#[utoipa::path(
    get, path = "/v1/users/{id}/invitations", tag = "invitations",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The invitations", body = InvitationList),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn user_invitations(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<InvitationList>, ApiError> {
    let of = InvitationsOf::User(parse_id("id", &id)?);
    Ok(Json(InvitationList { data: state.directory.invitations(&auth.principal, of).await? }))
}
