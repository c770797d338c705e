//! SCIM Bulk: operations in order, `bulkId` references resolved, `failOnErrors` honoured.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status};
use serde_json::json;

use super::{GROUP, USER, expect, expect_error, scim};

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

#[tokio::test]
async fn bulk_operations_run_in_order_and_reference_each_other() {
    let app = TestApp::spawn().await;
    let request = json!({
        "schemas": [BULK],
        "Operations": [
            { "method": "POST", "path": "/Users", "bulkId": "ada", "data": { "schemas": [USER], "userName": "ada" } },
            { "method": "POST", "path": "/Groups", "bulkId": "eng", "data": {
                "schemas": [GROUP], "displayName": "Engineers", "members": [{ "value": "bulkId:ada", "type": "User" }] } },
            { "method": "PATCH", "path": "/Users/bulkId:ada", "data": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": "displayName", "value": "Ada" }] } },
            { "method": "POST", "path": "/Users", "bulkId": "dup", "data": { "schemas": [USER], "userName": "ADA" } },
            { "method": "DELETE", "path": "/Groups/bulkId:nobody" },
        ],
    });
    let response = scim(&app, Method::POST, "/Bulk").json(&request).send().await.unwrap();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = expect(response, StatusCode::OK).await;
    assert_eq!(body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]));
    let ops = body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "409", "409"]);
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    let ada = ops[0]["location"].as_str().unwrap().rsplit('/').next().unwrap();
    assert_eq!(ops[0]["version"], "W/\"1\"");
    let group = expect(
        scim(
            &app,
            Method::GET,
            &format!(
                "/Groups/{}",
                ops[1]["location"].as_str().unwrap().rsplit('/').next().unwrap()
            ),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(group["members"][0]["value"], json!(ada));
    let user = expect(
        scim(&app, Method::GET, &format!("/Users/{ada}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(user["displayName"], "Ada");
    // Each operation is in the audit trail under the bulk request's id.
    let trail = app.get("/v1/audit?limit=100").send().await.unwrap();
    let trail = expect_status(trail, StatusCode::OK).await;
    let audited: Vec<(&str, i64)> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request_id"] == json!(request_id))
        .map(|e| (e["operation"].as_str().unwrap(), e["status"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        audited,
        [
            ("POST /scim/v2/Users", 201),
            ("POST /scim/v2/Groups", 201),
            ("PATCH /scim/v2/Users/{id}", 200),
            ("POST /scim/v2/Users", 409),
            ("POST /scim/v2/Bulk", 200),
        ]
    );

    // failOnErrors stops after that many failures.
    let request = json!({
        "schemas": [BULK], "failOnErrors": 1,
        "Operations": [
            { "method": "POST", "path": "/Users", "bulkId": "a", "data": { "schemas": [USER], "userName": "ada" } },
            { "method": "POST", "path": "/Users", "bulkId": "b", "data": { "schemas": [USER], "userName": "bea" } },
        ],
    });
    let body = expect(
        scim(&app, Method::POST, "/Bulk").json(&request).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["Operations"].as_array().unwrap().len(), 1);
    let listed = expect(
        scim(&app, Method::GET, "/Users?filter=userName%20eq%20%22bea%22").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["totalResults"], 0, "the operation after the failure did not run");

    let no_schema = scim(&app, Method::POST, "/Bulk").json(&json!({ "Operations": [] }));
    expect_error(no_schema.send().await.unwrap(), StatusCode::BAD_REQUEST, Some("invalidSyntax"))
        .await;
    let elsewhere = json!({ "schemas": [BULK], "Operations": [{ "method": "POST", "path": "/Bulk", "bulkId": "x", "data": {} }] });
    let body = expect(
        scim(&app, Method::POST, "/Bulk").json(&elsewhere).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["Operations"][0]["response"]["scimType"], "invalidPath");
    let too_many: Vec<_> =
        (0..1001).map(|i| json!({ "method": "DELETE", "path": format!("/Users/{i}") })).collect();
    let huge = scim(&app, Method::POST, "/Bulk")
        .json(&json!({ "schemas": [BULK], "Operations": too_many }));
    expect_error(huge.send().await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE, Some("tooMany")).await;
}
