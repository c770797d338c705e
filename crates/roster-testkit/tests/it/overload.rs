//! Overload: past `max_concurrent_requests` the API sheds load at once with 503 and
//! `Retry-After`, health checks keep answering, and capacity comes back as requests finish.

use reqwest::StatusCode;
use roster_core::Principal;
use roster_testkit::{TestApp, expect_status, user};
use serde_json::Value;

#[tokio::test]
async fn past_the_cap_requests_are_shed_and_health_checks_answer() {
    let app = TestApp::spawn_with(|config| config.max_concurrent_requests = 2).await;
    let feed = expect_status(app.get("/v1/events").send().await.unwrap(), StatusCode::OK).await;
    let after = feed["meta"]["next_after"].as_i64().unwrap();
    // Two long-polls hold both places until an event arrives (one shed while the probes below
    // hold a place tries again, a bounded number of times).
    let polls: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, token) = (
                app.http.clone(),
                app.url(&format!("/v1/events?after={after}&wait=30s")),
                app.token.clone(),
            );
            tokio::spawn(async move {
                for _ in 0..500 {
                    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
                    if response.status() != StatusCode::SERVICE_UNAVAILABLE {
                        return response.json::<Value>().await.unwrap();
                    }
                }
                panic!("the long-poll never got a place");
            })
        })
        .collect();
    // Once both are in flight, the next request is refused at once (bounded: every attempt
    // before that is an ordinary answer, or shed while a long-poll was taking its place).
    let mut shed = None;
    for _ in 0..500 {
        let response = app.get("/v1/users").send().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE
            && polls.iter().all(|p| !p.is_finished())
        {
            shed = Some(response);
            break;
        }
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

    // An event (written past the HTTP layer) ends both long-polls; the places come back.
    let tenant = app.directory.tenant("default").await.unwrap();
    let input = roster_core::input::parse_document(user("wakes")).unwrap();
    app.directory.create_user(&Principal::system(&tenant), input, None).await.unwrap();
    for poll in polls {
        let page = poll.await.unwrap();
        assert_eq!(page["data"][0]["type"], "user.created", "{page}");
    }
    expect_status(app.get("/v1/users").send().await.unwrap(), StatusCode::OK).await;
}
