//! Far more concurrent requests than the node serves at once: the excess is shed at once with
//! 503 and `Retry-After` instead of queueing, health checks answer meanwhile, and memory stays
//! bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use roster_testkit::TestDb;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::node::Node;

/// Concurrent clients.
const CLIENTS: usize = 2_000;
/// Requests the node serves at once.
const CAP: usize = 64;
/// The resident memory the node must stay under meanwhile.
const RSS_CAP_MIB: u64 = 256;
/// The longest the slots are held while the node answers the rest (a loaded machine is slow
/// to accept two thousand connections; the node itself answers each at once).
const HOLD_AT_MOST: Duration = Duration::from_secs(30);

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

/// One client: a create whose body is held back; the status it got at once and whether it
/// carried `Retry-After`, or `None` when it got no answer before `released` (it held a place,
/// or waited to be accepted): it then closes, which ends the request on the node. A shed
/// request is answered before its body is read. (Sending the body after the release would race
/// answers already on their way: a node that closes a connection with unread bytes resets it,
/// and the reset can discard the answer.)
async fn stalled_create(
    address: String,
    i: usize,
    mut released: tokio::sync::watch::Receiver<bool>,
    answered: Arc<AtomicUsize>,
) -> Option<(StatusCode, bool)> {
    let body = format!("{{\"username\":\"o{i:05}\"}}");
    let head = format!(
        "POST /v1/users HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        crate::node::TOKEN,
        body.len()
    );
    let socket = TcpStream::connect(&address).await.expect("connect");
    let (mut read, mut write) = socket.into_split();
    // The head alone: a body byte the node never reads would make it reset, not close, the
    // connection it sheds.
    write.write_all(head.as_bytes()).await.expect("head");
    let mut answer = Vec::new();
    tokio::select! {
        biased;
        r = read.read_to_end(&mut answer) => { if let Err(e) = r { panic!("read: {e}"); } }
        _ = async { released.wait_for(|r| *r).await.is_ok() } => return None,
    }
    answered.fetch_add(1, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    Some((status, text.contains("\r\nretry-after:")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_clients_are_shed_not_queued_and_memory_stays_bounded() {
    let db = TestDb::new().await;
    let cap = CAP.to_string();
    let node = Node::start_with(&db, &[("ROSTER_MAX_CONCURRENT_REQUESTS", &cap)]).await;
    // Creates whose bodies are held back hold their slot until released.
    let address = node.base.trim_start_matches("http://").to_owned();
    let (release, released) = tokio::sync::watch::channel(false);
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let client = stalled_create(address.clone(), i, released.clone(), answered.clone());
            tokio::spawn(client)
        })
        .collect();

    // While the slots are held, until every client beyond them has its answer (or time is up):
    // health checks answer, and memory is sampled.
    let (mut peak, mut health, started) = (0, Vec::new(), Instant::now());
    loop {
        peak = peak.max(rss_mib(node.pid()));
        let status = node.request(Method::GET, "/healthz").send().await.expect("healthz").status();
        health.push(status);
        if answered.load(Ordering::Relaxed) >= CLIENTS - CAP || started.elapsed() > HOLD_AT_MOST {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    release.send_replace(true);
    let (mut held, mut shed) = (0, 0);
    for client in clients {
        match client.await.expect("client") {
            Some((StatusCode::SERVICE_UNAVAILABLE, true)) => shed += 1,
            None => held += 1,
            other => panic!("neither served nor shed with Retry-After: {other:?}"),
        }
        peak = peak.max(rss_mib(node.pid()));
    }
    assert!(health.iter().all(|s| *s == StatusCode::OK), "health checks: {health:?}");
    assert!(shed >= CLIENTS / 2, "{shed} of {CLIENTS} shed");
    assert!(held >= 1, "some held a place until released");
    assert!(peak < RSS_CAP_MIB, "RSS peaked at {peak} MiB");
    // The slots are free again.
    let status =
        node.request(Method::GET, "/v1/users?limit=1").send().await.expect("send").status();
    assert_eq!(status, StatusCode::OK);
    eprintln!(
        "overload: {CLIENTS} clients, cap {CAP}: {held} held until released, {shed} shed with Retry-After, RSS peak {peak} MiB"
    );
    node.kill().await;
}
