//! Every API operation goes into the audit trail (see [`roster_core::audit`]): this middleware
//! times the request and records its outcome, and [`crate::auth::Auth`] names the caller in the
//! request's [`Caller`] slot once it knows it — also when it then refuses the scope.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use roster_core::{Actor, AuditEntry, Outcome, Principal, Scope, TenantId, TokenId};
use tower_http::request_id::RequestId;
use uuid::Uuid;

use crate::AppState;
use crate::client::ClientAddr;
use crate::surface::Operation;

/// Who made the request, once authentication has said so: the tenant whose trail the entry
/// joins (none for a system token, whose requests are the operator's) and the token.
#[derive(Clone, Default)]
pub(crate) struct Caller(Arc<OnceLock<(Option<TenantId>, Option<TokenId>)>>);

impl Caller {
    pub(crate) fn set(&self, principal: &Principal) {
        let token = match principal.actor {
            Actor::Token(id) => Some(id),
            Actor::System => None,
        };
        let tenant = (!principal.allows(Scope::System)).then_some(principal.tenant);
        let _ = self.0.set((tenant, token));
    }
}

pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let occurred_at = state.directory.now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    let mut operation = format!("{method} {route}");
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let client_ip = request.extensions().get::<ClientAddr>().map(|client| client.0);
    let (mut parts, body) = request.into_parts();
    // The id a route names; other parameters (an e-mail address, a phone number) are personal
    // data and stay out of the trail.
    let resource_id = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .and_then(|params| params.iter().find_map(|(_, v)| Uuid::try_parse(v).ok()));
    let caller = Caller::default();
    parts.extensions.insert(caller.clone());

    let response = next.run(Request::from_parts(parts, body)).await;
    // An RPC surface names the operation it served and the resource it was about.
    let resource_id = match response.extensions().get::<Operation>() {
        Some(served) => {
            if let Some(route) = &served.route {
                operation = format!("{method} {route}");
            }
            served.resource.or(resource_id)
        }
        None => resource_id,
    };

    let status = response.status().as_u16();
    let (tenant_id, token_id) = caller.0.get().copied().unwrap_or_default();
    state
        .directory
        .audit_log()
        .record(AuditEntry {
            id: 0,
            occurred_at,
            tenant_id,
            token_id,
            operation,
            resource_id,
            request_id,
            outcome: Outcome::of_status(status),
            status,
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            client_ip,
        })
        .await;
    response
}
