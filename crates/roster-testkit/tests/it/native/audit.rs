//! `/v1/audit`: every API operation — authentication failures, token and tenant changes
//! included — is recorded with its caller and outcome, scoped to the tenant, without personal
//! data, and expires after the retention period.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, user};
use serde_json::{Value, json};

/// Every entry the token can see, oldest first, paging with `after`. Reading the trail is an
/// operation too: each page adds an entry for the one before, so the walk ends at the first page
/// that is not full, and the trail's own reads are left out.
async fn trail(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    walk(app, token, "/v1/audit", query).await
}

async fn walk(app: &TestApp, token: &str, route: &str, query: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let path = format!("{route}?after={after}&limit=5{query}");
        let response = app.request_as(token, Method::GET, &path).send().await.unwrap();
        let page = expect_status(response, StatusCode::OK).await;
        let data = page["data"].as_array().unwrap().clone();
        let next = page["meta"]["next_after"].as_i64().unwrap();
        assert_eq!(data.last().map_or(after, |e| e["id"].as_i64().unwrap()), next);
        after = next;
        let last = data.len() < 5;
        entries.extend(data.into_iter().filter(|e| e["operation"] != "GET /v1/audit"));
        if last {
            return entries;
        }
    }
}

fn at(entry: &Value) -> time::OffsetDateTime {
    let at = entry["occurred_at"].as_str().unwrap();
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap()
}

fn find<'a>(entries: &'a [Value], operation: &str, status: u16) -> &'a Value {
    entries
        .iter()
        .find(|e| e["operation"] == operation && e["status"] == status)
        .unwrap_or_else(|| panic!("no `{operation}` → {status} in {entries:#?}"))
}

/// The system token's id, from the operator's trail of its requests (it is in no tenant's
/// token listing).
async fn system_token_id(app: &TestApp) -> Value {
    let tenants = app.request_as(&app.system_token, Method::GET, "/v1/tenants").send().await;
    assert_eq!(tenants.unwrap().status(), StatusCode::OK);
    let entries = walk(app, &app.system_token, "/v1/audit/system", "").await;
    entries.last().expect("the system token's request")["token_id"].clone()
}

async fn token_id(app: &TestApp, name: &str) -> Value {
    let tokens = expect_status(app.get("/v1/tokens").send().await.unwrap(), StatusCode::OK).await;
    let token = tokens["data"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned();
    token.unwrap()["id"].clone()
}

#[tokio::test]
async fn operations_are_audited_with_caller_outcome_and_no_personal_data() {
    let app = TestApp::spawn().await;
    let created = app
        .create_user(json!({
            "username": "ada", "password": "correct horse battery staple",
            "emails": [{ "value": "ada.lovelace@example.com", "primary": true }],
        }))
        .await;
    let id = created["id"].as_str().unwrap();
    let response = app.get("/v1/users/by-email/ada.lovelace@example.com").send().await.unwrap();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    expect_status(response, StatusCode::OK).await;
    let verify = app
        .post(&format!("/v1/users/{id}/password/verify"))
        .json(&json!({ "password": "wrong guess" }))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), StatusCode::UNAUTHORIZED);
    let bad_token = app.request_as("rst_not_a_token", Method::GET, "/v1/users").send().await;
    assert_eq!(bad_token.unwrap().status(), StatusCode::UNAUTHORIZED);
    let issued = expect_status(
        app.post("/v1/tokens")
            .json(&json!({ "name": "reader", "scopes": ["users:read"] }))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let reader = issued["token"].as_str().unwrap();
    let forbidden = app.request_as(reader, Method::POST, "/v1/users").json(&user("x")).send().await;
    assert_eq!(forbidden.unwrap().status(), StatusCode::FORBIDDEN);
    let revoke = app.delete(&format!("/v1/tokens/{}", issued["id"].as_str().unwrap())).send();
    expect_status(revoke.await.unwrap(), StatusCode::NO_CONTENT).await;
    let tenant = app
        .request_as(&app.system_token, Method::POST, "/v1/tenants")
        .json(&json!({ "name": "acme" }))
        .send()
        .await
        .unwrap();
    let tenant = expect_status(tenant, StatusCode::CREATED).await;

    let raw = app.get("/v1/audit?limit=1000").send().await.unwrap().text().await.unwrap();
    for personal in ["ada.lovelace", "ada@", "correct horse", "wrong guess", "rst_"] {
        assert!(!raw.contains(personal), "`{personal}` must not be in the trail: {raw}");
    }
    let entries = trail(&app, &app.token, "").await;
    let admin = token_id(&app, "admin").await;
    let system = system_token_id(&app).await;

    let create = find(&entries, "POST /v1/users", 201);
    assert_eq!(create["outcome"], "success");
    assert_eq!(create["token_id"], admin);
    assert_eq!(create["client_ip"], "127.0.0.1");
    assert!(create["duration_us"].as_u64().is_some());
    assert_eq!(create["resource_id"], Value::Null, "the route names no id");
    let lookup = find(&entries, "GET /v1/users/by-email/{email}", 200);
    assert_eq!(lookup["request_id"], request_id);
    assert_eq!(lookup["resource_id"], Value::Null, "an e-mail address is not an id");
    let failed = find(&entries, "POST /v1/users/{id}/password/verify", 401);
    assert_eq!((&failed["outcome"], &failed["resource_id"]), (&json!("fail"), &json!(id)));
    let issue = find(&entries, "POST /v1/tokens", 201);
    assert_eq!(issue["token_id"], admin);
    let refused = find(&entries, "POST /v1/users", 403);
    assert_eq!(refused["token_id"], issued["id"], "a refused scope names the token");
    let revoked = find(&entries, "DELETE /v1/tokens/{id}", 204);
    assert_eq!(revoked["resource_id"], issued["id"]);
    assert!(
        !entries.iter().any(|e| e["operation"].as_str().unwrap().contains("/v1/tenants")),
        "the system token's requests are the operator's, not the tenant's"
    );
    let operator = walk(&app, &app.system_token, "/v1/audit/system", "").await;
    let created_tenant = find(&operator, "POST /v1/tenants", 201);
    assert_eq!(
        (&created_tenant["token_id"], &created_tenant["tenant_id"]),
        (&system, &Value::Null)
    );
    assert!(
        !entries.iter().any(|e| e["token_id"].is_null()),
        "requests without a valid token are not the tenant's"
    );
    assert!(entries.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()));

    // Requests no tenant can be named for are the operator's, for the system token.
    let route = "/v1/audit/unauthenticated";
    let anonymous = walk(&app, &app.system_token, route, "&outcome=fail").await;
    assert_eq!(anonymous.len(), 1, "{anonymous:#?}");
    let entry = find(&anonymous, "GET /v1/users", 401);
    assert_eq!((&entry["tenant_id"], &entry["token_id"]), (&Value::Null, &Value::Null));
    assert_eq!(entry["client_ip"], "127.0.0.1");
    let denied = app.get(route).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN, "a tenant admin is not the operator");

    // The new tenant's own trail starts empty of the others' operations.
    let acme = tenant["token"].as_str().unwrap();
    assert_eq!(trail(&app, acme, "").await, Vec::<Value>::new());
}

#[tokio::test]
async fn the_trail_is_the_tenants_own_and_filters_by_token_and_time() {
    let app = TestApp::spawn().await;
    app.create_user(user("grace")).await;
    let decoy_list = app.request_as(&app.decoy_token, Method::GET, "/v1/users").send().await;
    assert_eq!(decoy_list.unwrap().status(), StatusCode::OK);

    let ours = trail(&app, &app.token, "").await;
    assert!(!ours.is_empty());
    let theirs = trail(&app, &app.decoy_token, "").await;
    let decoy = find(&theirs, "GET /v1/users", 200);
    let our_ids: Vec<&Value> = ours.iter().map(|e| &e["id"]).collect();
    assert!(!our_ids.contains(&&decoy["id"]), "another tenant's operations stay theirs");
    assert!(theirs.iter().all(|e| e["tenant_id"] == decoy["tenant_id"]));

    let admin = token_id(&app, "admin").await;
    let by_token = trail(&app, &app.token, &format!("&token_id={}", admin.as_str().unwrap())).await;
    assert!(!by_token.is_empty() && by_token.iter().all(|e| e["token_id"] == admin));
    let by_system = trail(
        &app,
        &app.token,
        &format!("&token_id={}", system_token_id(&app).await.as_str().unwrap()),
    )
    .await;
    assert_eq!(by_system, Vec::<Value>::new());

    app.clock.advance(time::Duration::hours(1));
    let later = app.directory.now();
    app.get("/v1/users").send().await.unwrap();
    let since = later.format(&time::format_description::well_known::Rfc3339).unwrap();
    let recent = trail(&app, &app.token, &format!("&since={}", since.replace('+', "%2B"))).await;
    assert!(!recent.is_empty());
    assert!(recent.len() < trail(&app, &app.token, "").await.len());
    assert!(recent.iter().all(|e| at(e) >= later));

    for (query, field) in [
        ("outcome=maybe", "outcome"),
        ("after=-1", "after"),
        ("limit=0", "limit"),
        ("since=yesterday", "since"),
        ("token_id=nope", "token_id"),
    ] {
        let response = app.get(&format!("/v1/audit?{query}")).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert!(problem.to_string().contains(field), "{query}: {problem}");
    }
    let reader = app
        .post("/v1/tokens")
        .json(&json!({ "name": "r", "scopes": ["users:read", "users:write"] }))
        .send()
        .await
        .unwrap();
    let reader = expect_status(reader, StatusCode::CREATED).await;
    let denied = app.request_as(reader["token"].as_str().unwrap(), Method::GET, "/v1/audit");
    assert_eq!(denied.send().await.unwrap().status(), StatusCode::FORBIDDEN, "tenant:admin only");
}

#[tokio::test]
async fn entries_expire_after_the_retention_period() {
    let app = TestApp::spawn_with(|config| config.audit_retention_days = 1).await;
    app.create_user(user("old")).await;
    assert!(!trail(&app, &app.token, "").await.is_empty());

    app.clock.advance(time::Duration::days(2));
    app.create_user(user("new")).await;
    let entries = trail(&app, &app.token, "").await;
    let creates: Vec<&Value> =
        entries.iter().filter(|e| e["operation"] == "POST /v1/users").collect();
    assert_eq!(creates.len(), 1, "the old create expired: {entries:#?}");
    let cutoff = app.directory.now() - time::Duration::days(1);
    assert!(entries.iter().all(|e| at(e) >= cutoff));
}
