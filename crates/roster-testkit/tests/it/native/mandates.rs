//! Mandates: a grantor authorises a grantee for roles; the grantee delegates within the
//! mandate; revoking cascades to delegations; listings both ways — and none across tenants.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, id, user};
use serde_json::{Value, json};

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.post(path).json(&body).send().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    expect_status(app.get(path).send().await.unwrap(), StatusCode::OK).await
}

#[tokio::test]
async fn mandates_are_given_delegated_within_bounds_and_revoked_with_their_delegations() {
    let app = TestApp::spawn().await;
    let org = expect_status(
        post(&app, "/v1/organizations", json!({ "technical_name": "acme" })).await,
        StatusCode::CREATED,
    )
    .await;
    let roles_path = format!("/v1/organizations/{}/roles", id(&org));
    let sign = expect_status(
        post(&app, &roles_path, json!({ "name": "Signatory" })).await,
        StatusCode::CREATED,
    )
    .await;
    let pay = expect_status(
        post(&app, &roles_path, json!({ "name": "Payer" })).await,
        StatusCode::CREATED,
    )
    .await;
    let ada = app.create_user(user("ada")).await;
    let bob = app.create_user(user("bob")).await;

    let body = json!({ "grantor": { "organization_id": id(&org) }, "grantee": { "user_id": id(&ada) },
                       "role_ids": [id(&sign), id(&pay)], "valid_until": "2099-01-01T00:00:00Z" });
    let mandate = expect_status(post(&app, "/v1/mandates", body).await, StatusCode::CREATED).await;
    assert_eq!(
        (&mandate["state"], &mandate["grantee"]),
        (&json!("active"), &json!({ "user_id": ada["id"] }))
    );

    for (bad, field) in [
        (
            json!({ "grantor": { "user_id": id(&ada) }, "grantee": { "user_id": id(&ada) }, "role_ids": [id(&sign)] }),
            "grantee",
        ),
        (
            json!({ "grantor": { "team": "x" }, "grantee": { "user_id": id(&ada) }, "role_ids": [id(&sign)] }),
            "grantor",
        ),
        (
            json!({ "grantor": { "organization_id": id(&org) }, "grantee": { "user_id": id(&ada) }, "role_ids": [] }),
            "role_ids",
        ),
        (
            json!({ "grantor": { "organization_id": id(&org) }, "grantee": { "user_id": id(&ada) }, "role_ids": ["nope"] }),
            "role_ids[0]",
        ),
        (
            json!({ "grantor": { "organization_id": id(&org) }, "grantee": { "user_id": id(&ada) }, "role_ids": [id(&sign)], "valid_until": "2001-01-01T00:00:00Z" }),
            "valid_until",
        ),
    ] {
        let problem =
            expect_status(post(&app, "/v1/mandates", bad.clone()).await, StatusCode::BAD_REQUEST)
                .await;
        assert_eq!(problem["errors"][0]["field"], field, "{bad}");
    }

    // Delegation stays within the mandate's roles and time.
    let delegations = format!("/v1/mandates/{}/delegations", id(&mandate));
    let within = json!({ "delegate_user_id": id(&bob), "role_ids": [id(&pay)] });
    let delegation =
        expect_status(post(&app, &delegations, within).await, StatusCode::CREATED).await;
    assert_eq!(delegation["valid_until"], mandate["valid_until"], "the mandate's end by default");
    let outsider = expect_status(
        post(&app, &roles_path, json!({ "name": "Other" })).await,
        StatusCode::CREATED,
    )
    .await;
    for bad in [
        json!({ "delegate_user_id": id(&bob), "role_ids": [id(&outsider)] }),
        json!({ "delegate_user_id": id(&bob), "role_ids": [id(&pay)], "valid_until": "2100-01-01T00:00:00Z" }),
        json!({ "delegate_user_id": id(&ada), "role_ids": [id(&pay)] }),
    ] {
        expect_status(post(&app, &delegations, bad).await, StatusCode::BAD_REQUEST).await;
    }

    // Listings both ways.
    let received = get(&app, &format!("/v1/users/{}/mandates", id(&ada))).await;
    assert_eq!(received["data"][0]["id"], mandate["id"]);
    let given =
        get(&app, &format!("/v1/organizations/{}/mandates?direction=given", id(&org))).await;
    assert_eq!(given["data"][0]["id"], mandate["id"]);
    assert_eq!(
        get(&app, &format!("/v1/users/{}/mandates?direction=given", id(&ada))).await["data"],
        json!([])
    );
    let bad_direction =
        app.get(&format!("/v1/users/{}/mandates?direction=sideways", id(&ada))).send().await;
    expect_status(bad_direction.unwrap(), StatusCode::BAD_REQUEST).await;
    let bobs = get(&app, &format!("/v1/users/{}/delegations", id(&bob))).await;
    assert_eq!(bobs["data"][0]["id"], delegation["id"]);

    // Revoking cascades; a revoked mandate delegates no more.
    let revoked = post(&app, &format!("/v1/mandates/{}/revoke", id(&mandate)), json!({})).await;
    assert_eq!(expect_status(revoked, StatusCode::OK).await["state"], "revoked");
    assert_eq!(get(&app, &delegations).await["data"][0]["state"], "revoked");
    let late = json!({ "delegate_user_id": id(&bob), "role_ids": [id(&pay)] });
    expect_status(post(&app, &delegations, late).await, StatusCode::CONFLICT).await;

    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["resource"]["type"] == "mandate")
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["mandate.created", "mandate.delegated", "mandate.revoked"]);

    // Deleting a user ends the mandates it holds and the delegations it received.
    let body = json!({ "grantor": { "organization_id": id(&org) }, "grantee": { "user_id": id(&bob) },
                       "role_ids": [id(&sign)] });
    let bobs_mandate =
        expect_status(post(&app, "/v1/mandates", body).await, StatusCode::CREATED).await;
    let carl = app.create_user(user("carl")).await;
    let to_carl = json!({ "delegate_user_id": id(&carl), "role_ids": [id(&sign)] });
    let carls =
        post(&app, &format!("/v1/mandates/{}/delegations", id(&bobs_mandate)), to_carl).await;
    expect_status(carls, StatusCode::CREATED).await;
    let deleted = app.delete(&format!("/v1/users/{}", id(&bob))).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let ended = get(&app, &format!("/v1/mandates/{}", id(&bobs_mandate))).await;
    assert_eq!(ended["state"], "revoked");
    let carls = get(&app, &format!("/v1/users/{}/delegations", id(&carl))).await;
    assert_eq!(carls["data"][0]["state"], "revoked");

    // An organization's mandates go with it, each with an event.
    let gone =
        app.delete(&format!("/v1/organizations/{}?cascade=true", id(&org))).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    expect_status(
        app.get(&format!("/v1/mandates/{}", id(&mandate))).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let deleted = app.events().await.iter().filter(|e| e["type"] == "mandate.deleted").count();
    assert_eq!(deleted, 2);
}

#[tokio::test]
async fn mandates_are_the_tenants_own() {
    let app = TestApp::spawn().await;
    let org = expect_status(
        post(&app, "/v1/organizations", json!({ "technical_name": "acme" })).await,
        StatusCode::CREATED,
    )
    .await;
    let role =
        post(&app, &format!("/v1/organizations/{}/roles", id(&org)), json!({ "name": "R" })).await;
    let role = expect_status(role, StatusCode::CREATED).await;
    let ada = app.create_user(user("ada")).await;
    let body = json!({ "grantor": { "organization_id": id(&org) }, "grantee": { "user_id": id(&ada) }, "role_ids": [id(&role)] });
    let mandate =
        expect_status(post(&app, "/v1/mandates", body.clone()).await, StatusCode::CREATED).await;
    let theirs = |method: Method, path: String| app.request_as(&app.decoy_token, method, &path);
    for (method, path) in [
        (Method::GET, format!("/v1/mandates/{}", id(&mandate))),
        (Method::POST, format!("/v1/mandates/{}/revoke", id(&mandate))),
        (Method::GET, format!("/v1/mandates/{}/delegations", id(&mandate))),
        (Method::GET, format!("/v1/users/{}/mandates", id(&ada))),
        (Method::GET, format!("/v1/organizations/{}/mandates", id(&org))),
        (Method::GET, format!("/v1/users/{}/delegations", id(&ada))),
    ] {
        let response = theirs(method.clone(), path.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Their token cannot make a mandate between our parties.
    let made = theirs(Method::POST, "/v1/mandates".to_owned()).json(&body).send().await.unwrap();
    expect_status(made, StatusCode::BAD_REQUEST).await;
}
