//! `/v1/jobs`: asynchronous work the tenant asked for, and how it went.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::Response;
use roster_core::jobs::Job;

use super::json_with;

use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::{JsonBody, TextBody, parse_id};
use crate::problem::{ApiError, Problem};

/// Request a change of a user's data, applied asynchronously.
///
/// The body is a JSON Merge Patch, as for `PATCH /v1/users/{id}`. The request is accepted at
/// once (read-only fields and unknown users are refused here); a job applies it and the outcome
/// is an event: `user.data_changed` (with the changed fields), or `user.data_change_failed`
/// naming why (an invalid value, a taken unique value, a user gone meanwhile). The job is at
/// `Location`.
#[utoipa::path(
    post, path = "/v1/users/{id}/data-changes", tag = "jobs",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted; the job is at `Location`", body = Job, headers(("Location" = String))),
        (status = 400, description = "Bad id, or read-only fields in the patch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn request_data_change(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let job = state.directory.request_data_change(&auth.principal, id, body.value).await?;
    let location = format!("/v1/jobs/{}", job.id);
    Ok(json_with(StatusCode::ACCEPTED, job, LOCATION, &location))
}

/// Get a job: its kind, state (`queued`, `running`, `succeeded`, `failed`), runs and last error.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = id.parse().map_err(|_| Problem::invalid("id", "invalid_format", "must be a UUID"))?;
    Ok(Json(state.directory.job(&auth.principal, id).await?))
}

/// Import users from NDJSON, asynchronously.
///
/// One native create document a line (blank lines are skipped, and counted, so that line
/// numbers match the file), up to the bulk body limit (16 MiB by default). The rows are
/// created in chunks of 500 by a job whose progress and refused rows (by line number) are at
/// `Location` (`GET /v1/imports/{id}`). Rows are created as by `POST /v1/users`, with events.
#[utoipa::path(
    post, path = "/v1/imports", tag = "jobs",
    request_body(content = String, content_type = "application/x-ndjson"),
    responses(
        (status = 202, description = "Accepted; the import is at `Location`", body = Job, headers(("Location" = String))),
        (status = 400, description = "No rows, or not UTF-8", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub(crate) async fn start_import(
    State(state): State<AppState>,
    auth: Auth<UsersWrite>,
    TextBody(rows): TextBody,
) -> Result<Response, ApiError> {
    let job = state.directory.start_import(&auth.principal, rows).await?;
    let location = format!("/v1/imports/{}", job.id);
    Ok(json_with(StatusCode::ACCEPTED, job, LOCATION, &location))
}

/// Get an import: its state and `progress` (lines, processed, created, failed, and the refused
/// rows with their line numbers and errors).
#[utoipa::path(
    get, path = "/v1/imports/{id}", tag = "jobs",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The import", body = Job),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such import", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:read"]))
)]
pub(crate) async fn get_import(
    State(state): State<AppState>,
    auth: Auth<UsersRead>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = id.parse().map_err(|_| Problem::invalid("id", "invalid_format", "must be a UUID"))?;
    Ok(Json(state.directory.import(&auth.principal, id).await?))
}
