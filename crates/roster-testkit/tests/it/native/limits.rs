//! Abuse limits: writes and password verifications beyond the configured rate get a 429 with
//! `Retry-After`, per token and per client address (behind trusted proxies, the address they
//! forward); reads are not limited.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use roster_http::RateLimits;
use roster_testkit::{TestApp, expect_status};
use serde_json::json;

#[tokio::test]
async fn writes_and_verifications_past_their_rate_are_told_when_to_retry() {
    let limits = RateLimits { writes_per_second: 1, verifications_per_second: 1 };
    let app = TestApp::spawn_with(|c| c.rate_limits = limits).await;
    // Ten creates at once against a bucket of one a second: one gets through.
    let creates =
        (0..10).map(|i| app.post("/v1/users").json(&json!({ "username": format!("r{i}") })).send());
    let responses: Vec<_> = join_all(creates).await.into_iter().map(Result::unwrap).collect();
    let limited: Vec<_> =
        responses.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!(limited.len() >= 8, "{} of 10 limited", limited.len());
    let retry: u64 = limited[0].headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let problem = expect_status(
        responses.into_iter().find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert_eq!(problem["type"], "urn:roster:problem:rate-limited");
    let count =
        expect_status(app.get("/v1/users/count").send().await.unwrap(), StatusCode::OK).await;
    assert!(
        count["total_count"].as_u64().unwrap() <= 2,
        "a limited request writes nothing: {count}"
    );

    // Reads are not limited.
    for _ in 0..20 {
        expect_status(app.get("/v1/users").send().await.unwrap(), StatusCode::OK).await;
    }
    // Another token from the same address meets the address's bucket.
    let other = app
        .request_as(&app.decoy_token, Method::POST, "/v1/users")
        .json(&json!({ "username": "d2" }));
    let others = join_all((0..3).map(|_| other.try_clone().unwrap().send())).await;
    assert!(others.into_iter().any(|r| r.unwrap().status() == StatusCode::TOO_MANY_REQUESTS));

    // Verifications have a bucket of their own (a verification is also a write: another app).
    let limits = RateLimits { writes_per_second: 10_000, verifications_per_second: 1 };
    let app = TestApp::spawn_with(|c| c.rate_limits = limits).await;
    let id = uuid::Uuid::new_v4();
    let verify = (0..10).map(|_| {
        app.post(&format!("/v1/users/{id}/password/verify"))
            .json(&json!({ "password": "whatever it is" }))
            .send()
    });
    let statuses: Vec<StatusCode> =
        join_all(verify).await.into_iter().map(|r| r.unwrap().status()).collect();
    assert!(
        statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count() >= 8,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS || *s == StatusCode::UNAUTHORIZED)
    );
}

/// The statuses of five writes without a token, sent at once, each forwarded for `client(i)`.
async fn forwarded_writes(app: &TestApp, client: impl Fn(usize) -> String) -> Vec<StatusCode> {
    let writes = (0..5).map(|i| {
        let request = app.http.post(app.url("/v1/users")).header("x-forwarded-for", client(i));
        request.json(&json!({})).send()
    });
    join_all(writes).await.into_iter().map(|r| r.unwrap().status()).collect()
}

fn limited(statuses: &[StatusCode]) -> usize {
    statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited_and_audited() {
    let limits = RateLimits { writes_per_second: 1, verifications_per_second: 1 };
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = limits;
        c.trusted_proxies = vec!["127.0.0.1".to_owned(), "10.0.0.0/8".to_owned()];
    })
    .await;
    // Without a token only the client's address is limited: five forwarded clients have a bucket
    // each; one client (behind a second trusted proxy) has one.
    let each = forwarded_writes(&app, |i| format!("203.0.113.{}", i + 1)).await;
    assert_eq!(each, [StatusCode::UNAUTHORIZED; 5]);
    let one = forwarded_writes(&app, |_| "198.51.100.9, 203.0.113.77, 10.0.0.3".to_owned()).await;
    assert!(limited(&one) >= 4, "{one:?}");

    let forwarded =
        app.get("/v1/users").header("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#);
    expect_status(forwarded.send().await.unwrap(), StatusCode::OK).await;
    let trail = app.get("/v1/audit?limit=100").send().await.unwrap();
    let trail = expect_status(trail, StatusCode::OK).await;
    let entries = trail["data"].as_array().unwrap();
    let read = entries.iter().rev().find(|e| e["operation"] == "GET /v1/users").unwrap();
    assert_eq!(read["client_ip"], "2001:db8::7");
    let refused =
        app.request_as(&app.system_token, Method::GET, "/v1/audit/unauthenticated?limit=100");
    let refused = expect_status(refused.send().await.unwrap(), StatusCode::OK).await;
    let clients: Vec<&str> = refused["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["client_ip"].as_str().unwrap())
        .collect();
    assert!(clients.contains(&"203.0.113.77"), "the right-most untrusted hop: {clients:?}");
    assert!(clients.contains(&"203.0.113.5") && !clients.contains(&"10.0.0.3"), "{clients:?}");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let limits = RateLimits { writes_per_second: 1, verifications_per_second: 1 };
    let app = TestApp::spawn_with(|c| c.rate_limits = limits).await;
    // Five claimed addresses are one peer: one bucket.
    let claimed = forwarded_writes(&app, |i| format!("203.0.113.{}", i + 1)).await;
    assert!(limited(&claimed) >= 4, "{claimed:?}");
    let spoofed = app.get("/v1/users").header("x-forwarded-for", "192.0.2.1");
    expect_status(spoofed.send().await.unwrap(), StatusCode::OK).await;
    let trail = app.get("/v1/audit?limit=100").send().await.unwrap();
    let trail = expect_status(trail, StatusCode::OK).await;
    let entries = trail["data"].as_array().unwrap();
    let read = entries.iter().rev().find(|e| e["operation"] == "GET /v1/users").unwrap();
    assert_eq!(read["client_ip"], "127.0.0.1");
}
