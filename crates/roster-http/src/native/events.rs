//! `/v1/events`: the tenant's event feed, in commit order.

use axum::Json;
use axum::extract::State;
use std::time::Duration;

use roster_core::Event;
use roster_core::event::{EventQuery, TypePattern};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Auth, UsersRead};
use crate::extract::{ApiQuery, from_str};
use crate::limits::Slot;
use crate::problem::{ApiError, Problem};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedParams {
    /// Return events with a sequence number above this one (default 0: from the start).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<i64>,
    /// At most this many events, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Comma-separated event types: exact (`user.created`), every type of a resource
    /// (`user.*`) or `*`. Default: all.
    #[serde(default)]
    #[param(min_length = 1)]
    types: Option<String>,
    /// Only events about the resource with this id.
    #[serde(default)]
    #[param(value_type = Option<String>, format = Uuid)]
    resource: Option<Uuid>,
    /// When nothing is there yet, hold the answer until an event arrives or this much time
    /// has passed: seconds, as `30` or `30s`, at most 60 (default 0: answer at once).
    #[serde(default)]
    #[param(value_type = Option<String>, example = "30s")]
    wait: Option<String>,
}

impl FeedParams {
    fn query(&self) -> Result<(EventQuery, Duration), ApiError> {
        let mut types = Vec::new();
        let mut every = false;
        for item in self.types.iter().flat_map(|t| t.split(',')).map(str::trim) {
            match TypePattern::parse(item) {
                Some(Some(pattern)) => types.push(pattern),
                // `*`: every type, the same as no filter.
                Some(None) => every = true,
                None => {
                    let detail =
                        format!("`{item}` is not an event type (e.g. `user.created`, `user.*`)");
                    return Err(Problem::invalid("types", "invalid", &detail).into());
                }
            }
        }
        if every {
            types.clear();
        }
        let query = EventQuery {
            after: self.after.unwrap_or(0),
            limit: self.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT),
            types,
            resource: self.resource,
        };
        Ok((query, self.wait()?))
    }

    fn wait(&self) -> Result<Duration, ApiError> {
        let Some(wait) = &self.wait else { return Ok(Duration::ZERO) };
        wait.strip_suffix('s').unwrap_or(wait).parse::<u64>().map(Duration::from_secs).map_err(
            |_| {
                Problem::invalid("wait", "invalid", "must be whole seconds, as `30` or `30s`")
                    .into()
            },
        )
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct EventPage {
    data: Vec<Event>,
    meta: FeedMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FeedMeta {
    /// Pass as `after` to continue; equals the request's `after` when nothing new is there.
    next_after: i64,
}

/// Read the event feed.
///
/// Sequence numbers are gap-free and commit in order: a reader that continues from
/// `next_after` sees every event exactly once, also with several nodes writing. With `wait`, a
/// reader long-polls: the answer comes as soon as a matching event is committed.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(FeedParams),
    responses(
        (status = 200, description = "Events after `after`", body = EventPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The token, or the node, has no long-poll slot free", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    slot: Slot,
    ApiQuery(params): ApiQuery<FeedParams>,
) -> Result<Json<EventPage>, ApiError> {
    let (query, wait) = params.query()?;
    // A long-poll waits in a slot of its own, outside the cap on requests in flight.
    let _waiting =
        if wait.is_zero() { None } else { Some(state.long_polls.enter(&auth.principal, &slot)?) };
    let data = state.directory.events(&auth.principal, &query, wait).await?;
    let next_after = data.last().map_or(query.after, |e| e.seq);
    Ok(Json(EventPage { data, meta: FeedMeta { next_after } }))
}
