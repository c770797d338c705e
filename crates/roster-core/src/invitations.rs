//! Invitations: an e-mail address invited to an organization and some of its roles.
//!
//! Inviting creates the user in state `initial` (Ubisecure's "waiting for registration"), owned
//! by the organization and named by the address, or links the user that already has the
//! address. Accepting activates a user still `initial` and grants the roles; an invitation
//! expires after the configured time; re-inviting (only while the user is `initial`) starts the
//! time again. Roster sends no mail: the events (`invitation.created`, `invitation.reissued`)
//! are what a mailer follows. They carry ids, never the address.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::{Directory, Lookup};
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::id::{InvitationId, OrgId, RoleId, UserId};
use crate::input::{UserInput, parse_document};
use crate::state::Transition;
use crate::store::{Change, Write};
use crate::tenant::Principal;
use crate::user::UserState;
use crate::validate::{self, Mode};

/// How long an invitation can be accepted, unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Pending,
    Accepted,
    Expired,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [InvitationState::Pending, InvitationState::Accepted, InvitationState::Expired]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub organization_id: OrgId,
    pub role_ids: Vec<RoleId>,
    /// The user created for the invitation, or found with its address.
    pub user_id: UserId,
    /// `pending` until accepted; `expired` once past `expires_at` unaccepted.
    pub state: InvitationState,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// How many times it was issued (1, plus one per re-invitation).
    pub sent_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// The body of `POST /v1/invitations`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct InvitationInput {
    #[schema(required = true, nullable = false, format = Email)]
    pub email: Option<String>,
    /// Default: the root organization.
    #[schema(format = Uuid)]
    pub organization_id: Option<String>,
    /// Roles of that organization, granted on acceptance.
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    pub role_ids: Option<Vec<String>>,
}

const NOT_FOUND: Error = Error::NotFound { kind: "invitation" };

impl Directory {
    /// Invites an address: creates its user in state `initial`, or links the one that has it.
    pub async fn invite(&self, p: &Principal, input: Value) -> Result<Invitation> {
        let input: InvitationInput = parse_document(input)?;
        let Some(email) = input.email else {
            return Err(Error::invalid("email", "required", "is required"));
        };
        let organization = match input.organization_id {
            Some(raw) => raw.parse().map_err(|_| {
                Error::invalid("organization_id", "invalid_format", "must be a UUID")
            })?,
            None => p.root_organization,
        };
        if self.store().organization(p.tenant, organization).await?.is_none() {
            return Err(Error::invalid("organization_id", "not_found", "no such organization"));
        }
        let mut role_ids = Vec::new();
        for (i, raw) in input.role_ids.unwrap_or_default().iter().enumerate() {
            let field = format!("role_ids[{i}]");
            let role = raw.parse::<RoleId>().ok();
            let role = match role {
                Some(id) => self.store().role(p.tenant, id).await?,
                None => None,
            };
            match role {
                Some(role) if role.organization_id == organization => role_ids.push(role.id),
                _ => {
                    let message = "no such role in the organization";
                    return Err(Error::invalid(field, "not_found", message));
                }
            }
        }
        let now = self.now();
        let document = json!({
            "username": email,
            "emails": [{ "value": email, "primary": true }],
            "organization_id": organization,
            "state": "initial",
        });
        let input: UserInput = parse_document(document)?;
        let valid = validate::user(input, Mode::Create, now.date(), &self.rules()).map_err(
            |e| match e {
                // The address is the one field the invitation gave.
                Error::Invalid(_) => {
                    Error::invalid("email", "invalid_format", "must be an e-mail address")
                }
                e => e,
            },
        )?;
        let existing = match self.find_user(p, Lookup::Email(&email)).await {
            Ok(user) => Some(user),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let (user_id, mut change) = match existing {
            Some(user) => (user.id, Change::of(Vec::new(), Vec::new())),
            None => {
                let (record, change) = self.new_user(p, valid, now).await?;
                (record.user.id, change)
            }
        };
        let invitation = Invitation {
            id: InvitationId::generate(now),
            email: validate::email_key(&email),
            organization_id: organization,
            role_ids,
            user_id,
            state: InvitationState::Pending,
            expires_at: now + self.invitation_ttl(),
            sent_count: 1,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        change.writes.push(Write::PutInvitation {
            invitation: Box::new(invitation.clone()),
            before_version: None,
        });
        change.events.push(invitation_event(p, "invitation.created", &invitation, now));
        self.store().commit(p.tenant, change).await.map_err(|e| match e {
            Error::Conflict { .. } => Error::Conflict { field: "email".to_owned() },
            e => e,
        })?;
        Ok(invitation)
    }

    pub async fn invitation(&self, p: &Principal, id: InvitationId) -> Result<Invitation> {
        let found = self.store().invitation(p.tenant, id).await?.ok_or(NOT_FOUND)?;
        Ok(self.invitation_as_read(found))
    }

    /// A page of the tenant's invitations, oldest first.
    pub async fn all_invitations(
        &self,
        p: &Principal,
        after: Option<InvitationId>,
        limit: u32,
    ) -> Result<Vec<Invitation>> {
        crate::directory::check_limit(limit)?;
        let found = self.store().invitations_page(p.tenant, after, limit).await?;
        Ok(found.into_iter().map(|i| self.invitation_as_read(i)).collect())
    }

    /// The invitations to an organization, or of a user, oldest first.
    pub async fn invitations(&self, p: &Principal, of: InvitationsOf) -> Result<Vec<Invitation>> {
        match of {
            InvitationsOf::Organization(id) => {
                self.organization(p, id).await?;
            }
            InvitationsOf::User(id) => {
                self.record(p.tenant, id, false).await?;
            }
        }
        let found = self.store().invitations(p.tenant, of).await?;
        Ok(found.into_iter().map(|i| self.invitation_as_read(i)).collect())
    }

    /// Accepts an invitation: a user still `initial` becomes `active`, and gets the roles.
    pub async fn accept_invitation(&self, p: &Principal, id: InvitationId) -> Result<Invitation> {
        let stored = self.store().invitation(p.tenant, id).await?.ok_or(NOT_FOUND)?;
        match self.invitation_as_read(stored.clone()).state {
            InvitationState::Pending => {}
            InvitationState::Accepted => {
                return Err(Error::Refused("the invitation was accepted already"));
            }
            InvitationState::Expired => return Err(Error::Refused("the invitation has expired")),
        }
        let now = self.now();
        let mut writes = Vec::new();
        let mut events = Vec::new();
        for role_id in &stored.role_ids {
            let role = self.store().role(p.tenant, *role_id).await?;
            if let Some(role) = role
                && !self.store().has_role(p.tenant, stored.user_id, role.id).await?
            {
                let data = json!({ "user_id": stored.user_id });
                events.push(crate::roles::role_event(p, "role.assigned", &role, now, data));
                writes.push(Write::AssignRole { user: stored.user_id, role: role.id, at: now });
            }
        }
        let accepted = Invitation {
            state: InvitationState::Accepted,
            updated_at: now,
            version: stored.version + 1,
            ..stored.clone()
        };
        writes.push(Write::PutInvitation {
            invitation: Box::new(accepted.clone()),
            before_version: Some(stored.version),
        });
        events.push(invitation_event(p, "invitation.accepted", &accepted, now));
        let current = self.record(p.tenant, stored.user_id, false).await?;
        if current.user.state == UserState::Initial {
            let mut record = current.clone();
            record.user.state =
                Transition::Activate.target(UserState::Initial).unwrap_or(UserState::Active);
            record.user.updated_at = now;
            record.user.version += 1;
            let data = json!({ "from": "initial", "to": record.user.state, "action": "activate" });
            events.insert(0, crate::directory::event(p, "user.state_changed", &record.user, data));
            self.commit_update(p.tenant, current, record, events, writes).await?;
        } else {
            self.store().commit(p.tenant, Change::of(writes, events)).await?;
        }
        Ok(accepted)
    }

    /// Issues an invitation again, with a fresh expiry; only while its user is `initial`.
    pub async fn reinvite(&self, p: &Principal, id: InvitationId) -> Result<Invitation> {
        let stored = self.store().invitation(p.tenant, id).await?.ok_or(NOT_FOUND)?;
        let user = self.record(p.tenant, stored.user_id, false).await?;
        if user.user.state != UserState::Initial || stored.state == InvitationState::Accepted {
            return Err(Error::Refused(
                "only a user still waiting for registration can be re-invited",
            ));
        }
        let now = self.now();
        let reissued = Invitation {
            state: InvitationState::Pending,
            expires_at: now + self.invitation_ttl(),
            sent_count: stored.sent_count + 1,
            updated_at: now,
            version: stored.version + 1,
            ..stored.clone()
        };
        let event = invitation_event(p, "invitation.reissued", &reissued, now);
        let write = Write::PutInvitation {
            invitation: Box::new(reissued.clone()),
            before_version: Some(stored.version),
        };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        Ok(reissued)
    }

    /// `pending` past its expiry reads as `expired`.
    fn invitation_as_read(&self, mut invitation: Invitation) -> Invitation {
        if invitation.state == InvitationState::Pending && invitation.expires_at <= self.now() {
            invitation.state = InvitationState::Expired;
        }
        invitation
    }
}

/// Whose invitations to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationsOf {
    Organization(OrgId),
    User(UserId),
}

fn invitation_event(
    p: &Principal,
    kind: &'static str,
    invitation: &Invitation,
    at: OffsetDateTime,
) -> NewEvent {
    NewEvent {
        kind,
        resource_type: "invitation",
        resource_id: *invitation.id.as_uuid(),
        version: invitation.version,
        actor: p.actor,
        occurred_at: at,
        data: json!({
            "user_id": invitation.user_id,
            "organization_id": invitation.organization_id,
            "role_ids": invitation.role_ids,
        }),
    }
}
