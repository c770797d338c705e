//! Groups: unique names, merge patches, users and groups as members without cycles, a user's
//! direct and transitive groups — and none of it across tenants.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, id, user};
use serde_json::{Value, json};

async fn create(app: &TestApp, body: Value) -> Value {
    let response = app.post("/v1/groups").json(&body).send().await.unwrap();
    expect_status(response, StatusCode::CREATED).await
}

async fn add(app: &TestApp, group: &Value, member: Value) -> StatusCode {
    let request = app.post(&format!("/v1/groups/{}/members", id(group))).json(&member);
    request.send().await.unwrap().status()
}

/// The names of the user's groups, in creation order.
async fn groups_of(app: &TestApp, user: &Value, transitive: bool) -> Vec<String> {
    let path = format!("/v1/users/{}/groups?transitive={transitive}", id(user));
    let page = expect_status(app.get(&path).send().await.unwrap(), StatusCode::OK).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn groups_have_unique_names_and_change_by_merge_patch() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/v1/groups")
        .json(&json!({ "name": "Admins", "description": "People who administer", "custom_data": { "tier": 1 } }))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let admins = expect_status(response, StatusCode::CREATED).await;
    assert_eq!((&admins["version"], &admins["custom_data"]), (&json!(1), &json!({ "tier": 1 })));
    let got = expect_status(app.get(&location).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(got, admins);
    let taken = app.post("/v1/groups").json(&json!({ "name": "ADMINS" })).send().await.unwrap();
    expect_status(taken, StatusCode::CONFLICT).await;
    let theirs = app.request_as(&app.decoy_token, Method::POST, "/v1/groups");
    expect_status(
        theirs.json(&json!({ "name": "admins" })).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;

    let bad = app
        .post("/v1/groups")
        .json(&json!({ "description": "", "custom_data": [1] }))
        .send()
        .await
        .unwrap();
    let bad = expect_status(bad, StatusCode::BAD_REQUEST).await;
    let mut fields: Vec<&str> =
        bad["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(fields, ["custom_data", "description", "name"]);

    let patch = |body: Value| app.merge_patch(&location, &body).send();
    let patched =
        patch(json!({ "description": null, "custom_data": { "tier": 2 } })).await.unwrap();
    let patched = expect_status(patched, StatusCode::OK).await;
    assert_eq!(patched["description"], Value::Null);
    assert_eq!((&patched["custom_data"], &patched["version"]), (&json!({ "tier": 2 }), &json!(2)));
    expect_status(patch(json!({ "name": null })).await.unwrap(), StatusCode::BAD_REQUEST).await;
    let other = create(&app, json!({ "name": "Others" })).await;
    let clash = app
        .patch(&format!("/v1/groups/{}", id(&other)))
        .header("content-type", "application/merge-patch+json")
        .body(json!({ "name": "admins" }).to_string())
        .send()
        .await
        .unwrap();
    expect_status(clash, StatusCode::CONFLICT).await;
    let stale = app
        .patch(&location)
        .header("if-match", "\"1\"")
        .header("content-type", "application/merge-patch+json")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_status(stale, StatusCode::PRECONDITION_FAILED).await;

    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["resource"]["type"] == "group")
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["group.created", "group.updated", "group.created"]);
}

#[tokio::test]
async fn members_are_users_and_groups_without_cycles() {
    let app = TestApp::spawn().await;
    let all = create(&app, json!({ "name": "all" })).await;
    let staff = create(&app, json!({ "name": "staff" })).await;
    let admins = create(&app, json!({ "name": "admins" })).await;
    let ada = app.create_user(user("ada")).await;
    let bob = app.create_user(user("bob")).await;

    assert_eq!(add(&app, &admins, json!({ "user_id": id(&ada) })).await, StatusCode::NO_CONTENT);
    assert_eq!(add(&app, &admins, json!({ "user_id": id(&ada) })).await, StatusCode::NO_CONTENT);
    assert_eq!(add(&app, &staff, json!({ "user_id": id(&bob) })).await, StatusCode::NO_CONTENT);
    assert_eq!(add(&app, &staff, json!({ "group_id": id(&admins) })).await, StatusCode::NO_CONTENT);
    assert_eq!(add(&app, &all, json!({ "group_id": id(&staff) })).await, StatusCode::NO_CONTENT);
    // No cycles: not itself, not a group above it.
    for (group, member) in [(&admins, &admins), (&admins, &all), (&staff, &all)] {
        let status = add(&app, group, json!({ "group_id": id(member) })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{} into {}", member["name"], group["name"]);
    }
    for bad in
        [json!({}), json!({ "user_id": id(&ada), "group_id": id(&all) }), json!({ "user_id": "x" })]
    {
        assert_eq!(add(&app, &all, bad).await, StatusCode::BAD_REQUEST);
    }
    let nobody = json!({ "user_id": "01a23900-0000-7000-8000-000000000000" });
    assert_eq!(add(&app, &all, nobody).await, StatusCode::NOT_FOUND);

    let members = app.get(&format!("/v1/groups/{}/members", id(&staff))).send().await.unwrap();
    let members = expect_status(members, StatusCode::OK).await;
    assert_eq!(
        members["data"],
        json!([{ "type": "user", "id": bob["id"] }, { "type": "group", "id": admins["id"] }])
    );
    assert_eq!(groups_of(&app, &ada, false).await, ["admins"]);
    assert_eq!(groups_of(&app, &ada, true).await, ["all", "staff", "admins"]);
    assert_eq!(groups_of(&app, &bob, true).await, ["all", "staff"]);

    // Removing a member, then deleting a group, cut the chain.
    let remove = app.delete(&format!("/v1/groups/{}/members/{}", id(&staff), id(&admins)));
    assert_eq!(remove.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let again = app.delete(&format!("/v1/groups/{}/members/{}", id(&staff), id(&admins)));
    expect_status(again.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    assert_eq!(groups_of(&app, &ada, true).await, ["admins"]);
    let deleted = app.delete(&format!("/v1/groups/{}", id(&staff))).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(groups_of(&app, &bob, true).await, Vec::<String>::new());
    let members = app.get(&format!("/v1/groups/{}/members", id(&all))).send().await.unwrap();
    assert_eq!(expect_status(members, StatusCode::OK).await["data"], json!([]));
    // A deleted user leaves its groups.
    expect_status(
        app.delete(&format!("/v1/users/{}", id(&ada))).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let members = app.get(&format!("/v1/groups/{}/members", id(&admins))).send().await.unwrap();
    assert_eq!(expect_status(members, StatusCode::OK).await["data"], json!([]));

    let events: Vec<Value> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("group.member"))
        .map(|e| json!([e["type"], e["resource"]["id"], e["data"]]))
        .collect();
    assert_eq!(events.len(), 5, "four adds (none for the repeat) and a removal: {events:?}");
    assert_eq!(
        events[4],
        json!(["group.member_removed", staff["id"], { "group_id": admins["id"] }])
    );
}

#[tokio::test]
async fn groups_are_the_tenants_own() {
    let app = TestApp::spawn().await;
    let ours = create(&app, json!({ "name": "ours" })).await;
    let someone = app.create_user(user("someone")).await;
    let theirs = |method: Method, path: String| app.request_as(&app.decoy_token, method, &path);
    let group = id(&ours);
    for (method, path) in [
        (Method::GET, format!("/v1/groups/{group}")),
        (Method::PATCH, format!("/v1/groups/{group}")),
        (Method::DELETE, format!("/v1/groups/{group}")),
        (Method::GET, format!("/v1/groups/{group}/members")),
        (Method::POST, format!("/v1/groups/{group}/members")),
        (Method::DELETE, format!("/v1/groups/{group}/members/{}", id(&someone))),
        (Method::GET, format!("/v1/users/{}/groups", id(&someone))),
    ] {
        let response = theirs(method.clone(), path.clone())
            .header("content-type", "application/json")
            .body(json!({ "user_id": id(&someone) }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Their groups cannot join ours, nor ours theirs.
    let their_group =
        theirs(Method::POST, "/v1/groups".to_owned()).json(&json!({ "name": "theirs" }));
    let their_group = expect_status(their_group.send().await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(
        add(&app, &ours, json!({ "group_id": id(&their_group) })).await,
        StatusCode::NOT_FOUND
    );
    let listed = theirs(Method::GET, "/v1/groups".to_owned()).send().await.unwrap();
    let listed = expect_status(listed, StatusCode::OK).await;
    assert!(listed["data"].as_array().unwrap().iter().all(|g| g["id"] != ours["id"]));
}

#[tokio::test]
async fn concurrent_member_changes_all_hold() {
    let app = TestApp::spawn().await;
    let group = create(&app, json!({ "name": "Crowd" })).await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(app.create_user(user(&format!("member{i}"))).await);
    }
    let adds = users.iter().map(|u| add(&app, &group, json!({ "user_id": u["id"] })));
    let statuses = futures::future::join_all(adds).await;
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    let path = format!("/v1/groups/{}/members", id(&group));
    let members = expect_status(app.get(&path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 12, "no add undid another");
    let got = expect_status(
        app.get(&format!("/v1/groups/{}", id(&group))).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["version"], 13, "each membership change is a version");
}
