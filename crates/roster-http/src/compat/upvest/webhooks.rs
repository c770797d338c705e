//! The platform's webhook subscriptions, each a native webhook (same id) whose `format` is
//! `upvest`, with the platform's `type` and `config` kept in its settings, and the format that
//! renders its deliveries: `{"payload": [event]}`, each event `{id, created_at, type, object,
//! webhook_id}` with the platform's `USER.*` type and the user as it is at delivery.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::webhooks::{PayloadFormat, Webhook, WebhookInput};
use roster_core::{Directory, TenantId, UserId, WebhookId};
use serde_json::{Value, json};

use super::error::{Result, UpvestError};
use super::{Headers, Upvest, json_body, map, ok, page};
use crate::AppState;
use crate::auth::{Auth, DirectoryAdmin};
use crate::extract::JsonBody;

/// The core events a subscription receives, whatever its `type`: the directory holds users only.
const EVENTS: [&str; 5] = [
    "user.created",
    "user.state_changed",
    "user.data_changed",
    "user.data_change_failed",
    "user.deleted",
];

/// A subscription as the platform answers it.
fn subscription(w: &Webhook) -> Value {
    let settings = w.settings.clone().unwrap_or_default();
    json!({
        "id": w.id,
        "created_at": map::time(w.created_at),
        "updated_at": map::time(w.updated_at),
        "title": w.title.clone().unwrap_or_default(),
        "url": w.url,
        "enabled": w.enabled,
        "type": settings.get("type").cloned().unwrap_or_else(|| json!(["ALL"])),
        "config": settings.get("config").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A create or change of a subscription, checked by the platform's rules, as native input.
fn input(body: Value, create: bool, current: Option<&Webhook>) -> Result<WebhookInput> {
    let Value::Object(mut body) = body else {
        return Err(UpvestError::bad_request("the body must be a JSON object"));
    };
    let mut wrong = Vec::new();
    let mut text = |name: &str, required: bool| match body.remove(name) {
        Some(Value::String(s)) => Some(s),
        None if !required => None,
        _ => {
            wrong.push(format!("{name}: a string is required"));
            None
        }
    };
    let (title, url) = (text("title", create), text("url", create));
    let enabled = match body.remove("enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => {
            wrong.push("enabled: true or false".to_owned());
            None
        }
    };
    let kept = current.and_then(|w| w.settings.clone()).unwrap_or_else(|| json!({}));
    let kinds =
        body.remove("type").unwrap_or_else(|| kept.get("type").cloned().unwrap_or(json!(["ALL"])));
    if !kinds.as_array().is_some_and(|k| !k.is_empty() && k.iter().all(Value::is_string)) {
        wrong.push("type: a list of event types such as [\"USER\"]".to_owned());
    }
    let default = json!({ "delay": "1s", "max_package_size": 1_048_576 });
    let config =
        body.remove("config").unwrap_or_else(|| kept.get("config").cloned().unwrap_or(default));
    let delay = config.get("delay").and_then(Value::as_str).unwrap_or("1s");
    let size = config.get("max_package_size").and_then(Value::as_u64).unwrap_or(100);
    let delay_ok = delay.strip_suffix(['s', 'm']).is_some_and(|n| {
        n.parse::<u8>().is_ok_and(|n| (1..=99).contains(&n)) && !n.starts_with('0')
    });
    if !config.is_object() || !delay_ok || !(100..=1_048_576).contains(&size) {
        wrong.push("config: {delay: 1s to 99m, max_package_size: 100 to 1048576}".to_owned());
    }
    if let Some(unknown) = body.keys().next() {
        wrong.push(format!("{unknown}: not a member of a webhook"));
    }
    if !wrong.is_empty() {
        return Err(UpvestError::bad_request(wrong.join("; ")));
    }
    Ok(WebhookInput {
        url,
        event_types: create.then(|| EVENTS.map(str::to_owned).to_vec()),
        // Created disabled, as at the platform.
        enabled: if create { Some(false) } else { enabled },
        format: Some("upvest".to_owned()),
        title,
        settings: Some(json!({ "type": kinds, "config": config })),
    })
}

fn webhook_id(raw: &str) -> Result<WebhookId> {
    raw.parse().map_err(|_| UpvestError::bad_request("webhook_id: must be a UUID"))
}

/// `GET /webhooks`: the platform's subscriptions, paged like users.
pub(super) async fn list(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<DirectoryAdmin, Upvest>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let all = state.directory.webhooks(&auth.principal).await?;
    let ours: Vec<Value> = all.iter().filter(|w| w.format == "upvest").map(subscription).collect();
    let (offset, limit) = page(&params)?;
    let data: Vec<Value> =
        ours.iter().skip(offset as usize).take(limit as usize).cloned().collect();
    let meta =
        json!({ "offset": offset, "limit": limit, "count": data.len(), "total_count": ours.len() });
    Ok(ok(StatusCode::OK, json!({ "meta": meta, "data": data })))
}

/// `POST /webhooks` → 201, disabled until enabled by a `PATCH`.
pub(super) async fn create(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<DirectoryAdmin, Upvest>,
    headers: HeaderMap,
    body: JsonBody<Upvest>,
) -> Result<Response> {
    let input = input(json_body(&headers, body)?, true, None)?;
    let (webhook, _) = state.directory.create_webhook(&auth.principal, input).await?;
    Ok(ok(StatusCode::CREATED, subscription(&webhook)))
}

/// The platform's subscription `id`: another format's webhook is not one.
async fn ours(state: &AppState, auth: &Auth<DirectoryAdmin, Upvest>, id: &str) -> Result<Webhook> {
    let webhook = state.directory.webhook(&auth.principal, webhook_id(id)?).await?;
    if webhook.format == "upvest" {
        Ok(webhook)
    } else {
        Err(UpvestError::new(StatusCode::NOT_FOUND, "not_found", "webhook not found"))
    }
}

pub(super) async fn get(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<DirectoryAdmin, Upvest>,
    Path(id): Path<String>,
) -> Result<Response> {
    Ok(ok(StatusCode::OK, subscription(&ours(&state, &auth, &id).await?)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<DirectoryAdmin, Upvest>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonBody<Upvest>,
) -> Result<Response> {
    let current = ours(&state, &auth, &id).await?;
    let input = input(json_body(&headers, body)?, false, Some(&current))?;
    let webhook = state.directory.update_webhook(&auth.principal, current.id, input).await?;
    Ok(ok(StatusCode::OK, subscription(&webhook)))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    _: Headers,
    auth: Auth<DirectoryAdmin, Upvest>,
    Path(id): Path<String>,
) -> Result<Response> {
    let webhook = ours(&state, &auth, &id).await?;
    state.directory.delete_webhook(&auth.principal, webhook.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The platform's delivery format.
pub(crate) fn format() -> Arc<dyn PayloadFormat> {
    Arc::new(UpvestFormat)
}

struct UpvestFormat;

/// The platform's event type for a core event, if it has one.
fn event_type(event: &Value) -> Option<&'static str> {
    let data = &event["data"];
    Some(match event["type"].as_str()? {
        "user.created" => "USER.CREATED",
        "user.data_changed" => "USER.DATA_CHANGED",
        "user.data_change_failed" => "USER.DATA_CHANGE_FAILED",
        "user.deleted" => "USER.OFFBOARDED",
        "user.state_changed" => match (data["from"].as_str()?, data["to"].as_str()?) {
            (_, "offboarding") => "USER.OFFBOARDING_INITIATED",
            (from, "active") if from != "active" => "USER.ACTIVATED",
            ("active", _) => "USER.DEACTIVATED",
            _ => return None,
        },
        _ => return None,
    })
}

#[async_trait::async_trait]
impl PayloadFormat for UpvestFormat {
    fn name(&self) -> &'static str {
        "upvest"
    }

    async fn body(
        &self,
        directory: &Directory,
        tenant: TenantId,
        webhook: WebhookId,
        event: &Value,
    ) -> roster_core::Result<Vec<u8>> {
        let mut payload = Vec::new();
        let user_id = event["resource"]["id"].as_str().and_then(|id| id.parse::<UserId>().ok());
        if let (Some(kind), Some(user_id)) = (event_type(event), user_id) {
            let object = if kind == "USER.DATA_CHANGE_FAILED" {
                let first = &event["data"]["errors"][0];
                let field = map::field_name(first["field"].as_str().unwrap_or_default());
                let reason = format!("{field}: {}", first["message"].as_str().unwrap_or("refused"));
                json!({ "user_id": user_id, "reason": reason.chars().take(100).collect::<String>() })
            } else {
                let user = directory.user_at_delivery(tenant, user_id).await?;
                user.as_ref().map_or(Value::Null, map::user)
            };
            payload.push(json!({
                "id": event["id"], "created_at": event["occurred_at"], "type": kind,
                "object": object, "webhook_id": webhook,
            }));
        }
        serde_json::to_vec(&json!({ "payload": payload })).map_err(roster_core::Error::internal)
    }
}
