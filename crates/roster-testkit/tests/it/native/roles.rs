//! Roles: defined in an organization under entity-name rules, assigned to users, listed both
//! ways, gone with their organization — and none of it across tenants.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, id, user};
use serde_json::{Value, json};

async fn organization(app: &TestApp, name: &str) -> Value {
    let response = app.post("/v1/organizations").json(&json!({ "technical_name": name }));
    expect_status(response.send().await.unwrap(), StatusCode::CREATED).await
}

async fn role(app: &TestApp, org: &Value, name: &str) -> Value {
    let response =
        app.post(&format!("/v1/organizations/{}/roles", id(org))).json(&json!({ "name": name }));
    expect_status(response.send().await.unwrap(), StatusCode::CREATED).await
}

async fn assign(app: &TestApp, user: &Value, body: Value) -> StatusCode {
    let request = app.post(&format!("/v1/users/{}/roles", id(user))).json(&body);
    request.send().await.unwrap().status()
}

async fn role_names(app: &TestApp, user: &Value) -> Vec<String> {
    let roles = app.get(&format!("/v1/users/{}/roles", id(user))).send().await.unwrap();
    let roles = expect_status(roles, StatusCode::OK).await;
    roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn roles_are_named_per_organization_and_assigned_to_users() {
    let app = TestApp::spawn().await;
    let sales = organization(&app, "sales").await;
    let support = organization(&app, "support").await;
    let manager = role(&app, &sales, "Sales Manager").await;
    assert_eq!((&manager["organization_id"], &manager["version"]), (&sales["id"], &json!(1)));
    // Unique per organization, without case; the same name elsewhere is another role.
    let taken = app
        .post(&format!("/v1/organizations/{}/roles", id(&sales)))
        .json(&json!({ "name": "sales manager" }));
    expect_status(taken.send().await.unwrap(), StatusCode::CONFLICT).await;
    let agent = role(&app, &support, "Sales Manager").await;
    for bad in [
        json!({}),
        json!({ "name": "a/b" }),
        json!({ "name": " padded" }),
        json!({ "name": "x", "id": "y" }),
    ] {
        let response = app.post(&format!("/v1/organizations/{}/roles", id(&sales))).json(&bad);
        expect_status(response.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    }
    let listed = app.get(&format!("/v1/organizations/{}/roles", id(&sales))).send().await;
    assert_eq!(expect_status(listed.unwrap(), StatusCode::OK).await["data"], json!([manager]));

    let ada = app.create_user(user("ada")).await;
    let bob = app.create_user(user("bob")).await;
    assert_eq!(
        assign(&app, &ada, json!({ "role_id": id(&manager) })).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        assign(&app, &ada, json!({ "role_id": id(&manager) })).await,
        StatusCode::NO_CONTENT
    );
    let with_org = json!({ "role_id": id(&agent), "organization_id": id(&support) });
    assert_eq!(assign(&app, &bob, with_org).await, StatusCode::NO_CONTENT);
    // A role named with another organization, or none at all, is refused.
    let wrong = json!({ "role_id": id(&manager), "organization_id": id(&support) });
    assert_eq!(assign(&app, &bob, wrong).await, StatusCode::BAD_REQUEST);
    let unknown = json!({ "role_id": "01a23900-0000-7000-8000-000000000000" });
    assert_eq!(assign(&app, &bob, unknown).await, StatusCode::BAD_REQUEST);
    assert_eq!(role_names(&app, &ada).await, ["Sales Manager"]);

    let users = app.get(&format!("/v1/roles/{}/users", id(&manager))).send().await.unwrap();
    let users = expect_status(users, StatusCode::OK).await;
    assert_eq!(users["data"].as_array().unwrap().len(), 1);
    assert_eq!(users["data"][0]["id"], ada["id"]);

    let renamed = app
        .patch(&format!("/v1/roles/{}", id(&manager)))
        .header("content-type", "application/merge-patch+json")
        .body(json!({ "name": "Head of Sales" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(renamed, StatusCode::OK).await["version"], 2);
    assert_eq!(role_names(&app, &ada).await, ["Head of Sales"]);
    let unassign = app.delete(&format!("/v1/users/{}/roles/{}", id(&ada), id(&manager)));
    assert_eq!(unassign.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let again = app.delete(&format!("/v1/users/{}/roles/{}", id(&ada), id(&manager)));
    expect_status(again.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    assert_eq!(role_names(&app, &ada).await, Vec::<String>::new());

    // Deleting the organization takes its roles and their assignments along, with events.
    let before = app.events().await.len();
    let delete = app.delete(&format!("/v1/organizations/{}", id(&support))).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    expect_status(
        app.get(&format!("/v1/roles/{}", id(&agent))).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(role_names(&app, &bob).await, Vec::<String>::new());
    let kinds: Vec<String> = app.events().await[before..]
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["role.deleted", "organization.deleted"]);
    let assigned = app.events().await.iter().filter(|e| e["type"] == "role.assigned").count();
    assert_eq!(assigned, 2, "one per assignment, none for the repeat");
}

#[tokio::test]
async fn roles_are_the_tenants_own() {
    let app = TestApp::spawn().await;
    let org = organization(&app, "ours").await;
    let ours = role(&app, &org, "Ours").await;
    let someone = app.create_user(user("someone")).await;
    let theirs = |method: Method, path: String| app.request_as(&app.decoy_token, method, &path);
    for (method, path) in [
        (Method::GET, format!("/v1/roles/{}", id(&ours))),
        (Method::PATCH, format!("/v1/roles/{}", id(&ours))),
        (Method::DELETE, format!("/v1/roles/{}", id(&ours))),
        (Method::GET, format!("/v1/roles/{}/users", id(&ours))),
        (Method::GET, format!("/v1/organizations/{}/roles", id(&org))),
        (Method::POST, format!("/v1/organizations/{}/roles", id(&org))),
        (Method::GET, format!("/v1/users/{}/roles", id(&someone))),
        (Method::POST, format!("/v1/users/{}/roles", id(&someone))),
        (Method::DELETE, format!("/v1/users/{}/roles/{}", id(&someone), id(&ours))),
    ] {
        let body = if path.starts_with("/v1/users/") {
            json!({ "role_id": id(&ours) })
        } else {
            json!({ "name": "x" })
        };
        let response = theirs(method.clone(), path.clone())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Their users cannot be given our roles, nor ours theirs.
    let decoy = theirs(Method::GET, "/v1/users?limit=1".to_owned()).send().await.unwrap();
    let decoy = expect_status(decoy, StatusCode::OK).await["data"][0].clone();
    let given = theirs(Method::POST, format!("/v1/users/{}/roles", id(&decoy)))
        .json(&json!({ "role_id": id(&ours) }));
    expect_status(given.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
}
