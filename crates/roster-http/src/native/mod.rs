//! The native API, `/v1`: Roster's own clean REST surface over the directory.

pub(crate) mod applications;
pub(crate) mod audit;
pub(crate) mod credentials;
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
