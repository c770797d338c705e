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

/// The usernames a filter selects, in username order.
async fn found(app: &TestApp, peer: Option<&str>, filter: &str) -> Vec<String> {
    let query: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let path = format!("/v1/users?sort_by=username&filter={query}");
    let request = match peer {
        Some(base) => app.http.get(format!("{base}{path}")).bearer_auth(&app.token),
        None => app.get(&path),
    };
    let page = expect_status(request.send().await.unwrap(), StatusCode::OK).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn users_are_found_by_their_memberships() {
    let app = TestApp::spawn().await;
    let (portal, shop) = (register(&app, "Portal").await, register(&app, "Shop").await);
    let join = async |who: &Value, to: &Value, body: Value| {
        let path = format!("/v1/users/{}/applications/{}", id(who), id(to));
        expect_status(app.put(&path).json(&body).send().await.unwrap(), StatusCode::CREATED).await;
    };
    let ada = app.create_user(user("ada")).await;
    let bob = app.create_user(user("bob")).await;
    app.create_user(user("cyd")).await;
    let gold = json!({ "app_data": { "plan": { "tier": "Gold", "seats": [3, 12] } }, "external_account_id": "P-1" });
    join(&ada, &portal, gold).await;
    join(&bob, &portal, json!({ "app_data": { "plan": { "tier": "silver" } } })).await;
    join(
        &bob,
        &shop,
        json!({ "app_data": { "plan": { "tier": "gold" } }, "external_account_id": "S-9" }),
    )
    .await;
    let (p, s) = (id(&portal).to_owned(), id(&shop).to_owned());
    let cases: Vec<(String, &[&str])> = vec![
        ("memberships pr".into(), &["ada", "bob"]),
        ("not (memberships pr)".into(), &["cyd"]),
        (
            format!(r#"memberships[application_id eq "{p}" and app_data.plan.tier eq "gold"]"#),
            &["ada"],
        ),
        (
            format!(r#"memberships[application_id eq "{s}" and app_data.plan.tier eq "gold"]"#),
            &["bob"],
        ),
        // Both conditions on one membership: bob's gold is the shop's, his portal plan silver.
        (
            format!(r#"memberships[application_id eq "{p}" and app_data.plan.tier sw "g"]"#),
            &["ada"],
        ),
        (r#"memberships.app_data.plan.tier eq "GOLD""#.into(), &["ada", "bob"]),
        ("memberships.app_data.plan.seats gt 10".into(), &["ada"]),
        (r#"memberships.external_account_id eq "s-9""#.into(), &["bob"]),
        (format!(r#"memberships[application_id eq "{p}" and external_account_id pr]"#), &["ada"]),
        (format!(r#"memberships[application_id ne "{p}"]"#), &["bob"]),
    ];
    for (filter, expected) in &cases {
        assert_eq!(found(&app, None, filter).await, *expected, "{filter}");
    }

    // A changed membership is found by its new data only; a removed one not at all.
    let path = format!("/v1/users/{}/applications/{}", id(&ada), p);
    let body = json!({ "app_data": { "plan": { "tier": "bronze" } } });
    expect_status(app.put(&path).json(&body).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(found(&app, None, r#"memberships.app_data.plan.tier eq "gold""#).await, ["bob"]);
    assert_eq!(found(&app, None, "memberships.external_account_id pr").await, ["bob"]);
    assert_eq!(app.delete(&path).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(found(&app, None, "memberships pr").await, ["bob"]);

    // Another tenant's memberships are not found, nor are its users.
    let theirs = app.request_as(&app.decoy_token, Method::GET, "/v1/users?filter=memberships%20pr");
    assert_eq!(
        expect_status(theirs.send().await.unwrap(), StatusCode::OK).await["data"],
        json!([])
    );
    for (bad, named) in [
        (r#"memberships eq "x""#, "memberships"),
        (r#"memberships[application_id eq "x"]"#, "application_id"),
        (r#"memberships[name eq "x"]"#, "name"),
    ] {
        let query: String = url::form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        let response = app.get(&format!("/v1/users?filter={query}")).send().await.unwrap();
        let body = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert!(body.to_string().contains(named), "{bad}: {body}");
    }

    // Memberships written before their values were indexed (by an older release) are indexed
    // when a node applies the migration that made the index.
    app.raw_sql(
        "drop table application_user_attrs; delete from _sqlx_migrations where version = 22",
    )
    .await;
    let peer = app.spawn_peer().await;
    let filter =
        format!(r#"memberships[application_id eq "{s}" and app_data.plan.tier eq "gold"]"#);
    assert_eq!(found(&app, Some(&peer.base), &filter).await, ["bob"]);
}
