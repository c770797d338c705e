//! The ZITADEL dialect: the User Service v2 over Connect and over the REST gateway paths, on the
//! same users as `/v1`, with ZITADEL's preconditions, list queries and error shapes.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

const SERVICE: &str = "/compat/zitadel/zitadel.user.v2.UserService";

/// A Connect call with `token`; returns the status and body.
async fn connect_as(app: &TestApp, token: &str, method: &str, body: Value) -> (StatusCode, Value) {
    let request = app.request_as(token, Method::POST, &format!("{SERVICE}/{method}")).json(&body);
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn connect(app: &TestApp, method: &str, body: Value) -> (StatusCode, Value) {
    connect_as(app, &app.token, method, body).await
}

/// A Connect call that must succeed.
async fn ok(app: &TestApp, method: &str, body: Value) -> Value {
    let (status, body) = connect(app, method, body).await;
    assert_eq!(status, StatusCode::OK, "{method}: {body}");
    body
}

/// A Connect call that must fail with `code`.
async fn fails(app: &TestApp, method: &str, body: Value, status: StatusCode, code: &str) -> String {
    let (actual, body) = connect(app, method, body).await;
    assert_eq!((actual, body["code"].as_str()), (status, Some(code)), "{method}: {body}");
    body["message"].as_str().unwrap().to_owned()
}

async fn rest(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.request(method, &format!("/compat/zitadel{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn ada() -> Value {
    json!({
        "username": "ada",
        "organizationId": null,
        "human": {
            "profile": { "givenName": "Ada", "familyName": "Lovelace", "displayName": "Ada Lovelace", "preferredLanguage": "en", "gender": "GENDER_FEMALE" },
            "email": { "email": "ada@example.com", "isVerified": true },
            "phone": { "phone": "+442079460018" },
            "password": { "password": { "password": "correct horse battery staple", "changeRequired": false } },
        },
    })
}

async fn create(app: &TestApp, body: Value) -> String {
    ok(app, "CreateUser", body).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn connect_and_rest_serve_the_same_users() {
    let app = TestApp::spawn().await;
    let created = ok(&app, "CreateUser", ada()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["creationDate"].is_string());

    let (status, got) = rest(&app, Method::GET, &format!("/v2/users/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let user = &got["user"];
    assert_eq!(user["userId"], json!(id));
    assert_eq!(user["state"], "USER_STATE_ACTIVE");
    assert_eq!((&user["username"], &user["preferredLoginName"]), (&json!("ada"), &json!("ada")));
    assert_eq!(user["human"]["profile"]["givenName"], "Ada");
    assert_eq!(user["human"]["profile"]["gender"], "GENDER_FEMALE");
    assert_eq!(user["human"]["email"], json!({ "email": "ada@example.com", "isVerified": true }));
    assert_eq!(user["human"]["phone"], json!({ "phone": "+442079460018", "isVerified": false }));
    assert_eq!(user["details"]["sequence"], "1", "64-bit numbers are strings");
    let native =
        expect_status(app.get(&format!("/v1/users/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(user["details"]["resourceOwner"], native["organization_id"]);
    assert_eq!(native["name"]["family"], "Lovelace");
    assert_eq!(native["password"]["set"], true);
    let via_connect = ok(&app, "GetUserByID", json!({ "user_id": id })).await;
    assert_eq!(via_connect, got, "both transports, snake_case accepted");

    // AddHumanUser over REST answers 201; machine users have a machine block.
    let body = json!({
        "username": "grace", "profile": { "givenName": "Grace", "familyName": "Hopper" },
        "email": { "email": "grace@example.com" }, "metadata": [{ "key": "team", "value": "Y29ib2w=" }],
    });
    let (status, added) = rest(&app, Method::POST, "/v2/users/human", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["details"]["sequence"], "1");
    let grace = added["userId"].as_str().unwrap();
    let meta = ok(&app, "ListUserMetadata", json!({ "userId": grace })).await;
    assert_eq!(meta["metadata"], json!([{ "key": "team", "value": "Y29ib2w=" }]));
    let bot =
        create(&app, json!({ "machine": { "name": "ci-bot", "description": "builds" } })).await;
    let got = ok(&app, "GetUserByID", json!({ "userId": bot })).await;
    assert_eq!(
        got["user"]["machine"],
        json!({ "name": "ci-bot", "description": "builds", "hasSecret": false, "accessTokenType": "ACCESS_TOKEN_TYPE_BEARER" })
    );
    assert_eq!(got["user"]["username"], "ci-bot");
    let secret = ok(&app, "AddSecret", json!({ "userId": bot })).await;
    assert!(secret["clientSecret"].as_str().unwrap().len() > 20);
    fails(
        &app,
        "AddSecret",
        json!({ "userId": id }),
        StatusCode::BAD_REQUEST,
        "failed_precondition",
    )
    .await;
}

#[tokio::test]
async fn lifecycle_follows_zitadel_preconditions() {
    let app = TestApp::spawn().await;
    let id = create(&app, ada()).await;
    let user = json!({ "userId": id });
    let bad = StatusCode::BAD_REQUEST;
    fails(&app, "ReactivateUser", user.clone(), bad, "failed_precondition").await;
    ok(&app, "DeactivateUser", user.clone()).await;
    fails(&app, "DeactivateUser", user.clone(), bad, "failed_precondition").await;
    fails(&app, "LockUser", user.clone(), bad, "failed_precondition").await;
    let reactivated = ok(&app, "ReactivateUser", user.clone()).await;
    assert_eq!(reactivated["details"]["sequence"], "3");
    ok(&app, "LockUser", user.clone()).await;
    fails(&app, "LockUser", user.clone(), bad, "failed_precondition").await;
    let (status, body) =
        rest(&app, Method::POST, &format!("/v2/users/{id}/lock"), Some(json!({}))).await;
    assert_eq!((status, &body["code"]), (bad, &json!(9)), "the gateway's numeric code: {body}");
    ok(&app, "UnlockUser", user.clone()).await;
    fails(&app, "UnlockUser", user.clone(), bad, "failed_precondition").await;
    let states: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["type"] == "user.state_changed")
        .map(|e| e["data"]["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["inactive", "active", "locked", "active"]);

    let (status, _) = rest(&app, Method::DELETE, &format!("/v2/users/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    for method in ["GetUserByID", "DeactivateUser", "DeleteUser"] {
        fails(&app, method, user.clone(), StatusCode::NOT_FOUND, "not_found").await;
    }
    let password = json!({ "userId": id, "newPassword": { "password": "x23456789" } });
    fails(&app, "SetPassword", password, StatusCode::NOT_FOUND, "not_found").await;
    let listed = ok(&app, "ListUsers", json!({})).await;
    assert_eq!(listed["details"]["totalResult"], "0");
}

#[tokio::test]
async fn list_users_compiles_queries_into_the_core_filter() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for (name, family) in [("anna", "Ash"), ("bob", "Bell"), ("cleo", "Carr"), ("dora", "Dunn")] {
        let body = json!({ "username": name, "human": { "profile": { "givenName": name, "familyName": family }, "email": { "email": format!("{name}@example.com") } } });
        ids.push(create(&app, body).await);
    }
    create(&app, json!({ "machine": { "name": "bot" } })).await;
    ok(&app, "LockUser", json!({ "userId": ids[1] })).await;
    let names = |page: &Value| -> Vec<String> {
        page["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |body: Value| ok(&app, "ListUsers", body);

    let all = list(json!({})).await;
    assert_eq!(names(&all), ["bot", "dora", "cleo", "bob", "anna"], "newest first by default");
    assert_eq!(all["details"]["totalResult"], "5");
    let page = list(json!({ "query": { "offset": "1", "limit": 2, "asc": true }, "sortingColumn": "USER_FIELD_NAME_USER_NAME" })).await;
    assert_eq!(
        (names(&page), &page["details"]["totalResult"]),
        (vec!["bob".to_owned(), "bot".to_owned()], &json!("5"))
    );
    let humans = list(json!({ "queries": [{ "typeQuery": { "type": "TYPE_HUMAN" } }, { "stateQuery": { "state": "USER_STATE_ACTIVE" } }], "query": { "asc": true } })).await;
    assert_eq!(names(&humans), ["anna", "cleo", "dora"]);
    let text = list(json!({ "queries": [{ "orQuery": { "queries": [
        { "userNameQuery": { "userName": "AN", "method": "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE" } },
        { "emailQuery": { "emailAddress": "dora@example.com" } },
    ] } }, { "notQuery": { "query": { "lastNameQuery": { "lastName": "nn", "method": "TEXT_QUERY_METHOD_ENDS_WITH" } } } }] })).await;
    assert_eq!(names(&text), ["anna"]);
    let by_id = list(
        json!({ "queries": [{ "inUserIdsQuery": { "userIds": [ids[2], "259242039378444291"] } }] }),
    )
    .await;
    assert_eq!(names(&by_id), ["cleo"]);
    let none = list(json!({ "queries": [{ "inUserEmailsQuery": { "userEmails": [] } }] })).await;
    assert_eq!(none["details"]["totalResult"], "0");

    fails(
        &app,
        "ListUsers",
        json!({ "query": { "limit": 1001 } }),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    )
    .await;
    fails(
        &app,
        "ListUsers",
        json!({ "sortingColumn": "USER_FIELD_NAME_NICK_NAME" }),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    )
    .await;
    fails(
        &app,
        "ListUsers",
        json!({ "queries": [{}] }),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    )
    .await;
}

#[tokio::test]
async fn updates_passwords_and_metadata() {
    let app = TestApp::spawn().await;
    let id = create(&app, ada()).await;
    let update = json!({ "userId": id, "human": { "profile": { "givenName": "Augusta" }, "email": { "email": "augusta@example.com", "isVerified": false } } });
    let (status, _) = rest(&app, Method::PATCH, &format!("/v2/users/{id}"), Some(update)).await;
    assert_eq!(status, StatusCode::OK);
    let user = ok(&app, "GetUserByID", json!({ "userId": id })).await["user"].clone();
    assert_eq!(
        (&user["human"]["profile"]["givenName"], &user["human"]["profile"]["familyName"]),
        (&json!("Augusta"), &json!("Lovelace"))
    );
    assert_eq!(
        user["human"]["email"],
        json!({ "email": "augusta@example.com", "isVerified": false })
    );
    let legacy = json!({ "userId": id, "profile": { "nickName": "Countess" } });
    let (status, body) =
        rest(&app, Method::PUT, &format!("/v2/users/human/{id}"), Some(legacy)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let wrong = json!({ "userId": id, "newPassword": { "password": "new password 1" }, "currentPassword": "wrong" });
    fails(&app, "SetPassword", wrong, StatusCode::BAD_REQUEST, "failed_precondition").await;
    let right = json!({ "userId": id, "newPassword": { "password": "new password 1", "changeRequired": true }, "currentPassword": "correct horse battery staple" });
    ok(&app, "SetPassword", right).await;
    let user = ok(&app, "GetUserByID", json!({ "userId": id })).await["user"].clone();
    assert_eq!(user["human"]["passwordChangeRequired"], true);

    ok(&app, "SetUserMetadata", json!({ "userId": id, "metadata": [{ "key": "tier", "value": "Z29sZA==" }, { "key": "team", "value": "YQ==" }] })).await;
    ok(&app, "DeleteUserMetadata", json!({ "userId": id, "keys": ["team"] })).await;
    let meta = ok(&app, "ListUserMetadata", json!({ "userId": id })).await;
    assert_eq!(meta["metadata"], json!([{ "key": "tier", "value": "Z29sZA==" }]));
    let native =
        expect_status(app.get(&format!("/v1/users/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(native["attributes"], json!({ "tier": ["gold"] }));
    fails(
        &app,
        "SetUserMetadata",
        json!({ "userId": id, "metadata": [{ "key": "k", "value": "not base64!" }] }),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    )
    .await;

    ok(&app, "RemovePhone", json!({ "userId": id })).await;
    fails(&app, "RemovePhone", json!({ "userId": id }), StatusCode::NOT_FOUND, "not_found").await;
    ok(&app, "SetPhone", json!({ "userId": id, "phone": "+4930901820", "isVerified": true })).await;
    let user = ok(&app, "GetUserByID", json!({ "userId": id })).await["user"].clone();
    assert_eq!(user["human"]["phone"], json!({ "phone": "+4930901820", "isVerified": true }));
}

#[tokio::test]
async fn errors_use_zitadel_codes_and_write_nothing() {
    let app = TestApp::spawn().await;
    let id = create(&app, ada()).await;
    let anonymous =
        app.http.post(app.url(&format!("{SERVICE}/GetUserByID"))).json(&json!({ "userId": id }));
    let response = anonymous.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "unauthenticated");
    let issued =
        app.post("/v1/tokens").json(&json!({ "name": "reader", "scopes": ["users:read"] }));
    let reader = expect_status(issued.send().await.unwrap(), StatusCode::CREATED).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = connect_as(&app, &reader, "GetUserByID", json!({ "userId": id })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = connect_as(&app, &reader, "LockUser", json!({ "userId": id })).await;
    assert_eq!((status, &body["code"]), (StatusCode::FORBIDDEN, &json!("permission_denied")));
    let (status, body) =
        connect_as(&app, &app.decoy_token, "GetUserByID", json!({ "userId": id })).await;
    assert_eq!((status, &body["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));

    let bad = StatusCode::BAD_REQUEST;
    let raw = app
        .post(&format!("{SERVICE}/CreateUser"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), bad);
    assert_eq!(raw.json::<Value>().await.unwrap()["code"], "invalid_argument");
    let both = json!({ "username": "x", "human": { "profile": { "givenName": "X" } }, "machine": { "name": "x" } });
    fails(&app, "CreateUser", both, bad, "invalid_argument").await;
    let message = fails(
        &app,
        "CreateUser",
        json!({ "username": "x", "human": {}, "nickname": "x" }),
        bad,
        "invalid_argument",
    )
    .await;
    assert!(message.contains("nickname"), "{message}");
    let message =
        fails(&app, "CreateUser", json!({ "username": 7, "human": {} }), bad, "invalid_argument")
            .await;
    assert!(message.starts_with("username"), "{message}");
    fails(
        &app,
        "CreateUser",
        json!({ "username": "ada", "human": {} }),
        StatusCode::CONFLICT,
        "already_exists",
    )
    .await;
    let send = json!({ "username": "y", "human": { "email": { "email": "y@example.com", "sendCode": { "urlTemplate": "https://x" } } } });
    fails(&app, "CreateUser", send, bad, "failed_precondition").await;
    let message = fails(
        &app,
        "AddKey",
        json!({ "userId": id }),
        StatusCode::NOT_IMPLEMENTED,
        "unimplemented",
    )
    .await;
    assert!(message.contains("AddKey"), "{message}");
    fails(&app, "NoSuchMethod", json!({}), StatusCode::NOT_IMPLEMENTED, "unimplemented").await;
    fails(
        &app,
        "GetUserByID",
        json!({ "userId": "259242039378444291" }),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed = ok(&app, "ListUsers", json!({})).await;
    assert_eq!(listed["details"]["totalResult"], "1", "no failed call created a user");
}

#[tokio::test]
async fn hashed_passwords_are_imported_with_change_required() {
    let app = TestApp::spawn().await;
    // bcrypt of "imported secret 1".
    let hash = "$2b$04$uw6Etf9jen14yCon2fSwvuHr/jDDUmqC5EbY2Ktoq2pge01P4zPlC";
    let body = json!({
        "username": "imported", "profile": { "givenName": "I", "familyName": "M" },
        "email": { "email": "imported@example.com", "isVerified": true },
        "hashedPassword": { "hash": hash, "changeRequired": true },
    });
    let added = ok(&app, "AddHumanUser", body).await;
    let id = added["userId"].as_str().unwrap();
    let user = ok(&app, "GetUserByID", json!({ "userId": id })).await["user"].clone();
    assert_eq!(user["human"]["passwordChangeRequired"], true);
    let verify = app.post(&format!("/v1/users/{id}/password/verify"));
    let verified = verify.json(&json!({ "password": "imported secret 1" })).send().await.unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    let both = json!({
        "username": "x", "profile": { "givenName": "X", "familyName": "Y" }, "email": { "email": "x@example.com" },
        "password": { "password": "some password 1" }, "hashedPassword": { "hash": hash },
    });
    fails(&app, "AddHumanUser", both, StatusCode::BAD_REQUEST, "invalid_argument").await;
}

#[tokio::test]
async fn the_official_python_sdk_runs_a_realistic_flow() {
    let app = TestApp::spawn().await;
    let python = roster_testkit::python_with("zitadel-sdk", "zitadel-client==4.1.9");
    let args = vec![app.url("/compat/zitadel"), app.token.clone()];
    let stdout = roster_testkit::run_script(python, "zitadel_sdk_flow.py", args).await;
    assert!(stdout.ends_with("zitadel-client flow: all steps passed\n"), "{stdout}");
}

#[tokio::test]
async fn returned_codes_verify_email_and_phone_once_before_they_expire() {
    let app = TestApp::spawn().await;
    let body = json!({ "username": "vera", "human": {
        "profile": { "givenName": "Vera", "familyName": "Fy" },
        "email": { "email": "vera@example.com", "returnCode": {} },
    } });
    let created = ok(&app, "CreateUser", body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let code = created["emailCode"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6);
    let email = |u: &Value| u["user"]["human"]["email"]["isVerified"].clone();
    assert_eq!(email(&ok(&app, "GetUserByID", json!({ "userId": id })).await), false);
    let wrong = json!({ "userId": id, "verificationCode": "AAAAAA" });
    fails(&app, "VerifyEmail", wrong, StatusCode::BAD_REQUEST, "invalid_argument").await;
    ok(&app, "VerifyEmail", json!({ "userId": id, "verificationCode": code })).await;
    assert_eq!(email(&ok(&app, "GetUserByID", json!({ "userId": id })).await), true);
    let again = json!({ "userId": id, "verificationCode": code });
    fails(&app, "VerifyEmail", again, StatusCode::BAD_REQUEST, "failed_precondition").await;

    // A phone number set with returnCode, verified over the REST paths; a code runs out.
    fails(
        &app,
        "ResendPhoneCode",
        json!({ "userId": id, "returnCode": {} }),
        StatusCode::BAD_REQUEST,
        "failed_precondition",
    )
    .await;
    let set = json!({ "phone": "+4930901820", "returnCode": {} });
    let (status, body) =
        rest(&app, Method::POST, &format!("/v2/users/{id}/phone"), Some(set)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = body["verificationCode"].as_str().unwrap().to_owned();
    let resent = ok(&app, "ResendPhoneCode", json!({ "userId": id, "returnCode": {} })).await;
    let code = resent["verificationCode"].as_str().unwrap().to_owned();
    if code != first {
        let stale = json!({ "verificationCode": first });
        let (status, _) =
            rest(&app, Method::POST, &format!("/v2/users/{id}/phone/verify"), Some(stale)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a resent code replaces the first");
    }
    app.clock.advance(time::Duration::minutes(61));
    let late = json!({ "verificationCode": code });
    let (status, body) =
        rest(&app, Method::POST, &format!("/v2/users/{id}/phone/verify"), Some(late)).await;
    assert_eq!((status, &body["code"]), (StatusCode::BAD_REQUEST, &json!(9)), "expired: {body}");
    let fresh = ok(&app, "ResendPhoneCode", json!({ "userId": id, "returnCode": {} })).await;
    let code = fresh["verificationCode"].as_str().unwrap();
    ok(&app, "VerifyPhone", json!({ "userId": id, "verificationCode": code })).await;
    let user = ok(&app, "GetUserByID", json!({ "userId": id })).await;
    assert_eq!(user["user"]["human"]["phone"]["isVerified"], true);
    // Codes never leave in events.
    let events = app.events().await;
    assert!(events.iter().any(|e| e["type"] == "user.verification_code_issued"));
    assert!(!serde_json::to_string(&events).unwrap().contains(code));
}

#[tokio::test]
async fn a_caller_chosen_user_id_is_the_id_on_every_surface() {
    let app = TestApp::spawn().await;
    let chosen = "0b7c3a1e-5d2f-4c8a-9e61-3f0d2b4a7c55";
    let body = json!({ "userId": chosen, "username": "kept", "human": { "profile": { "givenName": "K", "familyName": "T" } } });
    assert_eq!(ok(&app, "CreateUser", body.clone()).await["id"], chosen);
    let native = app.get(&format!("/v1/users/{chosen}")).send().await.unwrap();
    assert_eq!(expect_status(native, StatusCode::OK).await["username"], "kept");
    let scim = app.get(&format!("/scim/v2/Users/{chosen}")).send().await.unwrap();
    assert_eq!(expect_status(scim, StatusCode::OK).await["userName"], "kept");
    let mut again = body;
    again["username"] = json!("other");
    let message = fails(&app, "CreateUser", again, StatusCode::CONFLICT, "already_exists").await;
    assert!(message.contains("userId"), "{message}");
    // The same id in another tenant is another user.
    let (status, body) = connect_as(
        &app,
        &app.decoy_token,
        "CreateUser",
        json!({ "userId": chosen, "username": "kept", "human": {} }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_password_reset_code_sets_a_new_password_once() {
    let app = TestApp::spawn().await;
    let id = create(&app, ada()).await;
    let send = json!({ "userId": id, "sendLink": {} });
    fails(&app, "PasswordReset", send, StatusCode::BAD_REQUEST, "failed_precondition").await;
    let (status, body) = rest(
        &app,
        Method::POST,
        &format!("/v2/users/{id}/password_reset"),
        Some(json!({ "returnCode": {} })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = body["verificationCode"].as_str().unwrap().to_owned();
    let reset = |code: &str, password: &str| json!({ "userId": id, "newPassword": { "password": password }, "verificationCode": code });
    fails(
        &app,
        "SetPassword",
        reset("AAAAAA", "a new password 2"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    )
    .await;
    ok(&app, "SetPassword", reset(&code, "a new password 2")).await;
    fails(
        &app,
        "SetPassword",
        reset(&code, "a third password"),
        StatusCode::BAD_REQUEST,
        "failed_precondition",
    )
    .await;
    let verify = |password: &str| {
        app.post(&format!("/v1/users/{id}/password/verify"))
            .json(&json!({ "password": password }))
            .send()
    };
    assert_eq!(verify("a new password 2").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        verify("correct horse battery staple").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let both = json!({ "userId": id, "newPassword": { "password": "x2345678" }, "verificationCode": code, "currentPassword": "a new password 2" });
    fails(&app, "SetPassword", both, StatusCode::BAD_REQUEST, "invalid_argument").await;
}

/// Every RPC is one typed operation: the audit trail and the metrics name it (not the shared
/// Connect route), the audit records the user it was about, and its scope is its own.
#[tokio::test]
async fn each_rpc_is_audited_and_counted_by_name_with_its_user() {
    let app = TestApp::spawn().await;
    let id = create(&app, ada()).await;
    ok(&app, "GetUserByID", json!({ "userId": id })).await;
    ok(&app, "DeactivateUser", json!({ "userId": id })).await;
    let (status, _) = rest(&app, Method::POST, &format!("/v2/users/{id}/reactivate"), None).await;
    assert_eq!(status, StatusCode::OK);

    let page = app.get("/v1/audit?limit=1000").send().await.unwrap();
    let entries = expect_status(page, StatusCode::OK).await["data"].as_array().unwrap().clone();
    for (operation, about) in [
        (format!("POST {SERVICE}/GetUserByID"), Some(&id)),
        (format!("POST {SERVICE}/DeactivateUser"), Some(&id)),
        ("POST /compat/zitadel/v2/users/{userId}/reactivate".to_owned(), Some(&id)),
        (format!("POST {SERVICE}/CreateUser"), None),
    ] {
        let entry = entries
            .iter()
            .find(|e| e["operation"] == operation.as_str())
            .unwrap_or_else(|| panic!("no `{operation}` in {entries:#?}"));
        assert_eq!(entry["resource_id"].as_str(), about.map(String::as_str), "{operation}");
    }
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("route=\"{SERVICE}/GetUserByID\"")), "{metrics}");

    // A read-only token reads, and is refused every write, whichever RPC.
    let issued = app.post("/v1/tokens").json(&json!({ "name": "r", "scopes": ["users:read"] }));
    let reader = expect_status(issued.send().await.unwrap(), StatusCode::CREATED).await;
    let reader = reader["token"].as_str().unwrap();
    let (status, _) = connect_as(&app, reader, "GetUserByID", json!({ "userId": id })).await;
    assert_eq!(status, StatusCode::OK);
    for method in ["LockUser", "RemovePhone", "AddSecret", "SetUserMetadata"] {
        let (status, body) = connect_as(&app, reader, method, json!({ "userId": id })).await;
        assert_eq!((status, &body["code"]), (StatusCode::FORBIDDEN, &json!("permission_denied")));
    }
}

/// Reads sent as `POST` are not writes to the rate limits; writes are, whatever the transport.
#[tokio::test]
async fn rpc_reads_are_not_rate_limited_as_writes() {
    // Two writes a second: the decoy's creation and this test's, then reads only.
    let limits = roster_http::RateLimits { writes_per_second: 2, verifications_per_second: 50 };
    let app = TestApp::spawn_with(|c| c.rate_limits = limits).await;
    let id = create(&app, ada()).await;
    for _ in 0..20 {
        ok(&app, "GetUserByID", json!({ "userId": id })).await;
        ok(&app, "ListUsers", json!({})).await;
    }
    let writes = (0..5).map(|_| {
        connect(
            &app,
            "SetUserMetadata",
            json!({ "userId": id, "metadata": [{ "key": "k", "value": "dg==" }] }),
        )
    });
    let answers = futures::future::join_all(writes).await;
    let limited = answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(limited >= 3, "{answers:?}");
    let (_, body) = answers.iter().find(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).unwrap();
    assert_eq!(body["code"], "resource_exhausted");
}

/// An application migrating off ZITADEL keeps ZITADEL's ids (numeric) or its own: a `userId`
/// that is not a UUID becomes the user's alias, the user's id in every later RPC, REST path and
/// list filter of the dialect, unique per tenant, and gone with the user.
#[tokio::test]
async fn foreign_user_ids_are_kept_as_aliases_across_the_dialect() {
    let app = TestApp::spawn().await;
    for chosen in ["163840776835432705", "own-7f3a"] {
        let body = json!({ "userId": chosen, "username": format!("u{chosen}"), "human": { "profile": { "givenName": "K", "familyName": "T" }, "email": { "email": format!("{chosen}@example.org") } } });
        assert_eq!(ok(&app, "CreateUser", body.clone()).await["id"], chosen);
        let got = ok(&app, "GetUserByID", json!({ "userId": chosen })).await;
        assert_eq!(got["user"]["userId"], chosen);
        let (status, rest_got) =
            rest(&app, Method::GET, &format!("/v2/users/{chosen}"), None).await;
        assert_eq!((status, &rest_got["user"]["userId"]), (StatusCode::OK, &json!(chosen)));
        let (status, _) = rest(&app, Method::POST, &format!("/v2/users/{chosen}/lock"), None).await;
        assert_eq!(status, StatusCode::OK);
        let query = json!({ "queries": [{ "inUserIdsQuery": { "userIds": [chosen] } }] });
        let listed = ok(&app, "ListUsers", query).await;
        assert_eq!(listed["details"]["totalResult"], "1", "{listed}");
        assert_eq!(listed["result"][0]["userId"], chosen);
        assert_eq!(listed["result"][0]["state"], "USER_STATE_LOCKED");

        // Natively the user has its Roster id and shows the alias.
        let filter = format!("aliases.zitadel eq \"{chosen}\"");
        let page = app.get("/v1/users").query(&[("filter", filter.as_str())]).send().await.unwrap();
        let page = expect_status(page, StatusCode::OK).await;
        assert_eq!(page["data"][0]["aliases"]["zitadel"], chosen, "{page}");
        assert_ne!(page["data"][0]["id"], chosen);

        let mut again = body.clone();
        again["username"] = json!(format!("other{chosen}"));
        again["human"]["email"]["email"] = json!(format!("other{chosen}@example.org"));
        let message =
            fails(&app, "CreateUser", again.clone(), StatusCode::CONFLICT, "already_exists").await;
        assert!(message.contains("userId"), "{message}");
        let (status, _) = connect_as(&app, &app.decoy_token, "CreateUser", again.clone()).await;
        assert_eq!(status, StatusCode::OK, "another tenant's ids are its own");

        ok(&app, "DeleteUser", json!({ "userId": chosen })).await;
        fails(&app, "GetUserByID", json!({ "userId": chosen }), StatusCode::NOT_FOUND, "not_found")
            .await;
        assert_eq!(ok(&app, "CreateUser", again).await["id"], chosen, "erased with its user");
    }
}
