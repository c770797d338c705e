//! Uniqueness and concurrent writers: exactly one winner per unique value, no lost update.

use futures::future::join_all;
use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status, user};
use serde_json::json;

#[tokio::test]
async fn unique_values_conflict_naming_the_field() {
    let app = TestApp::spawn().await;
    app.create_user(json!({
        "username": "taken",
        "emails": [{ "value": "first@example.org", "primary": true }, { "value": "second@example.org" }],
        "phones": [{ "value": "+4930901820" }],
        "external_ids": { "external_user_id": "crm-1" },
    }))
    .await;
    let cases = [
        (json!({ "username": "TAKEN" }), "username"),
        (
            json!({ "username": "b", "emails": [{ "value": "x@example.org" }, { "value": "Second@example.org" }] }),
            "emails[1].value",
        ),
        (json!({ "username": "c", "phones": [{ "value": "+49 30 901820" }] }), "phones[0].value"),
        (
            json!({ "username": "d", "external_ids": { "external_user_id": "crm-1" } }),
            "external_ids.external_user_id",
        ),
    ];
    for (body, field) in cases {
        let response = app.post("/v1/users").json(&body).send().await.unwrap();
        let problem = expect_status(response, StatusCode::CONFLICT).await;
        assert_eq!(problem["type"], "urn:roster:problem:conflict");
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    assert_eq!(app.all_users(false).await.len(), 1, "no conflicting create was written");

    // Updates conflict the same way, and leave the user as it was.
    let other = app.create_user(user("other")).await;
    let id = other["id"].as_str().unwrap();
    let response = app
        .put(&format!("/v1/users/{id}"))
        .json(&json!({ "username": "Taken" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(response, StatusCode::CONFLICT).await["errors"][0]["field"],
        "username"
    );
    let unchanged = app.get(&format!("/v1/users/{id}")).send().await.unwrap();
    assert_eq!(expect_status(unchanged, StatusCode::OK).await, other);
}

#[tokio::test]
async fn concurrent_creates_of_one_email_have_one_winner() {
    let app = TestApp::spawn().await;
    let attempts = (0..16).map(|i| {
        let body =
            json!({ "username": format!("racer{i}"), "emails": [{ "value": "race@example.org" }] });
        app.post("/v1/users").json(&body).send()
    });
    let statuses: Vec<StatusCode> =
        join_all(attempts).await.into_iter().map(|r| r.unwrap().status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 15, "{statuses:?}");
    assert_eq!(app.all_users(false).await.len(), 1);
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn concurrent_patches_lose_no_update() {
    let app = TestApp::spawn().await;
    let id = app.create_user(user("shared")).await["id"].as_str().unwrap().to_owned();
    let writers = 8;
    let patches = (0..writers).map(|i| {
        app.merge_patch(
            &format!("/v1/users/{id}"),
            &json!({ "attributes": { format!("k{i}"): ["v"] } }),
        )
        .send()
    });
    for response in join_all(patches).await {
        expect_status(response.unwrap(), StatusCode::OK).await;
    }
    let user = app.get(&format!("/v1/users/{id}")).send().await.unwrap();
    let user = expect_status(user, StatusCode::OK).await;
    assert_eq!(user["attributes"].as_object().unwrap().len(), writers, "{user}");
    assert_eq!(user["version"], writers + 1);
}

#[tokio::test]
async fn if_match_lets_exactly_one_of_two_writers_win() {
    let app = TestApp::spawn().await;
    let id = app.create_user(user("pinned")).await["id"].as_str().unwrap().to_owned();
    let writes = ["left", "right"].map(|name| {
        app.put(&format!("/v1/users/{id}"))
            .header("if-match", "\"1\"")
            .json(&json!({ "username": name }))
            .send()
    });
    let mut statuses: Vec<StatusCode> =
        join_all(writes).await.into_iter().map(|r| r.unwrap().status()).collect();
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);

    // RFC 9110 §13.1.1: a well-formed tag that does not match strongly is a 412 (a weak tag
    // never does); only a malformed header is a 400.
    let put = |tag: &'static str| {
        app.put(&format!("/v1/users/{id}")).header("if-match", tag).json(&user("again")).send()
    };
    for stale in ["\"bogus\"", "W/\"2\"", "\"02\"", "\"1\"", "\"x\", W/\"2\""] {
        let problem =
            expect_status(put(stale).await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
        assert_eq!(problem["current_version"], 2, "{stale}: {problem}");
    }
    for bad in ["1", "\"1", "\"1\",,\"2\"", "\"1\", \"2\""] {
        let problem = expect_status(put(bad).await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], "If-Match", "{bad}");
    }
    let listed =
        expect_status(put("\"9\", \"2\", \"2\"").await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(listed["errors"][0]["code"], "ambiguous");
    let any = app
        .put(&format!("/v1/users/{id}"))
        .header("if-match", "*")
        .json(&user("any"))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(any, StatusCode::OK).await["version"], 3);
}

#[tokio::test]
async fn concurrent_creates_share_commits_and_keep_the_feed_gap_free() {
    let app = TestApp::spawn().await;
    let creates = (0..24).map(|i| app.post("/v1/users").json(&user(&format!("burst{i}"))).send());
    let mut ids = Vec::new();
    for response in join_all(creates).await {
        ids.push(expect_status(response.unwrap(), StatusCode::CREATED).await["id"].clone());
    }
    let events = app.events().await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>());
    for id in &ids {
        assert_eq!(
            events
                .iter()
                .filter(|e| e["resource"]["id"] == *id && e["type"] == "user.created")
                .count(),
            1
        );
        let response =
            app.get(&format!("/v1/users/{}", id.as_str().unwrap())).send().await.unwrap();
        expect_status(response, StatusCode::OK).await;
    }
}
