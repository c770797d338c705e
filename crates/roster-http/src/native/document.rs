//! Rules of the native API that hold for every operation, stated once in its OpenAPI document
//! rather than on each of the hundred operations the annotations describe.
//!
//! - Request documents are read by [`roster_core::input::parse_document`], which refuses
//!   unknown fields: every object schema a request body reaches says `additionalProperties:
//!   false`. (Objects without declared properties — `custom_data`, `attributes` — stay free.)
//! - Every operation that needs a token may answer 401 (no valid token) and 403 (a missing
//!   scope); every one that takes a body 413 (too large) and 415 (not its media type). The
//!   annotations state only the answers particular to an operation.
//! - `If-Match` takes `*` or a list of entity tags (RFC 9110 §13.1.1,
//!   [`crate::extract::IfMatch`]): a tag that is not the current ETag, weak ones included, is a
//!   412. A list naming two different versions is a 400, which the pattern cannot say: only one
//!   can be current.

use serde_json::Value;

/// `*`, or a comma-separated list of entity tags (`"3"`, `W/"3"`).
const IF_MATCH: &str =
    r#"^[ \t]*(\*|(W/)?"[\x21\x23-\x7e]*"([ \t]*,[ \t]*(W/)?"[\x21\x23-\x7e]*")*)[ \t]*$"#;

/// Applies the rules above to the document.
pub(crate) fn apply(doc: &mut Value) {
    let mut bodies = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in
            paths.values_mut().filter_map(Value::as_object_mut).flat_map(|p| p.values_mut())
        {
            for parameter in
                operation.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten()
            {
                if parameter["in"] == "header" && parameter["name"] == "If-Match" {
                    parameter["schema"] =
                        serde_json::json!({ "type": "string", "pattern": IF_MATCH });
                }
            }
            common_responses(operation);
            if let Some(content) =
                operation.pointer_mut("/requestBody/content").and_then(Value::as_object_mut)
            {
                for media in content.values_mut() {
                    if let Some(schema) = media.get_mut("schema") {
                        bodies.push(schema.clone());
                    }
                }
            }
        }
    }
    // Every component schema a request body reaches, directly or through other schemas.
    let mut closed = std::collections::BTreeSet::new();
    let mut pending = bodies;
    while let Some(schema) = pending.pop() {
        for name in references(&schema) {
            if closed.insert(name.clone())
                && let Some(target) = doc.pointer(&format!("/components/schemas/{name}"))
            {
                pending.push(target.clone());
            }
        }
    }
    for name in &closed {
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            close(schema);
        }
    }
}

/// Adds the answers every operation of its kind may give, where the annotation states none.
fn common_responses(operation: &mut Value) {
    let secured =
        operation.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    let with_body = operation.get("requestBody").is_some();
    let common = [
        (secured, "401", "No valid token"),
        (secured, "403", "Missing scope"),
        (with_body, "413", "Body too large"),
        (with_body, "415", "Body is not in a media type the operation takes"),
    ];
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (applies, status, description) in common {
        if applies && !responses.contains_key(status) {
            responses.insert(
                status.to_owned(),
                serde_json::json!({
                    "description": description,
                    "content": { "application/problem+json": {
                        "schema": { "$ref": "#/components/schemas/Problem" }
                    } },
                }),
            );
        }
    }
}

/// The component schemas `schema` refers to.
fn references(schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    names.push(name.to_owned());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names
}

/// Marks every object schema with declared properties in `schema` (nested ones too) as
/// admitting no other property.
fn close(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            for (key, value) in map.iter_mut() {
                // Examples are data, not schemas.
                if key != "example" && key != "examples" && key != "default" {
                    close(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_schemas_are_closed_and_if_match_has_its_grammar() {
        let mut doc = serde_json::json!({
            "paths": { "/x": { "patch": {
                "parameters": [{ "in": "header", "name": "If-Match", "schema": { "type": "string" } }],
                "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/In" } } } },
                "responses": { "200": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Out" } } } } }
            } } },
            "components": { "schemas": {
                "In": { "type": "object", "properties": { "a": { "$ref": "#/components/schemas/Nested" }, "free": { "type": "object" } } },
                "Nested": { "type": "object", "properties": { "b": { "type": "string" } } },
                "Out": { "type": "object", "properties": { "c": { "type": "string" } } }
            } }
        });
        apply(&mut doc);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["In"]["additionalProperties"], false);
        assert_eq!(schemas["Nested"]["additionalProperties"], false);
        assert!(schemas["In"]["properties"]["free"].get("additionalProperties").is_none());
        assert!(schemas["Out"].get("additionalProperties").is_none(), "responses stay open");
        let pattern = doc["paths"]["/x"]["patch"]["parameters"][0]["schema"]["pattern"].as_str();
        assert_eq!(pattern, Some(IF_MATCH));
    }

    /// The answers common to every secured operation, or every one with a body, are in the
    /// document once for each, as the server gives them.
    #[test]
    fn every_operation_states_its_common_answers() {
        let doc = crate::openapi();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("operations") {
                let responses = &operation["responses"];
                if operation["security"].as_array().is_some_and(|s| !s.is_empty()) {
                    for status in ["401", "403"] {
                        assert!(responses.get(status).is_some(), "{method} {path}: {status}");
                    }
                    checked += 1;
                }
                if operation.get("requestBody").is_some() {
                    for status in ["413", "415"] {
                        assert!(responses.get(status).is_some(), "{method} {path}: {status}");
                    }
                }
            }
        }
        assert!(checked > 90, "{checked} secured operations");
    }

    /// The pattern admits exactly what the `If-Match` extractor accepts.
    #[tokio::test]
    async fn the_if_match_pattern_is_the_extractors_grammar() {
        use axum::extract::FromRequestParts as _;
        let pattern = regex::Regex::new(IF_MATCH).expect("pattern");
        let samples = [
            "*",
            "\"3\"",
            " \"12\" ",
            "\"-1\"",
            "\"+7\"",
            "3",
            "null",
            "\"a\"",
            "W/\"3\"",
            "\"1\", \"1\"",
            "\"1\",,\"2\"",
            "\"a,b\", W/\"c\"",
            "\"\"",
            "\"123456789012345678\"",
            "**",
            "\"3",
        ];
        for sample in samples {
            let request = axum::http::Request::builder()
                .header("if-match", sample)
                .body(())
                .expect("request");
            let (mut parts, ()) = request.into_parts();
            let accepted =
                <crate::extract::IfMatch>::from_request_parts(&mut parts, &()).await.is_ok();
            assert_eq!(pattern.is_match(sample), accepted, "{sample}");
        }
    }
}
