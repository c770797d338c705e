//! SCIM 2.0 at `/scim/v2`: each operation over HTTP, answered in SCIM's media type and error
//! shape, on the same directory as `/v1`.

mod bulk;
mod discovery;
mod groups;
mod users;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use roster_testkit::TestApp;
use serde_json::{Value, json};

pub(crate) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub(crate) const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM request with the main tenant's admin token.
pub(crate) fn scim(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    scim_as(app, &app.token, method, path)
}

pub(crate) fn scim_as(app: &TestApp, token: &str, method: Method, path: &str) -> RequestBuilder {
    app.request_as(token, method, &format!("/scim/v2{path}"))
        .header("content-type", "application/scim+json")
}

/// Asserts the status and SCIM's media type, and returns the body (`null` when empty).
pub(crate) async fn expect(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let media = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        return Value::Null;
    }
    assert_eq!(media.as_deref(), Some("application/scim+json"), "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Asserts a SCIM error: its status (as the string SCIM uses) and `scimType`.
pub(crate) async fn expect_error(
    response: Response,
    status: StatusCode,
    scim_type: Option<&str>,
) -> Value {
    let body = expect(response, status).await;
    assert_eq!(body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
    assert_eq!(body["status"], json!(status.as_u16().to_string()));
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    body
}

/// A `PatchOp` body.
pub(crate) fn patch(operations: Value) -> Value {
    json!({ "schemas": [PATCH], "Operations": operations })
}

/// Creates a SCIM user and returns it.
pub(crate) async fn create_user(app: &TestApp, body: Value) -> Value {
    let response = scim(app, Method::POST, "/Users").json(&body).send().await.unwrap();
    expect(response, StatusCode::CREATED).await
}

pub(crate) fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}
