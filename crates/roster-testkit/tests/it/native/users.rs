//! Create, read, replace, patch and list users.

use reqwest::StatusCode;
use roster_testkit::{DECOY_USERNAME, TestApp, expect_status, user};
use serde_json::{Value, json};

/// The create body of the native document, as the API documentation shows it.
pub(crate) fn karl() -> Value {
    json!({
        "kind": "human", "username": "karl.schmidt",
        "name": { "given": "Karl", "middle": null, "family": "Schmidt", "display": "Dr. Karl Schmidt", "nickname": null },
        "salutation": "male", "title": "dr", "gender": "male",
        "birth": { "date": "1972-09-30", "city": "Berlin", "country": "DE", "name": "Schmidt" },
        "nationalities": ["DE", "AU"],
        "emails": [ { "value": "karl@example.org", "primary": true, "verified": false } ],
        "phones": [ { "value": "+4930901820", "primary": true, "verified": false } ],
        "locale": "de-DE", "picture": "https://example.org/karl.png",
        "address": { "line1": "Rosenweg 221", "line2": "apt. 33", "postcode": "45678", "city": "Berlin", "state": "BE", "country": "DE" },
        "postal_address": null, "national_id": "111111-111C",
        "external_ids": { "external_user_id": "crm-1", "external_account_id": null },
        "attributes": { "browsers": ["firefox", "chrome"] },
        "claims": { "loyalty": { "tier": "gold" } },
        "organization_id": null, "password": "correct horse battery staple"
    })
}

#[tokio::test]
async fn create_returns_the_user_with_location_and_etag() {
    let app = TestApp::spawn().await;
    let response = app.post("/v1/users").json(&karl()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/users/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(created["version"], 1);
    assert_eq!(created["state"], "active");
    assert_eq!(created["kind"], "human");
    assert_eq!(created["name"]["family"], "Schmidt");
    assert_eq!(created["birth"]["date"], "1972-09-30");
    assert_eq!(created["nationalities"], json!(["DE", "AU"]));
    assert_eq!(created["attributes"]["browsers"], json!(["firefox", "chrome"]));
    assert_eq!(created["claims"]["loyalty"]["tier"], "gold");
    assert!(created["organization_id"].is_string(), "the root organization is the default");
    assert_eq!(created["password"]["set"], true);
    assert_eq!(created["password"]["change_required"], false);
    assert_eq!(created["national_id"], json!({ "set": true }));
    assert_eq!(created["created_at"], created["updated_at"]);
    assert!(created.get("has_secret").is_none(), "only machines have secrets");

    // The secrets never come back, neither hashed nor plain.
    let text = created.to_string();
    for secret in ["correct horse", "$argon2", "111111-111C"] {
        assert!(!text.contains(secret), "response contains {secret}");
    }

    let fetched = app.get(&location).send().await.unwrap();
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    assert_eq!(expect_status(fetched, StatusCode::OK).await, created);
}

#[tokio::test]
async fn machine_users_have_a_machine_block_and_no_person_fields() {
    let app = TestApp::spawn().await;
    let machine = app
        .create_user(json!({
            "kind": "machine", "username": "ci-bot",
            "machine": { "name": "CI", "description": "builds", "access_token_type": "jwt" }
        }))
        .await;
    assert_eq!(machine["kind"], "machine");
    assert_eq!(
        machine["machine"],
        json!({ "name": "CI", "description": "builds", "access_token_type": "jwt" })
    );
    assert_eq!(machine["has_secret"], false);

    // A machine keeps its kind across a replace that does not mention it.
    let id = machine["id"].as_str().unwrap();
    let replaced = app
        .put(&format!("/v1/users/{id}"))
        .json(&json!({ "username": "ci-bot", "machine": { "name": "CI 2" } }))
        .send()
        .await
        .unwrap();
    let replaced = expect_status(replaced, StatusCode::OK).await;
    assert_eq!(replaced["machine"]["name"], "CI 2");
    assert_eq!(replaced["machine"]["access_token_type"], "bearer");

    let kind_change = app
        .put(&format!("/v1/users/{id}"))
        .json(&json!({ "kind": "human", "username": "ci-bot" }))
        .send()
        .await
        .unwrap();
    let problem = expect_status(kind_change, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "kind");
    assert_eq!(problem["errors"][0]["code"], "read_only");
}

#[tokio::test]
async fn put_replaces_writable_fields_and_keeps_write_only_ones() {
    let app = TestApp::spawn().await;
    let created = app.create_user(karl()).await;
    let id = created["id"].as_str().unwrap();
    let response = app
        .put(&format!("/v1/users/{id}"))
        .json(&json!({ "username": "karl", "name": { "given": "Karl" }, "locale": "en" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let replaced = expect_status(response, StatusCode::OK).await;
    assert_eq!(replaced["username"], "karl");
    assert_eq!(replaced["version"], 2);
    assert_eq!(replaced["name"]["family"], Value::Null, "absent fields are cleared");
    assert_eq!(replaced["emails"], json!([]));
    assert_eq!(replaced["attributes"], json!({}));
    assert_eq!(replaced["organization_id"], created["organization_id"]);
    assert_eq!(replaced["password"]["set"], true, "absent password is kept");
    assert_eq!(replaced["national_id"]["set"], true, "absent national id is kept");
    assert_eq!(replaced["created_at"], created["created_at"]);

    // The old e-mail is free again.
    let mut other = user("other");
    other["emails"] = json!([{ "value": "karl@example.org" }]);
    app.create_user(other).await;
}

#[tokio::test]
async fn put_rejects_read_only_fields() {
    let app = TestApp::spawn().await;
    let created = app.create_user(user("ro")).await;
    let id = created["id"].as_str().unwrap();
    let response = app
        .put(&format!("/v1/users/{id}"))
        .json(&json!({ "username": "ro", "id": id, "version": 1, "state": "inactive" }))
        .send()
        .await
        .unwrap();
    let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [("id", "read_only"), ("version", "read_only")]);
}

#[tokio::test]
async fn merge_patch_changes_only_what_it_names() {
    let app = TestApp::spawn().await;
    let created = app.create_user(karl()).await;
    let id = created["id"].as_str().unwrap();
    for content_type in ["application/merge-patch+json", "application/json"] {
        let response = app
            .patch(&format!("/v1/users/{id}"))
            .header("content-type", content_type)
            .body(json!({ "name": { "nickname": "Kalle" } }).to_string())
            .send()
            .await
            .unwrap();
        expect_status(response, StatusCode::OK).await;
    }
    let response = app
        .merge_patch(&format!("/v1/users/{id}"), &json!({ "name": { "middle": "Maria" }, "title": null, "claims": { "loyalty": { "tier": "silver" } } }))
        .send()
        .await
        .unwrap();
    let patched = expect_status(response, StatusCode::OK).await;
    assert_eq!(patched["version"], 3, "the second identical patch changed nothing");
    assert_eq!(patched["name"]["given"], "Karl");
    assert_eq!(patched["name"]["middle"], "Maria");
    assert_eq!(patched["name"]["nickname"], "Kalle");
    assert_eq!(patched["title"], Value::Null);
    assert_eq!(patched["claims"], json!({ "loyalty": { "tier": "silver" } }));
    assert_eq!(patched["emails"], created["emails"]);

    // `null` on a write-only field removes it.
    let response = app
        .merge_patch(&format!("/v1/users/{id}"), &json!({ "password": null, "national_id": null }))
        .send()
        .await
        .unwrap();
    let patched = expect_status(response, StatusCode::OK).await;
    assert_eq!(patched["password"]["set"], false);
    assert_eq!(patched["national_id"]["set"], false);

    // A patch is validated like a whole document.
    let response = app
        .merge_patch(&format!("/v1/users/{id}"), &json!({ "state": "inactive", "locale": "??" }))
        .send()
        .await
        .unwrap();
    let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "state");
    assert_eq!(problem["errors"][1]["field"], "locale");
}

#[tokio::test]
async fn list_pages_by_creation_and_hides_other_tenants() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(user(&format!("user{i}"))).await["id"].clone());
    }
    let page = app.get("/v1/users?limit=2&offset=1").send().await.unwrap();
    let page = expect_status(page, StatusCode::OK).await;
    assert_eq!(page["meta"]["limit"], 2);
    assert_eq!(page["meta"]["offset"], 1);
    assert_eq!(page["meta"]["sort_by"], "created_at");
    assert_eq!(page["meta"]["order"], "asc");
    assert!(page["meta"]["next_cursor"].is_string(), "a full page has a next page");
    let got: Vec<Value> =
        page["data"].as_array().unwrap().iter().map(|u| u["id"].clone()).collect();
    assert_eq!(got, ids[1..3]);

    let all = app.all_users(false).await;
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|u| u["username"] != DECOY_USERNAME));

    for bad in ["limit=0", "limit=1001", "limit=ten", "offset=-1", "colour=blue", "limit=1&limit=2"]
    {
        let response = app.get(&format!("/v1/users?{bad}")).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert!(!problem["errors"].as_array().unwrap().is_empty(), "{bad}: {problem}");
    }
}

#[tokio::test]
async fn organization_must_exist_in_the_tenant() {
    let app = TestApp::spawn().await;
    let mut body = user("orphan");
    body["organization_id"] = json!("01900000-0000-7000-8000-000000000000");
    let response = app.post("/v1/users").json(&body).send().await.unwrap();
    let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "organization_id");
    assert_eq!(problem["errors"][0]["code"], "not_found");

    // The root organization of the tenant is accepted explicitly.
    let root = app.create_user(user("rooted")).await["organization_id"].clone();
    let mut body = user("explicit");
    body["organization_id"] = root.clone();
    assert_eq!(app.create_user(body).await["organization_id"], root);
}

#[tokio::test]
async fn a_username_is_optional_and_unique_when_set() {
    let app = TestApp::spawn().await;
    let first = app.create_user(json!({ "claims": { "tier": "gold" } })).await;
    let second = app.create_user(json!({})).await;
    assert_eq!((&first["username"], &second["username"]), (&Value::Null, &Value::Null));
    let ada = app.create_user(user("ada")).await;
    let taken = app.post("/v1/users").json(&json!({ "username": "ADA" })).send().await.unwrap();
    expect_status(taken, StatusCode::CONFLICT).await;

    // Removed by a merge patch, the username is free again; sorting puts users without one first.
    let id = ada["id"].as_str().unwrap();
    let patch = app.merge_patch(&format!("/v1/users/{id}"), &json!({ "username": null }));
    let patched = expect_status(patch.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(patched["username"], Value::Null);
    let missing = app.get("/v1/users/by-username/ada").send().await.unwrap();
    expect_status(missing, StatusCode::NOT_FOUND).await;
    app.create_user(user("ada")).await;
    let page = app.get("/v1/users?sort_by=username&order=desc").send().await.unwrap();
    let page = expect_status(page, StatusCode::OK).await;
    let names: Vec<&Value> =
        page["data"].as_array().unwrap().iter().map(|u| &u["username"]).collect();
    assert_eq!(names, [&json!("ada"), &Value::Null, &Value::Null, &Value::Null]);
}
