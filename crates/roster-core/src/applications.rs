//! Applications: the clients registered in a tenant, and users' memberships of them, each
//! with its own `app_data` and `external_account_id` (the user's id in that application).
//! Removing a user from an application deletes that membership and its data only.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::{Directory, Extra, MAX_LIMIT, check_limit, stale_unless};
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::id::{ApplicationId, UserId};
use crate::input::{parse_document, reject_fields};
use crate::store::{Change, Write};
use crate::tenant::Principal;
use crate::validate;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Application {
    pub id: ApplicationId,
    /// Unique in the tenant, compared without case.
    pub name: String,
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// An application document as written by a client.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ApplicationInput {
    /// 1 to 200 characters.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1)]
    pub description: Option<String>,
}

/// A user's membership of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppMembership {
    pub application_id: ApplicationId,
    pub user_id: UserId,
    /// Free JSON the application keeps about the user (up to 64 KiB).
    #[schema(value_type = Object)]
    pub app_data: Value,
    /// The user's account id in the application.
    pub external_account_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The body that adds a user to an application, or replaces its membership data.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MembershipInput {
    #[schema(value_type = Option<Object>)]
    pub app_data: Option<Value>,
    #[schema(min_length = 1)]
    pub external_account_id: Option<String>,
}

const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "version"];

const NOT_FOUND: Error = Error::NotFound { kind: "application" };

impl Directory {
    pub async fn create_application(&self, p: &Principal, input: Value) -> Result<Application> {
        reject_fields(&input, READ_ONLY)?;
        let (name, description) = validate::application(parse_document(input)?)?;
        let now = self.now();
        let app = Application {
            id: ApplicationId::generate(now),
            name,
            description,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let event = app_event(p, "application.created", &app, now, json!({}));
        let write = Write::CreateApplication { app: Box::new(app.clone()) };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        Ok(app)
    }

    pub async fn application(&self, p: &Principal, id: ApplicationId) -> Result<Application> {
        self.store().application(p.tenant, id).await?.ok_or(NOT_FOUND)
    }

    /// Applications in id (creation) order after `after`.
    pub async fn applications(
        &self,
        p: &Principal,
        after: Option<ApplicationId>,
        limit: u32,
    ) -> Result<Vec<Application>> {
        check_limit(limit)?;
        self.store().applications(p.tenant, after, limit.min(MAX_LIMIT)).await
    }

    /// Applies a JSON Merge Patch to an application's name and description.
    pub async fn update_application(
        &self,
        p: &Principal,
        id: ApplicationId,
        if_match: Option<i64>,
        patch: &Value,
    ) -> Result<Application> {
        reject_fields(patch, READ_ONLY)?;
        self.with_retries(*id.as_uuid(), if_match, || async move {
            let current = self.application(p, id).await?;
            stale_unless(current.version, if_match)?;
            let mut document = json!({ "name": current.name, "description": current.description });
            json_patch::merge(&mut document, patch);
            let (name, description) = validate::application(parse_document(document)?)?;
            if name == current.name && description == current.description {
                return Ok(current);
            }
            let now = self.now();
            let app = Application {
                name,
                description,
                updated_at: now,
                version: current.version + 1,
                ..current.clone()
            };
            let event = app_event(p, "application.updated", &app, now, json!({}));
            let write = Write::UpdateApplication {
                app: Box::new(app.clone()),
                before_version: current.version,
            };
            self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await.map(|()| app)
        })
        .await
    }

    /// Deletes an application with every membership of it.
    pub async fn delete_application(&self, p: &Principal, id: ApplicationId) -> Result<()> {
        let app = self.application(p, id).await?;
        let event = app_event(p, "application.deleted", &app, self.now(), json!({}));
        let write = Write::DeleteApplication { id };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await
    }

    /// Adds a user to an application, or replaces the data of its membership. `true` when the
    /// membership is new.
    pub async fn put_app_membership(
        &self,
        p: &Principal,
        user: UserId,
        id: ApplicationId,
        input: Value,
    ) -> Result<(AppMembership, bool)> {
        self.record(p.tenant, user, false).await?;
        let (membership, new, change) = self.membership_write(p, user, id, input).await?;
        if let Some((write, event)) = change {
            self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        }
        Ok((membership, new))
    }

    /// The write and event that set a user's membership of application `id` to `input` (none
    /// when it is so already), for a change that commits them with the user's.
    pub(crate) async fn membership_change(
        &self,
        p: &Principal,
        user: UserId,
        id: ApplicationId,
        input: Value,
    ) -> Result<Extra> {
        let (_, _, change) = self.membership_write(p, user, id, input).await?;
        let (writes, events) = change.map(|(w, e)| (vec![w], vec![e])).unwrap_or_default();
        Ok(Extra { writes, events })
    }

    /// The membership `input` makes, whether it is new, and what writes it (nothing when the
    /// membership holds that already).
    async fn membership_write(
        &self,
        p: &Principal,
        user: UserId,
        id: ApplicationId,
        input: Value,
    ) -> Result<(AppMembership, bool, Option<(Write, NewEvent)>)> {
        let app = self.application(p, id).await?;
        let (app_data, external_account_id) =
            validate::app_membership(parse_document::<MembershipInput>(input)?)?;
        let now = self.now();
        let current = self.store().app_membership(p.tenant, id, user).await?;
        let membership = AppMembership {
            application_id: id,
            user_id: user,
            app_data,
            external_account_id,
            created_at: current.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
        };
        let kind = match &current {
            Some(c)
                if c.app_data == membership.app_data
                    && c.external_account_id == membership.external_account_id =>
            {
                return Ok((c.clone(), false, None));
            }
            Some(_) => "application.member_updated",
            None => "application.member_added",
        };
        let event = app_event(p, kind, &app, now, json!({ "user_id": user }));
        let write = Write::PutAppMembership {
            membership: Box::new(membership.clone()),
            new: current.is_none(),
        };
        Ok((membership, current.is_none(), Some((write, event))))
    }

    pub async fn app_membership(
        &self,
        p: &Principal,
        user: UserId,
        id: ApplicationId,
    ) -> Result<AppMembership> {
        self.record(p.tenant, user, false).await?;
        self.application(p, id).await?;
        let found = self.store().app_membership(p.tenant, id, user).await?;
        found.ok_or(Error::NotFound { kind: "application membership" })
    }

    /// A user's application memberships, in application order.
    pub async fn app_memberships(&self, p: &Principal, user: UserId) -> Result<Vec<AppMembership>> {
        self.record(p.tenant, user, false).await?;
        self.store().app_memberships(p.tenant, user).await
    }

    /// Removes a user from an application: that membership and its data, nothing else.
    pub async fn remove_app_membership(
        &self,
        p: &Principal,
        user: UserId,
        id: ApplicationId,
    ) -> Result<()> {
        let app = self.application(p, id).await?;
        self.app_membership(p, user, id).await?;
        let event = app_event(
            p,
            "application.member_removed",
            &app,
            self.now(),
            json!({ "user_id": user }),
        );
        let write = Write::RemoveAppMembership { application: id, user };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await
    }
}

fn app_event(
    p: &Principal,
    kind: &'static str,
    app: &Application,
    at: OffsetDateTime,
    data: Value,
) -> NewEvent {
    NewEvent {
        kind,
        resource_type: "application",
        resource_id: *app.id.as_uuid(),
        version: app.version,
        actor: p.actor,
        occurred_at: at,
        data,
    }
}
