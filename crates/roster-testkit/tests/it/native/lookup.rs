//! Lookups by username, e-mail, phone and external id, within the tenant only.

use reqwest::StatusCode;
use roster_testkit::{
    DECOY_EMAIL, DECOY_EXTERNAL_ID, DECOY_PHONE, DECOY_USERNAME, TestApp, expect_status,
};
use serde_json::json;

#[tokio::test]
async fn every_unique_value_finds_its_user() {
    let app = TestApp::spawn().await;
    let created = app
        .create_user(json!({
            "username": "Ada.Lovelace",
            "emails": [{ "value": "ada@example.org", "primary": true }, { "value": "countess@example.org" }],
            "phones": [{ "value": "+442071234567" }],
            "external_ids": { "external_user_id": "crm-42" },
        }))
        .await;
    for path in [
        "/v1/users/by-username/ada.lovelace",
        "/v1/users/by-username/ADA.LOVELACE",
        "/v1/users/by-email/ada@example.org",
        "/v1/users/by-email/Countess@Example.org",
        "/v1/users/by-phone/+442071234567",
        "/v1/users/by-phone/+44%2020%207123%204567",
        "/v1/users/by-external-id/crm-42",
    ] {
        let response = app.get(path).send().await.unwrap();
        assert_eq!(response.headers()["etag"], "\"1\"", "{path}");
        assert_eq!(expect_status(response, StatusCode::OK).await["id"], created["id"], "{path}");
    }
    for path in [
        "/v1/users/by-email/nobody@example.org",
        "/v1/users/by-phone/not-a-number",
        "/v1/users/by-external-id/CRM-42",
    ] {
        let response = app.get(path).send().await.unwrap();
        expect_status(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn other_tenants_are_invisible() {
    let app = TestApp::spawn().await;
    for path in [
        format!("/v1/users/by-username/{DECOY_USERNAME}"),
        format!("/v1/users/by-email/{DECOY_EMAIL}"),
        format!("/v1/users/by-phone/{DECOY_PHONE}"),
        format!("/v1/users/by-external-id/{DECOY_EXTERNAL_ID}"),
    ] {
        let response = app.get(&path).send().await.unwrap();
        expect_status(response, StatusCode::NOT_FOUND).await;
    }
    // The decoy's id is as unknown here as any other.
    let decoy = app
        .request_as(
            &app.decoy_token,
            reqwest::Method::GET,
            &format!("/v1/users/by-username/{DECOY_USERNAME}"),
        )
        .send()
        .await
        .unwrap();
    let decoy = expect_status(decoy, StatusCode::OK).await;
    let id = decoy["id"].as_str().unwrap();
    for response in [
        app.get(&format!("/v1/users/{id}")).send().await.unwrap(),
        app.put(&format!("/v1/users/{id}"))
            .json(&json!({ "username": "mine" }))
            .send()
            .await
            .unwrap(),
        app.post(&format!("/v1/users/{id}/lock")).send().await.unwrap(),
        app.delete(&format!("/v1/users/{id}")).send().await.unwrap(),
    ] {
        expect_status(response, StatusCode::NOT_FOUND).await;
    }
    // Unique values are unique per tenant: the decoy's are free here.
    app.create_user(json!({
        "username": DECOY_USERNAME,
        "emails": [{ "value": DECOY_EMAIL }],
        "phones": [{ "value": DECOY_PHONE }],
        "external_ids": { "external_user_id": DECOY_EXTERNAL_ID },
    }))
    .await;
    assert!(app.events().await.iter().all(|e| e["resource"]["id"] != decoy["id"]));
}
