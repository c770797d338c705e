//! The organization tree: creating, naming, moving (never into a cycle), deleting (only with
//! `cascade` when not empty), its users and members — and none of it across tenants.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, id, user};
use serde_json::{Value, json};

async fn create(app: &TestApp, body: Value) -> Value {
    let response = app.post("/v1/organizations").json(&body).send().await.unwrap();
    expect_status(response, StatusCode::CREATED).await
}

async fn root(app: &TestApp) -> Value {
    let page = expect_status(app.get("/v1/organizations").send().await.unwrap(), StatusCode::OK);
    let page = page.await;
    let roots: Vec<&Value> =
        page["data"].as_array().unwrap().iter().filter(|o| o["parent_id"].is_null()).collect();
    assert_eq!(roots.len(), 1, "one root: {page}");
    roots[0].clone()
}

/// The usernames a listing of an organization's users returns, sorted.
async fn usernames(app: &TestApp, path: &str) -> Vec<String> {
    let page = expect_status(app.get(path).send().await.unwrap(), StatusCode::OK).await;
    let mut names: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn problem_fields(body: &Value) -> Vec<&str> {
    body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn organizations_are_created_under_the_root_with_defaults_and_unique_names() {
    let app = TestApp::spawn().await;
    let root = root(&app).await;
    assert_eq!((&root["technical_name"], &root["type"]), (&json!("root"), &json!("normal")));

    let response = app.post("/v1/organizations").json(&json!({})).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let plain = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(location, format!("/v1/organizations/{}", id(&plain)));
    assert_eq!(plain["technical_name"], plain["id"], "a UUID unless given");
    assert_eq!(plain["friendly_name"], plain["technical_name"]);
    assert_eq!((&plain["parent_id"], &plain["type"]), (&root["id"], &json!("normal")));
    assert_eq!((&plain["virtual"], &plain["version"]), (&json!(false), &json!(1)));

    let sales = create(
        &app,
        json!({ "technical_name": "Sales", "friendly_name": "Sales EMEA", "virtual": true,
                "attributes": { "cost_center": ["4711", "4712"] } }),
    )
    .await;
    assert_eq!(sales["type"], "virtual", "the default type of a virtual organization");
    assert_eq!(sales["attributes"]["cost_center"], json!(["4711", "4712"]));
    let got = app.get(&location).send().await.unwrap();
    assert_eq!(expect_status(got, StatusCode::OK).await, plain);

    // Technical names are unique in the tenant without regard to case; other tenants have theirs.
    let taken = app.post("/v1/organizations").json(&json!({ "technical_name": "SALES" }));
    let taken = expect_status(taken.send().await.unwrap(), StatusCode::CONFLICT).await;
    assert!(taken.to_string().contains("technical_name"), "{taken}");
    let theirs = app
        .request_as(&app.decoy_token, Method::POST, "/v1/organizations")
        .json(&json!({ "technical_name": "sales" }));
    expect_status(theirs.send().await.unwrap(), StatusCode::CREATED).await;

    // Every error at once, nothing written.
    let before = app.events().await.len();
    let bad = app.post("/v1/organizations").json(&json!({
        "technical_name": "no/slashes", "friendly_name": "", "type": "region",
        "parent_id": "not-a-uuid", "attributes": { "": ["x"] }
    }));
    let bad = expect_status(bad.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    let mut fields = problem_fields(&bad);
    fields.sort();
    assert_eq!(fields, ["attributes.", "friendly_name", "parent_id", "technical_name", "type"]);
    let unknown = app.post("/v1/organizations").json(&json!({ "colour": "red" }));
    let unknown = expect_status(unknown.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(problem_fields(&unknown), ["colour"]);
    let unknown_parent = app
        .post("/v1/organizations")
        .json(&json!({ "parent_id": "01a23900-0000-7000-8000-000000000000" }));
    let unknown_parent =
        expect_status(unknown_parent.send().await.unwrap(), StatusCode::BAD_REQUEST);
    assert_eq!(problem_fields(&unknown_parent.await), ["parent_id"]);
    let read_only = app.post("/v1/organizations").json(&json!({ "version": 3 }));
    expect_status(read_only.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(app.events().await.len(), before);

    let created: Vec<Value> =
        app.events().await.into_iter().filter(|e| e["type"] == "organization.created").collect();
    assert_eq!(created.len(), 2);
    assert_eq!(
        created[1]["resource"],
        json!({ "type": "organization", "id": sales["id"], "version": 1 })
    );
    assert_eq!(
        created[1]["data"],
        json!({ "parent_id": root["id"], "type": "virtual", "virtual": true })
    );
}

#[tokio::test]
async fn organizations_change_by_merge_patch_and_move_without_cycles() {
    let app = TestApp::spawn().await;
    let root = root(&app).await;
    let a = create(&app, json!({ "technical_name": "a" })).await;
    let b = create(&app, json!({ "technical_name": "b", "parent_id": id(&a) })).await;
    let c = create(&app, json!({ "technical_name": "c", "parent_id": id(&b) })).await;
    let children = app.get(&format!("/v1/organizations/{}/children", id(&a))).send().await;
    let children = expect_status(children.unwrap(), StatusCode::OK).await;
    assert_eq!(children["data"].as_array().unwrap().len(), 1);
    assert_eq!(children["data"][0]["id"], b["id"]);

    let path = format!("/v1/organizations/{}", id(&b));
    let patch = |body: Value, if_match: Option<&str>| {
        let mut request = app.merge_patch(&path, &body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send()
    };
    let renamed =
        patch(json!({ "friendly_name": "Bee", "attributes": { "x": ["1"] } }), Some("\"1\""));
    let renamed = expect_status(renamed.await.unwrap(), StatusCode::OK).await;
    assert_eq!((&renamed["friendly_name"], &renamed["version"]), (&json!("Bee"), &json!(2)));
    let stale = patch(json!({ "friendly_name": "Bea" }), Some("\"1\"")).await.unwrap();
    expect_status(stale, StatusCode::PRECONDITION_FAILED).await;
    let same = expect_status(
        patch(json!({ "friendly_name": "Bee" }), None).await.unwrap(),
        StatusCode::OK,
    );
    assert_eq!(same.await["version"], 2, "no change, no new version");
    let cleared = patch(json!({ "friendly_name": null }), None).await.unwrap();
    assert_eq!(expect_status(cleared, StatusCode::OK).await["friendly_name"], "b");
    for bad in [
        json!({ "parent_id": id(&root) }),
        json!({ "technical_name": null }),
        json!({ "type": "x" }),
    ] {
        expect_status(patch(bad, None).await.unwrap(), StatusCode::BAD_REQUEST).await;
    }
    let taken = patch(json!({ "technical_name": "A" }), None).await.unwrap();
    expect_status(taken, StatusCode::CONFLICT).await;

    // Moving: never below itself, never the root.
    let move_to = |org: &Value, parent: &Value| {
        app.post(&format!("/v1/organizations/{}/move", id(org)))
            .json(&json!({ "parent_id": parent["id"] }))
            .send()
    };
    for (org, parent) in [(&a, &c), (&a, &a), (&root, &a)] {
        let refused = expect_status(move_to(org, parent).await.unwrap(), StatusCode::CONFLICT);
        assert_eq!(refused.await["type"], "urn:roster:problem:refused");
    }
    let moved = expect_status(move_to(&c, &root).await.unwrap(), StatusCode::OK).await;
    assert_eq!(moved["parent_id"], root["id"]);
    // Now a may go below c.
    let moved = expect_status(move_to(&a, &c).await.unwrap(), StatusCode::OK).await;
    assert_eq!((&moved["parent_id"], &moved["version"]), (&c["id"], &json!(2)));
    let unknown = app
        .post(&format!("/v1/organizations/{}/move", id(&a)))
        .json(&json!({ "parent_id": "01a23900-0000-7000-8000-000000000000" }));
    expect_status(unknown.send().await.unwrap(), StatusCode::BAD_REQUEST).await;

    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["resource"]["id"] == a["id"] || e["resource"]["id"] == b["id"])
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "organization.created",
            "organization.created",
            "organization.updated",
            "organization.updated",
            "organization.moved"
        ]
    );
}

#[tokio::test]
async fn an_organizations_users_are_its_own_and_its_members_optionally_below_it() {
    let app = TestApp::spawn().await;
    let top = create(&app, json!({ "technical_name": "top" })).await;
    let sub = create(&app, json!({ "technical_name": "sub", "parent_id": id(&top) })).await;
    let owned = app.create_user(json!({ "username": "owned", "organization_id": id(&top) })).await;
    let below = app.create_user(json!({ "username": "below", "organization_id": id(&sub) })).await;
    let member = app.create_user(user("member")).await;
    let add = app.put(&format!("/v1/organizations/{}/members/{}", id(&sub), id(&member)));
    assert_eq!(add.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let again = app.put(&format!("/v1/organizations/{}/members/{}", id(&sub), id(&member)));
    assert_eq!(again.send().await.unwrap().status(), StatusCode::NO_CONTENT, "idempotent");

    let users = |org: &Value, query: &str| format!("/v1/organizations/{}/users{query}", id(org));
    assert_eq!(usernames(&app, &users(&top, "")).await, ["owned"]);
    assert_eq!(
        usernames(&app, &users(&top, "?recursive=true")).await,
        ["below", "member", "owned"]
    );
    assert_eq!(usernames(&app, &users(&sub, "")).await, ["below", "member"]);
    let filtered = users(&top, "?recursive=true&filter=username%20sw%20%22m%22");
    assert_eq!(usernames(&app, &filtered).await, ["member"]);
    // Cursors page through one organization's listing, and are refused by another's.
    let first = app.get(&users(&top, "?recursive=true&limit=2")).send().await.unwrap();
    let first = expect_status(first, StatusCode::OK).await;
    let cursor = first["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let rest = app.get(&users(&top, &format!("?recursive=true&limit=2&cursor={cursor}")));
    let rest = expect_status(rest.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    let elsewhere = app.get(&users(&sub, &format!("?limit=2&cursor={cursor}"))).send().await;
    expect_status(elsewhere.unwrap(), StatusCode::BAD_REQUEST).await;

    let memberships = app.get(&format!("/v1/users/{}/organizations", id(&member))).send().await;
    let memberships = expect_status(memberships.unwrap(), StatusCode::OK).await;
    assert_eq!(memberships["data"][0]["id"], sub["id"]);
    let remove = app.delete(&format!("/v1/organizations/{}/members/{}", id(&sub), id(&member)));
    assert_eq!(remove.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let gone = app.delete(&format!("/v1/organizations/{}/members/{}", id(&sub), id(&member)));
    expect_status(gone.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    assert_eq!(usernames(&app, &users(&sub, "")).await, ["below"]);
    let kinds: Vec<Value> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("organization.member"))
        .map(|e| json!([e["type"], e["data"]["user_id"]]))
        .collect();
    assert_eq!(
        kinds,
        [
            json!(["organization.member_added", member["id"]]),
            json!(["organization.member_removed", member["id"]])
        ],
        "one event per change, none for the repeated add"
    );
    let _ = (owned, below);
}

#[tokio::test]
async fn deleting_needs_cascade_when_not_empty_and_takes_the_users_below_with_it() {
    let app = TestApp::spawn().await;
    let root = root(&app).await;
    let top = create(&app, json!({ "technical_name": "top" })).await;
    let sub = create(&app, json!({ "technical_name": "sub", "parent_id": id(&top) })).await;
    let empty = create(&app, json!({ "technical_name": "empty" })).await;
    let staying = app.create_user(user("staying")).await;
    let leaving =
        app.create_user(json!({ "username": "leaving", "organization_id": id(&sub) })).await;
    let add = app.put(&format!("/v1/organizations/{}/members/{}", id(&top), id(&staying)));
    assert_eq!(add.send().await.unwrap().status(), StatusCode::NO_CONTENT);

    let delete = |org: &Value, query: &str| {
        app.delete(&format!("/v1/organizations/{}{query}", id(org))).send()
    };
    for org in [&top, &sub, &root] {
        expect_status(delete(org, "").await.unwrap(), StatusCode::CONFLICT).await;
    }
    expect_status(delete(&root, "?cascade=true").await.unwrap(), StatusCode::CONFLICT).await;
    assert_eq!(delete(&empty, "").await.unwrap().status(), StatusCode::NO_CONTENT);
    let before = app.events().await.len();
    assert_eq!(delete(&top, "?cascade=true").await.unwrap().status(), StatusCode::NO_CONTENT);

    for org in [&top, &sub, &empty] {
        let gone = app.get(&format!("/v1/organizations/{}", id(org))).send().await.unwrap();
        expect_status(gone, StatusCode::NOT_FOUND).await;
    }
    let path = format!("/v1/users/{}", id(&leaving));
    expect_status(app.get(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    let tombstone = app.get(&format!("{path}?include_deleted=true")).send().await.unwrap();
    let tombstone = expect_status(tombstone, StatusCode::OK).await;
    assert_eq!(
        (&tombstone["state"], &tombstone["organization_id"]),
        (&json!("deleted"), &root["id"])
    );
    // A member owned elsewhere stays, without the membership.
    let memberships = app.get(&format!("/v1/users/{}/organizations", id(&staying))).send().await;
    assert_eq!(expect_status(memberships.unwrap(), StatusCode::OK).await["data"], json!([]));

    let events: Vec<Value> = app.events().await.split_off(before);
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["resource"]["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("user.deleted", id(&leaving)),
            ("organization.deleted", id(&top)),
            ("organization.deleted", id(&sub))
        ]
    );
}

#[tokio::test]
async fn organizations_are_the_tenants_own() {
    let app = TestApp::spawn().await;
    let ours = create(&app, json!({ "technical_name": "ours" })).await;
    let someone = app.create_user(user("someone")).await;
    let theirs = |method: Method, path: String| app.request_as(&app.decoy_token, method, &path);
    let org = id(&ours);
    for (method, path) in [
        (Method::GET, format!("/v1/organizations/{org}")),
        (Method::PATCH, format!("/v1/organizations/{org}")),
        (Method::DELETE, format!("/v1/organizations/{org}")),
        (Method::GET, format!("/v1/organizations/{org}/children")),
        (Method::GET, format!("/v1/organizations/{org}/users")),
        (Method::POST, format!("/v1/organizations/{org}/move")),
        (Method::PUT, format!("/v1/organizations/{org}/members/{}", id(&someone))),
        (Method::DELETE, format!("/v1/organizations/{org}/members/{}", id(&someone))),
        (Method::GET, format!("/v1/users/{}/organizations", id(&someone))),
        (Method::GET, format!("/v1/organizations?parent_id={org}")),
    ] {
        let body = if path.ends_with("/move") {
            json!({ "parent_id": org })
        } else {
            json!({ "friendly_name": "x" })
        };
        let response = theirs(method.clone(), path.clone())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Nor can another tenant hang its organizations or users below ours.
    let below =
        theirs(Method::POST, "/v1/organizations".to_owned()).json(&json!({ "parent_id": org }));
    expect_status(below.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    let user = theirs(Method::POST, "/v1/users".to_owned())
        .json(&json!({ "username": "x", "organization_id": org }));
    expect_status(user.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    // Our member endpoint does not take their users.
    let decoy_user = theirs(Method::GET, "/v1/users?limit=1".to_owned()).send().await.unwrap();
    let decoy_user = expect_status(decoy_user, StatusCode::OK).await["data"][0]["id"].clone();
    let add = app.put(&format!("/v1/organizations/{org}/members/{}", decoy_user.as_str().unwrap()));
    expect_status(add.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    let listed = theirs(Method::GET, "/v1/organizations".to_owned()).send().await.unwrap();
    let listed = expect_status(listed, StatusCode::OK).await;
    assert!(listed["data"].as_array().unwrap().iter().all(|o| o["id"] != ours["id"]));
}

#[tokio::test]
async fn concurrent_moves_on_two_nodes_never_make_a_cycle() {
    let app = TestApp::spawn().await;
    let peer = app.spawn_peer().await;
    for round in 0..10 {
        let x = create(&app, json!({ "technical_name": format!("x{round}") })).await;
        let y = create(&app, json!({ "technical_name": format!("y{round}") })).await;
        let move_on = |base: String, org: &Value, parent: &Value| {
            app.http
                .post(format!("{base}/v1/organizations/{}/move", id(org)))
                .bearer_auth(&app.token)
                .json(&json!({ "parent_id": parent["id"] }))
                .send()
        };
        let (a, b) = tokio::join!(move_on(app.url(""), &x, &y), move_on(peer.url(""), &y, &x));
        let statuses = [a.unwrap().status(), b.unwrap().status()];
        assert!(
            statuses.contains(&StatusCode::CONFLICT),
            "round {round}: one move must be refused, got {statuses:?}"
        );
        assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT));
    }
}
