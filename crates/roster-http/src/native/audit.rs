//! `/v1/audit`: the audit trail of the tenant's API operations.

use axum::Json;
use axum::extract::State;
use roster_core::{AuditEntry, AuditQuery, Outcome, TokenId, Trail};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Auth, System, TenantAdmin};
use crate::extract::{ApiQuery, from_str};
use crate::problem::{ApiError, Problem};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Return entries with an id above this one (default 0: from the oldest kept).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<i64>,
    /// At most this many entries, 1 to 1000 (default 100).
    #[serde(default, deserialize_with = "from_str")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only entries at or after this instant (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<OffsetDateTime>,
    /// Only `success` or only `fail`.
    #[serde(default)]
    outcome: Option<Outcome>,
    /// Only requests made with this token.
    #[serde(default)]
    #[param(value_type = Option<String>, format = Uuid)]
    token_id: Option<TokenId>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditPage {
    data: Vec<AuditEntry>,
    meta: AuditMeta,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditMeta {
    /// Pass as `after` to continue; equals the request's `after` when nothing new is there.
    next_after: i64,
}

impl AuditParams {
    fn query(self) -> AuditQuery {
        AuditQuery {
            after: self.after.unwrap_or(0),
            limit: self.limit.unwrap_or(roster_core::directory::DEFAULT_LIMIT),
            since: self.since,
            outcome: self.outcome,
            token_id: self.token_id,
            ..AuditQuery::default()
        }
    }
}

fn page(after: i64, data: Vec<AuditEntry>) -> Json<AuditPage> {
    let next_after = data.last().map_or(after, |e| e.id);
    Json(AuditPage { data, meta: AuditMeta { next_after } })
}

/// Read the audit trail.
///
/// One entry per API operation of the tenant — refused ones, token and tenant changes included —
/// oldest first; entries are kept for the configured retention (default 90 days). Entries hold
/// ids and route templates, never personal data.
#[utoipa::path(
    get, path = "/v1/audit", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "Entries after `after`", body = AuditPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["tenant:admin"]))
)]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    auth: Auth<TenantAdmin>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let query = params.query();
    let after = query.after;
    Ok(page(after, state.directory.audit(&auth.principal, query).await?))
}

/// Read the audit trail of requests without a valid token.
///
/// Requests that presented no token, an unknown one, a revoked or an expired one belong to no
/// tenant: they are listed here, for the operator of the deployment (`GET /v1/audit/system`
/// lists the requests of system tokens).
#[utoipa::path(
    get, path = "/v1/audit/unauthenticated", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "Entries after `after`", body = AuditPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["system"]))
)]
pub(crate) async fn list_unauthenticated_audit(
    State(state): State<AppState>,
    auth: Auth<System>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let query = params.query();
    let after = query.after;
    let entries = state.directory.operator_audit(&auth.principal, Trail::Unauthenticated, query);
    Ok(page(after, entries.await?))
}

/// Read the audit trail of system tokens.
///
/// Requests made with a system token (tenant management) belong to no tenant: they are listed
/// here, for the operator of the deployment, and never in a tenant's trail.
#[utoipa::path(
    get, path = "/v1/audit/system", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "Entries after `after`", body = AuditPage),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["system"]))
)]
pub(crate) async fn list_system_audit(
    State(state): State<AppState>,
    auth: Auth<System>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let query = params.query();
    let after = query.after;
    let entries = state.directory.operator_audit(&auth.principal, Trail::System, query);
    Ok(page(after, entries.await?))
}
