//! MATTR VII's Users API at `/compat/mattr`: users (claims and a link to an identity provider)
//! created, read, replaced, deleted, listed and searched, their credentials' metadata, and the
//! analytic events of those requests, under
//! the seed's `/core/v1` and the current `/v1` alike; its token endpoint at `/oauth/token`.
//!
//! - [`map`]: MATTR's documents and cursors, the core's users.
//! - [`error`]: `{code, message, details?}`.
//! - [`analytics`]: its analytic events, read from the audit trail.
//!
//! See docs/compat/mattr.md for every operation, decision and difference.

mod analytics;
mod error;
mod map;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use roster_core::credentials::Credential;
use roster_core::directory::Refine;
use roster_core::filter::{AttrPath, CompareOp, Filter, Value as Literal};
use roster_core::input::{merged, parse_document};
use roster_core::query::{SortValue, json_contains};
use roster_core::user::User;
use roster_core::{CredentialId, Principal, Search, Transition, UserId, UserInput};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use self::error::{Location, Result};
pub(crate) use self::error::{Mattr, MattrError};
use self::map::{Body, Kind};
use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::JsonBody;

/// The dialect's routes, relative to `/compat/mattr`.
pub(crate) fn router() -> Router<AppState> {
    let users = Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/search", post(search_users))
        .route("/users/{id}", get(get_user).put(replace_user).delete(delete_user))
        .route("/users/{id}/credentials", get(user_credentials))
        .route("/analytics/events", get(analytics::events_page));
    Router::new()
        .route("/oauth/token", post(crate::oauth::mattr_token))
        .nest("/core/v1", users.clone())
        .nest("/v1", users)
}

/// Most values of a search's `claims` the index narrows by; the exact test checks them all.
const MAX_NARROWING: usize = 16;

/// A user id from the path: not a UUID is a validation error, as at MATTR.
fn user_id(id: &str) -> Result<UserId> {
    id.parse().map_err(|_| MattrError::invalid_one("id", Location::Params, "must be a UUID"))
}

/// `POST /users` → 201, the user.
async fn create_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Mattr>,
    body: JsonBody<Mattr>,
) -> Result<Response> {
    let b = map::body(body.value, Kind::Create)?;
    let mut doc = Map::new();
    if let Some(claims) = b.claims {
        doc.insert("claims".into(), claims);
    }
    if let Some(Some(link)) = b.link {
        doc.insert("identities".into(), json!([link]));
    }
    let input = parse_document::<UserInput>(Value::Object(doc))?;
    let created = state.directory.create_user(&auth.principal, input, None).await?;
    Ok((StatusCode::CREATED, Json(map::user(&created.user))).into_response())
}

/// `GET /users/{id}`.
async fn get_user(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Mattr>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let user = state.directory.user(&auth.principal, user_id(&id)?, false).await?;
    Ok(Json(map::user(&user)))
}

/// `PUT /users/{id}`: the claims become the body's; the link is kept when absent, removed by
/// `null`, replaced by an object.
async fn replace_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Mattr>,
    Path(id): Path<String>,
    body: JsonBody<Mattr>,
) -> Result<Json<Value>> {
    let id = user_id(&id)?;
    let Body { claims, link, .. } = map::body(body.value, Kind::Update)?;
    let edit = |current: &User| {
        let mut input = merged(current, &json!({}))?;
        input.claims = claims.clone();
        let mut identities = current.profile.identities.clone();
        match (&link, identities.is_empty()) {
            (Some(None), false) => {
                identities.remove(0);
            }
            (Some(Some(link)), true) => identities.push(link.clone()),
            (Some(Some(link)), false) => identities[0] = link.clone(),
            (None | Some(None), _) => {}
        }
        input.identities = Some(identities);
        Ok(input)
    };
    let user = state.directory.update_user(&auth.principal, id, None, edit).await?;
    Ok(Json(map::user(&user)))
}

/// `DELETE /users/{id}` → 204: the user becomes a tombstone (its personal data erased).
async fn delete_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Mattr>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let (d, p) = (&state.directory, &auth.principal);
    let user = d.user(p, user_id(&id)?, false).await?;
    d.transition(p, user.id, None, Transition::Delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `limit` and `cursor` of a query string.
fn paging(params: &[(String, String)]) -> Result<(u32, Option<String>)> {
    let param = |name: &str| params.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let limit = match param("limit") {
        None => 100,
        Some(v) => v.parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
            MattrError::invalid_one(
                "limit",
                Location::Query,
                "must be a whole number from 1 to 1000",
            )
        })?,
    };
    Ok((limit, param("cursor")))
}

/// `GET /users?limit&cursor`: every user of the tenant, oldest first.
async fn list_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Mattr>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>> {
    let (limit, cursor) = paging(&params)?;
    page(&state, &auth.principal, None, None, limit, cursor.as_deref(), Location::Query).await
}

/// `POST /users/search {claims?, authenticationProvider?, limit?, cursor?}`: the users whose
/// claims contain the given document (strings exact) and who are linked to the given account.
async fn search_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Mattr>,
    body: JsonBody<Mattr>,
) -> Result<Json<Value>> {
    let b = map::body(body.value, Kind::Search)?;
    let mut narrowing = Vec::new();
    if let Some(claims) = &b.claims {
        narrow(&mut vec!["claims".to_owned()], claims, &mut narrowing);
        narrowing.truncate(MAX_NARROWING);
    }
    if let Some(c) = &b.criteria {
        let mut test = compare(&["subject"], Literal::String(c.subject.clone()));
        if let Some(url) = &c.url {
            let provider = compare(&["provider"], Literal::String(url.clone()));
            test = Filter::And(Box::new(test), Box::new(provider));
        }
        narrowing.push(Filter::Elements(AttrPath::new(["identities"]), Box::new(test)));
    }
    let filter = narrowing.into_iter().reduce(|a, b| Filter::And(Box::new(a), Box::new(b)));
    let refine = (b.claims.is_some() || b.criteria.is_some()).then(|| {
        let (claims, criteria) = (b.claims.clone(), b.criteria.clone());
        Refine(Arc::new(move |user: &User| {
            let has = user.profile.claims.clone().unwrap_or_else(|| json!({}));
            claims.as_ref().is_none_or(|c| json_contains(&has, c))
                && criteria
                    .as_ref()
                    .is_none_or(|c| user.profile.identities.iter().any(|i| c.matches(i)))
        }))
    });
    let limit = b.limit.unwrap_or(100);
    page(&state, &auth.principal, filter, refine, limit, b.cursor.as_deref(), Location::Body).await
}

fn compare(names: &[&str], value: Literal) -> Filter {
    Filter::Compare(AttrPath::new(names.iter().copied()), CompareOp::Eq, value)
}

/// Index tests every user whose claims contain `value` at `path` passes (a superset: the index
/// compares without case); arrays' elements are indexed under the array's path.
fn narrow(path: &mut Vec<String>, value: &Value, out: &mut Vec<Filter>) {
    let here = |path: &[String], value| {
        Filter::Compare(AttrPath::new(path.iter().map(String::as_str)), CompareOp::Eq, value)
    };
    match value {
        Value::Object(members) => {
            for (name, value) in members {
                path.push(name.clone());
                narrow(path, value, out);
                path.pop();
            }
        }
        Value::Array(items) => items.iter().for_each(|item| narrow(path, item, out)),
        Value::String(s) if s.len() <= roster_core::index::MAX_VALUE_BYTES => {
            out.push(here(path, Literal::String(s.clone())));
        }
        Value::Number(n) => out.push(here(path, Literal::Number(n.clone()))),
        Value::Bool(b) => out.push(here(path, Literal::Bool(*b))),
        _ => {}
    }
}

/// A page of users oldest first, after the cursor's position: `{"data", "nextCursor"?}`, the
/// cursor only while more follow.
async fn page(
    state: &AppState,
    p: &Principal,
    filter: Option<Filter>,
    refine: Option<Refine>,
    limit: u32,
    cursor: Option<&str>,
    location: Location,
) -> Result<Json<Value>> {
    let after = match cursor {
        None => None,
        Some(c) => {
            let bad =
                || MattrError::invalid_one("cursor", location, "is not a cursor of this list");
            let (at, id) = map::position("createdAt", c).ok_or_else(bad)?;
            let id: UserId = id.parse().map_err(|_| bad())?;
            Some((SortValue::Int(micros(at)), id))
        }
    };
    let refined = refine.is_some();
    let search = Search { filter, limit: limit + 1, after, refine, ..Search::default() };
    let mut found = state.directory.search(p, &search).await?;
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let next = if found.users.len() > keep {
        found.users.truncate(keep);
        found.users.last().map(|u| (u.created_at, u.id))
    } else if refined {
        // The search stopped reading before the matches ended: go on from where it stopped.
        found.next.and_then(|(at, id)| match at {
            SortValue::Int(us) => Some((from_micros(us), id)),
            SortValue::Text(_) => None,
        })
    } else {
        None
    };
    let mut out = json!({ "data": found.users.iter().map(map::user).collect::<Vec<_>>() });
    if let Some((at, id)) = next {
        out["nextCursor"] = json!(map::cursor("createdAt", at, &id.to_string()));
    }
    Ok(Json(out))
}

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `GET /users/{userId}/credentials?limit&cursor`: the user's credential records, oldest first.
async fn user_credentials(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Mattr>,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>> {
    let id = user_id(&id)?;
    let (limit, cursor) = paging(&params)?;
    let after = match cursor {
        None => None,
        Some(c) => {
            let bad = || {
                MattrError::invalid_one("cursor", Location::Query, "is not a cursor of this list")
            };
            let (_, id) = map::position("createdAt", &c).ok_or_else(bad)?;
            Some(id.parse::<CredentialId>().map_err(|_| bad())?)
        }
    };
    let mut found =
        state.directory.credentials(&auth.principal, id, after, limit + 1, false).await?;
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = found.len() > keep;
    found.truncate(keep);
    let mut out = json!({ "data": found.iter().map(credential).collect::<Vec<_>>() });
    if let (true, Some(last)) = (more, found.last()) {
        out["nextCursor"] = json!(map::cursor("createdAt", last.created_at, &last.id.to_string()));
    }
    Ok(Json(out))
}

/// A credential record as MATTR lists it: its own fields, and those its metadata holds.
fn credential(c: &Credential) -> Value {
    let mut out = json!({ "id": c.id, "type": c.kind, "status": c.status.as_str() });
    let times =
        [("issuedDate", c.issued_at), ("validFrom", c.valid_from), ("validUntil", c.valid_until)];
    for (name, at) in times {
        if let Some(at) = at.and_then(millis) {
            out[name] = json!(at);
        }
    }
    const FROM_METADATA: [&str; 7] = [
        "profile",
        "offerId",
        "sessionId",
        "credentialConfigurationId",
        "devicePublicKey",
        "namespaces",
        "msoHash",
    ];
    for name in FROM_METADATA {
        if let Some(value) = c.metadata.get(name) {
            out[name] = value.clone();
        }
    }
    out
}

/// `2025-06-28T12:34:56.000Z`.
fn millis(at: OffsetDateTime) -> Option<String> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC).format(&format).ok()
}
