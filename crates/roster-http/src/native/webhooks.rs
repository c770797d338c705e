//! `/v1/webhooks`: where the tenant's events are pushed, and how each delivery went.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::Response;
use roster_core::input::parse_document;
use roster_core::webhooks::{Delivery, Webhook, WebhookInput};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::json_with;
use crate::AppState;
use crate::auth::{Auth, DirectoryAdmin};
use crate::extract::{ApiQuery, JsonBody, from_str, parse_id};
use crate::problem::{ApiError, Problem};

/// A new webhook and, this once, its signing secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedWebhook {
    #[serde(flatten)]
    webhook: Webhook,
    /// Signs every delivery (`Roster-Signature`); shown only in this response.
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct WebhookList {
    data: Vec<Webhook>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryPage {
    data: Vec<Delivery>,
    meta: DeliveryMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryMeta {
    /// Pass as `before` for older deliveries; absent on the last page.
    next_before: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryParams {
    /// Deliveries with an id below this one (default: from the newest).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<i64>)]
    before: Option<i64>,
    /// At most this many deliveries, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The body of `PATCH /v1/webhooks/{id}`: the fields to change.
// It only describes the body in the API document; the handler reads a `WebhookInput`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct WebhookChanges {
    /// `https://…` (or `http://`); no user name or password in it.
    url: Option<String>,
    /// Event types (`user.created`) or families (`user.*`).
    #[schema(min_items = 1, max_items = 32)]
    event_types: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// Register a webhook.
///
/// Every event of the tenant whose type matches `event_types` is POSTed to `url` as JSON (the
/// feed item), with headers `Roster-Event-Id` (for deduplication) and `Roster-Signature:
/// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`. Any 2xx answer
/// within 10 seconds is a success; otherwise the delivery is retried with exponential backoff
/// for the retry window (default 24 h), then marked failed.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body(content = WebhookInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered; the signing secret is in `secret`, shown once", body = CreatedWebhook, headers(("Location" = String))),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let input: WebhookInput = parse_document(body.value)?;
    let (webhook, secret) = state.directory.create_webhook(&auth.principal, input).await?;
    let location = format!("/v1/webhooks/{}", webhook.id);
    let created = CreatedWebhook { webhook, secret: secret.expose_secret().to_owned() };
    Ok(json_with(StatusCode::CREATED, created, LOCATION, &location))
}

/// List the tenant's webhooks, oldest first.
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The webhooks", body = WebhookList),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList { data: state.directory.webhooks(&auth.principal).await? }))
}

/// Get a webhook.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook (or delivery)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn get_webhook(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(state.directory.webhook(&auth.principal, parse_id("id", &id)?).await?))
}

/// Change a webhook's URL, event types or `enabled`; what the body leaves out stays.
#[utoipa::path(
    patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = WebhookChanges, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed webhook", body = Webhook),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook (or delivery)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn update_webhook(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Webhook>, ApiError> {
    let id = parse_id("id", &id)?;
    let input: WebhookInput = parse_document(body.value)?;
    Ok(Json(state.directory.update_webhook(&auth.principal, id, input).await?))
}

/// Delete a webhook and its deliveries.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook (or delivery)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_webhook(&auth.principal, parse_id("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a `webhook.test` event to the webhook (also when it is disabled).
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 202, description = "Queued; follow it in the deliveries", body = Delivery),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook (or delivery)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn test_webhook(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let delivery = state.directory.test_webhook(&auth.principal, parse_id("id", &id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}

/// List a webhook's deliveries, newest first: status, attempts, last answer and error.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, format = Uuid), DeliveryParams),
    responses(
        (status = 200, description = "Deliveries below `before`", body = DeliveryPage),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook (or delivery)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let limit = params.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT);
    let id = parse_id("id", &id)?;
    let data = state.directory.deliveries(&auth.principal, id, params.before, limit).await?;
    let full = data.len() == limit as usize;
    let next_before = data.last().filter(|_| full).map(|d| d.id);
    Ok(Json(DeliveryPage { data, meta: DeliveryMeta { next_before } }))
}

/// Deliver again, now, whatever became of the delivery before; the retry window starts over.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, format = Uuid), ("delivery_id" = i64, Path)),
    responses(
        (status = 202, description = "Queued", body = Delivery),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook (or delivery)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["directory:admin"]))
)]
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin>,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let id = parse_id("id", &id)?;
    let delivery = delivery
        .parse()
        .map_err(|_| Problem::invalid("delivery_id", "invalid_format", "must be an integer"))?;
    let delivery = state.directory.redeliver(&auth.principal, id, delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
