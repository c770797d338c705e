//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document and its
//! interactive reference (Swagger UI, embedded in the binary).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::problem::Problem;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
        .route("/docs/swagger-ui-bundle.js", get(swagger_js))
        .route("/docs/swagger-ui.css", get(swagger_css))
        .route("/docs/init.js", get(swagger_init))
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.directory.ready().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database does not answer",
            )
            .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(state.directory.pool_stats());
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

async fn openapi(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], state.openapi.clone())
        .into_response()
}

/// The API reference page. Its policy allows this origin's scripts and styles only (Swagger UI
/// sets inline styles); every other response forbids everything.
async fn docs() -> Response {
    let policy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                  frame-ancestors 'none'";
    ([(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy))], Html(DOCS_PAGE))
        .into_response()
}

async fn swagger_init() -> Response {
    asset("text/javascript; charset=utf-8", DOCS_INIT.as_bytes())
}

async fn swagger_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
    )
}

async fn swagger_css() -> Response {
    asset("text/css; charset=utf-8", include_bytes!("../assets/swagger-ui/swagger-ui.css"))
}

fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        bytes,
    )
        .into_response()
}

const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Roster API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"##;

const DOCS_INIT: &str = "window.ui = SwaggerUIBundle({ url: \"/openapi.json\", dom_id: \"#ui\", deepLinking: true });\n";
