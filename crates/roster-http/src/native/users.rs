//! `/v1/users`: create, read, replace, merge-patch, delete, state transitions, lookups, listing.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{ETAG, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use roster_core::directory::Idempotency;
use roster_core::input::{UserInput, parse_document, reject_read_only};
use roster_core::query::{Order, SortKey, parse_filter};
use roster_core::{Error, FieldError, Lookup, Search, Transition, User, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::{ApiQuery, IdempotencyKey, IfMatch, JsonBody, etag, from_str, parse_id};
use crate::problem::{ApiError, Problem};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReadParams {
    /// Also return a deleted user's tombstone.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    include_deleted: Option<bool>,
}

/// The listing parameters, in the query string of `GET /v1/users`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// A SCIM filter over the native attribute names, e.g. `name.family sw "Schm"`; a user's
    /// application memberships are `memberships[application_id eq "…" and app_data.plan eq
    /// "pro"]` (fields `application_id`, `external_account_id`, `app_data.…`).
    #[param(min_length = 1)]
    filter: Option<String>,
    /// `created_at` (default), `updated_at`, `username`, `email`, `family_name`, `phone` or
    /// `last_auth_at`; the id breaks ties.
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
    /// The `next_cursor` of the previous page of the same query.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Also count all matches (`total_count`).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    count: Option<bool>,
    /// Include deleted tombstones.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    include_deleted: Option<bool>,
}

/// The body of `POST /v1/users/search`: the listing parameters as JSON, for long filters.
#[derive(Deserialize, ToSchema, Default)]
pub(crate) struct SearchBody {
    #[schema(min_length = 1)]
    pub(crate) filter: Option<String>,
    #[schema(value_type = Option<roster_core::query::SortKey>)]
    pub(crate) sort_by: Option<String>,
    #[schema(value_type = Option<roster_core::query::Order>)]
    pub(crate) order: Option<String>,
    #[schema(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    #[schema(maximum = 9223372036854775807_u64)]
    pub(crate) offset: Option<u64>,
    #[schema(min_length = 1)]
    pub(crate) cursor: Option<String>,
    pub(crate) count: Option<bool>,
    pub(crate) include_deleted: Option<bool>,
}

impl From<ListParams> for SearchBody {
    fn from(p: ListParams) -> Self {
        SearchBody {
            filter: p.filter,
            sort_by: p.sort_by,
            order: p.order,
            limit: p.limit,
            offset: p.offset,
            cursor: p.cursor,
            count: p.count,
            include_deleted: p.include_deleted,
        }
    }
}

impl SearchBody {
    fn into_search(self) -> Result<Search, Error> {
        let mut errors = Vec::new();
        let sort = match self.sort_by.as_deref() {
            None => SortKey::CreatedAt,
            Some(s) => SortKey::parse(s).unwrap_or_else(|| {
                let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.as_str()).collect();
                errors.push(FieldError::new(
                    "sort_by",
                    "invalid_value",
                    format!("must be one of {}", names.join(", ")),
                ));
                SortKey::CreatedAt
            }),
        };
        let order = match self.order.as_deref() {
            None | Some("asc") => Order::Asc,
            Some("desc") => Order::Desc,
            Some(_) => {
                errors.push(FieldError::new("order", "invalid_value", "must be `asc` or `desc`"));
                Order::Asc
            }
        };
        let filter = match self.filter.as_deref().map(parse_filter).transpose() {
            Ok(f) => f,
            Err(Error::Invalid(e)) => {
                errors.extend(e);
                None
            }
            Err(e) => return Err(e),
        };
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        Ok(Search {
            filter,
            sort,
            order,
            limit: self.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT),
            offset: self.offset,
            cursor: self.cursor,
            count: self.count.unwrap_or(false),
            include_deleted: self.include_deleted.unwrap_or(false),
            ..Search::default()
        })
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UserList {
    data: Vec<User>,
    meta: ListMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ListMeta {
    limit: u32,
    /// Present when paging by offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    /// Continues after this page; `null` on the last page.
    next_cursor: Option<String>,
    /// With `count=true`: every match, regardless of the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    total_count: Option<u64>,
    sort_by: SortKey,
    order: Order,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UserCount {
    total_count: u64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CountParams {
    /// A SCIM filter over the native attribute names.
    #[param(min_length = 1)]
    filter: Option<String>,
    /// Count deleted tombstones too.
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<bool>)]
    include_deleted: Option<bool>,
}

/// A user with its version as `ETag`.
pub(crate) fn user_response(status: StatusCode, user: &User) -> Response {
    super::json_with(status, user, ETAG, &etag(user.version))
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
        (status = 409, description = "A unique value is taken, or the idempotency key was reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody,
) -> Result<Response, ApiError> {
    reject_read_only(&body.value)?;
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

/// Most users one bulk request may create.
pub(crate) const MAX_BULK: usize = 1000;

/// The body of `POST /v1/users/bulk`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct BulkRequest {
    /// Up to 1000 create documents.
    #[schema(value_type = Vec<UserInput>)]
    users: Vec<Value>,
    /// All or nothing (default: each item on its own).
    #[serde(default)]
    atomic: bool,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BulkResponse {
    /// One result per item, in request order.
    results: Vec<BulkResult>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BulkResult {
    /// 201 when created; else the status the item alone would have had (424: not created
    /// because another item of an atomic request failed).
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<Problem>,
}

/// Create up to 1000 users in one request.
///
/// Items are written in batched transactions. By default each item stands alone; with
/// `"atomic": true` all are created or none.
#[utoipa::path(
    post, path = "/v1/users/bulk", tag = "users",
    request_body(content = BulkRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per item", body = BulkResponse),
        (status = 400, description = "Not a bulk request, or more than 1000 items", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn bulk_create_users(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    body: JsonBody,
) -> Result<Json<BulkResponse>, ApiError> {
    let request: BulkRequest = parse_document(body.value)?;
    if request.users.len() > MAX_BULK {
        return Err(Problem::invalid(
            "users",
            "too_many",
            format!("at most {MAX_BULK} users per request"),
        )
        .into());
    }
    let items = request
        .users
        .into_iter()
        .map(|doc| reject_read_only(&doc).and_then(|()| parse_document::<UserInput>(doc)))
        .collect();
    let outcomes = state.directory.create_users(&auth.principal, items, request.atomic).await?;
    let results = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(user) => BulkResult { status: 201, id: Some(user.id), problem: None },
            Err(e) => {
                let problem = Problem::from(e);
                BulkResult { status: problem.status, id: None, problem: Some(problem) }
            }
        })
        .collect();
    Ok(Json(BulkResponse { results }))
}

/// Get a user.
#[utoipa::path(
    get, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, format = Uuid), ReadParams),
    responses(
        (status = 200, description = "The user", body = User, headers(("ETag" = String))),
        (status = 400, description = "Bad id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> Result<Response, ApiError> {
    let include_deleted = params.include_deleted.unwrap_or(false);
    let user = state.directory.user(&auth.principal, parse_id("id", &id)?, include_deleted).await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Export everything Roster holds about a person (a subject access request): the record with
/// its credential metadata and every event about them. Works on deleted users' tombstones.
#[utoipa::path(
    get, path = "/v1/users/{id}/export", tag = "users",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The person's data", body = roster_core::directory::PersonalData),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn export_user(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<roster_core::directory::PersonalData>, ApiError> {
    Ok(Json(state.directory.export_user(&auth.principal, parse_id("id", &id)?).await?))
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
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique value is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn replace_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    reject_read_only(&body.value)?;
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
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique value is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn patch_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let user = state.directory.merge_user(&auth.principal, id, version, body.value).await?;
    Ok(user_response(StatusCode::OK, &user))
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
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
) -> Result<StatusCode, ApiError> {
    state
        .directory
        .transition(&auth.principal, parse_id("id", &id)?, version, Transition::Delete)
        .await?;
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
        (status = 404, description = "No such user or action", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the current state", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn transition_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path((id, action)): Path<(String, String)>,
    IfMatch(version, _): IfMatch,
) -> Result<Response, ApiError> {
    // Delete and offboard have routes of their own.
    let own_route = [Transition::Delete, Transition::Offboard];
    let transition =
        Transition::parse(&action).filter(|t| !own_route.contains(t)).ok_or_else(|| {
            Problem::new(StatusCode::NOT_FOUND, "not-found", format!("no action `{action}`"))
        })?;
    let user = state
        .directory
        .transition(&auth.principal, parse_id("id", &id)?, version, transition)
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Offboard a user: erase their personal data, asynchronously.
///
/// The user goes to `offboarding` at once (event `user.state_changed`), and a job then erases
/// their personal data, leaving the tombstone (`deleted`, event `user.deleted`). The answer is
/// the user in `offboarding`, with the job's address in `Location` (`GET /v1/jobs/{id}`).
#[utoipa::path(
    post, path = "/v1/users/{id}/offboard", tag = "users",
    params(("id" = String, Path, format = Uuid),
        ("If-Match" = Option<String>, Header, description = "An ETag from an earlier response")),
    responses(
        (status = 202, description = "Offboarding; the job is at `Location`", body = User, headers(("ETag" = String), ("Location" = String))),
        (status = 400, description = "Bad id or header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the current state", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn offboard_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch,
) -> Result<Response, ApiError> {
    let (user, job) =
        state.directory.offboard(&auth.principal, parse_id("id", &id)?, version).await?;
    let mut response = user_response(StatusCode::ACCEPTED, &user);
    if let Ok(location) = axum::http::HeaderValue::from_str(&format!("/v1/jobs/{}", job.id)) {
        response.headers_mut().insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}

macro_rules! lookup {
    ($name:ident, $path:literal, $param:literal, $variant:ident, $what:literal) => {
        #[doc = concat!("Find a user by ", $what, ".")]
        #[utoipa::path(
            get, path = $path, tag = "users",
            params(($param = String, Path)),
            responses(
                (status = 200, description = "The user", body = User, headers(("ETag" = String))),
                (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = ["users:read"]))
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

/// The account at an identity provider that `GET /v1/users/by-identity` looks up.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct IdentityParams {
    /// The provider's URL, exactly as linked.
    provider: String,
    /// The user's id at the provider, exactly.
    subject: String,
}

/// Find a user by an account at an external identity provider (both parts compared exactly).
#[utoipa::path(
    get, path = "/v1/users/by-identity", tag = "users",
    params(IdentityParams),
    responses(
        (status = 200, description = "The user", body = User, headers(("ETag" = String))),
        (status = 400, description = "A parameter is missing", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn user_by_identity(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<IdentityParams>,
) -> Result<Response, ApiError> {
    let lookup = Lookup::Identity { provider: &params.provider, subject: &params.subject };
    let user = state.directory.find_user(&auth.principal, lookup).await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// List users: filtered, sorted, paged by offset or by cursor.
///
/// A cursor page costs the same at any depth; offsets get slower the deeper they go.
#[utoipa::path(
    get, path = "/v1/users", tag = "users",
    params(ListParams),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Bad parameter, filter or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<UserList>, ApiError> {
    search(&state, &auth, SearchBody::from(params), None).await
}

/// Search users with the listing parameters in a JSON body (for filters too long for a URL).
#[utoipa::path(
    post, path = "/v1/users/search", tag = "users",
    request_body(content = SearchBody, content_type = "application/json"),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Bad parameter, filter or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn search_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    body: JsonBody,
) -> Result<Json<UserList>, ApiError> {
    search(&state, &auth, parse_document(body.value)?, None).await
}

/// A page of the users `body` selects, within an organization's when given (see
/// [`Search::within`]).
pub(crate) async fn search(
    state: &AppState,
    auth: &Auth<UsersRead>,
    body: SearchBody,
    within: Option<roster_core::Within>,
) -> Result<Json<UserList>, ApiError> {
    let search = Search { within, ..body.into_search()? };
    let found = state.directory.search(&auth.principal, &search).await?;
    let meta = ListMeta {
        limit: search.limit,
        offset: search.cursor.is_none().then(|| search.offset.unwrap_or(0)),
        next_cursor: found.next_cursor,
        total_count: found.total_count,
        sort_by: search.sort,
        order: search.order,
    };
    Ok(Json(UserList { data: found.users, meta }))
}

/// Count the users a filter matches.
#[utoipa::path(
    get, path = "/v1/users/count", tag = "users",
    params(CountParams),
    responses(
        (status = 200, description = "The number of matches", body = UserCount),
        (status = 400, description = "Bad parameter or filter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn count_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<CountParams>,
) -> Result<Json<UserCount>, ApiError> {
    let filter = params.filter.as_deref().map(parse_filter).transpose()?;
    let include_deleted = params.include_deleted.unwrap_or(false);
    let total_count =
        state.directory.count(&auth.principal, filter.as_ref(), include_deleted).await?;
    Ok(Json(UserCount { total_count }))
}
