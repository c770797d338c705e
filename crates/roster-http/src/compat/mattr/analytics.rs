//! MATTR's analytic events, read from the audit trail (which keeps every request's route,
//! status, time, duration and `x-request-id`; decided: no store of their own). Each audited user
//! request of the dialect is two events: `<OP>_START` at its time, then `<OP>_SUCCESS` (a status
//! below 400) or `<OP>_FAIL` at its time plus its duration. Newest first, a request's outcome
//! before its start.

use axum::Json;
use axum::extract::{Query, State};
use roster_core::audit::{AuditEntry, AuditQuery};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::error::{Location, MattrError, Result};
use super::{Mattr, map};
use crate::AppState;
use crate::auth::{Auth, TenantAdmin};

/// The dialect's user operations by method and route, and the event type each names.
const OPERATIONS: [(&str, &str, &str); 7] = [
    ("POST", "/users", "USER_CREATE"),
    ("GET", "/users", "USER_RETRIEVE_LIST"),
    ("POST", "/users/search", "USER_SEARCH"),
    ("GET", "/users/{id}", "USER_RETRIEVE"),
    ("PUT", "/users/{id}", "USER_UPDATE"),
    ("DELETE", "/users/{id}", "USER_DELETE"),
    ("GET", "/users/{id}/credentials", "USER_CREDENTIAL_RETRIEVE_LIST"),
];
const PREFIXES: [&str; 2] = ["/compat/mattr/core/v1", "/compat/mattr/v1"];

/// Audit entries read for one page at most; beyond, the page ends with a cursor to go on from.
const MAX_READ: usize = 10_000;
const BATCH: u32 = 500;

/// The event type of an audited operation (`None`: not one of the dialect's user requests).
fn operation(audited: &str) -> Option<&'static str> {
    let (method, route) = audited.split_once(' ')?;
    let route = PREFIXES.iter().find_map(|p| route.strip_prefix(p))?;
    OPERATIONS.iter().find(|(m, r, _)| *m == method && *r == route).map(|(_, _, op)| *op)
}

/// Marks the last seven bytes of an event id.
const MARKER: [u8; 7] = *b"mattrev";

/// An event's id: stable, and naming its audit entry and phase (0 the start, 1 the outcome).
fn event_id(entry: i64, phase: u8) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&entry.to_be_bytes()[2..]);
    bytes[7] = phase;
    bytes[9..].copy_from_slice(&MARKER);
    Uuid::new_v8(bytes)
}

/// The audit entry and phase an event id names.
fn entry_of(id: Uuid) -> Option<(i64, u8)> {
    let bytes = id.as_bytes();
    if id.get_version_num() != 8 || bytes[9..] != MARKER || bytes[7] > 1 {
        return None;
    }
    let mut entry = [0u8; 8];
    entry[2..].copy_from_slice(&bytes[..6]);
    Some((i64::from_be_bytes(entry), bytes[7]))
}

/// `…sssZ`.
fn timestamp(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// One event of an entry, with the time it is ordered and filtered by.
struct Event {
    id: Uuid,
    kind: String,
    at: OffsetDateTime,
    body: Value,
}

/// The two events of `entry`, outcome first.
fn events(entry: &AuditEntry, op: &str) -> [Event; 2] {
    let ended = entry.occurred_at
        + time::Duration::microseconds(i64::try_from(entry.duration_us).unwrap_or(i64::MAX));
    let outcome = if entry.status < 400 { "SUCCESS" } else { "FAIL" };
    let data = entry.resource_id.map_or(Value::Null, |id| json!({ "id": id }));
    let event = |phase: u8, suffix: &str, at: OffsetDateTime| {
        let (id, kind) = (event_id(entry.id, phase), format!("{op}_{suffix}"));
        let body = json!({ "id": id, "type": kind, "timestamp": timestamp(at), "category": "user",
            "requestId": entry.request_id, "data": data });
        Event { id, kind, at, body }
    };
    [event(1, outcome, ended), event(0, "START", entry.occurred_at)]
}

/// What a query asks for, beyond the page.
struct Wanted {
    types: Vec<String>,
    categories: Vec<String>,
    ids: Vec<Uuid>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
}

impl Wanted {
    fn admits(&self, e: &Event) -> bool {
        let typed = self.types.is_empty() && self.categories.is_empty()
            || self.types.contains(&e.kind)
            || self.categories.iter().any(|c| c == "user");
        typed
            && (self.ids.is_empty() || self.ids.contains(&e.id))
            && self.from.is_none_or(|from| e.at >= from)
            && self.to.is_none_or(|to| e.at <= to)
    }
}

/// `GET /analytics/events?types&categories&requestIds&ids&dateFrom&dateTo&limit&cursor`.
pub(super) async fn events_page(
    State(state): State<AppState>,
    auth: Auth<TenantAdmin, Mattr>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>> {
    let param = |name: &str| params.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let list = |name: &str| -> Vec<String> {
        param(name)
            .map(|v| {
                v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
            })
            .unwrap_or_default()
    };
    let bad = |name: &str, msg: &str| MattrError::invalid_one(name, Location::Query, msg);
    let date = |name: &str| -> Result<Option<OffsetDateTime>> {
        param(name)
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339)
                    .map_err(|_| bad(name, "must be an ISO 8601 date-time"))
            })
            .transpose()
    };
    let limit = match param("limit") {
        None => 100,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad("limit", "must be a whole number from 1 to 1000"))?,
    };
    let ids = list("ids")
        .iter()
        .map(|id| Uuid::parse_str(id).map_err(|_| bad("ids", "must be event ids")))
        .collect::<Result<Vec<_>>>()?;
    let wanted = Wanted {
        types: list("types"),
        categories: list("categories"),
        ids,
        from: date("dateFrom")?,
        to: date("dateTo")?,
    };
    // Where the page starts: below the cursor's event (its entry's start follows its outcome).
    let (mut before, mut skip_outcome_of) = (i64::MAX, None);
    if let Some(cursor) = param("cursor") {
        let wrong = || bad("cursor", "is not a cursor of this list");
        let (_, id) = map::position("timestamp", cursor).ok_or_else(wrong)?;
        let (entry, phase) = Uuid::parse_str(&id).ok().and_then(entry_of).ok_or_else(wrong)?;
        if phase == 1 {
            before = entry + 1;
            skip_outcome_of = Some(entry);
        } else {
            before = entry;
        }
    }
    let operations: Vec<String> = PREFIXES
        .iter()
        .flat_map(|p| OPERATIONS.iter().map(move |(m, r, _)| format!("{m} {p}{r}")))
        .collect();
    let mut page: Vec<Event> = Vec::new();
    let (mut read, mut next) = (0usize, None);
    'reading: loop {
        let query = AuditQuery {
            before: Some(before),
            limit: BATCH,
            until: wanted.to,
            request_ids: list("requestIds"),
            operations: operations.clone(),
            ..AuditQuery::default()
        };
        let entries = state.directory.audit(&auth.principal, query).await?;
        for entry in &entries {
            before = entry.id;
            let Some(op) = operation(&entry.operation) else { continue };
            for event in events(entry, op) {
                // The cursor's event was this entry's outcome: its start comes next.
                if skip_outcome_of == Some(entry.id) && event.id == event_id(entry.id, 1) {
                    continue;
                }
                if wanted.admits(&event) {
                    page.push(event);
                    if page.len() > limit {
                        break 'reading;
                    }
                }
            }
        }
        read += entries.len();
        if entries.len() < BATCH as usize {
            break;
        }
        if read >= MAX_READ {
            // Go on below the last entry read: its start event's position.
            let last = entries.last().expect("a full batch");
            let at = timestamp(last.occurred_at);
            next = Some(map::cursor_text("timestamp", &at, &event_id(last.id, 0).to_string()));
            break;
        }
    }
    if page.len() > limit {
        page.truncate(limit);
        let last = page.last().expect("a full page");
        next = Some(map::cursor_text("timestamp", &timestamp(last.at), &last.id.to_string()));
    }
    let mut out = json!({ "data": page.into_iter().map(|e| e.body).collect::<Vec<_>>() });
    if let Some(next) = next {
        out["nextCursor"] = json!(next);
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_name_their_entry_and_phase() {
        for (entry, phase) in [(1, 0), (1, 1), (987_654_321, 1), ((1 << 47) - 1, 0)] {
            assert_eq!(entry_of(event_id(entry, phase)), Some((entry, phase)));
        }
        assert_eq!(entry_of(Uuid::new_v4()), None);
        assert_ne!(event_id(1, 0), event_id(1, 1));
    }

    #[test]
    fn operations_are_the_dialects_user_requests() {
        assert_eq!(operation("POST /compat/mattr/core/v1/users"), Some("USER_CREATE"));
        assert_eq!(
            operation("GET /compat/mattr/v1/users/{id}/credentials"),
            Some("USER_CREDENTIAL_RETRIEVE_LIST")
        );
        assert_eq!(operation("GET /v1/users/{id}"), None);
        assert_eq!(operation("GET /compat/mattr/v1/analytics/events"), None);
    }
}
