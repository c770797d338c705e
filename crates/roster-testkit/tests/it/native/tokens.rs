//! `/v1/tokens`: issuing, listing, using, expiring and revoking API tokens.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

async fn issue(app: &TestApp, body: Value) -> Value {
    let response = app.post("/v1/tokens").json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let token = response.json::<Value>().await.unwrap();
    assert_eq!(location, format!("/v1/tokens/{}", token["id"].as_str().unwrap()));
    token
}

async fn status_as(app: &TestApp, token: &str, method: Method, path: &str) -> StatusCode {
    let request = app.request_as(token, method.clone(), path);
    let request = if method == Method::POST {
        request.json(&json!({ "name": "x", "scopes": ["users:read"] }))
    } else {
        request
    };
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn issued_tokens_work_with_their_scopes_only_and_show_their_secret_once() {
    let app = TestApp::spawn().await;
    let issued = issue(&app, json!({ "name": "reporting", "scopes": ["users:read"] })).await;
    let secret = issued["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rst_") && secret.len() >= 4 + 43, "256 random bits, prefixed");
    assert_eq!(issued["name"], "reporting");
    assert_eq!(issued["scopes"], json!(["users:read"]));
    assert_eq!(issued["last_used_at"], Value::Null);
    assert_eq!(issued["expires_at"], Value::Null);

    assert_eq!(status_as(&app, &secret, Method::GET, "/v1/users").await, StatusCode::OK);
    assert_eq!(status_as(&app, &secret, Method::POST, "/v1/users").await, StatusCode::FORBIDDEN);
    assert_eq!(status_as(&app, &secret, Method::GET, "/v1/tokens").await, StatusCode::FORBIDDEN);
    assert_eq!(status_as(&app, &secret, Method::POST, "/v1/tokens").await, StatusCode::FORBIDDEN);

    let list = app.get("/v1/tokens").send().await.unwrap().text().await.unwrap();
    assert!(!list.contains(&secret), "a listing never holds a secret");
    let list: Value = serde_json::from_str(&list).unwrap();
    let names: Vec<&str> =
        list["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["admin", "reporting"],
        "oldest first; the system token is not the tenant admin's to see"
    );
    let id = issued["id"].as_str().unwrap();
    let one =
        expect_status(app.get(&format!("/v1/tokens/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert!(one.get("token").is_none());
    assert!(one["last_used_at"].is_string(), "use is recorded: {one}");
    assert_eq!(one, list["data"][1]);
}

#[tokio::test]
async fn revoked_tokens_stop_at_once_and_expired_ones_on_time() {
    let app = TestApp::spawn().await;
    let revoked =
        issue(&app, json!({ "name": "ci", "scopes": ["users:write", "users:read"] })).await;
    let secret = revoked["token"].as_str().unwrap();
    assert_eq!(revoked["scopes"], json!(["users:read", "users:write"]));
    assert_eq!(status_as(&app, secret, Method::GET, "/v1/users").await, StatusCode::OK);
    let path = format!("/v1/tokens/{}", revoked["id"].as_str().unwrap());
    expect_status(app.delete(&path).send().await.unwrap(), StatusCode::NO_CONTENT).await;
    assert_eq!(status_as(&app, secret, Method::GET, "/v1/users").await, StatusCode::UNAUTHORIZED);
    expect_status(app.delete(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    expect_status(app.get(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;

    let in_an_hour = (app.directory.now() + time::Duration::hours(1)).format(&Rfc3339).unwrap();
    let expiring =
        issue(&app, json!({ "name": "temp", "scopes": ["users:read"], "expires_at": in_an_hour }))
            .await;
    assert!(expiring["expires_at"].is_string());
    let secret = expiring["token"].as_str().unwrap();
    assert_eq!(status_as(&app, secret, Method::GET, "/v1/users").await, StatusCode::OK);
    app.clock.advance(time::Duration::minutes(61));
    assert_eq!(status_as(&app, secret, Method::GET, "/v1/users").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_of_other_tenants_are_invisible() {
    let app = TestApp::spawn().await;
    let mine = issue(&app, json!({ "name": "mine", "scopes": ["users:read"] })).await;
    let path = format!("/v1/tokens/{}", mine["id"].as_str().unwrap());
    let decoy = |method| app.request_as(&app.decoy_token, method, &path);
    expect_status(decoy(Method::GET).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    expect_status(decoy(Method::DELETE).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    let theirs = app.request_as(&app.decoy_token, Method::GET, "/v1/tokens").send().await.unwrap();
    let theirs = expect_status(theirs, StatusCode::OK).await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1, "only the decoy's own admin token");
    assert_ne!(theirs["data"][0]["id"], mine["id"]);
    let secret = mine["token"].as_str().unwrap();
    assert_eq!(
        status_as(&app, secret, Method::GET, "/v1/users").await,
        StatusCode::OK,
        "still valid"
    );
}

#[tokio::test]
async fn bad_token_documents_are_named_problems() {
    let app = TestApp::spawn().await;
    let fields = |problem: &Value| -> Vec<(String, String)> {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let past = (app.directory.now() - time::Duration::minutes(1)).format(&Rfc3339).unwrap();
    let cases = [
        (json!({ "name": " ", "scopes": [] }), vec![("name", "required"), ("scopes", "required")]),
        (json!({ "name": "x", "scopes": ["users:rwx"] }), vec![("scopes[0]", "invalid_type")]),
        (
            json!({ "name": "x", "scopes": ["users:read"], "expires_at": past }),
            vec![("expires_at", "out_of_range")],
        ),
        (
            json!({ "name": "x", "scopes": ["users:read"], "expires_at": "tomorrow" }),
            vec![("expires_at", "invalid_type")],
        ),
        (
            json!({ "name": "x".repeat(101), "scopes": ["users:read"] }),
            vec![("name", "invalid_format")],
        ),
        (
            json!({ "name": "x", "scopes": ["users:read"], "secret": "mine" }),
            vec![("secret", "unknown_field")],
        ),
        (json!({ "scopes": ["users:read"] }), vec![("", "invalid_type")]),
        (
            json!({ "name": "x", "scopes": ["users:read", "system"] }),
            vec![("scopes[1]", "not_held")],
        ),
    ];
    for (body, expected) in cases {
        let response = app.post("/v1/tokens").json(&body).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        let expected: Vec<(String, String)> =
            expected.into_iter().map(|(f, c)| (f.to_owned(), c.to_owned())).collect();
        assert_eq!(fields(&problem), expected, "{body}");
    }
    let list = expect_status(app.get("/v1/tokens").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "nothing was issued");
    expect_status(app.get("/v1/tokens/not-a-uuid").send().await.unwrap(), StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn a_tokens_use_is_recorded_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let issued = issue(&app, json!({ "name": "ci", "scopes": ["users:read"] })).await;
    let (secret, path) = (
        issued["token"].as_str().unwrap(),
        format!("/v1/tokens/{}", issued["id"].as_str().unwrap()),
    );
    let last_used = || async {
        let one = expect_status(app.get(&path).send().await.unwrap(), StatusCode::OK).await;
        one["last_used_at"].as_str().unwrap().to_owned()
    };
    assert_eq!(status_as(&app, secret, Method::GET, "/v1/users").await, StatusCode::OK);
    let first = last_used().await;
    // Past the principal cache's lifetime the store is asked again, within the minute: kept.
    app.clock.advance(time::Duration::seconds(30));
    assert_eq!(status_as(&app, secret, Method::GET, "/v1/users").await, StatusCode::OK);
    assert_eq!(last_used().await, first, "a use within the minute is not written again");
    app.clock.advance(time::Duration::seconds(31));
    assert_eq!(status_as(&app, secret, Method::GET, "/v1/users").await, StatusCode::OK);
    assert!(last_used().await > first, "a use a minute later is");
}
