//! Applications: registered by name, with users' memberships holding per-application data that
//! goes with the membership alone — and none of it across tenants.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, id, user};
use serde_json::{Value, json};

async fn register(app: &TestApp, name: &str) -> Value {
    let response = app.post("/v1/applications").json(&json!({ "name": name }));
    expect_status(response.send().await.unwrap(), StatusCode::CREATED).await
}

#[tokio::test]
async fn users_belong_to_applications_with_data_of_their_own() {
    let app = TestApp::spawn().await;
    let portal = register(&app, "Portal").await;
    let shop = register(&app, "Shop").await;
    let taken = app.post("/v1/applications").json(&json!({ "name": "portal" })).send().await;
    expect_status(taken.unwrap(), StatusCode::CONFLICT).await;
    let bad = app.post("/v1/applications").json(&json!({ "description": "" })).send().await;
    let bad = expect_status(bad.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(bad["errors"].as_array().unwrap().len(), 2, "name and description: {bad}");

    let ada = app.create_user(user("ada")).await;
    let path = |a: &Value| format!("/v1/users/{}/applications/{}", id(&ada), id(a));
    let body = json!({ "app_data": { "plan": "gold" }, "external_account_id": "P-1" });
    let added = app.put(&path(&portal)).json(&body).send().await.unwrap();
    let added = expect_status(added, StatusCode::CREATED).await;
    assert_eq!(
        (&added["app_data"], &added["external_account_id"]),
        (&json!({ "plan": "gold" }), &json!("P-1"))
    );
    let same = app.put(&path(&portal)).json(&body).send().await.unwrap();
    expect_status(same, StatusCode::OK).await;
    let replaced = app.put(&path(&portal)).json(&json!({ "app_data": { "plan": "silver" } }));
    let replaced = expect_status(replaced.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (&replaced["external_account_id"], &replaced["created_at"]),
        (&Value::Null, &added["created_at"])
    );
    let shop_body = json!({ "external_account_id": "S-9" });
    expect_status(
        app.put(&path(&shop)).json(&shop_body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    for bad in
        [json!({ "app_data": [1] }), json!({ "external_account_id": "" }), json!({ "colour": 1 })]
    {
        let response = app.put(&path(&shop)).json(&bad).send().await.unwrap();
        expect_status(response, StatusCode::BAD_REQUEST).await;
    }

    // Removing the user from one application leaves the other and the user.
    let removed = app.delete(&path(&portal)).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    expect_status(app.get(&path(&portal)).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    let list = app.get(&format!("/v1/users/{}/applications", id(&ada))).send().await.unwrap();
    let list = expect_status(list, StatusCode::OK).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["application_id"], shop["id"]);
    expect_status(
        app.get(&format!("/v1/users/{}", id(&ada))).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;

    // Deleting the application deletes its memberships; deleting the user, its own.
    let deleted = app.delete(&format!("/v1/applications/{}", id(&shop))).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let list = app.get(&format!("/v1/users/{}/applications", id(&ada))).send().await.unwrap();
    assert_eq!(expect_status(list, StatusCode::OK).await["data"], json!([]));
    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["resource"]["type"] == "application")
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "application.created",
            "application.created",
            "application.member_added",
            "application.member_updated",
            "application.member_added",
            "application.member_removed",
            "application.deleted"
        ]
    );
}

#[tokio::test]
async fn applications_are_the_tenants_own() {
    let app = TestApp::spawn().await;
    let ours = register(&app, "Ours").await;
    let someone = app.create_user(user("someone")).await;
    let put = app.put(&format!("/v1/users/{}/applications/{}", id(&someone), id(&ours)));
    expect_status(put.json(&json!({})).send().await.unwrap(), StatusCode::CREATED).await;
    let theirs = |method: Method, path: String| app.request_as(&app.decoy_token, method, &path);
    let membership = format!("/v1/users/{}/applications/{}", id(&someone), id(&ours));
    for (method, path) in [
        (Method::GET, format!("/v1/applications/{}", id(&ours))),
        (Method::PATCH, format!("/v1/applications/{}", id(&ours))),
        (Method::DELETE, format!("/v1/applications/{}", id(&ours))),
        (Method::GET, format!("/v1/users/{}/applications", id(&someone))),
        (Method::GET, membership.clone()),
        (Method::PUT, membership.clone()),
        (Method::DELETE, membership),
    ] {
        let response = theirs(method.clone(), path.clone())
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let listed = theirs(Method::GET, "/v1/applications".to_owned()).send().await.unwrap();
    assert_eq!(expect_status(listed, StatusCode::OK).await["data"], json!([]));
}
