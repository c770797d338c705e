//! The OAuth2 client-credentials grant at `/auth/token`: an API token is the client, the access
//! token works on every surface with at most the client's scopes until it expires or the client
//! is revoked; HTTP Basic with an API token as the password authenticates as the token.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, user};
use serde_json::{Value, json};

/// A token of the main tenant: its id and secret.
async fn client(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let body = json!({ "name": "client", "scopes": scopes });
    let issued = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    (issued["id"].as_str().unwrap().to_owned(), issued["token"].as_str().unwrap().to_owned())
}

async fn token_request(
    app: &TestApp,
    form: &str,
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.unwrap()
}

async fn granted(app: &TestApp, form: &str, basic: Option<(&str, &str)>) -> Value {
    let response = token_request(app, form, basic).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    expect_status(response, StatusCode::OK).await
}

async fn refused(
    app: &TestApp,
    form: &str,
    basic: Option<(&str, &str)>,
    status: StatusCode,
    error: &str,
) {
    let response = token_request(app, form, basic).await;
    let body = expect_status(response, status).await;
    assert_eq!(body["error"], error, "{form}: {body}");
}

#[tokio::test]
async fn a_token_is_a_client_and_its_access_tokens_work_on_every_surface() {
    let app = TestApp::spawn().await;
    let (id, secret) = client(&app, &["users:read", "users:write"]).await;
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let access = granted(&app, &form, None).await;
    assert_eq!(
        (&access["token_type"], &access["scope"]),
        (&json!("Bearer"), &json!("users:read users:write"))
    );
    assert_eq!(access["expires_in"], 3600);
    let bearer = access["access_token"].as_str().unwrap().to_owned();
    assert!(bearer.starts_with("rat_"), "{bearer}");

    for path in ["/v1/users", "/scim/v2/Users"] {
        let response = app.request_as(&bearer, Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let zitadel = app.request_as(
        &bearer,
        Method::POST,
        "/compat/zitadel/zitadel.user.v2.UserService/ListUsers",
    );
    assert_eq!(zitadel.json(&json!({})).send().await.unwrap().status(), StatusCode::OK);
    let created = app
        .request_as(&bearer, Method::POST, "/v1/users")
        .json(&user("by-access"))
        .send()
        .await
        .unwrap();
    expect_status(created, StatusCode::CREATED).await;
    // Audited as the client token.
    let audit =
        expect_status(app.get("/v1/audit?limit=1000").send().await.unwrap(), StatusCode::OK).await;
    let create = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["operation"] == "POST /v1/users")
        .cloned()
        .unwrap();
    assert_eq!(create["token_id"], id.as_str());

    // Credentials in Basic, and a scope that narrows.
    let narrow =
        granted(&app, "grant_type=client_credentials&scope=users:read", Some((&id, &secret))).await;
    assert_eq!(narrow["scope"], "users:read");
    let reader = narrow["access_token"].as_str().unwrap();
    let write = app
        .request_as(reader, Method::POST, "/v1/users")
        .json(&user("refused"))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let read = app.request_as(reader, Method::GET, "/v1/users").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);

    // Revoking the client ends its access tokens at once.
    expect_status(
        app.delete(&format!("/v1/tokens/{id}")).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let after = app.request_as(&bearer, Method::GET, "/v1/users").send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn access_tokens_expire_and_cannot_be_forged_or_used_as_clients() {
    let app = TestApp::spawn().await;
    let (id, secret) = client(&app, &["users:read"]).await;
    let access = granted(
        &app,
        &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        None,
    )
    .await;
    let bearer = access["access_token"].as_str().unwrap().to_owned();
    // Another tenant's token does not read this tenant through a forged claim.
    let mut forged = bearer.clone().into_bytes();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        app.request_as(&forged, Method::GET, "/v1/users").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // An access token is not a client secret.
    refused(
        &app,
        &format!("grant_type=client_credentials&client_id={id}&client_secret={bearer}"),
        None,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;

    app.clock.advance(time::Duration::minutes(61));
    let expired = app.request_as(&bearer, Method::GET, "/v1/users").send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_token_requests_get_oauth_errors() {
    let app = TestApp::spawn().await;
    let (id, secret) = client(&app, &["users:read"]).await;
    let (other, _) = client(&app, &["users:read"]).await;
    let ok = format!("client_id={id}&client_secret={secret}");
    refused(
        &app,
        &format!("grant_type=password&{ok}"),
        None,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    refused(&app, &ok, None, StatusCode::BAD_REQUEST, "invalid_request").await;
    refused(
        &app,
        &format!("grant_type=client_credentials&{ok}&scope=users:write"),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    refused(
        &app,
        &format!("grant_type=client_credentials&{ok}&scope=system"),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    refused(
        &app,
        &format!("grant_type=client_credentials&client_id={other}&client_secret={secret}"),
        None,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    refused(
        &app,
        &format!("grant_type=client_credentials&client_id={id}&client_secret=rst_wrong"),
        None,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    refused(
        &app,
        "grant_type=client_credentials",
        None,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    refused(
        &app,
        &format!("grant_type=client_credentials&grant_type=client_credentials&{ok}"),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let response =
        token_request(&app, "grant_type=client_credentials", Some((&id, "rst_wrong"))).await;
    assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"roster\"");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A JSON object of strings is taken too (some platforms' clients send one); anything else
    // in it is refused.
    let json = |body: Value| app.http.post(app.url("/auth/token")).json(&body).send();
    let granted = json(
        json!({ "grant_type": "client_credentials", "client_id": id, "client_secret": secret }),
    );
    expect_status(granted.await.unwrap(), StatusCode::OK).await;
    let body =
        json(json!({ "grant_type": "client_credentials", "client_id": id, "client_secret": 7 }));
    let body = expect_status(body.await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"], "invalid_request");
    let xml = app
        .http
        .post(app.url("/auth/token"))
        .header("content-type", "application/xml")
        .body("<a/>");
    let xml = expect_status(xml.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(xml["error"], "invalid_request");
}

#[tokio::test]
async fn http_basic_with_a_token_as_the_password_authenticates() {
    let app = TestApp::spawn().await;
    for path in ["/v1/users", "/scim/v2/Users"] {
        let basic = app.http.get(app.url(path)).basic_auth("any-name", Some(&app.token));
        assert_eq!(basic.send().await.unwrap().status(), StatusCode::OK, "{path}");
        let wrong = app.http.get(app.url(path)).basic_auth("any-name", Some("rst_wrong"));
        assert_eq!(wrong.send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let garbage = base64::engine::general_purpose::STANDARD.encode("no colon here");
    let response = app
        .http
        .get(app.url("/v1/users"))
        .header("authorization", format!("Basic {garbage}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// A token may be bound to an application of its tenant; the binding is echoed, inherited by
/// the token's access tokens, checked on creation, and cleared with the application.
#[tokio::test]
async fn tokens_bound_to_an_application_pass_it_to_their_access_tokens() {
    let app = TestApp::spawn().await;
    let portal =
        app.post("/v1/applications").json(&json!({ "name": "Portal" })).send().await.unwrap();
    let portal = expect_status(portal, StatusCode::CREATED).await;
    let portal_id = portal["id"].as_str().unwrap();
    let body = json!({ "name": "portal", "scopes": ["users:read"], "application_id": portal_id });
    let issued = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(issued["application_id"], portal_id);
    let id = issued["id"].as_str().unwrap();
    let listed =
        expect_status(app.get(&format!("/v1/tokens/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(listed["application_id"], portal_id);

    let decoy_app = app
        .request_as(&app.decoy_token, Method::POST, "/v1/applications")
        .json(&json!({ "name": "D" }));
    let decoy_app = expect_status(decoy_app.send().await.unwrap(), StatusCode::CREATED).await;
    let other = json!({ "name": "x", "scopes": ["users:read"], "application_id": decoy_app["id"] });
    let problem = expect_status(
        app.post("/v1/tokens").json(&other).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "application_id", "another tenant's application");

    let secret = issued["token"].as_str().unwrap();
    let access = granted(
        &app,
        &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        None,
    )
    .await;
    assert!(access["access_token"].as_str().unwrap().starts_with("rat_"));
    let principal =
        app.directory.authenticate(access["access_token"].as_str().unwrap()).await.unwrap();
    assert_eq!(
        principal.application.map(|a| a.to_string()).as_deref(),
        Some(portal_id),
        "inherited"
    );

    expect_status(
        app.delete(&format!("/v1/applications/{portal_id}")).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let listed =
        expect_status(app.get(&format!("/v1/tokens/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(listed["application_id"], Value::Null, "cleared with the application");
}

/// The shared body reader refuses a DOCTYPE before it reads anything the document declares: an
/// entity bomb costs nothing (here at the token endpoint, which reads forms through it).
#[tokio::test]
async fn xml_bodies_with_a_doctype_are_refused_before_any_entity_is_expanded() {
    let app = TestApp::spawn().await;
    let mut entities = String::from(r#"<!ENTITY l0 "lol">"#);
    for i in 1..10 {
        let prev = format!("&l{};", i - 1);
        entities.push_str(&format!(r#"<!ENTITY l{i} "{}">"#, prev.repeat(10)));
    }
    let bomb = format!(r#"<?xml version="1.0"?><!DOCTYPE b [{entities}]><b>&l9;</b>"#);
    let external = r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
    for body in [bomb.as_str(), external] {
        let request =
            app.http.post(app.url("/auth/token")).header("content-type", "application/xml");
        let refused = expect_status(
            request.body(body.to_owned()).send().await.unwrap(),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(refused["error"], "invalid_request");
        assert!(refused["error_description"].as_str().unwrap().contains("DOCTYPE"), "{refused}");
    }
}
