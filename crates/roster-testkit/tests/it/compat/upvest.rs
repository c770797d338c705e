//! The investment platform's Users API at `/compat/upvest`, field by field as its published
//! documents have it, and driven by its own signing helper unchanged.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use roster_testkit::{TestApp, eventually, expect_status, id};
use serde_json::{Value, json};

const BASE: &str = "/compat/upvest";

fn karl() -> Value {
    json!({
        "first_name": "Karl", "last_name": "Schmidt", "salutation": "SALUTATION_MALE", "title": "DR",
        "birth_date": "1972-09-30", "birth_city": "Berlin", "birth_country": "DE",
        "birth_name": "Schmidt", "nationalities": ["DE", "AU"],
        "address": { "address_line1": "Rosenweg 221", "address_line2": "apt. 33", "postcode": "45678",
                     "city": "Berlin", "state": "BE", "country": "DE" },
    })
}

fn call(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.request(method, &format!("{BASE}{path}"))
}

fn create(app: &TestApp, key: &str, body: &Value) -> RequestBuilder {
    call(app, Method::POST, "/users").header("idempotency-key", key).json(body)
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Asserts a problem document with `status` and `type` slug; returns its `detail`.
async fn problem(response: Response, status: StatusCode, slug: &str) -> String {
    let request_id = response.headers().get("upvest-request-id").cloned();
    let media = response.headers().get("content-type").cloned();
    let body = expect_status(response, status).await;
    assert_eq!(media.unwrap(), "application/problem+json");
    assert_eq!(body["type"], format!("https://docs.upvest.co/errors/{slug}"), "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["request_id"], request_id.unwrap().to_str().unwrap(), "the header's id");
    let mut members: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["detail", "instance", "request_id", "status", "title", "type"]);
    body["detail"].as_str().unwrap().to_owned()
}

async fn user(app: &TestApp, id: &str) -> Value {
    expect_status(
        call(app, Method::GET, &format!("/users/{id}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn a_user_is_created_once_per_idempotency_key_and_read_back_exactly() {
    let app = TestApp::spawn().await;
    let key = key();
    let created = create(&app, &key, &karl()).send().await.unwrap();
    assert!(created.headers().contains_key("upvest-request-id"));
    let created = expect_status(created, StatusCode::OK).await;
    let mut expected = karl();
    for (name, value) in [
        ("id", created["id"].clone()),
        ("created_at", created["created_at"].clone()),
        ("updated_at", created["updated_at"].clone()),
        ("status", json!("ACTIVE")),
        // Not given: a copy of the address.
        ("postal_address", karl()["address"].clone()),
    ] {
        expected[name] = value;
    }
    assert_eq!(created, expected);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(user(&app, id(&created)).await, created);
    let native = expect_status(
        app.get(&format!("/v1/users/{}", id(&created))).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(native["postal_address"], Value::Null, "kept null natively");
    assert_eq!(
        native["birth"],
        json!({ "date": "1972-09-30", "city": "Berlin", "country": "DE", "name": "Schmidt" })
    );
    assert_eq!((&native["salutation"], &native["title"]), (&json!("male"), &json!("dr")));

    // The same key and body: the first answer, no second user; another body: 422.
    let again =
        expect_status(create(&app, &key, &karl()).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(again, created);
    let mut other = karl();
    other["first_name"] = json!("Karla");
    let reused = create(&app, &key, &other).send().await.unwrap();
    problem(reused, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable_entity").await;
    // The same person twice under two keys: two users.
    let twin =
        expect_status(create(&app, &self::key(), &karl()).send().await.unwrap(), StatusCode::OK);
    assert_ne!(id(&twin.await), id(&created));
    assert_eq!(app.all_users(false).await.len(), 2);

    // Without a salutation or title: "" each.
    let mut plain = karl();
    plain
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !["salutation", "title", "birth_city"].contains(&k.as_str()));
    let plain =
        expect_status(create(&app, &self::key(), &plain).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(
        (&plain["salutation"], &plain["title"], &plain["birth_city"]),
        (&json!(""), &json!(""), &json!(""))
    );
}

#[tokio::test]
async fn bad_creates_are_refused_naming_every_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let missing = call(&app, Method::POST, "/users").json(&karl()).send().await.unwrap();
    problem(missing, StatusCode::BAD_REQUEST, "missing_idempotency_key").await;
    let not_uuid = create(&app, "key-1", &karl()).send().await.unwrap();
    assert!(
        problem(not_uuid, StatusCode::BAD_REQUEST, "bad_request").await.contains("idempotency-key")
    );

    let mut wrong = karl();
    wrong["first_name"] = json!("K");
    wrong["salutation"] = json!("MR");
    wrong["birth_date"] = json!("1972-02-30");
    wrong["nationalities"] = json!(["DE", "de"]);
    wrong["address"]["postcode"] = json!("1234567890AB");
    wrong["address"]["country"] = Value::Null;
    let detail = problem(
        create(&app, &key(), &wrong).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    for field in [
        "first_name",
        "salutation",
        "birth_date",
        "nationalities[1]",
        "address.postcode",
        "address.country",
    ] {
        assert!(detail.contains(&format!("{field}:")), "{field}: {detail}");
    }
    let mut required = karl();
    required.as_object_mut().unwrap().remove("address");
    let detail = problem(
        create(&app, &key(), &required).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(detail.contains("address: is required"), "{detail}");
    let mut unknown = karl();
    unknown["email"] = json!("karl@example.com");
    let detail = problem(
        create(&app, &key(), &unknown).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(detail.contains("email"), "{detail}");
    // The core's own rules, in the platform's names: a birth date in the future.
    let mut future = karl();
    future["birth_date"] = json!("2999-01-01");
    let detail = problem(
        create(&app, &key(), &future).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(detail.contains("birth_date"), "{detail}");
    // Kosovo is on the platform's list.
    let mut kosovo = karl();
    kosovo["nationalities"] = json!(["XK"]);
    expect_status(create(&app, &key(), &kosovo).send().await.unwrap(), StatusCode::OK).await;

    for (media, body) in [
        ("text/plain", karl().to_string()),
        ("application/json", "{".to_owned()),
        ("application/json", "[]".to_owned()),
    ] {
        let sent = call(&app, Method::POST, "/users")
            .header("idempotency-key", key())
            .header("content-type", media)
            .body(body);
        problem(sent.send().await.unwrap(), StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(app.all_users(false).await.len(), 1, "only Kosovo's user was written");
}

#[tokio::test]
async fn lists_page_by_offset_in_either_order_and_keep_offboarded_users() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            id(&expect_status(create(&app, &key(), &karl()).send().await.unwrap(), StatusCode::OK)
                .await)
            .to_owned(),
        );
    }
    let list = |query: &str| call(&app, Method::GET, &format!("/users{query}")).send();
    let page = expect_status(list("").await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        page["meta"],
        json!({ "offset": 0, "limit": 100, "count": 3, "total_count": 3, "sort": "created_at", "order": "ASC" })
    );
    let listed: Vec<&str> = page["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(listed, ids);
    let page = expect_status(
        list("?sort=updated_at&order=DESC&offset=1&limit=1").await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!((&page["meta"]["count"], &page["meta"]["total_count"]), (&json!(1), &json!(3)));
    assert_eq!(id(&page["data"][0]), ids[1]);
    let none = expect_status(list("?limit=0").await.unwrap(), StatusCode::OK).await;
    assert_eq!((&none["data"], &none["meta"]["total_count"]), (&json!([]), &json!(3)));
    for (query, parameter) in [
        ("?limit=1001", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=abc", "limit"),
        ("?sort=first_name", "sort"),
        ("?order=UP", "order"),
        ("?offset=-3", "offset"),
    ] {
        let detail =
            problem(list(query).await.unwrap(), StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(detail.starts_with(parameter), "{query}: {detail}");
    }

    // Offboarded users stay listed and readable, their data erased.
    let gone = &ids[0];
    let offboarded = call(&app, Method::DELETE, &format!("/users/{gone}")).send().await.unwrap();
    assert_eq!(offboarded.status(), StatusCode::ACCEPTED);
    eventually("the offboarding job", || async {
        (user(&app, gone).await["status"] == "OFFBOARDED").then_some(())
    })
    .await;
    let page = expect_status(list("").await.unwrap(), StatusCode::OK).await;
    assert_eq!(page["meta"]["total_count"], 3);
    assert_eq!(page["data"][0]["first_name"], "", "erased");
}

#[tokio::test]
async fn users_are_read_by_uuid_within_the_tenant() {
    let app = TestApp::spawn().await;
    let karl =
        expect_status(create(&app, &key(), &karl()).send().await.unwrap(), StatusCode::OK).await;
    let bad = call(&app, Method::GET, "/users/not-a-uuid").send().await.unwrap();
    assert!(problem(bad, StatusCode::BAD_REQUEST, "bad_request").await.contains("user_id"));
    let unknown =
        call(&app, Method::GET, &format!("/users/{}", uuid::Uuid::new_v4())).send().await.unwrap();
    problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let path = format!("{BASE}/users/{}", id(&karl));
    for method in [Method::GET, Method::DELETE] {
        let foreign = app.request_as(&app.decoy_token, method, &path).send().await.unwrap();
        problem(foreign, StatusCode::NOT_FOUND, "not_found").await;
    }
    let change =
        app.request_as(&app.decoy_token, Method::POST, &format!("{path}/data_change_requests"));
    problem(
        change.json(&json!({ "first_name": "Eve" })).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn data_changes_are_checked_at_once_and_applied_by_the_job() {
    let app = TestApp::spawn().await;
    let karl =
        expect_status(create(&app, &key(), &karl()).send().await.unwrap(), StatusCode::OK).await;
    let path = format!("/users/{}/data_change_requests", id(&karl));
    let change = |body: Value| call(&app, Method::POST, &path).json(&body).send();

    let accepted = change(json!({ "last_name": "Schmitt", "address": { "address_line1": "Neuweg 1", "postcode": "10115", "city": "Berlin", "country": "DE" } })).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert!(accepted.headers().contains_key("upvest-request-id"));
    assert_eq!(accepted.text().await.unwrap(), "");
    let changed = eventually("the data change", || async {
        let now = user(&app, id(&karl)).await;
        (now["last_name"] == "Schmitt").then_some(now)
    })
    .await;
    assert_eq!(changed["first_name"], "Karl", "kept");
    // The address is replaced whole; the postal address still follows it.
    let address = json!({ "address_line1": "Neuweg 1", "address_line2": null, "postcode": "10115", "city": "Berlin", "state": null, "country": "DE" });
    assert_eq!((&changed["address"], &changed["postal_address"]), (&address, &address));

    let refused =
        change(json!({ "first_name": "K", "address": { "city": "Berlin" } })).await.unwrap();
    let detail = problem(refused, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(detail.contains("first_name") && detail.contains("address.postcode"), "{detail}");

    // A future birth date passes the dialect's rules, and the core's job refuses it.
    let later = change(json!({ "birth_date": "2999-01-01" })).await.unwrap();
    assert_eq!(later.status(), StatusCode::ACCEPTED);
    eventually("the refusal", || async {
        let events = app.events().await;
        events.iter().any(|e| e["type"] == "user.data_change_failed").then_some(())
    })
    .await;
    assert_eq!(user(&app, id(&karl)).await["birth_date"], "1972-09-30", "unchanged");

    // Leaving users change no more; offboarding twice is a conflict.
    let gone = call(&app, Method::DELETE, &format!("/users/{}", id(&karl))).send().await.unwrap();
    assert_eq!((gone.status(), gone.text().await.unwrap()), (StatusCode::ACCEPTED, String::new()));
    assert_eq!(user(&app, id(&karl)).await["status"], "OFFBOARDING");
    problem(
        change(json!({ "last_name": "Late" })).await.unwrap(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let twice = call(&app, Method::DELETE, &format!("/users/{}", id(&karl))).send().await.unwrap();
    problem(twice, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn every_answer_has_a_request_id_and_refusals_are_problems() {
    let app = TestApp::spawn().await;
    let anonymous = app.http.get(app.url(&format!("{BASE}/users"))).send().await.unwrap();
    problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorised").await;
    let nowhere = call(&app, Method::GET, "/nowhere").send().await.unwrap();
    problem(nowhere, StatusCode::NOT_FOUND, "not_found").await;
    let version =
        call(&app, Method::GET, "/users").header("upvest-api-version", "2").send().await.unwrap();
    assert!(
        problem(version, StatusCode::BAD_REQUEST, "bad_request")
            .await
            .contains("upvest-api-version")
    );
    let accept =
        call(&app, Method::GET, "/users").header("accept", "text/html").send().await.unwrap();
    problem(accept, StatusCode::NOT_ACCEPTABLE, "not_acceptable").await;
    let fine = call(&app, Method::GET, "/users")
        .header("upvest-api-version", "1")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let request_id = fine.headers()["upvest-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&request_id).is_ok());
    assert_eq!(fine.status(), StatusCode::OK);

    // Scopes: a read-only token reads and cannot write.
    let body = json!({ "name": "reader", "scopes": ["users:read"] });
    let reader = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let reader = reader["token"].as_str().unwrap();
    let read = app.request_as(reader, Method::GET, &format!("{BASE}/users")).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let write = app
        .request_as(reader, Method::POST, &format!("{BASE}/users"))
        .header("idempotency-key", key())
        .json(&karl());
    problem(write.send().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn the_token_endpoint_speaks_the_platforms_scopes() {
    let app = TestApp::spawn().await;
    let body = json!({ "name": "client", "scopes": ["users:read", "users:write"] });
    let client = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let form = |scope: &str| {
        format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope={scope}",
            id(&client),
            client["token"].as_str().unwrap()
        )
    };
    let ask = |path: &'static str, scope: &str| {
        app.http
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(scope))
            .send()
    };
    for path in ["/compat/upvest/auth/token", "/auth/token"] {
        let granted =
            expect_status(ask(path, "users:read users:admin").await.unwrap(), StatusCode::OK).await;
        assert_eq!(granted["scope"], "users:read users:admin", "{path}");
        let access = granted["access_token"].as_str().unwrap();
        let made = app
            .request_as(access, Method::POST, &format!("{BASE}/users"))
            .header("idempotency-key", key())
            .json(&karl());
        assert_eq!(made.send().await.unwrap().status(), StatusCode::OK, "{path}");
        let too_much =
            expect_status(ask(path, "webhooks:admin").await.unwrap(), StatusCode::BAD_REQUEST)
                .await;
        assert_eq!(too_much["error"], "invalid_scope");
    }
    let upvest = expect_status(
        ask("/compat/upvest/auth/token", "users:read").await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(upvest["token_type"], "bearer");
}

/// The platform's own signing helper against the dialect, unchanged: its token request at the
/// root, its signatures and its idempotency keys.
#[tokio::test]
async fn the_platforms_signing_helper_drives_the_dialect() {
    let app = TestApp::spawn().await;
    let python =
        roster_testkit::python_with("upvest-helper", "upvest-investment-api[requests-auth]==0.0.1");
    let args = vec![app.url(""), app.token.clone()];
    let stdout = roster_testkit::run_script(python, "upvest_helper_flow.py", args).await;
    assert!(stdout.ends_with("upvest helper flow: all steps passed\n"), "{stdout}");
}

#[tokio::test]
async fn webhooks_are_the_platforms_subscriptions_and_deliver_its_seven_events() {
    let app = TestApp::spawn_with(|config| config.webhooks.allow_private_targets = true).await;
    let mut receiver = crate::native::webhooks::Receiver::start(&[]).await;
    let body = json!({ "title": "User webhook", "url": receiver.url, "type": ["USER"],
                       "config": { "delay": "5s", "max_package_size": 10240 } });
    let made = call(&app, Method::POST, "/webhooks").json(&body).send().await.unwrap();
    let made = expect_status(made, StatusCode::CREATED).await;
    let mut members: Vec<&str> = made.as_object().unwrap().keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(
        members,
        ["config", "created_at", "enabled", "id", "title", "type", "updated_at", "url"]
    );
    assert_eq!(
        (&made["enabled"], &made["type"], &made["config"]),
        (&json!(false), &body["type"], &body["config"])
    );
    let hook = id(&made).to_owned();
    let native = expect_status(
        app.get(&format!("/v1/webhooks/{hook}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!((&native["format"], &native["title"]), (&json!("upvest"), &json!("User webhook")));
    let listed =
        expect_status(call(&app, Method::GET, "/webhooks").send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(listed["meta"], json!({ "offset": 0, "limit": 100, "count": 1, "total_count": 1 }));
    let bad = call(&app, Method::POST, "/webhooks")
        .json(&json!({ "title": "x", "url": "ftp://example.com" }));
    assert!(
        problem(bad.send().await.unwrap(), StatusCode::BAD_REQUEST, "bad_request")
            .await
            .contains("url")
    );
    let enabled =
        call(&app, Method::PATCH, &format!("/webhooks/{hook}")).json(&json!({ "enabled": true }));
    let enabled = expect_status(enabled.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (&enabled["enabled"], &enabled["title"], &enabled["config"]),
        (&json!(true), &json!("User webhook"), &body["config"])
    );

    // Each change, then its delivery: {"payload": [event]}, the event exactly as the platform has it.
    let mut next = async |expected: &str| {
        let delivery = receiver.next().await.json();
        let event = &delivery["payload"][0];
        assert_eq!(delivery["payload"].as_array().unwrap().len(), 1, "{delivery}");
        let mut members: Vec<&str> =
            event.as_object().unwrap().keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["created_at", "id", "object", "type", "webhook_id"], "{event}");
        assert_eq!(
            (event["type"].as_str().unwrap(), &event["webhook_id"]),
            (expected, &json!(hook)),
            "{event}"
        );
        event["object"].clone()
    };
    let karl =
        expect_status(create(&app, &key(), &karl()).send().await.unwrap(), StatusCode::OK).await;
    let user_id = id(&karl).to_owned();
    assert_eq!(next("USER.CREATED").await["id"], json!(user_id));
    let change = |body: Value| {
        call(&app, Method::POST, &format!("/users/{user_id}/data_change_requests"))
            .json(&body)
            .send()
    };
    assert_eq!(
        change(json!({ "last_name": "Schmitt" })).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(next("USER.DATA_CHANGED").await["last_name"], "Schmitt");
    assert_eq!(
        change(json!({ "birth_date": "2999-01-01" })).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let failed = next("USER.DATA_CHANGE_FAILED").await;
    assert_eq!(failed["user_id"], json!(user_id));
    assert!(failed["reason"].as_str().unwrap().starts_with("birth_date"), "{failed}");
    for (action, expected) in [("deactivate", "USER.DEACTIVATED"), ("activate", "USER.ACTIVATED")] {
        let moved = app.post(&format!("/v1/users/{user_id}/{action}")).send().await.unwrap();
        assert_eq!(moved.status(), StatusCode::OK);
        assert_eq!(
            next(expected).await["status"],
            if action == "activate" { "ACTIVE" } else { "INACTIVE" }
        );
    }
    let gone = call(&app, Method::DELETE, &format!("/users/{user_id}")).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::ACCEPTED);
    next("USER.OFFBOARDING_INITIATED").await;
    assert_eq!(next("USER.OFFBOARDED").await["status"], "OFFBOARDED");

    let deleted = call(&app, Method::DELETE, &format!("/webhooks/{hook}")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let again = call(&app, Method::GET, &format!("/webhooks/{hook}")).send().await.unwrap();
    problem(again, StatusCode::NOT_FOUND, "not_found").await;
}
