//! `/v1/users`: create, read, replace, merge-patch, delete, state transitions, lookups, listing.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{ETAG, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::directory::Idempotency;
use roster_core::input::{UserInput, parse_document};
use roster_core::{Error, FieldError, Lookup, Transition, User, UserId, UserPage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, IdempotencyKey, IfMatch, JsonBody, etag, from_str};
use crate::problem::{ApiError, Problem};

/// Fields of a user that only Roster writes. Sending one is an error, never silently ignored.
const READ_ONLY: &[&str] =
    &["id", "version", "created_at", "updated_at", "last_auth_at", "has_secret"];
/// Fields a client may write but never reads back.
const WRITE_ONLY: &[&str] = &["password", "national_id"];
/// Page size bounds.
const MAX_LIMIT: u32 = 1000;
const DEFAULT_LIMIT: u32 = 100;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReadParams {
    /// Also return a deleted user's tombstone.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    include_deleted: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Users to skip.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u64>)]
    offset: Option<u64>,
    /// Include deleted tombstones.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    include_deleted: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UserList {
    data: Vec<User>,
    meta: ListMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ListMeta {
    limit: u32,
    offset: u64,
}

/// A user with its version as `ETag`.
fn user_response(status: StatusCode, user: &User) -> Response {
    let mut response = (status, Json(user)).into_response();
    if let Ok(tag) = HeaderValue::from_str(&etag(user.version)) {
        response.headers_mut().insert(ETAG, tag);
    }
    response
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse().map_err(|_| Problem::invalid("id", "invalid_format", "must be a UUID").into())
}

/// Read-only fields present in a body, as field errors.
fn read_only_fields(body: &Value) -> Result<(), Error> {
    let Some(object) = body.as_object() else {
        return Err(Error::invalid("", "invalid_type", "the body must be a JSON object"));
    };
    let errors: Vec<FieldError> = READ_ONLY
        .iter()
        .filter(|f| object.contains_key(**f))
        .map(|f| FieldError::new(*f, "read_only", "is set by Roster and cannot be written"))
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(Error::Invalid(errors)) }
}

/// Create a user.
///
/// With an `Idempotency-Key`, a retry with the same key and body within 24 hours returns the
/// first response without creating twice; the same key with another body is a 409.
#[utoipa::path(
    post, path = "/v1/users", tag = "users",
    request_body(content = UserInput, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this create safe")),
    responses(
        (status = 201, description = "Created", body = User,
            headers(("ETag" = String, description = "The user's version"), ("Location" = String))),
        (status = 400, description = "Invalid document", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique value is taken, or the idempotency key was reused", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody,
) -> Result<Response, ApiError> {
    read_only_fields(&body.value)?;
    let input: UserInput = parse_document(body.value)?;
    let idempotency = key.map(|key| Idempotency { key, fingerprint: body.sha256 });
    let created = state.directory.create_user(&auth.principal, input, idempotency).await?;
    let mut response = user_response(StatusCode::CREATED, &created.user);
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/users/{}", created.user.id)) {
        headers.insert(LOCATION, location);
    }
    if created.replayed {
        headers.insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Get a user.
#[utoipa::path(
    get, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, format = Uuid), ReadParams),
    responses(
        (status = 200, description = "The user", body = User, headers(("ETag" = String))),
        (status = 400, description = "Bad id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> Result<Response, ApiError> {
    let include_deleted = params.include_deleted.unwrap_or(false);
    let user = state.directory.user(&auth.principal, user_id(&id)?, include_deleted).await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Replace a user's writable fields.
///
/// Absent optional fields are cleared, except the write-only `password` and `national_id`,
/// which are kept unless given (`null` removes them). The state changes only through the
/// state endpoints.
#[utoipa::path(
    put, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = UserInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The user", body = User, headers(("ETag" = String))),
        (status = 400, description = "Invalid document", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique value is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn replace_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    read_only_fields(&body.value)?;
    let document = body.value;
    let user = state
        .directory
        .update_user(&auth.principal, id, version, |_| parse_document(document.clone()))
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Change a user with a JSON Merge Patch (RFC 7396).
///
/// The patch applies to the user's writable document; `null` removes a field.
#[utoipa::path(
    patch, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The user", body = User, headers(("ETag" = String))),
        (status = 400, description = "Invalid patch or resulting document", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique value is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn patch_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    read_only_fields(&body.value)?;
    let mut patch = body.value;
    // Write-only fields are not in the current document; they pass through as given, so that
    // `null` removes them (a merge patch would treat `null` as "absent", which keeps them).
    let write_only: Vec<(&str, Value)> = WRITE_ONLY
        .iter()
        .filter_map(|f| patch.as_object_mut()?.remove(*f).map(|v| (*f, v)))
        .collect();
    let user = state
        .directory
        .update_user(&auth.principal, id, version, |current| {
            let mut document = writable_document(current)?;
            json_patch::merge(&mut document, &patch);
            if let Some(object) = document.as_object_mut() {
                for (field, value) in &write_only {
                    object.insert((*field).to_owned(), value.clone());
                }
            }
            parse_document(document)
        })
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// The document a merge patch applies to: the user without what only Roster writes.
fn writable_document(user: &User) -> Result<Value, Error> {
    let mut document = serde_json::to_value(user).map_err(Error::internal)?;
    if let Some(object) = document.as_object_mut() {
        for field in READ_ONLY.iter().chain(WRITE_ONLY).chain(&["state"]) {
            object.remove(*field);
        }
    }
    Ok(document)
}

/// Delete a user, leaving a tombstone.
///
/// Personal data and secrets are erased; the id and events stay. Later reads answer 404, or the
/// tombstone with `include_deleted=true`. The username, e-mails and phones become free.
#[utoipa::path(
    delete, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
) -> Result<StatusCode, ApiError> {
    state.directory.transition(&auth.principal, user_id(&id)?, version, Transition::Delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The state actions of the lifecycle.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    Activate,
    Deactivate,
    Lock,
    Unlock,
    Approve,
}

/// Move a user through its lifecycle.
///
/// `activate`: initial or inactive → active. `approve`: pending → active. `deactivate`:
/// initial, pending, active or locked → inactive. `lock`: active → locked. `unlock`: locked →
/// active. Anything else is a 409 naming the current state.
#[utoipa::path(
    post, path = "/v1/users/{id}/{action}", tag = "users",
    params(("id" = String, Path, format = Uuid), ("action" = Action, Path),
        ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    responses(
        (status = 200, description = "The user in its new state", body = User, headers(("ETag" = String))),
        (status = 400, description = "Bad id or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or action", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the current state", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn transition_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, action)): Path<(String, String)>,
    IfMatch(version): IfMatch,
) -> Result<Response, ApiError> {
    let transition =
        Transition::parse(&action).filter(|t| *t != Transition::Delete).ok_or_else(|| {
            Problem::new(StatusCode::NOT_FOUND, "not-found", format!("no action `{action}`"))
        })?;
    let user =
        state.directory.transition(&auth.principal, user_id(&id)?, version, transition).await?;
    Ok(user_response(StatusCode::OK, &user))
}

macro_rules! lookup {
    ($name:ident, $path:literal, $param:literal, $variant:ident, $what:literal) => {
        #[doc = concat!("Find a user by ", $what, ".")]
        #[utoipa::path(
            get, path = $path, tag = "users",
            params(($param = String, Path)),
            responses(
                (status = 200, description = "The user", body = User, headers(("ETag" = String))),
                (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = []))
        )]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            auth: Auth<UsersRead>,
            Path(value): Path<String>,
        ) -> Result<Response, ApiError> {
            let user = state.directory.find_user(&auth.principal, Lookup::$variant(&value)).await?;
            Ok(user_response(StatusCode::OK, &user))
        }
    };
}

lookup!(
    user_by_username,
    "/v1/users/by-username/{username}",
    "username",
    Username,
    "username (case-insensitive)"
);
lookup!(
    user_by_email,
    "/v1/users/by-email/{email}",
    "email",
    Email,
    "a primary or secondary e-mail address"
);
lookup!(user_by_phone, "/v1/users/by-phone/{phone}", "phone", Phone, "phone number");
lookup!(
    user_by_external_id,
    "/v1/users/by-external-id/{external_id}",
    "external_id",
    ExternalId,
    "external user id"
);

/// List users, oldest first.
#[utoipa::path(
    get, path = "/v1/users", tag = "users",
    params(ListParams),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<UserList>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::invalid(
            "limit",
            "out_of_range",
            format!("must be from 1 to {MAX_LIMIT}"),
        )
        .into());
    }
    let offset = params.offset.unwrap_or(0);
    let page = UserPage { limit, offset, include_deleted: params.include_deleted.unwrap_or(false) };
    let data = state.directory.users(&auth.principal, &page).await?;
    Ok(Json(UserList { data, meta: ListMeta { limit, offset } }))
}
