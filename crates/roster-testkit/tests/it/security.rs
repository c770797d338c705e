//! Regression tests for the findings of the adversarial security probe (each named after its
//! finding: `r26_<n>`). Findings 4 to 6 are with the webhook tests (`native/webhooks.rs`) and
//! the environment-proxy one in the process tests (`roster-server/tests/process/proxy.rs`).

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use roster_http::RateLimits;
use roster_testkit::{TestApp, expect_status, user};
use serde_json::{Value, json};

const ZITADEL: &str = "/compat/zitadel/zitadel.user.v2.UserService";

async fn rpc(app: &TestApp, method: &str, body: Value) -> (StatusCode, Value) {
    let response = app.post(&format!("{ZITADEL}/{method}")).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn human(username: &str, hash: &str) -> Value {
    json!({
        "username": username,
        "profile": { "givenName": "H", "familyName": "D" },
        "email": { "email": format!("{username}@example.org") },
        "hashedPassword": { "hash": hash },
    })
}

const SALT: &str = "c2FsdHNhbHRzYWx0c2FsdA";

fn out() -> String {
    "A".repeat(43)
}

/// Finding 1 (high): a hash whose parameters would abort the process or hold the hashing pool
/// for hours is refused when written, naming the field, and writes nothing.
#[tokio::test]
async fn r26_1_imported_hashes_beyond_the_bounds_are_refused_when_written() {
    let app = TestApp::spawn().await;
    let out = out();
    for (i, hash) in [
        format!("$scrypt$ln=50,r=8,p=1${SALT}${out}"),
        format!("$argon2id$v=19$m=8,t=3000000,p=1${SALT}${out}"),
        format!("$argon2id$v=19$m=524288,t=1,p=1${SALT}${out}"),
        format!("$pbkdf2-sha256$i=4294967295${SALT}${out}"),
        "$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let (status, body) = rpc(&app, "AddHumanUser", human(&format!("h{i}"), hash)).await;
        assert_eq!((status, &body["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_argument")));
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("hashedPassword.hash") && message.contains("at most"),
            "{message}"
        );
    }
    // Within the bounds, the same request is taken.
    let fine = format!("$argon2id$v=19$m=19456,t=2,p=1${SALT}${out}");
    let (status, _) = rpc(&app, "AddHumanUser", human("fine", &fine)).await;
    assert_eq!(status, StatusCode::OK);
    let count =
        expect_status(app.get("/v1/users/count").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(count["total_count"], 1, "no refused create wrote a user");
}

/// Finding 1: a hash stored under looser bounds (or before they existed) is never computed by
/// a node with the default bounds: it fails like a wrong password, and counts as one.
#[tokio::test]
async fn r26_1_a_stored_hash_beyond_the_bounds_fails_verification_and_counts() {
    let app = TestApp::spawn_with(|c| {
        c.password_hash_limits.argon2_iterations = 1_000;
        c.password_lockout_after = 2;
    })
    .await;
    let strict = app.spawn_peer_with(|c| c.password_hash_limits = Default::default()).await;
    let costly = format!("$argon2id$v=19$m=8,t=999,p=1${SALT}${}", out());
    let (status, created) = rpc(&app, "AddHumanUser", human("costly", &costly)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["userId"].as_str().unwrap();
    for _ in 0..2 {
        let verify = app
            .http
            .post(strict.url(&format!("/v1/users/{id}/password/verify")))
            .bearer_auth(&app.token)
            .json(&json!({ "password": "whatever1" }));
        let response = verify.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let user =
        expect_status(app.get(&format!("/v1/users/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(user["state"], "locked", "both refusals counted as failures: {user}");
}

/// Finding 1: the command-line import refuses such a row, naming its line and the field.
#[tokio::test]
async fn r26_1_the_import_refuses_a_costly_hash_by_line() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.ndjson");
    let rows = [
        json!({ "username": "ok1", "password_hash": format!("$pbkdf2-sha256$i=1000${SALT}${}", out()) }),
        json!({ "username": "bad", "password_hash": format!("$scrypt$ln=40,r=8,p=1${SALT}${}", out()) }),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let tenant = app.directory.tenant("default").await.unwrap();
    let p = roster_core::Principal::system(&tenant);
    let options = roster_server::transfer::ImportOptions::default();
    let summary =
        roster_server::transfer::import(&app.directory, &p, &file, &options).await.unwrap();
    assert_eq!((summary.created, summary.invalid), (1, 1), "{summary:?}");
}

/// Finding 2 (medium): the system token is neither listed to nor readable nor revocable by a
/// tenant's admin; tenant management keeps working.
#[tokio::test]
async fn r26_2_the_system_token_is_out_of_a_tenant_admins_reach() {
    let app = TestApp::spawn().await;
    let system = |method, path: &str| app.request_as(&app.system_token, method, path);
    expect_status(system(Method::GET, "/v1/tenants").send().await.unwrap(), StatusCode::OK).await;
    let trail = expect_status(
        system(Method::GET, "/v1/audit/system").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let system_id =
        trail["data"][0]["token_id"].as_str().expect("the system token's id").to_owned();

    let tokens = expect_status(app.get("/v1/tokens").send().await.unwrap(), StatusCode::OK).await;
    let text = tokens.to_string();
    assert!(!text.contains(&system_id) && !text.contains("\"system\""), "{tokens}");
    let one = app.get(&format!("/v1/tokens/{system_id}")).send().await.unwrap();
    assert_eq!(one.status(), StatusCode::NOT_FOUND);
    let revoke = app.delete(&format!("/v1/tokens/{system_id}")).send().await.unwrap();
    assert_eq!(revoke.status(), StatusCode::NOT_FOUND);
    expect_status(system(Method::GET, "/v1/tenants").send().await.unwrap(), StatusCode::OK).await;
}

/// Finding 8 (low): requests made with the system token go to the operator's system trail,
/// never to a tenant's (they name other tenants' ids), nor to the unauthenticated trail.
#[tokio::test]
async fn r26_8_system_activity_is_in_the_system_trail_only() {
    let app = TestApp::spawn().await;
    let system = |method, path: &str| app.request_as(&app.system_token, method, path);
    let created = system(Method::POST, "/v1/tenants").json(&json!({ "name": "acme" }));
    let acme = expect_status(created.send().await.unwrap(), StatusCode::CREATED).await;
    let acme_id = acme["id"].as_str().unwrap();
    app.get("/v1/users").send().await.unwrap();

    let read = |path: &'static str, token: String| {
        let request = app.request_as(&token, Method::GET, path).query(&[("limit", "1000")]);
        async move { expect_status(request.send().await.unwrap(), StatusCode::OK).await }
    };
    let tenant_trail = read("/v1/audit", app.token.clone()).await.to_string();
    assert!(
        !tenant_trail.contains(acme_id) && !tenant_trail.contains("/v1/tenants"),
        "{tenant_trail}"
    );
    assert!(tenant_trail.contains("GET /v1/users"), "the tenant's own requests are there");
    let system_trail = read("/v1/audit/system", app.system_token.clone()).await;
    let entries = system_trail["data"].as_array().unwrap();
    let create = entries.iter().find(|e| e["operation"] == "POST /v1/tenants").expect("audited");
    assert_eq!((&create["tenant_id"], create["token_id"].is_string()), (&Value::Null, true));
    let unauthenticated = read("/v1/audit/unauthenticated", app.system_token.clone()).await;
    assert!(!unauthenticated.to_string().contains("/v1/tenants"), "{unauthenticated}");
    // The tenant's admin cannot read the operator's trails.
    let refused = app.get("/v1/audit/system").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

/// A token of the main tenant with `scopes`.
async fn token(app: &TestApp, scopes: &[&str]) -> String {
    let body = json!({ "name": "probe", "scopes": scopes });
    let issued = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    issued["token"].as_str().unwrap().to_owned()
}

/// How many long-polls the node's `/metrics` says are waiting.
async fn waiting(app: &TestApp) -> u64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("roster_long_polls "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the long-poll gauge")
}

/// Finding 3 (medium): waiting feed readers hold long-poll slots, not the request cap, so one
/// read-only token's idle polls cannot make every tenant's API answer 503; a token, and the
/// node, have a bounded number of slots (429 with `Retry-After` beyond); a commit wakes them.
#[tokio::test]
async fn r26_3_long_polls_wait_outside_the_request_cap_in_bounded_slots() {
    let app = TestApp::spawn_with(|c| {
        c.max_concurrent_requests = 2;
        c.max_long_polls = 3;
        c.max_long_polls_per_token = 2;
    })
    .await;
    let (reader, other) = (token(&app, &["users:read"]).await, token(&app, &["users:read"]).await);
    let after = app.events().await.last().map_or(0, |e| e["seq"].as_i64().unwrap());
    let poll = |token: &str| {
        let path = format!("/v1/events?after={after}&wait=60s");
        app.request_as(token, Method::GET, &path).send()
    };
    // One at a time: arriving together, three requests would meet the cap of two before any
    // of them reached its long-poll slot.
    let mut polls = Vec::new();
    for (n, token) in [&reader, &reader, &other].into_iter().enumerate() {
        polls.push(tokio::spawn(poll(token)));
        let mut seen = 0;
        for _ in 0..2_000 {
            seen = waiting(&app).await;
            if seen == n as u64 + 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(seen, n as u64 + 1, "long-polls waiting");
    }

    // Three waiting readers, a cap of two requests: every tenant is still served.
    for token in [&app.token, &app.decoy_token] {
        let listed = app.request_as(token, Method::GET, "/v1/users").send().await.unwrap();
        assert_eq!(listed.status(), StatusCode::OK);
    }
    // A third poll of one token, and a poll past the node's slots, are refused.
    for token in [&reader, &app.token] {
        let refused = poll(token).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
        let problem = refused.json::<Value>().await.unwrap();
        assert_eq!(problem["type"], "urn:roster:problem:too-many-long-polls");
    }
    // A commit answers every waiting reader, and their slots are free again.
    let ada = app.create_user(user("ada")).await;
    for answer in join_all(polls).await {
        let page = expect_status(answer.unwrap().unwrap(), StatusCode::OK).await;
        assert_eq!(page["data"][0]["resource"]["id"], ada["id"]);
    }
    assert_eq!(waiting(&app).await, 0);
}

/// Finding 3: a waiting reader is woken by a commit on another node, found by that node's one
/// watcher of other nodes' commits.
#[tokio::test]
async fn r26_3_a_reader_waiting_on_one_node_is_woken_by_a_commit_on_another() {
    let app = TestApp::spawn().await;
    let peer = app.spawn_peer().await;
    let after = app.events().await.last().map_or(0, |e| e["seq"].as_i64().unwrap());
    let request = app
        .http
        .get(peer.url(&format!("/v1/events?after={after}&wait=30s")))
        .bearer_auth(&app.token);
    let waiting = tokio::spawn(request.send());
    let ada = app.create_user(user("ada")).await;
    let page = expect_status(waiting.await.unwrap().unwrap(), StatusCode::OK).await;
    assert_eq!(page["data"][0]["resource"]["id"], ada["id"]);
}

/// Finding 7 (low): every operation that checks a password or a verification code spends the
/// verification budget, by what it does rather than by its path; one that checks nothing
/// (setting a password as an administrator) does not.
#[tokio::test]
async fn r26_7_every_secret_check_counts_against_the_verification_limit() {
    let limits = RateLimits { writes_per_second: 10_000, verifications_per_second: 1 };
    let app = TestApp::spawn_with(|c| c.rate_limits = limits).await;
    let ada = app.create_user(json!({ "username": "ada", "emails": [{ "value": "ada@example.org" }], "phones": [{ "value": "+4930901820" }], "password": "first password 1" })).await;
    let id = ada["id"].as_str().unwrap();
    let password = |extra: Value| {
        let mut body = json!({ "userId": id, "newPassword": { "password": "second password 2" } });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    for (method, body) in [
        ("VerifyEmail", json!({ "userId": id, "verificationCode": "123456" })),
        ("VerifyPhone", json!({ "userId": id, "verificationCode": "123456" })),
        ("SetPassword", password(json!({ "currentPassword": "not the password" }))),
        ("SetPassword", password(json!({ "verificationCode": "123456" }))),
    ] {
        let calls = (0..10).map(|_| rpc(&app, method, body.clone()));
        let answers = join_all(calls).await;
        let limited = answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
        assert!(limited >= 8, "{method} {body}: {limited} of 10 limited: {answers:?}");
        let (_, refused) =
            answers.iter().find(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).unwrap();
        assert_eq!(refused["code"], "resource_exhausted");
    }
    let (status, body) = rpc(&app, "SetPassword", password(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "no secret checked, no verification spent: {body}");
}

/// Finding 9 (info): a cursor is bound to its tenant and reveals nothing it holds.
#[tokio::test]
async fn r26_9_cursors_are_sealed_and_bound_to_their_tenant() {
    use base64::Engine as _;
    let app = TestApp::spawn().await;
    for name in ["karl.schmidt", "zoe.zimmer"] {
        app.create_user(user(name)).await;
    }
    let first = app.get("/v1/users?sort_by=username&limit=1").send().await.unwrap();
    let page = expect_status(first, StatusCode::OK).await;
    assert_eq!(page["data"][0]["username"], "karl.schmidt");
    let cursor = page["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&cursor).unwrap();
    assert!(!bytes.windows(4).any(|w| w == b"karl"), "the sort key is not readable");

    let next = |token: &str| {
        app.request_as(token, Method::GET, "/v1/users")
            .query(&[("sort_by", "username"), ("limit", "1"), ("cursor", &cursor)])
            .send()
    };
    let page = expect_status(next(&app.token).await.unwrap(), StatusCode::OK).await;
    assert_eq!(page["data"][0]["username"], "zoe.zimmer");
    let problem =
        expect_status(next(&app.decoy_token).await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "cursor", "another tenant's cursor: {problem}");
}

/// Finding 10 (info): SCIM's `POST /.search` authenticates before it answers 501, and a group
/// member that is no user or group of the tenant is named as such.
#[tokio::test]
async fn r26_10_scim_search_authenticates_and_unknown_members_are_named() {
    let app = TestApp::spawn().await;
    let anonymous = app.http.post(app.url("/scim/v2/.search")).json(&json!({}));
    assert_eq!(anonymous.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let search = app.post("/scim/v2/.search").json(&json!({}));
    assert_eq!(search.send().await.unwrap().status(), StatusCode::NOT_IMPLEMENTED);

    let decoy = app
        .request_as(&app.decoy_token, Method::GET, "/v1/users/by-username/decoy")
        .send()
        .await
        .unwrap();
    let decoy = expect_status(decoy, StatusCode::OK).await;
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "admins",
        "members": [{ "value": decoy["id"] }],
    });
    let response = app.post("/scim/v2/Groups").json(&group).send().await.unwrap();
    let error = expect_status(response, StatusCode::BAD_REQUEST).await;
    let detail = error["detail"].as_str().unwrap();
    assert_eq!(error["scimType"], "invalidValue");
    assert!(
        detail.contains("members[0]") && detail.contains("neither a user nor a group"),
        "{detail}"
    );
}
