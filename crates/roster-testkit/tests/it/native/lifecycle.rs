//! The state machine over HTTP, every legal and illegal transition, and delete's tombstones.

use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status, user};
use serde_json::{Value, json};

const ACTIONS: [&str; 5] = ["activate", "deactivate", "lock", "unlock", "approve"];

/// The expected target of each action from each reachable state; anything else is a 409.
fn target(action: &str, from: &str) -> Option<&'static str> {
    match (action, from) {
        ("activate", "initial" | "inactive") => Some("active"),
        ("approve", "pending") => Some("active"),
        ("deactivate", "initial" | "pending" | "active" | "locked") => Some("inactive"),
        ("lock", "active") => Some("locked"),
        ("unlock", "locked") => Some("active"),
        _ => None,
    }
}

/// A new user in `state`, reached the way a client would.
async fn user_in(app: &TestApp, n: usize, state: &str) -> String {
    let mut body = user(&format!("u{n}"));
    let created_state = if state == "locked" { "active" } else { state };
    body["state"] = json!(created_state);
    let id = app.create_user(body).await["id"].as_str().unwrap().to_owned();
    if state == "locked" {
        let response = app.post(&format!("/v1/users/{id}/lock")).send().await.unwrap();
        expect_status(response, StatusCode::OK).await;
    }
    id
}

#[tokio::test]
async fn every_transition_from_every_state() {
    let app = TestApp::spawn().await;
    let mut n = 0;
    for from in ["initial", "pending", "active", "inactive", "locked"] {
        for action in ACTIONS {
            n += 1;
            let id = user_in(&app, n, from).await;
            let before = app.get(&format!("/v1/users/{id}")).send().await.unwrap();
            let before = expect_status(before, StatusCode::OK).await;
            let response = app.post(&format!("/v1/users/{id}/{action}")).send().await.unwrap();
            match target(action, from) {
                Some(to) => {
                    let after = expect_status(response, StatusCode::OK).await;
                    assert_eq!(after["state"], to, "{action} from {from}");
                    assert_eq!(after["version"], before["version"].as_i64().unwrap() + 1);
                }
                None => {
                    let problem = expect_status(response, StatusCode::CONFLICT).await;
                    assert_eq!(
                        problem["type"], "urn:roster:problem:invalid-transition",
                        "{action} from {from}"
                    );
                    assert_eq!(problem["current_state"], from);
                    let after = app.get(&format!("/v1/users/{id}")).send().await.unwrap();
                    assert_eq!(expect_status(after, StatusCode::OK).await, before, "unchanged");
                }
            }
        }
    }
}

#[tokio::test]
async fn state_changes_honour_if_match_and_emit_an_event() {
    let app = TestApp::spawn().await;
    let id = user_in(&app, 1, "active").await;
    let stale = app
        .post(&format!("/v1/users/{id}/deactivate"))
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    let problem = expect_status(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(problem["current_version"], 1);
    let fresh = app
        .post(&format!("/v1/users/{id}/deactivate"))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(fresh, StatusCode::OK).await["state"], "inactive");
    let last = app.events().await.pop().unwrap();
    assert_eq!(last["type"], "user.state_changed");
    assert_eq!(last["data"], json!({ "from": "active", "to": "inactive", "action": "deactivate" }));
    assert_eq!(last["resource"]["version"], 2);

    let unknown = app.post(&format!("/v1/users/{id}/promote")).send().await.unwrap();
    expect_status(unknown, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn delete_leaves_a_tombstone_and_frees_unique_values() {
    let app = TestApp::spawn().await;
    let created = app.create_user(super::users::karl()).await;
    let id = created["id"].as_str().unwrap();

    let response =
        app.delete(&format!("/v1/users/{id}")).header("if-match", "\"1\"").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let gone = app.get(&format!("/v1/users/{id}")).send().await.unwrap();
    let problem = expect_status(gone, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["type"], "urn:roster:problem:not-found");

    let tombstone = app.get(&format!("/v1/users/{id}?include_deleted=true")).send().await.unwrap();
    let tombstone = expect_status(tombstone, StatusCode::OK).await;
    assert_eq!(tombstone["state"], "deleted");
    assert_eq!(tombstone["version"], 2);
    assert_eq!(tombstone["id"], created["id"]);
    assert_eq!(tombstone["created_at"], created["created_at"]);
    assert_eq!(tombstone["username"], Value::Null);
    assert_eq!(tombstone["name"], Value::Null);
    assert_eq!(tombstone["birth"], Value::Null);
    assert_eq!(tombstone["emails"], json!([]));
    assert_eq!(tombstone["claims"], Value::Null);
    assert_eq!(tombstone["password"]["set"], false);
    assert_eq!(tombstone["national_id"]["set"], false);

    // Tombstones are listed only on request, and their personal data is gone from lookups.
    assert!(app.all_users(false).await.is_empty());
    assert_eq!(app.all_users(true).await.len(), 1);
    for path in ["/v1/users/by-username/karl.schmidt", "/v1/users/by-email/karl@example.org"] {
        let response = app.get(path).send().await.unwrap();
        expect_status(response, StatusCode::NOT_FOUND).await;
    }

    // The username, e-mail, phone and external id can be used again.
    app.create_user(super::users::karl()).await;

    // A deleted user cannot be deleted, changed or moved again.
    for response in [
        app.delete(&format!("/v1/users/{id}")).send().await.unwrap(),
        app.post(&format!("/v1/users/{id}/activate")).send().await.unwrap(),
        app.put(&format!("/v1/users/{id}")).json(&user("back")).send().await.unwrap(),
    ] {
        expect_status(response, StatusCode::NOT_FOUND).await;
    }

    let deleted = app.events().await.into_iter().find(|e| e["type"] == "user.deleted").unwrap();
    assert_eq!(deleted["resource"]["id"], created["id"]);
    assert!(!deleted.to_string().contains("karl"), "events carry no personal data: {deleted}");
}
