//! Lookups by username, e-mail, phone, external id, alias and identity link, within the tenant
//! only.

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

/// Aliases are a user's ids in other systems: validated, unique per tenant and namespace (a
/// 409 naming the alias), searchable, and replaced or removed like any field.
#[tokio::test]
async fn aliases_are_unique_per_namespace_and_searchable() {
    let app = TestApp::spawn().await;
    let ada =
        app.create_user(json!({ "username": "ada", "aliases": { "crm": "C-1", "hr": "7" } })).await;
    assert_eq!(ada["aliases"], json!({ "crm": "C-1", "hr": "7" }));
    // The same value in another namespace, or in another tenant, is another alias.
    app.create_user(json!({ "username": "bob", "aliases": { "erp": "C-1" } })).await;
    let decoy = app.request_as(&app.decoy_token, reqwest::Method::POST, "/v1/users");
    let decoy = decoy.json(&json!({ "username": "d2", "aliases": { "crm": "C-1" } }));
    expect_status(decoy.send().await.unwrap(), StatusCode::CREATED).await;

    let taken =
        app.post("/v1/users").json(&json!({ "username": "eve", "aliases": { "crm": "C-1" } }));
    let problem = expect_status(taken.send().await.unwrap(), StatusCode::CONFLICT).await;
    assert_eq!(problem["errors"][0]["field"], "aliases.crm", "{problem}");
    for (aliases, field) in [
        (json!({ "CRM": "x" }), "aliases.CRM"),
        (json!({ "a:b": "x" }), "aliases.a:b"),
        (json!({ "crm": "" }), "aliases.crm"),
        (json!({ "crm": 7 }), "aliases.crm"),
    ] {
        let bad = app.post("/v1/users").json(&json!({ "username": "eve", "aliases": aliases }));
        let problem = expect_status(bad.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    let found = app.get("/v1/users").query(&[("filter", r#"aliases.crm eq "C-1""#)]).send();
    let found = expect_status(found.await.unwrap(), StatusCode::OK).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["id"], ada["id"]);

    let id = ada["id"].as_str().unwrap();
    let patch = app.merge_patch(&format!("/v1/users/{id}"), &json!({ "aliases": { "crm": null } }));
    let patched = expect_status(patch.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(patched["aliases"], json!({ "hr": "7" }));
    // Freed, the alias can be another user's.
    app.create_user(json!({ "username": "eve", "aliases": { "crm": "C-1" } })).await;
}

#[tokio::test]
async fn identity_links_are_unique_exact_and_found() {
    let app = TestApp::spawn().await;
    let idp = "https://idp.example.org/realms/staff";
    let link = |subject: &str| json!([{ "provider": idp, "subject": subject }]);
    let ada = app.create_user(json!({ "username": "ada", "identities": link("oauth2|Ada") })).await;
    assert_eq!(ada["identities"], link("oauth2|Ada"), "kept exactly as given");
    // Subjects compare exactly: another case is another account; so is another provider, or
    // the same account in another tenant.
    app.create_user(json!({ "username": "bob", "identities": link("oauth2|ada") })).await;
    let other = json!([{ "provider": format!("{idp}/"), "subject": "oauth2|Ada" }]);
    app.create_user(json!({ "username": "cyd", "identities": other })).await;
    let decoy = app.request_as(&app.decoy_token, reqwest::Method::POST, "/v1/users");
    let decoy = decoy.json(&json!({ "username": "d2", "identities": link("oauth2|Ada") }));
    expect_status(decoy.send().await.unwrap(), StatusCode::CREATED).await;

    let taken =
        app.post("/v1/users").json(&json!({ "username": "eve", "identities": link("oauth2|Ada") }));
    let problem = expect_status(taken.send().await.unwrap(), StatusCode::CONFLICT).await;
    assert_eq!(problem["errors"][0]["field"], "identities[0]", "{problem}");
    for (identities, field) in [
        (json!([{ "provider": "idp.example.org", "subject": "x" }]), "identities[0].provider"),
        (
            json!([{ "provider": "ftp://idp.example.org", "subject": "x" }]),
            "identities[0].provider",
        ),
        (json!([{ "provider": idp, "subject": "" }]), "identities[0].subject"),
        (json!([{ "provider": idp, "subject": "x".repeat(256) }]), "identities[0].subject"),
        (json!([{ "provider": idp, "subject": "a\nb" }]), "identities[0].subject"),
        (
            json!([{ "provider": idp, "subject": "x" }, { "provider": idp, "subject": "x" }]),
            "identities[1]",
        ),
        (json!([{ "provider": idp }]), "identities"),
    ] {
        let bad =
            app.post("/v1/users").json(&json!({ "username": "eve", "identities": identities }));
        let problem = expect_status(bad.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert!(problem["errors"][0]["field"].as_str().unwrap().starts_with(field), "{problem}");
    }

    let find = |subject: &str| {
        app.get("/v1/users/by-identity").query(&[("provider", idp), ("subject", subject)]).send()
    };
    let found = expect_status(find("oauth2|Ada").await.unwrap(), StatusCode::OK).await;
    assert_eq!(found["id"], ada["id"]);
    expect_status(find("OAUTH2|ADA").await.unwrap(), StatusCode::NOT_FOUND).await;
    let missing = app.get("/v1/users/by-identity").query(&[("provider", idp)]).send().await;
    expect_status(missing.unwrap(), StatusCode::BAD_REQUEST).await;
    let filtered =
        app.get("/v1/users").query(&[("filter", r#"identities[subject eq "oauth2|ada"]"#)]);
    let filtered = expect_status(filtered.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 3, "filters compare without case");

    // Unlinked, the account can be linked to another user.
    let id = ada["id"].as_str().unwrap();
    let patch = app.merge_patch(&format!("/v1/users/{id}"), &json!({ "identities": [] }));
    let patched = expect_status(patch.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(patched["identities"], json!([]), "{patched}");
    expect_status(find("oauth2|Ada").await.unwrap(), StatusCode::NOT_FOUND).await;
    app.create_user(json!({ "username": "eve", "identities": link("oauth2|Ada") })).await;
}
