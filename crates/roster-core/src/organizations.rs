//! Organizations: a tree per tenant, rooted in the organization created with the tenant.
//!
//! Each user is owned by one organization (the root unless it says otherwise) and may be a
//! member of others. An organization has a technical name (unique in the tenant, compared
//! without case; a UUID unless given), a friendly name (the technical name unless given), a
//! type from the configured set, a `virtual` flag and multi-valued attributes. Moving an
//! organization never makes a cycle; deleting one that is not empty needs `cascade`, which
//! deletes its sub-organizations and the users they own as well.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::{Directory, MAX_LIMIT, check_limit, stale_unless};
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::id::{OrgId, UserId};
use crate::input::{parse_document, reject_fields};
use crate::query::{Cond, Order, SortKey, UserQuery};
use crate::state::Transition;
use crate::store::{Change, Write};
use crate::tenant::Principal;
use crate::user::UserState;
use crate::validate;

/// The most users a cascading delete takes with it; beyond, they are deleted (or moved) first.
pub const MAX_CASCADE_USERS: u32 = 1000;

/// The organization types of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationTypes {
    /// Every type an organization may have.
    pub types: Vec<String>,
    /// The type of an organization created without one.
    pub default_type: String,
    /// The same for a virtual organization.
    pub default_virtual_type: String,
}

impl Default for OrganizationTypes {
    fn default() -> Self {
        OrganizationTypes {
            types: vec!["normal".to_owned(), "virtual".to_owned()],
            default_type: "normal".to_owned(),
            default_virtual_type: "virtual".to_owned(),
        }
    }
}

impl OrganizationTypes {
    /// Checks that the defaults are among the types.
    pub fn check(&self) -> Result<(), String> {
        for default in [&self.default_type, &self.default_virtual_type] {
            if !self.types.contains(default) {
                return Err(format!("the default organization type `{default}` is not a type"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    pub id: OrgId,
    /// `null` for the root organization only.
    pub parent_id: Option<OrgId>,
    /// Unique in the tenant, compared without case.
    pub technical_name: String,
    pub friendly_name: String,
    #[serde(rename = "virtual")]
    pub is_virtual: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: BTreeMap<String, Vec<String>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// An organization document as written by a client; every field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OrganizationInput {
    /// 1 to 128 letters, digits, spaces and `,` `.` `_` `-` (an entity name); default: the new
    /// organization's id.
    #[schema(min_length = 1, max_length = 128)]
    pub technical_name: Option<String>,
    /// Default: the technical name.
    #[schema(min_length = 1)]
    pub friendly_name: Option<String>,
    /// Where to create it (default: the root); change it with `POST /v1/organizations/{id}/move`.
    #[schema(format = Uuid)]
    pub parent_id: Option<String>,
    #[serde(rename = "virtual")]
    pub is_virtual: Option<bool>,
    /// One of the configured types (default `normal`, or `virtual` for a virtual organization).
    #[serde(rename = "type")]
    #[schema(min_length = 1)]
    pub kind: Option<String>,
    /// Name → values.
    pub attributes: Option<BTreeMap<String, Vec<String>>>,
}

/// Fields a client may not write to an organization.
const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "version"];

const NOT_FOUND: Error = Error::NotFound { kind: "organization" };

impl Directory {
    /// Creates an organization under `parent_id` (default: the root).
    pub async fn create_organization(&self, p: &Principal, input: Value) -> Result<Organization> {
        reject_fields(&input, READ_ONLY)?;
        let input: OrganizationInput = parse_document(input)?;
        let valid = validate::organization(input, &self.organization_types().types)?;
        let parent = valid.parent_id.unwrap_or(p.root_organization);
        if self.store().organization(p.tenant, parent).await?.is_none() {
            return Err(Error::invalid("parent_id", "not_found", "no such organization"));
        }
        let now = self.now();
        let id = OrgId::generate(now);
        let technical_name = valid.technical_name.unwrap_or_else(|| id.to_string());
        let is_virtual = valid.is_virtual.unwrap_or(false);
        let org = Organization {
            id,
            parent_id: Some(parent),
            friendly_name: valid.friendly_name.unwrap_or_else(|| technical_name.clone()),
            technical_name,
            kind: valid.kind.unwrap_or_else(|| self.default_type(is_virtual)),
            is_virtual,
            attributes: valid.attributes,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let data = json!({ "parent_id": parent, "type": org.kind, "virtual": is_virtual });
        let event = org_event(p, "organization.created", &org, now, data);
        let write = Write::CreateOrganization { org: Box::new(org.clone()) };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        Ok(org)
    }

    /// An organization of the principal's tenant.
    pub async fn organization(&self, p: &Principal, id: OrgId) -> Result<Organization> {
        self.store().organization(p.tenant, id).await?.ok_or(NOT_FOUND)
    }

    /// Organizations in id (creation) order after `after`: all, or the children of `parent`.
    pub async fn organizations(
        &self,
        p: &Principal,
        parent: Option<OrgId>,
        after: Option<OrgId>,
        limit: u32,
    ) -> Result<Vec<Organization>> {
        check_limit(limit)?;
        if let Some(parent) = parent {
            self.organization(p, parent).await?;
        }
        self.store().organizations(p.tenant, parent, after, limit.min(MAX_LIMIT)).await
    }

    /// Applies a JSON Merge Patch to an organization's names, type, `virtual` flag and
    /// attributes (its place in the tree changes with [`Directory::move_organization`]).
    pub async fn update_organization(
        &self,
        p: &Principal,
        id: OrgId,
        if_match: Option<i64>,
        patch: &Value,
    ) -> Result<Organization> {
        reject_fields(patch, READ_ONLY)?;
        if patch.get("parent_id").is_some() {
            return Err(Error::invalid(
                "parent_id",
                "read_only",
                "moves with POST /v1/organizations/{id}/move",
            ));
        }
        self.with_retries(*id.as_uuid(), if_match, || async move {
            let current = self.organization(p, id).await?;
            stale_unless(current.version, if_match)?;
            let mut document = json!({
                "technical_name": current.technical_name,
                "friendly_name": current.friendly_name,
                "virtual": current.is_virtual,
                "type": current.kind,
                "attributes": current.attributes,
            });
            json_patch::merge(&mut document, patch);
            let input: OrganizationInput = parse_document(document)?;
            let valid = validate::organization(input, &self.organization_types().types)?;
            let Some(technical_name) = valid.technical_name else {
                return Err(Error::invalid("technical_name", "required", "must not be removed"));
            };
            let is_virtual = valid.is_virtual.unwrap_or(false);
            let mut org = Organization {
                friendly_name: valid.friendly_name.unwrap_or_else(|| technical_name.clone()),
                technical_name,
                kind: valid.kind.unwrap_or_else(|| self.default_type(is_virtual)),
                is_virtual,
                attributes: valid.attributes,
                ..current.clone()
            };
            let fields = changed_fields(&current, &org);
            if fields.is_empty() {
                return Ok(current);
            }
            org.version += 1;
            org.updated_at = self.now();
            let event = org_event(
                p,
                "organization.updated",
                &org,
                org.updated_at,
                json!({ "fields": fields }),
            );
            let write = Write::UpdateOrganization {
                org: Box::new(org.clone()),
                before_version: current.version,
            };
            self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await.map(|()| org)
        })
        .await
    }

    /// Moves an organization, with everything below it, under `parent`: 409 when `parent` is
    /// the organization itself or below it, or when it is the root.
    pub async fn move_organization(
        &self,
        p: &Principal,
        id: OrgId,
        if_match: Option<i64>,
        parent: OrgId,
    ) -> Result<Organization> {
        self.with_retries(*id.as_uuid(), if_match, || async move {
            let current = self.organization(p, id).await?;
            stale_unless(current.version, if_match)?;
            let Some(from) = current.parent_id else {
                return Err(Error::Refused("the root organization cannot move"));
            };
            if from == parent {
                return Ok(current);
            }
            if self.store().organization(p.tenant, parent).await?.is_none() {
                return Err(Error::invalid("parent_id", "not_found", "no such organization"));
            }
            let mut org = current.clone();
            org.parent_id = Some(parent);
            org.version += 1;
            org.updated_at = self.now();
            let data = json!({ "from": from, "to": parent });
            let event = org_event(p, "organization.moved", &org, org.updated_at, data);
            // The store refuses a cycle in the transaction, against concurrent moves.
            let write = Write::MoveOrganization {
                org: Box::new(org.clone()),
                before_version: current.version,
            };
            self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await.map(|()| org)
        })
        .await
    }

    /// Deletes an organization. One with sub-organizations, users or members is deleted only
    /// with `cascade`, which deletes the sub-organizations and the users they own (at most
    /// [`MAX_CASCADE_USERS`]; each leaves a tombstone, owned by the deleted organization's parent).
    pub async fn delete_organization(&self, p: &Principal, id: OrgId, cascade: bool) -> Result<()> {
        self.with_retries(*id.as_uuid(), None, || async move {
            let org = self.organization(p, id).await?;
            let Some(parent) = org.parent_id else {
                return Err(Error::Refused("the root organization is deleted with its tenant"));
            };
            let subtree = self.store().organization_subtree(p.tenant, id).await?;
            let owned = UserQuery {
                cond: Some(Cond::Organization { id, recursive: true, members: false }),
                limit: MAX_CASCADE_USERS + 1,
                ..user_query()
            };
            let users = self.store().users(p.tenant, &owned).await?;
            if !cascade {
                let anyone = UserQuery {
                    cond: Some(Cond::Organization { id, recursive: false, members: true }),
                    limit: 1,
                    ..user_query()
                };
                if subtree.len() > 1 || !self.store().users(p.tenant, &anyone).await?.is_empty() {
                    return Err(Error::Refused(
                        "the organization has sub-organizations, users or members: delete it with cascade=true",
                    ));
                }
            }
            if users.len() > MAX_CASCADE_USERS as usize {
                return Err(Error::Refused(
                    "more than 1000 users belong to the organization and those below it: delete or move them first",
                ));
            }
            let now = self.now();
            let mut writes = Vec::new();
            let mut events = Vec::new();
            for current in users {
                let mut record = current.clone();
                let to = Transition::Delete.target(record.user.state).unwrap_or(UserState::Deleted);
                record.user.state = to;
                crate::directory::erase(&mut record);
                record.user.organization_id = parent;
                record.user.updated_at = now;
                record.user.version += 1;
                events.push(crate::directory::event(
                    p,
                    "user.deleted",
                    &record.user,
                    json!({ "from": current.user.state, "to": to, "action": "delete" }),
                ));
                writes.push(Write::UpdateUser {
                    record: Box::new(record),
                    before: Box::new(current),
                });
            }
            for deleted in &subtree {
                // Its roles (and their assignments) and the mandates it is party to go with it.
                for role in self.store().roles(p.tenant, deleted.id).await? {
                    let data = json!({ "cascade": true });
                    events.push(crate::roles::role_event(p, "role.deleted", &role, now, data));
                }
                for given in [true, false] {
                    let party = crate::mandates::Party::Organization(deleted.id);
                    let of = crate::mandates::MandatesOf { party, given };
                    for mandate in self.store().mandates(p.tenant, of).await? {
                        events.push(crate::mandates::mandate_event(
                            p,
                            "mandate.deleted",
                            &mandate,
                            now,
                            json!({ "cascade": true }),
                        ));
                    }
                }
                let data = json!({ "cascade": deleted.id != id });
                events.push(org_event(p, "organization.deleted", deleted, now, data));
            }
            writes.push(Write::DeleteOrganization { id, parent });
            self.store().commit(p.tenant, Change::of(writes, events)).await
        })
        .await
    }

    /// Makes a user a member of an organization (besides the one that owns it). Adding a
    /// member twice changes nothing.
    pub async fn add_member(&self, p: &Principal, id: OrgId, user: UserId) -> Result<()> {
        let org = self.organization(p, id).await?;
        self.record(p.tenant, user, false).await?;
        if self.store().is_member(p.tenant, id, user).await? {
            return Ok(());
        }
        let event =
            org_event(p, "organization.member_added", &org, self.now(), json!({ "user_id": user }));
        let write = Write::AddMember { organization: id, user, at: self.now() };
        match self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await {
            // Added by a concurrent request meanwhile.
            Err(Error::Conflict { .. }) => Ok(()),
            result => result,
        }
    }

    /// Ends a user's membership of an organization.
    pub async fn remove_member(&self, p: &Principal, id: OrgId, user: UserId) -> Result<()> {
        let org = self.organization(p, id).await?;
        if !self.store().is_member(p.tenant, id, user).await? {
            return Err(Error::NotFound { kind: "membership" });
        }
        let event = org_event(
            p,
            "organization.member_removed",
            &org,
            self.now(),
            json!({ "user_id": user }),
        );
        let write = Write::RemoveMember { organization: id, user };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await
    }

    /// The organizations a user is a member of (not the one that owns it).
    pub async fn memberships(&self, p: &Principal, user: UserId) -> Result<Vec<Organization>> {
        self.record(p.tenant, user, false).await?;
        self.store().memberships(p.tenant, user).await
    }

    fn default_type(&self, is_virtual: bool) -> String {
        let types = self.organization_types();
        if is_virtual { types.default_virtual_type.clone() } else { types.default_type.clone() }
    }
}

fn user_query() -> UserQuery {
    UserQuery {
        cond: None,
        sort: SortKey::CreatedAt,
        order: Order::Asc,
        limit: 1,
        offset: 0,
        after: None,
        include_deleted: false,
    }
}

fn org_event(
    p: &Principal,
    kind: &'static str,
    org: &Organization,
    at: OffsetDateTime,
    data: Value,
) -> NewEvent {
    NewEvent {
        kind,
        resource_type: "organization",
        resource_id: *org.id.as_uuid(),
        version: org.version,
        actor: p.actor,
        occurred_at: at,
        data,
    }
}

fn changed_fields(old: &Organization, new: &Organization) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if old.technical_name != new.technical_name {
        fields.push("technical_name");
    }
    if old.friendly_name != new.friendly_name {
        fields.push("friendly_name");
    }
    if old.is_virtual != new.is_virtual {
        fields.push("virtual");
    }
    if old.kind != new.kind {
        fields.push("type");
    }
    if old.attributes != new.attributes {
        fields.push("attributes");
    }
    fields
}
