//! Several `roster` processes on one PostgreSQL database, as behind a load balancer: started at
//! once on an empty database, written to on every node in several tenants at the same time, and
//! read back from every node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use roster_testkit::TestDb;
use serde_json::{Value, json};

use crate::node::{Node, TOKEN, command};

const SYSTEM_TOKEN: &str = "rst_process_system_0123456789abcdef0123456789ab";
const NODES: usize = 3;
const TENANTS: usize = 4;
/// Rounds of each writer (one a node and tenant): a create, a patch, a deactivation and, every
/// third round, a bulk create of five.
const ROUNDS: usize = 12;

fn request(node: &Node, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    node.http.request(method, format!("{}{path}", node.base)).bearer_auth(token)
}

/// What the writers saw: the usernames acknowledged, per tenant; every 5xx.
#[derive(Default)]
struct Ledger {
    acked: BTreeMap<usize, BTreeSet<String>>,
    server_errors: Vec<String>,
}

/// Sends a write; `Some(body)` when it succeeded, a 5xx recorded.
async fn write(
    ledger: &Mutex<Ledger>,
    builder: reqwest::RequestBuilder,
    what: &str,
) -> Option<Value> {
    let response = builder.send().await.expect("send");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_server_error() {
        ledger.lock().expect("ledger").server_errors.push(format!("{what}: {status} {body}"));
    }
    status.is_success().then_some(body)
}

async fn writer(
    node: Arc<Node>,
    n: usize,
    tenant: usize,
    token: String,
    ledger: Arc<Mutex<Ledger>>,
) {
    for round in 0..ROUNDS {
        let name = format!("t{tenant}-n{n}-r{round}");
        let create =
            request(&node, &token, Method::POST, "/v1/users").json(&json!({ "username": name }));
        let Some(user) = write(&ledger, create, &name).await else { continue };
        ledger.lock().expect("ledger").acked.entry(tenant).or_default().insert(name.clone());
        let id = user["id"].as_str().expect("id");
        let patch = request(&node, &token, Method::PATCH, &format!("/v1/users/{id}"))
            .header("content-type", "application/merge-patch+json")
            .body(json!({ "attributes": { "round": [round.to_string()] } }).to_string());
        write(&ledger, patch, &name).await;
        let deactivate =
            request(&node, &token, Method::POST, &format!("/v1/users/{id}/deactivate"));
        write(&ledger, deactivate, &name).await;
        if round % 3 == 0 {
            let names: Vec<String> = (0..5).map(|i| format!("{name}-b{i}")).collect();
            let users: Vec<Value> = names.iter().map(|u| json!({ "username": u })).collect();
            let bulk = request(&node, &token, Method::POST, "/v1/users/bulk")
                .json(&json!({ "users": users }));
            if let Some(answer) = write(&ledger, bulk, &name).await {
                let results = answer["results"].as_array().expect("results");
                let mut ledger = ledger.lock().expect("ledger");
                for (name, result) in names.iter().zip(results) {
                    if result["status"] == 201 {
                        ledger.acked.entry(tenant).or_default().insert(name.clone());
                    }
                }
            }
        }
    }
}

/// Every event of the token's tenant as `node` reads it, oldest first.
async fn feed(node: &Node, token: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let path = format!("/v1/events?after={after}&limit=1000");
        let response = request(node, token, Method::GET, &path).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.expect("JSON");
        let data = page["data"].as_array().expect("data").clone();
        if data.is_empty() {
            return events;
        }
        after = page["meta"]["next_after"].as_i64().expect("next_after");
        events.extend(data);
    }
}

/// Every user of the token's tenant, by username.
async fn users(node: &Node, token: &str) -> BTreeMap<String, Value> {
    let mut users = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "1000".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let response = request(node, token, Method::GET, "/v1/users")
            .query(&query)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.expect("JSON");
        for user in page["data"].as_array().expect("data") {
            let name = user["username"].as_str().expect("username").to_owned();
            assert!(users.insert(name.clone(), user.clone()).is_none(), "{name} listed twice");
        }
        match page["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return users,
        }
    }
}

#[tokio::test]
async fn three_nodes_write_several_tenants_at_once_and_agree_on_every_feed() {
    let db = TestDb::new().await;
    if db.postgres_url().is_none() {
        // Nodes share a PostgreSQL database; the embedded SQLite file belongs to one node.
        eprintln!("nodes: PostgreSQL only; runs in the suite's PostgreSQL pass");
        return;
    }
    let env = [("ROSTER_SYSTEM_TOKEN", SYSTEM_TOKEN)];
    // Started at once on an empty database: each comes up (one migrates, the others wait).
    let (a, b, c) = tokio::join!(
        Node::start_with(&db, &env),
        Node::start_with(&db, &env),
        Node::start_with(&db, &env)
    );
    let nodes: Vec<Arc<Node>> = [a, b, c].into_iter().map(Arc::new).collect();

    let mut tokens = vec![TOKEN.to_owned()];
    for t in 1..TENANTS {
        let create = request(&nodes[t % NODES], SYSTEM_TOKEN, Method::POST, "/v1/tenants")
            .json(&json!({ "name": format!("tenant-{t}") }));
        let response = create.send().await.expect("send");
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.expect("JSON");
        tokens.push(created["token"].as_str().expect("token").to_owned());
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut writers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for (t, token) in tokens.iter().enumerate() {
            writers.push(tokio::spawn(writer(node.clone(), n, t, token.clone(), ledger.clone())));
        }
    }
    for w in writers {
        w.await.expect("writer");
    }
    let ledger = std::mem::take(&mut *ledger.lock().expect("ledger"));
    assert!(ledger.server_errors.is_empty(), "5xx: {:?}", ledger.server_errors);

    let mut total_events = 0;
    for (t, token) in tokens.iter().enumerate() {
        let acked = ledger.acked.get(&t).cloned().unwrap_or_default();
        assert!(acked.len() >= NODES * ROUNDS, "tenant {t}: {} creates acknowledged", acked.len());
        // Every node reads the same feed: gap-free from 1, in commit order.
        let first = feed(&nodes[0], token).await;
        let seqs: Vec<i64> = first.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "tenant {t}: gap-free");
        for node in &nodes[1..] {
            assert_eq!(feed(node, token).await, first, "tenant {t}: every node reads one feed");
        }
        total_events += first.len();
        // Every acknowledged user is there once; each user's events are its versions, in order.
        let users = users(&nodes[t % NODES], token).await;
        for name in &acked {
            assert!(users.contains_key(name), "tenant {t}: acknowledged {name} lost");
        }
        let mut versions: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for event in first.iter().filter(|e| e["resource"]["type"] == "user") {
            let id = event["resource"]["id"].as_str().expect("id");
            versions
                .entry(id)
                .or_default()
                .push(event["resource"]["version"].as_i64().expect("version"));
        }
        for user in users.values() {
            let expected: Vec<i64> = (1..=user["version"].as_i64().expect("version")).collect();
            let id = user["id"].as_str().expect("id");
            assert_eq!(
                versions.remove(id),
                Some(expected),
                "tenant {t}: events of {}",
                user["username"]
            );
        }
        assert!(versions.is_empty(), "tenant {t}: events of users that do not exist: {versions:?}");
    }
    eprintln!(
        "nodes: {NODES} nodes, {TENANTS} tenants, {} creates acknowledged, {total_events} events, every feed gap-free and equal on every node",
        ledger.acked.values().map(BTreeSet::len).sum::<usize>()
    );
    for node in &nodes {
        node.terminate();
    }
}

/// `roster <args>` over `db`, listening on a free port.
fn serve(db: &TestDb, args: &[&str]) -> tokio::process::Command {
    let mut cmd = command(db, args);
    cmd.env("ROSTER_LISTEN", "127.0.0.1:0");
    cmd
}

/// Runs `sql` on the test database, as an operator (or a newer release) would.
async fn run_sql(db: &TestDb, sql: &str) {
    use sqlx::Connection as _;
    match db.postgres_url() {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("run SQL");
        }
        None => {
            let url = format!("sqlite://{}", db.data_dir().join("roster.db").display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("run SQL");
        }
    }
}

#[tokio::test]
async fn nodes_migrate_in_turn_or_not_at_all_and_refuse_a_newer_schema() {
    let db = TestDb::new().await;
    // Told not to migrate, a node refuses an empty database, naming the step it lacks.
    let refused = Node::spawn(serve(&db, &["serve", "--no-migrate"]))
        .await
        .err()
        .expect("a node that may not migrate refuses an old schema");
    assert!(refused.contains("roster migrate"), "{refused}");
    // `roster migrate` is that step; then the node starts without migrating.
    let status = command(&db, &["migrate"]).status().await.expect("roster migrate");
    assert!(status.success());
    let node = Node::spawn(serve(&db, &["serve", "--no-migrate"]))
        .await
        .unwrap_or_else(|log| panic!("a current schema serves: {log}"));
    node.get_json("/v1/users").await;
    node.terminate();
    assert!(node.exited(std::time::Duration::from_secs(60)).await.success());

    // A schema a newer release left: refused, with or without migrating.
    run_sql(
        &db,
        "insert into _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         values (99999, 'from a newer release', current_timestamp, true, '', 0)",
    )
    .await;
    for args in [&["serve"][..], &["serve", "--no-migrate"]] {
        let log = Node::spawn(serve(&db, args)).await.err().expect("a newer schema is refused");
        assert!(log.contains("newer than this binary knows"), "{args:?}: {log}");
    }
}

#[tokio::test]
async fn a_revocation_and_a_commit_on_one_node_reach_the_others_at_once() {
    use std::time::{Duration, Instant};
    let db = TestDb::new().await;
    if db.postgres_url().is_none() {
        eprintln!("nodes: PostgreSQL only; runs in the suite's PostgreSQL pass");
        return;
    }
    let a = Node::start(&db).await;
    let b = Node::start(&db).await;

    // A token issued on one node and used on the other, which now remembers it.
    let issue = a
        .request(Method::POST, "/v1/tokens")
        .json(&json!({ "name": "ci", "scopes": ["users:read"] }));
    let issued: Value = issue.send().await.expect("send").json().await.expect("JSON");
    let secret = issued["token"].as_str().expect("token").to_owned();
    let use_on_b = || async {
        request(&b, &secret, Method::GET, "/v1/users").send().await.expect("send").status()
    };
    assert_eq!(use_on_b().await, StatusCode::OK);
    let revoke =
        a.request(Method::DELETE, &format!("/v1/tokens/{}", issued["id"].as_str().expect("id")));
    assert_eq!(revoke.send().await.expect("send").status(), StatusCode::NO_CONTENT);
    let revoked = Instant::now();
    // The other node remembers a principal for 10 s; the hint must reach it long before.
    let refused = loop {
        if use_on_b().await == StatusCode::UNAUTHORIZED {
            break revoked.elapsed();
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "a revoked token still works on another node after 5 s"
        );
        tokio::task::yield_now().await;
    };

    // A reader long-polling one node hears of a commit on the other.
    let head = crate::node::events(&b).await.last().map_or(0, |e| e["seq"].as_i64().expect("seq"));
    let reader = {
        let path = format!("{}/v1/events?after={head}&wait=20", b.base);
        let http = b.http.clone();
        tokio::spawn(async move {
            let page: Value = http
                .get(path)
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("JSON");
            (Instant::now(), page)
        })
    };
    // Give the reader its turn to start waiting before the write it waits for.
    tokio::task::yield_now().await;
    let create = a.request(Method::POST, "/v1/users").json(&json!({ "username": "woken" }));
    assert_eq!(create.send().await.expect("send").status(), StatusCode::CREATED);
    let committed = Instant::now();
    let (answered, page) = reader.await.expect("reader");
    assert_eq!(page["data"][0]["type"], "user.created", "{page}");
    eprintln!(
        "nodes: a revocation honoured on another node after {} ms; a long-poll on another node answered {} ms after the commit",
        refused.as_millis(),
        answered.saturating_duration_since(committed).as_millis()
    );
}
