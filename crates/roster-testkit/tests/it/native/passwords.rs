//! Setting and verifying passwords: policy, lockout, imported hashes, and no leaks.

use reqwest::StatusCode;
use roster_core::Principal;
use roster_server::transfer::{self, ImportOptions};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

const SECRET: &str = "correct horse battery";

async fn set(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/v1/users/{id}/password")).json(&body).send().await.unwrap()
}

async fn verify(app: &TestApp, id: &str, password: &str) -> reqwest::Response {
    let body = json!({ "password": password });
    app.post(&format!("/v1/users/{id}/password/verify")).json(&body).send().await.unwrap()
}

async fn rejected(app: &TestApp, id: &str, password: &str) {
    let problem = expect_status(verify(app, id, password).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["type"], "urn:roster:problem:credentials-rejected");
}

#[tokio::test]
async fn passwords_are_set_under_the_policy_and_verified() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({ "username": "pw" })).await;
    let id = user["id"].as_str().unwrap();
    rejected(&app, id, SECRET).await;

    let short =
        expect_status(set(&app, id, json!({ "password": "short" })).await, StatusCode::BAD_REQUEST)
            .await;
    assert_eq!(short["errors"][0]["field"], "password");
    assert_eq!(short["errors"][0]["code"], "too_short");
    let long = "x".repeat(1025);
    let long =
        expect_status(set(&app, id, json!({ "password": long })).await, StatusCode::BAD_REQUEST)
            .await;
    assert_eq!(long["errors"][0]["code"], "too_long");
    let unknown = set(&app, id, json!({ "password": SECRET, "hint": "horse" })).await;
    let unknown = expect_status(unknown, StatusCode::BAD_REQUEST).await;
    assert_eq!(unknown["errors"][0]["field"], "hint");
    let stale = app
        .post(&format!("/v1/users/{id}/password"))
        .header("if-match", "\"7\"")
        .json(&json!({ "password": SECRET }))
        .send()
        .await
        .unwrap();
    expect_status(stale, StatusCode::PRECONDITION_FAILED).await;

    let response = set(&app, id, json!({ "password": SECRET, "change_required": true })).await;
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["password"]["set"], true);
    assert_eq!(changed["password"]["change_required"], true);
    assert!(changed["password"]["changed_at"].is_string());

    rejected(&app, id, "correct horse battery!").await;
    let response = verify(&app, id, SECRET).await;
    assert_eq!(response.headers()["etag"], "\"2\"", "a sign-in is not an edit");
    let signed_in = expect_status(response, StatusCode::OK).await;
    assert!(signed_in["last_auth_at"].is_string());

    let events = app.events().await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.last(), Some(&"user.password_changed"), "{kinds:?}");
    let everything = format!("{events:?}{changed}{signed_in}");
    assert!(
        !everything.contains(SECRET) && !everything.contains("argon2"),
        "no secret or hash leaks"
    );

    let missing = uuid::Uuid::new_v4().to_string();
    rejected(&app, &missing, SECRET).await;
    expect_status(set(&app, &missing, json!({ "password": SECRET })).await, StatusCode::NOT_FOUND)
        .await;
    expect_status(verify(&app, "not-a-uuid", SECRET).await, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn consecutive_failures_lock_the_user_and_a_success_resets_the_count() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({ "username": "locky", "password": SECRET })).await;
    let id = user["id"].as_str().unwrap();
    for _ in 0..9 {
        rejected(&app, id, "wrong password").await;
    }
    expect_status(verify(&app, id, SECRET).await, StatusCode::OK).await;
    for _ in 0..10 {
        rejected(&app, id, "wrong password").await;
    }
    let locked =
        expect_status(app.get(&format!("/v1/users/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(locked["state"], "locked");
    let last = app.events().await.pop().unwrap();
    assert_eq!(last["type"], "user.state_changed");
    assert_eq!(last["data"]["reason"], "password_failures");
    rejected(&app, id, SECRET).await;

    let unlocked = app.post(&format!("/v1/users/{id}/unlock")).send().await.unwrap();
    expect_status(unlocked, StatusCode::OK).await;
    rejected(&app, id, "wrong password").await;
    expect_status(verify(&app, id, SECRET).await, StatusCode::OK).await;

    let inactive = app.post(&format!("/v1/users/{id}/deactivate")).send().await.unwrap();
    expect_status(inactive, StatusCode::OK).await;
    rejected(&app, id, SECRET).await;
}

#[tokio::test]
async fn imported_hashes_verify_and_keep_verifying_once_rehashed() {
    let app = TestApp::spawn().await;
    let p = Principal::system(&app.directory.tenant("default").await.unwrap());
    // "imported secret 1" under each format other systems use.
    let hashes = [
        ("bc", "$2b$04$uw6Etf9jen14yCon2fSwvuHr/jDDUmqC5EbY2Ktoq2pge01P4zPlC"),
        (
            "pb",
            "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$zcQvdUqxxsTXJKqRc/tw13NYigc2pSUQ9Tv5UkBvbv4",
        ),
        (
            "sc",
            "$scrypt$ln=4,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$eaNDPj1Mk8bBO8BU3pamsowmZc7+1YLMAyPLX7BaB7s",
        ),
    ];
    let lines: Vec<String> = hashes
        .iter()
        .map(|(name, hash)| json!({ "username": name, "password_hash": hash }).to_string())
        .collect();
    let mut file = tempfile::Builder::new().suffix(".ndjson").tempfile().unwrap();
    std::io::Write::write_all(&mut file, lines.join("\n").as_bytes()).unwrap();
    let options = ImportOptions { format: None, dry_run: false, upsert: false };
    let summary = transfer::import(&app.directory, &p, file.path(), &options).await.unwrap();
    assert_eq!(summary.created, 3);
    for (name, _) in hashes {
        let user = app.get(&format!("/v1/users/by-username/{name}")).send().await.unwrap();
        let id = expect_status(user, StatusCode::OK).await["id"].as_str().unwrap().to_owned();
        rejected(&app, &id, "imported secret 2").await;
        // The first success re-hashes to argon2id; the second checks the new hash.
        expect_status(verify(&app, &id, "imported secret 1").await, StatusCode::OK).await;
        expect_status(verify(&app, &id, "imported secret 1").await, StatusCode::OK).await;
        rejected(&app, &id, "imported secret 2").await;
    }
}

#[tokio::test]
async fn machine_users_get_client_secrets_shown_once() {
    let app = TestApp::spawn().await;
    let robot = app
        .create_user(
            json!({ "kind": "machine", "username": "robot", "machine": { "name": "Robot" } }),
        )
        .await;
    assert_eq!(robot["has_secret"], false);
    let path = format!("/v1/users/{}/secret", robot["id"].as_str().unwrap());

    let response = app.post(&path).send().await.unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let first = expect_status(response, StatusCode::CREATED).await;
    let secret = first["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rcs_") && secret.len() >= 4 + 43, "256 random bits, prefixed");
    assert_eq!(first["user"]["has_secret"], true);
    let second = expect_status(app.post(&path).send().await.unwrap(), StatusCode::CREATED).await;
    assert_ne!(second["client_secret"], first["client_secret"], "rotation replaces it");

    let read =
        app.get(&format!("/v1/users/{}", robot["id"].as_str().unwrap())).send().await.unwrap();
    let read = expect_status(read, StatusCode::OK).await;
    assert_eq!(read["has_secret"], true);
    let events = format!("{:?}", app.events().await);
    assert!(
        events.contains("user.secret_changed")
            && !events.contains(&secret)
            && !events.contains("sha256")
    );

    let removed = expect_status(app.delete(&path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(removed["has_secret"], false);
    expect_status(app.delete(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    let stale = app.post(&path).header("if-match", "\"2\"").send().await.unwrap();
    expect_status(stale, StatusCode::PRECONDITION_FAILED).await;

    let human = app.create_user(json!({ "username": "human" })).await;
    let human = app
        .post(&format!("/v1/users/{}/secret", human["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    expect_status(human, StatusCode::CONFLICT).await;
}
