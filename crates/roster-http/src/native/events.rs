//! `/v1/events`: the tenant's event feed, in commit order.

use axum::Json;
use axum::extract::State;
use roster_core::Event;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Auth, UsersRead};
use crate::extract::{ApiQuery, from_str};
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
/// `next_after` sees every event exactly once.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(FeedParams),
    responses(
        (status = 200, description = "Events after `after`", body = EventPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    ApiQuery(params): ApiQuery<FeedParams>,
) -> Result<Json<EventPage>, ApiError> {
    let after = params.after.unwrap_or(0);
    let limit = params.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT);
    let data = state.directory.events(&auth.principal, after, limit).await?;
    let next_after = data.last().map_or(after, |e| e.seq);
    Ok(Json(EventPage { data, meta: FeedMeta { next_after } }))
}
