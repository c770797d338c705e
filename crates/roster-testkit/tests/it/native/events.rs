//! Every change commits exactly one event with it; no failed or empty write commits any.

use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status, user};
use serde_json::{Value, json};

#[tokio::test]
async fn every_mutation_writes_exactly_one_event() {
    let app = TestApp::spawn().await;
    let created = app.create_user(super::users::karl()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/users/{id}");
    let merge = |body: Value| {
        app.patch(&path)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
    };

    let mut expected = vec![("user.created", json!({ "kind": "human", "state": "active" }))];
    assert_events(&app, &id, &expected).await;

    expect_status(merge(json!({ "locale": "en" })).await.unwrap(), StatusCode::OK).await;
    expected.push(("user.updated", json!({ "fields": ["locale"] })));
    assert_events(&app, &id, &expected).await;

    // Nothing changes, nothing is written.
    expect_status(merge(json!({ "locale": "en" })).await.unwrap(), StatusCode::OK).await;
    assert_events(&app, &id, &expected).await;

    let response = app
        .put(&path)
        .json(&json!({ "username": "karl", "password": "new password!" }))
        .send()
        .await;
    expect_status(response.unwrap(), StatusCode::OK).await;
    let fields = json!({ "fields": ["username", "name", "salutation", "title", "gender", "birth",
        "nationalities", "emails", "phones", "locale", "picture", "address", "external_ids", "attributes",
        "claims", "password"] });
    expected.push(("user.updated", fields));
    assert_events(&app, &id, &expected).await;

    expect_status(app.post(&format!("{path}/lock")).send().await.unwrap(), StatusCode::OK).await;
    expected.push((
        "user.state_changed",
        json!({ "from": "active", "to": "locked", "action": "lock" }),
    ));
    assert_events(&app, &id, &expected).await;

    // Failures write nothing.
    expect_status(app.post(&format!("{path}/lock")).send().await.unwrap(), StatusCode::CONFLICT)
        .await;
    expect_status(merge(json!({ "locale": "??" })).await.unwrap(), StatusCode::BAD_REQUEST).await;
    let stale =
        app.put(&path).header("if-match", "\"1\"").json(&user("karl")).send().await.unwrap();
    expect_status(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_events(&app, &id, &expected).await;

    assert_eq!(app.delete(&path).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    expected
        .push(("user.deleted", json!({ "from": "locked", "to": "deleted", "action": "delete" })));
    assert_events(&app, &id, &expected).await;
}

/// The feed holds exactly `expected`, in order, with gap-free sequence numbers and the user's
/// version counting along.
async fn assert_events(app: &TestApp, id: &str, expected: &[(&str, Value)]) {
    let events = app.events().await;
    let got: Vec<(&str, &Value)> =
        events.iter().map(|e| (e["type"].as_str().unwrap(), &e["data"])).collect();
    let want: Vec<(&str, &Value)> = expected.iter().map(|(t, d)| (*t, d)).collect();
    assert_eq!(got, want);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], i + 1);
        assert_eq!(event["version"], i + 1);
        assert_eq!(event["user_id"], id);
        assert!(event["actor"].as_str().unwrap().starts_with("token:"));
    }
}

#[tokio::test]
async fn the_feed_pages_by_sequence() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.create_user(user(&format!("u{i}"))).await;
    }
    let page = app.get("/v1/events?after=2&limit=2").send().await.unwrap();
    let page = expect_status(page, StatusCode::OK).await;
    let seqs: Vec<i64> =
        page["data"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(page["meta"]["next_after"], 4);
    let end = app.get("/v1/events?after=5").send().await.unwrap();
    assert_eq!(expect_status(end, StatusCode::OK).await["meta"]["next_after"], 5);
    for bad in ["after=-1", "limit=0", "limit=1001", "after=x"] {
        let response = app.get(&format!("/v1/events?{bad}")).send().await.unwrap();
        expect_status(response, StatusCode::BAD_REQUEST).await;
    }
    // The decoy tenant's feed is its own.
    let decoy =
        app.request_as(&app.decoy_token, reqwest::Method::GET, "/v1/events").send().await.unwrap();
    assert_eq!(expect_status(decoy, StatusCode::OK).await["data"].as_array().unwrap().len(), 1);
}
