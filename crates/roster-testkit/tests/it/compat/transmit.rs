//! Transmit Security's Users API at `/compat/transmit`, field by field as its published
//! documents have it.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use roster_testkit::{TestApp, expect_status, id};
use serde_json::{Value, json};

const BASE: &str = "/compat/transmit/v1";

fn call(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.request(method, &format!("{BASE}{path}"))
}

fn ada() -> Value {
    json!({
        "email": "ada@example.com", "phone_number": "+4930901820",
        "secondary_emails": ["ada@work.example"],
        "name": { "title": "Countess", "first_name": "Ada", "last_name": "Lovelace" },
        "address": { "street_address": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH",
                     "country": "GB", "type": "Home" },
        "birthday": "1815-12-10", "language": "en-GB", "picture": "https://example.com/ada.png",
        "custom_data": { "tier": "gold", "prefs": { "tea": true } }, "external_user_id": "ext-ada",
    })
}

async fn created(app: &TestApp, body: &Value) -> Value {
    let response = call(app, Method::POST, "/users").json(body).send().await.unwrap();
    expect_status(response, StatusCode::CREATED).await["result"].clone()
}

/// Asserts Transmit's error shape with `status`; returns `message`.
async fn refused(response: Response, status: StatusCode) -> Value {
    let body = expect_status(response, status).await;
    assert_eq!(body["error_code"], status.as_u16(), "{body}");
    if status == StatusCode::BAD_REQUEST {
        assert!(body["message"].as_array().is_some_and(|m| !m.is_empty()), "{body}");
    } else {
        assert!(body["message"].is_string(), "{body}");
    }
    body
}

fn text(body: &Value) -> String {
    body["message"].to_string()
}

#[tokio::test]
async fn a_user_is_created_and_read_back_in_transmits_words() {
    let app = TestApp::spawn().await;
    let user = created(&app, &ada()).await;
    let uid = user["user_id"].as_str().unwrap().to_owned();
    assert_eq!(user["status"], "Active");
    assert_eq!(user["username"], "ada@example.com", "the e-mail by default");
    assert_eq!(user["email"], json!({ "value": "ada@example.com", "email_verified": false }));
    assert_eq!(
        user["secondary_emails"],
        json!([{ "value": "ada@work.example", "email_verified": false }])
    );
    assert_eq!(
        user["phone_number"],
        json!({ "value": "+4930901820", "phone_number_verified": false })
    );
    assert_eq!(
        user["name"],
        json!({ "title": "Countess", "first_name": "Ada", "middle_name": null, "last_name": "Lovelace" })
    );
    assert_eq!(user["address"]["type"], "Home");
    assert_eq!(user["address"]["postal_code"], "SW1Y 4JH");
    assert_eq!((&user["birthday"], &user["language"]), (&json!("1815-12-10"), &json!("en-GB")));
    assert_eq!(user["custom_data"], ada()["custom_data"]);
    assert_eq!((&user["external_user_id"], &user["groupIds"]), (&json!("ext-ada"), &json!([])));
    assert!(user["created_at"].as_i64().unwrap() > 1_700_000_000_000, "epoch milliseconds");
    assert!(user.get("last_auth").is_none() && user.get("custom_app_data").is_none());

    let native =
        expect_status(app.get(&format!("/v1/users/{uid}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(native["name"]["given"], "Ada");
    assert_eq!(native["claims"], ada()["custom_data"]);
    assert_eq!(
        native["attributes"],
        json!({ "transmit.address_type": ["Home"], "transmit.title": ["Countess"] })
    );
    assert_eq!(native["address"]["line1"], "12 St James's Square");

    for path in [
        format!("/users/{uid}"),
        "/users/email/ADA@example.com".to_owned(),
        "/users/phone/+4930901820".to_owned(),
        "/users/phone-number/%2B4930901820".to_owned(),
        "/users/username/ada@example.com".to_owned(),
        "/users/external-user-id/ext-ada".to_owned(),
    ] {
        let read =
            expect_status(call(&app, Method::GET, &path).send().await.unwrap(), StatusCode::OK)
                .await;
        assert_eq!(read["result"], user, "{path}");
    }
    // By primary only; a secondary address, an unknown or malformed id, another tenant's user: 404.
    for path in [
        "/users/email/ada@work.example".to_owned(),
        "/users/not-an-id".to_owned(),
        format!("/users/{}", uuid::Uuid::new_v4()),
    ] {
        refused(call(&app, Method::GET, &path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    let foreign = app.request_as(&app.decoy_token, Method::GET, &format!("{BASE}/users/{uid}"));
    refused(foreign.send().await.unwrap(), StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn bad_creates_name_each_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let before = app.all_users(true).await.len();
    for (body, field) in [
        (json!({ "name": { "first_name": "No" } }), "email or phone_number"),
        (json!({ "email": "x@example.com", "nickname": "x" }), "nickname"),
        (json!({ "email": "x@example.com", "address": { "type": "Castle" } }), "address.type"),
        (json!({ "email": "x@example.com", "phone_number": "12" }), "phone_number"),
        (json!({ "email": "x@example.com", "birthday": "1815-13-10" }), "birthday"),
        (
            json!({ "email": "x@example.com", "name": { "first_name": "x".repeat(300) } }),
            "name.first_name",
        ),
        (json!({ "email": "x@example.com", "custom_app_data": { "a": 1 } }), "custom_app_data"),
        (json!({ "email": "not an address" }), "email"),
    ] {
        let response = call(&app, Method::POST, "/users").json(&body).send().await.unwrap();
        let message = text(&refused(response, StatusCode::BAD_REQUEST).await);
        assert!(message.contains(field), "{field}: {message}");
    }
    let text_body =
        call(&app, Method::POST, "/users").header("content-type", "text/plain").body("{}");
    refused(text_body.send().await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let malformed =
        call(&app, Method::POST, "/users").header("content-type", "application/json").body("{");
    refused(malformed.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(app.all_users(true).await.len(), before);

    // A taken e-mail (any case) or external id: 409 naming it, with a ts_error_code.
    created(&app, &ada()).await;
    for body in [
        json!({ "email": "ADA@example.com" }),
        json!({ "email": "b@example.com", "external_user_id": "ext-ada" }),
    ] {
        let response = call(&app, Method::POST, "/users").json(&body).send().await.unwrap();
        let conflict = refused(response, StatusCode::CONFLICT).await;
        assert!(conflict["ts_error_code"].as_str().is_some_and(|c| !c.is_empty()), "{conflict}");
    }
}

#[tokio::test]
async fn put_merges_as_transmit_does_and_moves_the_status() {
    let app = TestApp::spawn().await;
    let user = created(&app, &ada()).await;
    let path = format!("/users/{}", user["user_id"].as_str().unwrap());
    let put = |body: Value| call(&app, Method::PUT, &path).json(&body).send();

    let changed = put(json!({
        "secondary_emails": ["ada@work.example", "ada@home.example"],
        "name": { "first_name": "Augusta" },
        "custom_data": { "prefs": { "coffee": true } },
    }))
    .await
    .unwrap();
    let changed = expect_status(changed, StatusCode::OK).await["result"].clone();
    let secondary: Vec<&str> = changed["secondary_emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(secondary, ["ada@work.example", "ada@home.example"], "added, not repeated");
    assert_eq!(changed["email"]["value"], "ada@example.com", "kept");
    assert_eq!(
        changed["name"],
        json!({ "title": null, "first_name": "Augusta", "middle_name": null, "last_name": null }),
        "replaced whole"
    );
    assert_eq!(
        changed["custom_data"],
        json!({ "tier": "gold", "prefs": { "coffee": true } }),
        "merged one level deep"
    );
    assert_eq!(changed["address"], user["address"], "absent: unchanged");

    for (status, native) in [("Disabled", "inactive"), ("Active", "active")] {
        let moved =
            expect_status(put(json!({ "status": status })).await.unwrap(), StatusCode::OK).await;
        assert_eq!(moved["result"]["status"], status);
        let id = user["user_id"].as_str().unwrap();
        let read = expect_status(
            app.get(&format!("/v1/users/{id}")).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(read["state"], native);
    }
    // Forgetting: answered in its new status; the job then erases the user, who is not found.
    let forget =
        expect_status(put(json!({ "status": "Forget Requested" })).await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(forget["result"]["status"], "Forget Requested");
    roster_testkit::eventually("the erasure", || async {
        let read = call(&app, Method::GET, &path).send().await.unwrap();
        (read.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    let other = created(&app, &json!({ "phone_number": "+4930901821" })).await;
    assert_eq!(other["username"], "+4930901821", "the phone number when there is no e-mail");
    let other_path = format!("/users/{}", other["user_id"].as_str().unwrap());
    for body in [
        json!({ "status": "Pending" }),
        json!({ "status": "Sleeping" }),
        json!({ "status": "Active", "email": "bad" }),
    ] {
        let response = call(&app, Method::PUT, &other_path).json(&body).send().await.unwrap();
        assert!(
            text(&refused(response, StatusCode::BAD_REQUEST).await)
                .contains(if body.get("email").is_some() { "email" } else { "status" })
        );
    }
    // A taken value on update is a conflict too; nothing of the change is written.
    created(&app, &json!({ "email": "carol@example.com" })).await;
    let taken = call(&app, Method::PUT, &other_path)
        .json(&json!({ "email": "CAROL@example.com", "status": "Disabled" }));
    refused(taken.send().await.unwrap(), StatusCode::CONFLICT).await;
    let read =
        expect_status(call(&app, Method::GET, &other_path).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(read["result"]["status"], "Active");
}

#[tokio::test]
async fn lists_page_sort_and_search_by_prefix() {
    let app = TestApp::spawn().await;
    for (email, phone) in [
        ("carol@example.com", "+4930000001"),
        ("alice@example.com", "+4930000002"),
        ("bob@example.org", "+12125550100"),
    ] {
        created(&app, &json!({ "email": email, "phone_number": phone })).await;
    }
    let list = |query: &str| call(&app, Method::GET, &format!("/users{query}")).send();
    let page = expect_status(list("?page_limit=2").await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (&page["total_count"], &page["page_info"]),
        (&json!(3), &json!({ "has_next_page": true, "has_previous_page": false }))
    );
    let emails = |page: &Value| {
        page["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"]["value"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(emails(&page), ["carol@example.com", "alice@example.com"], "created_at ascending");
    let last =
        expect_status(list("?page_limit=2&page_offset=2").await.unwrap(), StatusCode::OK).await;
    assert_eq!(last["page_info"], json!({ "has_next_page": false, "has_previous_page": true }));
    let sorted =
        expect_status(list("?sort_field=email&sort_order=desc").await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(emails(&sorted), ["carol@example.com", "bob@example.org", "alice@example.com"]);
    let prefixed = expect_status(list("?search_prefix=AL").await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        (emails(&prefixed), &prefixed["total_count"]),
        (vec!["alice@example.com".to_owned()], &json!(1))
    );
    let by_phone =
        expect_status(list("?search_prefix=%2B1212").await.unwrap(), StatusCode::OK).await;
    assert_eq!(emails(&by_phone), ["bob@example.org"]);
    for (query, named) in [
        ("?page_limit=0", "page_limit"),
        ("?page_limit=1001", "page_limit"),
        ("?page_offset=-1", "page_offset"),
        ("?sort_field=name", "sort_field"),
        ("?sort_order=up", "sort_order"),
        ("?colour=red", "colour"),
    ] {
        assert!(
            text(&refused(list(query).await.unwrap(), StatusCode::BAD_REQUEST).await)
                .contains(named),
            "{query}"
        );
    }

    let count = |query: &str| call(&app, Method::GET, &format!("/users/count{query}")).send();
    assert_eq!(
        expect_status(count("").await.unwrap(), StatusCode::OK).await,
        json!({ "result": { "user_count": 3 } })
    );
    assert_eq!(
        expect_status(count("?status=Disabled").await.unwrap(), StatusCode::OK).await["result"]["user_count"],
        0
    );
    assert_eq!(
        expect_status(count("?status=Active").await.unwrap(), StatusCode::OK).await["result"]["user_count"],
        3
    );
    refused(count("?status=Sleeping").await.unwrap(), StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn groups_and_the_requesting_applications_data() {
    let app = TestApp::spawn().await;
    let user = created(&app, &ada()).await;
    let uid = user["user_id"].as_str().unwrap().to_owned();
    let group = expect_status(
        app.post("/v1/groups")
            .json(&json!({ "name": "engines", "description": "Analytical" }))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let add =
        app.post(&format!("/v1/groups/{}/members", id(&group))).json(&json!({ "user_id": uid }));
    assert!(add.send().await.unwrap().status().is_success());
    let groups = expect_status(
        call(&app, Method::GET, &format!("/users/{uid}/groups")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(groups["result"][0]["group_id"], group["id"]);
    assert_eq!(groups["result"][0]["name"], "engines");
    assert!(groups["result"][0]["created_at"].is_i64());
    let read = expect_status(
        call(&app, Method::GET, &format!("/users/{uid}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["result"]["groupIds"], json!([group["id"]]));

    // A token bound to an application writes and reads that application's data of the user.
    let application = expect_status(
        app.post("/v1/applications").json(&json!({ "name": "portal" })).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let body = json!({ "name": "portal", "scopes": ["users:read", "users:write"], "application_id": application["id"] });
    let bound = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let bound = bound["token"].as_str().unwrap().to_owned();
    let as_app =
        |method: Method, path: &str| app.request_as(&bound, method, &format!("{BASE}{path}"));
    let joined = as_app(Method::PUT, &format!("/users/{uid}"))
        .json(&json!({ "custom_app_data": { "plan": "pro" }, "external_account_id": "acct-1" }));
    let joined =
        expect_status(joined.send().await.unwrap(), StatusCode::OK).await["result"].clone();
    assert_eq!(
        (&joined["custom_app_data"], &joined["external_account_id"], &joined["app_name"]),
        (&json!({ "plan": "pro" }), &json!("acct-1"), &json!("portal"))
    );
    let unbound = expect_status(
        call(&app, Method::GET, &format!("/users/{uid}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(unbound["result"].get("custom_app_data").is_none(), "only for the application's token");
    // One change: the user, its state and the application's data together, or nothing.
    let version = async || {
        let native = app.get(&format!("/v1/users/{uid}")).send().await.unwrap();
        expect_status(native, StatusCode::OK).await["version"].as_i64().unwrap()
    };
    let before = version().await;
    let all = as_app(Method::PUT, &format!("/users/{uid}")).json(&json!({ "name": { "first_name": "Ada" }, "status": "Disabled", "custom_app_data": { "plan": "max" } }));
    let all = expect_status(all.send().await.unwrap(), StatusCode::OK).await["result"].clone();
    assert_eq!(
        (&all["status"], &all["custom_app_data"]),
        (&json!("Disabled"), &json!({ "plan": "max" }))
    );
    assert_eq!(version().await, before + 1, "one commit");
    let partly = as_app(Method::PUT, &format!("/users/{uid}")).json(&json!({ "name": { "first_name": "Changed" }, "status": "Active", "custom_app_data": "not an object" }));
    refused(partly.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    let unchanged = expect_status(
        as_app(Method::GET, &format!("/users/{uid}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await["result"]
        .clone();
    assert_eq!(
        (&unchanged["name"]["first_name"], &unchanged["status"], &unchanged["custom_app_data"]),
        (&json!("Ada"), &json!("Disabled"), &json!({ "plan": "max" }))
    );
    assert_eq!(unchanged["external_account_id"], "acct-1", "a merge keeps what it leaves out");

    // The application's fields are searched in its own memberships: another application's
    // member with the same data is not found, and a token of no application cannot ask.
    let shop = expect_status(
        app.post("/v1/applications").json(&json!({ "name": "shop" })).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let other = app.create_user(roster_testkit::user("other")).await;
    let elsewhere = format!(
        "/v1/users/{}/applications/{}",
        other["id"].as_str().unwrap(),
        shop["id"].as_str().unwrap()
    );
    let same_data = json!({ "app_data": { "plan": "max" }, "external_account_id": "acct-1" });
    expect_status(app.put(&elsewhere).json(&same_data).send().await.unwrap(), StatusCode::CREATED)
        .await;
    let searched = async |search: &str| {
        let request = as_app(Method::GET, "/users").query(&[("search", search)]);
        let page = expect_status(request.send().await.unwrap(), StatusCode::OK).await;
        let ids = page["result"].as_array().unwrap().iter().map(|u| u["user_id"].clone());
        (page["total_count"].clone(), ids.collect::<Vec<_>>())
    };
    for search in [
        r#"custom_app_data.plan eq "MAX""#,
        r#"external_account_id eq "acct-1" and custom_app_data.plan pr"#,
        r#"(custom_app_data.plan sw "m") and (status eq "Disabled")"#,
    ] {
        assert_eq!(searched(search).await, (json!(1), vec![json!(uid)]), "{search}");
    }
    assert_eq!(searched(r#"custom_app_data.plan eq "pro""#).await.0, json!(0));
    let count = as_app(Method::GET, "/users/count").query(&[("search", "external_account_id pr")]);
    let count = expect_status(count.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(count["result"]["user_count"], 1);
    let unbound = call(&app, Method::GET, "/users").query(&[("search", "external_account_id pr")]);
    let unbound = refused(unbound.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert!(text(&unbound).contains("bound to an application"), "{unbound}");

    let left = as_app(Method::DELETE, &format!("/users/{uid}/apps")).send().await.unwrap();
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    refused(
        as_app(Method::DELETE, &format!("/users/{uid}/apps")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    refused(
        call(&app, Method::DELETE, &format!("/users/{uid}/apps")).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let kept = expect_status(
        call(&app, Method::GET, &format!("/users/{uid}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(kept["result"]["user_id"], json!(uid), "the user is kept");
    assert_eq!(searched("custom_app_data.plan pr").await.0, json!(0), "nor found as a member");
}

#[tokio::test]
async fn the_token_endpoint_and_scopes() {
    let app = TestApp::spawn().await;
    let body = json!({ "name": "client", "scopes": ["users:read"] });
    let client = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        id(&client),
        client["token"].as_str().unwrap()
    );
    let token = app
        .http
        .post(app.url("/compat/transmit/oidc/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    let response = token.send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let granted = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        (&granted["token_type"], &granted["scope"]),
        (&json!("Bearer"), &json!("users:read"))
    );
    let access = granted["access_token"].as_str().unwrap();
    let read = app.request_as(access, Method::GET, &format!("{BASE}/users")).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let write = app
        .request_as(access, Method::POST, &format!("{BASE}/users"))
        .json(&json!({ "email": "w@example.com" }));
    refused(write.send().await.unwrap(), StatusCode::FORBIDDEN).await;
    let anonymous = app.http.get(app.url(&format!("{BASE}/users"))).send().await.unwrap();
    refused(anonymous, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn search_speaks_transmits_syntax_over_the_core_query() {
    let app = TestApp::spawn().await;
    let ada = created(&app, &ada()).await;
    let bob = created(&app, &json!({ "email": "bob@example.org", "phone_number": "+12125550100",
        "secondary_emails": ["ada@example.org"], "name": { "first_name": "Bob", "last_name": "Byron" },
        "birthday": "1788-01-22" })).await;
    let off = call(&app, Method::PUT, &format!("/users/{}", bob["user_id"].as_str().unwrap()));
    expect_status(off.json(&json!({ "status": "Disabled" })).send().await.unwrap(), StatusCode::OK)
        .await;
    let found = |search: &str| {
        let request = call(&app, Method::GET, "/users").query(&[("search", search)]);
        async move {
            let page = expect_status(request.send().await.unwrap(), StatusCode::OK).await;
            page["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let (a, b) =
        (ada["user_id"].as_str().unwrap().to_owned(), bob["user_id"].as_str().unwrap().to_owned());
    let created_ms = ada["created_at"].as_i64().unwrap();
    for (search, expected) in [
        (r#"email sw "ADA""#.to_owned(), vec![a.clone()]),
        (r#"secondary_emails eq "ada@example.org""#.to_owned(), vec![b.clone()]),
        (r#"(status eq "Disabled") and (phone_number sw "+1212")"#.to_owned(), vec![b.clone()]),
        (r#"status ne "Disabled""#.to_owned(), vec![a.clone()]),
        (
            r#"name.last_name eq "Byron" or name.first_name eq "Ada""#.to_owned(),
            vec![a.clone(), b.clone()],
        ),
        (r#"birthday lt "1800-01-01""#.to_owned(), vec![b.clone()]),
        (format!("created_at ge {created_ms} and external_user_id pr"), vec![a.clone()]),
        (r#"last_auth pr"#.to_owned(), vec![]),
    ] {
        assert_eq!(found(&search).await, expected, "{search}");
    }
    let count = call(&app, Method::GET, "/users/count").query(&[("search", r#"email pr"#)]);
    assert_eq!(
        expect_status(count.send().await.unwrap(), StatusCode::OK).await["result"]["user_count"],
        2
    );
    for search in [
        r#"email co "a""#,
        r#"username eq "ada@example.com""#,
        r#"(email eq "a""#,
        r#"created_at gt "yesterday""#,
    ] {
        let response =
            call(&app, Method::GET, "/users").query(&[("search", search)]).send().await.unwrap();
        assert!(
            text(&refused(response, StatusCode::BAD_REQUEST).await).contains("search"),
            "{search}"
        );
    }
}

#[tokio::test]
async fn bulk_creates_each_user_on_its_own_in_request_order() {
    let app = TestApp::spawn().await;
    let bodies = json!([
        { "email": "one@example.com" },
        { "name": { "first_name": "No contact" } },
        { "email": "two@example.com", "phone_number": "+4930000002" },
        { "email": "ONE@example.com" },
    ]);
    let response = call(&app, Method::POST, "/users/bulk").json(&bodies).send().await.unwrap();
    let outcome = expect_status(response, StatusCode::CREATED).await["result"].clone();
    let emails: Vec<&str> = outcome["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["one@example.com", "two@example.com"]);
    let errors = outcome["errors"].as_array().unwrap();
    assert_eq!((&errors[0]["index"], &errors[0]["error_code"]), (&json!(1), &json!(400)));
    assert_eq!((&errors[1]["index"], &errors[1]["error_code"]), (&json!(3), &json!(409)));
    assert!(errors[1]["ts_error_code"].is_string());
    assert_eq!(app.all_users(false).await.len(), 2);
    let too_many: Vec<Value> =
        (0..1001).map(|i| json!({ "email": format!("u{i}@example.com") })).collect();
    for body in [json!([]), json!({ "email": "x@example.com" }), json!(too_many)] {
        let response = call(&app, Method::POST, "/users/bulk").json(&body).send().await.unwrap();
        refused(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.all_users(false).await.len(), 2);
}
