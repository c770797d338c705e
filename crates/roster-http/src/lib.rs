//! Roster's HTTP surfaces over the one [`Directory`].
//!
//! - [`native`]: the `/v1` REST API, described by the OpenAPI document at `/openapi.json`.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`.
//! - [`problem`]: the RFC 9457 error body, and the one mapping from directory errors to statuses.
//! - [`extract`] and [`auth`]: request parsing that answers bad input with a named 4xx, in the
//!   shape of the surface that asks ([`surface`]: the typed refusal every surface renders).
//! - `scim`: SCIM 2.0 at `/scim/v2`; `compat`: the vendor dialects (`/compat/<vendor>`).
//! - [`limits`]: rate limits, the concurrency cap and long-poll slots; `audit`: the audit
//!   trail's middleware; [`metrics`]: Prometheus metrics.
//!
//! Surfaces translate only: this crate has no database dependency and no business rule.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::Directory;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod audit;
pub mod auth;
pub mod body;
pub mod client;
mod compat;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod native;
mod oauth;
pub mod ops;
pub mod problem;
mod scim;
mod signature;
pub mod surface;

pub use client::TrustedProxies;
pub use limits::RateLimits;
pub use metrics::Metrics;
use problem::Problem;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub directory: Directory,
    pub metrics: Arc<Metrics>,
    /// The node's long-poll slots (event feed readers that wait).
    long_polls: Arc<limits::LongPolls>,
    /// The OpenAPI document, rendered once.
    openapi: bytes::Bytes,
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest body of a bulk request, in bytes.
    pub max_bulk_body_bytes: usize,
    pub rate_limits: RateLimits,
    /// Requests the API surfaces serve at once; beyond it they answer 503 with `Retry-After`
    /// at once instead of queueing (`/healthz`, `/readyz` and `/metrics` are not counted).
    pub max_concurrent_requests: usize,
    /// Feed readers that may long-poll at once on this node, outside `max_concurrent_requests`;
    /// beyond, 429 with `Retry-After`.
    pub max_long_polls: usize,
    /// Long-polls one token may hold at once; beyond, 429 with `Retry-After`.
    pub max_long_polls_per_token: usize,
    /// Peers whose `Forwarded`/`X-Forwarded-For` name the client (see [`client`]).
    pub trusted_proxies: TrustedProxies,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1024 * 1024,
            max_bulk_body_bytes: 16 * 1024 * 1024,
            rate_limits: RateLimits::default(),
            max_concurrent_requests: 1024,
            max_long_polls: 256,
            max_long_polls_per_token: 4,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Roster", description = "A self-hosted user directory: the native /v1 API."),
    modifiers(&BearerAuth),
    // Referenced from a path parameter, which utoipa does not collect by itself.
    components(schemas(native::users::Action)),
    tags((name = "users", description = "People and machine accounts"), (name = "organizations", description = "The organization tree and memberships"), (name = "groups", description = "Groups of users and groups"), (name = "roles", description = "Roles of organizations, assigned to users"), (name = "applications", description = "Registered applications and users' memberships"), (name = "credentials", description = "Metadata of credentials issued to users"), (name = "invitations", description = "Addresses invited to organizations and roles"), (name = "mandates", description = "Mandates between users and organizations, and their delegations"), (name = "events", description = "The event feed"), (name = "tokens", description = "API tokens of the tenant"), (name = "tenants", description = "Tenants, for a system token"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("rst_…").build(),
            ),
        );
    }
}

/// The native API's routes and their OpenAPI description, from the same handler list.
fn api(config: &HttpConfig) -> (Router<AppState>, serde_json::Value) {
    use native::{
        applications as apps, credentials, events, groups, invitations, jobs, mandates,
        organizations as orgs, passwords, roles, tenants, tokens, users, webhooks,
    };
    // Bulk bodies carry up to a thousand documents: they get a limit of their own.
    let bulk = OpenApiRouter::new()
        .routes(routes!(users::bulk_create_users))
        .routes(routes!(jobs::start_import))
        .layer(DefaultBodyLimit::max(config.max_bulk_body_bytes));
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(bulk)
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(
            users::get_user,
            users::replace_user,
            users::patch_user,
            users::delete_user
        ))
        .routes(routes!(users::export_user))
        .routes(routes!(users::search_users))
        .routes(routes!(users::count_users))
        .routes(routes!(users::transition_user))
        .routes(routes!(users::offboard_user))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::request_data_change))
        .routes(routes!(jobs::get_import))
        .routes(routes!(passwords::set_password))
        .routes(routes!(passwords::verify_password))
        .routes(routes!(passwords::add_secret, passwords::remove_secret))
        .routes(routes!(users::user_by_username))
        .routes(routes!(users::user_by_email))
        .routes(routes!(users::user_by_phone))
        .routes(routes!(users::user_by_external_id))
        .routes(routes!(users::user_by_identity))
        .routes(routes!(orgs::create_organization, orgs::list_organizations))
        .routes(routes!(
            orgs::get_organization,
            orgs::update_organization,
            orgs::delete_organization
        ))
        .routes(routes!(orgs::list_children))
        .routes(routes!(orgs::move_organization))
        .routes(routes!(orgs::list_organization_users))
        .routes(routes!(orgs::add_member, orgs::remove_member))
        .routes(routes!(orgs::user_memberships))
        .routes(routes!(mandates::create_mandate, mandates::list_mandates))
        .routes(routes!(mandates::get_mandate))
        .routes(routes!(mandates::revoke_mandate))
        .routes(routes!(mandates::delegate, mandates::list_delegations))
        .routes(routes!(mandates::user_mandates))
        .routes(routes!(mandates::organization_mandates))
        .routes(routes!(mandates::user_delegations))
        .routes(routes!(invitations::invite, invitations::list_invitations))
        .routes(routes!(invitations::get_invitation))
        .routes(routes!(invitations::accept_invitation))
        .routes(routes!(invitations::reinvite))
        .routes(routes!(invitations::organization_invitations))
        .routes(routes!(invitations::user_invitations))
        .routes(routes!(credentials::create_credential, credentials::list_credentials))
        .routes(routes!(
            credentials::get_credential,
            credentials::update_credential,
            credentials::delete_credential
        ))
        .routes(routes!(apps::create_application, apps::list_applications))
        .routes(routes!(apps::get_application, apps::update_application, apps::delete_application))
        .routes(routes!(apps::list_memberships))
        .routes(routes!(apps::put_membership, apps::get_membership, apps::remove_membership))
        .routes(routes!(roles::create_role, roles::list_roles))
        .routes(routes!(roles::list_all_roles))
        .routes(routes!(roles::get_role, roles::update_role, roles::delete_role))
        .routes(routes!(roles::list_role_users))
        .routes(routes!(roles::user_roles, roles::assign_role))
        .routes(routes!(roles::unassign_role))
        .routes(routes!(groups::create_group, groups::list_groups))
        .routes(routes!(groups::get_group, groups::update_group, groups::delete_group))
        .routes(routes!(groups::list_members, groups::add_member))
        .routes(routes!(groups::remove_member))
        .routes(routes!(groups::user_groups))
        .routes(routes!(events::list_events))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::get_webhook, webhooks::update_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::test_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(native::audit::list_audit))
        .routes(routes!(native::audit::list_unauthenticated_audit))
        .routes(routes!(native::audit::list_system_audit))
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::get_token, tokens::revoke_token))
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenants::get_tenant, tenants::rename_tenant, tenants::delete_tenant));
    let (router, doc) = api.split_for_parts();
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    native::document::apply(&mut doc);
    (router, doc)
}

/// Entry points for the fuzz targets in `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes `body` as every request message of the ZITADEL dialect.
    pub fn zitadel_request(body: &[u8]) {
        crate::compat::zitadel::wire::decode_all(body);
    }
}

/// The webhook payload formats of the dialects this crate serves, for the node to register
/// (`Directory::with_webhook_format`).
pub fn webhook_formats() -> Vec<Arc<dyn roster_core::webhooks::PayloadFormat>> {
    vec![compat::upvest::webhook_format()]
}

/// The OpenAPI document of the native API.
pub fn openapi() -> serde_json::Value {
    api(&HttpConfig::default()).1
}

/// The whole HTTP application.
pub fn app(directory: Directory, metrics: Arc<Metrics>, config: &HttpConfig) -> Router {
    let (api, doc) = api(config);
    let openapi = doc.to_string();
    let long_polls = limits::LongPolls::new(
        config.max_long_polls,
        config.max_long_polls_per_token,
        metrics.long_polls(),
    );
    let state = AppState { directory, metrics, long_polls, openapi: bytes::Bytes::from(openapi) };
    let request_id = HeaderName::from_static("x-request-id");
    let limiter = limits::Limiter::new(config.rate_limits);
    // Past the concurrency cap the surfaces shed load at once (one semaphore for all of them);
    // the operations routes stay outside it so that health checks answer under overload.
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_requests.max(1)));
    let surfaces = Router::new()
        .merge(api)
        .route("/auth/token", axum::routing::post(oauth::token))
        .nest("/scim/v2", scim::router(config.max_bulk_body_bytes))
        .nest("/compat/zitadel", compat::zitadel::router())
        .nest("/compat/upvest", compat::upvest::router())
        .nest("/compat/transmit", compat::transmit::router(config.max_bulk_body_bytes))
        .nest("/compat/mattr", compat::mattr::router())
        .nest(compat::ubisecure::MOUNT, compat::ubisecure::router())
        .layer(axum::middleware::from_fn_with_state(config.max_bulk_body_bytes, signature::digest))
        .layer(axum::middleware::from_fn_with_state(limiter, limits::limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(axum::middleware::from_fn_with_state(permits, limits::cap));
    Router::new()
        .merge(surfaces)
        .merge(ops::router())
        .fallback(|| async { surface::Refusal::NoRoute })
        .method_not_allowed_fallback(|| async { surface::Refusal::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(|response: &Response, latency: Duration, _: &tracing::Span| {
                    tracing::info!(
                        status = response.status().as_u16(),
                        latency_us = latency.as_micros() as u64,
                        "request"
                    );
                })
                .on_request(())
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.trusted_proxies.clone()),
            client::address,
        ))
        .layer(axum::middleware::from_fn(limits::head_size))
        .layer(axum::middleware::from_fn(surface::shape))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
                .into_response()
        }))
        .with_state(state)
}

/// The span of one request. It names the route template, never the raw path: a path may hold
/// an e-mail address or phone number, which do not belong in logs.
fn request_span(request: &Request) -> tracing::Span {
    let request_id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    let client = request.extensions().get::<client::ClientAddr>().map(|c| c.0.to_string());
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id = request_id.unwrap_or(""),
        client = client.as_deref().unwrap_or(""),
        tenant_id = tracing::field::Empty,
    )
}
