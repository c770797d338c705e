//! Transmit Security's Users API at `/compat/transmit`: users created, read (by id, primary
//! e-mail, primary phone, username, external id), listed and counted, changed with Transmit's
//! merge, their groups, their membership of the requesting application; its token endpoint at
//! `/oidc/token`. Every success is `{"result": …}`.
//!
//! - [`map`]: request bodies, users out, native documents in.
//! - [`error`]: `{message, error_code}` with Transmit's field paths.
//!
//! See docs/compat/transmit.md for every operation, decision and difference.

mod error;
mod map;
mod search;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::StreamExt as _;
use roster_core::filter::{AttrPath, CompareOp, Filter, Value as Literal};
use roster_core::input::parse_document;
use roster_core::query::{Order, SortKey};
use roster_core::user::{User, UserState};
use roster_core::{ApplicationId, Lookup, Principal, Search, Transition, UserId, UserInput};
use secrecy::SecretString;
use serde_json::{Value, json};

use self::error::Result;
pub(crate) use self::error::{Transmit, TransmitError};
use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::JsonBody;

/// The dialect's routes, relative to `/compat/transmit`; bulk bodies may be
/// `max_bulk_body_bytes` long.
pub(crate) fn router(max_bulk_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/oidc/token", post(crate::oauth::token))
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/count", get(count_users))
        .route(
            "/v1/users/bulk",
            post(bulk_create).layer(axum::extract::DefaultBodyLimit::max(max_bulk_body_bytes)),
        )
        .route("/v1/users/{user_id}", get(get_user).put(change_user))
        .route("/v1/users/email/{email}", get(by_email))
        .route("/v1/users/phone/{phone}", get(by_phone))
        .route("/v1/users/phone-number/{phone}", get(by_phone))
        .route("/v1/users/username/{username}", get(by_username))
        .route("/v1/users/external-user-id/{external_user_id}", get(by_external_id))
        .route("/v1/users/{user_id}/groups", get(user_groups))
        .route("/v1/users/{user_id}/apps", delete(leave_app))
}

fn result(status: StatusCode, value: Value) -> Response {
    (status, Json(json!({ "result": value }))).into_response()
}

/// A user as answered alone: with its direct groups, and the requesting application's data.
async fn single(state: &AppState, p: &Principal, user: &User) -> Result<Value> {
    let d = &state.directory;
    let groups = d.user_groups(p, user.id, false).await?;
    let app = match p.application {
        Some(app) => match d.app_membership(p, user.id, app).await {
            Ok(membership) => Some((d.application(p, app).await?, membership)),
            Err(roster_core::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    Ok(map::user(user, Some(&groups), app.as_ref().map(|(a, m)| (a, m))))
}

/// A live user of the tenant by id; an id naming none (malformed, erased, another tenant's)
/// is a 404, as at Transmit.
async fn live_user(state: &AppState, p: &Principal, id: &str) -> Result<User> {
    let id: UserId = id.parse().map_err(|_| TransmitError::not_found())?;
    let user = state.directory.user(p, id, false).await?;
    match user.state {
        UserState::Deleted => Err(TransmitError::not_found()),
        _ => Ok(user),
    }
}

/// The requesting application's data of a user that `b` gives, as a native membership
/// document: refused when the token is bound to no application.
fn membership(p: &Principal, b: &map::UserBody) -> Result<Option<(ApplicationId, Value)>> {
    if b.custom_app_data.is_none() && b.external_account_id.is_none() {
        return Ok(None);
    }
    let Some(app) = p.application else {
        return Err(TransmitError::bad_one(
            "custom_app_data and external_account_id need a token bound to an application",
        ));
    };
    let mut doc = serde_json::Map::new();
    if let Some(data) = &b.custom_app_data {
        doc.insert("app_data".into(), data.clone());
    }
    if let Some(account) = &b.external_account_id {
        doc.insert("external_account_id".into(), json!(account));
    }
    Ok(Some((app, Value::Object(doc))))
}

/// `POST /v1/users` → 201 `{"result": user}`.
async fn create_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Transmit>,
    body: JsonBody<Transmit>,
) -> Result<Response> {
    Ok(result(StatusCode::CREATED, create(&state, &auth.principal, body.value).await?))
}

/// Most users one bulk request creates.
const MAX_BULK: usize = 1000;

/// `POST /v1/users/bulk` (decided: Transmit documents no shape): an array of 1 to 1000 create
/// bodies, each created on its own → 201 `{"result": {"users": [created, in request order],
/// "errors": [{index, message, error_code, ts_error_code?}]}}`.
async fn bulk_create(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Transmit>,
    body: JsonBody<Transmit>,
) -> Result<Response> {
    let items = match body.value {
        Value::Array(items) if (1..=MAX_BULK).contains(&items.len()) => items,
        _ => {
            return Err(TransmitError::bad_one(format!(
                "the body must be an array of 1 to {MAX_BULK} users"
            )));
        }
    };
    let p = &auth.principal;
    // Several at a time, so that they share the writer's commits; answered in request order.
    let outcomes: Vec<Result<Value>> = futures::stream::iter(items)
        .map(|item| create(&state, p, item))
        .buffered(16)
        .collect()
        .await;
    let (mut users, mut errors) = (Vec::new(), Vec::new());
    for (index, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(user) => users.push(user),
            Err(e) => errors.push(e.item(index)),
        }
    }
    Ok(result(StatusCode::CREATED, json!({ "users": users, "errors": errors })))
}

/// Creates one user from a Transmit create body: an e-mail or a phone number is required; the
/// username defaults to the e-mail, else the phone number. New users are `Active`.
async fn create(state: &AppState, p: &Principal, body: Value) -> Result<Value> {
    let b = map::body(body)?;
    if b.email.is_none() && b.phone_number.is_none() {
        return Err(TransmitError::bad_one("email or phone_number is required"));
    }
    if b.status.is_some() {
        return Err(TransmitError::bad_one("status: set by PUT /v1/users/{user_id}"));
    }
    let joins = membership(p, &b)?;
    let mut doc = map::document(&b, None)?;
    let username =
        b.username.clone().or_else(|| b.email.clone()).or_else(|| b.phone_number.clone());
    doc.insert("username".into(), json!(username));
    doc.insert("state".into(), json!("active"));
    let mut input: UserInput = parse_document(Value::Object(doc))?;
    if let Some(c) = &b.credentials {
        input.password = Some(Some(SecretString::from(c.password.clone())));
        input.password_change_required = c.force_replace;
    }
    let d = &state.directory;
    let created = d.create_user(p, input, None).await?;
    if let Some((app, doc)) = joins {
        d.put_app_membership(p, created.user.id, app, doc).await?;
    }
    single(state, p, &created.user).await
}

/// `PUT /v1/users/{user_id}`: Transmit's merge, and `status` (`Active` activates, approves or
/// unlocks as needed; `Disabled` deactivates; `Forget Requested` offboards; `Pending` only on a
/// user already pending). Everything is checked before anything is written.
async fn change_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Transmit>,
    Path(id): Path<String>,
    body: JsonBody<Transmit>,
) -> Result<Response> {
    let (p, d) = (&auth.principal, &state.directory);
    let current = live_user(&state, p, &id).await?;
    let b = map::body(body.value)?;
    if b.credentials.is_some() {
        return Err(TransmitError::bad_one("credentials: given at creation only"));
    }
    let mut joins = membership(p, &b)?;
    // A merge: the part of the application's data the body leaves out is kept.
    if let Some((app, Value::Object(doc))) = &mut joins {
        let kept = match state.directory.app_membership(p, current.id, *app).await {
            Ok(m) => Some(m),
            Err(roster_core::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(kept) = kept {
            if !doc.contains_key("app_data") {
                doc.insert("app_data".into(), kept.app_data);
            }
            if let (false, Some(account)) =
                (doc.contains_key("external_account_id"), kept.external_account_id)
            {
                doc.insert("external_account_id".into(), json!(account));
            }
        }
    }
    let status = b.status.as_deref();
    if let Some(status) = status {
        transition(current.state, status)?;
    }
    let doc = map::document(&b, Some(&current))?;
    // The merge, the state and the application's data in one commit; forgetting queues the
    // erasure after it (nothing is left to refuse by then: the status was checked above).
    let toward = |from| match status {
        Some("Forget Requested") | None => Ok(None),
        Some(status) => transition(from, status),
    };
    let mut user = d.change_user(p, current.id, Value::Object(doc), &toward, joins).await?;
    if status == Some("Forget Requested") && user.state != UserState::Offboarding {
        user = d.offboard(p, user.id, None).await?.0;
    }
    Ok(result(StatusCode::OK, single(&state, p, &user).await?))
}

/// The transition that takes a user in `from` to Transmit's `status`: `Active` activates,
/// approves or unlocks; `Disabled` deactivates; `Forget Requested` offboards; `Pending` has no
/// way back.
fn transition(from: UserState, status: &str) -> roster_core::Result<Option<Transition>> {
    use UserState as S;
    let bad = |why: &str| Err(roster_core::Error::invalid("status", "invalid_value", why));
    Ok(match (status, from) {
        ("Active", S::Active) | ("Disabled", S::Inactive | S::Locked) => None,
        ("Pending", S::Initial | S::Pending) | ("Forget Requested", S::Offboarding) => None,
        ("Active", S::Inactive | S::Initial) => Some(Transition::Activate),
        ("Active", S::Locked) => Some(Transition::Unlock),
        ("Active", S::Pending) => Some(Transition::Approve),
        ("Disabled", S::Active | S::Initial | S::Pending) => Some(Transition::Deactivate),
        ("Forget Requested", _) => Some(Transition::Offboard),
        ("Pending", _) => return bad("a user cannot go back to Pending"),
        ("Active" | "Disabled", S::Offboarding | S::Deleted) => {
            return bad("the user is being forgotten");
        }
        _ => return bad("one of Active, Disabled, Pending, Forget Requested"),
    })
}

async fn get_user(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Transmit>,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = live_user(&state, &auth.principal, &id).await?;
    Ok(result(StatusCode::OK, single(&state, &auth.principal, &user).await?))
}

/// A user found by a unique value; `primary` says which contact must be the primary one
/// (Transmit looks up the primary e-mail and phone number only).
async fn found(
    state: &AppState,
    p: &Principal,
    lookup: Lookup<'_>,
    primary: Option<fn(&User) -> Option<String>>,
    value: &str,
) -> Result<Response> {
    let user = match state.directory.find_user(p, lookup).await {
        Ok(user) => user,
        Err(roster_core::Error::NotFound { .. }) => return Err(TransmitError::not_found()),
        Err(e) => return Err(e.into()),
    };
    let same = |v: Option<String>| {
        v.is_some_and(|v| {
            v.eq_ignore_ascii_case(value) || roster_core::validate::phone(value) == Some(v)
        })
    };
    if primary.is_some_and(|of| !same(of(&user))) {
        return Err(TransmitError::not_found());
    }
    Ok(result(StatusCode::OK, single(state, p, &user).await?))
}

fn primary_email(user: &User) -> Option<String> {
    let emails = &user.profile.emails;
    emails.iter().find(|c| c.primary).or(emails.first()).map(|c| c.value.clone())
}

fn primary_phone(user: &User) -> Option<String> {
    let phones = &user.profile.phones;
    phones.iter().find(|c| c.primary).or(phones.first()).map(|c| c.value.clone())
}

async fn by_email(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Transmit>,
    Path(email): Path<String>,
) -> Result<Response> {
    found(&state, &auth.principal, Lookup::Email(&email), Some(primary_email), &email).await
}

async fn by_phone(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Transmit>,
    Path(phone): Path<String>,
) -> Result<Response> {
    found(&state, &auth.principal, Lookup::Phone(&phone), Some(primary_phone), &phone).await
}

async fn by_username(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Transmit>,
    Path(username): Path<String>,
) -> Result<Response> {
    found(&state, &auth.principal, Lookup::Username(&username), None, &username).await
}

async fn by_external_id(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Transmit>,
    Path(id): Path<String>,
) -> Result<Response> {
    found(&state, &auth.principal, Lookup::ExternalId(&id), None, &id).await
}

/// Users whose primary e-mail or primary phone number starts with `prefix`.
fn prefix_filter(prefix: &str) -> Filter {
    let primary = |array: &str| {
        let is_primary =
            Filter::Compare(AttrPath::new(["primary"]), CompareOp::Eq, Literal::Bool(true));
        let starts = Filter::Compare(
            AttrPath::new(["value"]),
            CompareOp::Sw,
            Literal::String(prefix.into()),
        );
        Filter::Elements(
            AttrPath::new([array]),
            Box::new(Filter::And(Box::new(is_primary), Box::new(starts))),
        )
    };
    Filter::Or(Box::new(primary("emails")), Box::new(primary("phones")))
}

/// `GET /v1/users`: offset pages over the tenant, by `search_prefix`, sorted.
async fn list_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Transmit>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let mut wrong = Vec::new();
    let param = |name: &str| params.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    for (name, _) in &params {
        if !["page_offset", "page_limit", "search_prefix", "sort_field", "sort_order", "search"]
            .contains(&name.as_str())
        {
            wrong.push(format!("{name}: not a parameter of this list"));
        }
    }
    let offset = param("page_offset")
        .map_or(Some(0), |v| v.parse::<u64>().ok().filter(|n| *n <= i32::MAX as u64));
    let limit = param("page_limit")
        .map_or(Some(100), |v| v.parse::<u32>().ok().filter(|n| (1..=1000).contains(n)));
    if offset.is_none() {
        wrong.push("page_offset: a whole number from 0".to_owned());
    }
    if limit.is_none() {
        wrong.push("page_limit: a whole number from 1 to 1000".to_owned());
    }
    let sort = match param("sort_field") {
        None | Some("created_at") => Some(SortKey::CreatedAt),
        Some("email") => Some(SortKey::Email),
        Some("phone_number") => Some(SortKey::Phone),
        Some("last_auth") => Some(SortKey::LastAuthAt),
        Some(_) => None,
    };
    if sort.is_none() {
        wrong.push("sort_field: one of created_at, email, phone_number, last_auth".to_owned());
    }
    let order = match param("sort_order") {
        None | Some("asc") => Some(Order::Asc),
        Some("desc") => Some(Order::Desc),
        Some(_) => None,
    };
    if order.is_none() {
        wrong.push("sort_order: asc or desc".to_owned());
    }
    let (Some(offset), Some(limit), Some(sort), Some(order), true) =
        (offset, limit, sort, order, wrong.is_empty())
    else {
        return Err(TransmitError::bad(wrong));
    };
    let prefix = param("search_prefix").filter(|p| !p.is_empty()).map(prefix_filter);
    let searched =
        param("search").map(|s| search::filter(s, auth.principal.application)).transpose()?;
    let filter = match (prefix, searched) {
        (Some(a), Some(b)) => Some(Filter::And(Box::new(a), Box::new(b))),
        (a, b) => a.or(b),
    };
    let search = Search {
        filter,
        sort,
        order,
        limit,
        offset: Some(offset),
        count: true,
        ..Search::default()
    };
    let found = state.directory.search(&auth.principal, &search).await?;
    let total = found.total_count.unwrap_or(0);
    let users: Vec<Value> = found.users.iter().map(|u| map::user(u, None, None)).collect();
    Ok(Json(json!({
        "total_count": total,
        "page_info": { "has_next_page": offset + (users.len() as u64) < total, "has_previous_page": offset > 0 },
        "result": users,
    }))
    .into_response())
}

/// `GET /v1/users/count[?status=][&search=]`: the seed's `status`, the current API's `search`.
async fn count_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Transmit>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let mut filter: Option<Filter> = None;
    for (name, value) in &params {
        let more = match name.as_str() {
            "status" => search::with_status(value).ok_or_else(|| {
                TransmitError::bad_one("status: one of Active, Disabled, Pending, Forget Requested")
            })?,
            "search" => search::filter(value, auth.principal.application)?,
            other => {
                let message = format!("{other}: not a parameter of the count");
                return Err(TransmitError::bad_one(message));
            }
        };
        filter = Some(match filter {
            Some(f) => Filter::And(Box::new(f), Box::new(more)),
            None => more,
        });
    }
    let search = Search { filter, limit: 1, count: true, ..Search::default() };
    let found = state.directory.search(&auth.principal, &search).await?;
    Ok(result(StatusCode::OK, json!({ "user_count": found.total_count.unwrap_or(0) })))
}

/// `GET /v1/users/{user_id}/groups`: the user's direct groups.
async fn user_groups(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Transmit>,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = live_user(&state, &auth.principal, &id).await?;
    let groups = state.directory.user_groups(&auth.principal, user.id, false).await?;
    let millis = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| json!({ "group_id": g.id, "name": g.name, "description": g.description,
            "custom_data": g.custom_data, "created_at": millis(g.created_at), "updated_at": millis(g.updated_at) }))
        .collect();
    Ok(result(StatusCode::OK, json!(groups)))
}

/// `DELETE /v1/users/{user_id}/apps` → 204: the user leaves the token's application.
async fn leave_app(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Transmit>,
    Path(id): Path<String>,
) -> Result<Response> {
    let p = &auth.principal;
    let Some(app) = p.application else {
        return Err(TransmitError::bad_one("the token is bound to no application"));
    };
    let user = live_user(&state, p, &id).await?;
    state.directory.remove_app_membership(p, user.id, app).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
