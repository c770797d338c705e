//! The OAuth2 client-credentials grant (RFC 6749 §4.4), the one token endpoint every surface
//! mounts where its platform has it (`/auth/token` for the investment platform's helper,
//! which keeps only scheme and host). An API token is the client: `client_id` is its id,
//! `client_secret` its secret, in the form body or in HTTP Basic (§2.3.1). The access token acts
//! with the client's scopes, or fewer when `scope` narrows them, on every surface.

use axum::Json;
use axum::extract::OriginalUri;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use roster_core::Error;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;

use crate::AppState;
use crate::audit::Caller;
use crate::body::{Body, Format};
use crate::signature::{self, BodyDigest, Message};
use crate::surface::{Rejection, Surface};

/// The token endpoint as a surface: shared extractors refuse in RFC 6749's error shape.
pub(crate) struct OAuth;

impl Surface for OAuth {
    type Error = Refused;
}

/// A refused token request, as RFC 6749 §5.2 shapes it.
pub(crate) struct Refused {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// The client authenticated with HTTP Basic: a 401 challenges for it.
    basic: bool,
}

impl Refused {
    fn new(error: &'static str, description: impl Into<String>) -> Refused {
        Refused {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic: false,
        }
    }

    fn client(basic: bool) -> Refused {
        let description = "the client id and secret are not a valid API token's".to_owned();
        Refused { status: StatusCode::UNAUTHORIZED, error: "invalid_client", description, basic }
    }

    fn unsigned(e: &Error) -> Refused {
        Refused { description: e.to_string(), ..Refused::client(false) }
    }
}

impl From<Rejection> for Refused {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Core(Error::Unauthenticated) => Refused::client(false),
            Rejection::Core(e @ Error::BadSignature(_)) => Refused::unsigned(&e),
            Rejection::Core(Error::Invalid(errors)) => {
                let about_scope = errors.iter().any(|e| e.field == "scope");
                let text: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                let error = if about_scope { "invalid_scope" } else { "invalid_request" };
                Refused::new(error, text.join("; "))
            }
            Rejection::Core(e @ (Error::Unavailable(_) | Error::Internal(_))) => {
                // Logged, and its text kept in the process, by the native renderer.
                let status = crate::problem::ApiError::from(e).0.status;
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let error = if status == StatusCode::SERVICE_UNAVAILABLE {
                    "temporarily_unavailable"
                } else {
                    "server_error"
                };
                Refused { status, error, description: "retry later".to_owned(), basic: false }
            }
            Rejection::Core(e) => Refused::new("invalid_request", e.to_string()),
            Rejection::UnsupportedMediaType(_) => Refused::new(
                "invalid_request",
                "the body must be a form (application/x-www-form-urlencoded) or a JSON object",
            ),
            Rejection::TooLarge => Refused::new("invalid_request", "the body is too large"),
            Rejection::Malformed(detail) => Refused::new("invalid_request", detail),
            Rejection::Refused(refusal) => Refused {
                status: refusal.status(),
                error: "invalid_request",
                description: refusal.message().to_owned(),
                basic: false,
            },
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.basic { "Basic realm=\"roster\"" } else { "Bearer" };
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// Scope names of the investment platform, taken at every token endpoint (its helper always
/// asks at `/auth/token`): each grants the Roster scopes it stands for.
const SCOPE_ALIASES: [(&str, &str); 4] = [
    ("users:admin", "users:read users:write"),
    ("webhooks:read", "directory:admin"),
    ("webhooks:admin", "directory:admin"),
    ("webhooks:write", "directory:admin"),
];

/// The request of a token endpoint, whichever path it is mounted at.
pub(crate) struct TokenRequest {
    state: AppState,
    caller: Option<Caller>,
    method: Method,
    uri: axum::http::Uri,
    digest: BodyDigest,
    headers: HeaderMap,
}

impl axum::extract::FromRequestParts<AppState> for TokenRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |u| &u.0).clone();
        Ok(TokenRequest {
            state: state.clone(),
            caller: parts.extensions.get::<Caller>().cloned(),
            method: parts.method.clone(),
            uri,
            digest: parts.extensions.get().copied().unwrap_or(BodyDigest::Unchecked),
            headers: parts.headers.clone(),
        })
    }
}

/// `POST /auth/token`: `grant_type=client_credentials`, the client's credentials, an optional
/// `scope`; answers `{access_token, token_type, expires_in, scope}`.
pub(crate) async fn token(request: TokenRequest, body: Body<OAuth>) -> Response {
    grant(request, body, "Bearer").await.map_or_else(IntoResponse::into_response, answer)
}

/// The investment platform's token endpoint: the same grant, `token_type` spelled as it does.
pub(crate) async fn upvest_token(request: TokenRequest, body: Body<OAuth>) -> Response {
    grant(request, body, "bearer").await.map_or_else(IntoResponse::into_response, answer)
}

/// MATTR's token endpoint: the same grant, answered `{access_token, token_type, expires_in}`;
/// credentials that fail are MATTR's `access_denied`.
pub(crate) async fn mattr_token(request: TokenRequest, body: Body<OAuth>) -> Response {
    match grant(request, body, "Bearer").await {
        Ok(mut granted) => {
            if let Some(granted) = granted.as_object_mut() {
                granted.remove("scope");
            }
            answer(granted)
        }
        Err(refused) if refused.error == "invalid_client" => {
            let body = json!({ "error": "access_denied", "error_description": "Unauthorized" });
            let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(refused) => refused.into_response(),
    }
}

/// A granted token's answer: never cached.
fn answer(granted: serde_json::Value) -> Response {
    let mut response = Json(granted).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The grant: the request's parameters from a form (RFC 6749) or a JSON object of strings (as
/// some platforms' clients send them); the answer's body.
async fn grant(
    request: TokenRequest,
    body: Body<OAuth>,
    token_type: &str,
) -> Result<serde_json::Value, Refused> {
    let TokenRequest { state, caller, method, uri, digest, headers } = request;
    let message = Message { method: &method, uri: &uri, headers: &headers, body: digest };
    if body.format == Format::Xml {
        return Err(Rejection::UnsupportedMediaType("").into());
    }
    let mut form = std::collections::BTreeMap::new();
    for (name, value) in body.value.as_object().into_iter().flatten() {
        match (value.as_str(), body.format) {
            (Some(value), _) => {
                form.insert(name.clone(), value.to_owned());
            }
            // RFC 6749 §3.2: no parameter more than once.
            (None, Format::Form) => {
                return Err(Refused::new("invalid_request", format!("`{name}` is given twice")));
            }
            (None, _) => {
                return Err(Refused::new("invalid_request", format!("`{name}` must be a string")));
            }
        }
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(Refused::new(
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            ));
        }
        None => return Err(Refused::new("invalid_request", "grant_type is required")),
    }
    let basic = basic_credentials(&headers);
    let is_basic = basic.is_some();
    let body_secret = form.remove("client_secret");
    let (id, secret) = match (basic, form.get("client_id"), body_secret) {
        (Some(_), _, Some(_)) => {
            return Err(Refused::new(
                "invalid_request",
                "send the client's credentials once: in Basic or in the body",
            ));
        }
        (Some(credentials), _, None) => credentials,
        (None, Some(id), Some(secret)) => (id.clone(), SecretString::from(secret)),
        (None, ..) => return Err(Refused::client(false)),
    };
    let asked = form.get("scope").map(String::as_str);
    let scope = asked.map(|names| {
        let named = names.split_whitespace().map(|name| {
            SCOPE_ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, ours)| ours)
        });
        named.collect::<Vec<_>>().join(" ")
    });
    let d = &state.directory;
    let (client, access) = match d.grant_client_credentials(&id, &secret, scope.as_deref()).await {
        Ok(granted) => granted,
        Err(Error::Unauthenticated) => return Err(Refused::client(is_basic)),
        Err(e) => return Err(Rejection::Core(e).into()),
    };
    if let Some(caller) = caller {
        caller.set(&client);
    }
    // A client that holds a public key signs its token requests too. The access token was
    // made but never shown: refusing now leaves nothing behind.
    if let Some(key) = &client.public_key {
        let now = state.directory.now();
        signature::check(&message, key, now).await.map_err(|e| match e {
            Error::BadSignature(_) => Refused::unsigned(&e),
            e => Rejection::Core(e).into(),
        })?;
    }
    // The scopes granted, in the names they were asked by (all of them, or it is refused).
    let scopes: Vec<&str> = access.scopes.iter().map(|s| s.as_str()).collect();
    let granted = asked.filter(|a| !a.trim().is_empty()).map(|a| a.split_whitespace().collect());
    Ok(json!({
        "access_token": access.token.expose_secret(),
        "token_type": token_type,
        "expires_in": access.expires_in,
        "scope": granted.unwrap_or(scopes).join(" "),
    }))
}

/// The client's id and secret from HTTP Basic, each form-urlencoded as RFC 6749 §2.3.1 says.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, SecretString)> {
    let (user, password) = basic(headers)?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    Some((decode(&user)?, SecretString::from(decode(password.expose_secret())?)))
}

/// The user name and password of an `Authorization: Basic` header.
pub(crate) fn basic(headers: &HeaderMap) -> Option<(String, SecretString)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), SecretString::from(password.to_owned())))
}
