//! Signed requests: a token that holds a public key must sign every request made with it or
//! with its access tokens — on every surface and at the token endpoint — with an HTTP Message
//! Signature over the request and a `content-digest` of its body; anything else is a 401 in the
//! surface's shape that writes nothing. The investment platform's own signing helper drives
//! signed requests too, in `compat/upvest.rs`.

use reqwest::{Method, StatusCode};
use roster_testkit::signing::{RequestSigner, Signing};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

use crate::surfaces::{SURFACES, refused};

/// A token of the main tenant holding `signer`'s public key: its id and secret.
async fn keyed_token(app: &TestApp, signer: &RequestSigner, scopes: &[&str]) -> (String, String) {
    let body = json!({ "name": "signed", "scopes": scopes, "public_key": signer.public_pem() });
    let issued = app.post("/v1/tokens").json(&body).send().await.unwrap();
    let issued = expect_status(issued, StatusCode::CREATED).await;
    assert_eq!(issued["public_key"], signer.public_pem());
    (issued["id"].as_str().unwrap().to_owned(), issued["token"].as_str().unwrap().to_owned())
}

fn now(app: &TestApp) -> i64 {
    use roster_core::Clock as _;
    app.clock.now().unix_timestamp()
}

/// `builder`'s request signed by `signer` as `how` says, then sent.
async fn send_signed(
    app: &TestApp,
    builder: reqwest::RequestBuilder,
    signer: &RequestSigner,
    how: Signing<'_>,
) -> reqwest::Response {
    let mut request = builder.build().unwrap();
    signer.sign(&mut request, how);
    app.http.execute(request).await.unwrap()
}

fn new_user(name: &str) -> Value {
    json!({ "username": name, "emails": [{ "value": format!("{name}@example.com") }] })
}

async fn user_count(app: &TestApp) -> usize {
    app.all_users(true).await.len()
}

#[tokio::test]
async fn a_public_key_is_taken_on_the_nist_curves_and_refused_otherwise() {
    let app = TestApp::spawn().await;
    let signer = RequestSigner::generate();
    let (id, _) = keyed_token(&app, &signer, &["users:read"]).await;
    let read =
        expect_status(app.get(&format!("/v1/tokens/{id}")).send().await.unwrap(), StatusCode::OK);
    assert_eq!(read.await["public_key"], signer.public_pem());
    let ed25519 = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
    for key in ["not a key", ed25519] {
        let body = json!({ "name": "x", "scopes": ["users:read"], "public_key": key });
        let response = app.post("/v1/tokens").json(&body).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], "public_key", "{problem}");
    }
    // A token without a key signs nothing, and a signature it sends anyway is not looked at.
    let plain = app.get("/v1/users").header("signature", "sig1=:AAAA:").send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_keyed_token_signs_every_request_on_every_surface() {
    let app = TestApp::spawn().await;
    let signer = RequestSigner::generate();
    let (_, token) = keyed_token(&app, &signer, &["users:read", "users:write"]).await;
    for (shape, path) in SURFACES {
        let body = json!({});
        let unsigned = app.request_as(&token, Method::POST, path).json(&body).send().await.unwrap();
        let refusal = refused(unsigned, StatusCode::UNAUTHORIZED, shape).await;
        assert!(refusal.to_string().contains("signature"), "{shape:?}: {refusal}");
    }
    let reads = [
        (Method::GET, "/v1/users?limit=5", None),
        (Method::GET, "/scim/v2/Users?count=5", None),
        (Method::POST, "/compat/zitadel/zitadel.user.v2.UserService/ListUsers", Some(json!({}))),
        (Method::POST, "/compat/zitadel/v2/users", Some(json!({}))),
        (Method::GET, "/compat/upvest/users?limit=5", None),
        (Method::GET, "/compat/transmit/v1/users?page_limit=5", None),
        (Method::POST, "/compat/mattr/v1/users/search", Some(json!({ "limit": 5 }))),
    ];
    for (method, path, body) in reads {
        let mut request = app.request_as(&token, method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = send_signed(&app, request, &signer, Signing::at(now(&app))).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}: {}", response.text().await.unwrap());
    }
    let create = app.request_as(&token, Method::POST, "/v1/users").json(&new_user("signed"));
    let created = send_signed(&app, create, &signer, Signing::at(now(&app))).await;
    expect_status(created, StatusCode::CREATED).await;
}

#[tokio::test]
async fn tampered_stale_foreign_and_partial_signatures_are_refused_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (signer, stranger) = (RequestSigner::generate(), RequestSigner::generate());
    let (_, token) = keyed_token(&app, &signer, &["users:read", "users:write"]).await;
    let before = user_count(&app).await;
    let create = || app.request_as(&token, Method::POST, "/v1/users").json(&new_user("mallory"));
    let t = now(&app);

    // The body changed after signing; then the digest recomputed, the signature left as it was.
    let mut request = create().build().unwrap();
    signer.sign(&mut request, Signing::at(t));
    *request.body_mut() = Some(new_user("eve").to_string().into());
    let tampered = app.http.execute(request).await.unwrap();
    let problem = expect_status(tampered, StatusCode::UNAUTHORIZED).await;
    assert!(problem["detail"].as_str().unwrap().contains("content-digest"), "{problem}");
    let mut request = create().build().unwrap();
    signer.sign(&mut request, Signing::at(t));
    let mut other = create().body(new_user("eve").to_string()).build().unwrap();
    RequestSigner::generate().sign(&mut other, Signing::at(t));
    let digest = other.headers()["content-digest"].clone();
    request.headers_mut().insert("content-digest", digest);
    *request.body_mut() = Some(new_user("eve").to_string().into());
    let redigested = app.http.execute(request).await.unwrap();
    assert_eq!(redigested.status(), StatusCode::UNAUTHORIZED);

    let refusals: [(&str, Signing<'_>, &RequestSigner); 7] = [
        ("another key", Signing::at(t), &stranger),
        ("stale", Signing { created: t - 301, lifetime: 600, skip: &[] }, &signer),
        ("ahead", Signing { created: t + 31, lifetime: 10, skip: &[] }, &signer),
        ("expired", Signing { created: t - 20, lifetime: 10, skip: &[] }, &signer),
        ("no authorization", Signing { skip: &["authorization"], ..Signing::at(t) }, &signer),
        ("no digest", Signing { skip: &["content-digest"], ..Signing::at(t) }, &signer),
        ("no @path", Signing { skip: &["@path"], ..Signing::at(t) }, &signer),
    ];
    for (what, how, key) in refusals {
        let response = send_signed(&app, create(), key, how).await;
        let problem = expect_status(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(problem["type"], "urn:roster:problem:bad-signature", "{what}: {problem}");
    }
    // A query the signature does not cover.
    let list = app.request_as(&token, Method::GET, "/v1/users?limit=1");
    let uncovered =
        send_signed(&app, list, &signer, Signing { skip: &["@query"], ..Signing::at(t) });
    assert_eq!(uncovered.await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(user_count(&app).await, before, "a refused request wrote a user");

    // The investment platform's dialect refuses a tampered create in its own shape.
    let upvest = || {
        let body = json!({ "first_name": "Karl", "last_name": "Schmidt", "birth_date": "1972-09-30",
            "nationalities": ["DE"], "address": { "address_line1": "Rosenweg 1", "postcode": "12345",
            "city": "Berlin", "country": "DE" } });
        let key = uuid::Uuid::new_v4().to_string();
        let request = app.request_as(&token, Method::POST, "/compat/upvest/users");
        request.header("idempotency-key", key).json(&body)
    };
    let mut request = upvest().build().unwrap();
    signer.sign(&mut request, Signing::at(t));
    *request.body_mut() = Some(new_user("eve").to_string().into());
    let tampered = app.http.execute(request).await.unwrap();
    let problem = expect_status(tampered, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["type"], "https://docs.upvest.co/errors/unauthorised", "{problem}");
    let no_key = send_signed(
        &app,
        upvest(),
        &signer,
        Signing { skip: &["idempotency-key"], ..Signing::at(t) },
    );
    assert_eq!(no_key.await.status(), StatusCode::UNAUTHORIZED, "idempotency-key must be covered");
    assert_eq!(user_count(&app).await, before, "a refused request wrote a user");
    let signed = send_signed(&app, upvest(), &signer, Signing::at(t)).await;
    expect_status(signed, StatusCode::OK).await;

    // The same request, signed properly, is taken.
    let fine = send_signed(&app, create(), &signer, Signing::at(t)).await;
    expect_status(fine, StatusCode::CREATED).await;
    assert_eq!(user_count(&app).await, before + 2);
}

#[tokio::test]
async fn a_keyed_client_signs_its_token_requests_and_its_access_tokens_sign_too() {
    let app = TestApp::spawn().await;
    let signer = RequestSigner::generate();
    let (id, secret) = keyed_token(&app, &signer, &["users:read"]).await;
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let token_request = || {
        app.http
            .post(app.url("/auth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
    };
    let unsigned = expect_status(token_request().send().await.unwrap(), StatusCode::UNAUTHORIZED);
    let unsigned = unsigned.await;
    assert_eq!(unsigned["error"], "invalid_client");
    assert!(unsigned["error_description"].as_str().unwrap().contains("signature"), "{unsigned}");
    let stale = Signing { created: now(&app) - 400, lifetime: 600, skip: &[] };
    let refused = send_signed(&app, token_request(), &signer, stale).await;
    assert_eq!(expect_status(refused, StatusCode::UNAUTHORIZED).await["error"], "invalid_client");

    let granted = send_signed(&app, token_request(), &signer, Signing::at(now(&app))).await;
    let access = expect_status(granted, StatusCode::OK).await;
    let access = access["access_token"].as_str().unwrap().to_owned();
    let unsigned = app.request_as(&access, Method::GET, "/v1/users").send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let list = app.request_as(&access, Method::GET, "/v1/users");
    let signed = send_signed(&app, list, &signer, Signing::at(now(&app))).await;
    assert_eq!(signed.status(), StatusCode::OK);
}
