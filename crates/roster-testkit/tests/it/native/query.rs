//! Listing with filters, sorts, offsets, cursors and counts: one query model on both engines.

use reqwest::StatusCode;
use roster_testkit::{DECOY_USERNAME, TestApp, expect_status};
use serde_json::{Value, json};

/// Six people with something to search for in every kind of attribute.
async fn people(app: &TestApp) -> Vec<Value> {
    let docs = [
        json!({ "username": "anna", "name": { "given": "Anna", "family": "Schmidt" },
            "emails": [{ "value": "anna@example.org", "primary": true, "verified": true }],
            "phones": [{ "value": "+4930100001" }], "birth": { "country": "DE" },
            "attributes": { "department": ["sales", "emea"] }, "claims": { "loyalty": { "tier": "gold", "points": 900 } } }),
        json!({ "username": "Bernd", "name": { "given": "Bernd", "family": "Schmitz" },
            "emails": [{ "value": "bernd@example.com", "verified": false }, { "value": "b@work.example.org", "verified": true }],
            "phones": [{ "value": "+4930100002" }], "attributes": { "department": ["it"] },
            "claims": { "loyalty": { "tier": "silver", "points": 120 } } }),
        json!({ "username": "carla", "name": { "given": "Carla", "family": "Müller" },
            "emails": [{ "value": "carla@example.org", "verified": false }], "locale": "de-DE",
            "claims": { "loyalty": { "tier": "gold", "points": 1500 } } }),
        json!({ "username": "dieter", "name": { "given": "Dieter", "family": "Schneider" },
            "emails": [{ "value": "dieter@example.net" }], "state": "inactive" }),
        json!({ "username": "emil", "name": { "family": "100% Sicher_heit" } }),
        json!({ "kind": "machine", "username": "robot", "machine": { "name": "Robot" } }),
    ];
    let mut users = Vec::new();
    for doc in docs {
        users.push(app.create_user(doc).await);
    }
    users
}

async fn usernames(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.get(&format!("/v1/users?{query}")).send().await.unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

fn encode(filter: &str) -> String {
    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

#[tokio::test]
async fn filters_select_by_every_kind_of_attribute() {
    let app = TestApp::spawn().await;
    people(&app).await;
    let cases: &[(&str, &[&str])] = &[
        (r#"username eq "BERND""#, &["Bernd"]),
        (r#"name.family sw "schmi""#, &["anna", "Bernd"]),
        (r#"name.family eq "MÜLLER""#, &["carla"]),
        (r#"name.family co "% sicher_""#, &["emil"]),
        (r#"name.family co "%""#, &["emil"]),
        (r#"emails.value ew "@example.org""#, &["anna", "carla"]),
        (r#"emails.value ew "example.org""#, &["anna", "Bernd", "carla"]),
        (r#"emails co "WORK""#, &["Bernd"]),
        (r#"emails[verified eq true and value ew "work.example.org"]"#, &["Bernd"]),
        (r#"emails[verified eq false and value sw "b@"]"#, &[]),
        (r#"phones.value eq "+49 30 100002""#, &["Bernd"]),
        (r#"state eq "inactive""#, &["dieter"]),
        (r#"state ne "inactive" and kind eq "human""#, &["anna", "Bernd", "carla", "emil"]),
        (r#"kind eq "machine""#, &["robot"]),
        (r#"attributes.department eq "emea""#, &["anna"]),
        (r#"claims.loyalty.tier eq "gold" and claims.loyalty.points gt 1000"#, &["carla"]),
        ("claims.loyalty.points le 900", &["anna", "Bernd"]),
        (r#"birth.country eq "DE" or locale eq "de-de""#, &["anna", "carla"]),
        ("locale pr", &["carla"]),
        ("name.given eq null", &["emil", "robot"]),
        (r#"not (name.family sw "schm") and name pr"#, &["carla", "dieter", "emil"]),
        (
            r#"created_at gt "2000-01-01T00:00:00Z" and version eq 1"#,
            &["anna", "Bernd", "carla", "dieter", "emil", "robot"],
        ),
        (r#"username eq "decoy""#, &[]),
    ];
    for (filter, expected) in cases {
        let got = usernames(&app, &format!("filter={}", encode(filter))).await;
        assert_eq!(got, *expected, "{filter}");
    }
    // The same through the search body, with a count.
    let response = app
        .post("/v1/users/search")
        .json(&json!({ "filter": r#"name.family sw "Sch""#, "count": true, "sort_by": "username", "order": "desc" }))
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    let got: Vec<&str> =
        page["data"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(got, ["dieter", "Bernd", "anna"]);
    assert_eq!(page["meta"]["total_count"], 3);

    let response = app
        .get(&format!("/v1/users/count?filter={}", encode(r#"claims.loyalty.tier eq "gold""#)))
        .send()
        .await;
    assert_eq!(expect_status(response.unwrap(), StatusCode::OK).await, json!({ "total_count": 2 }));
    let response = app.get("/v1/users/count").send().await.unwrap();
    assert_eq!(
        expect_status(response, StatusCode::OK).await["total_count"],
        6,
        "the decoy is not counted"
    );
}

#[tokio::test]
async fn updates_move_unique_keys_and_indexed_values_with_the_user() {
    let app = TestApp::spawn().await;
    let anna = &people(&app).await[0];
    let id = anna["id"].as_str().unwrap();
    let patch = json!({ "emails": [{ "value": "anna@new.example", "verified": false }],
        "name": { "family": "Schulz" }, "claims": { "loyalty": { "points": 901 } } });
    let response = app
        .patch(&format!("/v1/users/{id}"))
        .header("content-type", "application/merge-patch+json")
        .json(&patch)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let q = |f: &str| format!("filter={}", encode(f));
    assert!(usernames(&app, &q(r#"emails.value eq "anna@example.org""#)).await.is_empty());
    assert!(
        usernames(&app, &q(r#"emails[verified eq true and value ew "example.org"]"#))
            .await
            .iter()
            .all(|u| u != "anna")
    );
    assert_eq!(usernames(&app, &q(r#"emails.value eq "ANNA@new.example""#)).await, ["anna"]);
    assert_eq!(usernames(&app, &q(r#"name.family sw "schu""#)).await, ["anna"]);
    assert_eq!(usernames(&app, &q("claims.loyalty.points gt 900")).await, ["anna", "carla"]);
    assert_eq!(
        usernames(&app, &q(r#"claims.loyalty.tier eq "gold""#)).await,
        ["anna", "carla"],
        "unchanged values stay"
    );
    // The released e-mail is free for someone else; the new one is held.
    app.create_user(json!({ "username": "anna2", "emails": [{ "value": "anna@example.org" }] }))
        .await;
    let response = app
        .post("/v1/users")
        .json(&json!({ "username": "anna3", "emails": [{ "value": "Anna@New.example" }] }))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CONFLICT).await;
    // A state change keeps every value; deleting releases them all.
    let response = app.post(&format!("/v1/users/{id}/lock")).send().await.unwrap();
    expect_status(response, StatusCode::OK).await;
    assert_eq!(usernames(&app, &q(r#"username eq "anna""#)).await, ["anna"]);
    let response = app.delete(&format!("/v1/users/{id}")).send().await.unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    let deleted = format!(
        "include_deleted=true&{}",
        q(r#"username eq "anna" or claims.loyalty.points eq 901"#)
    );
    let response = app.get(&format!("/v1/users?{deleted}")).send().await.unwrap();
    assert_eq!(expect_status(response, StatusCode::OK).await["data"], json!([]));
    app.create_user(json!({ "username": "anna", "emails": [{ "value": "anna@new.example" }] }))
        .await;
}

#[tokio::test]
async fn identical_values_in_nested_arrays_are_stored_and_found() {
    let app = TestApp::spawn().await;
    let grid = json!({ "username": "grid", "claims": { "grid": [[1, "x"], [1, "X"]] } });
    let id = app.create_user(grid).await["id"].as_str().unwrap().to_owned();
    let filter = encode(r#"claims.grid eq 1 and claims.grid eq "x""#);
    assert_eq!(usernames(&app, &format!("filter={filter}")).await, ["grid"]);
    let response = app
        .patch(&format!("/v1/users/{id}"))
        .header("content-type", "application/merge-patch+json")
        .json(&json!({ "claims": { "grid": [[2]] } }))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    assert!(usernames(&app, &format!("filter={filter}")).await.is_empty());
    assert_eq!(usernames(&app, &format!("filter={}", encode("claims.grid eq 2"))).await, ["grid"]);
}

#[tokio::test]
async fn sorts_order_by_each_key_with_the_id_breaking_ties() {
    let app = TestApp::spawn().await;
    people(&app).await;
    assert_eq!(
        usernames(&app, "sort_by=username").await,
        ["anna", "Bernd", "carla", "dieter", "emil", "robot"]
    );
    assert_eq!(
        usernames(&app, "sort_by=username&order=desc").await,
        ["robot", "emil", "dieter", "carla", "Bernd", "anna"]
    );
    // Users without a family name sort first (empty key), then by id, i.e. creation.
    assert_eq!(
        usernames(&app, "sort_by=family_name").await,
        ["robot", "emil", "carla", "anna", "Bernd", "dieter"]
    );
    assert_eq!(
        usernames(&app, "sort_by=email&filter=emails%20pr").await,
        ["anna", "Bernd", "carla", "dieter"]
    );
    assert_eq!(
        usernames(&app, "sort_by=phone&order=desc&filter=phones%20pr").await,
        ["Bernd", "anna"]
    );
    assert_eq!(usernames(&app, "sort_by=created_at&order=desc&limit=2").await, ["robot", "emil"]);
    assert_eq!(usernames(&app, "sort_by=updated_at&limit=1").await, ["anna"]);
    assert_eq!(usernames(&app, "sort_by=last_auth_at&limit=1").await, ["anna"]);
}

#[tokio::test]
async fn cursors_page_through_everything_exactly_once_while_writers_move() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let doc =
            json!({ "username": format!("p{i:02}"), "name": { "family": format!("F{}", i % 7) } });
        ids.push(app.create_user(doc).await["id"].as_str().unwrap().to_owned());
    }
    for (sort, order) in [("family_name", "asc"), ("username", "desc"), ("created_at", "asc")] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut url = format!("/v1/users?sort_by={sort}&order={order}&limit=4");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = expect_status(app.get(&url).send().await.unwrap(), StatusCode::OK).await;
            assert_eq!(
                page["meta"].get("offset").is_none(),
                cursor.is_some(),
                "cursor pages have no offset"
            );
            seen.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["id"].as_str().unwrap().to_owned()),
            );
            pages += 1;
            // Writers change the set between pages: a new user, one deleted, one renamed.
            if pages == 2 {
                app.create_user(
                    json!({ "username": format!("late-{sort}"), "name": { "family": "F0" } }),
                )
                .await;
                let victim = &ids[24];
                let _ = app.delete(&format!("/v1/users/{victim}")).send().await.unwrap();
            }
            match page["meta"]["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{sort}: no user twice");
        // Every user that existed throughout was seen.
        for id in &ids[..24] {
            assert!(seen.contains(id), "{sort} {order}: {id} missing");
        }
        assert!(pages >= 6, "{sort}: {pages} pages");
    }
}

#[tokio::test]
async fn bad_queries_are_named_problems() {
    let app = TestApp::spawn().await;
    people(&app).await;
    let first = expect_status(
        app.get("/v1/users?limit=2&sort_by=username").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let cursor = first["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let mut forged = cursor.clone().into_bytes();
    forged[5] ^= 1;
    let forged = String::from_utf8(forged).unwrap();
    let cases = [
        (format!("filter={}", encode("username eq")), "filter", "invalid_syntax"),
        (format!("filter={}", encode(r#"colour eq "red""#)), "filter", "unknown_attribute"),
        (format!("filter={}", encode(r#"created_at gt "yesterday""#)), "filter", "invalid_value"),
        (format!("filter={}", encode(r#"state sw "act""#)), "filter", "invalid_operator"),
        (format!("filter={}", encode(&vec!["a pr"; 65].join(" or "))), "filter", "invalid_syntax"),
        ("sort_by=shoe_size".to_owned(), "sort_by", "invalid_value"),
        ("order=sideways".to_owned(), "order", "invalid_value"),
        (format!("sort_by=username&cursor={forged}"), "cursor", "invalid"),
        ("cursor=garbage".to_owned(), "cursor", "invalid"),
        (format!("sort_by=email&cursor={cursor}"), "cursor", "stale"),
        (format!("sort_by=username&offset=2&cursor={cursor}"), "cursor", "conflict"),
        ("limit=0".to_owned(), "limit", "out_of_range"),
        // Found by the API fuzzer: an offset past what the databases can skip was taken.
        ("offset=9223372036854775808".to_owned(), "offset", "out_of_range"),
    ];
    for (query, field, code) in cases {
        let response = app.get(&format!("/v1/users?{query}")).send().await.unwrap();
        let problem = expect_status(response, StatusCode::BAD_REQUEST).await;
        let error = &problem["errors"][0];
        assert_eq!(
            (error["field"].as_str(), error["code"].as_str()),
            (Some(field), Some(code)),
            "{query}: {problem}"
        );
    }
    let message = {
        let response =
            app.get(&format!("/v1/users?filter={}", encode(r#"username eq "x" and"#))).send().await;
        expect_status(response.unwrap(), StatusCode::BAD_REQUEST).await["errors"][0]["message"]
            .clone()
    };
    assert_eq!(message, "at position 19: expected an attribute, found the end");

    let response = app
        .post("/v1/users/search")
        .json(&json!({ "filter": 5, "colour": "red" }))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::BAD_REQUEST).await;
    assert!(usernames(&app, "limit=1000").await.iter().all(|u| u != DECOY_USERNAME));
    assert!(usernames(&app, "offset=9223372036854775807").await.is_empty(), "the largest offset");
}
