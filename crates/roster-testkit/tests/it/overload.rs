//! Overload: past `max_concurrent_requests` the API sheds load at once with 503 and
//! `Retry-After`, health checks keep answering, and capacity comes back as requests finish.

use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

/// A create whose body never finishes arriving: it holds its place under the cap for as long
/// as the connection is kept.
async fn stalled_create(app: &TestApp) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/users HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{",
        app.token
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
}

#[tokio::test]
async fn past_the_cap_requests_are_shed_and_health_checks_answer() {
    let app = TestApp::spawn_with(|config| config.max_concurrent_requests = 2).await;
    // Two requests in flight hold both places.
    let held = [stalled_create(&app).await, stalled_create(&app).await];
    // Once both have their place, the next request is refused at once (bounded: every attempt
    // before that is an ordinary answer).
    let mut shed = None;
    for _ in 0..500 {
        let response = app.get("/v1/users").send().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            shed = Some(response);
            break;
        }
        tokio::task::yield_now().await;
    }
    let shed = shed.expect("a request past the cap is shed");
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["type"], "urn:roster:problem:overloaded");
    let scim = app.get("/scim/v2/Users").send().await.unwrap();
    assert_eq!(scim.status(), StatusCode::SERVICE_UNAVAILABLE, "one cap for every surface");
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            app.http.get(app.url(path)).send().await.unwrap().status(),
            StatusCode::OK,
            "{path}"
        );
    }

    // The stalled requests end with their connections; the places come back.
    drop(held);
    for _ in 0..500 {
        let response = app.get("/v1/users").send().await.unwrap();
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            expect_status(response, StatusCode::OK).await;
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("capacity never came back");
}
