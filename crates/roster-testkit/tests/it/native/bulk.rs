//! `POST /v1/users/bulk`: per-item results in request order, independent or all-or-nothing.

use reqwest::StatusCode;
use roster_testkit::{TestApp, expect_status, user};
use serde_json::{Value, json};

fn statuses(response: &Value) -> Vec<u64> {
    response["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn independent_items_succeed_or_fail_alone() {
    let app = TestApp::spawn().await;
    app.create_user(user("existing")).await;
    let body = json!({ "users": [
        user("a1"),
        { "username": "" },
        user("a2"),
        user("EXISTING"),
        user("a1"),
        { "username": "a3", "colour": "red" },
        { "username": "a4", "password": "a long enough password" },
    ]});
    let response = app.post("/v1/users/bulk").json(&body).send().await.unwrap();
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(statuses(&response), [201, 400, 201, 409, 409, 400, 201]);
    let results = response["results"].as_array().unwrap();
    assert_eq!(results[1]["problem"]["errors"][0]["field"], "username");
    assert_eq!(results[3]["problem"]["errors"][0]["field"], "username");
    assert_eq!(results[5]["problem"]["errors"][0]["code"], "unknown_field");

    let created: Vec<&str> =
        [0, 2, 6].iter().map(|i| results[*i]["id"].as_str().unwrap()).collect();
    for id in &created {
        let response = app.get(&format!("/v1/users/{id}")).send().await.unwrap();
        expect_status(response, StatusCode::OK).await;
    }
    assert_eq!(app.all_users(false).await.len(), 4);
    assert_eq!(app.events().await.len(), 4, "one event per created user");
}

#[tokio::test]
async fn atomic_requests_create_all_or_nothing() {
    let app = TestApp::spawn().await;
    let bad = json!({ "users": [user("b1"), { "username": "b2", "gender": "x" }, user("b3")], "atomic": true });
    let response =
        expect_status(app.post("/v1/users/bulk").json(&bad).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(statuses(&response), [424, 400, 424]);
    let clash = json!({ "users": [user("c1"), user("c2"), user("C1")], "atomic": true });
    let response = expect_status(
        app.post("/v1/users/bulk").json(&clash).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(statuses(&response), [424, 424, 409]);
    assert!(app.all_users(true).await.is_empty(), "nothing was written");
    assert!(app.events().await.is_empty());

    let good = json!({ "users": [user("d1"), user("d2")], "atomic": true });
    let response =
        expect_status(app.post("/v1/users/bulk").json(&good).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(statuses(&response), [201, 201]);
}

#[tokio::test]
async fn a_thousand_users_fit_one_request_and_no_more() {
    let app = TestApp::spawn().await;
    let docs: Vec<Value> = (0..1000)
        .map(|i| json!({ "username": format!("bulk{i:04}"), "name": { "family": "X".repeat(200) },
            "emails": [{ "value": format!("bulk{i:04}@example.org") }], "claims": { "pad": "y".repeat(800) } }))
        .collect();
    let body = json!({ "users": docs });
    assert!(body.to_string().len() > 1024 * 1024, "larger than the limit of other routes");
    let response =
        expect_status(app.post("/v1/users/bulk").json(&body).send().await.unwrap(), StatusCode::OK)
            .await;
    assert!(statuses(&response).iter().all(|s| *s == 201));
    let count = app.get("/v1/users/count").send().await.unwrap();
    assert_eq!(expect_status(count, StatusCode::OK).await["total_count"], 1000);

    let too_many = json!({ "users": vec![user("x"); 1001] });
    let response = app.post("/v1/users/bulk").json(&too_many).send().await.unwrap();
    let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["code"], "too_many");
    let not_a_list = json!({ "users": "all of them" });
    let response = app.post("/v1/users/bulk").json(&not_a_list).send().await.unwrap();
    expect_status(response, StatusCode::BAD_REQUEST).await;
}
