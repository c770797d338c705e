//! Every validation rule of the user document, one failing case each; nothing is written.

use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

/// Merges `patch` into a valid body (like a merge patch, one level deep).
fn body(patch: Value) -> Value {
    let mut body = json!({ "username": "valid.user" });
    for (k, v) in patch.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn each_rule_names_its_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(201);
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({ "username": "" }), "username", "too_short"),
        (json!({ "username": long }), "username", "too_long"),
        (json!({ "username": " padded" }), "username", "invalid_format"),
        (json!({ "username": "tab\there" }), "username", "invalid_format"),
        (json!({ "kind": "robot" }), "kind", "invalid_value"),
        (json!({ "state": "deleted" }), "state", "invalid_value"),
        (json!({ "organization_id": "root" }), "organization_id", "invalid_format"),
        (json!({ "name": { "given": "" } }), "name.given", "too_short"),
        (json!({ "name": { "family": long } }), "name.family", "too_long"),
        (json!({ "salutation": "mr" }), "salutation", "invalid_value"),
        (json!({ "title": "sir" }), "title", "invalid_value"),
        (json!({ "gender": "x" }), "gender", "invalid_value"),
        (json!({ "birth": { "date": "1972-02-30" } }), "birth.date", "invalid_format"),
        (json!({ "birth": { "date": "2999-01-01" } }), "birth.date", "in_future"),
        (json!({ "birth": { "country": "XX" } }), "birth.country", "invalid_value"),
        (json!({ "nationalities": ["de"] }), "nationalities[0]", "invalid_value"),
        (json!({ "nationalities": ["DE", "DE"] }), "nationalities[1]", "duplicate"),
        (json!({ "emails": [{ "value": "no-at-sign" }] }), "emails[0].value", "invalid_format"),
        (
            json!({ "emails": [{ "value": format!("{}@example.org", "a".repeat(250)) }] }),
            "emails[0].value",
            "invalid_format",
        ),
        (
            json!({ "emails": [{ "value": "a@example.org", "primary": true }, { "value": "b@example.org", "primary": true }] }),
            "emails",
            "multiple_primary",
        ),
        (
            json!({ "emails": [{ "value": "a@example.org" }, { "value": "A@EXAMPLE.org" }] }),
            "emails[1].value",
            "duplicate",
        ),
        (json!({ "phones": [{ "value": "030 901820" }] }), "phones[0].value", "invalid_format"),
        (json!({ "phones": [{ "value": "+1234567" }] }), "phones[0].value", "invalid_format"),
        (
            json!({ "phones": [{ "value": "+4930901820", "primary": true }, { "value": "+4930901821", "primary": true }] }),
            "phones",
            "multiple_primary",
        ),
        (json!({ "locale": "not a tag" }), "locale", "invalid_format"),
        (json!({ "picture": "/relative.png" }), "picture", "invalid_format"),
        (json!({ "picture": "ftp://example.org/p.png" }), "picture", "invalid_format"),
        (json!({ "address": { "country": "Germany" } }), "address.country", "invalid_value"),
        (json!({ "postal_address": { "line1": "" } }), "postal_address.line1", "too_short"),
        (json!({ "national_id": "" }), "national_id", "too_short"),
        (json!({ "password": "short" }), "password", "too_short"),
        (json!({ "password": "p".repeat(1025) }), "password", "too_long"),
        (
            json!({ "external_ids": { "external_user_id": "" } }),
            "external_ids.external_user_id",
            "too_short",
        ),
        (json!({ "attributes": { "": ["x"] } }), "attributes.", "invalid_format"),
        (json!({ "attributes": { "a": [""] } }), "attributes.a[0]", "too_short"),
        (json!({ "claims": [1, 2] }), "claims", "invalid_type"),
        (json!({ "claims": nested(33) }), "claims", "too_deep"),
        (json!({ "claims": { "big": "x".repeat(64 * 1024) } }), "claims", "too_large"),
        (json!({ "app_data": { "crm": nested(33) } }), "app_data.crm", "too_deep"),
        (json!({ "machine": { "name": "m" } }), "machine", "not_allowed"),
        (json!({ "kind": "machine" }), "machine", "required"),
        (
            json!({ "kind": "machine", "machine": { "name": "m", "access_token_type": "opaque" } }),
            "machine.access_token_type",
            "invalid_value",
        ),
        (
            json!({ "kind": "machine", "machine": { "name": "m" }, "gender": "male" }),
            "gender",
            "not_allowed",
        ),
        (json!({ "emails": "a@example.org" }), "emails", "invalid_type"),
        (json!({ "id": "01900000-0000-7000-8000-000000000000" }), "id", "read_only"),
    ];
    let events_before = app.events().await.len();
    for (patch, field, code) in cases {
        let sent = body(patch.clone());
        let response = app.post("/v1/users").json(&sent).send().await.unwrap();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["status"], 400);
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["field"] == field && e["code"] == code),
            "{patch}: expected {field}/{code}, got {problem}"
        );
    }
    assert!(app.all_users(true).await.is_empty(), "no user was written");
    assert_eq!(app.events().await.len(), events_before, "no event was written");
}

fn nested(depth: usize) -> Value {
    let mut value = json!("leaf");
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

#[tokio::test]
async fn all_errors_come_at_once() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/v1/users")
        .json(
            &json!({ "username": "", "gender": "x", "locale": "??", "emails": [{ "value": "x" }] }),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "gender", "emails[0].value", "locale"]);
    assert_eq!(problem["type"], "urn:roster:problem:validation");
}

#[tokio::test]
async fn unknown_fields_are_named_not_dropped() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/v1/users")
        .json(
            &json!({ "username": "u", "colour": "blue", "name": { "given": "A", "maiden": "B" } }),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [("colour", "unknown_field"), ("name.maiden", "unknown_field")]);
}

#[tokio::test]
async fn values_are_normalised() {
    let app = TestApp::spawn().await;
    let created = app
        .create_user(json!({
            "username": "Norm",
            "emails": [{ "value": "Norm@Example.ORG", "primary": true }],
            "phones": [{ "value": "+49 (30) 901-820" }],
            "postal_address": { "line1": null },
        }))
        .await;
    assert_eq!(created["username"], "Norm", "the username keeps its case");
    assert_eq!(created["emails"][0]["value"], "Norm@example.org", "the domain is lower-cased");
    assert_eq!(created["phones"][0]["value"], "+4930901820");
    assert_eq!(
        created["postal_address"],
        Value::Null,
        "an empty postal address means the residential one"
    );
}

#[tokio::test]
async fn type_errors_do_not_echo_the_value() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/v1/users")
        .json(&json!({ "username": "u", "national_id": 123456789 }))
        .send()
        .await
        .unwrap();
    let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "national_id");
    assert!(!problem.to_string().contains("123456789"), "{problem}");
}

/// Found by the API fuzzer on PostgreSQL, which stores the NUL character neither in text nor in
/// JSON (a 500): every JSON body holding one is refused with 400 naming where, on both engines,
/// before anything is written — free JSON (`custom_data`, data changes) included.
#[tokio::test]
async fn the_nul_character_is_refused_everywhere() {
    let app = TestApp::spawn().await;
    let user = app.create_user(json!({ "username": "nul.check" })).await;
    let id = user["id"].as_str().unwrap();
    let cases = [
        (
            "/v1/groups",
            json!({ "name": "g", "custom_data": { "a": ["ok", "x\u{0}y"] } }),
            "custom_data.a[1]",
        ),
        (
            "/v1/groups",
            json!({ "name": "g", "custom_data": { "k\u{0}": 1 } }),
            "custom_data.k\\u0000",
        ),
        ("/v1/users", json!({ "username": "n", "claims": { "c": "\u{0}" } }), "claims.c"),
        (
            &format!("/v1/users/{id}/data-changes"),
            json!({ "claims": { "c": "\u{0}" } }),
            "claims.c",
        ),
    ];
    for (path, body, field) in cases {
        let response = app.post(path).json(&body).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }
    let groups = expect_status(app.get("/v1/groups").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(groups["data"], json!([]), "nothing written");
    let scim = app
        .post("/scim/v2/Users")
        .header("content-type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a\u0000b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status(), StatusCode::BAD_REQUEST);
}

/// A member named twice in one object is refused on every surface, naming it: parsers
/// disagree on which of the two counts, so a proxy or an audit log could see one value and the
/// handler act on the other.
#[tokio::test]
async fn a_member_named_twice_is_refused_on_every_surface() {
    let app = TestApp::spawn().await;
    let cases = [
        ("/v1/users", "application/json", r#"{"username":"a","username":"b"}"#),
        ("/v1/users", "application/json", r#"{"username":"a","name":{"given":"x","given":"y"}}"#),
        (
            "/scim/v2/Users",
            "application/scim+json",
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","userName":"b"}"#,
        ),
        (
            "/compat/zitadel/v2/users/human",
            "application/json",
            r#"{"username":"a","username":"b","profile":{"givenName":"A","familyName":"B"},"email":{"email":"a@example.org"}}"#,
        ),
    ];
    for (path, media, body) in cases {
        let response =
            app.post(path).header("content-type", media).body(body).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        assert!(text.contains("is given twice"), "{path}: {text}");
    }
    let count =
        expect_status(app.get("/v1/users/count").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(count["total_count"], 0, "nothing was created");
}
