//! Invitations: an address invited to an organization and roles becomes an `initial` user (or
//! links the one it names), is accepted once before it expires, and is re-invited only while
//! its user waits — with events that never carry the address.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, id, user};
use serde_json::{Value, json};

async fn invite(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/v1/invitations").json(&body).send().await.unwrap()
}

#[tokio::test]
async fn an_invitation_creates_a_waiting_user_who_gets_the_roles_on_acceptance() {
    let app = TestApp::spawn().await;
    let org = app.post("/v1/organizations").json(&json!({ "technical_name": "sales" }));
    let org = expect_status(org.send().await.unwrap(), StatusCode::CREATED).await;
    let role = app
        .post(&format!("/v1/organizations/{}/roles", id(&org)))
        .json(&json!({ "name": "Seller" }));
    let role = expect_status(role.send().await.unwrap(), StatusCode::CREATED).await;
    let other = app.post("/v1/organizations").json(&json!({ "technical_name": "other" }));
    let other = expect_status(other.send().await.unwrap(), StatusCode::CREATED).await;
    let foreign =
        app.post(&format!("/v1/organizations/{}/roles", id(&other))).json(&json!({ "name": "X" }));
    let foreign = expect_status(foreign.send().await.unwrap(), StatusCode::CREATED).await;

    let body = json!({ "email": "Newcomer@Example.org", "organization_id": id(&org), "role_ids": [id(&role)] });
    let response = invite(&app, body).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let invitation = expect_status(response, StatusCode::CREATED).await;
    assert_eq!((&invitation["state"], &invitation["sent_count"]), (&json!("pending"), &json!(1)));
    let user_path = format!("/v1/users/{}", invitation["user_id"].as_str().unwrap());
    let invited = expect_status(app.get(&user_path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!((&invited["state"], &invited["organization_id"]), (&json!("initial"), &org["id"]));
    assert_eq!(invited["emails"][0]["value"], "Newcomer@example.org");

    for (bad, status) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({ "email": "not an address" }), StatusCode::BAD_REQUEST),
        (
            json!({ "email": "a@example.org", "organization_id": id(&org), "role_ids": [id(&foreign)] }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "email": "a@example.org", "organization_id": "01a23900-0000-7000-8000-000000000000" }),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        expect_status(invite(&app, bad).await, status).await;
    }

    // Re-inviting while the user waits issues it again; accepting activates and grants.
    let reinvited = app.post(&format!("{location}/reinvite")).send().await.unwrap();
    assert_eq!(expect_status(reinvited, StatusCode::OK).await["sent_count"], 2);
    let accepted = app.post(&format!("{location}/accept")).send().await.unwrap();
    assert_eq!(expect_status(accepted, StatusCode::OK).await["state"], "accepted");
    let active = expect_status(app.get(&user_path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(active["state"], "active");
    let roles = app.get(&format!("{user_path}/roles")).send().await.unwrap();
    assert_eq!(expect_status(roles, StatusCode::OK).await["data"][0]["id"], role["id"]);
    for again in ["accept", "reinvite"] {
        let response = app.post(&format!("{location}/{again}")).send().await.unwrap();
        expect_status(response, StatusCode::CONFLICT).await;
    }

    // An address that already has a user is linked, not created again.
    let ada = app
        .create_user(json!({ "username": "ada", "emails": [{ "value": "ada@example.org" }] }))
        .await;
    let linked = expect_status(
        invite(&app, json!({ "email": "ADA@example.org" })).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(linked["user_id"], ada["id"]);
    let listed = app.get(&format!("/v1/users/{}/invitations", id(&ada))).send().await.unwrap();
    assert_eq!(expect_status(listed, StatusCode::OK).await["data"][0]["id"], linked["id"]);
    let by_org =
        app.get(&format!("/v1/organizations/{}/invitations", id(&org))).send().await.unwrap();
    assert_eq!(expect_status(by_org, StatusCode::OK).await["data"].as_array().unwrap().len(), 1);

    let events = app.events().await;
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e["resource"]["type"] == "invitation")
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["invitation.created", "invitation.reissued", "invitation.accepted", "invitation.created"]
    );
    let text = serde_json::to_string(&events).unwrap().to_lowercase();
    assert!(!text.contains("newcomer@example.org"), "no address in events");
}

#[tokio::test]
async fn invitations_expire_and_can_be_issued_again_while_the_user_waits() {
    let app = TestApp::spawn_with(|config| config.invitation_ttl_hours = 24).await;
    let invitation = expect_status(
        invite(&app, json!({ "email": "late@example.org" })).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/v1/invitations/{}", id(&invitation));
    app.clock.advance(time::Duration::hours(25));
    let expired = expect_status(app.get(&path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(expired["state"], "expired");
    let refused = expect_status(
        app.post(&format!("{path}/accept")).send().await.unwrap(),
        StatusCode::CONFLICT,
    );
    assert!(refused.await["detail"].as_str().unwrap().contains("expired"));
    let renewed = app.post(&format!("{path}/reinvite")).send().await.unwrap();
    assert_eq!(expect_status(renewed, StatusCode::OK).await["state"], "pending");
    let accepted = app.post(&format!("{path}/accept")).send().await.unwrap();
    assert_eq!(expect_status(accepted, StatusCode::OK).await["state"], "accepted");

    // Another tenant sees none of it.
    let theirs = app.request_as(&app.decoy_token, Method::GET, &path).send().await.unwrap();
    expect_status(theirs, StatusCode::NOT_FOUND).await;
    for action in ["accept", "reinvite"] {
        let theirs = app.request_as(&app.decoy_token, Method::POST, &format!("{path}/{action}"));
        expect_status(theirs.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    let someone = app.create_user(user("someone")).await;
    let theirs = app.request_as(
        &app.decoy_token,
        Method::GET,
        &format!("/v1/users/{}/invitations", id(&someone)),
    );
    expect_status(theirs.send().await.unwrap(), StatusCode::NOT_FOUND).await;
}
