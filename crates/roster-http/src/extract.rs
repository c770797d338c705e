//! Request extractors that answer bad input with a problem naming what is wrong: JSON bodies
//! (content type, size, syntax), query strings, path ids and the conditional-request headers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, Problem};

/// A JSON request body, parsed to a `Value`, with the SHA-256 of its bytes.
pub struct JsonBody {
    pub value: Value,
    pub sha256: [u8; 32],
}

/// Media types a JSON body may be sent as: `application/json` and any `application/*+json`
/// (`application/merge-patch+json` among them).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON: Content-Type: application/json",
            )
            .into());
        }
        let bytes = read_body(req, state).await?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                format!("the body is not valid JSON (line {}, column {})", e.line(), e.column()),
            )
        })?;
        roster_core::input::reject_nul(&value)?;
        Ok(JsonBody { value, sha256: Sha256::digest(&bytes).into() })
    }
}

/// The body, within the route's size limit (a 413 beyond it).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the body exceeds the size limit",
            )
            .into()
        } else {
            Problem::bad_request(format!("the body could not be read: {rejection}")).into()
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

/// The version an `If-Match` header pins, if any. `*` pins none.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IF_MATCH) else { return Ok(IfMatch(None)) };
        let value = value.to_str().unwrap_or("").trim();
        if value == "*" {
            return Ok(IfMatch(None));
        }
        value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .and_then(|v| v.parse::<i64>().ok())
            .map(|v| IfMatch(Some(v)))
            .ok_or_else(|| {
                Problem::invalid(
                    "If-Match",
                    "invalid_format",
                    "must be one entity tag from an ETag, e.g. \"3\"",
                )
                .into()
            })
    }
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
