//! Tenants: created at bootstrap (`default`) or by a `system` token, each with its root
//! organization and a first admin token; renamed; deleted with everything they hold.
//!
//! The `system` scope manages tenants and nothing else: it reads no tenant's users. Its token
//! is created at bootstrap in the `default` tenant beside that tenant's admin token.

use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::directory::Directory;
use crate::error::{Error, FieldError, Result};
use crate::id::{OrgId, TenantId};
use crate::tenant::{NewToken, Principal, Scope, Tenant};

/// The body of `POST /v1/tenants` and `PATCH /v1/tenants/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TenantInput {
    /// 1 to 63 lower-case letters, digits and hyphens, starting with a letter or digit; unique.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub name: String,
}

/// What bootstrapping an empty database created: the `default` tenant, and the tokens that were
/// generated (not given), to be shown once.
pub struct Bootstrapped {
    pub tenant: Tenant,
    pub admin_token: Option<SecretString>,
    pub system_token: Option<SecretString>,
}

impl Directory {
    /// On an empty database, creates the `default` tenant with its admin token and the system
    /// token: each the one given, else generated. Several nodes starting at once are safe: one
    /// creates the tenant, the others find it.
    pub async fn bootstrap(
        &self,
        admin: Option<SecretString>,
        system: Option<SecretString>,
    ) -> Result<Option<Bootstrapped>> {
        if self.store().has_tenants().await? {
            return Ok(None);
        }
        let (admin_generated, system_generated) = (admin.is_none(), system.is_none());
        let (admin, admin_token) =
            self.new_token("admin", vec![Scope::TenantAdmin], None, admin)?;
        let (system, system_token) = self.new_token("system", vec![Scope::System], None, system)?;
        match self.insert_tenant("default", vec![admin_token, system_token]).await {
            Ok(tenant) => Ok(Some(Bootstrapped {
                tenant,
                admin_token: admin_generated.then_some(admin),
                system_token: system_generated.then_some(system),
            })),
            Err(Error::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a tenant with its root organization and an admin token (`token` if given, else
    /// generated); returns the token's secret, to be shown once.
    pub async fn create_tenant(
        &self,
        name: &str,
        token: Option<SecretString>,
    ) -> Result<(Tenant, SecretString)> {
        let name = tenant_name(name)?;
        let (secret, admin) = self.new_token("admin", vec![Scope::TenantAdmin], None, token)?;
        let tenant = self.insert_tenant(&name, vec![admin]).await?;
        Ok((tenant, secret))
    }

    /// The tenant called `name` (for command-line tools).
    pub async fn tenant(&self, name: &str) -> Result<Tenant> {
        self.store().tenant_by_name(name).await?.ok_or(NOT_FOUND)
    }

    /// Every tenant, oldest first.
    pub async fn tenants(&self, p: &Principal) -> Result<Vec<Tenant>> {
        require_system(p)?;
        self.store().tenants().await
    }

    pub async fn tenant_by_id(&self, p: &Principal, id: TenantId) -> Result<Tenant> {
        require_system(p)?;
        self.store().tenant(id).await?.ok_or(NOT_FOUND)
    }

    pub async fn rename_tenant(&self, p: &Principal, id: TenantId, name: &str) -> Result<Tenant> {
        require_system(p)?;
        let name = tenant_name(name)?;
        if !self.store().rename_tenant(id, &name).await? {
            return Err(NOT_FOUND);
        }
        self.tenant_by_id(p, id).await
    }

    /// Deletes a tenant and everything it holds: users, keys, indexes, events, tokens. The
    /// tenant of the calling token cannot delete itself.
    pub async fn delete_tenant(&self, p: &Principal, id: TenantId) -> Result<()> {
        require_system(p)?;
        if id == p.tenant {
            return Err(Error::Refused("a tenant cannot be deleted with a token of its own"));
        }
        if !self.store().delete_tenant(id).await? {
            return Err(NOT_FOUND);
        }
        self.forget_tenant(id);
        Ok(())
    }

    async fn insert_tenant(&self, name: &str, tokens: Vec<NewToken>) -> Result<Tenant> {
        let now = self.now();
        let tenant = Tenant {
            id: TenantId::generate(now),
            name: name.to_owned(),
            root_organization_id: OrgId::generate(now),
            created_at: now,
        };
        self.store().create_tenant(&tenant, &tokens).await?;
        Ok(tenant)
    }
}

const NOT_FOUND: Error = Error::NotFound { kind: "tenant" };

pub(crate) fn require_system(p: &Principal) -> Result<()> {
    if p.allows(Scope::System) { Ok(()) } else { Err(Error::Forbidden) }
}

fn tenant_name(name: &str) -> Result<String> {
    let valid = (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(Error::Invalid(vec![FieldError::new(
            "name",
            "invalid_format",
            "1 to 63 lower-case letters, digits and hyphens, starting with a letter or digit",
        )]))
    }
}
