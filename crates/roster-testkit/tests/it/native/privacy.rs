//! A person's data: exported whole on request, and gone from every searchable place when they
//! are deleted.

use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status};
use serde_json::json;

#[tokio::test]
async fn an_export_holds_the_record_and_every_event_about_the_person() {
    let app = TestApp::spawn().await;
    let ada = app
        .create_user(json!({ "username": "ottilie", "name": { "family": "Lovelace" },
            "emails": [{ "value": "ada@example.org" }], "password": "correct horse battery" }))
        .await;
    let other = app.create_user(json!({ "username": "grace" })).await;
    let id = ada["id"].as_str().unwrap();
    let patch = app
        .patch(&format!("/v1/users/{id}"))
        .header("content-type", "application/merge-patch+json")
        .json(&json!({ "locale": "en-GB" }))
        .send()
        .await
        .unwrap();
    expect_status(patch, StatusCode::OK).await;
    expect_status(app.post(&format!("/v1/users/{id}/lock")).send().await.unwrap(), StatusCode::OK)
        .await;

    let export = app.get(&format!("/v1/users/{id}/export")).send().await.unwrap();
    let export = expect_status(export, StatusCode::OK).await;
    assert_eq!(export["user"]["name"]["family"], "Lovelace");
    assert_eq!(export["user"]["password"]["set"], true);
    let kinds: Vec<&str> =
        export["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["user.created", "user.updated", "user.state_changed"]);
    assert!(
        export["events"].as_array().unwrap().iter().all(|e| e["resource"]["id"] == id),
        "only hers"
    );
    assert!(export["exported_at"].is_string());
    assert!(
        !export.to_string().contains("correct horse") && !export.to_string().contains("argon2")
    );
    assert_ne!(other["id"], ada["id"]);

    // Deleted: the tombstone and the events remain exportable; the personal data is gone from
    // the record, the unique values and the value index.
    expect_status(
        app.delete(&format!("/v1/users/{id}")).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let export = app.get(&format!("/v1/users/{id}/export")).send().await.unwrap();
    let export = expect_status(export, StatusCode::OK).await;
    let text = export.to_string();
    for personal in ["ottilie", "Lovelace", "en-GB", "ada@example.org"] {
        assert!(!text.contains(personal), "{personal} survived the erasure: {text}");
    }
    assert_eq!(export["events"].as_array().unwrap().len(), 4);
    let filter = "filter=name.family%20eq%20%22lovelace%22&include_deleted=true";
    let found = expect_status(
        app.get(&format!("/v1/users?{filter}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["data"], json!([]));
    expect_status(
        app.get("/v1/users/by-email/ada@example.org").send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;

    let foreign =
        app.request_as(&app.decoy_token, reqwest::Method::GET, &format!("/v1/users/{id}/export"));
    expect_status(foreign.send().await.unwrap(), StatusCode::NOT_FOUND).await;
}
