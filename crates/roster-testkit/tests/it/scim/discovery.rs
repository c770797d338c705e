//! SCIM discovery: the service provider configuration, resource types and schemas, and that the
//! schemas declare every attribute a fully populated user or group is returned with.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use roster_testkit::TestApp;
use serde_json::{Value, json};

use super::{ENTERPRISE, GROUP, USER, create_user, expect, expect_error, scim};

async fn get(app: &TestApp, path: &str) -> Value {
    expect(scim(app, Method::GET, path).send().await.unwrap(), StatusCode::OK).await
}

/// Every attribute path a schema declares (`name.givenName`), by schema id.
fn declared(schemas: &Value) -> HashMap<String, Vec<String>> {
    fn walk(attributes: &Value, prefix: &str, out: &mut Vec<String>) {
        for a in attributes.as_array().unwrap() {
            let path = format!("{prefix}{}", a["name"].as_str().unwrap());
            if let Some(sub) = a.get("subAttributes") {
                walk(sub, &format!("{path}."), out);
            }
            out.push(path);
        }
    }
    let mut map = HashMap::new();
    for s in schemas["Resources"].as_array().unwrap() {
        let mut paths = Vec::new();
        walk(&s["attributes"], "", &mut paths);
        map.insert(s["id"].as_str().unwrap().to_owned(), paths);
    }
    map
}

/// The attribute paths of a document (extension attributes under their schema), without the
/// common `schemas` and `meta`.
fn returned(doc: &Value, prefix: &str, out: &mut Vec<(String, String)>, schema: &str) {
    for (k, v) in doc.as_object().unwrap() {
        if prefix.is_empty() && (k == "schemas" || k == "meta") {
            continue;
        }
        if k.starts_with("urn:") {
            returned(v, "", out, k);
            continue;
        }
        let path = format!("{prefix}{k}");
        match v {
            Value::Object(_) => returned(v, &format!("{path}."), out, schema),
            Value::Array(items) => {
                for item in items.iter().filter(|i| i.is_object()) {
                    returned(item, &format!("{path}."), out, schema);
                }
            }
            _ => {}
        }
        out.push((schema.to_owned(), path));
    }
}

#[tokio::test]
async fn discovery_describes_what_is_served() {
    let app = TestApp::spawn().await;
    let config = get(&app, "/ServiceProviderConfig").await;
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["bulk"]["maxOperations"], 1000);
    assert_eq!(config["filter"], json!({ "supported": true, "maxResults": 1000 }));
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let types = get(&app, "/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    let user_type = get(&app, "/ResourceTypes/User").await;
    assert_eq!((&user_type["endpoint"], &user_type["schema"]), (&json!("/Users"), &json!(USER)));
    expect_error(
        scim(&app, Method::GET, "/ResourceTypes/Device").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        None,
    )
    .await;
    let filtered = scim(&app, Method::GET, "/Schemas?filter=id%20pr").send().await.unwrap();
    expect_error(filtered, StatusCode::FORBIDDEN, None).await;

    let schemas = get(&app, "/Schemas").await;
    let declared = declared(&schemas);
    let one = get(&app, &format!("/Schemas/{ENTERPRISE}")).await;
    assert_eq!(one["name"], "EnterpriseUser");

    // A user with every attribute Roster maps, and a group with members: nothing comes back
    // that the schemas do not declare.
    let roster = "urn:roster:params:scim:schemas:extension:2.0:User";
    let ada = create_user(&app, json!({
        "schemas": [USER, ENTERPRISE, roster],
        "userName": "ada", "externalId": "e1", "displayName": "Ada", "nickName": "A", "locale": "en-GB",
        "name": { "givenName": "Ada", "middleName": "K", "familyName": "Lovelace" },
        "emails": [{ "value": "ada@example.com", "primary": true }],
        "phoneNumbers": [{ "value": "+442079460018" }],
        "photos": [{ "value": "https://example.com/ada.png" }],
        "addresses": [{ "type": "home", "streetAddress": "1 Square", "locality": "London", "region": "LDN", "postalCode": "SW1", "country": "GB" }],
        ENTERPRISE: { "employeeNumber": "1", "costCenter": "2", "organization": "3", "division": "4", "department": "5", "manager": { "value": "m" } },
        roster: {
            "salutation": "female", "gender": "female", "academicTitle": "dr",
            "birth": { "date": "1815-12-10", "city": "London", "country": "GB", "name": "Byron" },
            "nationalities": ["GB"], "postalAddress": { "streetAddress": "2 Square", "country": "GB" },
            "attributes": [{ "name": "team", "value": "engines" }], "externalAccountId": "acc-1",
        },
    })).await;
    let group = expect(
        scim(&app, Method::POST, "/Groups")
            .json(&json!({ "schemas": [GROUP], "displayName": "G", "externalId": "g1", "members": [{ "value": ada["id"] }],
                "urn:roster:params:scim:schemas:extension:2.0:Group": { "description": "d" } }))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let mut paths = Vec::new();
    returned(&ada, "", &mut paths, USER);
    returned(&group, "", &mut paths, GROUP);
    for (schema, path) in &paths {
        let known = declared.get(schema).is_some_and(|d| d.contains(path));
        assert!(known, "{schema}:{path} is returned but not declared");
    }
    assert!(paths.len() > 40, "the documents were populated: {paths:?}");
}
