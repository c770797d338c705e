//! `/v1/tenants`: the system token creates, lists, renames and deletes tenants; nothing else
//! reaches them, and a deleted tenant's tokens stop at once.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

fn system(app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.request_as(&app.system_token, method, path)
}

async fn names(app: &TestApp) -> Vec<String> {
    let list = system(app, Method::GET, "/v1/tenants").send().await.unwrap();
    let list = expect_status(list, StatusCode::OK).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_system_token_manages_tenants_and_a_new_tenant_starts_empty() {
    let app = TestApp::spawn().await;
    let response = system(&app, Method::POST, "/v1/tenants")
        .json(&json!({ "name": "acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let acme: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/tenants/{}", acme["id"].as_str().unwrap()));
    assert_eq!(acme["name"], "acme");
    assert!(acme["root_organization_id"].is_string());
    let admin = acme["token"].as_str().unwrap().to_owned();
    assert!(admin.starts_with("rst_"));

    let users = app.request_as(&admin, Method::GET, "/v1/users").send().await.unwrap();
    assert_eq!(
        expect_status(users, StatusCode::OK).await["data"],
        json!([]),
        "nothing of other tenants"
    );
    let created = app
        .request_as(&admin, Method::POST, "/v1/users")
        .json(&json!({ "username": "decoy" }))
        .send()
        .await
        .unwrap();
    expect_status(created, StatusCode::CREATED).await;
    assert_eq!(names(&app).await, ["default", "decoy", "acme"]);

    let path = format!("/v1/tenants/{}", acme["id"].as_str().unwrap());
    let renamed = system(&app, Method::PATCH, &path)
        .json(&json!({ "name": "acme-corp" }))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(renamed, StatusCode::OK).await["name"], "acme-corp");
    let taken =
        system(&app, Method::PATCH, &path).json(&json!({ "name": "decoy" })).send().await.unwrap();
    let taken = expect_status(taken, StatusCode::CONFLICT).await;
    assert_eq!(taken["errors"][0]["field"], "name");
    let one =
        expect_status(system(&app, Method::GET, &path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(one["name"], "acme-corp");

    expect_status(
        system(&app, Method::DELETE, &path).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let gone = app.request_as(&admin, Method::GET, "/v1/users").send().await.unwrap();
    expect_status(gone, StatusCode::UNAUTHORIZED).await;
    expect_status(system(&app, Method::GET, &path).send().await.unwrap(), StatusCode::NOT_FOUND)
        .await;
    expect_status(system(&app, Method::DELETE, &path).send().await.unwrap(), StatusCode::NOT_FOUND)
        .await;
    assert_eq!(names(&app).await, ["default", "decoy"]);
    // The name is free again, and the new tenant holds nothing of the old one.
    let again = system(&app, Method::POST, "/v1/tenants")
        .json(&json!({ "name": "acme-corp" }))
        .send()
        .await
        .unwrap();
    let again = expect_status(again, StatusCode::CREATED).await;
    let users = app
        .request_as(again["token"].as_str().unwrap(), Method::GET, "/v1/users")
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(users, StatusCode::OK).await["data"], json!([]));
}

#[tokio::test]
async fn tenants_are_for_the_system_scope_only_and_names_are_checked() {
    let app = TestApp::spawn().await;
    let tenant_admin = app.request_as(&app.token, Method::GET, "/v1/tenants").send().await.unwrap();
    expect_status(tenant_admin, StatusCode::FORBIDDEN).await;
    let create = app
        .request_as(&app.token, Method::POST, "/v1/tenants")
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    expect_status(create, StatusCode::FORBIDDEN).await;
    let users = system(&app, Method::GET, "/v1/users").send().await.unwrap();
    expect_status(users, StatusCode::FORBIDDEN).await;

    for name in ["", "Acme", "-acme", "acme corp", &"a".repeat(64)] {
        let response = system(&app, Method::POST, "/v1/tenants")
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], "name", "{name:?}");
    }
    let taken = system(&app, Method::POST, "/v1/tenants")
        .json(&json!({ "name": "decoy" }))
        .send()
        .await
        .unwrap();
    expect_status(taken, StatusCode::CONFLICT).await;

    let tenants = system(&app, Method::GET, "/v1/tenants").send().await.unwrap();
    let tenants = expect_status(tenants, StatusCode::OK).await;
    let own = tenants["data"][0]["id"].as_str().unwrap();
    let refused = system(&app, Method::DELETE, &format!("/v1/tenants/{own}")).send().await.unwrap();
    assert_eq!(
        expect_status(refused, StatusCode::CONFLICT).await["type"],
        "urn:roster:problem:refused"
    );
    expect_status(
        system(&app, Method::GET, "/v1/tenants/not-a-uuid").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
}
