//! `Idempotency-Key` on creates: a retry replays, a reused key with another body is a 409.

use futures::future::join_all;
use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status, user};

#[tokio::test]
async fn a_retry_returns_the_first_response_without_creating_twice() {
    let app = TestApp::spawn().await;
    let send = || {
        app.post("/v1/users").header("idempotency-key", "create-ada-1").json(&user("ada")).send()
    };
    let first = send().await.unwrap();
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first_location = first.headers()["location"].clone();
    let first = expect_status(first, StatusCode::CREATED).await;

    // The user changes meanwhile; the replay still answers as the first response did.
    let id = first["id"].as_str().unwrap();
    let response = app
        .patch(&format!("/v1/users/{id}"))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"locale":"en"}"#)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;

    let retry = send().await.unwrap();
    assert_eq!(retry.headers()["idempotency-replayed"], "true");
    assert_eq!(retry.headers()["location"], first_location);
    assert_eq!(retry.headers()["etag"], "\"1\"");
    assert_eq!(expect_status(retry, StatusCode::CREATED).await, first);
    assert_eq!(app.all_users(false).await.len(), 1);

    let other_body = app
        .post("/v1/users")
        .header("idempotency-key", "create-ada-1")
        .json(&user("bob"))
        .send()
        .await
        .unwrap();
    let problem = expect_status(other_body, StatusCode::CONFLICT).await;
    assert_eq!(problem["type"], "urn:roster:problem:idempotency-key-reused");

    let other_key = app
        .post("/v1/users")
        .header("idempotency-key", "create-ada-2")
        .json(&user("ada"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(other_key, StatusCode::CONFLICT).await["errors"][0]["field"],
        "username"
    );

    let bad_key = app
        .post("/v1/users")
        .header("idempotency-key", "has space")
        .json(&user("c"))
        .send()
        .await
        .unwrap();
    expect_status(bad_key, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn concurrent_retries_create_once() {
    let app = TestApp::spawn().await;
    let sends = (0..8).map(|_| {
        app.post("/v1/users").header("idempotency-key", "burst").json(&user("burst")).send()
    });
    let mut ids = Vec::new();
    for response in join_all(sends).await {
        ids.push(expect_status(response.unwrap(), StatusCode::CREATED).await["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry answers with the one user");
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn deleting_the_user_forgets_its_idempotency_record() {
    let app = TestApp::spawn().await;
    let send = || app.post("/v1/users").header("idempotency-key", "k").json(&user("gone")).send();
    let first = expect_status(send().await.unwrap(), StatusCode::CREATED).await;
    let id = first["id"].as_str().unwrap();
    let response = app.delete(&format!("/v1/users/{id}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The record held the user's data, so erasure removed it: the key creates anew.
    let again = expect_status(send().await.unwrap(), StatusCode::CREATED).await;
    assert_ne!(again["id"], first["id"]);
}

#[tokio::test]
async fn keys_expire_after_a_day() {
    let app = TestApp::spawn().await;
    let first = app
        .post("/v1/users")
        .header("idempotency-key", "daily")
        .json(&user("monday"))
        .send()
        .await
        .unwrap();
    let first = expect_status(first, StatusCode::CREATED).await;
    app.clock.advance(time::Duration::hours(23));
    let reused = app
        .post("/v1/users")
        .header("idempotency-key", "daily")
        .json(&user("tuesday"))
        .send()
        .await
        .unwrap();
    expect_status(reused, StatusCode::CONFLICT).await;
    app.clock.advance(time::Duration::hours(2));
    let fresh = app
        .post("/v1/users")
        .header("idempotency-key", "daily")
        .json(&user("tuesday"))
        .send()
        .await
        .unwrap();
    let fresh = expect_status(fresh, StatusCode::CREATED).await;
    assert_ne!(fresh["id"], first["id"], "after 24 hours the key is free again");
}
