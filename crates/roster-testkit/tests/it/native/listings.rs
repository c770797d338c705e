//! Tenant-wide listings of roles, mandates and invitations: paged in creation order with
//! `after` and `limit` like the other listings, roles filtered by organization, the tenant's own
//! only.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status, user};
use serde_json::{Value, json};

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    expect_status(app.post(path).json(&body).send().await.unwrap(), StatusCode::CREATED).await
}

async fn page(app: &TestApp, path: &str) -> Value {
    expect_status(app.get(path).send().await.unwrap(), StatusCode::OK).await
}

/// Every item of a listing, two at a time, following `next_after`.
async fn walk(app: &TestApp, path: &str) -> Vec<Value> {
    let (mut items, mut after) = (Vec::new(), None::<String>);
    for _ in 0..20 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &after {
            Some(a) => format!("{path}{sep}limit=2&after={a}"),
            None => format!("{path}{sep}limit=2"),
        };
        let page = page(app, &url).await;
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["meta"]["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("the listing never ended");
}

fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn roles_mandates_and_invitations_are_listed_for_the_tenant_in_pages() {
    let app = TestApp::spawn().await;
    let sales = created(&app, "/v1/organizations", json!({ "technical_name": "sales" })).await;
    let ops = created(&app, "/v1/organizations", json!({ "technical_name": "ops" })).await;
    let mut roles = Vec::new();
    for (org, name) in [(&sales, "a"), (&ops, "b"), (&sales, "c"), (&ops, "d"), (&sales, "e")] {
        let path = format!("/v1/organizations/{}/roles", org["id"].as_str().unwrap());
        roles.push(created(&app, &path, json!({ "name": name })).await);
    }
    // The decoy tenant's role is never listed here.
    let decoy = app.request_as(&app.decoy_token, Method::GET, "/v1/roles").send().await.unwrap();
    assert_eq!(expect_status(decoy, StatusCode::OK).await["data"], json!([]));

    let all = walk(&app, "/v1/roles").await;
    assert_eq!(ids(&all), ids(&roles), "creation order, every role once");
    let of_sales =
        walk(&app, &format!("/v1/roles?organization_id={}", sales["id"].as_str().unwrap())).await;
    assert_eq!(
        of_sales.iter().map(|r| r["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["a", "c", "e"]
    );

    let ada = app.create_user(user("ada")).await;
    let mut mandates = Vec::new();
    for role in &roles[..3] {
        let body = json!({ "grantor": { "organization_id": role["organization_id"] }, "grantee": { "user_id": ada["id"] }, "role_ids": [role["id"]] });
        mandates.push(created(&app, "/v1/mandates", body).await);
    }
    assert_eq!(ids(&walk(&app, "/v1/mandates").await), ids(&mandates));

    let mut invitations = Vec::new();
    for n in 0..3 {
        let body =
            json!({ "email": format!("new{n}@example.org"), "organization_id": sales["id"] });
        invitations.push(created(&app, "/v1/invitations", body).await);
    }
    assert_eq!(ids(&walk(&app, "/v1/invitations").await), ids(&invitations));

    for bad in [
        "/v1/roles?limit=0",
        "/v1/mandates?after=x",
        "/v1/invitations?limit=1001",
        "/v1/roles?organization_id=x",
        "/v1/roles?color=red",
    ] {
        expect_status(app.get(bad).send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    }
    let unknown = format!("/v1/roles?organization_id={}", uuid::Uuid::new_v4());
    expect_status(app.get(&unknown).send().await.unwrap(), StatusCode::NOT_FOUND).await;
}
