//! Operations endpoints: health, readiness, metrics, the OpenAPI document and the docs page.

use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status};
use serde_json::Value;

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/users/by-email/secret.person@example.org").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"roster_http_requests_total{method="GET",route="/v1/users/by-email/{email}",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains("roster_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("roster_db_pool_connections"), "{text}");
    assert!(!text.contains("secret.person"), "raw paths never become labels");
}

#[tokio::test]
async fn openapi_describes_every_v1_route() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    let doc: Value = expect_status(response, StatusCode::OK).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let operations: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let mut operations = operations;
    operations.sort();
    let mut expected = [
        "GET /v1/events",
        "GET /v1/users",
        "POST /v1/users",
        "POST /v1/users/search",
        "POST /v1/users/bulk",
        "GET /v1/users/count",
        "GET /v1/users/by-email/{email}",
        "GET /v1/users/by-external-id/{external_id}",
        "GET /v1/users/by-identity",
        "GET /v1/users/by-phone/{phone}",
        "GET /v1/users/by-username/{username}",
        "GET /v1/users/{id}",
        "PUT /v1/users/{id}",
        "PATCH /v1/users/{id}",
        "DELETE /v1/users/{id}",
        "POST /v1/users/{id}/{action}",
        "GET /v1/tokens",
        "POST /v1/tokens",
        "GET /v1/tokens/{id}",
        "DELETE /v1/tokens/{id}",
        "POST /v1/users/{id}/password",
        "POST /v1/users/{id}/password/verify",
        "POST /v1/users/{id}/secret",
        "GET /v1/users/{id}/export",
        "DELETE /v1/users/{id}/secret",
        "GET /v1/tenants",
        "POST /v1/tenants",
        "GET /v1/tenants/{id}",
        "PATCH /v1/tenants/{id}",
        "DELETE /v1/tenants/{id}",
        "GET /v1/audit",
        "GET /v1/audit/unauthenticated",
        "POST /v1/users/{id}/offboard",
        "GET /v1/jobs/{id}",
        "POST /v1/users/{id}/data-changes",
        "POST /v1/imports",
        "GET /v1/imports/{id}",
        "POST /v1/webhooks",
        "GET /v1/webhooks",
        "GET /v1/webhooks/{id}",
        "PATCH /v1/webhooks/{id}",
        "DELETE /v1/webhooks/{id}",
        "POST /v1/webhooks/{id}/test",
        "GET /v1/webhooks/{id}/deliveries",
        "POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
        "POST /v1/organizations",
        "GET /v1/organizations",
        "GET /v1/organizations/{id}",
        "PATCH /v1/organizations/{id}",
        "DELETE /v1/organizations/{id}",
        "GET /v1/organizations/{id}/children",
        "POST /v1/organizations/{id}/move",
        "GET /v1/organizations/{id}/users",
        "PUT /v1/organizations/{id}/members/{user_id}",
        "DELETE /v1/organizations/{id}/members/{user_id}",
        "GET /v1/users/{id}/organizations",
        "POST /v1/groups",
        "GET /v1/groups",
        "GET /v1/groups/{id}",
        "PATCH /v1/groups/{id}",
        "DELETE /v1/groups/{id}",
        "GET /v1/groups/{id}/members",
        "POST /v1/groups/{id}/members",
        "DELETE /v1/groups/{id}/members/{member_id}",
        "GET /v1/users/{id}/groups",
        "POST /v1/organizations/{id}/roles",
        "GET /v1/organizations/{id}/roles",
        "GET /v1/roles/{id}",
        "PATCH /v1/roles/{id}",
        "DELETE /v1/roles/{id}",
        "GET /v1/roles/{id}/users",
        "GET /v1/users/{id}/roles",
        "POST /v1/users/{id}/roles",
        "DELETE /v1/users/{id}/roles/{role_id}",
        "POST /v1/applications",
        "GET /v1/applications",
        "GET /v1/applications/{id}",
        "PATCH /v1/applications/{id}",
        "DELETE /v1/applications/{id}",
        "GET /v1/users/{id}/applications",
        "PUT /v1/users/{id}/applications/{app_id}",
        "GET /v1/users/{id}/applications/{app_id}",
        "DELETE /v1/users/{id}/applications/{app_id}",
        "POST /v1/users/{id}/credentials",
        "GET /v1/users/{id}/credentials",
        "GET /v1/users/{id}/credentials/{credential_id}",
        "PATCH /v1/users/{id}/credentials/{credential_id}",
        "DELETE /v1/users/{id}/credentials/{credential_id}",
        "POST /v1/invitations",
        "GET /v1/invitations/{id}",
        "POST /v1/invitations/{id}/accept",
        "POST /v1/invitations/{id}/reinvite",
        "GET /v1/organizations/{id}/invitations",
        "GET /v1/users/{id}/invitations",
        "POST /v1/mandates",
        "GET /v1/mandates/{id}",
        "POST /v1/mandates/{id}/revoke",
        "POST /v1/mandates/{id}/delegations",
        "GET /v1/mandates/{id}/delegations",
        "GET /v1/users/{id}/mandates",
        "GET /v1/organizations/{id}/mandates",
        "GET /v1/users/{id}/delegations",
        "GET /v1/audit/system",
        "GET /v1/roles",
        "GET /v1/mandates",
        "GET /v1/invitations",
    ];
    expected.sort();
    assert_eq!(operations, expected);
    assert!(doc["components"]["schemas"]["User"].is_object());
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for reference in refs {
        let name = reference.strip_prefix("#/components/schemas/").expect("a schema reference");
        assert!(doc["components"]["schemas"][name].is_object(), "{reference} does not resolve");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn docs_are_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/docs")).send().await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.starts_with("default-src 'self';"), "{policy}");
    let page = page.text().await.unwrap();
    assert!(page.contains("/docs/init.js") && page.contains("/docs/swagger-ui-bundle.js"));
    assert!(!page.contains("<script>"), "no inline script: the policy forbids them");
    let init = app.http.get(app.url("/docs/init.js")).send().await.unwrap().text().await.unwrap();
    assert!(init.contains("/openapi.json"));
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        let response = app.http.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.bytes().await.unwrap().len() > 100_000, "{asset}");
    }
}

/// A request in flight when shutdown begins still completes; then the server stops.
#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut app = TestApp::spawn().await;
    let body = r#"{"username":"in-flight"}"#;
    let mut tcp =
        tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /v1/users HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        app.token,
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // "100 Continue" means the handler is running and reading the body: the request is in flight.
    let mut buf = vec![0u8; 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100 Continue"));

    app.begin_shutdown();
    tcp.write_all(body.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201 Created"), "{response}");
    assert!(response.contains("in-flight"));

    app.stopped().await.expect("a clean stop");
    assert!(reqwest::get(app.url("/healthz")).await.is_err(), "no longer listening");
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
