//! Mandates: a grantor (a user or an organization) authorises a grantee (a user or an
//! organization) for a set of roles, optionally until a time. The grantee may delegate some
//! of those roles onward to a user, within the mandate (never beyond its roles or its end).
//! Revoking a mandate revokes its delegations with it. A mandate or delegation past its
//! `valid_until` reads as `expired`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::Directory;
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::id::{DelegationId, MandateId, OrgId, RoleId, UserId};
use crate::input::parse_document;
use crate::store::{Change, Write};
use crate::tenant::Principal;

/// A party to a mandate: `{"user_id": …}` or `{"organization_id": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    #[serde(rename = "user_id")]
    User(UserId),
    #[serde(rename = "organization_id")]
    Organization(OrgId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Active,
    Revoked,
    Expired,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Active => "active",
            GrantState::Revoked => "revoked",
            GrantState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [GrantState::Active, GrantState::Revoked, GrantState::Expired]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Mandate {
    pub id: MandateId,
    pub grantor: Party,
    pub grantee: Party,
    pub role_ids: Vec<RoleId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    pub state: GrantState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delegation {
    pub id: DelegationId,
    pub mandate_id: MandateId,
    /// The user the roles are delegated to.
    pub delegate_user_id: UserId,
    pub role_ids: Vec<RoleId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    pub state: GrantState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The body of `POST /v1/mandates`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MandateInput {
    #[schema(value_type = Object)]
    pub grantor: Value,
    #[schema(value_type = Object)]
    pub grantee: Value,
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub role_ids: Vec<String>,
    /// None: until revoked.
    #[schema(format = DateTime)]
    pub valid_until: Option<String>,
}

/// The body of `POST /v1/mandates/{id}/delegations`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DelegationInput {
    #[schema(format = Uuid)]
    pub delegate_user_id: String,
    /// Some of the mandate's roles.
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub role_ids: Vec<String>,
    /// Not after the mandate's end; default: the mandate's end.
    #[schema(format = DateTime)]
    pub valid_until: Option<String>,
}

/// Whose mandates to list, and which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MandatesOf {
    pub party: Party,
    /// `true`: the mandates it gave; `false`: those it received.
    pub given: bool,
}

const NOT_FOUND: Error = Error::NotFound { kind: "mandate" };

impl Directory {
    /// Records a mandate from `grantor` to `grantee` for roles of the tenant.
    pub async fn create_mandate(&self, p: &Principal, input: Value) -> Result<Mandate> {
        let input: MandateInput = parse_document(input)?;
        let grantor = self.party(p, "grantor", input.grantor).await?;
        let grantee = self.party(p, "grantee", input.grantee).await?;
        if grantor == grantee {
            return Err(Error::invalid("grantee", "invalid_value", "must not be the grantor"));
        }
        let role_ids = self.roles_named(p, &input.role_ids, None).await?;
        let valid_until = instant("valid_until", input.valid_until.as_deref())?;
        let now = self.now();
        if valid_until.is_some_and(|until| until <= now) {
            return Err(Error::invalid("valid_until", "out_of_range", "must be in the future"));
        }
        let mandate = Mandate {
            id: MandateId::generate(now),
            grantor,
            grantee,
            role_ids,
            valid_until,
            state: GrantState::Active,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let event = mandate_event(p, "mandate.created", &mandate, now, json!({}));
        let write = Write::PutMandate { mandate: Box::new(mandate.clone()), before_version: None };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        Ok(mandate)
    }

    pub async fn mandate(&self, p: &Principal, id: MandateId) -> Result<Mandate> {
        let found = self.store().mandate(p.tenant, id).await?.ok_or(NOT_FOUND)?;
        Ok(self.mandate_as_read(found))
    }

    /// A page of the tenant's mandates, oldest first.
    pub async fn all_mandates(
        &self,
        p: &Principal,
        after: Option<MandateId>,
        limit: u32,
    ) -> Result<Vec<Mandate>> {
        crate::directory::check_limit(limit)?;
        let found = self.store().mandates_page(p.tenant, after, limit).await?;
        Ok(found.into_iter().map(|m| self.mandate_as_read(m)).collect())
    }

    /// The mandates a user or an organization gave or received, oldest first.
    pub async fn mandates(&self, p: &Principal, of: MandatesOf) -> Result<Vec<Mandate>> {
        self.party_exists(p, of.party).await?;
        let found = self.store().mandates(p.tenant, of).await?;
        Ok(found.into_iter().map(|m| self.mandate_as_read(m)).collect())
    }

    /// Revokes a mandate and, with it, every delegation under it.
    pub async fn revoke_mandate(&self, p: &Principal, id: MandateId) -> Result<Mandate> {
        let current = self.store().mandate(p.tenant, id).await?.ok_or(NOT_FOUND)?;
        if current.state == GrantState::Revoked {
            return Ok(current);
        }
        let now = self.now();
        let revoked = Mandate {
            state: GrantState::Revoked,
            updated_at: now,
            version: current.version + 1,
            ..current.clone()
        };
        let delegations: Vec<DelegationId> = self
            .store()
            .delegations(p.tenant, crate::mandates::DelegationsOf::Mandate(id))
            .await?
            .into_iter()
            .filter(|d| d.state == GrantState::Active)
            .map(|d| d.id)
            .collect();
        let data = json!({ "revoked_delegations": delegations });
        let event = mandate_event(p, "mandate.revoked", &revoked, now, data);
        let write = Write::PutMandate {
            mandate: Box::new(revoked.clone()),
            before_version: Some(current.version),
        };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        Ok(revoked)
    }

    /// Delegates some of a mandate's roles to a user, within the mandate's time.
    pub async fn delegate(&self, p: &Principal, id: MandateId, input: Value) -> Result<Delegation> {
        let input: DelegationInput = parse_document(input)?;
        let mandate = self.mandate(p, id).await?;
        if mandate.state != GrantState::Active {
            return Err(Error::Refused("only an active mandate can be delegated"));
        }
        let delegate: UserId = input
            .delegate_user_id
            .parse()
            .map_err(|_| Error::invalid("delegate_user_id", "invalid_format", "must be a UUID"))?;
        if self.record(p.tenant, delegate, false).await.is_err() {
            return Err(Error::invalid("delegate_user_id", "not_found", "no such user"));
        }
        if mandate.grantee == Party::User(delegate) {
            return Err(Error::invalid("delegate_user_id", "invalid_value", "is the grantee"));
        }
        let role_ids = self.roles_named(p, &input.role_ids, Some(&mandate.role_ids)).await?;
        let valid_until =
            instant("valid_until", input.valid_until.as_deref())?.or(mandate.valid_until);
        let beyond = match (valid_until, mandate.valid_until) {
            (Some(d), Some(m)) => d > m,
            (None, Some(_)) => true,
            _ => false,
        };
        if beyond {
            return Err(Error::invalid(
                "valid_until",
                "out_of_range",
                "must not outlast the mandate",
            ));
        }
        let now = self.now();
        let delegation = Delegation {
            id: DelegationId::generate(now),
            mandate_id: id,
            delegate_user_id: delegate,
            role_ids,
            valid_until,
            state: GrantState::Active,
            created_at: now,
            updated_at: now,
        };
        let data = json!({ "delegation_id": delegation.id, "delegate_user_id": delegate });
        let event = mandate_event(p, "mandate.delegated", &mandate, now, data);
        let write = Write::CreateDelegation { delegation: Box::new(delegation.clone()) };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        Ok(delegation)
    }

    pub async fn delegation(&self, p: &Principal, id: DelegationId) -> Result<Delegation> {
        let found = self.store().delegation(p.tenant, id).await?;
        let found = found.ok_or(Error::NotFound { kind: "delegation" })?;
        Ok(self.delegation_as_read(found))
    }

    /// A mandate's delegations, or those a user received, oldest first.
    pub async fn delegations(&self, p: &Principal, of: DelegationsOf) -> Result<Vec<Delegation>> {
        match of {
            DelegationsOf::Mandate(id) => {
                self.mandate(p, id).await?;
            }
            DelegationsOf::Delegate(user) => {
                self.record(p.tenant, user, false).await?;
            }
        }
        let found = self.store().delegations(p.tenant, of).await?;
        Ok(found.into_iter().map(|d| self.delegation_as_read(d)).collect())
    }

    /// `active` past its end reads as `expired`.
    fn delegation_as_read(&self, mut d: Delegation) -> Delegation {
        if d.state == GrantState::Active && d.valid_until.is_some_and(|u| u <= self.now()) {
            d.state = GrantState::Expired;
        }
        d
    }

    async fn party(&self, p: &Principal, field: &str, value: Value) -> Result<Party> {
        let party: Party = serde_json::from_value(value).map_err(|_| {
            Error::invalid(
                field,
                "invalid_value",
                "must be {\"user_id\": …} or {\"organization_id\": …}",
            )
        })?;
        if self.party_exists(p, party).await.is_err() {
            return Err(Error::invalid(field, "not_found", "no such user or organization"));
        }
        Ok(party)
    }

    async fn party_exists(&self, p: &Principal, party: Party) -> Result<()> {
        match party {
            Party::User(id) => self.record(p.tenant, id, false).await.map(|_| ()),
            Party::Organization(id) => self.organization(p, id).await.map(|_| ()),
        }
    }

    /// The roles `raw` names, each existing in the tenant (and, with `within`, among those).
    async fn roles_named(
        &self,
        p: &Principal,
        raw: &[String],
        within: Option<&[RoleId]>,
    ) -> Result<Vec<RoleId>> {
        if raw.is_empty() {
            return Err(Error::invalid("role_ids", "too_short", "name at least one role"));
        }
        let mut roles = Vec::new();
        for (i, raw) in raw.iter().enumerate() {
            let field = format!("role_ids[{i}]");
            let id: Option<RoleId> = raw.parse().ok();
            let known = match id {
                Some(id) => self.store().role(p.tenant, id).await?.is_some(),
                None => false,
            };
            match id {
                Some(id) if known && within.is_none_or(|w| w.contains(&id)) => {
                    if !roles.contains(&id) {
                        roles.push(id);
                    }
                }
                _ => {
                    let message =
                        if within.is_some() { "not a role of the mandate" } else { "no such role" };
                    return Err(Error::invalid(field, "not_found", message));
                }
            }
        }
        Ok(roles)
    }

    fn mandate_as_read(&self, mut mandate: Mandate) -> Mandate {
        if mandate.state == GrantState::Active
            && mandate.valid_until.is_some_and(|u| u <= self.now())
        {
            mandate.state = GrantState::Expired;
        }
        mandate
    }
}

/// Whose delegations to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelegationsOf {
    Mandate(MandateId),
    /// Those a user received.
    Delegate(UserId),
}

fn instant(field: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>> {
    raw.map(|s| {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
            Error::invalid(field, "invalid_format", "must be an RFC 3339 date and time")
        })
    })
    .transpose()
}

pub(crate) fn mandate_event(
    p: &Principal,
    kind: &'static str,
    mandate: &Mandate,
    at: OffsetDateTime,
    mut data: Value,
) -> NewEvent {
    if let Some(object) = data.as_object_mut() {
        object.insert("grantor".to_owned(), json!(mandate.grantor));
        object.insert("grantee".to_owned(), json!(mandate.grantee));
    }
    NewEvent {
        kind,
        resource_type: "mandate",
        resource_id: *mandate.id.as_uuid(),
        version: mandate.version,
        actor: p.actor,
        occurred_at: at,
        data,
    }
}
