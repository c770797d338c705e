//! Far more concurrent requests than the node serves at once: the excess is shed at once with
//! 503 and `Retry-After` instead of queueing, health checks answer meanwhile, and memory stays
//! bounded.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use roster_testkit::TestDb;

use crate::node::Node;

/// Concurrent clients.
const CLIENTS: usize = 2_000;
/// Requests the node serves at once.
const CAP: usize = 64;
/// The resident memory the node must stay under meanwhile.
const RSS_CAP_MIB: u64 = 256;

fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_clients_are_shed_not_queued_and_memory_stays_bounded() {
    let db = TestDb::new().await;
    let cap = CAP.to_string();
    let node = Node::start_with(&db, &[("ROSTER_MAX_CONCURRENT_REQUESTS", &cap)]).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    // Long-polls that find nothing hold their slot for their whole wait.
    let after = node.get_json("/v1/events?limit=1000").await["meta"]["next_after"]
        .as_i64()
        .expect("next_after");
    let url = format!("{}/v1/events?after={after}&wait=10s", node.base);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let request = http.get(&url).bearer_auth(crate::node::TOKEN);
            tokio::spawn(async move {
                let response = request.send().await.expect("an answer");
                let retry_after = response.headers().get("retry-after").is_some();
                (response.status(), retry_after)
            })
        })
        .collect();

    // While the slots are held: health checks answer, and memory is sampled.
    let mut peak = 0;
    let mut health = Vec::new();
    for _ in 0..20 {
        peak = peak.max(rss_mib(node.pid()));
        let status = node.request(Method::GET, "/healthz").send().await.expect("healthz").status();
        health.push(status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut served = 0;
    let mut shed = 0;
    for client in clients {
        match client.await.expect("client") {
            (StatusCode::OK, _) => served += 1,
            (StatusCode::SERVICE_UNAVAILABLE, true) => shed += 1,
            other => panic!("neither served nor shed with Retry-After: {other:?}"),
        }
        peak = peak.max(rss_mib(node.pid()));
    }
    assert!(health.iter().all(|s| *s == StatusCode::OK), "health checks: {health:?}");
    assert!(shed >= CLIENTS / 2, "{shed} of {CLIENTS} shed");
    assert!(served >= 1, "some were served");
    assert!(peak < RSS_CAP_MIB, "RSS peaked at {peak} MiB");
    // The slots are free again.
    let status =
        node.request(Method::GET, "/v1/users?limit=1").send().await.expect("send").status();
    assert_eq!(status, StatusCode::OK);
    eprintln!(
        "overload: {CLIENTS} clients, cap {CAP}: {served} served, {shed} shed with Retry-After, RSS peak {peak} MiB"
    );
    node.kill().await;
}
