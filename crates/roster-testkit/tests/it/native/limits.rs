//! Abuse limits: writes and password verifications beyond the configured rate get a 429 with
//! `Retry-After`, per token and per client address; reads are not limited.

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
