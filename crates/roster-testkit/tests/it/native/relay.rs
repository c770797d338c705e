//! Events relayed to NATS JetStream (the machine's server at 127.0.0.1:4222, or
//! `ROSTER_TEST_NATS_URL`): every event once, in feed order, with its id for deduplication,
//! carried on by another node when the one relaying stops.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull::OrderedConfig};
use futures::StreamExt as _;
use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status, user};
use secrecy::SecretString;
use serde_json::Value;

/// Bounds every wait for a message: a relay that stalls fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(30);

fn nats_url() -> String {
    std::env::var("ROSTER_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A stream and subject prefix of its own, so tests (and runs) never read each other's events.
struct Sink {
    js: jetstream::Context,
    prefix: String,
    stream: String,
    /// Sees every publish as it happens, duplicates included (the stream drops those).
    published: async_nats::Subscriber,
    /// The event ids published so far, per tenant.
    seen: HashMap<String, Vec<String>>,
}

impl Sink {
    async fn new() -> Sink {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let client = async_nats::connect(nats_url()).await.expect("NATS at ROSTER_TEST_NATS_URL");
        let prefix = format!("roster_test.{unique}");
        let published = client.subscribe(format!("{prefix}.>")).await.unwrap();
        Sink {
            js: jetstream::new(client),
            prefix,
            stream: format!("ROSTER_TEST_{unique}"),
            published,
            seen: HashMap::new(),
        }
    }

    async fn spawn_app(&self) -> TestApp {
        let (prefix, stream) = (self.prefix.clone(), self.stream.clone());
        TestApp::spawn_with(move |config| {
            config.nats.url = Some(SecretString::from(nats_url()));
            config.nats.subject_prefix = prefix;
            config.nats.stream = stream;
        })
        .await
    }

    /// The first `n` messages published for `tenant`, in stream order.
    async fn messages(&mut self, tenant: &str, n: usize) -> Vec<async_nats::jetstream::Message> {
        let stream = self.js.get_stream(&self.stream).await.expect("the relay's stream");
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: format!("{}.{tenant}.>", self.prefix),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let next = tokio::time::timeout(WAIT, messages.next()).await;
            let message = next.expect("an event is relayed").expect("stream open").unwrap();
            out.push(message);
        }
        out
    }

    /// Checks that `feed` (one tenant's) was published once, in order, and is what the stream
    /// holds for its tenant.
    async fn assert_relayed(&mut self, feed: &[Value]) {
        let tenant = feed[0]["tenant_id"].as_str().unwrap();
        let ids: Vec<&str> = feed.iter().map(|e| e["id"].as_str().unwrap()).collect();
        while self.seen.get(tenant).map_or(0, Vec::len) < ids.len() {
            let next = tokio::time::timeout(WAIT, self.published.next()).await;
            let message = next.expect("an event is published").expect("subscribed");
            let rest = message.subject.strip_prefix(&format!("{}.", self.prefix)).unwrap();
            let of = rest.split('.').next().unwrap().to_owned();
            let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).unwrap();
            self.seen.entry(of).or_default().push(id.as_str().to_owned());
        }
        assert_eq!(self.seen[tenant], ids, "each event published once, in feed order");
        // The relay created its stream before it published anything.
        let messages = self.messages(tenant, feed.len()).await;
        for (event, message) in feed.iter().zip(&messages) {
            let kind = event["type"].as_str().unwrap();
            assert_eq!(message.subject.as_str(), format!("{}.{tenant}.{kind}", self.prefix));
            let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
            assert_eq!(id.map(|v| v.as_str()), event["id"].as_str(), "the event id deduplicates");
            let body: Value = serde_json::from_slice(&message.payload).unwrap();
            assert_eq!(&body, event, "the message is the feed item");
        }
    }

    async fn stored(&self) -> u64 {
        let mut stream = self.js.get_stream(&self.stream).await.unwrap();
        stream.info().await.unwrap().state.messages
    }

    async fn remove(self) {
        self.js.delete_stream(&self.stream).await.unwrap();
    }
}

/// A tenant's feed, read from the node at `base`.
async fn feed(app: &TestApp, base: &str, token: &str) -> Vec<Value> {
    let response = app.http.get(format!("{base}/v1/events?limit=1000")).bearer_auth(token);
    let body = expect_status(response.send().await.unwrap(), StatusCode::OK).await;
    body["data"].as_array().unwrap().clone()
}

/// Creates a user through the node at `base`.
async fn create_at(app: &TestApp, base: &str, username: &str) {
    let request = app.http.post(format!("{base}/v1/users")).bearer_auth(&app.token);
    let response = request.json(&user(username)).send().await.unwrap();
    expect_status(response, StatusCode::CREATED).await;
}

#[tokio::test]
async fn every_event_is_relayed_once_in_feed_order() {
    let mut sink = Sink::new().await;
    let app = sink.spawn_app().await;
    // A second node relays too; each tenant's cursor is held by one of them.
    let peer = app.spawn_peer().await;
    for i in 0..20 {
        let base = if i % 2 == 0 { app.url("") } else { peer.url("") };
        create_at(&app, &base, &format!("relayed{i}")).await;
    }
    let id = app.create_user(user("changing")).await["id"].as_str().unwrap().to_owned();
    let lock = app.post(&format!("/v1/users/{id}/lock")).send().await.unwrap();
    expect_status(lock, StatusCode::OK).await;

    let ours = feed(&app, &app.url(""), &app.token).await;
    let decoys = feed(&app, &app.url(""), &app.decoy_token).await;
    assert_eq!(ours.len(), 22);
    sink.assert_relayed(&ours).await;
    sink.assert_relayed(&decoys).await;
    assert_eq!(sink.stored().await, (ours.len() + decoys.len()) as u64, "nothing twice");
    drop(peer);
    sink.remove().await;
}

#[tokio::test]
async fn another_node_carries_on_from_the_cursor_when_the_relaying_one_stops() {
    let mut sink = Sink::new().await;
    let mut app = sink.spawn_app().await;
    for i in 0..5 {
        app.create_user(user(&format!("before{i}"))).await;
    }
    sink.assert_relayed(&feed(&app, &app.url(""), &app.token).await).await;

    // The first node stops holding its cursors; once their lease has run out, a new node
    // claims them and relays what came after, from where the first one stopped.
    app.begin_shutdown();
    app.stopped().await.unwrap();
    app.clock.advance(time::Duration::seconds(31));
    let peer = app.spawn_peer().await;
    for i in 0..5 {
        create_at(&app, &peer.url(""), &format!("after{i}")).await;
    }
    let all = feed(&app, &peer.url(""), &app.token).await;
    assert_eq!(all.len(), 10);
    sink.assert_relayed(&all).await;
    drop(peer);
    sink.remove().await;
}
