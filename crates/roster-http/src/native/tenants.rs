//! `/v1/tenants`: tenants, for a `system` token. Creating one returns its first admin token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::Response;
use roster_core::input::parse_document;
use roster_core::{Tenant, TenantInput};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use super::json_with;
use crate::AppState;
use crate::auth::{Auth, System};
use crate::extract::{JsonBody, parse_id};
use crate::problem::{ApiError, Problem};

/// A new tenant and, this once, the secret of its admin token.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedTenant {
    #[serde(flatten)]
    tenant: Tenant,
    /// The bearer secret of the tenant's first `tenant:admin` token. Shown only here.
    token: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TenantList {
    data: Vec<Tenant>,
}

/// Create a tenant, with its root organization and first admin token.
#[utoipa::path(
    post, path = "/v1/tenants", tag = "tenants",
    request_body(content = TenantInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the admin token's secret is in `token`, shown once", body = CreatedTenant, headers(("Location" = String))),
        (status = 400, description = "Invalid document", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["system"]))
)]
pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    _auth: Auth<System>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let input: TenantInput = parse_document(body.value)?;
    let (tenant, secret) = state.directory.create_tenant(&input.name, None).await?;
    let location = format!("/v1/tenants/{}", tenant.id);
    let created = CreatedTenant { tenant, token: secret.expose_secret().to_owned() };
    Ok(json_with(StatusCode::CREATED, created, LOCATION, &location))
}

/// List every tenant, oldest first.
#[utoipa::path(
    get, path = "/v1/tenants", tag = "tenants",
    responses(
        (status = 200, description = "The tenants", body = TenantList),
    ),
    security(("bearer" = ["system"]))
)]
pub(crate) async fn list_tenants(
    State(state): State<AppState>,
    auth: Auth<System>,
) -> Result<Json<TenantList>, ApiError> {
    Ok(Json(TenantList { data: state.directory.tenants(&auth.principal).await? }))
}

/// Get a tenant.
#[utoipa::path(
    get, path = "/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["system"]))
)]
pub(crate) async fn get_tenant(
    State(state): State<AppState>,
    auth: Auth<System>,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(state.directory.tenant_by_id(&auth.principal, parse_id("id", &id)?).await?))
}

/// Rename a tenant.
#[utoipa::path(
    patch, path = "/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = TenantInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The renamed tenant", body = Tenant),
        (status = 400, description = "Bad id or document", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["system"]))
)]
pub(crate) async fn rename_tenant(
    State(state): State<AppState>,
    auth: Auth<System>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Tenant>, ApiError> {
    let id = parse_id("id", &id)?;
    let input: TenantInput = parse_document(body.value)?;
    Ok(Json(state.directory.rename_tenant(&auth.principal, id, &input.name).await?))
}

/// Delete a tenant and everything it holds (users, events, tokens). Its tokens stop working at
/// once on this node, within 10 seconds on others.
#[utoipa::path(
    delete, path = "/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The calling token's own tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["system"]))
)]
pub(crate) async fn delete_tenant(
    State(state): State<AppState>,
    auth: Auth<System>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.directory.delete_tenant(&auth.principal, parse_id("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
