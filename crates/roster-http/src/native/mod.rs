//! The native API, `/v1`: Roster's own clean REST surface over the directory.

pub(crate) mod applications;
pub(crate) mod audit;
pub(crate) mod credentials;
pub(crate) mod document;
pub(crate) mod events;
pub(crate) mod groups;
pub(crate) mod invitations;
pub(crate) mod jobs;
pub(crate) mod mandates;
pub(crate) mod organizations;
pub(crate) mod passwords;
pub(crate) mod roles;
pub(crate) mod tenants;
pub(crate) mod tokens;
pub(crate) mod users;
pub(crate) mod webhooks;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::extract::from_str;
use crate::problem::{ApiError, Problem};

/// `body` as JSON with `status` and one header (a `Location`, an `ETag`).
pub(crate) fn json_with(
    status: StatusCode,
    body: impl serde::Serialize,
    header: HeaderName,
    value: &str,
) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header, value);
    }
    response
}

/// The paging parameters of the listings in id (creation) order.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageParams {
    /// The `next_after` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

impl PageParams {
    /// The id to continue after, if any.
    pub(crate) fn after<T: std::str::FromStr>(&self) -> Result<Option<T>, ApiError> {
        match self.after.as_deref().map(str::parse).transpose() {
            Ok(after) => Ok(after),
            Err(_) => Err(Problem::invalid("after", "invalid_format", "must be a UUID").into()),
        }
    }

    pub(crate) fn limit(&self) -> u32 {
        self.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT)
    }
}

/// Where a page of a listing in id order ends.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PageMeta {
    /// Pass as `after` for the next page; `null` on the last page.
    #[schema(value_type = Option<String>, format = Uuid)]
    next_after: Option<uuid::Uuid>,
}

impl PageMeta {
    pub(crate) fn of<T>(data: &[T], limit: u32, id: impl Fn(&T) -> uuid::Uuid) -> PageMeta {
        PageMeta { next_after: next_after(data, limit, id) }
    }
}

/// Where the next page starts: after the last item of a full page; `None` after a short one.
pub(crate) fn next_after<T, I>(data: &[T], limit: u32, id: impl Fn(&T) -> I) -> Option<I> {
    let full = data.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    data.last().filter(|_| full).map(id)
}
