//! Ubisecure CustomerID's REST API 2.1 at `/compat/ubisecure`, as its published documents have
//! it: URL parameters in, XML in its namespace out (JSON for a client that accepts it), HTTP
//! Basic with the API account, `<error><code/><message/></error>` for every refusal. Every XML
//! answer is read by an XML parser of its own (roxmltree), namespaces checked.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use roster_testkit::{TestApp, expect_status, id, user};
use serde_json::{Value, json};

const BASE: &str = "/compat/ubisecure/2.1";
const NS: &str = "http://schema.ubisecure.com/customerid/api";

/// A request as CustomerID's clients send it: HTTP Basic, the API token as the password.
fn call(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.http
        .request(method, app.url(&format!("{BASE}{path}")))
        .basic_auth("restuser", Some(&app.token))
}

fn call_as(app: &TestApp, token: &str, method: Method, path: &str) -> RequestBuilder {
    app.http.request(method, app.url(&format!("{BASE}{path}"))).basic_auth("restuser", Some(token))
}

/// An XML answer, read: the root's name and attributes, its `<Id>`s, its `<Attribute>`s, and
/// the text of its other children.
#[derive(Debug, Default)]
struct Xml {
    root: String,
    in_response_to: String,
    method: String,
    kind: Option<String>,
    ids: Vec<String>,
    attributes: Vec<(String, Vec<String>)>,
    members: Vec<(String, String)>,
    custom: Vec<(String, Vec<String>)>,
}

impl Xml {
    fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    fn one(&self, name: &str) -> &str {
        self.attribute(name).and_then(|v| v.first()).map_or("", String::as_str)
    }

    fn member(&self, name: &str) -> Option<&str> {
        self.members.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn parse(text: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("well-formed XML ({e}): {text}"))
}

/// Asserts a 200 XML answer in CustomerID's namespace; returns it read.
async fn xml(response: Response) -> Xml {
    let status = response.status();
    let media = response.headers()["content-type"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(media, "application/xml");
    let doc = parse(&text);
    let root = doc.root_element();
    let mut out = Xml {
        root: root.tag_name().name().to_owned(),
        in_response_to: root.attribute("inResponseTo").unwrap_or_default().to_owned(),
        method: root.attribute("method").unwrap_or_default().to_owned(),
        kind: root.attribute("type").map(str::to_owned),
        ..Xml::default()
    };
    for node in root.descendants().filter(|n| n.is_element()) {
        assert_eq!(node.tag_name().namespace(), Some(NS), "<{}> in {text}", node.tag_name().name());
    }
    for child in root.children().filter(|n| n.is_element()) {
        let text_of = |n: roxmltree::Node| n.text().unwrap_or_default().to_owned();
        match child.tag_name().name() {
            "Id" => out.ids.push(text_of(child)),
            "Attribute" => {
                let values = child.children().filter(|n| n.has_tag_name((NS, "Value")));
                let name = child.attribute("name").unwrap().to_owned();
                out.attributes.push((name, values.map(text_of).collect()));
            }
            "customAttributes" => {
                for attribute in child.children().filter(|n| n.is_element()) {
                    let values = attribute.children().filter(|n| n.is_element()).map(text_of);
                    let name = attribute.attribute("name").unwrap().to_owned();
                    out.custom.push((name, values.collect()));
                }
            }
            name => out.members.push((name.to_owned(), text_of(child))),
        }
    }
    out
}

/// Asserts an error answer: `status`, XML `<error>` without a namespace, `code`; returns the
/// message.
async fn refused(response: Response, status: StatusCode, code: &str) -> String {
    let actual = response.status();
    let media = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{text}");
    assert_eq!(media.as_deref(), Some("application/xml"), "{text}");
    let doc = parse(&text);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "error", "{text}");
    assert_eq!(root.tag_name().namespace(), None, "errors have no namespace: {text}");
    let child = |name: &str| {
        root.children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(child("code"), code, "{text}");
    child("message")
}

async fn json_of(response: Response) -> Value {
    let media = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(media, "application/json");
    expect_status(response, StatusCode::OK).await
}

async fn native(app: &TestApp, path: &str) -> Value {
    expect_status(app.get(path).send().await.unwrap(), StatusCode::OK).await
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    expect_status(app.post(path).json(&body).send().await.unwrap(), StatusCode::CREATED).await
}

async fn token(app: &TestApp, scopes: &[&str]) -> String {
    let body = json!({ "name": "restuser", "scopes": scopes });
    let issued = created(app, "/v1/tokens", body).await;
    issued["token"].as_str().unwrap().to_owned()
}

/// The ids GET104 answers for `query`.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    xml(call(app, Method::GET, &format!("/users/?{query}")).send().await.unwrap()).await.ids
}

fn ada() -> Value {
    json!({ "username": "ada", "name": { "given": "Ada", "family": "Lovelace" },
        "emails": [{ "value": "ada@example.org", "primary": true }],
        "phones": [{ "value": "+358401234567", "primary": true }],
        "locale": "fi", "attributes": { "browsers": ["IE", "chrome"] } })
}

#[tokio::test]
async fn users_are_read_changed_and_deleted_in_xml_and_json() {
    let app = TestApp::spawn().await;
    let created_user = app.create_user(ada()).await;
    let uid = id(&created_user).to_owned();
    let root = native(&app, "/v1/organizations?limit=1").await["data"][0].clone();

    let read = xml(call(&app, Method::GET, &format!("/users/{uid}")).send().await.unwrap()).await;
    assert_eq!((read.root.as_str(), read.kind.as_deref()), ("User", Some("user")));
    assert_eq!(
        (read.in_response_to.as_str(), read.method.as_str()),
        (format!("/2.1/users/{uid}").as_str(), "GET")
    );
    let expected = [
        ("id", uid.as_str()),
        ("firstname", "Ada"),
        ("surname", "Lovelace"),
        ("cn", "Ada Lovelace"),
        ("login", "ada"),
        ("email", "ada@example.org"),
        ("mobile", "+358401234567"),
        ("locale", "fi"),
        ("status", "Enabled"),
        ("organization", root["friendly_name"].as_str().unwrap()),
        ("organizationEntityName", root["technical_name"].as_str().unwrap()),
        ("repoId", root["id"].as_str().unwrap()),
    ];
    for (name, value) in expected {
        assert_eq!(read.one(name), value, "{name}: {read:?}");
    }
    assert_eq!(read.attribute("browsers").unwrap(), ["IE", "chrome"]);
    assert!(read.attribute("ssn").is_none() && read.attribute("pwd").is_none());

    // JSON, when the client accepts it, mirrors the XML.
    let path = format!("/users/{uid}");
    let json = json_of(
        call(&app, Method::GET, &path).header("accept", "application/json").send().await.unwrap(),
    )
    .await;
    assert_eq!(
        (&json["inResponseTo"], &json["method"], &json["type"]),
        (&json!(format!("/2.1/users/{uid}")), &json!("GET"), &json!("user"))
    );
    let attributes = json["Attribute"].as_array().unwrap();
    assert!(
        attributes.contains(&json!({ "name": "browsers", "Value": ["IE", "chrome"] })),
        "{json}"
    );
    assert!(attributes.contains(&json!({ "name": "login", "Value": ["ada"] })), "{json}");

    // PUT103: given attributes replaced, an empty value removes, absent ones kept; a repeated
    // custom attribute has several values; the status moves the user.
    let put = call(&app, Method::PUT, &path).query(&[
        ("mobile", "+358401234567891"),
        ("status", "Disabled"),
        ("firstname", ""),
        ("age", "45"),
        ("pets", "cat"),
        ("pets", "dog"),
        ("browsers", ""),
        ("ssn", "111111-111C"),
    ]);
    let answer = xml(put.send().await.unwrap()).await;
    assert_eq!(
        (answer.root.as_str(), answer.method.as_str(), answer.ids.clone()),
        ("Users", "PUT", vec![uid.clone()])
    );
    let after = native(&app, &format!("/v1/users/{uid}")).await;
    assert_eq!(after["state"], "inactive");
    assert_eq!(after["phones"][0]["value"], "+358401234567891", "kept as CustomerID keeps it");
    assert_eq!(
        (&after["name"]["given"], &after["name"]["family"]),
        (&Value::Null, &json!("Lovelace"))
    );
    assert_eq!(after["attributes"], json!({ "age": ["45"], "pets": ["cat", "dog"] }));
    assert_eq!((&after["username"], &after["locale"]), (&json!("ada"), &json!("fi")));
    assert_eq!(after["national_id"]["set"], true);
    let read = xml(call(&app, Method::GET, &path).send().await.unwrap()).await;
    assert_eq!((read.one("status"), read.one("cn")), ("Disabled", "Lovelace"));
    assert!(read.attribute("firstname").is_none(), "an empty attribute is left out: {read:?}");
    assert!(!format!("{read:?}").contains("111111"), "the national id is never read back");

    // The same events as /v1's.
    let kinds: Vec<String> =
        app.events().await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert!(
        kinds.ends_with(&["user.updated".to_owned(), "user.state_changed".to_owned()]),
        "{kinds:?}"
    );
    let enabled =
        call(&app, Method::PUT, &path).query(&[("status", "enabled")]).send().await.unwrap();
    xml(enabled).await;
    assert_eq!(native(&app, &format!("/v1/users/{uid}")).await["state"], "active");

    // A status that cannot be set, a false pwd.activated, a read-only attribute, a login taken.
    app.create_user(user("grace")).await;
    for (query, names) in [
        (vec![("status", "Locked")], "status"),
        (vec![("pwd.activated", "false")], "pwd.activated"),
        (vec![("userId", "x")], "userId"),
        (vec![("login", "a"), ("login", "b")], "login"),
        (vec![("email", "not an address")], "email"),
    ] {
        let response = call(&app, Method::PUT, &path).query(&query).send().await.unwrap();
        let message = refused(response, StatusCode::BAD_REQUEST, "Invalid arguments").await;
        assert!(message.starts_with(names), "{query:?}: {message}");
    }
    let taken = call(&app, Method::PUT, &path)
        .query(&[("login", "grace"), ("surname", "X")])
        .send()
        .await
        .unwrap();
    let message = refused(taken, StatusCode::CONFLICT, "Already exists").await;
    assert!(message.contains("login"), "{message}");
    assert_eq!(
        native(&app, &format!("/v1/users/{uid}")).await["name"]["family"],
        "Lovelace",
        "nothing written"
    );

    // DEL102; then the user is nowhere.
    let deleted = xml(call(&app, Method::DELETE, &path).send().await.unwrap()).await;
    assert_eq!(
        (deleted.root.as_str(), deleted.method.as_str(), deleted.ids.clone()),
        ("Users", "DELETE", vec![uid.clone()])
    );
    refused(
        call(&app, Method::GET, &path).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "Entity not found",
    )
    .await;
    assert!(!listed(&app, "").await.contains(&uid));
    assert_eq!(app.events().await.last().unwrap()["type"], "user.deleted");
}

#[tokio::test]
async fn patch124_takes_a_form_xml_or_json_and_answers_a_user_response() {
    let app = TestApp::spawn().await;
    let uid = id(&app.create_user(ada()).await).to_owned();
    let path = format!("/users/{uid}");
    let patch = || call(&app, Method::PATCH, &path);

    // A form.
    let form =
        patch().form(&[("firstname", "Augusta"), ("browsers", "firefox"), ("browsers", "safari")]);
    let answer = xml(form.send().await.unwrap()).await;
    assert_eq!((answer.root.as_str(), answer.method.as_str()), ("UserResponse", "PATCH"));
    assert_eq!(answer.in_response_to, format!("/2.1/users/{uid}"));
    assert_eq!(answer.member("firstname"), Some("Augusta"));
    assert_eq!(answer.member("userId"), Some(uid.as_str()));
    assert!(answer.member("repoId").is_some() && answer.member("organizationEntityName").is_some());
    assert_eq!(
        answer.custom,
        [("browsers".to_owned(), vec!["firefox".to_owned(), "safari".to_owned()])]
    );

    // XML, as the seed writes it (well-formed): several values, no value removes.
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
        <UserRequest xmlns="{NS}">
          <surname>King</surname><mobile>0401234567</mobile><ssn>111111-111C</ssn>
          <pwd>Correct horse battery staple 1</pwd><pwd.activated>true</pwd.activated>
          <customAttributes>
            <attribute name="Custom1"><value>Value1</value><value>Value2</value></attribute>
            <attribute name="browsers"/>
          </customAttributes>
        </UserRequest>"#
    );
    let sent = patch().header("content-type", "application/xml").body(body).send().await.unwrap();
    let answer = xml(sent).await;
    assert_eq!(answer.member("surname"), Some("King"));
    assert_eq!(
        answer.member("mobile"),
        Some("0401234567"),
        "a number without a country code is kept"
    );
    assert_eq!(
        answer.custom,
        [("Custom1".to_owned(), vec!["Value1".to_owned(), "Value2".to_owned()])]
    );
    assert!(
        answer.member("ssn").is_none() && answer.member("pwd").is_none(),
        "secrets are never answered"
    );
    let after = native(&app, &format!("/v1/users/{uid}")).await;
    assert_eq!(
        (&after["password"]["set"], &after["national_id"]["set"]),
        (&json!(true), &json!(true))
    );

    // JSON, answered in JSON: one value a string, several an array, "" removes.
    let body = json!({ "email": "augusta@example.org", "status": "Disabled", "pwd.activated": "true",
        "customAttributes": { "Custom1": "", "Custom2": "Value3", "Custom3": ["a", "b"] } });
    let sent = patch().header("accept", "application/json").json(&body).send().await.unwrap();
    let answer = json_of(sent).await;
    assert_eq!(
        answer,
        json!({ "firstname": "Augusta", "surname": "King", "login": "ada", "email": "augusta@example.org",
            "mobile": "0401234567", "locale": "fi", "status": "Disabled",
            "customAttributes": { "Custom2": "Value3", "Custom3": ["a", "b"] },
            "userId": uid, "repoId": answer["repoId"], "organization": answer["organization"],
            "organizationEntityName": answer["organizationEntityName"] })
    );

    // Wrong members and types name themselves; nothing is written.
    let version = native(&app, &format!("/v1/users/{uid}")).await["version"].clone();
    for (body, name) in [
        (json!({ "nickname": "x" }), "nickname"),
        (json!({ "firstname": 7 }), "firstname"),
        (json!({ "customAttributes": { "a": [1] } }), "customAttributes.a"),
        (json!({ "customAttributes": ["a"] }), "customAttributes"),
        (json!({ "status": "Locked", "firstname": "Z" }), "status"),
        (json!({ "pwd.activated": "false" }), "pwd.activated"),
        (json!({ "userId": "x" }), "userId"),
    ] {
        let message = refused(
            patch().json(&body).send().await.unwrap(),
            StatusCode::BAD_REQUEST,
            "Invalid arguments",
        )
        .await;
        assert!(message.starts_with(name), "{body}: {message}");
    }
    let xml_bad = format!("<UserRequest xmlns=\"{NS}\"><nickname>x</nickname></UserRequest>");
    let sent =
        patch().header("content-type", "application/xml").body(xml_bad).send().await.unwrap();
    assert!(
        refused(sent, StatusCode::BAD_REQUEST, "Invalid arguments").await.starts_with("nickname")
    );
    assert_eq!(native(&app, &format!("/v1/users/{uid}")).await["version"], version);

    // Another media type; a body that is not what it says.
    let text =
        patch().header("content-type", "text/plain").body("firstname=x").send().await.unwrap();
    refused(text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Client error").await;
    let broken = patch()
        .header("content-type", "application/xml")
        .body("<UserRequest>")
        .send()
        .await
        .unwrap();
    refused(broken, StatusCode::BAD_REQUEST, "Client error").await;
    let broken =
        patch().header("content-type", "application/json").body("{\"a\":").send().await.unwrap();
    refused(broken, StatusCode::BAD_REQUEST, "Client error").await;
}

#[tokio::test]
async fn users_are_listed_by_criteria_and_by_organization() {
    let app = TestApp::spawn().await;
    let acme = created(
        &app,
        "/v1/organizations",
        json!({ "technical_name": "acme", "friendly_name": "Acme Oy" }),
    )
    .await;
    let sales = created(
        &app,
        "/v1/organizations",
        json!({ "technical_name": "sales", "parent_id": id(&acme) }),
    )
    .await;
    let mut ada = ada();
    ada["organization_id"] = json!(id(&acme));
    let ada = app.create_user(ada).await;
    let adam = app
        .create_user(json!({ "username": "adam", "name": { "given": "Adam", "family": "Smith" },
        "organization_id": id(&sales), "attributes": { "browsers": ["Chrome"] } }))
        .await;
    let eve = app
        .create_user(json!({ "username": "eve", "state": "inactive",
        "emails": [{ "value": "eve@example.org", "primary": true }] }))
        .await;
    let member = app.create_user(user("mallory")).await;
    let put_member = app.put(&format!("/v1/organizations/{}/members/{}", id(&acme), id(&member)));
    assert!(put_member.send().await.unwrap().status().is_success());
    let [ada, adam, eve, member] = [&ada, &adam, &eve, &member].map(|u| id(u).to_owned());

    // Every user, oldest first; the answer names the request.
    let all = xml(call(&app, Method::GET, "/users/").send().await.unwrap()).await;
    assert_eq!(
        (all.root.as_str(), all.in_response_to.as_str(), all.method.as_str()),
        ("Users", "/2.1/users/", "GET")
    );
    assert_eq!(all.ids, [ada.as_str(), adam.as_str(), eve.as_str(), member.as_str()]);
    assert_eq!(listed(&app, "").await, all.ids, "without the trailing slash as with it");

    // A prefix without case unless exactMatch; several criteria ANDed; custom attributes too.
    assert_eq!(listed(&app, "login=AD").await, [ada.as_str(), adam.as_str()]);
    assert_eq!(listed(&app, "login=ad&exactMatch=true").await, Vec::<String>::new());
    assert_eq!(listed(&app, "login=ADA&exactMatch=true").await, [ada.as_str()]);
    assert_eq!(listed(&app, "firstname=ad&surname=smi").await, [adam.as_str()]);
    assert_eq!(listed(&app, "browsers=chr").await, [ada.as_str(), adam.as_str()]);
    assert_eq!(listed(&app, "email=eve@").await, [eve.as_str()]);
    assert_eq!(listed(&app, "mobile=%2B35840").await, [ada.as_str()]);
    // Status by name, technical name or code.
    for status in ["Disabled", "disabled", "2"] {
        assert_eq!(listed(&app, &format!("status={status}")).await, [eve.as_str()], "{status}");
    }
    assert_eq!(listed(&app, "status=1&maxResults=2").await, [ada.as_str(), adam.as_str()]);
    assert_eq!(listed(&app, "maxResults=0").await.len(), 4, "0: no limit");
    assert_eq!(listed(&app, &format!("repoId={}", id(&sales))).await, [adam.as_str()]);
    assert_eq!(listed(&app, "organization=acme%20oy&exactMatch=true").await, [ada.as_str()]);
    assert_eq!(listed(&app, "organizationEntityName=SAL").await, [adam.as_str()]);
    assert_eq!(listed(&app, "id=not-a-uuid").await, Vec::<String>::new());
    // The URL credentials are never criteria.
    let url = app.url(&format!("{BASE}/users/?username=restuser&password={}&login=eve", app.token));
    assert_eq!(xml(app.http.get(url).send().await.unwrap()).await.ids, [eve.as_str()]);

    for (query, name) in [
        ("login=a&login=b", "login"),
        ("maxResults=many", "maxResults"),
        ("maxResults=-1", "maxResults"),
        ("exactMatch=yes", "exactMatch"),
        ("status=Asleep", "status"),
        ("ssn=1", "ssn"),
    ] {
        let response = call(&app, Method::GET, &format!("/users/?{query}")).send().await.unwrap();
        let message = refused(response, StatusCode::BAD_REQUEST, "Invalid arguments").await;
        assert!(message.starts_with(name), "{query}: {message}");
    }

    // GET113: owned users and members; recursive adds the organizations below.
    let of = |query: &str| {
        let path = format!("/organizations/{}/users/?{query}", id(&acme));
        let app = &app;
        async move { xml(call(app, Method::GET, &path).send().await.unwrap()).await.ids }
    };
    assert_eq!(of("").await, [ada.as_str(), member.as_str()]);
    assert_eq!(of("recursive=true").await, [ada.as_str(), adam.as_str(), member.as_str()]);
    assert_eq!(of("recursive=true&login=ada").await, [ada.as_str(), adam.as_str()]);
    let bad =
        call(&app, Method::GET, &format!("/organizations/{}/users/?recursive=maybe", id(&acme)));
    assert!(
        refused(bad.send().await.unwrap(), StatusCode::BAD_REQUEST, "Invalid arguments")
            .await
            .starts_with("recursive")
    );
    let unknown = call(&app, Method::GET, &format!("/organizations/{}/users/", uuid_like()));
    refused(unknown.send().await.unwrap(), StatusCode::NOT_FOUND, "Entity not found").await;
}

fn uuid_like() -> &'static str {
    "0190f1c2-0000-7000-8000-000000000000"
}

#[tokio::test]
async fn organizations_are_created_updated_listed_and_read() {
    let app = TestApp::spawn().await;
    let root = native(&app, "/v1/organizations?limit=1").await["data"][0].clone();
    let post =
        |query: &[(&str, &str)]| call(&app, Method::POST, "/organizations/").query(query).send();

    let answer =
        xml(post(&[("friendlyName", "Luotava Organisaatio"), ("vatnumber", "12345, 678")])
            .await
            .unwrap())
        .await;
    assert_eq!(
        (answer.root.as_str(), answer.in_response_to.as_str(), answer.method.as_str()),
        ("Organizations", "/2.1/organizations/", "POST")
    );
    let parent = answer.ids[0].clone();
    let org = native(&app, &format!("/v1/organizations/{parent}")).await;
    assert_eq!(org["technical_name"], parent, "a generated UUID by default");
    assert_eq!(
        (&org["friendly_name"], &org["parent_id"]),
        (&json!("Luotava Organisaatio"), &root["id"])
    );
    assert_eq!(org["attributes"], json!({ "vatnumber": ["12345", "678"] }));

    let child = xml(post(&[
        ("technicalName", "child"),
        ("parentOrganizationId", &parent),
        ("virtual", "true"),
    ])
    .await
    .unwrap())
    .await
    .ids[0]
        .clone();
    let read =
        xml(call(&app, Method::GET, &format!("/organizations/{child}")).send().await.unwrap())
            .await;
    assert_eq!((read.root.as_str(), read.kind.as_deref()), ("Organization", Some("organization")));
    for (name, value) in [
        ("id", child.as_str()),
        ("entityName", "child"),
        ("friendlyName", "child"),
        ("organizationType", "virtual"),
        ("virtual", "true"),
        ("parentOrganizationId", parent.as_str()),
    ] {
        assert_eq!(read.one(name), value, "{name}: {read:?}");
    }
    let top = xml(call(&app, Method::GET, &format!("/organizations/{}", id(&root)))
        .send()
        .await
        .unwrap())
    .await;
    assert!(top.attribute("parentOrganizationId").is_none(), "the root has no parent");

    // Refusals: an unknown parent, a taken technical name, a bad flag, a type not configured.
    let unknown = post(&[("parentOrganizationId", uuid_like())]).await.unwrap();
    refused(unknown, StatusCode::NOT_FOUND, "Parent not found").await;
    let taken = post(&[("technicalName", "CHILD")]).await.unwrap();
    refused(taken, StatusCode::CONFLICT, "Already exists").await;
    let message = refused(
        post(&[("virtual", "maybe")]).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "Invalid arguments",
    )
    .await;
    assert!(message.starts_with("virtual"), "{message}");
    let message = refused(
        post(&[("organizationType", "galaxy")]).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "Invalid arguments",
    )
    .await;
    assert!(message.starts_with("organizationType"), "{message}");

    // PUT101: given names replaced, an empty value removes, absent ones kept.
    let put = call(&app, Method::PUT, &format!("/organizations/{parent}")).query(&[
        ("friendlyName", "TestOrganizationRENAME"),
        ("vatnumber", ""),
        ("region", "north,south"),
    ]);
    let answer = xml(put.send().await.unwrap()).await;
    assert_eq!((answer.method.as_str(), answer.ids.clone()), ("PUT", vec![parent.clone()]));
    let org = native(&app, &format!("/v1/organizations/{parent}")).await;
    assert_eq!(
        (&org["friendly_name"], &org["attributes"]),
        (&json!("TestOrganizationRENAME"), &json!({ "region": ["north", "south"] }))
    );
    let events: Vec<Value> = app.events().await;
    assert_eq!(events.last().unwrap()["type"], "organization.updated");

    // GET106 lists them all, oldest first.
    let all = xml(call(&app, Method::GET, "/organizations/").send().await.unwrap()).await;
    assert_eq!(all.ids, [id(&root).to_owned(), parent.clone(), child.clone()]);

    // Organizations need directory:admin; reads need users:read.
    let writer = token(&app, &["users:read", "users:write"]).await;
    let response = call_as(&app, &writer, Method::POST, "/organizations/")
        .query(&[("friendlyName", "x")])
        .send()
        .await
        .unwrap();
    refused(response, StatusCode::FORBIDDEN, "Unauthorized").await;
    let response = call_as(&app, &writer, Method::PUT, &format!("/organizations/{parent}"))
        .query(&[("friendlyName", "x")])
        .send()
        .await
        .unwrap();
    refused(response, StatusCode::FORBIDDEN, "Unauthorized").await;
    assert_eq!(
        xml(call_as(&app, &writer, Method::GET, "/organizations").send().await.unwrap())
            .await
            .ids
            .len(),
        3
    );
}

#[tokio::test]
async fn users_are_created_in_an_organization_and_reinvited() {
    let app = TestApp::spawn().await;
    let acme = created(&app, "/v1/organizations", json!({ "technical_name": "acme" })).await;
    let path = format!("/organizations/{}/users/", id(&acme));
    let post = |query: &[(&str, &str)]| call(&app, Method::POST, &path).query(query).send();

    let answer = xml(post(&[
        ("login", "maija"),
        ("email", "maija.virtanen@example.org"),
        ("firstname", "Maija"),
        ("pwd", "Correct horse battery staple 1"),
        ("team", "blue"),
    ])
    .await
    .unwrap())
    .await;
    assert_eq!((answer.root.as_str(), answer.method.as_str()), ("Users", "POST"));
    let made = native(&app, &format!("/v1/users/{}", answer.ids[0])).await;
    assert_eq!(
        (&made["state"], &made["organization_id"], &made["username"]),
        (&json!("active"), &acme["id"], &json!("maija"))
    );
    assert_eq!(
        (&made["password"]["set"], &made["attributes"]),
        (&json!(true), &json!({ "team": ["blue"] }))
    );
    assert_eq!(app.events().await.last().unwrap()["type"], "user.created");

    let message = refused(
        post(&[("email", "x@example.org")]).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "Invalid arguments",
    )
    .await;
    assert!(message.starts_with("login"), "{message}");
    refused(post(&[("login", "MAIJA")]).await.unwrap(), StatusCode::CONFLICT, "Already exists")
        .await;
    let elsewhere = call(&app, Method::POST, &format!("/organizations/{}/users/", uuid_like()))
        .query(&[("login", "x")]);
    refused(elsewhere.send().await.unwrap(), StatusCode::NOT_FOUND, "Entity not found").await;

    // PUT123: only a user waiting for registration, with an invitation to issue again.
    let invitation = created(
        &app,
        "/v1/invitations",
        json!({ "email": "liisa@example.org", "organization_id": id(&acme) }),
    )
    .await;
    let invited = invitation["user_id"].as_str().unwrap();
    let read =
        xml(call(&app, Method::GET, &format!("/users/{invited}")).send().await.unwrap()).await;
    assert_eq!(read.one("status"), "Waiting for registration");
    let listed = listed(&app, "status=waiting_for_registration").await;
    assert_eq!(listed, [invited.to_owned()]);
    let reinvite = format!("/users/{invited}/reinvite");
    let answer = xml(call(&app, Method::PUT, &reinvite).send().await.unwrap()).await;
    assert_eq!(
        (answer.root.as_str(), answer.in_response_to.as_str()),
        ("ReinviteResponse", format!("/2.1{reinvite}").as_str())
    );
    assert_eq!(
        answer.members,
        [
            ("userId".to_owned(), invited.to_owned()),
            ("email".to_owned(), "liisa@example.org".to_owned())
        ]
    );
    let json = json_of(
        call(&app, Method::PUT, &reinvite)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(json, json!({ "userId": invited, "email": "liisa@example.org" }));
    let again = native(&app, &format!("/v1/invitations/{}", id(&invitation))).await;
    assert_eq!(again["sent_count"], 3);
    assert_eq!(app.events().await.last().unwrap()["type"], "invitation.reissued");
    let active =
        call(&app, Method::PUT, &format!("/users/{}/reinvite", made["id"].as_str().unwrap()));
    let message =
        refused(active.send().await.unwrap(), StatusCode::BAD_REQUEST, "Invalid arguments").await;
    assert!(message.contains("Waiting for registration"), "{message}");
}

#[tokio::test]
async fn roles_mandates_invitations_and_delegations_are_read() {
    let app = TestApp::spawn().await;
    let acme = created(&app, "/v1/organizations", json!({ "technical_name": "acme" })).await;
    let roles = format!("/v1/organizations/{}/roles", id(&acme));
    let sign = created(&app, &roles, json!({ "name": "Signatory" })).await;
    let pay = created(&app, &roles, json!({ "name": "Payer" })).await;
    let ada = app.create_user(user("ada")).await;
    let bob = app.create_user(user("bob")).await;
    let assign =
        app.post(&format!("/v1/users/{}/roles", id(&ada))).json(&json!({ "role_id": id(&sign) }));
    assert!(assign.send().await.unwrap().status().is_success());
    let mandate = created(&app, "/v1/mandates", json!({ "grantor": { "organization_id": id(&acme) },
        "grantee": { "user_id": id(&ada) }, "role_ids": [id(&sign), id(&pay)], "valid_until": "2099-01-01T00:00:00Z" })).await;
    let delegation = created(
        &app,
        &format!("/v1/mandates/{}/delegations", id(&mandate)),
        json!({ "delegate_user_id": id(&bob), "role_ids": [id(&pay)] }),
    )
    .await;
    let invitation = created(
        &app,
        "/v1/invitations",
        json!({ "email": "liisa@example.org",
        "organization_id": id(&acme), "role_ids": [id(&sign)] }),
    )
    .await;

    let get = |path: String| {
        let app = &app;
        async move { xml(call(app, Method::GET, &path).send().await.unwrap()).await }
    };
    let roles = get("/roles/".into()).await;
    assert_eq!(
        (roles.root.as_str(), roles.ids.clone()),
        ("Roles", vec![id(&sign).to_owned(), id(&pay).to_owned()])
    );
    let role = get(format!("/roles/{}", id(&pay))).await;
    assert_eq!((role.root.as_str(), role.kind.as_deref()), ("Role", Some("role")));
    assert_eq!(
        (role.one("id"), role.one("name"), role.one("organizationId")),
        (id(&pay), "Payer", id(&acme))
    );
    assert_eq!(get(format!("/users/{}/roles", id(&ada))).await.ids, [id(&sign)]);

    let mandates = get("/mandates/".into()).await;
    assert_eq!(
        (mandates.root.as_str(), mandates.ids.clone()),
        ("Mandates", vec![id(&mandate).to_owned()])
    );
    let read = get(format!("/mandates/{}", id(&mandate))).await;
    assert_eq!((read.root.as_str(), read.kind.as_deref()), ("Mandate", Some("mandate")));
    assert_eq!(
        (read.one("grantorOrganizationId"), read.one("granteeUserId")),
        (id(&acme), id(&ada))
    );
    assert_eq!(read.attribute("roleId").unwrap(), [id(&sign), id(&pay)]);
    assert_eq!((read.one("validUntil"), read.one("status")), ("2099-01-01T00:00:00Z", "active"));
    assert_eq!(
        get(format!("/organizations/{}/mandates/given", id(&acme))).await.ids,
        [id(&mandate)]
    );
    assert!(get(format!("/organizations/{}/mandates/received", id(&acme))).await.ids.is_empty());
    assert_eq!(get(format!("/users/{}/mandates/received", id(&ada))).await.ids, [id(&mandate)]);
    assert!(get(format!("/users/{}/mandates/given", id(&ada))).await.ids.is_empty());

    let delegations = get(format!("/users/{}/delegations/", id(&bob))).await;
    assert_eq!(
        (delegations.root.as_str(), delegations.ids.clone()),
        ("Delegations", vec![id(&delegation).to_owned()])
    );
    let read = get(format!("/delegations/{}", id(&delegation))).await;
    assert_eq!(
        (read.one("mandateId"), read.one("delegateUserId"), read.one("status")),
        (id(&mandate), id(&bob), "active")
    );

    let invitations = get("/roleinvitations/".into()).await;
    assert_eq!(
        (invitations.root.as_str(), invitations.ids.clone()),
        ("RoleInvitations", vec![id(&invitation).to_owned()])
    );
    let invited = invitation["user_id"].as_str().unwrap();
    assert_eq!(get(format!("/users/{invited}/roleinvitations/")).await.ids, [id(&invitation)]);

    // Another tenant sees none of it.
    for path in [
        format!("/roles/{}", id(&pay)),
        format!("/mandates/{}", id(&mandate)),
        format!("/delegations/{}", id(&delegation)),
        format!("/users/{}/roles", id(&ada)),
        format!("/organizations/{}", id(&acme)),
    ] {
        let response = call_as(&app, &app.decoy_token, Method::GET, &path).send().await.unwrap();
        refused(response, StatusCode::NOT_FOUND, "Entity not found").await;
    }
    assert!(
        xml(call_as(&app, &app.decoy_token, Method::GET, "/roles/").send().await.unwrap())
            .await
            .ids
            .is_empty()
    );
}

#[tokio::test]
async fn refusals_come_in_customerids_error_document() {
    let app = TestApp::spawn().await;
    let uid = id(&app.create_user(ada()).await).to_owned();
    let path = format!("/users/{uid}");
    let url = app.url(&format!("{BASE}{path}"));

    // No credentials, or wrong ones: 401 with CustomerID's challenge.
    for request in [
        app.http.get(&url),
        app.http.get(&url).basic_auth("restuser", Some("wrong")),
        app.http.get(format!("{url}?username=restuser&password=wrong")),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"CustomerID\"");
        refused(response, StatusCode::UNAUTHORIZED, "Authentication failed").await;
    }
    // The documented URL parameters and a bearer token authenticate too.
    xml(app
        .http
        .get(format!("{url}?username=restuser&password={}", app.token))
        .send()
        .await
        .unwrap())
    .await;
    xml(app.http.get(&url).bearer_auth(&app.token).send().await.unwrap()).await;
    // JSON errors for a client that accepts JSON.
    let response = app.http.get(&url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "Authentication failed");
    assert!(body["message"].is_string());

    // A read-only token reads and is refused writes; another tenant's user is not found.
    let reader = token(&app, &["users:read"]).await;
    xml(call_as(&app, &reader, Method::GET, &path).send().await.unwrap()).await;
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let response = call_as(&app, &reader, method.clone(), &path)
            .form(&[("firstname", "x")])
            .send()
            .await
            .unwrap();
        refused(response, StatusCode::FORBIDDEN, "Unauthorized").await;
    }
    let response = call_as(&app, &app.decoy_token, Method::GET, &path).send().await.unwrap();
    refused(response, StatusCode::NOT_FOUND, "Entity not found").await;
    let response = call_as(&app, &app.decoy_token, Method::PUT, &path)
        .query(&[("firstname", "x")])
        .send()
        .await
        .unwrap();
    refused(response, StatusCode::NOT_FOUND, "Entity not found").await;
    refused(
        call(&app, Method::GET, "/users/not-a-uuid").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "Entity not found",
    )
    .await;
    refused(
        call(&app, Method::GET, "/nothing/here").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "Entity not found",
    )
    .await;
    // A known path, another method.
    refused(
        call(&app, Method::POST, &path).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    )
    .await;
    refused(
        call(&app, Method::DELETE, "/organizations/").send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    )
    .await;
    // A body on an operation that takes parameters must be a form.
    let json_body =
        call(&app, Method::PUT, &path).json(&json!({ "firstname": "x" })).send().await.unwrap();
    refused(json_body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Client error").await;

    // XML safety: a DOCTYPE is refused before any entity is read, and nothing is written.
    let version = native(&app, &format!("/v1/users/{uid}")).await["version"].clone();
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
        <UserRequest xmlns="http://schema.ubisecure.com/customerid/api"><firstname>&x;</firstname></UserRequest>"#;
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
        <UserRequest xmlns="http://schema.ubisecure.com/customerid/api"><firstname>&lol3;</firstname></UserRequest>"#;
    for body in [xxe, bomb] {
        let sent = call(&app, Method::PATCH, &path)
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await
            .unwrap();
        let message = refused(sent, StatusCode::BAD_REQUEST, "Client error").await;
        assert!(message.contains("DOCTYPE"), "{message}");
    }
    let undefined = format!("<UserRequest xmlns=\"{NS}\"><firstname>&x;</firstname></UserRequest>");
    let sent = call(&app, Method::PATCH, &path)
        .header("content-type", "application/xml")
        .body(undefined)
        .send()
        .await
        .unwrap();
    refused(sent, StatusCode::BAD_REQUEST, "Client error").await;
    assert_eq!(native(&app, &format!("/v1/users/{uid}")).await["version"], version);

    // A body over the limit; a head over the limit.
    let big = format!("firstname={}", "a".repeat(1_100_000));
    let sent = call(&app, Method::PATCH, &path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    refused(sent, StatusCode::PAYLOAD_TOO_LARGE, "Size limit exceeded").await;
    let sent =
        call(&app, Method::GET, &path).header("x-big", "a".repeat(20_000)).send().await.unwrap();
    refused(sent, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "Size limit exceeded").await;
    assert_eq!(native(&app, &format!("/v1/users/{uid}")).await["version"], version);
}

#[tokio::test]
async fn rate_limited_writes_are_refused_in_customerids_shape() {
    let limits = roster_http::RateLimits { writes_per_second: 1, verifications_per_second: 1 };
    let app = TestApp::spawn_with(|c| c.rate_limits = limits).await;
    // The limit stands before the operation: whether the user exists does not matter.
    let path = format!("/users/{}", uuid_like());
    let writes = (0..3).map(|_| call(&app, Method::PUT, &path).query(&[("locale", "fi")]).send());
    let answers = futures::future::join_all(writes).await;
    let limited = answers
        .into_iter()
        .map(Result::unwrap)
        .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS);
    let limited = limited.expect("one of three writes in a second is limited");
    assert!(limited.headers().contains_key("retry-after"));
    refused(limited, StatusCode::TOO_MANY_REQUESTS, "Client error").await;
}
