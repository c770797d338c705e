//! Every surface answers every refusal in its own shape — the shared layers' (429, 503, 431,
//! 404) as much as the shared extractors' (401, 403, 415, a malformed body) — with the same
//! status and, where there is one, `Retry-After`.

use reqwest::{Method, RequestBuilder, StatusCode};
use roster_http::RateLimits;
use roster_testkit::TestApp;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

/// The shape of an error body, by the surface that owns the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Problem,
    Scim,
    Connect,
    Gateway,
    Upvest,
    Transmit,
    Mattr,
}

/// One route of each surface, each sent a JSON body.
pub(crate) const SURFACES: [(Shape, &str); 7] = [
    (Shape::Problem, "/v1/users"),
    (Shape::Scim, "/scim/v2/Users"),
    (Shape::Connect, "/compat/zitadel/zitadel.user.v2.UserService/AddHumanUser"),
    (Shape::Gateway, "/compat/zitadel/v2/users/human"),
    (Shape::Upvest, "/compat/upvest/users"),
    (Shape::Transmit, "/compat/transmit/v1/users"),
    (Shape::Mattr, "/compat/mattr/v1/users"),
];

/// Asserts `response` has `status` and a body in `shape`; returns the body.
pub(crate) async fn refused(
    response: reqwest::Response,
    status: StatusCode,
    shape: Shape,
) -> Value {
    let (actual, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{shape:?}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"));
    let media = headers["content-type"].to_str().unwrap();
    match shape {
        Shape::Problem => {
            assert_eq!(media, "application/problem+json");
            assert!(body["type"].as_str().unwrap().starts_with("urn:roster:problem:"), "{body}");
        }
        Shape::Scim => {
            assert_eq!(media, "application/scim+json");
            assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
            assert_eq!(body["status"], status.as_u16().to_string(), "{body}");
        }
        Shape::Connect => {
            assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
        }
        Shape::Gateway => {
            assert!(body["code"].is_u64() && body["details"].is_array(), "{body}");
        }
        Shape::Transmit => {
            assert_eq!(body["error_code"], status.as_u16(), "{body}");
            assert!(body["message"].is_string() || body["message"].is_array(), "{body}");
        }
        Shape::Mattr => {
            let reason = status.canonical_reason().unwrap().replace([' ', '-'], "");
            assert_eq!(body["code"], reason, "{body}");
            assert!(body["message"].is_string(), "{body}");
        }
        Shape::Upvest => {
            assert_eq!(media, "application/problem+json");
            let slug =
                body["type"].as_str().unwrap().strip_prefix("https://docs.upvest.co/errors/");
            assert!(slug.is_some(), "{body}");
            assert_eq!(body["request_id"], headers["upvest-request-id"].to_str().unwrap());
        }
    }
    if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
        assert!(headers.contains_key("retry-after"), "{shape:?}: Retry-After");
    }
    body
}

fn post(app: &TestApp, token: &str, path: &str) -> RequestBuilder {
    app.request_as(token, Method::POST, path).header("content-type", "application/json")
}

#[tokio::test]
async fn the_shared_extractors_refuse_in_each_surfaces_shape() {
    let app = TestApp::spawn().await;
    let reader = {
        let body = json!({ "name": "r", "scopes": ["users:read"] });
        let issued = app.post("/v1/tokens").json(&body).send().await.unwrap();
        issued.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    };
    for (shape, path) in SURFACES {
        let unknown = post(&app, "rst_not_a_token", path).body("{}").send().await.unwrap();
        refused(unknown, StatusCode::UNAUTHORIZED, shape).await;
        let read_only = post(&app, &reader, path).body("{}").send().await.unwrap();
        refused(read_only, StatusCode::FORBIDDEN, shape).await;
        let malformed = post(&app, &app.token, path).body("{\"username\":").send().await.unwrap();
        let body = refused(malformed, StatusCode::BAD_REQUEST, shape).await;
        assert!(body.to_string().contains("not valid JSON"), "{shape:?}: {body}");
        if matches!(shape, Shape::Problem | Shape::Scim | Shape::Transmit | Shape::Mattr) {
            // ZITADEL's gateway, like ZITADEL, reads any body as JSON; the investment platform
            // answers another media type with a 400 (its own test checks that).
            let text = app.request(Method::POST, path).header("content-type", "text/plain");
            let response = text.body("{}").send().await.unwrap();
            refused(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, shape).await;
        }
    }
    let scim = post(&app, &app.token, "/scim/v2/Users").body("{\"a\":1,\"a\":2}").send().await;
    let body = refused(scim.unwrap(), StatusCode::BAD_REQUEST, Shape::Scim).await;
    assert_eq!(body["scimType"], "invalidSyntax", "a malformed body is SCIM's invalidSyntax");
}

#[tokio::test]
async fn the_shared_layers_refuse_in_each_surfaces_shape() {
    let limits = RateLimits { writes_per_second: 1, verifications_per_second: 1 };
    let app = TestApp::spawn_with(|c| c.rate_limits = limits).await;
    for (shape, path) in SURFACES {
        let big = post(&app, &app.token, path).header("x-big", "a".repeat(20_000));
        let response = big.body("{}").send().await.unwrap();
        refused(response, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, shape).await;
        // A bucket of one write a second: of three at once, at least one is refused.
        let writes = (0..3).map(|_| post(&app, &app.token, path).body("{}").send());
        let answers = futures::future::join_all(writes).await;
        let limited = answers
            .into_iter()
            .map(Result::unwrap)
            .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
            .unwrap_or_else(|| panic!("{shape:?}: none of three writes was limited"));
        refused(limited, StatusCode::TOO_MANY_REQUESTS, shape).await;
    }
}

#[tokio::test]
async fn load_shedding_answers_in_each_surfaces_shape() {
    let app = TestApp::spawn_with(|c| c.max_concurrent_requests = 1).await;
    // A create whose body never arrives holds the one place.
    let address = app.base.trim_start_matches("http://");
    let mut held = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/users HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n",
        app.token
    );
    held.write_all(head.as_bytes()).await.unwrap();
    for (shape, path) in SURFACES {
        let mut shed = None;
        for _ in 0..500 {
            let response = post(&app, &app.token, path).body("{}").send().await.unwrap();
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                shed = Some(response);
                break;
            }
            tokio::task::yield_now().await;
        }
        let shed = shed.unwrap_or_else(|| panic!("{shape:?}: never shed"));
        refused(shed, StatusCode::SERVICE_UNAVAILABLE, shape).await;
    }
    drop(held);
}
