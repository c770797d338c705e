//! `/v1/webhooks`: events pushed, signed, to a real local receiver; retries with backoff until
//! the retry window closes; redelivery; test pings; one node per delivery; SSRF refusals.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as Status};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, eventually, expect_status, user};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

/// A request the receiver got.
pub(crate) struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
}

/// An HTTP endpoint on 127.0.0.1:0 that answers with the scripted statuses (then 200) and
/// hands every request to the test. A scripted 0 never answers.
pub(crate) struct Receiver {
    pub(crate) url: String,
    requests: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    pub(crate) async fn start(script: &[u16]) -> Receiver {
        let (tx, requests) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(script.to_vec()));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (tx, script) = (tx.clone(), script.clone());
                async move {
                    let _ = tx.send(Received { headers, body: body.to_vec() });
                    let code = {
                        let mut script = script.lock().unwrap();
                        if script.is_empty() { 200 } else { script.remove(0) }
                    };
                    if code == 0 {
                        std::future::pending::<()>().await;
                    }
                    Status::from_u16(code).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, requests }
    }

    /// The next request; fails the test after 10 s without one.
    pub(crate) async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.requests.recv())
            .await
            .expect("a delivery within 10 s")
            .expect("receiver open")
    }
}

async fn private_app() -> TestApp {
    TestApp::spawn_with(|config| config.webhooks.allow_private_targets = true).await
}

async fn register(app: &TestApp, url: &str, types: Value) -> Value {
    let body = json!({ "url": url, "event_types": types });
    expect_status(app.post("/v1/webhooks").json(&body).send().await.unwrap(), StatusCode::CREATED)
        .await
}

/// Checks `Roster-Signature` independently of Roster's code: HMAC-SHA256 over "t.body".
fn assert_signed(received: &Received, secret: &str) {
    let signature = received.header("roster-signature");
    let (t, v1) = signature.split_once(",v1=").expect("t=…,v1=…");
    let t = t.strip_prefix("t=").unwrap();
    assert!(t.parse::<i64>().is_ok(), "{signature}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&received.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v1, expected, "the signature verifies with the secret");
}

/// The outcome of attempt `n` is recorded: failed for good, or due again after `now`.
fn recorded(n: i64, now: time::OffsetDateTime) -> impl Fn(&[Value]) -> bool {
    move |l: &[Value]| {
        l[0]["attempts"] == n && (l[0]["status"] != "pending" || at(&l[0], "next_attempt_at") > now)
    }
}

fn at(d: &Value, field: &str) -> time::OffsetDateTime {
    let text = d[field].as_str().unwrap();
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

async fn deliveries(app: &TestApp, webhook: &Value) -> Vec<Value> {
    let path = format!("/v1/webhooks/{}/deliveries", webhook["id"].as_str().unwrap());
    let page = expect_status(app.get(&path).send().await.unwrap(), StatusCode::OK).await;
    page["data"].as_array().unwrap().clone()
}

/// The deliveries once `done` holds for them; the worker records an outcome just after the
/// receiver answered, so this looks again, a bounded number of times.
async fn deliveries_when(
    app: &TestApp,
    webhook: &Value,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    eventually("the deliveries' expected state", || async {
        let list = deliveries(app, webhook).await;
        done(&list).then_some(list)
    })
    .await
}

#[tokio::test]
async fn events_are_pushed_signed_with_their_id_and_only_the_types_asked_for() {
    let app = private_app().await;
    let mut receiver = Receiver::start(&[]).await;
    let hook = register(&app, &receiver.url, json!(["user.created"])).await;
    let secret = hook["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{hook}");
    assert_eq!((&hook["enabled"], &hook["event_types"]), (&json!(true), &json!(["user.created"])));
    let listed = app.get("/v1/webhooks").send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains(secret), "the secret is shown once");

    let ada = app.create_user(user("ada")).await;
    let first = receiver.next().await;
    assert_signed(&first, secret);
    let event = first.json();
    assert_eq!((&event["type"], &event["resource"]["id"]), (&json!("user.created"), &ada["id"]));
    assert_eq!(first.header("roster-event-id"), event["id"].as_str().unwrap());
    assert_eq!(first.header("content-type"), "application/json");

    // An update is not asked for: the next request is the next create.
    let patch = app.patch(&format!("/v1/users/{}", ada["id"].as_str().unwrap()));
    let patch =
        patch.header("content-type", "application/merge-patch+json").body(r#"{"locale":"en"}"#);
    expect_status(patch.send().await.unwrap(), StatusCode::OK).await;
    let bob = app.create_user(user("bob")).await;
    assert_eq!(receiver.next().await.json()["resource"]["id"], bob["id"]);

    let list = deliveries_when(&app, &hook, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(list[0]["event_seq"], 3, "newest first; the update (seq 2) was not delivered");
    assert_eq!((&list[1]["attempts"], &list[1]["last_status_code"]), (&json!(1), &json!(200)));

    // Disabled: nothing is queued for it.
    let path = format!("/v1/webhooks/{}", hook["id"].as_str().unwrap());
    let off = app.patch(&path).json(&json!({ "enabled": false })).send().await.unwrap();
    assert_eq!(expect_status(off, StatusCode::OK).await["enabled"], false);
    app.create_user(user("cy")).await;
    assert_eq!(deliveries(&app, &hook).await.len(), 2);
}

#[tokio::test]
async fn failures_are_retried_with_backoff_and_fail_when_the_window_closes() {
    let app = TestApp::spawn_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.webhooks.retry_hours = 1;
    })
    .await;
    let mut receiver = Receiver::start(&[500, 503]).await;
    let hook = register(&app, &receiver.url, json!(["user.*"])).await;
    app.create_user(user("ada")).await;

    let now = || app.directory.now();
    let first = receiver.next().await.json();
    let list = deliveries_when(&app, &hook, recorded(1, now())).await;
    assert_eq!(
        (&list[0]["status"], &list[0]["last_status_code"], &list[0]["last_error"]),
        (&json!("pending"), &json!(500), &json!("answered 500 Internal Server Error"))
    );
    // 10 s plus up to a fifth of jitter (none, 1 time in 256), from the attempt; the test clock
    // has ticked a microsecond per reading since.
    let wait = at(&list[0], "next_attempt_at") - now();
    assert!((9.9..=12.0).contains(&wait.as_seconds_f64()), "the first retry after 10–12 s: {wait}");

    // Due once the clock passes the retry time.
    app.clock.advance(time::Duration::seconds(13));
    let second = receiver.next().await.json();
    assert_eq!(second["id"], first["id"], "the same event, for the receiver to deduplicate");
    let list = deliveries_when(&app, &hook, recorded(2, now())).await;
    assert_eq!(list[0]["last_status_code"], 503);
    let wait = at(&list[0], "next_attempt_at") - now();
    assert!((19.9..=24.0).contains(&wait.as_seconds_f64()), "then after 20–24 s: {wait}");
    app.clock.advance(time::Duration::seconds(25));
    receiver.next().await;
    let list = deliveries_when(&app, &hook, |l| l[0]["status"] == "succeeded").await;
    assert_eq!((&list[0]["attempts"], &list[0]["last_status_code"]), (&json!(3), &json!(200)));

    // A receiver that never answers well: failed once the hour's window is over.
    let mut down = Receiver::start(&[500; 64]).await;
    let broken = register(&app, &down.url, json!(["user.created"])).await;
    app.create_user(user("bob")).await;
    let mut attempts = 0;
    loop {
        down.next().await;
        attempts += 1;
        let list = deliveries_when(&app, &broken, recorded(attempts, now())).await;
        if list[0]["status"] == "failed" {
            break;
        }
        assert!(attempts < 20, "bounded: {list:#?}");
        let due = at(&list[0], "next_attempt_at") - now();
        app.clock.advance(due + time::Duration::seconds(1));
    }
    assert!(attempts >= 8, "10 s doubling: at least eight attempts fit in an hour ({attempts})");
}

#[tokio::test]
async fn test_pings_and_redeliveries_are_signed_like_events() {
    let app = private_app().await;
    let mut receiver = Receiver::start(&[]).await;
    let hook = register(&app, &receiver.url, json!(["*"])).await;
    let secret = hook["secret"].as_str().unwrap();
    let id = hook["id"].as_str().unwrap();

    let ping = app.post(&format!("/v1/webhooks/{id}/test")).send().await.unwrap();
    let ping = expect_status(ping, StatusCode::ACCEPTED).await;
    assert_eq!((&ping["status"], &ping["event_seq"]), (&json!("pending"), &Value::Null));
    let got = receiver.next().await;
    assert_signed(&got, secret);
    assert_eq!(got.json()["type"], "webhook.test");

    app.create_user(user("ada")).await;
    let original = receiver.next().await.json();
    let list = deliveries_when(&app, &hook, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let delivery = list[0]["id"].as_i64().unwrap();
    let again = app.post(&format!("/v1/webhooks/{id}/deliveries/{delivery}/redeliver")).send();
    expect_status(again.await.unwrap(), StatusCode::ACCEPTED).await;
    let repeated = receiver.next().await;
    assert_signed(&repeated, secret);
    assert_eq!(repeated.json(), original, "the same event again");
    deliveries_when(&app, &hook, |l| l[0]["attempts"] == 2 && l[0]["status"] == "succeeded").await;

    for path in [
        format!("/v1/webhooks/{id}/deliveries/999999/redeliver"),
        format!("/v1/webhooks/{}/test", uuid::Uuid::new_v4()),
    ] {
        expect_status(app.post(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    let bad = app.post(&format!("/v1/webhooks/{id}/deliveries/x/redeliver")).send().await.unwrap();
    expect_status(bad, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn two_nodes_deliver_each_event_once() {
    let app = private_app().await;
    let peer = app.spawn_peer().await;
    let mut receiver = Receiver::start(&[]).await;
    let hook = register(&app, &receiver.url, json!(["user.created"])).await;
    const USERS: usize = 24;
    for i in 0..USERS {
        let base = if i % 2 == 0 { &app.base } else { &peer.base };
        let response = app
            .http
            .post(format!("{base}/v1/users"))
            .bearer_auth(&app.token)
            .json(&user(&format!("u{i}")))
            .send();
        expect_status(response.await.unwrap(), StatusCode::CREATED).await;
    }
    let mut ids = Vec::new();
    for _ in 0..USERS {
        ids.push(receiver.next().await.header("roster-event-id").to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), USERS, "each event once");
    let list = deliveries_when(&app, &hook, |l| {
        l.len() == USERS && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    assert!(list.iter().all(|d| d["attempts"] == 1), "no delivery was claimed twice: {list:#?}");
}

#[tokio::test]
async fn webhooks_are_validated_tenant_scoped_and_kept_off_private_networks() {
    let app = TestApp::spawn().await;
    for (body, field, code) in [
        (
            json!({ "url": "http://127.0.0.1:9/hook", "event_types": ["*"] }),
            "url",
            "private_target",
        ),
        (
            json!({ "url": "http://169.254.169.254/latest", "event_types": ["*"] }),
            "url",
            "private_target",
        ),
        (json!({ "url": "http://[::1]/", "event_types": ["*"] }), "url", "private_target"),
        (json!({ "url": "http://localhost:8080/", "event_types": ["*"] }), "url", "private_target"),
        (json!({ "url": "http://10.0.0.8/", "event_types": ["*"] }), "url", "private_target"),
        (json!({ "url": "ftp://example.com/", "event_types": ["*"] }), "url", "invalid_format"),
        (
            json!({ "url": "https://user:pw@example.com/", "event_types": ["*"] }),
            "url",
            "invalid_format",
        ),
        (json!({ "event_types": ["*"] }), "url", "required"),
        (
            json!({ "url": "https://example.com/", "event_types": ["user.exploded"] }),
            "event_types[0]",
            "invalid",
        ),
        (
            json!({ "url": "https://example.com/", "event_types": [] }),
            "event_types",
            "out_of_range",
        ),
        (
            json!({ "url": "https://example.com/", "event_types": ["*"], "secret": "x" }),
            "secret",
            "unknown field",
        ),
    ] {
        let response = app.post("/v1/webhooks").json(&body).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        let text = problem.to_string();
        assert!(text.contains(field) && text.contains(code), "{body}: {problem}");
    }
    assert_eq!(
        expect_status(app.get("/v1/webhooks").send().await.unwrap(), StatusCode::OK).await["data"],
        json!([]),
        "nothing written"
    );

    let hook = register(
        &app,
        "https://example.com/hooks/roster",
        json!(["user.*", "user.created", "user.*"]),
    )
    .await;
    assert_eq!(hook["event_types"], json!(["user.*", "user.created"]), "duplicates dropped");
    let path = format!("/v1/webhooks/{}", hook["id"].as_str().unwrap());
    let changed = app
        .patch(&path)
        .json(&json!({ "url": "https://example.org/h", "event_types": ["*"] }))
        .send();
    let changed = expect_status(changed.await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (&changed["url"], &changed["event_types"]),
        (&json!("https://example.org/h"), &json!(["*"]))
    );
    let bad = app.patch(&path).json(&json!({ "url": "http://192.168.0.1/" })).send().await.unwrap();
    expect_status(bad, StatusCode::BAD_REQUEST).await;
    let one = expect_status(app.get(&path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(one["url"], "https://example.org/h", "a refused change writes nothing");

    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let foreign =
            app.request_as(&app.decoy_token, method.clone(), &path).json(&json!({})).send();
        assert_eq!(
            foreign.await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{method} from another tenant"
        );
    }
    expect_status(app.delete(&path).send().await.unwrap(), StatusCode::NO_CONTENT).await;
    expect_status(app.get(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    expect_status(
        app.get(&format!("{path}/deliveries")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

/// A node stopped in the middle of a delivery loses it with its lease: once the lease runs
/// out, another node delivers it again (at least once), and the first attempt counts.
#[tokio::test]
async fn a_delivery_cut_short_by_a_stopped_node_is_sent_again_by_another() {
    let mut app = private_app().await;
    let mut receiver = Receiver::start(&[0]).await;
    let hook = register(&app, &receiver.url, json!(["user.created"])).await;
    app.create_user(user("ada")).await;
    let first = receiver.next().await;
    // The node stops while the receiver still holds its request.
    app.begin_shutdown();
    app.stopped().await.unwrap();

    let peer = app.spawn_peer().await;
    let list = format!("/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap());
    let read = || async {
        let response = app.http.get(peer.url(&list)).bearer_auth(&app.token).send().await;
        expect_status(response.unwrap(), StatusCode::OK).await["data"][0].clone()
    };
    let leased = read().await;
    assert_eq!((&leased["status"], &leased["attempts"]), (&json!("pending"), &json!(1)));
    // The lease is a minute: until then no node takes the delivery over.
    app.clock.advance(time::Duration::seconds(61));
    let again = receiver.next().await;
    assert_eq!(again.header("roster-event-id"), first.header("roster-event-id"));
    assert_eq!(again.body, first.body);
    let delivery = eventually("the delivery's success", || async {
        let delivery = read().await;
        (delivery["status"] == "succeeded").then_some(delivery)
    })
    .await;
    assert_eq!(delivery["attempts"], 2);
}

/// A receiver that does not answer in time fails the attempt ("timed out"), which is retried.
#[tokio::test]
async fn an_attempt_that_times_out_is_retried() {
    let app = TestApp::spawn_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.webhooks.timeout_seconds = 1;
    })
    .await;
    let mut receiver = Receiver::start(&[0]).await;
    let hook = register(&app, &receiver.url, json!(["user.created"])).await;
    app.create_user(user("ada")).await;
    let first = receiver.next().await;
    let list = deliveries_when(&app, &hook, recorded(1, app.directory.now())).await;
    assert_eq!(
        (&list[0]["status"], &list[0]["last_error"], &list[0]["last_status_code"]),
        (&json!("pending"), &json!("timed out"), &Value::Null)
    );
    app.clock.advance(time::Duration::seconds(13));
    let again = receiver.next().await;
    assert_eq!(again.body, first.body);
    let list = deliveries_when(&app, &hook, |l| l[0]["status"] == "succeeded").await;
    assert_eq!(list[0]["attempts"], 2);
}

/// Security probe, finding 5: the address forms that carry a private IPv4 address, the ranges
/// that are not public, and `localhost` with its trailing dot are refused, naming `url`.
#[tokio::test]
async fn r26_5_translated_reserved_and_dotted_local_targets_are_refused() {
    let app = TestApp::spawn().await;
    for url in [
        "http://[::127.0.0.1]/",
        "http://[::ffff:0:127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b::a9fe:a9fe]/latest",
        "http://[64:ff9b:1::a00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[fec0::1]/",
        "http://198.18.0.1/",
        "http://240.0.0.1/",
        "http://localhost./",
        "http://foo.localhost./",
        "http://LOCALHOST/",
    ] {
        let body = json!({ "url": url, "event_types": ["*"] });
        let response = app.post("/v1/webhooks").json(&body).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            (&problem["errors"][0]["field"], &problem["errors"][0]["code"]),
            (&json!("url"), &json!("private_target")),
            "{url}: {problem}"
        );
    }
    let listed = expect_status(app.get("/v1/webhooks").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(listed["data"], json!([]), "nothing was registered");
}

/// Security probe, finding 6: a target the node cannot reach is recorded as "target refused
/// or unreachable", whatever the reason (refused connection, unresolvable name, private
/// address), so a delivery's record tells nothing about the internal network; the reason is
/// in the server's log.
#[tokio::test]
async fn r26_6_an_unreachable_target_is_recorded_without_the_reason() {
    let app = private_app().await;
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let hook = register(&app, &format!("http://{closed}/hook"), json!(["user.created"])).await;
    app.create_user(user("ada")).await;
    let list = deliveries_when(&app, &hook, recorded(1, app.directory.now())).await;
    assert_eq!(
        (&list[0]["last_error"], &list[0]["last_status_code"]),
        (&json!("target refused or unreachable"), &Value::Null),
        "{list:#?}"
    );
}

/// Security probe, finding 4: with `webhooks.proxy`, deliveries go through that proxy (and
/// only through it: the environment's proxy variables are ignored, see the process tests).
#[tokio::test]
async fn r26_4_deliveries_go_through_the_configured_proxy() {
    let mut proxy = Receiver::start(&[]).await;
    let base = proxy.url.trim_end_matches("/hook").to_owned();
    let app = TestApp::spawn_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.webhooks.proxy = Some(base.into());
    })
    .await;
    // The name is the proxy's to resolve: the node never looks it up.
    let hook = register(&app, "http://hooks.example.invalid/hook", json!(["user.created"])).await;
    let ada = app.create_user(user("ada")).await;
    let received = proxy.next().await;
    assert_eq!(received.header("host"), "hooks.example.invalid");
    assert_eq!(received.json()["resource"]["id"], ada["id"]);
    let list = deliveries_when(&app, &hook, |l| l[0]["status"] == "succeeded").await;
    assert_eq!(list[0]["attempts"], 1);
}

/// A webhook names the shape of its deliveries: `roster` (the event document) by default, or a
/// platform's envelope that a dialect registered on the node; any other name is refused.
#[tokio::test]
async fn a_webhook_names_a_known_payload_format() {
    let app = TestApp::spawn().await;
    let body = json!({ "url": "https://hooks.example.com/a", "event_types": ["*"] });
    let hook = expect_status(
        app.post("/v1/webhooks").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(hook["format"], "roster");
    let id = hook["id"].as_str().unwrap();
    let unknown =
        json!({ "url": "https://hooks.example.com/b", "event_types": ["*"], "format": "nope" });
    let problem = expect_status(
        app.post("/v1/webhooks").json(&unknown).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        (&problem["errors"][0]["field"], &problem["errors"][0]["message"]),
        (&json!("format"), &json!("must be one of: roster, upvest"))
    );
    let patch = app.patch(&format!("/v1/webhooks/{id}")).json(&json!({ "format": "nope" }));
    expect_status(patch.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    // A dialect's format, registered by the node, is one to name.
    let patch = app.patch(&format!("/v1/webhooks/{id}")).json(&json!({ "format": "upvest" }));
    assert_eq!(
        expect_status(patch.send().await.unwrap(), StatusCode::OK).await["format"],
        "upvest"
    );
}
