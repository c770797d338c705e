//! Credential metadata: records of credentials issued to a user, listed by cursor, changed by
//! merge patch, read as expired once past their validity, kept (without metadata) when the user
//! is deleted — and none of it across tenants.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, id, user};
use serde_json::{Value, json};

async fn record(app: &TestApp, user: &Value, body: Value) -> Value {
    let response = app.post(&format!("/v1/users/{}/credentials", id(user))).json(&body);
    expect_status(response.send().await.unwrap(), StatusCode::CREATED).await
}

#[tokio::test]
async fn credentials_are_recorded_listed_changed_and_outlive_their_user() {
    let app = TestApp::spawn().await;
    let ada = app.create_user(user("ada")).await;
    let base = format!("/v1/users/{}/credentials", id(&ada));
    let mdl = record(
        &app,
        &ada,
        json!({ "type": "org.iso.18013.5.1.mDL", "format": "mso_mdoc", "issuer": "https://issuer.example",
                "issued_at": "2026-01-01T00:00:00Z", "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2030-01-01T00:00:00Z", "metadata": { "doc_number": "X1" } }),
    )
    .await;
    assert_eq!((&mdl["status"], &mdl["version"]), (&json!("valid"), &json!(1)));
    let soon = (app.directory.now() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let badge = record(&app, &ada, json!({ "type": "badge", "valid_until": soon })).await;
    let third = record(&app, &ada, json!({ "type": "membership", "status": "suspended" })).await;

    for (bad, field) in [
        (json!({}), "type"),
        (json!({ "type": "x", "status": "lost" }), "status"),
        (json!({ "type": "x", "valid_until": "tomorrow" }), "valid_until"),
        (
            json!({ "type": "x", "valid_from": "2026-02-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z" }),
            "valid_until",
        ),
        (json!({ "type": "x", "metadata": [1] }), "metadata"),
        (json!({ "type": "x", "user_id": id(&ada) }), "user_id"),
    ] {
        let response = app.post(&base).json(&bad).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], field, "{bad}: {problem}");
    }

    // Paged by cursor, in creation order.
    let page =
        expect_status(app.get(&format!("{base}?limit=2")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let after = page["meta"]["next_after"].as_str().unwrap();
    assert_eq!(after, id(&badge));
    let rest = app.get(&format!("{base}?limit=2&after={after}")).send().await.unwrap();
    let rest = expect_status(rest, StatusCode::OK).await;
    assert_eq!(
        (rest["data"][0]["id"].as_str(), &rest["meta"]["next_after"]),
        (Some(id(&third)), &Value::Null)
    );

    // Past `valid_until`, a valid credential reads as expired.
    app.clock.advance(time::Duration::hours(2));
    let path = format!("{base}/{}", id(&badge));
    let expired = expect_status(app.get(&path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(expired["status"], "expired");

    let revoke = |body: Value, tag: &str| {
        app.patch(&format!("{base}/{}", id(&mdl)))
            .header("if-match", tag)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
    };
    let revoked = revoke(json!({ "status": "revoked", "metadata": { "reason": "lost" } }), "\"1\"");
    let revoked = expect_status(revoked.await.unwrap(), StatusCode::OK).await;
    assert_eq!((&revoked["status"], &revoked["version"]), (&json!("revoked"), &json!(2)));
    assert_eq!(revoked["issuer"], "https://issuer.example", "the rest stays");
    expect_status(
        revoke(json!({ "status": "valid" }), "\"1\"").await.unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    let gone = app.delete(&format!("{base}/{}", id(&third))).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    expect_status(
        app.get(&format!("{base}/{}", id(&third))).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Deleting the user keeps the records, readable with the tombstone, without metadata.
    expect_status(
        app.delete(&format!("/v1/users/{}", id(&ada))).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(app.get(&base).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    let kept = app.get(&format!("{base}?include_deleted=true")).send().await.unwrap();
    let kept = expect_status(kept, StatusCode::OK).await;
    let kept = kept["data"].as_array().unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!((&kept[0]["status"], &kept[0]["metadata"]), (&json!("revoked"), &json!({})));

    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["resource"]["type"] == "credential")
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "credential.created",
            "credential.created",
            "credential.created",
            "credential.updated",
            "credential.deleted"
        ]
    );
    assert!(
        !app.events().await.iter().any(|e| e.to_string().contains("X1")),
        "no metadata in events"
    );
}

#[tokio::test]
async fn credentials_are_the_tenants_own() {
    let app = TestApp::spawn().await;
    let ada = app.create_user(user("ada")).await;
    let ours = record(&app, &ada, json!({ "type": "badge" })).await;
    let base = format!("/v1/users/{}/credentials", id(&ada));
    let one = format!("{base}/{}", id(&ours));
    for (method, path) in [
        (Method::GET, base.clone()),
        (Method::POST, base.clone()),
        (Method::GET, one.clone()),
        (Method::PATCH, one.clone()),
        (Method::DELETE, one),
    ] {
        let response = app
            .request_as(&app.decoy_token, method.clone(), &path)
            .header("content-type", "application/json")
            .body(json!({ "type": "x" }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Nor is one user's record reachable under another user of the same tenant.
    let bob = app.create_user(user("bob")).await;
    let elsewhere =
        app.get(&format!("/v1/users/{}/credentials/{}", id(&bob), id(&ours))).send().await;
    expect_status(elsewhere.unwrap(), StatusCode::NOT_FOUND).await;
}
