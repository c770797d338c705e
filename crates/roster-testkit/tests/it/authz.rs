//! Who may call what, for every route of the OpenAPI document (generated from the router's own
//! handler list, so a new route cannot be left out): each operation declares the one scope it
//! needs, and answers 401 without a token, 403 to a token without that scope, 404 to another
//! tenant's token for this tenant's ids, and neither 401 nor 403 to a token holding the scope.

use reqwest::{Method, StatusCode};
use roster_testkit::{DECOY_USERNAME, TestApp, expect_status};
use serde_json::json;

/// A token of the main tenant holding only `scope`.
async fn token(app: &TestApp, scope: &str) -> String {
    let body = json!({ "name": scope, "scopes": [scope] });
    let issued = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    issued["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_route_answers_by_the_scope_it_declares() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user(json!({ "username": "authz", "emails": [{ "value": "authz@example.org" }],
            "phones": [{ "value": "+4930123456" }], "external_ids": { "external_user_id": "authz-1" } }))
        .await;
    let spare = expect_status(
        app.post("/v1/tokens")
            .json(&json!({ "name": "spare", "scopes": ["users:read"] }))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let tenant = app
        .request_as(&app.system_token, Method::POST, "/v1/tenants")
        .json(&json!({ "name": "spare" }));
    let tenant = expect_status(tenant.send().await.unwrap(), StatusCode::CREATED).await;
    // `.invalid` never resolves (RFC 2606): the worker's attempts stay on this machine.
    let webhook = app
        .post("/v1/webhooks")
        .json(&json!({ "url": "https://hooks.example.invalid/roster", "event_types": ["*"] }));
    let webhook = expect_status(webhook.send().await.unwrap(), StatusCode::CREATED).await;
    let webhook_id = webhook["id"].as_str().unwrap();
    let ping = app.post(&format!("/v1/webhooks/{webhook_id}/test")).send().await.unwrap();
    let delivery = expect_status(ping, StatusCode::ACCEPTED).await["id"].to_string();
    // A job to read: offboarding a user of its own.
    let leaving = app.create_user(json!({ "username": "leaving" })).await;
    let offboard = app.post(&format!("/v1/users/{}/offboard", leaving["id"].as_str().unwrap()));
    let offboard = offboard.send().await.unwrap();
    let job_location = offboard.headers()["location"].to_str().unwrap().to_owned();
    let job_id = job_location.trim_start_matches("/v1/jobs/").to_owned();
    let org = app.post("/v1/organizations").json(&json!({ "technical_name": "authz" }));
    let org = expect_status(org.send().await.unwrap(), StatusCode::CREATED).await;
    let org_id = org["id"].as_str().unwrap();
    let group = app.post("/v1/groups").json(&json!({ "name": "authz" }));
    let group = expect_status(group.send().await.unwrap(), StatusCode::CREATED).await;
    let group_id = group["id"].as_str().unwrap();
    let role =
        app.post(&format!("/v1/organizations/{org_id}/roles")).json(&json!({ "name": "authz" }));
    let role = expect_status(role.send().await.unwrap(), StatusCode::CREATED).await;
    let role_id = role["id"].as_str().unwrap();
    let app_ = app.post("/v1/applications").json(&json!({ "name": "authz" }));
    let app_ = expect_status(app_.send().await.unwrap(), StatusCode::CREATED).await;
    let app_id = app_["id"].as_str().unwrap();
    let record = app
        .post(&format!("/v1/users/{}/credentials", user["id"].as_str().unwrap()))
        .json(&json!({ "type": "org.iso.18013.5.1.mDL" }));
    let record = expect_status(record.send().await.unwrap(), StatusCode::CREATED).await;
    let credential_id = record["id"].as_str().unwrap();
    let invitation =
        app.post("/v1/invitations").json(&json!({ "email": "authz-invited@example.org" }));
    let invitation = expect_status(invitation.send().await.unwrap(), StatusCode::CREATED).await;
    let invitation_id = invitation["id"].as_str().unwrap();
    let mandate = app.post("/v1/mandates").json(&json!({
        "grantor": { "organization_id": org_id }, "grantee": { "user_id": user["id"] }, "role_ids": [role_id]
    }));
    let mandate = expect_status(mandate.send().await.unwrap(), StatusCode::CREATED).await;
    let mandate_id = mandate["id"].as_str().unwrap();
    let holding = [
        ("users:read", token(&app, "users:read").await),
        ("users:write", token(&app, "users:write").await),
        ("directory:admin", token(&app, "directory:admin").await),
        ("tenant:admin", app.token.clone()),
        ("system", app.system_token.clone()),
    ];
    // For each scope, a token of this tenant without it.
    let lacking = |scope: &str| match scope {
        "users:read" => &holding[2].1,
        "users:write" => &holding[0].1,
        "directory:admin" | "tenant:admin" => &holding[1].1,
        _ => &holding[3].1,
    };
    let fill = |path: &str| {
        let id = if path.starts_with("/v1/tokens/") {
            spare["id"].as_str().unwrap()
        } else if path.starts_with("/v1/tenants/") {
            tenant["id"].as_str().unwrap()
        } else if path.starts_with("/v1/webhooks/") {
            webhook_id
        } else if path.starts_with("/v1/jobs/") || path.starts_with("/v1/imports/") {
            &job_id
        } else if path.starts_with("/v1/organizations/") {
            org_id
        } else if path.starts_with("/v1/groups/") {
            group_id
        } else if path.starts_with("/v1/roles/") {
            role_id
        } else if path.starts_with("/v1/applications/") {
            app_id
        } else if path.starts_with("/v1/invitations/") {
            invitation_id
        } else if path.starts_with("/v1/mandates/") {
            mandate_id
        } else {
            user["id"].as_str().unwrap()
        };
        path.replace("{id}", id)
            .replace("{action}", "lock")
            .replace("{delivery_id}", &delivery)
            .replace("{user_id}", user["id"].as_str().unwrap())
            .replace("{member_id}", user["id"].as_str().unwrap())
            .replace("{role_id}", role_id)
            .replace("{app_id}", app_id)
            .replace("{credential_id}", credential_id)
            .replace("{username}", "authz")
            .replace("{email}", "authz@example.org")
            .replace("{phone}", "+4930123456")
            .replace("{external_id}", "authz-1")
    };

    let doc = expect_status(app.get("/openapi.json").send().await.unwrap(), StatusCode::OK).await;
    let mut operations: Vec<(Method, String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let scope = op["security"][0]["bearer"][0].as_str();
            let scope = scope.unwrap_or_else(|| panic!("{method} {path} declares no scope"));
            operations.push((
                method.to_uppercase().parse().unwrap(),
                path.clone(),
                scope.to_owned(),
            ));
        }
    }
    // Deletes last, so that every other route meets its resources.
    operations.sort_by_key(|(m, p, _)| (*m == Method::DELETE, p.clone()));
    assert!(operations.len() >= 25, "{}", operations.len());

    for (method, path, scope) in operations {
        let url = fill(&path);
        let send = |token: Option<&str>| {
            let request = app.http.request(method.clone(), app.url(&url)).json(&json!({}));
            let request = match token {
                Some(t) => request.bearer_auth(t),
                None => request,
            };
            async move { request.send().await.unwrap().status() }
        };
        let what = format!("{method} {path} ({scope})");
        assert_eq!(send(None).await, StatusCode::UNAUTHORIZED, "{what} without a token");
        assert_eq!(
            send(Some("rst_not_a_token")).await,
            StatusCode::UNAUTHORIZED,
            "{what} with a bad token"
        );
        assert_eq!(
            send(Some(lacking(&scope))).await,
            StatusCode::FORBIDDEN,
            "{what} without its scope"
        );
        if scope != "system" && (path.contains('{') || method == Method::GET) {
            // The decoy tenant's admin holds every tenant scope, but none of this tenant's ids.
            let foreign = send(Some(&app.decoy_token)).await;
            let listing = method == Method::GET && !path.contains('{');
            if !listing {
                assert!(
                    foreign == StatusCode::NOT_FOUND || foreign == StatusCode::BAD_REQUEST,
                    "{what} from another tenant: {foreign}"
                );
            }
        }
        let right = holding.iter().find(|(s, _)| *s == scope).map(|(_, t)| t.as_str()).unwrap();
        let status = send(Some(right)).await;
        assert!(
            status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
            "{what} with its scope: {status}"
        );
    }
    // The decoy's user is still there: nothing above reached across tenants.
    let decoy = app.request_as(
        &app.decoy_token,
        Method::GET,
        &format!("/v1/users/by-username/{DECOY_USERNAME}"),
    );
    expect_status(decoy.send().await.unwrap(), StatusCode::OK).await;
}
