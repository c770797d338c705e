//! `/v1/jobs`: asynchronous work the tenant asked for, and how it went.

use axum::Json;
use axum::extract::{Path, State};
use roster_core::jobs::Job;

use crate::AppState;
use crate::auth::{Auth, UsersRead};
use crate::problem::{ApiError, Problem};

/// Get a job: its kind, state (`queued`, `running`, `succeeded`, `failed`), runs and last error.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope", body = Problem, content_type = "application/problem+json"),
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
