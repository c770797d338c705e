//! SCIM Groups: users and groups as members, membership by PUT and PATCH in one commit each,
//! references checked, listings by `displayName`.

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

use super::{GROUP, USER, create_user, expect, expect_error, id, patch, scim, scim_as};

async fn create_group(app: &TestApp, body: Value) -> Value {
    let response = scim(app, Method::POST, "/Groups").json(&body).send().await.unwrap();
    expect(response, StatusCode::CREATED).await
}

fn member_ids(group: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> =
        group["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn groups_hold_users_and_groups_and_change_in_one_commit() {
    let app = TestApp::spawn().await;
    let ada = create_user(&app, json!({ "schemas": [USER], "userName": "ada" })).await;
    let bob = create_user(&app, json!({ "schemas": [USER], "userName": "bob" })).await;
    let staff = create_group(&app, json!({ "schemas": [GROUP], "displayName": "Staff" })).await;
    let body = json!({
        "schemas": [GROUP], "displayName": "Engineers", "externalId": "ad-eng",
        "members": [{ "value": id(&ada), "type": "User" }, { "value": id(&staff) }],
    });
    let response = scim(&app, Method::POST, "/Groups").json(&body).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let eng = expect(response, StatusCode::CREATED).await;
    let gid = id(&eng).to_owned();
    assert_eq!(location, format!("{}/scim/v2/Groups/{gid}", app.base));
    assert_eq!(eng["externalId"], "ad-eng");
    let staff_member =
        eng["members"].as_array().unwrap().iter().find(|m| m["value"] == staff["id"]).unwrap();
    assert_eq!(staff_member["type"], "Group", "the type is found out when left out");
    assert_eq!(staff_member["$ref"], json!(format!("{}/scim/v2/Groups/{}", app.base, id(&staff))));
    let native = app.get(&format!("/v1/users/{}/groups", id(&ada))).send().await.unwrap();
    assert_eq!(expect_status(native, StatusCode::OK).await["data"][0]["name"], "Engineers");

    // PATCH adds and removes members; the version moves with membership.
    let ops = patch(json!([
        { "op": "add", "path": "members", "value": [{ "value": id(&bob) }] },
        { "op": "remove", "path": format!("members[value eq \"{}\"]", id(&ada)) },
    ]));
    let patched =
        scim(&app, Method::PATCH, &format!("/Groups/{gid}")).json(&ops).send().await.unwrap();
    let etag = patched.headers()["etag"].to_str().unwrap().to_owned();
    let patched = expect(patched, StatusCode::OK).await;
    assert_eq!(etag, "W/\"2\"");
    let mut expected = vec![id(&bob), id(&staff)];
    expected.sort_unstable();
    assert_eq!(member_ids(&patched), expected);

    // PUT replaces the name and the members at once.
    let put = json!({ "schemas": [GROUP], "displayName": "Engineering", "members": [{ "value": id(&ada) }] });
    let replaced =
        scim(&app, Method::PUT, &format!("/Groups/{gid}")).json(&put).send().await.unwrap();
    let replaced = expect(replaced, StatusCode::OK).await;
    assert_eq!(
        (&replaced["displayName"], member_ids(&replaced)),
        (&json!("Engineering"), vec![id(&ada)])
    );
    assert!(replaced.get("externalId").is_none(), "PUT replaces externalId too");
    let kinds: Vec<String> =
        app.events().await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "group.member_removed").count(), 3);

    // A member that does not exist, or a cycle, is refused and nothing changes.
    let ghost = json!([{ "op": "add", "path": "displayName", "value": "Ghosts" }, { "op": "add", "path": "members", "value": [{ "value": "0196f3a0-0000-7000-8000-000000000001" }] }]);
    let refused = scim(&app, Method::PATCH, &format!("/Groups/{gid}"))
        .json(&patch(ghost))
        .send()
        .await
        .unwrap();
    expect_error(refused, StatusCode::BAD_REQUEST, Some("invalidValue")).await;
    let own =
        json!([{ "op": "add", "path": "members", "value": [{ "value": gid, "type": "Group" }] }]);
    let refused = scim(&app, Method::PATCH, &format!("/Groups/{gid}"))
        .json(&patch(own))
        .send()
        .await
        .unwrap();
    expect_error(refused, StatusCode::CONFLICT, None).await;
    let into_staff = json!([{ "op": "add", "path": "members", "value": [{ "value": gid }] }]);
    let staff_path = format!("/Groups/{}", id(&staff));
    let added =
        scim(&app, Method::PATCH, &staff_path).json(&patch(into_staff)).send().await.unwrap();
    expect(added, StatusCode::OK).await;
    let cycle = json!([{ "op": "add", "path": "members", "value": [{ "value": id(&staff) }] }]);
    let refused = scim(&app, Method::PATCH, &format!("/Groups/{gid}"))
        .json(&patch(cycle))
        .send()
        .await
        .unwrap();
    expect_error(refused, StatusCode::CONFLICT, None).await;
    let now = expect(
        scim(&app, Method::GET, &format!("/Groups/{gid}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(now, replaced);

    let taken = scim(&app, Method::POST, "/Groups")
        .json(&json!({ "schemas": [GROUP], "displayName": "STAFF" }));
    expect_error(taken.send().await.unwrap(), StatusCode::CONFLICT, Some("uniqueness")).await;
    let unnamed = scim(&app, Method::POST, "/Groups").json(&json!({ "schemas": [GROUP] }));
    let e =
        expect_error(unnamed.send().await.unwrap(), StatusCode::BAD_REQUEST, Some("invalidValue"))
            .await;
    assert!(e["detail"].as_str().unwrap().contains("displayName"), "{e}");

    let stale = scim(&app, Method::DELETE, &format!("/Groups/{gid}")).header("if-match", "W/\"1\"");
    expect_error(stale.send().await.unwrap(), StatusCode::PRECONDITION_FAILED, None).await;
    let deleted = scim(&app, Method::DELETE, &format!("/Groups/{gid}")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = scim(&app, Method::GET, &format!("/Groups/{gid}")).send().await.unwrap();
    expect_error(gone, StatusCode::NOT_FOUND, None).await;
}

#[tokio::test]
async fn groups_are_listed_and_found_by_display_name() {
    let app = TestApp::spawn().await;
    for name in ["Alpha", "Beta", "Gamma"] {
        create_group(&app, json!({ "schemas": [GROUP], "displayName": name })).await;
    }
    let list = |query: &str| scim(&app, Method::GET, &format!("/Groups?{query}")).send();
    let page = expect(list("startIndex=2&count=1").await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (&page["totalResults"], &page["Resources"][0]["displayName"]),
        (&json!(3), &json!("Beta"))
    );
    let found =
        expect(list("filter=displayName%20eq%20%22beta%22").await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (&found["totalResults"], &found["Resources"][0]["displayName"]),
        (&json!(1), &json!("Beta"))
    );
    let mut seen = Vec::new();
    let mut query = "count=2&cursor=".to_owned();
    loop {
        let page = expect(list(&query).await.unwrap(), StatusCode::OK).await;
        seen.extend(
            page["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["displayName"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => query = format!("count=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["Alpha", "Beta", "Gamma"]);
    let other = list("filter=displayName%20co%20%22a%22").await.unwrap();
    expect_error(other, StatusCode::BAD_REQUEST, Some("invalidFilter")).await;
    let theirs = scim_as(&app, &app.decoy_token, Method::GET, "/Groups").send().await.unwrap();
    assert_eq!(expect(theirs, StatusCode::OK).await["totalResults"], 0);
}
