//! Jobs: offboarding (the user is `offboarding` at once and a job erases it), data changes and
//! imports, each reported at `/v1/jobs/{id}`; a job cut short by a stopped node is finished by
//! another, exactly once.

use reqwest::{Method, StatusCode};
use roster_testkit::{DECOY_USERNAME, TestApp, eventually, expect_status};
use serde_json::{Value, json};

/// The job once it has ended; the worker runs it just after the request, so this looks again,
/// a bounded number of times.
async fn ended(app: &TestApp, location: &str) -> Value {
    eventually("the job's end", || async {
        let job = expect_status(app.get(location).send().await.unwrap(), StatusCode::OK).await;
        (job["state"] == "succeeded" || job["state"] == "failed").then_some(job)
    })
    .await
}

#[tokio::test]
async fn offboarding_answers_at_once_and_a_job_erases_the_user() {
    let app = TestApp::spawn().await;
    let created = app
        .create_user(json!({ "username": "ada", "emails": [{ "value": "ada@example.com" }],
            "name": { "given": "Ada", "family": "Lovelace" }, "password": "correct horse battery" }))
        .await;
    let id = created["id"].as_str().unwrap();
    let response = app.post(&format!("/v1/users/{id}/offboard")).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/v1/jobs/"), "{location}");
    let user = expect_status(response, StatusCode::ACCEPTED).await;
    assert_eq!((&user["state"], &user["version"]), (&json!("offboarding"), &json!(2)));

    let job = ended(&app, &location).await;
    assert_eq!(
        (&job["kind"], &job["state"], &job["resource_id"], &job["attempts"]),
        (&json!("offboard"), &json!("succeeded"), &json!(id), &json!(1))
    );
    let path = format!("/v1/users/{id}");
    expect_status(app.get(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    let tombstone = app.get(&format!("{path}?include_deleted=true")).send().await.unwrap();
    let tombstone = expect_status(tombstone, StatusCode::OK).await;
    assert_eq!(tombstone["state"], "deleted");
    let text = tombstone.to_string();
    // Quoted, so that an id or a time that happens to hold the letters cannot match.
    for value in ["\"ada\"", "ada@example.com", "\"Ada\"", "Lovelace"] {
        assert!(!text.contains(value), "erased: {value} in {text}");
    }

    let events = app.events().await;
    let ours: Vec<(&Value, &Value)> = events.iter().map(|e| (&e["type"], &e["data"])).collect();
    assert_eq!(
        ours,
        [
            (&json!("user.created"), &json!({ "kind": "human", "state": "active" })),
            (
                &json!("user.state_changed"),
                &json!({ "from": "active", "to": "offboarding", "action": "offboard" })
            ),
            (
                &json!("user.deleted"),
                &json!({ "from": "offboarding", "to": "deleted", "action": "delete" })
            ),
        ]
    );
    assert!(events.iter().all(|e| e["actor"] == events[0]["actor"]), "the job acts for the caller");

    // Once gone, there is nothing to offboard, as for every change of a deleted user.
    let again = app.post(&format!("/v1/users/{id}/offboard")).send().await.unwrap();
    expect_status(again, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn offboarding_is_refused_where_it_cannot_apply_and_jobs_are_the_tenants_own() {
    let app = TestApp::spawn().await;
    let created = app.create_user(json!({ "username": "bob" })).await;
    let id = created["id"].as_str().unwrap();
    let locked = app.post(&format!("/v1/users/{id}/lock")).send().await.unwrap();
    expect_status(locked, StatusCode::OK).await;
    let deactivated = app.post(&format!("/v1/users/{id}/deactivate")).send().await.unwrap();
    expect_status(deactivated, StatusCode::OK).await;
    let stale = app.post(&format!("/v1/users/{id}/offboard")).header("if-match", "\"7\"").send();
    expect_status(stale.await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
    let unknown = app.post(&format!("/v1/users/{}/offboard", uuid::Uuid::new_v4())).send();
    expect_status(unknown.await.unwrap(), StatusCode::NOT_FOUND).await;
    let bad = app.post("/v1/users/bob/offboard").send().await.unwrap();
    expect_status(bad, StatusCode::BAD_REQUEST).await;

    let decoy = app
        .request_as(
            &app.decoy_token,
            Method::GET,
            &format!("/v1/users/by-username/{DECOY_USERNAME}"),
        )
        .send();
    let decoy = expect_status(decoy.await.unwrap(), StatusCode::OK).await;
    let foreign = app.post(&format!("/v1/users/{}/offboard", decoy["id"].as_str().unwrap())).send();
    expect_status(foreign.await.unwrap(), StatusCode::NOT_FOUND).await;

    let response = app.post(&format!("/v1/users/{id}/offboard")).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    expect_status(response, StatusCode::ACCEPTED).await;
    let theirs = app.request_as(&app.decoy_token, Method::GET, &location).send();
    expect_status(theirs.await.unwrap(), StatusCode::NOT_FOUND).await;
    assert_eq!(ended(&app, &location).await["state"], "succeeded");
    expect_status(app.get("/v1/jobs/x").send().await.unwrap(), StatusCode::BAD_REQUEST).await;
}

async fn request_change(app: &TestApp, id: &str, patch: Value) -> String {
    let response = app.post(&format!("/v1/users/{id}/data-changes")).json(&patch).send().await;
    let response = response.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let job = expect_status(response, StatusCode::ACCEPTED).await;
    assert_eq!((&job["kind"], &job["resource_id"]), (&json!("data_change"), &json!(id)));
    assert_eq!(location, format!("/v1/jobs/{}", job["id"].as_str().unwrap()));
    location
}

#[tokio::test]
async fn data_changes_are_applied_later_or_refused_with_an_event() {
    let app = TestApp::spawn().await;
    let ada = app.create_user(json!({ "username": "ada", "locale": "de" })).await;
    app.create_user(json!({ "username": "taken" })).await;
    let id = ada["id"].as_str().unwrap();

    let applied = request_change(&app, id, json!({ "locale": "en", "title": "dr" })).await;
    let job = ended(&app, &applied).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let user =
        expect_status(app.get(&format!("/v1/users/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(
        (&user["locale"], &user["title"], &user["version"]),
        (&json!("en"), &json!("dr"), &json!(2))
    );
    let events = app.events().await;
    let last = events.last().unwrap();
    assert_eq!(
        (&last["type"], &last["resource"]["version"]),
        (&json!("user.data_changed"), &json!(2))
    );
    assert_eq!(last["data"]["fields"], json!(["title", "locale"]));

    // Accepted at once, refused when applied: an invalid value, a taken username.
    for (patch, field, code) in [
        (json!({ "locale": "??" }), "locale", "invalid_format"),
        (json!({ "username": "taken" }), "", ""),
    ] {
        let refused = request_change(&app, id, patch.clone()).await;
        let job = ended(&app, &refused).await;
        assert_eq!(job["state"], "failed", "{patch}");
        assert!(job["error"].is_string());
        let events = app.events().await;
        let last = events.last().unwrap();
        assert_eq!(last["type"], "user.data_change_failed", "{patch}");
        assert_eq!(last["data"]["job_id"], job["id"]);
        assert_eq!(
            last["resource"],
            json!({ "type": "user", "id": id, "version": 2 }),
            "unchanged"
        );
        if !field.is_empty() {
            assert_eq!(
                (&last["data"]["errors"][0]["field"], &last["data"]["errors"][0]["code"]),
                (&json!(field), &json!(code))
            );
        }
    }
    let user =
        expect_status(app.get(&format!("/v1/users/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(
        (&user["username"], &user["locale"], &user["version"]),
        (&json!("ada"), &json!("en"), &json!(2))
    );

    // Refused at once: what can never apply.
    for (path, body, status) in [
        (format!("/v1/users/{id}/data-changes"), json!({ "version": 9 }), StatusCode::BAD_REQUEST),
        (format!("/v1/users/{id}/data-changes"), json!(["locale"]), StatusCode::BAD_REQUEST),
        (
            format!("/v1/users/{}/data-changes", uuid::Uuid::new_v4()),
            json!({}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        expect_status(app.post(&path).json(&body).send().await.unwrap(), status).await;
    }
}

#[tokio::test]
async fn imports_over_http_report_progress_and_each_refused_row() {
    let app = TestApp::spawn().await;
    app.create_user(json!({ "username": "taken" })).await;
    let rows = [
        r#"{"username": "imp-1", "emails": [{"value": "one@example.org"}]}"#,
        r#"{"username": "imp-2", "emails": [{"value": "not an address"}]}"#,
        "",
        r#"{"username": "imp-3"#,
        r#"{"username": "taken"}"#,
        r#"{"id": "01a238bd-0000-7000-8000-000000000000", "username": "imp-4"}"#,
        r#"{"username": "imp-5", "locale": "en"}"#,
    ]
    .join("\n");
    let response = app
        .post("/v1/imports")
        .header("content-type", "application/x-ndjson")
        .body(rows)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let accepted = expect_status(response, StatusCode::ACCEPTED).await;
    assert_eq!((&accepted["kind"], &accepted["progress"]["lines"]), (&json!("import"), &json!(7)));
    assert!(location.starts_with("/v1/imports/"), "{location}");

    let import = ended(&app, &location).await;
    assert_eq!(import["state"], "succeeded", "{import}");
    let progress = &import["progress"];
    assert_eq!(
        (&progress["processed"], &progress["created"], &progress["failed"]),
        (&json!(7), &json!(2), &json!(4)),
        "{progress}"
    );
    let refused: Vec<(&Value, &Value, &Value)> = progress["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (&e["line"], &e["errors"][0]["field"], &e["errors"][0]["code"]))
        .collect();
    assert_eq!(
        refused,
        [
            (&json!(2), &json!("emails[0].value"), &json!("invalid_format")),
            (&json!(4), &json!(""), &json!("invalid_json")),
            (&json!(5), &json!("username"), &json!("conflict")),
            (&json!(6), &json!("id"), &json!("read_only")),
        ]
    );
    for username in ["imp-1", "imp-5"] {
        let found = app.get(&format!("/v1/users/by-username/{username}")).send().await.unwrap();
        expect_status(found, StatusCode::OK).await;
    }
    let created = app.events().await.iter().filter(|e| e["type"] == "user.created").count();
    assert_eq!(created, 3, "one event per created user (and the one before)");

    // The job is an import only at its own address; other tenants do not see it.
    let theirs = app.request_as(&app.decoy_token, Method::GET, &location).send();
    expect_status(theirs.await.unwrap(), StatusCode::NOT_FOUND).await;
    for (body, status) in [("\n\n", StatusCode::BAD_REQUEST), ("", StatusCode::BAD_REQUEST)] {
        let response = app.post("/v1/imports").body(body).send().await.unwrap();
        expect_status(response, status).await;
    }
    let latin1 = app.post("/v1/imports").body(vec![0xff, 0xfe]).send().await.unwrap();
    expect_status(latin1, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn an_import_cut_short_by_a_stopped_node_is_finished_by_another_exactly_once() {
    const ROWS: usize = 10_000;
    let mut app = TestApp::spawn().await;
    let rows: Vec<String> =
        (0..ROWS).map(|i| json!({ "username": format!("resumed-{i}") }).to_string()).collect();
    let response = app
        .post("/v1/imports")
        .header("content-type", "application/x-ndjson")
        .body(rows.join("\n"))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    expect_status(response, StatusCode::ACCEPTED).await;

    // The node stops as soon as its worker has saved the first chunk (of twenty); once the job's
    // lease has run out, a node started on the same database takes the job over.
    let started = eventually("the first chunk", || async {
        let import = expect_status(app.get(&location).send().await.unwrap(), StatusCode::OK).await;
        (import["progress"]["processed"].as_u64().unwrap_or(0) > 0).then_some(import)
    })
    .await;
    assert_eq!(started["state"], "running", "stopped mid-run: {started}");
    app.begin_shutdown();
    app.stopped().await.unwrap();
    app.clock.advance(time::Duration::seconds(61));
    let peer = app.spawn_peer().await;
    let get = |path: String| {
        let request = app.http.get(peer.url(&path)).bearer_auth(&app.token);
        async move { expect_status(request.send().await.unwrap(), StatusCode::OK).await }
    };
    let import = eventually("the import's end on the peer", || async {
        let import = get(location.clone()).await;
        (import["state"] == "succeeded" || import["state"] == "failed").then_some(import)
    })
    .await;
    assert_eq!(import["state"], "succeeded", "{import}");
    let progress = &import["progress"];
    assert_eq!(progress["processed"], json!(ROWS), "{progress}");
    assert_eq!(import["attempts"], json!(2), "the second node ran it again: {import}");

    // Every row is there once: a chunk run twice reports its rows as conflicts the second time.
    let filter = "filter=username%20sw%20%22resumed-%22&count=true&limit=1";
    let listed = get(format!("/v1/users?{filter}")).await;
    assert_eq!(listed["meta"]["total_count"], json!(ROWS), "{listed}");
    let mut created = 0;
    let mut after = 0;
    loop {
        let page = get(format!("/v1/events?after={after}&limit=1000")).await;
        let data = page["data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        created += data.iter().filter(|e| e["type"] == "user.created").count();
        after = page["meta"]["next_after"].as_i64().unwrap();
    }
    assert_eq!(created, ROWS, "one event per user");
}
