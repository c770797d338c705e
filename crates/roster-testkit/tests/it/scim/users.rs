//! SCIM Users: create, read, replace, patch and delete; the mapping to the native user; `active`
//! and the lifecycle; errors with their `scimType`; listings with filters, sorting, index and
//! cursor pages and attribute projection.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

use super::{ENTERPRISE, USER, create_user, expect, expect_error, id, patch, scim, scim_as};

fn ada() -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": "ada",
        "externalId": "hr-1815",
        "name": { "givenName": "Ada", "familyName": "Lovelace", "middleName": "King" },
        "displayName": "Ada Lovelace",
        "password": "correct horse battery staple",
        "emails": [{ "value": "ada@example.com", "type": "work", "primary": true }],
        "phoneNumbers": [{ "value": "tel:+44-20-7946-0018", "type": "work" }],
        "addresses": [{ "type": "home", "streetAddress": "12 St James's Square\nFlat 2", "locality": "London", "postalCode": "SW1Y 4JH", "country": "GB" }],
        ENTERPRISE: { "department": "Analytical Engines", "manager": { "value": "0196f3a0-0000-7000-8000-000000000001" } },
    })
}

async fn native(app: &TestApp, id: &str) -> Value {
    expect_status(app.get(&format!("/v1/users/{id}")).send().await.unwrap(), StatusCode::OK).await
}

#[tokio::test]
async fn a_user_is_created_read_replaced_patched_and_deleted() {
    let app = TestApp::spawn().await;
    let response = scim(&app, Method::POST, "/Users").json(&ada()).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let created = expect(response, StatusCode::CREATED).await;
    let uid = id(&created).to_owned();
    assert_eq!(etag, "W/\"1\"");
    assert_eq!(location, format!("{}/scim/v2/Users/{uid}", app.base));
    assert_eq!(created["meta"]["location"], json!(location));
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["version"], json!(etag));
    assert_eq!(created["userName"], "ada");
    assert_eq!(created["active"], true);
    assert!(created.get("password").is_none(), "the password is never returned");
    assert_eq!(created["phoneNumbers"], json!([{ "value": "+442079460018", "primary": false }]));
    assert_eq!(created["addresses"][0]["streetAddress"], "12 St James's Square\nFlat 2");
    assert_eq!(created[ENTERPRISE]["department"], "Analytical Engines");

    // The same user on the native surface.
    let user = native(&app, &uid).await;
    assert_eq!(user["name"]["family"], "Lovelace");
    assert_eq!(user["external_ids"]["external_user_id"], "hr-1815");
    assert_eq!(user["address"]["line2"], "Flat 2");
    assert_eq!(user["attributes"]["department"], json!(["Analytical Engines"]));
    assert_eq!(user["password"]["set"], true);
    let verified = app
        .post(&format!("/v1/users/{uid}/password/verify"))
        .json(&json!({ "password": "correct horse battery staple" }))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), StatusCode::OK, "the password was kept (hashed)");

    let got = expect(
        scim(&app, Method::GET, &format!("/Users/{uid}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(got, created);

    // PUT replaces what SCIM expresses and keeps the rest (the password, the native claims).
    let claims =
        app.patch(&format!("/v1/users/{uid}")).json(&json!({ "claims": { "tier": "gold" } }));
    expect_status(claims.send().await.unwrap(), StatusCode::OK).await;
    let mut replacement = ada();
    replacement["displayName"] = json!("Countess of Lovelace");
    replacement["active"] = json!(false);
    replacement.as_object_mut().unwrap().remove("password");
    replacement.as_object_mut().unwrap().remove(ENTERPRISE);
    let put = scim(&app, Method::PUT, &format!("/Users/{uid}")).header("if-match", "W/\"2\"");
    let replaced = expect(put.json(&replacement).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (&replaced["displayName"], &replaced["active"]),
        (&json!("Countess of Lovelace"), &json!(false))
    );
    assert!(replaced.get(ENTERPRISE).is_none());
    let user = native(&app, &uid).await;
    assert_eq!(
        (&user["state"], &user["version"]),
        (&json!("inactive"), &json!(3)),
        "one commit for both"
    );
    assert_eq!(
        (&user["claims"], &user["password"]["set"]),
        (&json!({ "tier": "gold" }), &json!(true))
    );

    // PATCH: paths, value filters, the active flag.
    let ops = patch(json!([
        { "op": "replace", "path": "emails[value eq \"ada@example.com\"].value", "value": "ada@lovelace.example" },
        { "op": "add", "path": "emails", "value": [{ "value": "countess@lovelace.example" }] },
        { "op": "remove", "path": "name.middleName" },
        { "op": "replace", "value": { "active": true, "nickName": "Enchantress of Numbers" } },
    ]));
    let patched =
        scim(&app, Method::PATCH, &format!("/Users/{uid}")).json(&ops).send().await.unwrap();
    let patched = expect(patched, StatusCode::OK).await;
    let emails: Vec<&str> = patched["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ada@lovelace.example", "countess@lovelace.example"]);
    assert!(patched["name"].get("middleName").is_none());
    assert_eq!(
        (&patched["active"], &patched["nickName"]),
        (&json!(true), &json!("Enchantress of Numbers"))
    );
    assert_eq!(native(&app, &uid).await["state"], "active");

    // A stale version changes nothing.
    let stale = scim(&app, Method::PATCH, &format!("/Users/{uid}")).header("if-match", "W/\"1\"");
    let ops = patch(json!([{ "op": "replace", "path": "displayName", "value": "x" }]));
    expect_error(stale.json(&ops).send().await.unwrap(), StatusCode::PRECONDITION_FAILED, None)
        .await;
    // Any well-formed tag that is not the current one is a 412 (RFC 9110 §13.1.1); only a
    // malformed header is a 400.
    for (tag, status, scim_type) in [
        ("\"bogus\"", StatusCode::PRECONDITION_FAILED, None),
        ("W/\"1\", W/\"2\"", StatusCode::BAD_REQUEST, Some("invalidValue")),
        ("3", StatusCode::BAD_REQUEST, Some("invalidValue")),
    ] {
        let request = scim(&app, Method::PATCH, &format!("/Users/{uid}")).header("if-match", tag);
        expect_error(request.json(&ops).send().await.unwrap(), status, scim_type).await;
    }

    let deleted = scim(&app, Method::DELETE, &format!("/Users/{uid}")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = scim(&app, Method::GET, &format!("/Users/{uid}")).send().await.unwrap();
    expect_error(gone, StatusCode::NOT_FOUND, None).await;
    let again = scim(&app, Method::DELETE, &format!("/Users/{uid}")).send().await.unwrap();
    expect_error(again, StatusCode::NOT_FOUND, None).await;
}

#[tokio::test]
async fn active_follows_the_lifecycle() {
    let app = TestApp::spawn().await;
    let body = json!({ "schemas": [USER], "userName": "grace", "active": false });
    let grace = create_user(&app, body).await;
    let uid = id(&grace).to_owned();
    assert_eq!(native(&app, &uid).await["state"], "inactive");
    let set = |active: bool| patch(json!([{ "op": "replace", "path": "active", "value": active }]));
    let on =
        scim(&app, Method::PATCH, &format!("/Users/{uid}")).json(&set(true)).send().await.unwrap();
    assert_eq!(expect(on, StatusCode::OK).await["active"], true);
    let lock = app.post(&format!("/v1/users/{uid}/lock")).send().await.unwrap();
    expect_status(lock, StatusCode::OK).await;
    let got = scim(&app, Method::GET, &format!("/Users/{uid}")).send().await.unwrap();
    assert_eq!(expect(got, StatusCode::OK).await["active"], false, "locked is not active");
    // Setting a locked user active unlocks it; `active: false` on an inactive one changes nothing.
    let on =
        scim(&app, Method::PATCH, &format!("/Users/{uid}")).json(&set(true)).send().await.unwrap();
    expect(on, StatusCode::OK).await;
    assert_eq!(native(&app, &uid).await["state"], "active");
    let events: Vec<String> =
        app.events().await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events.iter().filter(|t| *t == "user.state_changed").count(), 3);
}

#[tokio::test]
async fn bad_requests_are_scim_errors_and_write_nothing() {
    let app = TestApp::spawn().await;
    let ada = create_user(&app, ada()).await;
    let uid = id(&ada).to_owned();
    let post = |body: Value| scim(&app, Method::POST, "/Users").json(&body).send();

    let e = expect_error(
        post(json!({ "userName": "x" })).await.unwrap(),
        StatusCode::BAD_REQUEST,
        Some("invalidSyntax"),
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("schemas"));
    let e = expect_error(
        post(json!({ "schemas": [USER] })).await.unwrap(),
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("userName"), "{e}");
    let e = expect_error(
        post(json!({ "schemas": [USER], "userName": "ADA" })).await.unwrap(),
        StatusCode::CONFLICT,
        Some("uniqueness"),
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("userName"), "{e}");
    let unknown = json!({ "schemas": [USER], "userName": "x", "ims": [{ "value": "x" }] });
    let e =
        expect_error(post(unknown).await.unwrap(), StatusCode::BAD_REQUEST, Some("invalidSyntax"))
            .await;
    assert!(e["detail"].as_str().unwrap().contains("ims"), "{e}");
    // A number without a country code is kept as given (see below); one too long to be a
    // phone number at all is refused.
    let bad_phone = json!({ "schemas": [USER], "userName": "x", "phoneNumbers": [{ "value": "1".repeat(70) }] });
    let e =
        expect_error(post(bad_phone).await.unwrap(), StatusCode::BAD_REQUEST, Some("invalidValue"))
            .await;
    assert!(e["detail"].as_str().unwrap().starts_with("phoneNumbers[0].value"), "{e}");
    let not_json = scim(&app, Method::POST, "/Users").body("{").send().await.unwrap();
    expect_error(not_json, StatusCode::BAD_REQUEST, Some("invalidSyntax")).await;

    let patch_user =
        |ops: Value| scim(&app, Method::PATCH, &format!("/Users/{uid}")).json(&patch(ops)).send();
    let cases = [
        (
            json!([{ "op": "replace", "path": "nickName", "value": "A" }, { "op": "replace", "path": "ims", "value": "x" }]),
            "invalidPath",
        ),
        (json!([{ "op": "replace", "path": "emails[value eq]", "value": "x" }]), "invalidFilter"),
        (
            json!([{ "op": "replace", "path": "emails[value eq \"none@x.example\"].value", "value": "y@x.example" }]),
            "noTarget",
        ),
        (json!([{ "op": "remove" }]), "noTarget"),
        (json!([{ "op": "replace", "path": "id", "value": "x" }]), "mutability"),
        (
            json!([{ "op": "replace", "path": "nickName", "value": "A" }, { "op": "replace", "path": "userName", "value": "" }]),
            "invalidValue",
        ),
    ];
    for (ops, scim_type) in cases {
        expect_error(patch_user(ops).await.unwrap(), StatusCode::BAD_REQUEST, Some(scim_type))
            .await;
    }
    let after = scim(&app, Method::GET, &format!("/Users/{uid}")).send().await.unwrap();
    let after = expect(after, StatusCode::OK).await;
    assert_eq!(after, ada, "no failed request changed the user");

    let bad_filter = scim(&app, Method::GET, "/Users?filter=userName%20eq").send().await.unwrap();
    expect_error(bad_filter, StatusCode::BAD_REQUEST, Some("invalidFilter")).await;
    let unknown_attr =
        scim(&app, Method::GET, "/Users?filter=title%20eq%20%22x%22").send().await.unwrap();
    expect_error(unknown_attr, StatusCode::BAD_REQUEST, Some("invalidFilter")).await;
    let bad_cursor = scim(&app, Method::GET, "/Users?cursor=nonsense").send().await.unwrap();
    expect_error(bad_cursor, StatusCode::BAD_REQUEST, Some("invalidCursor")).await;
    let not_uuid = scim(&app, Method::GET, "/Users/not-a-uuid").send().await.unwrap();
    expect_error(not_uuid, StatusCode::NOT_FOUND, None).await;
    let no_route = scim(&app, Method::GET, "/Nope").send().await.unwrap();
    expect_error(no_route, StatusCode::NOT_FOUND, None).await;
}

#[tokio::test]
async fn tokens_need_their_scopes_and_see_their_tenant_only() {
    let app = TestApp::spawn().await;
    let ada = create_user(&app, ada()).await;
    let anonymous = app.http.get(app.url("/scim/v2/Users")).send().await.unwrap();
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    expect_error(anonymous, StatusCode::UNAUTHORIZED, None).await;
    let issued = app
        .post("/v1/tokens")
        .json(&json!({ "name": "reader", "scopes": ["users:read"] }))
        .send()
        .await
        .unwrap();
    let reader =
        expect_status(issued, StatusCode::CREATED).await["token"].as_str().unwrap().to_owned();
    let listed = scim_as(&app, &reader, Method::GET, "/Users").send().await.unwrap();
    assert_eq!(expect(listed, StatusCode::OK).await["totalResults"], 1);
    let write = scim_as(&app, &reader, Method::POST, "/Users")
        .json(&json!({ "schemas": [USER], "userName": "x" }));
    expect_error(write.send().await.unwrap(), StatusCode::FORBIDDEN, None).await;
    let theirs = scim_as(&app, &app.decoy_token, Method::GET, &format!("/Users/{}", id(&ada)));
    expect_error(theirs.send().await.unwrap(), StatusCode::NOT_FOUND, None).await;
    let theirs = scim_as(&app, &app.decoy_token, Method::GET, "/Users").send().await.unwrap();
    let theirs = expect(theirs, StatusCode::OK).await;
    assert!(theirs["Resources"].as_array().unwrap().iter().all(|u| u["id"] != ada["id"]));
}

async fn list(app: &TestApp, query: &str) -> Value {
    let response = scim(app, Method::GET, &format!("/Users?{query}")).send().await.unwrap();
    expect(response, StatusCode::OK).await
}

fn names(page: &Value) -> Vec<&str> {
    page["Resources"].as_array().unwrap().iter().map(|r| r["userName"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn listings_filter_sort_page_and_project() {
    let app = TestApp::spawn().await;
    for (name, family, department) in [
        ("dora", "Dunn", "ops"),
        ("bob", "Bell", "eng"),
        ("cleo", "Carr", "eng"),
        ("anna", "Ash", "ops"),
        ("eve", "Ent", "eng"),
    ] {
        let body = json!({
            "schemas": [USER, ENTERPRISE],
            "userName": name,
            "name": { "familyName": family },
            "emails": [{ "value": format!("{name}@example.com"), "primary": true }],
            ENTERPRISE: { "department": department },
        });
        create_user(&app, body).await;
    }
    let all = list(&app, "").await;
    assert_eq!(all["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
    assert_eq!(
        (&all["totalResults"], &all["startIndex"], &all["itemsPerPage"]),
        (&json!(5), &json!(1), &json!(5))
    );
    assert_eq!(names(&all), ["dora", "bob", "cleo", "anna", "eve"], "creation order by default");

    let filtered = list(&app, "filter=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department%20eq%20%22eng%22%20and%20not%20(userName%20eq%20%22bob%22)&sortBy=name.familyName&sortOrder=descending").await;
    assert_eq!((names(&filtered), &filtered["totalResults"]), (vec!["eve", "cleo"], &json!(2)));
    let by_email = list(&app, "filter=emails%5Bvalue%20sw%20%22ANNA%40%22%5D").await;
    assert_eq!(names(&by_email), ["anna"]);
    let active = list(&app, "filter=active%20eq%20true&sortBy=userName").await;
    assert_eq!(names(&active), ["anna", "bob", "cleo", "dora", "eve"]);

    let page = list(&app, "sortBy=userName&startIndex=2&count=2").await;
    assert_eq!(
        (names(&page), &page["startIndex"], &page["totalResults"]),
        (vec!["bob", "cleo"], &json!(2), &json!(5))
    );
    let none = list(&app, "count=0").await;
    assert_eq!((&none["totalResults"], &none["Resources"]), (&json!(5), &json!([])));

    // Cursor pages (RFC 9865) visit every user once.
    let mut seen = Vec::new();
    let mut query = "sortBy=userName&count=2&cursor=".to_owned();
    loop {
        let page = list(&app, &query).await;
        assert!(page.get("startIndex").is_none());
        seen.extend(names(&page).into_iter().map(str::to_owned));
        match page["nextCursor"].as_str() {
            Some(next) => query = format!("sortBy=userName&count=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["anna", "bob", "cleo", "dora", "eve"]);

    let projected = list(&app, "attributes=userName,name.familyName&count=1").await;
    let first = &projected["Resources"][0];
    let keys: HashSet<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["id", "schemas", "meta", "userName", "name"]));
    assert_eq!(first["name"], json!({ "familyName": "Dunn" }));
    let excluded = list(&app, "excludedAttributes=emails,meta&count=1").await;
    let first = &excluded["Resources"][0];
    assert!(
        first.get("emails").is_none() && first.get("meta").is_some(),
        "meta is always returned"
    );

    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"c\" or userName sw \"d\"", "sortBy": "userName", "attributes": ["userName"], "count": 10,
    });
    let found = scim(&app, Method::POST, "/Users/.search").json(&search).send().await.unwrap();
    let found = expect(found, StatusCode::OK).await;
    assert_eq!(names(&found), ["cleo", "dora"]);
    let one = scim(
        &app,
        Method::GET,
        &format!("/Users/{}?attributes=userName", id(&found["Resources"][0])),
    );
    let one = expect(one.send().await.unwrap(), StatusCode::OK).await;
    assert!(one.get("emails").is_none() && one["userName"] == "cleo");
}

/// Identity providers send phone numbers as free text: one without a country code is read in
/// `phone_default_region` when set, and otherwise kept as given — marked `unnormalized`, never a
/// unique key nor a lookup — instead of refusing the whole user. `/v1` still refuses them.
#[tokio::test]
async fn phone_numbers_without_a_country_code_are_kept_not_refused() {
    let scim_user = |name: &str, phone: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "phoneNumbers": [{ "value": phone, "type": "work", "primary": true }],
        })
    };
    let app = TestApp::spawn().await;
    for name in ["free1", "free2"] {
        let created = app
            .post("/scim/v2/Users")
            .json(&scim_user(name, "(555) 123-4567"))
            .send()
            .await
            .unwrap();
        let created = expect_status(created, StatusCode::CREATED).await;
        assert_eq!(created["phoneNumbers"][0]["value"], "(555) 123-4567");
        let native = app
            .get(&format!("/v1/users/{}", created["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        let native = expect_status(native, StatusCode::OK).await;
        assert_eq!(
            native["phones"],
            json!([{ "value": "(555) 123-4567", "primary": true, "verified": false, "unnormalized": true }])
        );
    }
    let lookup = app.get("/v1/users/by-phone/(555)%20123-4567").send().await.unwrap();
    assert_eq!(lookup.status(), StatusCode::NOT_FOUND, "never a lookup");
    let native = app
        .post("/v1/users")
        .json(&json!({ "username": "n", "phones": [{ "value": "(555) 123-4567" }] }));
    let problem = expect_status(native.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "phones[0].value");

    let regional = TestApp::spawn_with(|c| c.phone_default_region = Some("us".to_owned())).await;
    let created = regional
        .post("/scim/v2/Users")
        .json(&scim_user("us", "(201) 555-0123"))
        .send()
        .await
        .unwrap();
    let created = expect_status(created, StatusCode::CREATED).await;
    assert_eq!(created["phoneNumbers"][0]["value"], "+12015550123");
    let found = regional.get("/v1/users/by-phone/+12015550123").send().await.unwrap();
    assert_eq!(expect_status(found, StatusCode::OK).await["username"], "us");
}
