//! Request extractors that answer bad input with a problem naming what is wrong: JSON bodies
//! (content type, size, syntax), query strings, path ids and the conditional-request headers.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, Problem};
use crate::surface::{Native, Rejection, Surface};

/// A JSON request body, parsed to a `Value`, with the SHA-256 of its bytes; refused in the
/// shape of surface `X`.
pub struct JsonBody<X = Native> {
    pub value: Value,
    pub sha256: [u8; 32],
    _surface: PhantomData<X>,
}

/// Media types a JSON body may be sent as: `application/json` and any `application/*+json`
/// (`application/merge-patch+json` among them).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S: Send + Sync, X: Surface> FromRequest<S> for JsonBody<X> {
    type Rejection = X::Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            let expected = "JSON: Content-Type: application/json";
            return Err(Rejection::UnsupportedMediaType(expected).into());
        }
        let bytes = read_body(req, state).await?;
        let value =
            parse_json(&bytes).map_err(|e| Rejection::Malformed(json_error("the body", &e)))?;
        roster_core::input::reject_nul(&value).map_err(Rejection::Core)?;
        Ok(JsonBody { value, sha256: Sha256::digest(&bytes).into(), _surface: PhantomData })
    }
}

/// Parses a JSON document, refusing an object that names a member twice: parsers disagree on
/// which of the two counts (serde_json keeps the last, others the first), so a proxy or an
/// audit log could see one value and the handler act on the other.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|Strict(value)| value)
}

/// What is wrong with a JSON document, for a message about `what` ("the body").
pub(crate) fn json_error(what: &str, e: &serde_json::Error) -> String {
    if e.is_data() {
        // A duplicate member: the message names it and says where.
        format!("{what} is not acceptable JSON: {e}")
    } else {
        format!("{what} is not valid JSON (line {}, column {})", e.line(), e.column())
    }
}

/// A JSON value read without letting a member be named twice.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(serde::de::Error::custom(format_args!(
                    "the member `{name}` is given twice"
                )));
            }
            let Strict(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

/// The body, within the route's size limit (a 413 beyond it).
pub(crate) async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Rejection> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Rejection::TooLarge
        } else {
            Rejection::Malformed(format!("the body could not be read: {rejection}"))
        }
    })
}

/// A UTF-8 text body of any media type (NDJSON, CSV).
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        String::from_utf8(bytes.to_vec()).map(TextBody).map_err(|e| {
            Problem::bad_request(format!(
                "the body is not UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            ))
            .into()
        })
    }
}

/// A query string, with unknown parameters and bad values answered by a 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    /// Goes through a JSON object of strings so that unknown parameters are reported as for
    /// bodies; numeric and boolean parameters parse their string with [`from_str`].
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|_| Problem::bad_request("the query string is not well-formed"))?
            .0;
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            if map.insert(k.clone(), Value::String(v)).is_some() {
                return Err(Problem::invalid(&k, "duplicate", "is given more than once").into());
            }
        }
        Ok(ApiQuery(roster_core::input::parse_document(Value::Object(map))?))
    }
}

/// An id from a path or a body field: a UUID, else a 400 naming `field`.
pub(crate) fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| Problem::invalid(field, "invalid_format", "must be a UUID").into())
}

/// The version an `If-Match` header pins, if any. `*` pins none. A surface whose ETags are
/// weak (SCIM's, RFC 7644 §3.14) compares weakly; the others strongly (RFC 9110 §13.1.1).
pub struct IfMatch<X = Native>(pub Option<i64>, pub PhantomData<X>);

impl<S: Send + Sync, X: Surface> FromRequestParts<S> for IfMatch<X> {
    type Rejection = X::Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let pinned = |version| Ok(IfMatch(version, PhantomData));
        let Some(value) = parts.headers.get(IF_MATCH) else { return pinned(None) };
        let refuse = |code, message| {
            X::Error::from(roster_core::Error::invalid("If-Match", code, message).into())
        };
        let malformed =
            || refuse("invalid_format", "must be `*` or entity tags as ETag gives them");
        let value = value.to_str().map_err(|_| malformed())?.trim_matches([' ', '\t']);
        if value == "*" {
            return pinned(None);
        }
        let versions = if_match_versions(value, X::WEAK_ETAGS).ok_or_else(malformed)?;
        match versions.as_slice() {
            // Well-formed, but no tag can match the ETag: a 412 once the resource is read, as
            // version 0, which no resource has.
            [] => pinned(Some(0)),
            [version, rest @ ..] if rest.iter().all(|v| v == version) => pinned(Some(*version)),
            _ => Err(refuse(
                "ambiguous",
                "names several versions; only one can be current: send the ETag you read",
            )),
        }
    }
}

/// The versions a well-formed `If-Match` list of entity tags names (RFC 9110 §8.8.3: `W/`
/// and a quoted run of visible characters but `"`, comma-separated), or `None` when it is
/// not one. A tag that is not how Roster writes a version (`"3"`) names none, nor does a weak
/// one unless `weak` says the surface's tags are weak.
fn if_match_versions(list: &str, weak_tags: bool) -> Option<Vec<i64>> {
    let mut versions = Vec::new();
    for element in split_entity_tags(list)? {
        let (weak, tag) = match element.strip_prefix("W/") {
            Some(tag) => (true, tag),
            None => (false, element),
        };
        let opaque = tag.strip_prefix('"')?.strip_suffix('"')?;
        if !opaque.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)) {
            return None;
        }
        if let Ok(version) = opaque.parse::<i64>()
            && (weak_tags || !weak)
            && version.to_string() == opaque
        {
            versions.push(version);
        }
    }
    Some(versions)
}

/// The elements of a comma-separated list of entity tags; commas inside quotes belong to the
/// tag. `None` for an empty element or an unclosed quote.
fn split_entity_tags(list: &str) -> Option<Vec<&str>> {
    let mut elements = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in list.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                elements.push(list[start..i].trim_matches([' ', '\t']));
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    elements.push(list[start..].trim_matches([' ', '\t']));
    (!elements.iter().any(|e| e.is_empty())).then_some(elements)
}

/// The `Idempotency-Key` header of a create.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        match value.to_str() {
            Ok(key)
                if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(IdempotencyKey(Some(key.to_owned())))
            }
            _ => Err(Problem::invalid(
                "Idempotency-Key",
                "invalid_format",
                "must be 1 to 255 visible ASCII characters",
            )
            .into()),
        }
    }
}

/// The strong entity tag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Deserialises a query parameter's string with `FromStr` (`limit=10`, `include_deleted=true`).
pub fn from_str<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
{
    use serde::Deserialize;
    let s = String::deserialize(deserializer)?;
    s.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a valid value here")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_named_twice_is_refused_at_any_depth() {
        for body in [
            r#"{"username":"a","username":"b"}"#,
            r#"{"name":{"given":"a","given":"a"}}"#,
            r#"[{"x":1},{"y":1,"y":2}]"#,
        ] {
            let e = parse_json(body.as_bytes()).expect_err(body);
            assert!(json_error("the body", &e).contains("is given twice"), "{body}: {e}");
        }
    }

    #[test]
    fn everything_else_reads_as_serde_json_reads_it() {
        for body in [
            r#"{"a":1,"b":-2,"c":1.5,"d":18446744073709551615,"e":null,"f":[true,false,"x"],"g":{}}"#,
            r#"[]"#,
            r#""text""#,
            r#"{"A":1,"a":2}"#,
            "1e300",
        ] {
            let expected: Value = serde_json::from_slice(body.as_bytes()).unwrap();
            assert_eq!(parse_json(body.as_bytes()).unwrap(), expected, "{body}");
        }
        let e = parse_json(b"{\"a\":").unwrap_err();
        assert_eq!(json_error("the body", &e), "the body is not valid JSON (line 1, column 5)");
    }
}
