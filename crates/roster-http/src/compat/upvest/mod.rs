//! The investment platform's Users API at `/compat/upvest` ("bring your own licence" users):
//! create, list, get, data changes and offboarding, its token endpoint, and its problem
//! documents. Requests of a token holding a public key are signed as the platform's helper
//! signs them (the surface kit checks that for every surface).
//!
//! - [`wire`]: request bodies and the platform's rules for them.
//! - [`map`]: users out, create documents and data changes in.
//! - [`error`]: problem documents with the platform's `type` slugs, and `upvest-request-id`.
//!
//! See docs/compat/upvest.md for every operation, decision and difference.

mod error;
mod map;
mod webhooks;
mod wire;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use roster_core::directory::Idempotency;
use roster_core::input::parse_document;
use roster_core::query::{Order, SortKey};
use roster_core::user::UserState;
use roster_core::{Search, UserId, UserInput};
use serde_json::{Value, json};
use uuid::Uuid;

use self::error::{Result, UpvestError};
pub(crate) use self::error::{Upvest, finish};
use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::body::{Format, negotiate};
use crate::extract::JsonBody;

/// The dialect's routes, relative to `/compat/upvest`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{user_id}", get(get_user).delete(offboard_user))
        .route("/users/{user_id}/data_change_requests", post(change_data))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{webhook_id}",
            get(webhooks::get).patch(webhooks::update).delete(webhooks::delete),
        )
        .route("/auth/token", post(crate::oauth::upvest_token))
}

/// The platform's webhook delivery format, for the node to register.
pub(crate) fn webhook_format() -> std::sync::Arc<dyn roster_core::webhooks::PayloadFormat> {
    webhooks::format()
}

/// `offset` (from 0) and `limit` (0 to 1000, default 100) of a listing; a 400 naming either.
fn page(params: &[(String, String)]) -> Result<(u64, u64)> {
    let number =
        |name: &str, default: u64, max: u64| match params.iter().rev().find(|(n, _)| n == name) {
            None => Ok(default),
            Some((_, v)) => v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
                UpvestError::bad_request(format!("{name}: must be a whole number from 0 to {max}"))
            }),
        };
    Ok((number("offset", 0, i32::MAX as u64)?, number("limit", 100, 1000)?))
}

/// What every request of the platform says besides its body: `upvest-api-version` absent or
/// `1`, and an `Accept` that takes JSON.
struct Headers;

impl<S: Send + Sync> FromRequestParts<S> for Headers {
    type Rejection = UpvestError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        match parts.headers.get("upvest-api-version").map(|v| v.to_str().map(str::trim)) {
            None | Some(Ok("1")) => {}
            Some(_) => {
                return Err(UpvestError::bad_request("upvest-api-version: only version 1 exists"));
            }
        }
        let accept = parts.headers.get(ACCEPT).and_then(|v| v.to_str().ok());
        if negotiate(accept, &[Format::Json]).is_none() {
            return Err(UpvestError::new(
                StatusCode::NOT_ACCEPTABLE,
                "not_acceptable",
                "the answer is application/json, which Accept does not take",
            ));
        }
        Ok(Headers)
    }
}

/// A user id of a path: a UUID, else a 400 naming `user_id`.
fn user_id(raw: &str) -> Result<UserId> {
    raw.parse().map_err(|_| UpvestError::bad_request("user_id: must be a UUID"))
}

/// `body` only when sent as `application/json`: the platform refuses any other media type
/// with a 400, even a body that parses as JSON.
fn json_body(headers: &HeaderMap, body: JsonBody<Upvest>) -> Result<Value> {
    let media = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = media.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(body.value)
    } else {
        Err(UpvestError::bad_request("the body must be sent as Content-Type: application/json"))
    }
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// `POST /users`: creates an ACTIVE user, once per `idempotency-key`.
async fn create_user(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<UsersWrite, Upvest>,
    headers: HeaderMap,
    body: JsonBody<Upvest>,
) -> Result<Response> {
    let key = match headers.get("idempotency-key").map(|v| v.to_str().map(str::trim)) {
        None => {
            return Err(UpvestError::new(
                StatusCode::BAD_REQUEST,
                "missing_idempotency_key",
                "idempotency-key is required to create a user",
            ));
        }
        Some(Ok(key)) if Uuid::parse_str(key).is_ok() => key.to_ascii_lowercase(),
        Some(_) => return Err(UpvestError::bad_request("idempotency-key: must be a UUID")),
    };
    let sha256 = body.sha256;
    let fields = wire::user_fields(json_body(&headers, body)?, true)?;
    let mut doc = map::document(&fields, true);
    // The platform's users have no username: one per create, the same on a replay.
    doc.insert("username".into(), json!(format!("upvest-{key}")));
    doc.insert("state".into(), json!("active"));
    let input: UserInput = parse_document(Value::Object(doc))?;
    let idempotency = Some(Idempotency { key: format!("upvest:{key}"), fingerprint: sha256 });
    let created = state.directory.create_user(&auth.principal, input, idempotency).await?;
    Ok(ok(StatusCode::OK, map::user(&created.user)))
}

/// `GET /users`: offset pages sorted by `created_at` or `updated_at`, offboarded users too.
async fn list_users(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<UsersRead, Upvest>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let param = |name: &str| params.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let (offset, limit) = page(&params)?;
    let (sort_name, sort) = match param("sort") {
        None | Some("created_at") => ("created_at", SortKey::CreatedAt),
        Some("updated_at") => ("updated_at", SortKey::UpdatedAt),
        Some(_) => return Err(UpvestError::bad_request("sort: created_at or updated_at")),
    };
    let (order_name, order) = match param("order") {
        None | Some("ASC") => ("ASC", Order::Asc),
        Some("DESC") => ("DESC", Order::Desc),
        Some(_) => return Err(UpvestError::bad_request("order: ASC or DESC")),
    };
    let search = Search {
        sort,
        order,
        // A page of none still counts them all.
        limit: limit.max(1) as u32,
        offset: Some(offset),
        count: true,
        include_deleted: true,
        ..Search::default()
    };
    let found = state.directory.search(&auth.principal, &search).await?;
    let data: Vec<Value> = found.users.iter().take(limit as usize).map(map::user).collect();
    let meta = json!({
        "offset": offset, "limit": limit, "count": data.len(),
        "total_count": found.total_count.unwrap_or(0), "sort": sort_name, "order": order_name,
    });
    Ok(ok(StatusCode::OK, json!({ "meta": meta, "data": data })))
}

/// `GET /users/{user_id}`: offboarded users too, their data erased.
async fn get_user(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<UsersRead, Upvest>,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = state.directory.user(&auth.principal, user_id(&id)?, true).await?;
    Ok(ok(StatusCode::OK, map::user(&user)))
}

/// Refuses a change to a user who is leaving or has left.
fn still_here(state: UserState) -> Result<()> {
    match state {
        UserState::Offboarding | UserState::Deleted => {
            Err(UpvestError::conflict("the user is offboarding or offboarded"))
        }
        _ => Ok(()),
    }
}

/// `POST /users/{user_id}/data_change_requests`: checked by the platform's rules at once,
/// applied by the core's job (`user.data_changed`, or `user.data_change_failed` when the core
/// refuses it); 202 with no body.
async fn change_data(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<UsersWrite, Upvest>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonBody<Upvest>,
) -> Result<Response> {
    let id = user_id(&id)?;
    let fields = wire::user_fields(json_body(&headers, body)?, false)?;
    let d = &state.directory;
    still_here(d.user(&auth.principal, id, true).await?.state)?;
    let patch = Value::Object(map::document(&fields, false));
    d.request_data_change(&auth.principal, id, patch).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `DELETE /users/{user_id}`: OFFBOARDING at once, OFFBOARDED once the core's job has erased
/// the user; 202 with no body.
async fn offboard_user(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<UsersWrite, Upvest>,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = user_id(&id)?;
    let d = &state.directory;
    still_here(d.user(&auth.principal, id, true).await?.state)?;
    d.offboard(&auth.principal, id, None).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
