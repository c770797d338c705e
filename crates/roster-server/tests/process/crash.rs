//! Killed at any instant (SIGKILL), Roster loses no acknowledged write, invents none, and leaves
//! no gap in its event feed; an interrupted CLI import completes when run again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use roster_testkit::TestDb;
use serde_json::{Value, json};

use crate::node::{Node, TOKEN, command, events, sqlite_integrity, users_by_name};

/// Rounds of write, kill, restart.
const ROUNDS: usize = 4;
/// Concurrent writers in a round.
const WRITERS: usize = 6;
/// Requests a writer sends at most in a round (the kill comes long before).
const MAX_REQUESTS: usize = 5_000;
/// Creates each round has acknowledged before its kill may come.
const MIN_ACKS_PER_ROUND: usize = 30;

/// What the clients were told.
#[derive(Default)]
struct Ledger {
    /// Creates answered 201: username → id.
    acked: BTreeMap<String, String>,
    /// Creates sent and never answered: the process died meanwhile.
    unknown: BTreeSet<String>,
    /// Per user: the last acknowledged value of its attribute `n`, and one sent unanswered.
    updates: BTreeMap<String, (Option<u64>, Option<u64>)>,
    /// Answers with a 5xx status while the process was up (there must be none).
    server_errors: Vec<String>,
    /// Requests answered.
    answered: usize,
}

type Shared = Arc<Mutex<Ledger>>;

fn user_doc(username: &str) -> Value {
    json!({ "username": username, "emails": [{ "value": format!("{username}@example.org") }] })
}

/// One writer: creates, updates its own users and sends bulk creates until the process dies.
async fn writer(node: Arc<Node>, ledger: Shared, round: usize, w: usize) {
    let mut mine: Vec<String> = Vec::new();
    for i in 0..MAX_REQUESTS {
        let outcome = if i % 8 == 7 {
            let names: Vec<String> = (0..10).map(|j| format!("c-{round}-{w}-{i}-{j}")).collect();
            let body = json!({ "users": names.iter().map(|n| user_doc(n)).collect::<Vec<_>>() });
            match node.request(Method::POST, "/v1/users/bulk").json(&body).send().await {
                Ok(r) => {
                    let status = r.status();
                    let page: Value = r.json().await.unwrap_or_default();
                    let mut l = ledger.lock().expect("ledger");
                    l.answered += 1;
                    if status.is_server_error() {
                        l.server_errors.push(format!("bulk: {status} {page}"));
                    }
                    let results = page["results"].as_array().cloned().unwrap_or_default();
                    for (name, result) in names.iter().zip(results) {
                        if result["status"] == 201 {
                            let id = result["id"].as_str().expect("id").to_owned();
                            l.acked.insert(name.clone(), id);
                            mine.push(name.clone());
                        } else if result["status"].as_u64().is_some_and(|s| s >= 500) {
                            l.server_errors.push(format!("bulk item: {result}"));
                        }
                    }
                    Ok(())
                }
                Err(_) => {
                    ledger.lock().expect("ledger").unknown.extend(names);
                    Err(())
                }
            }
        } else if i % 2 == 0 || mine.is_empty() {
            let name = format!("c-{round}-{w}-{i}");
            match node.request(Method::POST, "/v1/users").json(&user_doc(&name)).send().await {
                Ok(r) => {
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or_default();
                    let mut l = ledger.lock().expect("ledger");
                    l.answered += 1;
                    if status == StatusCode::CREATED {
                        l.acked.insert(name.clone(), body["id"].as_str().expect("id").to_owned());
                        mine.push(name);
                    } else if status.is_server_error() {
                        l.server_errors.push(format!("create: {status} {body}"));
                    }
                    Ok(())
                }
                Err(_) => {
                    ledger.lock().expect("ledger").unknown.insert(name);
                    Err(())
                }
            }
        } else {
            // Update one of this writer's users (only this writer writes it).
            let name = mine[i % mine.len()].clone();
            let id = ledger.lock().expect("ledger").acked[&name].clone();
            let value = i as u64;
            let patch = json!({ "attributes": { "n": [value.to_string()] } });
            let sent = node
                .request(Method::PATCH, &format!("/v1/users/{id}"))
                .header("content-type", "application/merge-patch+json")
                .body(patch.to_string())
                .send()
                .await;
            let mut l = ledger.lock().expect("ledger");
            match sent {
                Ok(r) => {
                    l.answered += 1;
                    let status = r.status();
                    if status == StatusCode::OK {
                        l.updates.entry(name).or_default().0 = Some(value);
                    } else if status.is_server_error() {
                        l.server_errors.push(format!("update: {status}"));
                    }
                    Ok(())
                }
                Err(_) => {
                    l.updates.entry(name).or_default().1 = Some(value);
                    Err(())
                }
            }
        };
        if outcome.is_err() {
            return;
        }
    }
}

/// Follows the feed as a consumer does, from `after`, until the process dies; keeps every seq.
async fn follower(node: Arc<Node>, after: Arc<AtomicI64>, seen: Arc<Mutex<Vec<i64>>>) {
    for _ in 0..10_000 {
        let from = after.load(Ordering::SeqCst);
        let path = format!("/v1/events?after={from}&limit=1000&wait=1s");
        let Ok(response) = node.request(Method::GET, &path).send().await else { return };
        let Ok(page) = response.json::<Value>().await else { return };
        let Some(data) = page["data"].as_array() else { return };
        let mut seen = seen.lock().expect("seen");
        seen.extend(data.iter().filter_map(|e| e["seq"].as_i64()));
        if let Some(next) = page["meta"]["next_after"].as_i64() {
            after.store(next, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_and_the_feed_has_no_gap() {
    let db = TestDb::new().await;
    let ledger: Shared = Arc::default();
    let after = Arc::new(AtomicI64::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    for round in 0..ROUNDS {
        let node = Arc::new(Node::start(&db).await);
        let follow = tokio::spawn(follower(node.clone(), after.clone(), seen.clone()));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(node.clone(), ledger.clone(), round, w)))
            .collect();
        // A random instant while the writers are busy: once this round has had some writes
        // acknowledged (however slow the machine is to start the node), up to 600 ms later.
        let acked_before = ledger.lock().expect("ledger").acked.len();
        let busy_by = tokio::time::Instant::now() + Duration::from_secs(30);
        while ledger.lock().expect("ledger").acked.len() < acked_before + MIN_ACKS_PER_ROUND
            && tokio::time::Instant::now() < busy_by
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..600))).await;
        node.kill().await;
        for w in writers {
            w.await.expect("writer");
        }
        follow.await.expect("follower");
        if db.postgres_url().is_none() {
            assert_eq!(sqlite_integrity(&db.data_dir()).await, "ok", "round {round}");
        }
    }

    let node = Node::start(&db).await;
    let ledger = std::mem::take(&mut *ledger.lock().expect("ledger"));
    assert!(ledger.server_errors.is_empty(), "5xx while up: {:?}", ledger.server_errors);
    assert!(
        ledger.acked.len() > 100,
        "the rounds wrote too little to tell: {}",
        ledger.acked.len()
    );

    // Every acknowledged create is there, once, under its id; nothing is there that was not sent.
    let users = users_by_name(&node, TOKEN, "c-").await;
    for (name, id) in &ledger.acked {
        let user = users.get(name).unwrap_or_else(|| panic!("acknowledged {name} lost"));
        assert_eq!(user["id"].as_str(), Some(id.as_str()), "{name}");
    }
    for name in users.keys() {
        assert!(
            ledger.acked.contains_key(name) || ledger.unknown.contains(name),
            "{name} was never sent"
        );
    }
    // Updates: the last acknowledged value, or the one in flight at the kill.
    for (name, (acked, in_flight)) in &ledger.updates {
        let n = users[name]["attributes"]["n"][0].as_str().map(|v| v.parse::<u64>().expect("n"));
        assert!(
            n == *acked || (in_flight.is_some() && n == *in_flight),
            "{name}: {n:?}, acknowledged {acked:?}, in flight {in_flight:?}"
        );
    }

    // One event per committed change, in order: each user's events carry versions 1..=version.
    let all = events(&node, TOKEN).await;
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "the feed is in sequence order");
    let mut versions: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for event in all.iter().filter(|e| e["resource"]["type"] == "user") {
        let id = event["resource"]["id"].as_str().expect("resource id");
        versions
            .entry(id)
            .or_default()
            .push(event["resource"]["version"].as_i64().expect("version"));
    }
    let ids: BTreeMap<&str, &Value> =
        users.values().map(|u| (u["id"].as_str().expect("id"), u)).collect();
    for (id, user) in &ids {
        let expected: Vec<i64> = (1..=user["version"].as_i64().expect("version")).collect();
        assert_eq!(versions.get(id), Some(&expected), "events of {}", user["username"]);
    }
    for id in versions.keys() {
        assert!(ids.contains_key(id), "events of a user that does not exist: {id}");
    }
    // The consumer that followed the feed through every kill missed nothing before its cursor.
    let last = after.load(Ordering::SeqCst);
    let followed: BTreeSet<i64> = seen.lock().expect("seen").iter().copied().collect();
    let before: BTreeSet<i64> = seqs.iter().copied().filter(|s| *s <= last).collect();
    assert_eq!(followed, before, "the follower's view up to seq {last}");

    node.terminate();
    assert!(node.exited(Duration::from_secs(60)).await.success());
    if db.postgres_url().is_none() {
        assert_eq!(sqlite_integrity(&db.data_dir()).await, "ok");
    }
    eprintln!(
        "crash: {ROUNDS} kills, {} requests answered, {} creates acknowledged and found, {} unanswered, {} events",
        ledger.answered,
        ledger.acked.len(),
        ledger.unknown.len(),
        all.len()
    );
}

/// A CLI import killed part-way and run again creates every row once.
#[tokio::test]
async fn an_interrupted_cli_import_completes_when_run_again() {
    const ROWS: usize = 10_000;
    let db = TestDb::new().await;
    let file = db.data_dir().join("people.ndjson");
    let rows: Vec<String> =
        (0..ROWS).map(|i| user_doc(&format!("imp-{i:05}")).to_string()).collect();
    std::fs::write(&file, rows.join("\n")).expect("write the file");
    let path = file.to_str().expect("path");

    let mut first = command(&db, &["users", "import", path]).spawn().expect("import");
    let cut =
        tokio::time::timeout(Duration::from_millis(fastrand::u64(200..1_500)), first.wait()).await;
    if cut.is_err() {
        first.start_kill().expect("kill");
    }
    first.wait().await.expect("reap");

    let again = command(&db, &["users", "import", path]).output().await.expect("import again");
    let summary = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{summary}");

    let export = command(&db, &["users", "export", "--filter", "username sw \"imp-\""])
        .output()
        .await
        .expect("export");
    assert!(export.status.success());
    let mut names = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for line in String::from_utf8_lossy(&export.stdout).lines() {
        let user: Value = serde_json::from_str(line).expect("NDJSON");
        assert!(names.insert(user["username"].as_str().expect("username").to_owned()));
        assert!(ids.insert(user["id"].as_str().expect("id").to_owned()));
    }
    assert_eq!(names.len(), ROWS, "every row once; the second run said: {summary}");
    eprintln!(
        "import: cut {}, then: {}",
        if cut.is_err() { "by SIGKILL" } else { "(finished first)" },
        summary.trim()
    );
}
