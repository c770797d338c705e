//! Work a node does in the background survives its being killed: a webhook delivery in flight
//! and an import job under way are taken up again after their lease (60 s) by the restarted
//! node — delivered at least once, imported exactly once.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::Method;
use roster_testkit::TestDb;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::node::{Node, TOKEN, events, users_by_name};

const ROWS: usize = 3_000;
/// How long the test waits for the leases to run out and the work to finish.
const PATIENCE: Duration = Duration::from_secs(180);

/// A webhook receiver on 127.0.0.1:0 that holds its first request unanswered (the node is killed
/// meanwhile) and acknowledges every other, keeping the event ids it acknowledged.
#[derive(Default)]
struct Receiver {
    held: AtomicBool,
    holding: Notify,
    first: Mutex<Option<String>>,
    acknowledged: Mutex<BTreeSet<String>>,
}

async fn receive(receiver: Arc<Receiver>, headers: HeaderMap) -> StatusCode {
    let id =
        headers.get("roster-event-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if !receiver.held.swap(true, Ordering::SeqCst) {
        *receiver.first.lock().expect("first") = Some(id.clone());
        receiver.holding.notify_one();
        std::future::pending::<()>().await;
    }
    receiver.acknowledged.lock().expect("acknowledged").insert(id);
    StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_and_imports_in_flight_are_taken_up_after_a_kill() {
    let receiver = Arc::new(Receiver::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook_url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let app = Router::new().route(
        "/hook",
        post({
            let receiver = receiver.clone();
            move |headers: HeaderMap| receive(receiver.clone(), headers)
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let db = TestDb::new().await;
    let settings = [("ROSTER_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")];
    let node = Node::start_with(&db, &settings).await;
    let hook = json!({ "url": hook_url, "event_types": ["user.created"] });
    let response =
        node.request(Method::POST, "/v1/webhooks").json(&hook).send().await.expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let rows: Vec<String> =
        (0..ROWS).map(|i| json!({ "username": format!("bg-{i:05}") }).to_string()).collect();
    let response = node
        .request(Method::POST, "/v1/imports")
        .header("content-type", "application/x-ndjson")
        .body(rows.join("\n"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let import = response.headers()["location"].to_str().expect("location").to_owned();

    // Killed while the receiver holds the first delivery (and the import is under way or done).
    receiver.holding.notified().await;
    node.kill().await;
    let first = receiver.first.lock().expect("first").clone().expect("held delivery");

    let node = Node::start_with(&db, &settings).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let job = loop {
        let job = node.get_json(&import).await;
        if job["state"] == "succeeded" {
            break job;
        }
        assert!(job["state"] != "failed", "{job}");
        assert!(tokio::time::Instant::now() < deadline, "the import did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let users = users_by_name(&node, TOKEN, "bg-").await;
    assert_eq!(users.len(), ROWS, "every row once");

    // Every user.created event reaches the receiver, the held one included.
    let created: BTreeSet<String> = events(&node, TOKEN)
        .await
        .into_iter()
        .filter(|e| e["type"] == "user.created")
        .map(|e: Value| e["id"].as_str().expect("event id").to_owned())
        .collect();
    assert_eq!(created.len(), ROWS);
    loop {
        let missing = {
            let acknowledged = receiver.acknowledged.lock().expect("acknowledged");
            created.difference(&acknowledged).count()
        };
        if missing == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{missing} deliveries never arrived");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(receiver.acknowledged.lock().expect("acknowledged").contains(&first));
    eprintln!(
        "background: killed during delivery {first}; after the restart the import ({} attempts) and all {ROWS} deliveries completed",
        job["attempts"]
    );
    node.kill().await;
}
