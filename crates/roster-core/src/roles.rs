//! Roles: defined in an organization (named as Ubisecure's entity names, unique there without
//! regard to case) and assigned to users of the tenant. A role goes with its organization, and
//! its assignments with it or with their user.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::{Directory, stale_unless};
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::id::{OrgId, RoleId, UserId};
use crate::input::{parse_document, reject_fields};
use crate::store::{Change, Write};
use crate::tenant::Principal;
use crate::validate;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Role {
    pub id: RoleId,
    /// Where the role is defined.
    pub organization_id: OrgId,
    /// Unique in its organization, compared without case.
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// A role document as written by a client.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RoleInput {
    /// 1 to 128 letters, digits, spaces and `,` `.` `_` `-`.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 128)]
    pub name: Option<String>,
}

const READ_ONLY: &[&str] = &["id", "organization_id", "created_at", "updated_at", "version"];

const NOT_FOUND: Error = Error::NotFound { kind: "role" };

impl Directory {
    /// Defines a role in an organization.
    pub async fn create_role(
        &self,
        p: &Principal,
        organization: OrgId,
        input: Value,
    ) -> Result<Role> {
        self.organization(p, organization).await?;
        reject_fields(&input, READ_ONLY)?;
        let name = validate::role(parse_document(input)?)?;
        let now = self.now();
        let role = Role {
            id: RoleId::generate(now),
            organization_id: organization,
            name,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let data = json!({ "organization_id": organization });
        let event = role_event(p, "role.created", &role, now, data);
        let write = Write::CreateRole { role: Box::new(role.clone()) };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        Ok(role)
    }

    pub async fn role(&self, p: &Principal, id: RoleId) -> Result<Role> {
        self.store().role(p.tenant, id).await?.ok_or(NOT_FOUND)
    }

    /// The roles defined in an organization, by name.
    /// A page of the tenant's roles, of one organization when given, oldest first.
    pub async fn all_roles(
        &self,
        p: &Principal,
        organization: Option<OrgId>,
        after: Option<RoleId>,
        limit: u32,
    ) -> Result<Vec<Role>> {
        crate::directory::check_limit(limit)?;
        if let Some(org) = organization {
            self.organization(p, org).await?;
        }
        self.store().roles_page(p.tenant, organization, after, limit).await
    }

    pub async fn roles(&self, p: &Principal, organization: OrgId) -> Result<Vec<Role>> {
        self.organization(p, organization).await?;
        self.store().roles(p.tenant, organization).await
    }

    /// Renames a role (a JSON Merge Patch of `{name}`).
    pub async fn update_role(
        &self,
        p: &Principal,
        id: RoleId,
        if_match: Option<i64>,
        patch: &Value,
    ) -> Result<Role> {
        reject_fields(patch, READ_ONLY)?;
        self.with_retries(*id.as_uuid(), if_match, || async move {
            let current = self.role(p, id).await?;
            stale_unless(current.version, if_match)?;
            let mut document = json!({ "name": current.name });
            json_patch::merge(&mut document, patch);
            let name = validate::role(parse_document(document)?)?;
            if name == current.name {
                return Ok(current);
            }
            let now = self.now();
            let role =
                Role { name, updated_at: now, version: current.version + 1, ..current.clone() };
            let event = role_event(p, "role.updated", &role, now, json!({ "fields": ["name"] }));
            let write =
                Write::UpdateRole { role: Box::new(role.clone()), before_version: current.version };
            self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await.map(|()| role)
        })
        .await
    }

    /// Deletes a role and its assignments.
    pub async fn delete_role(&self, p: &Principal, id: RoleId) -> Result<()> {
        let role = self.role(p, id).await?;
        let event = role_event(p, "role.deleted", &role, self.now(), json!({}));
        let write = Write::DeleteRole { id };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await
    }

    /// Assigns a role to a user; `organization`, when given, must be the role's. Assigning a
    /// role twice changes nothing.
    pub async fn assign_role(
        &self,
        p: &Principal,
        user: UserId,
        role: RoleId,
        organization: Option<OrgId>,
    ) -> Result<()> {
        self.record(p.tenant, user, false).await?;
        let Some(role) = self.store().role(p.tenant, role).await? else {
            return Err(Error::invalid("role_id", "not_found", "no such role"));
        };
        if organization.is_some_and(|o| o != role.organization_id) {
            return Err(Error::invalid(
                "organization_id",
                "mismatch",
                "the role is defined in another organization",
            ));
        }
        if self.store().has_role(p.tenant, user, role.id).await? {
            return Ok(());
        }
        let event = role_event(p, "role.assigned", &role, self.now(), json!({ "user_id": user }));
        let write = Write::AssignRole { user, role: role.id, at: self.now() };
        match self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await {
            Err(Error::Conflict { .. }) => Ok(()), // Assigned meanwhile.
            result => result,
        }
    }

    /// Takes a role from a user.
    pub async fn unassign_role(&self, p: &Principal, user: UserId, role: RoleId) -> Result<()> {
        self.record(p.tenant, user, false).await?;
        let role = self.role(p, role).await?;
        if !self.store().has_role(p.tenant, user, role.id).await? {
            return Err(Error::NotFound { kind: "role assignment" });
        }
        let event = role_event(p, "role.unassigned", &role, self.now(), json!({ "user_id": user }));
        let write = Write::UnassignRole { user, role: role.id };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await
    }

    /// The roles assigned to a user, each with its organization.
    pub async fn user_roles(&self, p: &Principal, user: UserId) -> Result<Vec<Role>> {
        self.record(p.tenant, user, false).await?;
        self.store().user_roles(p.tenant, user).await
    }
}

pub(crate) fn role_event(
    p: &Principal,
    kind: &'static str,
    role: &Role,
    at: OffsetDateTime,
    data: Value,
) -> NewEvent {
    NewEvent {
        kind,
        resource_type: "role",
        resource_id: *role.id.as_uuid(),
        version: role.version,
        actor: p.actor,
        occurred_at: at,
        data,
    }
}
