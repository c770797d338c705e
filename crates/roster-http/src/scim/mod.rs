//! SCIM 2.0 (RFC 7643, RFC 7644) at `/scim/v2`: Users, Groups, Bulk and discovery, translated
//! onto the same directory calls as the native API.
//!
//! - [`users`] and [`groups`]: the resources, each mapping between its SCIM document and the
//!   core, and its handlers.
//! - [`patch`]: PATCH operations (paths, value filters) applied to a SCIM document.
//! - [`list`]: query parameters, `ListResponse` and attribute projection.
//! - [`discovery`]: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.
//! - [`bulk`]: `/Bulk` with `bulkId` references.
//!
//! Errors are [`ScimError`]s in the RFC 7644 §3.12 shape with their `scimType`.

pub(crate) mod bulk;
pub(crate) mod discovery;
pub(crate) mod groups;
pub(crate) mod list;
pub(crate) mod patch;
pub(crate) mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header::{CONTENT_TYPE, ETAG, HOST, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::{Error, FieldError};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Auth, UsersRead};
use crate::surface::{Rejection, Surface};

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const ENTERPRISE_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Roster's extension for what the core User schema lacks.
pub(crate) const ROSTER_USER_SCHEMA: &str = "urn:roster:params:scim:schemas:extension:2.0:User";
pub(crate) const ROSTER_GROUP_SCHEMA: &str = "urn:roster:params:scim:schemas:extension:2.0:Group";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// The SCIM routes, relative to `/scim/v2`; `/Bulk` bodies may be `max_bulk_body_bytes` long.
pub(crate) fn router(max_bulk_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(users::search))
        .route(
            "/Users/{id}",
            get(users::get).put(users::replace).patch(users::modify).delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::get).put(groups::replace).patch(groups::modify).delete(groups::delete),
        )
        .route("/.search", post(search_everything))
        .route(
            "/Bulk",
            post(bulk::bulk).layer(axum::extract::DefaultBodyLimit::max(max_bulk_body_bytes)),
        )
}

/// `POST /.search` over every resource type at once, which RFC 7644 §3.4.3 leaves optional:
/// 501, to an authenticated client only (like every other route).
async fn search_everything(_auth: Auth<UsersRead, Scim>) -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "searching several resource types at once is not supported: use /Users/.search or /Groups/.search",
    )
}

/// An error in the SCIM shape: `status` (a string), `scimType` where RFC 7644 §3.12 names one,
/// and `detail`.
#[derive(Debug)]
pub(crate) struct ScimError {
    pub(crate) status: StatusCode,
    pub(crate) scim_type: Option<&'static str>,
    pub(crate) detail: String,
}

impl ScimError {
    pub(crate) fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }

    pub(crate) fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub(crate) fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        body
    }

    /// A core error about a document whose field names the surface translates with `rename`.
    pub(crate) fn from_core(e: Error, rename: fn(&str) -> String) -> Self {
        match e {
            Error::NotFound { kind } => {
                ScimError::new(StatusCode::NOT_FOUND, None, format!("{kind} not found"))
            }
            Error::Conflict { field } => ScimError::new(
                StatusCode::CONFLICT,
                Some("uniqueness"),
                format!("{} is already taken", rename(&field)),
            ),
            Error::InvalidTransition { .. } => {
                ScimError::new(StatusCode::CONFLICT, None, e.to_string())
            }
            Error::Stale { .. } => {
                ScimError::new(StatusCode::PRECONDITION_FAILED, None, e.to_string())
            }
            Error::Invalid(errors) => invalid(&errors, rename),
            Error::Refused(reason) => ScimError::new(StatusCode::CONFLICT, None, reason),
            Error::Aborted => ScimError::new(StatusCode::FAILED_DEPENDENCY, None, e.to_string()),
            Error::IdempotencyMismatch => ScimError::new(StatusCode::CONFLICT, None, e.to_string()),
            Error::Unauthenticated | Error::BadSignature(_) | Error::CredentialsRejected => {
                ScimError::new(StatusCode::UNAUTHORIZED, None, e.to_string())
            }
            Error::Forbidden => {
                ScimError::new(StatusCode::FORBIDDEN, None, "the token lacks the scope this needs")
            }
            Error::Unavailable(ref source) => {
                tracing::warn!(error = %source, "storage unavailable");
                ScimError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "storage is unavailable, retry later",
                )
            }
            Error::Internal(ref source) => {
                tracing::error!(error = %source, "internal error");
                ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error")
            }
        }
    }
}

/// A validation failure: `invalidFilter` for a filter, `invalidCursor` (RFC 9865) for a cursor,
/// `mutability` for a read-only field,
/// `invalidSyntax` for an unknown attribute or a wrong type, `invalidValue` otherwise.
fn invalid(errors: &[FieldError], rename: fn(&str) -> String) -> ScimError {
    let scim_type = if errors.iter().any(|e| e.field == "filter") {
        "invalidFilter"
    } else if errors.iter().any(|e| e.field == "cursor") {
        "invalidCursor"
    } else if errors.iter().any(|e| e.code == "read_only") {
        "mutability"
    } else if errors.iter().any(|e| matches!(e.code, "unknown_field" | "invalid_type")) {
        "invalidSyntax"
    } else {
        "invalidValue"
    };
    let detail: Vec<String> = errors
        .iter()
        .map(|e| match e.field.as_str() {
            "" => e.message.clone(),
            field => format!("{}: {}", rename(field), e.message),
        })
        .collect();
    ScimError::bad(scim_type, detail.join("; "))
}

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        ScimError::from_core(e, str::to_owned)
    }
}

/// SCIM as a surface: shared extractors refuse in its error shape.
pub(crate) struct Scim;

impl Surface for Scim {
    type Error = ScimError;
    const WEAK_ETAGS: bool = true;
}

/// A shared extractor's or layer's refusal as RFC 7644 §3.12 has it.
impl From<Rejection> for ScimError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Core(e) => ScimError::from(e),
            Rejection::UnsupportedMediaType(_) => ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "the body must be JSON: Content-Type: application/scim+json",
            ),
            Rejection::TooLarge => ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                "the body exceeds the size limit",
            ),
            Rejection::Malformed(detail) => ScimError::bad("invalidSyntax", detail),
            Rejection::Refused(refusal) => {
                ScimError::new(refusal.status(), None, refusal.message())
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut response = scim_json(self.status, &self.body());
        let headers = response.headers_mut();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

pub(crate) type ScimResult<T = Response> = Result<T, ScimError>;

/// `body` as `application/scim+json`.
pub(crate) fn scim_json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/scim+json"));
    response
}

/// A resource: its document with `ETag` (weak, from `meta.version`) and, for a create,
/// `Location`.
pub(crate) fn resource(status: StatusCode, document: &Value) -> Response {
    let mut response = scim_json(status, document);
    let headers = response.headers_mut();
    if let Some(Ok(v)) = document["meta"]["version"].as_str().map(HeaderValue::from_str) {
        headers.insert(ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Some(Ok(v)) = document["meta"]["location"].as_str().map(HeaderValue::from_str)
    {
        headers.insert(LOCATION, v);
    }
    response
}

/// The weak entity tag of a version.
pub(crate) fn version_tag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Where this service is reached, for `meta.location`: the request's `Host`, over `https` when
/// a proxy says so in `X-Forwarded-Proto`.
#[derive(Clone)]
pub(crate) struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        let https = parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
        let scheme = if https { "https" } else { "http" };
        Ok(BaseUrl(format!("{scheme}://{host}/scim/v2")))
    }
}

/// A request body: JSON (`application/scim+json` or `application/json`), as a `Value`.
pub(crate) struct ScimBody(pub Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ScimError> {
        let body = crate::extract::JsonBody::<Scim>::from_request(req, state).await?;
        Ok(ScimBody(body.value))
    }
}

/// Checks that `document` declares `schema` among its `schemas` (RFC 7643 §3).
pub(crate) fn require_schema(document: &Value, schema: &str) -> ScimResult<()> {
    let declared = document.get("schemas").and_then(Value::as_array).is_some_and(|schemas| {
        schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(schema)))
    });
    if !document.is_object() {
        return Err(ScimError::bad("invalidSyntax", "the body must be a JSON object"));
    }
    if declared {
        Ok(())
    } else {
        Err(ScimError::bad("invalidSyntax", format!("`schemas` must list {schema}")))
    }
}

/// The value under `key` of an object, with attribute names compared without case (RFC 7643
/// §2.1).
pub(crate) fn get_ci<'a>(
    object: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Option<&'a Value> {
    object
        .get(key)
        .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}
