//! Several `roster` processes on one PostgreSQL database, as behind a load balancer: started at
//! once on an empty database, written to on every node in several tenants at the same time, and
//! read back from every node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use roster_testkit::TestDb;
use serde_json::{Value, json};

use crate::node::{Node, TOKEN, command, events, users_by_name};

const SYSTEM_TOKEN: &str = "rst_process_system_0123456789abcdef0123456789ab";
const NODES: usize = 3;
const TENANTS: usize = 4;
/// Rounds of each writer (one a node and tenant): a create, a patch, a deactivation, a patch of
/// the tenant's shared user (which every node's writer patches, so that the nodes' write batches
/// take the same rows) and, every third round, a bulk create of five.
const ROUNDS: usize = 12;

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
    shared: String,
    ledger: Arc<Mutex<Ledger>>,
) {
    for round in 0..ROUNDS {
        let name = format!("t{tenant}-n{n}-r{round}");
        let create =
            node.request_as(&token, Method::POST, "/v1/users").json(&json!({ "username": name }));
        let Some(user) = write(&ledger, create, &name).await else { continue };
        ledger.lock().expect("ledger").acked.entry(tenant).or_default().insert(name.clone());
        let id = user["id"].as_str().expect("id");
        let patch = node
            .request_as(&token, Method::PATCH, &format!("/v1/users/{id}"))
            .header("content-type", "application/merge-patch+json")
            .body(json!({ "attributes": { "round": [round.to_string()] } }).to_string());
        write(&ledger, patch, &name).await;
        let deactivate =
            node.request_as(&token, Method::POST, &format!("/v1/users/{id}/deactivate"));
        write(&ledger, deactivate, &name).await;
        let patch = node
            .request_as(&token, Method::PATCH, &format!("/v1/users/{shared}"))
            .header("content-type", "application/merge-patch+json")
            .body(json!({ "attributes": { format!("n{n}"): [round.to_string()] } }).to_string());
        write(&ledger, patch, &format!("shared by {name}")).await;
        if round % 3 == 0 {
            let names: Vec<String> = (0..5).map(|i| format!("{name}-b{i}")).collect();
            let users: Vec<Value> = names.iter().map(|u| json!({ "username": u })).collect();
            let bulk = node
                .request_as(&token, Method::POST, "/v1/users/bulk")
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

/// Sends a create, which must answer 201; what it created.
async fn created(builder: reqwest::RequestBuilder) -> Value {
    let response = builder.send().await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("JSON")
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
        let tenant = created(
            nodes[t % NODES]
                .request_as(SYSTEM_TOKEN, Method::POST, "/v1/tenants")
                .json(&json!({ "name": format!("tenant-{t}") })),
        )
        .await;
        tokens.push(tenant["token"].as_str().expect("token").to_owned());
    }

    let mut shared = Vec::new();
    for (t, token) in tokens.iter().enumerate() {
        let user = created(
            nodes[0]
                .request_as(token, Method::POST, "/v1/users")
                .json(&json!({ "username": format!("t{t}-shared") })),
        )
        .await;
        shared.push(user["id"].as_str().expect("id").to_owned());
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut writers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for (t, token) in tokens.iter().enumerate() {
            let (token, shared) = (token.clone(), shared[t].clone());
            writers.push(tokio::spawn(writer(node.clone(), n, t, token, shared, ledger.clone())));
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
        let first = events(&nodes[0], token).await;
        let seqs: Vec<i64> = first.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "tenant {t}: gap-free");
        for node in &nodes[1..] {
            assert_eq!(events(node, token).await, first, "tenant {t}: every node reads one feed");
        }
        total_events += first.len();
        // Every acknowledged user is there once; each user's events are its versions, in order.
        let users = users_by_name(&nodes[t % NODES], token, "t").await;
        for name in &acked {
            assert!(users.contains_key(name), "tenant {t}: acknowledged {name} lost");
        }
        // Every node's patches of the shared user landed, none lost to another's.
        let together = &users[&format!("t{t}-shared")];
        assert_eq!(together["version"], json!(1 + NODES * ROUNDS), "tenant {t}: shared user");
        for n in 0..NODES {
            assert_eq!(together["attributes"][format!("n{n}")], json!([(ROUNDS - 1).to_string()]));
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
/// Patchers on each node of the contention test, and the patches each sends.
const PATCHERS: usize = 16;
const PATCHES: usize = 10;
/// The users they all patch.
const HOT_USERS: usize = 4;

#[tokio::test]
async fn nodes_patching_the_same_users_at_once_lose_nothing_and_never_deadlock() {
    let db = TestDb::new().await;
    if db.postgres_url().is_none() {
        eprintln!("nodes: PostgreSQL only; runs in the suite's PostgreSQL pass");
        return;
    }
    let (a, b, c) = tokio::join!(Node::start(&db), Node::start(&db), Node::start(&db));
    let nodes: Vec<Arc<Node>> = [a, b, c].into_iter().map(Arc::new).collect();
    let mut hot = Vec::new();
    for u in 0..HOT_USERS {
        let create = nodes[0].request(Method::POST, "/v1/users");
        let user = created(create.json(&json!({ "username": format!("hot-{u}") }))).await;
        hot.push(user["id"].as_str().expect("id").to_owned());
    }
    // Each patcher walks the hot users from its own start, so that every node's write batches
    // hold the same user rows in every order.
    let mut patchers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for p in 0..PATCHERS {
            let (node, hot) = (node.clone(), hot.clone());
            patchers.push(tokio::spawn(async move {
                let mut failures = Vec::new();
                for i in 0..PATCHES {
                    let id = &hot[(p + n + i) % HOT_USERS];
                    let patch = node
                        .request(Method::PATCH, &format!("/v1/users/{id}"))
                        .header("content-type", "application/merge-patch+json")
                        .body(
                            json!({ "attributes": { format!("n{n}p{p}"): [i.to_string()] } })
                                .to_string(),
                        );
                    let response = patch.send().await.expect("send");
                    if response.status() != StatusCode::OK {
                        failures.push(format!(
                            "{}: {}",
                            response.status(),
                            response.text().await.unwrap_or_default()
                        ));
                    }
                }
                failures
            }));
        }
    }
    let mut failures = Vec::new();
    for patcher in patchers {
        failures.extend(patcher.await.expect("patcher"));
    }
    let warnings: Vec<String> = nodes
        .iter()
        .flat_map(|n| {
            n.log().lines().filter(|l| l.contains("WARN")).map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    assert!(failures.is_empty(), "patches refused: {failures:?}\nwarnings: {warnings:#?}");
    // Every patch landed on its user: the versions add up.
    let users = users_by_name(&nodes[0], TOKEN, "hot-").await;
    let versions: i64 = users.values().map(|u| u["version"].as_i64().expect("version")).sum();
    assert_eq!(versions as usize, HOT_USERS + NODES * PATCHERS * PATCHES);
    // The writers took the rows in one order: no batch was rolled back by a deadlock.
    for node in &nodes {
        node.terminate();
        assert!(node.exited(std::time::Duration::from_secs(30)).await.success());
        let log = node.log();
        assert!(
            !log.contains("rolled back by the database"),
            "a write batch was rolled back: {log}"
        );
    }
}

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
        b.request_as(&secret, Method::GET, "/v1/users").send().await.expect("send").status()
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
    let head = events(&b, TOKEN).await.last().map_or(0, |e| e["seq"].as_i64().expect("seq"));
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
