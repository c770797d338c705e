//! Webhook deliveries ignore the proxy variables of the environment (security probe, finding
//! 4): a proxy resolves target names itself, where the private-address guard cannot see, so
//! only `webhooks.proxy` may name one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use roster_testkit::TestDb;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::node::Node;

/// Accepts connections and answers each HTTP request 200, handing its head to the test.
async fn receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // The head, then as many body bytes as it announces.
                loop {
                    let Ok(n) = socket.read(&mut buffer).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                            let _ = socket.write_all(ok).await;
                            let _ = tx.send(head.to_owned());
                            return;
                        }
                    }
                }
            });
        }
    });
    (format!("http://{address}"), rx)
}

#[tokio::test]
async fn r26_4_deliveries_ignore_the_proxy_variables_of_the_environment() {
    let db = TestDb::new().await;
    // The "proxy" counts the connections it gets and never answers.
    let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("address"));
    let proxied = Arc::new(AtomicUsize::new(0));
    let count = proxied.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = proxy.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let (target, mut requests) = receiver().await;
    let p = proxy_url.as_str();
    let node = Node::start_with(
        &db,
        &[
            ("HTTP_PROXY", p),
            ("http_proxy", p),
            ("HTTPS_PROXY", p),
            ("ALL_PROXY", p),
            ("ROSTER_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
        ],
    )
    .await;
    let hook = json!({ "url": format!("{target}/hook"), "event_types": ["user.created"] });
    let response = node.request(Method::POST, "/v1/webhooks").json(&hook).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = node
        .request(Method::POST, "/v1/users")
        .json(&json!({ "username": "ada" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let head = tokio::time::timeout(Duration::from_secs(30), requests.recv())
        .await
        .expect("a delivery within 30 s, straight to the target")
        .expect("receiver open");
    assert!(head.starts_with("POST /hook HTTP/1.1"), "origin-form, not a proxy request: {head}");
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "nothing went to the environment's proxy");
}
