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
    let merge = |body: Value| app.merge_patch(&path, &body).send();

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
        assert_eq!(event["resource"]["version"], i + 1);
        assert_eq!(event["resource"]["id"], id);
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

async fn feed(app: &TestApp, query: &str) -> Value {
    expect_status(app.get(&format!("/v1/events?{query}")).send().await.unwrap(), StatusCode::OK)
        .await
}

fn types_of(page: &Value) -> Vec<&str> {
    page["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn events_name_their_resource_tenant_and_a_stable_id() {
    let app = TestApp::spawn().await;
    let created = app.create_user(user("ada")).await;
    let first = feed(&app, "").await;
    let event = &first["data"][0];
    assert_eq!(event["resource"], json!({ "type": "user", "id": created["id"], "version": 1 }));
    assert_eq!(event["actor"].as_str().unwrap().len(), "token:".len() + 36);
    let id = event["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(feed(&app, "").await["data"][0]["id"], id, "the same on every read");
    let tenant = event["tenant_id"].clone();
    assert!(tenant.is_string());

    let decoy = app.request_as(&app.decoy_token, reqwest::Method::GET, "/v1/events");
    let decoy = expect_status(decoy.send().await.unwrap(), StatusCode::OK).await;
    let other = &decoy["data"][0];
    assert_eq!(other["seq"], 1);
    assert_ne!(other["id"], id, "unique across tenants with the same seq");
    assert_ne!(other["tenant_id"], tenant);
}

#[tokio::test]
async fn the_feed_filters_by_type_and_resource() {
    let app = TestApp::spawn().await;
    let ada = app.create_user(user("ada")).await;
    let bob = app.create_user(user("bob")).await;
    let lock = app.post(&format!("/v1/users/{}/lock", ada["id"].as_str().unwrap())).send();
    expect_status(lock.await.unwrap(), StatusCode::OK).await;

    assert_eq!(types_of(&feed(&app, "types=user.state_changed").await), ["user.state_changed"]);
    let all = ["user.created", "user.created", "user.state_changed"];
    assert_eq!(types_of(&feed(&app, "types=user.*").await), all);
    assert_eq!(types_of(&feed(&app, "types=*").await), all);
    assert_eq!(
        types_of(&feed(&app, "types=user.created,%20user.state_changed").await),
        all,
        "a list, spaces allowed"
    );
    assert_eq!(types_of(&feed(&app, "types=user.deleted").await), Vec::<&str>::new());
    let ada_only = feed(&app, &format!("resource={}", ada["id"].as_str().unwrap())).await;
    assert_eq!(types_of(&ada_only), ["user.created", "user.state_changed"]);
    assert_eq!(ada_only["meta"]["next_after"], 3, "continue after the last match");
    let bob_created =
        feed(&app, &format!("resource={}&types=user.created", bob["id"].as_str().unwrap())).await;
    assert_eq!(bob_created["data"].as_array().unwrap().len(), 1);

    for (bad, field) in [
        ("types=user.exploded", "types"),
        ("types=widget.*", "types"),
        ("types=user.created,", "types"),
        ("resource=ada", "resource"),
        ("wait=soon", "wait"),
        ("wait=61s", "wait"),
    ] {
        let response = app.get(&format!("/v1/events?{bad}")).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert!(problem.to_string().contains(field), "{bad}: {problem}");
    }
}

#[tokio::test]
async fn a_long_poll_answers_when_an_event_commits() {
    let app = TestApp::spawn().await;
    // Nothing arrives: the answer is empty once the wait is over.
    let quiet = feed(&app, "wait=1s").await;
    assert_eq!(
        (quiet["data"].as_array().unwrap().len(), &quiet["meta"]["next_after"]),
        (0, &json!(0))
    );

    let waiting = tokio::spawn({
        let (http, url, token) = (
            app.http.clone(),
            app.url("/v1/events?wait=30s&types=user.created"),
            app.token.clone(),
        );
        async move {
            http.get(url).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap()
        }
    });
    let created = app.create_user(user("ada")).await;
    let page = waiting.await.unwrap();
    assert_eq!(page["data"][0]["resource"]["id"], created["id"], "{page}");
}

/// The outbox pitfall: with writers on two nodes, a reader following `next_after` sees every
/// event exactly once, in sequence order, without a gap — also while the writes are going on.
#[tokio::test]
async fn no_event_is_skipped_with_concurrent_writers_on_two_nodes() {
    const WRITERS: usize = 4;
    const EACH: usize = 20;
    let app = TestApp::spawn().await;
    let peer = app.spawn_peer().await;
    let mut writers = Vec::new();
    for w in 0..2 * WRITERS {
        let base = if w % 2 == 0 { app.base.clone() } else { peer.base.clone() };
        let (http, token) = (app.http.clone(), app.token.clone());
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let response = http
                    .post(format!("{base}/v1/users"))
                    .bearer_auth(&token)
                    .json(&user(&format!("w{w}-{i}")))
                    .send()
                    .await
                    .unwrap();
                let body = expect_status(response, StatusCode::CREATED).await;
                ids.push(body["id"].as_str().unwrap().to_owned());
            }
            ids
        }));
    }
    let total = 2 * WRITERS * EACH;
    let reader = tokio::spawn({
        let (http, token, url) = (app.http.clone(), app.token.clone(), peer.url("/v1/events"));
        async move {
            let (mut seen, mut after) = (Vec::new(), 0);
            // Bounded: every round either returns events or waits at most a second.
            for _ in 0..10 * total {
                if seen.len() >= total {
                    break;
                }
                let page: Value = http
                    .get(format!("{url}?after={after}&limit=7&wait=1s"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                after = page["meta"]["next_after"].as_i64().unwrap();
                seen.extend(page["data"].as_array().unwrap().iter().cloned());
            }
            seen
        }
    });
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    let seen = reader.await.unwrap();
    let seqs: Vec<i64> = seen.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>(), "every seq once, in order");
    let mut ids: Vec<&str> = seen.iter().map(|e| e["resource"]["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    written.sort_unstable();
    assert_eq!(ids, written, "one event per acknowledged create");
}
