//! Secrets planted in every way a client can send one never reach the logs, the responses or
//! the events.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, captured_logs, expect_status};
use serde_json::json;

#[tokio::test]
async fn planted_secrets_appear_in_no_log_line_response_or_event() {
    let app = TestApp::spawn().await;
    let mark = uuid::Uuid::new_v4().simple().to_string();
    let password = format!("Planted-Password-{mark}");
    let national_id = format!("Planted-Id-{mark}");
    let second = format!("Planted-Second-{mark}");
    let mut seen = String::new();

    let created = app
        .post("/v1/users")
        .json(&json!({ "username": "planted", "password": password, "national_id": national_id }))
        .send()
        .await
        .unwrap();
    let created = expect_status(created, StatusCode::CREATED).await;
    seen.push_str(&created.to_string());
    let id = created["id"].as_str().unwrap();
    for (path, body) in [
        (format!("/v1/users/{id}/password/verify"), json!({ "password": password })),
        (format!("/v1/users/{id}/password/verify"), json!({ "password": second })),
        (format!("/v1/users/{id}/password"), json!({ "password": second })),
        (format!("/v1/users/{id}/password"), json!({ "password": second, "oops": second })),
        (format!("/v1/users/{id}/password"), json!({ "password": [second] })),
        ("/v1/users".to_owned(), json!({ "username": "x", "password": { "nested": second } })),
    ] {
        seen.push_str(&app.post(&path).json(&body).send().await.unwrap().text().await.unwrap());
    }
    let patch = app
        .patch(&format!("/v1/users/{id}"))
        .header("content-type", "application/merge-patch+json")
        .json(&json!({ "national_id": second }))
        .send()
        .await
        .unwrap();
    seen.push_str(&patch.text().await.unwrap());

    // A token: issued, used, revoked; and a bad one presented.
    let issued =
        app.post("/v1/tokens").json(&json!({ "name": "planted", "scopes": ["users:read"] }));
    let issued = expect_status(issued.send().await.unwrap(), StatusCode::CREATED).await;
    let token = issued["token"].as_str().unwrap().to_owned();
    seen.push_str(
        &app.request_as(&token, Method::GET, "/v1/users")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let bad = format!("rst_{mark}");
    seen.push_str(
        &app.request_as(&bad, Method::GET, "/v1/users").send().await.unwrap().text().await.unwrap(),
    );
    seen.push_str(&format!("{:?}", app.events().await));

    let logs = captured_logs();
    assert!(logs.contains(id), "the capture works: the user's id is logged somewhere");
    for secret in [&password, &national_id, &second, &token, &bad] {
        assert!(!logs.contains(secret.as_str()), "a secret in the logs: {secret}");
        assert!(!seen.contains(secret.as_str()), "a secret in a response or event: {secret}");
    }
    assert!(!logs.contains("$argon2"), "no hash in the logs");
}
