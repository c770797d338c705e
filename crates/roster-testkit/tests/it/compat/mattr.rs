//! MATTR VII's Users API at `/compat/mattr`, under the seed's `/core/v1` and the current `/v1`,
//! field by field as its published documents have it.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

const PREFIXES: [&str; 2] = ["/compat/mattr/core/v1", "/compat/mattr/v1"];
const IDP: &str = "https://example-university.au.auth0.com";

fn call(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.request(method, &format!("{}{path}", PREFIXES[1]))
}

async fn created(app: &TestApp, body: &Value) -> Value {
    let response = call(app, Method::POST, "/users").json(body).send().await.unwrap();
    expect_status(response, StatusCode::CREATED).await
}

/// Asserts MATTR's error shape with `status` and `code`; returns the body.
async fn refused(response: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_status(response, status).await;
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    body
}

/// The `param` of each detail of a validation error.
async fn invalid(response: Response) -> Vec<String> {
    let body = refused(response, StatusCode::BAD_REQUEST, "BadRequest").await;
    assert_eq!(body["message"], "Validation Error", "{body}");
    let details = body["details"].as_array().unwrap();
    details.iter().map(|d| d["param"].as_str().unwrap().to_owned()).collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn users_are_created_read_replaced_and_deleted_under_both_prefixes() {
    let app = TestApp::spawn().await;
    let claims = json!({ "givenName": "Patrick John", "familyName": "Smith", "dob": "1990-06-01",
        "address": { "lines": ["1 Main St", null], "verified": false }, "score": 4.5, "id": "a claim" });
    let link = json!({ "url": IDP, "subjectId": "example-university-oauth2|123456789" });
    let user = created(&app, &json!({ "claims": claims, "authenticationProvider": link })).await;
    let provider_id = user["authenticationProvider"]["providerId"].as_str().unwrap().to_owned();
    assert_eq!(provider_id.len(), 36);
    assert_eq!(
        user,
        json!({ "id": user["id"], "claims": claims, "authenticationProvider": {
            "providerId": provider_id, "url": IDP, "subjectId": "example-university-oauth2|123456789" } })
    );
    let id = user["id"].as_str().unwrap().to_owned();
    for prefix in PREFIXES {
        let read = app.get(&format!("{prefix}/users/{id}")).send().await.unwrap();
        assert_eq!(expect_status(read, StatusCode::OK).await, user, "{prefix}");
    }
    // Natively: the same claims, the link as an identity, no username.
    let native =
        expect_status(app.get(&format!("/v1/users/{id}")).send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!((&native["claims"], &native["username"]), (&claims, &Value::Null));
    assert_eq!(native["identities"][0]["provider"], IDP);

    // A user without claims reads `{}`; the link, written back as read, is accepted.
    let bare = created(&app, &json!({})).await;
    assert_eq!(bare, json!({ "id": bare["id"], "claims": {} }));
    let again = user["authenticationProvider"].clone();
    let taken =
        call(&app, Method::POST, "/users").json(&json!({ "authenticationProvider": again }));
    refused(taken.send().await.unwrap(), StatusCode::CONFLICT, "Conflict").await;

    // PUT replaces the claims; the link is kept when absent, removed by null, replaced by an object.
    let put = |body: Value| call(&app, Method::PUT, &format!("/users/{id}")).json(&body).send();
    let replaced = expect_status(
        put(json!({ "claims": { "familyName": "Smyth" } })).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["claims"], json!({ "familyName": "Smyth" }));
    assert_eq!(replaced["authenticationProvider"], user["authenticationProvider"]);
    let moved = json!({ "url": format!("{IDP}/"), "subjectId": "other" });
    let relinked = put(json!({ "claims": {}, "authenticationProvider": moved })).await.unwrap();
    let relinked = expect_status(relinked, StatusCode::OK).await;
    assert_eq!(relinked["authenticationProvider"]["url"], format!("{IDP}/"), "kept exactly");
    assert_ne!(relinked["authenticationProvider"]["providerId"], json!(provider_id));
    let unlinked = put(json!({ "claims": {}, "authenticationProvider": null })).await.unwrap();
    let unlinked = expect_status(unlinked, StatusCode::OK).await;
    assert!(unlinked.get("authenticationProvider").is_none(), "{unlinked}");

    // DELETE: 204 without a body, then 404 everywhere and gone from lists.
    let deleted = call(&app, Method::DELETE, &format!("/users/{id}")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.bytes().await.unwrap().is_empty());
    for (method, path) in [
        (Method::GET, format!("/users/{id}")),
        (Method::PUT, format!("/users/{id}")),
        (Method::DELETE, format!("/users/{id}")),
        (Method::GET, format!("/users/{id}/credentials")),
    ] {
        let response = call(&app, method.clone(), &path).json(&json!({ "claims": {} })).send();
        refused(response.await.unwrap(), StatusCode::NOT_FOUND, "NotFound").await;
    }
    let list =
        expect_status(call(&app, Method::GET, "/users").send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(ids(&list), [bare["id"].as_str().unwrap()]);
    let kinds: Vec<String> =
        app.events().await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    for kind in ["user.created", "user.updated", "user.deleted"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
}

#[tokio::test]
async fn bad_requests_name_each_parameter_and_write_nothing() {
    let app = TestApp::spawn().await;
    let user = created(&app, &json!({ "claims": { "a": 1 } })).await;
    let id = user["id"].as_str().unwrap();
    let post = |body: Value| call(&app, Method::POST, "/users").json(&body).send();
    for (body, params) in [
        (json!({ "claimz": {} }), vec!["claimz"]),
        (json!({ "claims": [] }), vec!["claims"]),
        (
            json!({ "authenticationProvider": { "url": "not a url", "subjectId": "x" } }),
            vec!["authenticationProvider.url"],
        ),
        (
            json!({ "authenticationProvider": { "url": IDP } }),
            vec!["authenticationProvider.subjectId"],
        ),
        (
            json!({ "authenticationProvider": { "url": IDP, "subjectId": "x".repeat(256) } }),
            vec!["authenticationProvider.subjectId"],
        ),
        (
            json!({ "authenticationProvider": { "url": IDP, "subjectId": "x", "providerId": "00000000-0000-0000-0000-000000000000" } }),
            vec!["authenticationProvider.providerId"],
        ),
        (json!({ "claims": { "big": "x".repeat(70_000) } }), vec!["claims"]),
        (json!({ "claims": { "nul": "a\u{0}b" } }), vec!["claims"]),
    ] {
        assert_eq!(invalid(post(body.clone()).await.unwrap()).await, params, "{body}");
    }
    let put = call(&app, Method::PUT, &format!("/users/{id}")).json(&json!({}));
    assert_eq!(invalid(put.send().await.unwrap()).await, ["claims"]);
    let bad_id = call(&app, Method::GET, "/users/not-a-uuid").send().await.unwrap();
    let body = expect_status(bad_id, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        (&body["details"][0]["param"], &body["details"][0]["location"]),
        (&json!("id"), &json!("params"))
    );
    for query in ["limit=0", "limit=1001", "limit=x", "cursor=nope"] {
        let list = call(&app, Method::GET, &format!("/users?{query}")).send().await.unwrap();
        let param = query.split('=').next().unwrap();
        assert_eq!(invalid(list).await, [param], "{query}");
    }
    let malformed =
        call(&app, Method::POST, "/users").header("content-type", "application/json").body("{");
    refused(malformed.send().await.unwrap(), StatusCode::BAD_REQUEST, "BadRequest").await;
    let text = call(&app, Method::POST, "/users").header("content-type", "text/plain").body("{}");
    refused(text.send().await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
        .await;
    let huge = call(&app, Method::POST, "/users")
        .header("content-type", "application/json")
        .body(format!(r#"{{"claims":{{"x":"{}"}}}}"#, "x".repeat(1_100_000)));
    refused(huge.send().await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge").await;
    let list =
        expect_status(call(&app, Method::GET, "/users").send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(ids(&list), [id], "nothing else was written");
}

#[tokio::test]
async fn lists_page_by_creation_and_id_with_cursors() {
    let app = TestApp::spawn().await;
    // One native bulk: the users may share their creation time; the id orders them then.
    let users: Vec<Value> = (0..5).map(|i| json!({ "claims": { "n": i } })).collect();
    let bulk = app.post("/v1/users/bulk").json(&json!({ "users": users })).send().await.unwrap();
    expect_status(bulk, StatusCode::OK).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 0.. {
        let mut path = "/users?limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page =
            expect_status(call(&app, Method::GET, &path).send().await.unwrap(), StatusCode::OK)
                .await;
        seen.extend(ids(&page));
        match page.get("nextCursor") {
            Some(next) => cursor = Some(next.as_str().unwrap().to_owned()),
            None => {
                assert_eq!(page_number, 2, "three pages of 2, 2 and 1");
                break;
            }
        }
    }
    let native = app.get("/v1/users?limit=100").send().await.unwrap();
    let native = expect_status(native, StatusCode::OK).await;
    assert_eq!(seen, ids(&native), "every user once, in (creation time, id) order");
    // The search pages the same way, its cursor in the body; nothing found is exactly `{"data": []}`.
    let search = call(&app, Method::POST, "/users/search").json(&json!({ "limit": 4 }));
    let first = expect_status(search.send().await.unwrap(), StatusCode::OK).await;
    let next = json!({ "limit": 4, "cursor": first["nextCursor"] });
    let rest = call(&app, Method::POST, "/users/search").json(&next);
    let rest = expect_status(rest.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!([ids(&first), ids(&rest)].concat(), seen);
    assert!(rest.get("nextCursor").is_none());
    let none = call(&app, Method::POST, "/users/search").json(&json!({ "claims": { "n": 9 } }));
    assert_eq!(
        expect_status(none.send().await.unwrap(), StatusCode::OK).await,
        json!({ "data": [] })
    );
}

#[tokio::test]
async fn search_matches_claims_exactly_and_links() {
    let app = TestApp::spawn().await;
    let patrick = created(
        &app,
        &json!({ "claims": { "givenName": "Patrick", "age": 30, "vip": true,
        "address": { "city": "Auckland", "zip": "1010" }, "tags": ["a", "b"] },
        "authenticationProvider": { "url": IDP, "subjectId": "sub-1" } }),
    )
    .await;
    let lower =
        created(&app, &json!({ "claims": { "givenName": "patrick", "age": "30", "vip": "true" } }))
            .await;
    let (p, l) = (patrick["id"].as_str().unwrap(), lower["id"].as_str().unwrap());
    let app = &app;
    let search = |body: Value| async move {
        let response = call(app, Method::POST, "/users/search").json(&body).send().await.unwrap();
        ids(&expect_status(response, StatusCode::OK).await)
    };
    for (body, expected) in [
        (json!({ "claims": { "givenName": "Patrick" } }), vec![p]),
        (json!({ "claims": { "givenName": "patrick" } }), vec![l]),
        (json!({ "claims": { "givenName": "Pat" } }), vec![]),
        (json!({ "claims": { "age": 30 } }), vec![p]),
        (json!({ "claims": { "age": "30" } }), vec![l]),
        (json!({ "claims": { "vip": true } }), vec![p]),
        (json!({ "claims": { "address": { "city": "Auckland" } } }), vec![p]),
        (json!({ "claims": { "address": { "city": "Auckland", "country": "NZ" } } }), vec![]),
        (json!({ "claims": { "tags": ["b"] } }), vec![p]),
        (json!({ "claims": {} }), vec![p, l]),
        (json!({ "authenticationProvider": { "subjectId": "sub-1" } }), vec![p]),
        (json!({ "authenticationProvider": { "subjectId": "SUB-1" } }), vec![]),
        (json!({ "authenticationProvider": { "subjectId": "sub-1", "url": IDP } }), vec![p]),
        (
            json!({ "authenticationProvider": { "subjectId": "sub-1", "url": format!("{IDP}/") } }),
            vec![],
        ),
        (
            json!({ "authenticationProvider": { "subjectId": "sub-1", "providerId": patrick["authenticationProvider"]["providerId"] } }),
            vec![p],
        ),
        (
            json!({ "claims": { "givenName": "patrick" }, "authenticationProvider": { "subjectId": "sub-1" } }),
            vec![],
        ),
    ] {
        assert_eq!(search(body.clone()).await, expected, "{body}");
    }
    for (body, param) in [
        (json!({ "claims": "x" }), "claims"),
        (json!({ "authenticationProvider": { "url": IDP } }), "authenticationProvider.subjectId"),
        (json!({ "limit": 0 }), "limit"),
        (json!({ "cursor": "nope" }), "cursor"),
        (json!({ "sort": "x" }), "sort"),
    ] {
        let response = call(app, Method::POST, "/users/search").json(&body).send().await.unwrap();
        assert_eq!(invalid(response).await, [param], "{body}");
    }
}

#[tokio::test]
async fn credentials_are_listed_with_their_metadata() {
    let app = TestApp::spawn().await;
    let user = created(&app, &json!({})).await;
    let id = user["id"].as_str().unwrap();
    for n in 0..3 {
        let body = json!({ "type": "org.iso.18013.5.1.mDL", "issued_at": "2025-06-28T12:34:56Z",
            "valid_from": "2025-06-28T12:34:56Z", "valid_until": "2030-06-28T12:34:56.5Z",
            "metadata": { "profile": "mobile", "offerId": format!("offer-{n}"), "msoHash": "abc",
                          "namespaces": { "org.iso.18013.5.1": ["x"] }, "internal": "not shown" } });
        let response = app.post(&format!("/v1/users/{id}/credentials")).json(&body).send();
        expect_status(response.await.unwrap(), StatusCode::CREATED).await;
    }
    let first = call(&app, Method::GET, &format!("/users/{id}/credentials?limit=2")).send();
    let first = expect_status(first.await.unwrap(), StatusCode::OK).await;
    let item = &first["data"][0];
    assert_eq!(
        item,
        &json!({ "id": item["id"], "type": "org.iso.18013.5.1.mDL", "status": "valid",
            "issuedDate": "2025-06-28T12:34:56.000Z", "validFrom": "2025-06-28T12:34:56.000Z",
            "validUntil": "2030-06-28T12:34:56.500Z", "profile": "mobile", "offerId": "offer-0",
            "msoHash": "abc", "namespaces": { "org.iso.18013.5.1": ["x"] } })
    );
    let cursor = first["nextCursor"].as_str().unwrap();
    let rest = call(&app, Method::GET, &format!("/users/{id}/credentials?cursor={cursor}")).send();
    let rest = expect_status(rest.await.unwrap(), StatusCode::OK).await;
    assert_eq!(rest["data"][0]["offerId"], "offer-2");
    assert!(rest.get("nextCursor").is_none());
}

#[tokio::test]
async fn tokens_scopes_and_tenants() {
    let app = TestApp::spawn().await;
    let user = created(&app, &json!({ "claims": { "a": 1 } })).await;
    let id = user["id"].as_str().unwrap();
    let none = app.http.get(app.url(&format!("{}/users/{id}", PREFIXES[0]))).send().await.unwrap();
    refused(none, StatusCode::UNAUTHORIZED, "Unauthorized").await;
    let theirs =
        app.request_as(&app.decoy_token, Method::GET, &format!("{}/users/{id}", PREFIXES[0]));
    refused(theirs.send().await.unwrap(), StatusCode::NOT_FOUND, "NotFound").await;

    let body = json!({ "name": "reader", "scopes": ["users:read"] });
    let reader = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let (client_id, secret) = (reader["id"].as_str().unwrap(), reader["token"].as_str().unwrap());
    // MATTR's clients send JSON; the form works too.
    let token_url = app.url("/compat/mattr/oauth/token");
    let granted =
        app.http.post(&token_url).json(&json!({ "client_id": client_id, "client_secret": secret,
        "audience": "https://example.vii.au01.mattr.global", "grant_type": "client_credentials" }));
    let granted = expect_status(granted.send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(granted["token_type"], "Bearer");
    assert!(
        granted["expires_in"].as_u64().unwrap() > 0 && granted.get("scope").is_none(),
        "{granted}"
    );
    let access = granted["access_token"].as_str().unwrap().to_owned();
    let form = app.http.post(&token_url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
    ]);
    expect_status(form.send().await.unwrap(), StatusCode::OK).await;
    let wrong = app.http.post(&token_url).json(&json!({ "client_id": client_id, "client_secret": "nope", "grant_type": "client_credentials" }));
    let wrong = expect_status(wrong.send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert_eq!(wrong, json!({ "error": "access_denied", "error_description": "Unauthorized" }));
    let grant = app.http.post(&token_url).json(
        &json!({ "client_id": client_id, "client_secret": secret, "grant_type": "password" }),
    );
    let grant = expect_status(grant.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(grant["error"], "unsupported_grant_type");

    let read = app.request_as(&access, Method::GET, &format!("{}/users/{id}", PREFIXES[1])).send();
    assert_eq!(expect_status(read.await.unwrap(), StatusCode::OK).await, user);
    let write =
        app.request_as(&access, Method::POST, &format!("{}/users", PREFIXES[1])).json(&json!({}));
    refused(write.send().await.unwrap(), StatusCode::FORBIDDEN, "Forbidden").await;
    // Revoking the client refuses its access tokens at once.
    let revoked = app.delete(&format!("/v1/tokens/{client_id}")).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let after = app.request_as(&access, Method::GET, &format!("{}/users/{id}", PREFIXES[1])).send();
    refused(after.await.unwrap(), StatusCode::UNAUTHORIZED, "Unauthorized").await;
}

#[tokio::test]
async fn analytic_events_come_from_the_audit_trail() {
    let app = TestApp::spawn().await;
    let sent = |method: Method, path: &str, body: Option<Value>| {
        let mut request = app.request(method, &format!("{}{path}", PREFIXES[0]));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
            (response.json::<Value>().await.unwrap_or(Value::Null), id)
        }
    };
    let (user, create) = sent(Method::POST, "/users", Some(json!({ "claims": { "a": 1 } }))).await;
    let uid = user["id"].as_str().unwrap().to_owned();
    let (_, read) = sent(Method::GET, &format!("/users/{uid}"), None).await;
    let missing = "00000000-0000-7000-8000-000000000000";
    let (_, failed) = sent(Method::GET, &format!("/users/{missing}"), None).await;
    let (_, list) = sent(Method::GET, "/users", None).await;
    app.get("/v1/users").send().await.unwrap(); // not the dialect's: no event

    let events = |query: &str| {
        let request = call(&app, Method::GET, &format!("/analytics/events{query}"));
        async move { expect_status(request.send().await.unwrap(), StatusCode::OK).await }
    };
    let all = events("").await;
    let kinds: Vec<&str> =
        all["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "USER_RETRIEVE_LIST_SUCCESS",
            "USER_RETRIEVE_LIST_START",
            "USER_RETRIEVE_FAIL",
            "USER_RETRIEVE_START",
            "USER_RETRIEVE_SUCCESS",
            "USER_RETRIEVE_START",
            "USER_CREATE_SUCCESS",
            "USER_CREATE_START",
        ]
    );
    let outcome = &all["data"][4];
    assert_eq!(
        outcome,
        &json!({ "id": outcome["id"], "type": "USER_RETRIEVE_SUCCESS", "timestamp": outcome["timestamp"],
            "category": "user", "requestId": read, "data": { "id": uid } })
    );
    assert!(
        outcome["timestamp"].as_str().unwrap().ends_with('Z')
            && outcome["timestamp"].as_str().unwrap().len() == 24
    );
    assert_eq!(
        (&all["data"][0]["data"], &all["data"][0]["requestId"]),
        (&Value::Null, &json!(list)),
        "a list names no user"
    );
    assert!(all.get("nextCursor").is_none());

    // Filters: types, categories, request ids, event ids; the same events page by cursor.
    let only = events("?types=USER_CREATE_START,USER_RETRIEVE_FAIL").await;
    assert_eq!(only["data"].as_array().unwrap().len(), 2);
    let by_request = events(&format!("?requestIds={failed},{create}")).await;
    let requests: Vec<&str> = by_request["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requestId"].as_str().unwrap())
        .collect();
    assert_eq!(requests, [failed.as_str(), failed.as_str(), create.as_str(), create.as_str()]);
    assert_eq!(events("?categories=user").await["data"], all["data"]);
    assert_eq!(events("?categories=credential").await["data"], json!([]));
    let one = all["data"][2]["id"].as_str().unwrap();
    assert_eq!(events(&format!("?ids={one}")).await["data"], json!([all["data"][2]]));
    let mut paged = Vec::new();
    let mut query = "?limit=3".to_owned();
    loop {
        let page = events(&query).await;
        paged.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => query = format!("?limit=3&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(Value::Array(paged), all["data"]);
    let dated = events("?dateFrom=2000-01-01T00:00:00Z&dateTo=2999-01-01T00:00:00Z").await;
    assert_eq!(dated["data"], all["data"]);
    assert_eq!(events("?dateTo=2000-01-01T00:00:00Z").await["data"], json!([]));

    // The tenant's admins only, and their own tenant's.
    let theirs =
        app.request_as(&app.decoy_token, Method::GET, &format!("{}/analytics/events", PREFIXES[1]));
    assert_eq!(
        expect_status(theirs.send().await.unwrap(), StatusCode::OK).await,
        json!({ "data": [] })
    );
    let body = json!({ "name": "reader", "scopes": ["users:read"] });
    let reader = expect_status(
        app.post("/v1/tokens").json(&body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let denied = app.request_as(
        reader["token"].as_str().unwrap(),
        Method::GET,
        &format!("{}/analytics/events", PREFIXES[1]),
    );
    refused(denied.send().await.unwrap(), StatusCode::FORBIDDEN, "Forbidden").await;
    for query in ["?limit=0", "?cursor=nope", "?dateFrom=yesterday"] {
        let response =
            call(&app, Method::GET, &format!("/analytics/events{query}")).send().await.unwrap();
        assert_eq!(invalid(response).await.len(), 1, "{query}");
    }
}
