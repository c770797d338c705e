//! CustomerID's documents: the answers ([`Doc`], written as XML in its namespace or as JSON)
//! and the user changes it takes ([`Changes`], read from URL parameters, a form, a
//! `<UserRequest>` or a JSON object).

use std::collections::BTreeMap;

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde_json::{Map, Value, json};

use super::error::{Result, UbisecureError};
use crate::body::Format;

/// The namespace of every element of an answer but an error.
pub(crate) const NAMESPACE: &str = "http://schema.ubisecure.com/customerid/api";

/// A successful answer, before it is written in the format the client accepts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Doc {
    /// A collection (`Users`, `Organizations`, `Roles`, …): the ids of its members.
    Ids { root: &'static str, ids: Vec<String> },
    /// An entity (`User`, `Organization`, `Role`, …) of `type`: named attributes, each with its
    /// values (empty ones left out).
    Entity { root: &'static str, kind: &'static str, attributes: Vec<(String, Vec<String>)> },
    /// A flat record (`ReinviteResponse`, `UserResponse`): members in order (empty ones left
    /// out), and the user's custom attributes after the member named `customAttributes`.
    Record { root: &'static str, members: Vec<(&'static str, String)>, custom: Option<Custom> },
}

/// Custom attributes by name, each with its values.
pub(crate) type Custom = BTreeMap<String, Vec<String>>;

/// Where a record's custom attributes go among its members.
const CUSTOM_AFTER: &str = "status";

impl Doc {
    /// The answer, 200, in `format` (XML unless JSON), for the request to `path` (below the
    /// dialect's mount) with `method`.
    pub(crate) fn render(&self, format: Format, path: &str, method: &str) -> Response {
        let (body, media) = match format {
            Format::Json => (self.json(path, method).to_string().into_bytes(), "application/json"),
            Format::Xml | Format::Form => (self.xml(path, method), "application/xml"),
        };
        let mut response = (StatusCode::OK, body).into_response();
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(media));
        response
    }

    fn json(&self, path: &str, method: &str) -> Value {
        match self {
            Doc::Ids { ids, .. } => json!({ "inResponseTo": path, "method": method, "Id": ids }),
            Doc::Entity { kind, attributes, .. } => {
                let attributes: Vec<Value> = attributes
                    .iter()
                    .filter_map(|(name, values)| {
                        let values: Vec<&String> =
                            values.iter().filter(|v| !v.is_empty()).collect();
                        (!values.is_empty()).then(|| json!({ "name": name, "Value": values }))
                    })
                    .collect();
                json!({ "inResponseTo": path, "method": method, "type": kind,
                    "Attribute": attributes })
            }
            Doc::Record { members, custom, .. } => {
                let mut out = Map::new();
                for (name, value) in members.iter().filter(|(_, v)| !v.is_empty()) {
                    out.insert((*name).to_owned(), json!(value));
                    if *name == CUSTOM_AFTER {
                        add_custom_json(&mut out, custom);
                    }
                }
                if !out.contains_key("customAttributes") {
                    add_custom_json(&mut out, custom);
                }
                Value::Object(out)
            }
        }
    }

    fn xml(&self, path: &str, method: &str) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        // Writing into memory cannot fail.
        let _ = self.write_xml(&mut w, path, method);
        w.into_inner()
    }

    fn write_xml(&self, w: &mut Writer<Vec<u8>>, path: &str, method: &str) -> std::io::Result<()> {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), Some("yes"))))?;
        let root = match self {
            Doc::Ids { root, .. } | Doc::Entity { root, .. } | Doc::Record { root, .. } => root,
        };
        let mut start = w
            .create_element(*root)
            .with_attribute(("xmlns", NAMESPACE))
            .with_attribute(("inResponseTo", path))
            .with_attribute(("method", method));
        if let Doc::Entity { kind, .. } = self {
            start = start.with_attribute(("type", *kind));
        }
        start.write_inner_content(|w| match self {
            Doc::Ids { ids, .. } => {
                for id in ids {
                    w.create_element("Id").write_text_content(BytesText::new(id))?;
                }
                Ok(())
            }
            Doc::Entity { attributes, .. } => {
                for (name, values) in attributes {
                    let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
                    if values.is_empty() {
                        continue;
                    }
                    w.create_element("Attribute")
                        .with_attribute(("name", name.as_str()))
                        .write_inner_content(|w| {
                            for value in values {
                                w.create_element("Value")
                                    .write_text_content(BytesText::new(value))?;
                            }
                            Ok(())
                        })?;
                }
                Ok(())
            }
            Doc::Record { members, custom, .. } => {
                let mut custom_written = false;
                for (name, value) in members.iter().filter(|(_, v)| !v.is_empty()) {
                    w.create_element(*name).write_text_content(BytesText::new(value))?;
                    if *name == CUSTOM_AFTER {
                        write_custom_xml(w, custom)?;
                        custom_written = true;
                    }
                }
                if !custom_written {
                    write_custom_xml(w, custom)?;
                }
                Ok(())
            }
        })?;
        Ok(())
    }
}

/// `customAttributes` as the seed answers it: one value a string, several an array.
fn add_custom_json(out: &mut Map<String, Value>, custom: &Option<Custom>) {
    let Some(custom) = custom.as_ref().filter(|c| c.values().any(|v| !v.is_empty())) else {
        return;
    };
    let members = custom
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(name, values)| {
            let value = match values.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            (name.clone(), value)
        })
        .collect();
    out.insert("customAttributes".to_owned(), Value::Object(members));
}

fn write_custom_xml(w: &mut Writer<Vec<u8>>, custom: &Option<Custom>) -> std::io::Result<()> {
    let Some(custom) = custom.as_ref().filter(|c| c.values().any(|v| !v.is_empty())) else {
        return Ok(());
    };
    w.create_element("customAttributes").write_inner_content(|w| {
        for (name, values) in custom.iter().filter(|(_, v)| !v.is_empty()) {
            w.create_element("attribute")
                .with_attribute(("name", name.as_str()))
                .write_inner_content(|w| {
                    for value in values {
                        w.create_element("value").write_text_content(BytesText::new(value))?;
                    }
                    Ok(())
                })?;
        }
        Ok(())
    })?;
    Ok(())
}

/// An error in `format`: `<error><code/><message/></error>` without a namespace, or
/// `{"code","message"}`.
pub(crate) fn error(format: Format, status: StatusCode, code: &str, message: &str) -> Response {
    let (body, media) = match format {
        Format::Json => (
            json!({ "code": code, "message": message }).to_string().into_bytes(),
            "application/json",
        ),
        Format::Xml | Format::Form => {
            let mut w = Writer::new(Vec::new());
            let _ = w
                .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), Some("yes"))))
                .and_then(|()| {
                    w.create_element("error").write_inner_content(|w| {
                        w.create_element("code").write_text_content(BytesText::new(code))?;
                        w.create_element("message").write_text_content(BytesText::new(message))?;
                        Ok(())
                    })
                });
            (w.into_inner(), "application/xml")
        }
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(media));
    response
}

/// The names of a user's builtin attributes that a change may give.
pub(crate) const USER_BUILTINS: [&str; 10] = [
    "login",
    "email",
    "firstname",
    "surname",
    "mobile",
    "ssn",
    "locale",
    "pwd",
    "pwd.activated",
    "status",
];

/// What a user change gives: builtin attributes by name (an empty value removes one), and
/// custom attributes with their values (none removes one). Absent names are kept.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Changes {
    pub builtins: BTreeMap<&'static str, String>,
    pub custom: Custom,
}

impl Changes {
    /// From URL parameters or a form: a builtin name once; a custom name once per value.
    pub(crate) fn from_params(params: &[(String, String)], read_only: &[&str]) -> Result<Changes> {
        let mut changes = Changes::default();
        for (name, value) in params {
            changes.give(name, value.trim(), read_only)?;
        }
        Ok(changes)
    }

    /// One parameter.
    fn give(&mut self, name: &str, value: &str, read_only: &[&str]) -> Result<()> {
        if read_only.contains(&name) {
            return Err(UbisecureError::invalid(format!("{name}: cannot be changed")));
        }
        match USER_BUILTINS.iter().find(|b| **b == name) {
            Some(builtin) => {
                if self.builtins.insert(builtin, value.to_owned()).is_some() {
                    return Err(UbisecureError::invalid(format!(
                        "{name}: is given more than once"
                    )));
                }
            }
            None if name.is_empty() => {
                return Err(UbisecureError::invalid("a parameter has no name"));
            }
            None => {
                let values = self.custom.entry(name.to_owned()).or_default();
                if !value.is_empty() {
                    values.push(value.to_owned());
                }
            }
        }
        Ok(())
    }

    /// A body of PATCH124, read by the kit's reader: a form, a `<UserRequest>` or a JSON object.
    pub(crate) fn from_body(value: Value, format: Format, read_only: &[&str]) -> Result<Changes> {
        match format {
            Format::Form => Changes::from_params(&pairs(value), read_only),
            Format::Xml => Changes::from_xml(value, read_only),
            Format::Json => Changes::from_json(value, read_only),
        }
    }

    fn from_xml(document: Value, read_only: &[&str]) -> Result<Changes> {
        let Value::Object(mut document) = document else { return Ok(Changes::default()) };
        let request = match document.remove("UserRequest") {
            Some(Value::Object(request)) => request,
            Some(_) => Map::new(),
            None => {
                let root = document.keys().next().cloned().unwrap_or_default();
                return Err(UbisecureError::invalid(format!(
                    "the body's root element is <{root}>, not <UserRequest>"
                )));
            }
        };
        let mut changes = Changes::default();
        for (name, value) in request {
            if name.starts_with("@xmlns") {
                continue;
            }
            if name == "customAttributes" {
                let attributes = match value {
                    Value::Object(mut c) => c.remove("attribute").unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                let attributes = match attributes {
                    Value::Array(items) => items,
                    Value::Null => Vec::new(),
                    one => vec![one],
                };
                for attribute in attributes {
                    let Value::Object(mut attribute) = attribute else {
                        return Err(UbisecureError::invalid(
                            "customAttributes/attribute: needs a name attribute",
                        ));
                    };
                    let Some(Value::String(name)) = attribute.remove("@name") else {
                        return Err(UbisecureError::invalid(
                            "customAttributes/attribute: needs a name attribute",
                        ));
                    };
                    let values = match attribute.remove("value") {
                        None => Vec::new(),
                        Some(Value::Array(values)) => values,
                        Some(one) => vec![one],
                    };
                    if let Some(other) = attribute.keys().next() {
                        return Err(UbisecureError::invalid(format!(
                            "customAttributes/attribute[@name='{name}']: {other} is not known"
                        )));
                    }
                    let mut strings = Vec::new();
                    for value in values {
                        match value {
                            Value::String(s) if s.trim().is_empty() => {}
                            Value::String(s) => strings.push(s.trim().to_owned()),
                            _ => {
                                return Err(UbisecureError::invalid(format!(
                                    "customAttributes/attribute[@name='{name}']/value: text only"
                                )));
                            }
                        }
                    }
                    changes.set_custom(&name, strings, read_only)?;
                }
                continue;
            }
            let Some(builtin) = USER_BUILTINS.iter().find(|b| **b == name) else {
                return Err(UbisecureError::invalid(format!(
                    "{name}: is not a member of UserRequest"
                )));
            };
            match value {
                Value::String(text) => changes.give(builtin, text.trim(), read_only)?,
                Value::Array(_) => {
                    return Err(UbisecureError::invalid(format!(
                        "{name}: is given more than once"
                    )));
                }
                _ => return Err(UbisecureError::invalid(format!("{name}: text only"))),
            }
        }
        Ok(changes)
    }

    fn from_json(document: Value, read_only: &[&str]) -> Result<Changes> {
        let Value::Object(members) = document else {
            return Err(UbisecureError::invalid("the body must be a JSON object"));
        };
        let mut changes = Changes::default();
        for (name, value) in members {
            if name == "customAttributes" {
                let Value::Object(custom) = value else {
                    return Err(UbisecureError::invalid(
                        "customAttributes: an object of names to a string or an array of strings",
                    ));
                };
                for (attribute, value) in custom {
                    let bad = || {
                        UbisecureError::invalid(format!(
                            "customAttributes.{attribute}: a string or an array of strings"
                        ))
                    };
                    let values = match value {
                        Value::String(s) => vec![s],
                        Value::Array(items) => items
                            .into_iter()
                            .map(|v| match v {
                                Value::String(s) => Ok(s),
                                _ => Err(bad()),
                            })
                            .collect::<Result<_>>()?,
                        _ => return Err(bad()),
                    };
                    let values = values
                        .into_iter()
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .collect();
                    changes.set_custom(&attribute, values, read_only)?;
                }
                continue;
            }
            let Some(builtin) = USER_BUILTINS.iter().find(|b| **b == name) else {
                return Err(UbisecureError::invalid(format!(
                    "{name}: is not a member of the request"
                )));
            };
            let text = match value {
                Value::String(s) => s,
                Value::Bool(b) if name == "pwd.activated" => b.to_string(),
                _ => return Err(UbisecureError::invalid(format!("{name}: must be a string"))),
            };
            changes.give(builtin, text.trim(), read_only)?;
        }
        Ok(changes)
    }

    fn set_custom(&mut self, name: &str, values: Vec<String>, read_only: &[&str]) -> Result<()> {
        if name.is_empty() {
            return Err(UbisecureError::invalid("customAttributes: an attribute has no name"));
        }
        if USER_BUILTINS.contains(&name) || read_only.contains(&name) {
            return Err(UbisecureError::invalid(format!(
                "customAttributes.{name}: a builtin attribute, not a custom one"
            )));
        }
        if self.custom.insert(name.to_owned(), values).is_some() {
            return Err(UbisecureError::invalid(format!(
                "customAttributes.{name}: is given more than once"
            )));
        }
        Ok(())
    }
}

/// A form read by the kit (a name once a string, repeated an array) as name–value pairs.
pub(crate) fn pairs(form: Value) -> Vec<(String, String)> {
    let Value::Object(fields) = form else { return Vec::new() };
    let mut out = Vec::new();
    for (name, value) in fields {
        match value {
            Value::Array(values) => {
                for v in values {
                    out.push((name.clone(), v.as_str().unwrap_or_default().to_owned()));
                }
            }
            Value::String(v) => out.push((name, v)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_written_in_the_namespace_with_their_request() {
        let doc = Doc::Entity {
            root: "User",
            kind: "user",
            attributes: vec![
                ("id".into(), vec!["7".into()]),
                ("surname".into(), vec!["Ä & <b>".into()]),
                ("empty".into(), vec![String::new()]),
                ("browsers".into(), vec!["IE".into(), "chrome".into()]),
            ],
        };
        let xml = String::from_utf8(doc.xml("/2.1/users/7", "GET")).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <User xmlns=\"http://schema.ubisecure.com/customerid/api\" inResponseTo=\"/2.1/users/7\" \
             method=\"GET\" type=\"user\"><Attribute name=\"id\"><Value>7</Value></Attribute>\
             <Attribute name=\"surname\"><Value>Ä &amp; &lt;b&gt;</Value></Attribute>\
             <Attribute name=\"browsers\"><Value>IE</Value><Value>chrome</Value></Attribute></User>"
        );
        assert_eq!(
            doc.json("/2.1/users/7", "GET"),
            json!({ "inResponseTo": "/2.1/users/7", "method": "GET", "type": "user", "Attribute": [
                { "name": "id", "Value": ["7"] }, { "name": "surname", "Value": ["Ä & <b>"] },
                { "name": "browsers", "Value": ["IE", "chrome"] } ] })
        );
    }

    #[test]
    fn records_put_custom_attributes_after_the_status() {
        let custom: Custom = [
            ("a".to_owned(), vec!["1".to_owned()]),
            ("b".to_owned(), vec!["2".into(), "3".into()]),
        ]
        .into();
        let doc = Doc::Record {
            root: "UserResponse",
            members: vec![
                ("login", "ada".into()),
                ("status", "Enabled".into()),
                ("userId", "7".into()),
            ],
            custom: Some(custom),
        };
        // JSON members have no order; the XML keeps the seed's.
        let json = doc.json("/2.1/users/7", "PATCH");
        assert_eq!(
            json,
            json!({ "login": "ada", "status": "Enabled", "userId": "7",
                "customAttributes": { "a": "1", "b": ["2", "3"] } })
        );
        let xml = String::from_utf8(doc.xml("/2.1/users/7", "PATCH")).unwrap();
        assert!(xml.contains(
            "<status>Enabled</status><customAttributes><attribute name=\"a\"><value>1</value></attribute>"
        ), "{xml}");
    }

    #[test]
    fn changes_read_alike_from_params_xml_and_json() {
        let params: Vec<(String, String)> =
            [("firstname", "Ada"), ("browsers", "IE"), ("browsers", "chrome"), ("age", "")]
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect();
        let from_params = Changes::from_params(&params, &[]).unwrap();
        let xml = crate::body::xml(
            br#"<UserRequest xmlns="http://schema.ubisecure.com/customerid/api">
                <firstname>Ada</firstname>
                <customAttributes>
                  <attribute name="browsers"><value>IE</value><value>chrome</value></attribute>
                  <attribute name="age"/>
                </customAttributes></UserRequest>"#,
        )
        .unwrap();
        let json = json!({ "firstname": "Ada", "customAttributes": { "browsers": ["IE", "chrome"], "age": "" } });
        assert_eq!(Changes::from_body(xml, Format::Xml, &[]).unwrap(), from_params);
        assert_eq!(Changes::from_body(json, Format::Json, &[]).unwrap(), from_params);
        assert_eq!(from_params.custom["age"], Vec::<String>::new(), "an empty value removes");
    }

    #[test]
    fn wrong_members_are_invalid_arguments_naming_them() {
        let message = |r: Result<Changes>| r.unwrap_err().message;
        assert!(message(Changes::from_json(json!({ "nick": "x" }), &[])).starts_with("nick"));
        assert!(
            message(Changes::from_json(json!({ "firstname": 1 }), &[])).starts_with("firstname")
        );
        let bad = json!({ "customAttributes": { "a": [1] } });
        assert!(message(Changes::from_json(bad, &[])).starts_with("customAttributes.a"));
        let twice = [("login".to_owned(), "a".to_owned()), ("login".to_owned(), "b".to_owned())];
        assert!(message(Changes::from_params(&twice, &[])).contains("more than once"));
        let id = [("userId".to_owned(), "a".to_owned())];
        assert!(message(Changes::from_params(&id, &["userId"])).starts_with("userId"));
        let other_root = crate::body::xml(b"<UserPatchRequest/>").unwrap();
        assert!(message(Changes::from_xml(other_root, &[])).contains("UserPatchRequest"));
    }
}
