//! `/Bulk` (RFC 7644 §3.7): operations run in order, each as the request it describes sent
//! through the same SCIM routes (so each is authorised, validated, committed and audited like a
//! single request, under the bulk request's id and client address). `bulkId:<id>` references, anywhere in a later operation's path or data, become the
//! id the earlier operation created; `failOnErrors` stops after that many failures.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, HOST, IF_MATCH, LOCATION};
use axum::http::{Extensions, HeaderMap, Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use tower::ServiceExt as _;
use tower_http::request_id::RequestId;

use super::Scim;
use super::discovery::MAX_BULK_OPERATIONS;
use super::{
    BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA, ScimBody, ScimError, ScimResult, get_ci, scim_json,
};
use crate::AppState;
use crate::auth::{Auth, UsersWrite};
use crate::client::ClientAddr;

pub(crate) async fn bulk(
    State(state): State<AppState>,
    _auth: Auth<UsersWrite, Scim>,
    headers: HeaderMap,
    extensions: Extensions,
    ScimBody(body): ScimBody,
) -> ScimResult {
    super::require_schema(&body, BULK_REQUEST_SCHEMA)?;
    let object = body.as_object().cloned().unwrap_or_default();
    let Some(Value::Array(operations)) = get_ci(&object, "Operations") else {
        return Err(ScimError::bad("invalidSyntax", "`Operations` must be an array"));
    };
    if operations.len() > MAX_BULK_OPERATIONS {
        return Err(ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("tooMany"),
            format!("at most {MAX_BULK_OPERATIONS} operations per request"),
        ));
    }
    let fail_on_errors = match get_ci(&object, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                return Err(ScimError::bad(
                    "invalidValue",
                    "`failOnErrors` must be a positive integer",
                ));
            }
        },
    };
    let routes = Router::new()
        .nest("/scim/v2", super::router(usize::MAX))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::audit::record))
        .with_state(state);
    let context = Context {
        headers,
        request_id: extensions.get::<RequestId>().cloned(),
        client: extensions.get::<ClientAddr>().copied(),
    };
    let mut created: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(operations.len());
    let mut errors = 0;
    for operation in operations {
        if fail_on_errors.is_some_and(|n| errors >= n) {
            break;
        }
        let result = match prepare(operation, &created) {
            Ok(prepared) => run(&routes, &context, prepared, &mut created).await,
            Err(e) => failed(operation, &e),
        };
        let status = result["status"].as_str().and_then(|s| s.parse::<u16>().ok()).unwrap_or(500);
        if status >= 400 {
            errors += 1;
        }
        results.push(result);
    }
    Ok(scim_json(
        StatusCode::OK,
        &json!({ "schemas": [BULK_RESPONSE_SCHEMA], "Operations": results }),
    ))
}

/// An operation ready to send.
struct Prepared {
    method: Method,
    path: String,
    bulk_id: Option<String>,
    version: Option<String>,
    data: Option<Value>,
}

fn prepare(operation: &Value, created: &HashMap<String, String>) -> ScimResult<Prepared> {
    let Some(op) = operation.as_object() else {
        return Err(ScimError::bad("invalidSyntax", "an operation must be an object"));
    };
    let text = |name: &str| get_ci(op, name).and_then(Value::as_str).map(str::to_owned);
    let method = match text("method").map(|m| m.to_ascii_uppercase()).as_deref() {
        Some("POST") => Method::POST,
        Some("PUT") => Method::PUT,
        Some("PATCH") => Method::PATCH,
        Some("DELETE") => Method::DELETE,
        _ => {
            return Err(ScimError::bad(
                "invalidSyntax",
                "`method` must be POST, PUT, PATCH or DELETE",
            ));
        }
    };
    let bulk_id = text("bulkId");
    if method == Method::POST && bulk_id.is_none() {
        return Err(ScimError::bad("invalidSyntax", "a POST operation needs a `bulkId`"));
    }
    let path = text("path").ok_or_else(|| ScimError::bad("invalidSyntax", "`path` is required"))?;
    let resource = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if !["Users", "Groups"].iter().any(|r| r.eq_ignore_ascii_case(resource)) {
        return Err(ScimError::bad(
            "invalidPath",
            format!("`{path}` is not a Users or Groups path"),
        ));
    }
    let path = resolve_text(&path, created)?;
    let data = match get_ci(op, "data") {
        None | Some(Value::Null) => None,
        Some(data) => Some(resolve(data, created)?),
    };
    if method != Method::DELETE && data.is_none() {
        return Err(ScimError::bad("invalidSyntax", "`data` is required"));
    }
    Ok(Prepared { method, path, bulk_id, version: text("version"), data })
}

/// `data` with every `bulkId:<id>` string replaced by the id it stands for.
fn resolve(value: &Value, created: &HashMap<String, String>) -> ScimResult<Value> {
    Ok(match value {
        Value::String(s) => Value::String(resolve_text(s, created)?),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| resolve(v, created)).collect::<ScimResult<_>>()?)
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, created)?)))
                .collect::<ScimResult<Map<_, _>>>()?,
        ),
        v => v.clone(),
    })
}

fn resolve_text(text: &str, created: &HashMap<String, String>) -> ScimResult<String> {
    let Some(at) = text.find("bulkId:") else { return Ok(text.to_owned()) };
    let reference = &text[at + "bulkId:".len()..];
    let end = reference.find(['/', '"', ' ']).unwrap_or(reference.len());
    let (bulk_id, rest) = reference.split_at(end);
    let id = created.get(bulk_id).ok_or_else(|| {
        ScimError::new(
            StatusCode::CONFLICT,
            Some("invalidValue"),
            format!("bulkId `{bulk_id}` is not created by an earlier operation"),
        )
    })?;
    Ok(format!("{}{id}{}", &text[..at], resolve_text(rest, created)?))
}

/// What each operation's request carries over from the bulk request.
struct Context {
    headers: HeaderMap,
    request_id: Option<RequestId>,
    client: Option<ClientAddr>,
}

async fn run(
    routes: &Router,
    context: &Context,
    op: Prepared,
    created: &mut HashMap<String, String>,
) -> Value {
    let mut request = Request::builder()
        .method(op.method.clone())
        .uri(format!("/scim/v2/{}", op.path.trim_start_matches('/')));
    for name in [AUTHORIZATION, HOST] {
        if let Some(v) = context.headers.get(&name) {
            request = request.header(name, v);
        }
    }
    if let Some(id) = &context.request_id {
        request = request.extension(id.clone());
    }
    if let Some(client) = context.client {
        request = request.extension(client);
    }
    if let Some(v) = &op.version {
        request = request.header(IF_MATCH, v);
    }
    let body = match &op.data {
        Some(data) => {
            request = request.header(CONTENT_TYPE, "application/scim+json");
            Body::from(serde_json::to_vec(data).unwrap_or_default())
        }
        None => Body::empty(),
    };
    let response = match request.body(body) {
        Ok(request) => routes.clone().oneshot(request).await,
        Err(_) => {
            let e = ScimError::bad("invalidPath", format!("`{}` is not a path", op.path));
            return outcome(&op, None, &e.status, Some(e.body()));
        }
    };
    let Ok(response) = response;
    let status = response.status();
    let location =
        response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let version = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default();
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let (Some(bulk_id), true, Some(id)) =
        (&op.bulk_id, status == StatusCode::CREATED, body.as_ref().and_then(|b| b["id"].as_str()))
    {
        created.insert(bulk_id.clone(), id.to_owned());
    }
    let mut result =
        outcome(&op, location, &status, status.is_client_error().then_some(body).flatten());
    if let Some(v) = version {
        result["version"] = json!(v);
    }
    result
}

fn outcome(
    op: &Prepared,
    location: Option<String>,
    status: &StatusCode,
    response: Option<Value>,
) -> Value {
    let mut result = json!({ "method": op.method.as_str(), "status": status.as_u16().to_string() });
    if let Some(b) = &op.bulk_id {
        result["bulkId"] = json!(b);
    }
    if let Some(l) = location {
        result["location"] = json!(l);
    }
    if let Some(r) = response {
        result["response"] = r;
    }
    result
}

fn failed(operation: &Value, e: &ScimError) -> Value {
    let text = |name: &str| operation.get(name).cloned().unwrap_or(Value::Null);
    let mut result = json!({
        "method": text("method"),
        "status": e.status.as_u16().to_string(),
        "response": e.body(),
    });
    if let Some(b) = operation.get("bulkId") {
        result["bulkId"] = b.clone();
    }
    result
}
