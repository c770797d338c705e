// The body of `Store` shared by both backends. This file is not a module of its own: `sqlite.rs`
// and `postgres.rs` each `include!` it after defining `Db` (the sqlx database), `DbRow` and
// `This` (the store type, with `reader()` and `writer()` pools), so every query is written once
// and type-checked against both drivers.

use async_trait::async_trait;
use roster_core::applications::{AppMembership, Application};
use roster_core::audit::{AuditEntry, AuditQuery, Outcome, Trail};
use roster_core::credentials::{Credential, CredentialStatus};
use roster_core::invitations::{Invitation, InvitationState, InvitationsOf};
use roster_core::mandates::{Delegation, DelegationsOf, GrantState, Mandate, MandatesOf, Party};
use roster_core::jobs::{self, ImportProgress, JobKind, JobRecord, JobState};
use roster_core::webhooks::{Claimed, Delivery, DeliveryStatus, Webhook};
use roster_core::event::{Event, EventQuery, NewEvent, ResourceRef, TypePattern};
use roster_core::filter::CompareOp;
use roster_core::index;
use roster_core::keys::PublicKey;
use roster_core::groups::{Group, GroupQuery, Member};
use roster_core::verification::{CodeRecord, Purpose};
use roster_core::organizations::Organization;
use roster_core::relay::FeedCursor;
use roster_core::roles::Role;
use roster_core::query::{AttrOperand, Column, Cond, Operand, Order, SortKey, SortValue, UserQuery};
use roster_core::store::{Change, IdempotencyRecord, KeyKind, PoolStats, UserKey, UserRecord, Write};
use roster_core::tenant::{NewToken, Principal, Scope, Tenant, Token};
use roster_core::user::{PasswordInfo, Profile, SecretInfo, User, UserKind, UserState};
use roster_core::{
    ApplicationId, CredentialId, DelegationId, Error, GroupId, InvitationId, MandateId, JobId, OrgId, Result, RoleId, Store, TenantId, TokenId, UserId, WebhookId,
};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Job, db_error};

const USER_COLUMNS: &str = "u.id, u.kind, u.state, u.username, u.organization_id, u.profile, \
     u.password_hash, u.password_change_required, u.password_changed_at, u.national_id_hash, \
     u.secret_hash, u.created_at, u.updated_at, u.last_auth_at, u.version, u.password_failures";

#[async_trait]
impl Store for This {
    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(self.reader()).await.map_err(db_error)?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        let (r, w) = (self.reader(), self.writer());
        if std::ptr::eq(r, w) {
            PoolStats { size: r.size(), idle: u32::try_from(r.num_idle()).unwrap_or(u32::MAX) }
        } else {
            let idle = r.num_idle() + w.num_idle();
            PoolStats { size: r.size() + w.size(), idle: u32::try_from(idle).unwrap_or(u32::MAX) }
        }
    }

    async fn feed_heads(&self) -> Result<i64> {
        sqlx::query_scalar("select cast(coalesce(sum(seq), 0) as bigint) from tenants")
            .fetch_one(self.reader())
            .await
            .map_err(db_error)
    }

    async fn has_tenants(&self) -> Result<bool> {
        let row = sqlx::query("select exists (select 1 from tenants) as found")
            .fetch_one(self.reader())
            .await
            .map_err(db_error)?;
        row.try_get::<bool, _>("found").map_err(db_error)
    }

    async fn create_tenant(&self, tenant: &Tenant, tokens: &[NewToken]) -> Result<()> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        sqlx::query("insert into tenants (id, name, root_organization_id, created_at) values ($1, $2, $3, $4)")
            .bind(tenant.id.as_uuid())
            .bind(&tenant.name)
            .bind(tenant.root_organization_id.as_uuid())
            .bind(micros(tenant.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("insert into organizations (tenant_id, id, parent_id, technical_name, name_key, friendly_name, created_at, updated_at) \
             values ($1, $2, null, 'root', 'root', 'root', $3, $3)")
            .bind(tenant.id.as_uuid())
            .bind(tenant.root_organization_id.as_uuid())
            .bind(micros(tenant.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        for token in tokens {
            insert_token(&mut tx, tenant.id, token).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        sqlx::query(&format!("select {TENANT_COLUMNS} from tenants order by id"))
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?
            .iter()
            .map(tenant_view)
            .collect()
    }

    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        sqlx::query(&format!("select {TENANT_COLUMNS} from tenants where id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(tenant_view)
            .transpose()
    }

    async fn rename_tenant(&self, id: TenantId, name: &str) -> Result<bool> {
        let done = sqlx::query("update tenants set name = $2 where id = $1")
            .bind(id.as_uuid())
            .bind(name)
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_tenant(&self, id: TenantId) -> Result<bool> {
        // Everything else of the tenant references it (directly or through its users) with
        // `on delete cascade`; the audit trail has no foreign key (see migration 0004).
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        sqlx::query("delete from audit_log where tenant_id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let done = sqlx::query("delete from tenants where id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        notify(&mut tx, HINT_CHANNEL, &format!("tenant:{}", id.as_uuid())).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_token(&self, tenant: TenantId, token: &NewToken) -> Result<()> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        insert_token(&mut tx, tenant, token).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn tokens(&self, tenant: TenantId) -> Result<Vec<Token>> {
        sqlx::query(&format!("select {TOKEN_COLUMNS} from tokens where tenant_id = $1 order by id"))
            .bind(tenant.as_uuid())
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?
            .iter()
            .map(token_view)
            .collect()
    }

    async fn token(&self, tenant: TenantId, id: TokenId) -> Result<Option<Token>> {
        sqlx::query(&format!("select {TOKEN_COLUMNS} from tokens where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(token_view)
            .transpose()
    }

    async fn revoke_token(&self, tenant: TenantId, id: TokenId) -> Result<bool> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let done = sqlx::query("delete from tokens where tenant_id = $1 and id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        notify(&mut tx, HINT_CHANNEL, &format!("token:{}", id.as_uuid())).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_token(&self, tenant: TenantId, id: TokenId, at: OffsetDateTime) -> Result<()> {
        // At most once a minute a token, however many nodes see it: a later use within the
        // minute matches no row and writes nothing.
        sqlx::query(
            "update tokens set last_used_at = $3 where tenant_id = $1 and id = $2 \
             and (last_used_at is null or last_used_at <= $4)",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(micros(at))
        .bind(micros(at - roster_core::tenant::TOKEN_USE_GRAIN))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn principal(&self, secret_hash: &[u8; 32], now: OffsetDateTime) -> Result<Option<Principal>> {
        let row = sqlx::query(&format!(
            "{PRINCIPAL_SELECT} where t.secret_hash = $1 and (t.expires_at is null or t.expires_at > $2)"
        ))
        .bind(&secret_hash[..])
        .bind(micros(now))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        row.as_ref().map(principal_view).transpose()
    }

    async fn principal_of_token(
        &self,
        tenant: TenantId,
        id: TokenId,
        now: OffsetDateTime,
    ) -> Result<Option<Principal>> {
        let row = sqlx::query(&format!(
            "{PRINCIPAL_SELECT} where t.tenant_id = $1 and t.id = $2 \
             and (t.expires_at is null or t.expires_at > $3)"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(micros(now))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        row.as_ref().map(principal_view).transpose()
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        sqlx::query(&format!("select {TENANT_COLUMNS} from tenants where name = $1"))
            .bind(name)
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(tenant_view)
            .transpose()
    }

    async fn organization(&self, tenant: TenantId, id: OrgId) -> Result<Option<Organization>> {
        sqlx::query(&format!("select {ORG_COLUMNS} from organizations where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(organization_view)
            .transpose()
    }

    async fn organizations(
        &self,
        tenant: TenantId,
        parent: Option<OrgId>,
        after: Option<OrgId>,
        limit: u32,
    ) -> Result<Vec<Organization>> {
        let mut q = QueryBuilder::<Db>::new(format!("select {ORG_COLUMNS} from organizations where tenant_id = "));
        q.push_bind(*tenant.as_uuid());
        if let Some(parent) = parent {
            q.push(" and parent_id = ").push_bind(*parent.as_uuid());
        }
        if let Some(after) = after {
            q.push(" and id > ").push_bind(*after.as_uuid());
        }
        q.push(" order by id limit ").push_bind(i64::from(limit));
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(organization_view).collect()
    }

    async fn organization_subtree(&self, tenant: TenantId, id: OrgId) -> Result<Vec<Organization>> {
        sqlx::query(&format!(
            "with recursive {SUBTREE} select {ORG_COLUMNS} from organizations \
             where tenant_id = $1 and id in (select id from subtree) order by id"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(organization_view)
        .collect()
    }

    async fn is_member(&self, tenant: TenantId, organization: OrgId, user: UserId) -> Result<bool> {
        let row = sqlx::query(
            "select 1 from organization_members where tenant_id = $1 and organization_id = $2 and user_id = $3",
        )
        .bind(tenant.as_uuid())
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        Ok(row.is_some())
    }

    async fn memberships(&self, tenant: TenantId, user: UserId) -> Result<Vec<Organization>> {
        sqlx::query(&format!(
            "select {ORG_COLUMNS} from organizations where tenant_id = $1 and id in \
             (select organization_id from organization_members where tenant_id = $1 and user_id = $2) order by id"
        ))
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(organization_view)
        .collect()
    }

    async fn mandate(&self, tenant: TenantId, id: MandateId) -> Result<Option<Mandate>> {
        sqlx::query(&format!("select {MANDATE_COLUMNS} from mandates where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(mandate_view)
            .transpose()
    }

    async fn mandates(&self, tenant: TenantId, of: MandatesOf) -> Result<Vec<Mandate>> {
        let side = if of.given { "grantor" } else { "grantee" };
        let (kind, id) = match of.party {
            Party::User(id) => ("user", *id.as_uuid()),
            Party::Organization(id) => ("organization", *id.as_uuid()),
        };
        sqlx::query(&format!(
            "select {MANDATE_COLUMNS} from mandates where tenant_id = $1 and {side}_{kind}_id = $2 order by id"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(mandate_view)
        .collect()
    }

    async fn delegation(&self, tenant: TenantId, id: DelegationId) -> Result<Option<Delegation>> {
        sqlx::query(&format!("select {DELEGATION_COLUMNS} from delegations where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(delegation_view)
            .transpose()
    }

    async fn delegations(&self, tenant: TenantId, of: DelegationsOf) -> Result<Vec<Delegation>> {
        let (column, id) = match of {
            DelegationsOf::Mandate(id) => ("mandate_id", *id.as_uuid()),
            DelegationsOf::Delegate(id) => ("delegate_user_id", *id.as_uuid()),
        };
        sqlx::query(&format!(
            "select {DELEGATION_COLUMNS} from delegations where tenant_id = $1 and {column} = $2 order by id"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(delegation_view)
        .collect()
    }

    async fn invitation(&self, tenant: TenantId, id: InvitationId) -> Result<Option<Invitation>> {
        sqlx::query(&format!("select {INVITATION_COLUMNS} from invitations where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(invitation_view)
            .transpose()
    }

    async fn invitations(&self, tenant: TenantId, of: InvitationsOf) -> Result<Vec<Invitation>> {
        let (column, id) = match of {
            InvitationsOf::Organization(id) => ("organization_id", *id.as_uuid()),
            InvitationsOf::User(id) => ("user_id", *id.as_uuid()),
        };
        sqlx::query(&format!(
            "select {INVITATION_COLUMNS} from invitations where tenant_id = $1 and {column} = $2 order by id"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(invitation_view)
        .collect()
    }

    async fn credential(&self, tenant: TenantId, id: CredentialId) -> Result<Option<Credential>> {
        sqlx::query(&format!("select {CREDENTIAL_COLUMNS} from issued_credentials where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(credential_view)
            .transpose()
    }

    async fn credentials(&self, tenant: TenantId, user: UserId, after: Option<CredentialId>, limit: u32) -> Result<Vec<Credential>> {
        let mut q =
            QueryBuilder::<Db>::new(format!("select {CREDENTIAL_COLUMNS} from issued_credentials where tenant_id = "));
        q.push_bind(*tenant.as_uuid()).push(" and user_id = ").push_bind(*user.as_uuid());
        if let Some(after) = after {
            q.push(" and id > ").push_bind(*after.as_uuid());
        }
        q.push(" order by id limit ").push_bind(i64::from(limit));
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(credential_view).collect()
    }

    async fn application(&self, tenant: TenantId, id: ApplicationId) -> Result<Option<Application>> {
        sqlx::query(&format!("select {APP_COLUMNS} from applications where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(application_view)
            .transpose()
    }

    async fn applications(&self, tenant: TenantId, after: Option<ApplicationId>, limit: u32) -> Result<Vec<Application>> {
        let mut q = QueryBuilder::<Db>::new(format!("select {APP_COLUMNS} from applications where tenant_id = "));
        q.push_bind(*tenant.as_uuid());
        if let Some(after) = after {
            q.push(" and id > ").push_bind(*after.as_uuid());
        }
        q.push(" order by id limit ").push_bind(i64::from(limit));
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(application_view).collect()
    }

    async fn app_membership(&self, tenant: TenantId, application: ApplicationId, user: UserId) -> Result<Option<AppMembership>> {
        sqlx::query(&format!(
            "select {MEMBERSHIP_COLUMNS} from application_users where tenant_id = $1 and application_id = $2 and user_id = $3"
        ))
        .bind(tenant.as_uuid())
        .bind(application.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?
        .as_ref()
        .map(membership_view)
        .transpose()
    }

    async fn app_memberships(&self, tenant: TenantId, user: UserId) -> Result<Vec<AppMembership>> {
        sqlx::query(&format!(
            "select {MEMBERSHIP_COLUMNS} from application_users where tenant_id = $1 and user_id = $2 order by application_id"
        ))
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(membership_view)
        .collect()
    }

    async fn role(&self, tenant: TenantId, id: RoleId) -> Result<Option<Role>> {
        sqlx::query(&format!("select {ROLE_COLUMNS} from roles where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(role_view)
            .transpose()
    }

    async fn roles(&self, tenant: TenantId, organization: OrgId) -> Result<Vec<Role>> {
        sqlx::query(&format!(
            "select {ROLE_COLUMNS} from roles where tenant_id = $1 and organization_id = $2 order by name_key, id"
        ))
        .bind(tenant.as_uuid())
        .bind(organization.as_uuid())
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(role_view)
        .collect()
    }

    async fn roles_page(
        &self,
        tenant: TenantId,
        organization: Option<OrgId>,
        after: Option<RoleId>,
        limit: u32,
    ) -> Result<Vec<Role>> {
        let mut q = QueryBuilder::<Db>::new(format!("select {ROLE_COLUMNS} from roles where tenant_id = "));
        q.push_bind(*tenant.as_uuid());
        if let Some(org) = organization {
            q.push(" and organization_id = ").push_bind(*org.as_uuid());
        }
        page(&mut q, after.map(|a| *a.as_uuid()), limit);
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(role_view).collect()
    }

    async fn mandates_page(&self, tenant: TenantId, after: Option<MandateId>, limit: u32) -> Result<Vec<Mandate>> {
        let mut q = QueryBuilder::<Db>::new(format!("select {MANDATE_COLUMNS} from mandates where tenant_id = "));
        q.push_bind(*tenant.as_uuid());
        page(&mut q, after.map(|a| *a.as_uuid()), limit);
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(mandate_view).collect()
    }

    async fn invitations_page(&self, tenant: TenantId, after: Option<InvitationId>, limit: u32) -> Result<Vec<Invitation>> {
        let mut q = QueryBuilder::<Db>::new(format!("select {INVITATION_COLUMNS} from invitations where tenant_id = "));
        q.push_bind(*tenant.as_uuid());
        page(&mut q, after.map(|a| *a.as_uuid()), limit);
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(invitation_view).collect()
    }

    async fn has_role(&self, tenant: TenantId, user: UserId, role: RoleId) -> Result<bool> {
        let row = sqlx::query("select 1 from user_roles where tenant_id = $1 and user_id = $2 and role_id = $3")
            .bind(tenant.as_uuid())
            .bind(user.as_uuid())
            .bind(role.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?;
        Ok(row.is_some())
    }

    async fn user_roles(&self, tenant: TenantId, user: UserId) -> Result<Vec<Role>> {
        sqlx::query(&format!(
            "select {ROLE_COLUMNS} from roles where tenant_id = $1 and id in \
             (select role_id from user_roles where tenant_id = $1 and user_id = $2) \
             order by organization_id, name_key, id"
        ))
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(role_view)
        .collect()
    }

    async fn group(&self, tenant: TenantId, id: GroupId) -> Result<Option<Group>> {
        sqlx::query(&format!("select {GROUP_COLUMNS} from groups where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(group_view)
            .transpose()
    }

    async fn verification_code(&self, tenant: TenantId, user: UserId, purpose: Purpose) -> Result<Option<CodeRecord>> {
        let row = sqlx::query(
            "select code_hash, target, expires_at from verification_codes \
             where tenant_id = $1 and user_id = $2 and purpose = $3",
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .bind(purpose.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        row.map(|row| {
            Ok(CodeRecord {
                purpose,
                code_hash: row.try_get("code_hash").map_err(db_error)?,
                target: row.try_get("target").map_err(db_error)?,
                expires_at: from_micros(row.try_get("expires_at").map_err(db_error)?),
            })
        })
        .transpose()
    }

    async fn groups(&self, tenant: TenantId, query: &GroupQuery) -> Result<Vec<Group>> {
        let mut q = QueryBuilder::<Db>::new(format!("select {GROUP_COLUMNS} from groups where tenant_id = "));
        push_group_query(&mut q, tenant, query);
        q.push(" order by id limit ").push_bind(i64::from(query.limit));
        q.push(" offset ").push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(group_view).collect()
    }

    async fn count_groups(&self, tenant: TenantId, query: &GroupQuery) -> Result<u64> {
        let mut q = QueryBuilder::<Db>::new("select count(*) from groups where tenant_id = ");
        push_group_query(&mut q, tenant, &GroupQuery { after: None, ..query.clone() });
        let count: i64 = q.build_query_scalar().fetch_one(self.reader()).await.map_err(db_error)?;
        Ok(count.unsigned_abs())
    }

    async fn is_group_member(&self, tenant: TenantId, group: GroupId, member: Member) -> Result<bool> {
        let (table, column) = member_table(member);
        let row = sqlx::query(&format!(
            "select 1 from {table} where tenant_id = $1 and group_id = $2 and {column} = $3"
        ))
        .bind(tenant.as_uuid())
        .bind(group.as_uuid())
        .bind(member.uuid())
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        Ok(row.is_some())
    }

    async fn group_members(&self, tenant: TenantId, group: GroupId) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "select 'user' as kind, user_id as id from group_users where tenant_id = $1 and group_id = $2 \
             union all select 'group', member_id from group_groups where tenant_id = $1 and group_id = $2 \
             order by kind desc, id",
        )
        .bind(tenant.as_uuid())
        .bind(group.as_uuid())
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row.try_get("id").map_err(db_error)?;
                let kind: String = row.try_get("kind").map_err(db_error)?;
                Ok(if kind == "user" {
                    Member::User(UserId::from_uuid(id))
                } else {
                    Member::Group(GroupId::from_uuid(id))
                })
            })
            .collect()
    }

    async fn user_groups(&self, tenant: TenantId, user: UserId, transitive: bool) -> Result<Vec<Group>> {
        let above = if transitive {
            " union select gg.group_id from group_groups gg join mine on gg.member_id = mine.id \
              where gg.tenant_id = $1"
        } else {
            ""
        };
        sqlx::query(&format!(
            "with recursive mine(id) as (select group_id from group_users where tenant_id = $1 and user_id = $2{above}) \
             select {GROUP_COLUMNS} from groups where tenant_id = $1 and id in (select id from mine) order by id"
        ))
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(group_view)
        .collect()
    }

    async fn user(&self, tenant: TenantId, id: UserId) -> Result<Option<UserRecord>> {
        let sql = format!("select {USER_COLUMNS} from users u where u.tenant_id = $1 and u.id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?;
        row.as_ref().map(user_record).transpose()
    }

    async fn user_by_key(&self, tenant: TenantId, kind: KeyKind, value: &str) -> Result<Option<UserRecord>> {
        let sql = format!(
            "select {USER_COLUMNS} from users u where u.tenant_id = $1 and u.id = \
             (select user_id from user_keys where tenant_id = $1 and kind = $2 and value = $3)"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_uuid())
            .bind(kind.as_str())
            .bind(value)
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?;
        row.as_ref().map(user_record).transpose()
    }

    async fn users(&self, tenant: TenantId, query: &UserQuery) -> Result<Vec<UserRecord>> {
        let mut q = QueryBuilder::<Db>::new(format!("select {USER_COLUMNS} from users u where "));
        push_where(&mut q, tenant, query);
        if let Some((key, id)) = &query.after {
            // Keyset: strictly after the last row seen, in the listing's own order.
            q.push(" and (").push(sort_column(query.sort)).push(", u.id) ");
            q.push(if query.order == Order::Asc { "> (" } else { "< (" });
            match key {
                SortValue::Int(n) => q.push_bind(*n),
                SortValue::Text(s) => q.push_bind(s.clone()),
            };
            q.push(", ").push_bind(*id.as_uuid()).push(")");
        }
        let direction = if query.order == Order::Asc { " asc" } else { " desc" };
        q.push(" order by ").push(sort_column(query.sort)).push(direction).push(", u.id").push(direction);
        q.push(" limit ").push_bind(i64::from(query.limit));
        if query.after.is_none() && query.offset > 0 {
            q.push(" offset ").push_bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        }
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(user_record).collect()
    }

    async fn count_users(&self, tenant: TenantId, query: &UserQuery) -> Result<u64> {
        let mut q = QueryBuilder::<Db>::new("select count(*) as n from users u where ");
        push_where(&mut q, tenant, query);
        let row = q.build().fetch_one(self.reader()).await.map_err(db_error)?;
        let n: i64 = row.try_get("n").map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("select value from settings where name = $1")
            .bind(name)
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)
    }

    async fn idempotency(&self, tenant: TenantId, key: &str, now: OffsetDateTime) -> Result<Option<IdempotencyRecord>> {
        let row = sqlx::query(
            "select key, fingerprint, user_id, response, expires_at from idempotency_keys \
             where tenant_id = $1 and key = $2 and expires_at > $3",
        )
        .bind(tenant.as_uuid())
        .bind(key)
        .bind(micros(now))
        .fetch_optional(self.reader())
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let fingerprint: Vec<u8> = row.try_get("fingerprint").map_err(db_error)?;
        let Json(response) = row.try_get::<Json<serde_json::Value>, _>("response").map_err(db_error)?;
        Ok(Some(IdempotencyRecord {
            key: row.try_get("key").map_err(db_error)?,
            fingerprint: fingerprint.try_into().map_err(|_| Error::internal("fingerprint is not 32 bytes"))?,
            user_id: UserId::from_uuid(row.try_get("user_id").map_err(db_error)?),
            response,
            expires_at: from_micros(row.try_get("expires_at").map_err(db_error)?),
        }))
    }

    async fn commit(&self, tenant: TenantId, change: Change) -> Result<()> {
        let mut results = self.commit_all(tenant, vec![change], true).await?;
        results.pop().unwrap_or_else(|| Err(Error::internal("the writer returned no result")))
    }

    async fn commit_all(&self, tenant: TenantId, changes: Vec<Change>, atomic: bool) -> Result<Vec<Result<()>>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job { tenant, changes, atomic, reply };
        let stopped = || Error::Unavailable("the writer has stopped".into());
        self.queue().send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn events(&self, tenant: TenantId, query: &EventQuery) -> Result<Vec<Event>> {
        let mut q = QueryBuilder::<Db>::new(
            "select seq, kind, resource_type, resource_id, version, actor, occurred_at, data \
             from events where tenant_id = ",
        );
        q.push_bind(*tenant.as_uuid()).push(" and seq > ").push_bind(query.after);
        if let Some(resource) = query.resource {
            q.push(" and resource_id = ").push_bind(resource);
        }
        for (i, pattern) in query.types.iter().enumerate() {
            q.push(if i == 0 { " and (" } else { " or " });
            match pattern {
                TypePattern::Exact(kind) => q.push("kind = ").push_bind(*kind),
                // A prefix is a resource type and a dot: no `%` or `_` to escape.
                TypePattern::Prefix(prefix) => q.push("kind like ").push_bind(format!("{prefix}%")),
            };
        }
        if !query.types.is_empty() {
            q.push(")");
        }
        q.push(" order by seq limit ").push_bind(i64::from(query.limit));
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let Json(data) = row.try_get::<Json<serde_json::Value>, _>("data").map_err(db_error)?;
                let seq = row.try_get("seq").map_err(db_error)?;
                Ok(Event {
                    seq,
                    id: Event::id_of(tenant, seq),
                    kind: row.try_get("kind").map_err(db_error)?,
                    occurred_at: from_micros(row.try_get("occurred_at").map_err(db_error)?),
                    tenant_id: tenant,
                    resource: ResourceRef {
                        kind: row.try_get("resource_type").map_err(db_error)?,
                        id: row.try_get("resource_id").map_err(db_error)?,
                        version: row.try_get("version").map_err(db_error)?,
                    },
                    actor: row.try_get("actor").map_err(db_error)?,
                    data,
                })
            })
            .collect()
    }

    fn feed_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.feed().subscribe()
    }

    fn hints(&self) -> tokio::sync::broadcast::Receiver<roster_core::store::Hint> {
        self.hint_sender().subscribe()
    }

    fn work_changes(&self, worker: roster_core::store::Worker) -> tokio::sync::watch::Receiver<u64> {
        match worker {
            roster_core::store::Worker::Jobs => self.wake().jobs.subscribe(),
            roster_core::store::Worker::Deliveries => self.wake().deliveries.subscribe(),
        }
    }

    async fn job(&self, tenant: TenantId, id: JobId) -> Result<Option<jobs::Job>> {
        sqlx::query(&format!("select {JOB_COLUMNS} from jobs where tenant_id = $1 and id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.reader())
            .await
            .map_err(db_error)?
            .as_ref()
            .map(|row| Ok(job_record(row)?.job))
            .transpose()
    }

    async fn claim_jobs(&self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: u32) -> Result<Vec<JobRecord>> {
        // One statement, as for webhook deliveries: no transaction outlives a stopped worker.
        sqlx::query(&format!(
            "update jobs set state = 'running', attempts = attempts + 1, locked_until = $2, updated_at = $1 \
             where id in (select id from jobs where state = 'queued' \
                 or (state = 'running' and locked_until <= $1) \
                 order by created_at, id limit $3{SKIP_LOCKED}) \
             returning {JOB_COLUMNS}"
        ))
        .bind(micros(now))
        .bind(micros(lease_until))
        .bind(i64::from(limit))
        .fetch_all(self.writer())
        .await
        .map_err(db_error)?
        .iter()
        .map(job_record)
        .collect()
    }

    async fn save_job_progress(
        &self,
        id: JobId,
        attempt: u32,
        progress: &ImportProgress,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "update jobs set progress = $3, updated_at = $4, locked_until = $5 \
             where id = $1 and attempts = $2 and state = 'running'",
        )
        .bind(id.as_uuid())
        .bind(i64::from(attempt))
        .bind(Json(progress))
        .bind(micros(now))
        .bind(micros(lease_until))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn finish_job(&self, id: JobId, attempt: u32, state: JobState, error: Option<&str>, now: OffsetDateTime) -> Result<()> {
        end_job(self.writer(), id, attempt, state, error, micros(now)).await
    }

    async fn create_webhook(&self, tenant: TenantId, w: &Webhook) -> Result<()> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        sqlx::query(
            "insert into webhooks (tenant_id, id, url, enabled, created_at, updated_at, format, title, settings) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(tenant.as_uuid())
        .bind(w.id.as_uuid())
        .bind(&w.url)
        .bind(w.enabled)
        .bind(micros(w.created_at))
        .bind(micros(w.updated_at))
        .bind(&w.format)
        .bind(&w.title)
        .bind(w.settings.as_ref().map(serde_json::Value::to_string))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_webhook_types(&mut tx, w).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn webhooks(&self, tenant: TenantId) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(&format!("{WEBHOOK_SELECT} where w.tenant_id = $1 order by w.id"))
            .bind(tenant.as_uuid())
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?;
        let mut hooks: Vec<Webhook> = Vec::new();
        for row in &rows {
            let id = WebhookId::from_uuid(row.try_get("id").map_err(db_error)?);
            if hooks.last().is_none_or(|w| w.id != id) {
                hooks.push(webhook_view(row)?);
            }
            if let Some(w) = hooks.last_mut() {
                w.event_types.push(type_pattern(row)?);
            }
        }
        Ok(hooks)
    }

    async fn webhook(&self, tenant: TenantId, id: WebhookId) -> Result<Option<Webhook>> {
        let rows = sqlx::query(&format!("{WEBHOOK_SELECT} where w.tenant_id = $1 and w.id = $2"))
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .fetch_all(self.reader())
            .await
            .map_err(db_error)?;
        let Some(first) = rows.first() else { return Ok(None) };
        let mut webhook = webhook_view(first)?;
        webhook.event_types = rows.iter().map(type_pattern).collect::<Result<_>>()?;
        Ok(Some(webhook))
    }

    async fn update_webhook(&self, tenant: TenantId, w: &Webhook) -> Result<bool> {
        let mut tx = self.writer().begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "update webhooks set url = $3, enabled = $4, updated_at = $5, format = $6, title = $7, settings = $8 \
             where tenant_id = $1 and id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(w.id.as_uuid())
        .bind(&w.url)
        .bind(w.enabled)
        .bind(micros(w.updated_at))
        .bind(&w.format)
        .bind(&w.title)
        .bind(w.settings.as_ref().map(serde_json::Value::to_string))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("delete from webhook_event_types where webhook_id = $1")
            .bind(w.id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_webhook_types(&mut tx, w).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn delete_webhook(&self, tenant: TenantId, id: WebhookId) -> Result<bool> {
        let done = sqlx::query("delete from webhooks where tenant_id = $1 and id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_test_delivery(&self, tenant: TenantId, webhook: WebhookId, now: OffsetDateTime) -> Result<Delivery> {
        let row = sqlx::query(&format!(
            "insert into webhook_deliveries \
             (tenant_id, webhook_id, event_seq, status, attempts, next_attempt_at, created_at, updated_at) \
             values ($1, $2, null, 'pending', 0, $3, $3, $3) returning {DELIVERY_COLUMNS}"
        ))
        .bind(tenant.as_uuid())
        .bind(webhook.as_uuid())
        .bind(micros(now))
        .fetch_one(self.writer())
        .await
        .map_err(db_error)?;
        Work { jobs: false, deliveries: true }.wake(&self.wake().jobs, &self.wake().deliveries);
        delivery_view(&row)
    }

    async fn deliveries(&self, tenant: TenantId, webhook: WebhookId, before: Option<i64>, limit: u32) -> Result<Vec<Delivery>> {
        sqlx::query(&format!(
            "select {DELIVERY_COLUMNS} from webhook_deliveries \
             where tenant_id = $1 and webhook_id = $2 and id < $3 order by id desc limit $4"
        ))
        .bind(tenant.as_uuid())
        .bind(webhook.as_uuid())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await
        .map_err(db_error)?
        .iter()
        .map(delivery_view)
        .collect()
    }

    async fn redeliver(&self, tenant: TenantId, webhook: WebhookId, delivery: i64, now: OffsetDateTime) -> Result<Option<Delivery>> {
        let row = sqlx::query(&format!(
            "update webhook_deliveries set status = 'pending', next_attempt_at = $4, \
             created_at = $4, updated_at = $4, locked_until = null \
             where tenant_id = $1 and webhook_id = $2 and id = $3 returning {DELIVERY_COLUMNS}"
        ))
        .bind(tenant.as_uuid())
        .bind(webhook.as_uuid())
        .bind(delivery)
        .bind(micros(now))
        .fetch_optional(self.writer())
        .await
        .map_err(db_error)?;
        Work { jobs: false, deliveries: true }.wake(&self.wake().jobs, &self.wake().deliveries);
        row.as_ref().map(delivery_view).transpose()
    }

    async fn claim_deliveries(&self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: u32) -> Result<Vec<Claimed>> {
        // One statement, so no transaction is ever left open by a worker stopped mid-claim.
        let rows = sqlx::query(&format!(
            "update webhook_deliveries set locked_until = $2, attempts = attempts + 1, updated_at = $1 \
             where id in (select id from webhook_deliveries where status = 'pending' \
                 and next_attempt_at <= $1 and (locked_until is null or locked_until <= $1) \
                 order by next_attempt_at, id limit $3{SKIP_LOCKED}) \
             returning {DELIVERY_COLUMNS}, tenant_id, \
                 (select url from webhooks w where w.id = webhook_deliveries.webhook_id) as url, \
                 (select format from webhooks w where w.id = webhook_deliveries.webhook_id) as format"
        ))
        .bind(micros(now))
        .bind(micros(lease_until))
        .bind(i64::from(limit))
        .fetch_all(self.writer())
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    delivery: delivery_view(row)?,
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(db_error)?),
                    url: row.try_get("url").map_err(db_error)?,
                    format: row.try_get("format").map_err(db_error)?,
                })
            })
            .collect()
    }

    async fn finish_delivery(
        &self,
        delivery: i64,
        attempt: u32,
        status: DeliveryStatus,
        next_attempt_at: OffsetDateTime,
        status_code: Option<u16>,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "update webhook_deliveries set status = $3, next_attempt_at = $4, last_status_code = $5, \
             last_error = $6, updated_at = $7, locked_until = null where id = $1 and attempts = $2",
        )
        .bind(delivery)
        .bind(i64::from(attempt))
        .bind(status.as_str())
        .bind(micros(next_attempt_at))
        .bind(status_code.map(i64::from))
        .bind(error)
        .bind(micros(now))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn claim_feed_cursors(
        &self,
        sink: &str,
        holder: Uuid,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<FeedCursor>> {
        sqlx::query(
            "insert into feed_cursors (tenant_id, sink, after_seq) \
             select t.id, $1, 0 from tenants t where t.seq > 0 and not exists \
                 (select 1 from feed_cursors c where c.tenant_id = t.id and c.sink = $1) \
             on conflict do nothing",
        )
        .bind(sink)
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        // The tenant row is read, never locked: the writer holds it to commit.
        sqlx::query(&format!(
            "update feed_cursors set holder = $2, locked_until = $4 \
             where sink = $1 and tenant_id in (select c.tenant_id from feed_cursors c \
                 where c.sink = $1 and (c.locked_until is null or c.locked_until <= $3 or c.holder = $2) \
                 and c.after_seq < (select t.seq from tenants t where t.id = c.tenant_id) \
                 order by c.tenant_id limit $5{SKIP_LOCKED}) \
             returning tenant_id, after_seq"
        ))
        .bind(sink)
        .bind(holder)
        .bind(micros(now))
        .bind(micros(lease_until))
        .bind(i64::from(limit))
        .fetch_all(self.writer())
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| {
            Ok(FeedCursor {
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(db_error)?),
                after: row.try_get("after_seq").map_err(db_error)?,
            })
        })
        .collect()
    }

    async fn advance_feed_cursor(
        &self,
        tenant: TenantId,
        sink: &str,
        holder: Uuid,
        to: i64,
        lease_until: OffsetDateTime,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update feed_cursors set after_seq = $4, locked_until = $5 \
             where tenant_id = $1 and sink = $2 and holder = $3 and after_seq <= $4",
        )
        .bind(tenant.as_uuid())
        .bind(sink)
        .bind(holder)
        .bind(to)
        .bind(micros(lease_until))
        .execute(self.writer())
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        // Eleven binds a row: 1,000 rows stay under both engines' limit on bound parameters.
        for chunk in entries.chunks(1000) {
            let mut q = QueryBuilder::<Db>::new(
                "insert into audit_log (tenant_id, occurred_at, token_id, operation, resource_id, \
                 request_id, outcome, status, duration_us, client_ip) ",
            );
            q.push_values(chunk, |mut row, e| {
                row.push_bind(e.tenant_id.map(|t| *t.as_uuid()))
                    .push_bind(micros(e.occurred_at))
                    .push_bind(e.token_id.map(|t| *t.as_uuid()))
                    .push_bind(e.operation.clone())
                    .push_bind(e.resource_id)
                    .push_bind(e.request_id.clone())
                    .push_bind(e.outcome.as_str())
                    .push_bind(i64::from(e.status))
                    .push_bind(i64::try_from(e.duration_us).unwrap_or(i64::MAX))
                    .push_bind(e.client_ip.map(|ip| ip.to_string()));
            });
            q.build().execute(self.writer()).await.map_err(db_error)?;
        }
        Ok(())
    }

    async fn audit(&self, trail: Trail, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut q = QueryBuilder::<Db>::new(
            "select id, tenant_id, occurred_at, token_id, operation, resource_id, request_id, \
             outcome, status, duration_us, client_ip from audit_log where ",
        );
        match trail {
            Trail::Tenant(t) => q.push("tenant_id = ").push_bind(*t.as_uuid()),
            Trail::Unauthenticated => q.push("tenant_id is null and token_id is null"),
            Trail::System => q.push("tenant_id is null and token_id is not null"),
        };
        match query.before {
            Some(before) => q.push(" and id < ").push_bind(before),
            None => q.push(" and id > ").push_bind(query.after),
        };
        if let Some(since) = query.since {
            q.push(" and occurred_at >= ").push_bind(micros(since));
        }
        if let Some(until) = query.until {
            q.push(" and occurred_at <= ").push_bind(micros(until));
        }
        for (column, values) in [("request_id", &query.request_ids), ("operation", &query.operations)] {
            if !values.is_empty() {
                q.push(format!(" and {column} in ("));
                let mut list = q.separated(", ");
                for value in values {
                    list.push_bind(value.clone());
                }
                q.push(")");
            }
        }
        if let Some(outcome) = query.outcome {
            q.push(" and outcome = ").push_bind(outcome.as_str());
        }
        if let Some(token) = query.token_id {
            q.push(" and token_id = ").push_bind(*token.as_uuid());
        }
        q.push(if query.before.is_some() { " order by id desc limit " } else { " order by id limit " });
        q.push_bind(i64::from(query.limit));
        let rows = q.build().fetch_all(self.reader()).await.map_err(db_error)?;
        rows.iter().map(audit_entry).collect()
    }

    async fn prune_audit(&self, before: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query("delete from audit_log where occurred_at < $1")
            .bind(micros(before))
            .execute(self.writer())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}

/// Ends `q` (a select with its conditions) as a keyset page: ids after `after`, at most
/// `limit`, in id order.
fn page(q: &mut QueryBuilder<'_, Db>, after: Option<Uuid>, limit: u32) {
    if let Some(after) = after {
        q.push(" and id > ").push_bind(after);
    }
    q.push(" order by id limit ").push_bind(i64::from(limit));
}

/// A token with its tenant's root organization, as a principal.
const PRINCIPAL_SELECT: &str = "select t.tenant_id, t.id, t.scopes, t.expires_at, t.application_id, t.public_key, n.root_organization_id \
     from tokens t join tenants n on n.id = t.tenant_id";

fn principal_view(row: &DbRow) -> Result<Principal> {
    let scopes: String = row.try_get("scopes").map_err(db_error)?;
    Ok(Principal {
        tenant: TenantId::from_uuid(row.try_get("tenant_id").map_err(db_error)?),
        actor: roster_core::Actor::Token(TokenId::from_uuid(row.try_get("id").map_err(db_error)?)),
        root_organization: OrgId::from_uuid(row.try_get("root_organization_id").map_err(db_error)?),
        scopes: scopes.split(' ').filter_map(Scope::parse).collect(),
        expires_at: row.try_get::<Option<i64>, _>("expires_at").map_err(db_error)?.map(from_micros),
        application: row
            .try_get::<Option<Uuid>, _>("application_id")
            .map_err(db_error)?
            .map(ApplicationId::from_uuid),
        public_key: public_key(row)?,
    })
}

/// A token's public key as stored (PEM, checked when the token was made).
fn public_key(row: &DbRow) -> Result<Option<PublicKey>> {
    let pem: Option<String> = row.try_get("public_key").map_err(db_error)?;
    pem.map(|pem| PublicKey::from_pem(&pem).map_err(Error::internal)).transpose()
}

const JOB_COLUMNS: &str =
    "id, tenant_id, kind, state, resource_id, actor, input, progress, attempts, error, created_at, updated_at";

/// Ends run number `attempt` of a running job; a job claimed again since, or already ended in
/// its own transaction, is left as it is.
async fn end_job<'e, E: sqlx::Executor<'e, Database = Db>>(
    executor: E,
    id: JobId,
    attempt: u32,
    state: JobState,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update jobs set state = $3, error = $4, updated_at = $5, locked_until = null \
         where id = $1 and attempts = $2 and state = 'running'",
    )
    .bind(id.as_uuid())
    .bind(i64::from(attempt))
    .bind(state.as_str())
    .bind(error)
    .bind(now)
    .execute(executor)
    .await
    .map_err(db_error)?;
    Ok(())
}


fn job_record(row: &DbRow) -> Result<JobRecord> {
    let kind: String = row.try_get("kind").map_err(db_error)?;
    let state: String = row.try_get("state").map_err(db_error)?;
    let actor: String = row.try_get("actor").map_err(db_error)?;
    let attempts: i64 = row.try_get("attempts").map_err(db_error)?;
    let input: Option<Json<serde_json::Value>> = row.try_get("input").map_err(db_error)?;
    let progress: Option<Json<ImportProgress>> = row.try_get("progress").map_err(db_error)?;
    let bad = |what: &str, value: &str| Error::internal(format!("job {what} {value:?}"));
    Ok(JobRecord {
        job: jobs::Job {
            id: JobId::from_uuid(row.try_get("id").map_err(db_error)?),
            kind: JobKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
            state: JobState::parse(&state).ok_or_else(|| bad("state", &state))?,
            resource_id: row.try_get("resource_id").map_err(db_error)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            error: row.try_get("error").map_err(db_error)?,
            progress: progress.map(|Json(p)| p),
            created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
            updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
        },
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(db_error)?),
        actor: roster_core::Actor::parse(&actor).ok_or_else(|| bad("actor", &actor))?,
        input: input.map(|Json(v)| v),
    })
}

async fn insert_job(tx: &mut Tx<'_>, r: &JobRecord) -> Result<()> {
    let j = &r.job;
    sqlx::query(
        "insert into jobs (id, tenant_id, kind, state, resource_id, actor, attempts, created_at, updated_at, \
         input, progress) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(j.id.as_uuid())
    .bind(r.tenant_id.as_uuid())
    .bind(j.kind.as_str())
    .bind(j.state.as_str())
    .bind(j.resource_id)
    .bind(r.actor.to_string_repr())
    .bind(i64::from(j.attempts))
    .bind(micros(j.created_at))
    .bind(micros(j.updated_at))
    .bind(r.input.as_ref().map(Json))
    .bind(j.progress.as_ref().map(Json))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

const WEBHOOK_SELECT: &str = "select w.id, w.url, w.enabled, w.created_at, w.updated_at, w.format, w.title, w.settings, \
     t.pattern, t.prefix \
     from webhooks w join webhook_event_types t on t.webhook_id = w.id";

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_seq, status, attempts, next_attempt_at, \
     last_status_code, last_error, created_at, updated_at";

fn webhook_view(row: &DbRow) -> Result<Webhook> {
    Ok(Webhook {
        id: WebhookId::from_uuid(row.try_get("id").map_err(db_error)?),
        url: row.try_get("url").map_err(db_error)?,
        event_types: Vec::new(),
        enabled: row.try_get("enabled").map_err(db_error)?,
        format: row.try_get("format").map_err(db_error)?,
        title: row.try_get("title").map_err(db_error)?,
        settings: row
            .try_get::<Option<String>, _>("settings")
            .map_err(db_error)?
            .map(|s| serde_json::from_str(&s).map_err(Error::internal))
            .transpose()?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
    })
}

/// A stored pattern as the webhook names it: the prefix `user.` is `user.*`.
fn type_pattern(row: &DbRow) -> Result<String> {
    let pattern: String = row.try_get("pattern").map_err(db_error)?;
    let prefix: bool = row.try_get("prefix").map_err(db_error)?;
    Ok(if prefix { format!("{pattern}*") } else { pattern })
}

/// Writes a webhook's patterns as the fan-out in `insert_events` matches them: `user.created`
/// exactly, `user.*` as the prefix `user.`, `*` as the empty prefix.
async fn insert_webhook_types(tx: &mut Tx<'_>, w: &Webhook) -> Result<()> {
    let mut q = QueryBuilder::<Db>::new("insert into webhook_event_types (webhook_id, pattern, prefix) ");
    q.push_values(&w.event_types, |mut row, t| {
        let (pattern, prefix) = t.strip_suffix('*').map_or((t.as_str(), false), |p| (p, true));
        row.push_bind(*w.id.as_uuid()).push_bind(pattern.to_owned()).push_bind(prefix);
    });
    q.build().execute(&mut **tx).await.map_err(db_error)?;
    Ok(())
}

fn delivery_view(row: &DbRow) -> Result<Delivery> {
    let status: String = row.try_get("status").map_err(db_error)?;
    let attempts: i64 = row.try_get("attempts").map_err(db_error)?;
    let code: Option<i64> = row.try_get("last_status_code").map_err(db_error)?;
    Ok(Delivery {
        id: row.try_get("id").map_err(db_error)?,
        webhook_id: WebhookId::from_uuid(row.try_get("webhook_id").map_err(db_error)?),
        event_seq: row.try_get("event_seq").map_err(db_error)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| Error::internal(format!("delivery status {status:?}")))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: from_micros(row.try_get("next_attempt_at").map_err(db_error)?),
        last_status_code: code.and_then(|c| u16::try_from(c).ok()),
        last_error: row.try_get("last_error").map_err(db_error)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
    })
}

fn audit_entry(row: &DbRow) -> Result<AuditEntry> {
    let outcome: String = row.try_get("outcome").map_err(db_error)?;
    let status: i64 = row.try_get("status").map_err(db_error)?;
    let duration: i64 = row.try_get("duration_us").map_err(db_error)?;
    let ip: Option<String> = row.try_get("client_ip").map_err(db_error)?;
    Ok(AuditEntry {
        id: row.try_get("id").map_err(db_error)?,
        occurred_at: from_micros(row.try_get("occurred_at").map_err(db_error)?),
        tenant_id: row.try_get::<Option<Uuid>, _>("tenant_id").map_err(db_error)?.map(TenantId::from_uuid),
        token_id: row.try_get::<Option<Uuid>, _>("token_id").map_err(db_error)?.map(TokenId::from_uuid),
        operation: row.try_get("operation").map_err(db_error)?,
        resource_id: row.try_get("resource_id").map_err(db_error)?,
        request_id: row.try_get("request_id").map_err(db_error)?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| Error::internal(format!("audit outcome {outcome:?}")))?,
        status: u16::try_from(status).map_err(Error::internal)?,
        duration_us: u64::try_from(duration).unwrap_or(0),
        client_ip: ip.and_then(|ip| ip.parse().ok()),
    })
}

type Tx<'a> = sqlx::Transaction<'a, Db>;

const TENANT_COLUMNS: &str = "id, name, root_organization_id, created_at";

const ORG_COLUMNS: &str =
    "id, parent_id, technical_name, friendly_name, virtual, type, attributes, created_at, updated_at, version";

/// A recursive common table expression: `subtree(id)` holds organization $2 of tenant $1 and
/// every organization below it.
const SUBTREE: &str = "subtree(id) as (select $2 union all select o.id from organizations o \
     join subtree on o.parent_id = subtree.id where o.tenant_id = $1)";

fn organization_view(row: &DbRow) -> Result<Organization> {
    let get_err = |e| db_error(e);
    Ok(Organization {
        id: OrgId::from_uuid(row.try_get("id").map_err(get_err)?),
        parent_id: row.try_get::<Option<Uuid>, _>("parent_id").map_err(get_err)?.map(OrgId::from_uuid),
        technical_name: row.try_get("technical_name").map_err(get_err)?,
        friendly_name: row.try_get("friendly_name").map_err(get_err)?,
        is_virtual: row.try_get("virtual").map_err(get_err)?,
        kind: row.try_get("type").map_err(get_err)?,
        attributes: row.try_get::<Json<_>, _>("attributes").map_err(get_err)?.0,
        created_at: from_micros(row.try_get("created_at").map_err(get_err)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(get_err)?),
        version: row.try_get("version").map_err(get_err)?,
    })
}

async fn insert_organization(tx: &mut Tx<'_>, t: Uuid, org: &Organization) -> Result<()> {
    let done = sqlx::query(
        "insert into organizations (tenant_id, id, parent_id, technical_name, name_key, friendly_name, \
         virtual, type, attributes, created_at, updated_at, version) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) on conflict do nothing",
    )
    .bind(t)
    .bind(org.id.as_uuid())
    .bind(org.parent_id.map(|p| *p.as_uuid()))
    .bind(&org.technical_name)
    .bind(index::text_key(&org.technical_name))
    .bind(&org.friendly_name)
    .bind(org.is_virtual)
    .bind(&org.kind)
    .bind(Json(&org.attributes))
    .bind(micros(org.created_at))
    .bind(micros(org.updated_at))
    .bind(org.version)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        // Ids are new: the technical name is what is taken.
        Err(Error::Conflict { field: "technical_name".to_owned() })
    }
}

async fn update_organization(tx: &mut Tx<'_>, t: Uuid, org: &Organization, before: i64) -> Result<()> {
    let done = sqlx::query(
        "update organizations set technical_name = $3, name_key = $4, friendly_name = $5, virtual = $6, \
         type = $7, attributes = $8, updated_at = $9, version = $10 \
         where tenant_id = $1 and id = $2 and version = $11",
    )
    .bind(t)
    .bind(org.id.as_uuid())
    .bind(&org.technical_name)
    .bind(index::text_key(&org.technical_name))
    .bind(&org.friendly_name)
    .bind(org.is_virtual)
    .bind(&org.kind)
    .bind(Json(&org.attributes))
    .bind(micros(org.updated_at))
    .bind(org.version)
    .bind(before)
    .execute(&mut **tx)
    .await
    .map_err(|e| unique_is_conflict(e, "technical_name"))?;
    check_org_version(tx, t, org.id, before, done.rows_affected()).await
}

async fn move_organization(tx: &mut Tx<'_>, t: Uuid, org: &Organization, before: i64) -> Result<()> {
    let done = sqlx::query(
        "update organizations set parent_id = $3, updated_at = $4, version = $5 \
         where tenant_id = $1 and id = $2 and version = $6",
    )
    .bind(t)
    .bind(org.id.as_uuid())
    .bind(org.parent_id.map(|p| *p.as_uuid()))
    .bind(micros(org.updated_at))
    .bind(org.version)
    .bind(before)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    check_org_version(tx, t, org.id, before, done.rows_affected()).await?;
    // Concurrent moves in a tenant take turns here (the tenant row is locked until the commit,
    // after the organization rows, in the order every commit takes them), so each sees the
    // others' moves: walking up from the organization, meeting it again is a cycle.
    sqlx::query("update tenants set seq = seq where id = $1")
        .bind(t)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    let cycle = sqlx::query(
        "with recursive up(id) as (select parent_id from organizations where tenant_id = $1 and id = $2 \
         union select o.parent_id from organizations o join up on o.id = up.id \
         where o.tenant_id = $1 and o.parent_id is not null) \
         select 1 from up where id = $2",
    )
    .bind(t)
    .bind(org.id.as_uuid())
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?;
    if cycle.is_some() {
        return Err(Error::Refused("an organization cannot move below itself"));
    }
    Ok(())
}

async fn check_org_version(tx: &mut Tx<'_>, t: Uuid, id: OrgId, before: i64, rows: u64) -> Result<()> {
    if rows == 1 { Ok(()) } else { Err(stale_or_gone(tx, "organizations", "organization", t, *id.as_uuid(), before).await) }
}

/// Why a versioned update of row `id` of `table` touched nothing: `Stale` with the current
/// version, or `NotFound` when the row is gone.
async fn stale_or_gone(tx: &mut Tx<'_>, table: &str, kind: &'static str, t: Uuid, id: Uuid, before: i64) -> Error {
    let current = sqlx::query_scalar::<_, i64>(&format!("select version from {table} where tenant_id = $1 and id = $2"))
        .bind(t)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await;
    match current {
        Ok(Some(current)) => Error::Stale { expected: before, current },
        Ok(None) => Error::NotFound { kind },
        Err(e) => db_error(e),
    }
}

async fn delete_organization(tx: &mut Tx<'_>, t: Uuid, id: OrgId, parent: OrgId) -> Result<()> {
    // Tombstones keep an owner: the parent of what is deleted.
    sqlx::query(&format!(
        "with recursive {SUBTREE} update users set organization_id = $3 \
         where tenant_id = $1 and state = 'deleted' and organization_id in (select id from subtree)"
    ))
    .bind(t)
    .bind(id.as_uuid())
    .bind(parent.as_uuid())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    // Memberships go with their organizations (`on delete cascade`); a live user still owned by
    // one of them fails the foreign key.
    sqlx::query(&format!(
        "with recursive {SUBTREE} delete from organizations where tenant_id = $1 and id in (select id from subtree)"
    ))
    .bind(t)
    .bind(id.as_uuid())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn add_member(tx: &mut Tx<'_>, t: Uuid, org: OrgId, user: UserId, at: OffsetDateTime) -> Result<()> {
    let done = sqlx::query(
        "insert into organization_members (tenant_id, organization_id, user_id, created_at) \
         values ($1, $2, $3, $4) on conflict do nothing",
    )
    .bind(t)
    .bind(org.as_uuid())
    .bind(user.as_uuid())
    .bind(micros(at))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(Error::Conflict { field: "user_id".to_owned() }) }
}

async fn remove_member(tx: &mut Tx<'_>, t: Uuid, org: OrgId, user: UserId) -> Result<()> {
    let done = sqlx::query(
        "delete from organization_members where tenant_id = $1 and organization_id = $2 and user_id = $3",
    )
    .bind(t)
    .bind(org.as_uuid())
    .bind(user.as_uuid())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(Error::NotFound { kind: "membership" }) }
}

/// A unique value (a name) taken by another row of the tenant is a 409 on `field`.
fn unique_is_conflict(e: sqlx::Error, field: &str) -> Error {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return Error::Conflict { field: field.to_owned() };
    }
    db_error(e)
}

const MANDATE_COLUMNS: &str = "id, grantor_user_id, grantor_organization_id, grantee_user_id, \
     grantee_organization_id, role_ids, valid_until, state, created_at, updated_at, version";
const DELEGATION_COLUMNS: &str =
    "id, mandate_id, delegate_user_id, role_ids, valid_until, state, created_at, updated_at";

/// The party in `{side}_user_id` or `{side}_organization_id`.
fn party_of(row: &DbRow, side: &str) -> Result<Party> {
    let user: Option<Uuid> = row.try_get(format!("{side}_user_id").as_str()).map_err(db_error)?;
    let org: Option<Uuid> = row.try_get(format!("{side}_organization_id").as_str()).map_err(db_error)?;
    match (user, org) {
        (Some(u), None) => Ok(Party::User(UserId::from_uuid(u))),
        (None, Some(o)) => Ok(Party::Organization(OrgId::from_uuid(o))),
        _ => Err(Error::internal(format!("a mandate's {side} is not one party"))),
    }
}

fn grant_state(row: &DbRow) -> Result<GrantState> {
    let state: String = row.try_get("state").map_err(db_error)?;
    GrantState::parse(&state).ok_or_else(|| Error::internal(format!("grant state {state}")))
}

fn mandate_view(row: &DbRow) -> Result<Mandate> {
    Ok(Mandate {
        id: MandateId::from_uuid(row.try_get("id").map_err(db_error)?),
        grantor: party_of(row, "grantor")?,
        grantee: party_of(row, "grantee")?,
        role_ids: row.try_get::<Json<Vec<RoleId>>, _>("role_ids").map_err(db_error)?.0,
        valid_until: row.try_get::<Option<i64>, _>("valid_until").map_err(db_error)?.map(from_micros),
        state: grant_state(row)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
        version: row.try_get("version").map_err(db_error)?,
    })
}

fn delegation_view(row: &DbRow) -> Result<Delegation> {
    Ok(Delegation {
        id: DelegationId::from_uuid(row.try_get("id").map_err(db_error)?),
        mandate_id: MandateId::from_uuid(row.try_get("mandate_id").map_err(db_error)?),
        delegate_user_id: UserId::from_uuid(row.try_get("delegate_user_id").map_err(db_error)?),
        role_ids: row.try_get::<Json<Vec<RoleId>>, _>("role_ids").map_err(db_error)?.0,
        valid_until: row.try_get::<Option<i64>, _>("valid_until").map_err(db_error)?.map(from_micros),
        state: grant_state(row)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
    })
}

async fn put_mandate(tx: &mut Tx<'_>, t: Uuid, m: &Mandate, before: Option<i64>) -> Result<()> {
    let Some(before) = before else {
        let user = |p: Party| match p {
            Party::User(id) => Some(*id.as_uuid()),
            Party::Organization(_) => None,
        };
        let org = |p: Party| match p {
            Party::Organization(id) => Some(*id.as_uuid()),
            Party::User(_) => None,
        };
        sqlx::query(
            "insert into mandates (tenant_id, id, grantor_user_id, grantor_organization_id, grantee_user_id, \
             grantee_organization_id, role_ids, valid_until, state, created_at, updated_at, version) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(t)
        .bind(m.id.as_uuid())
        .bind(user(m.grantor))
        .bind(org(m.grantor))
        .bind(user(m.grantee))
        .bind(org(m.grantee))
        .bind(Json(&m.role_ids))
        .bind(m.valid_until.map(micros))
        .bind(m.state.as_str())
        .bind(micros(m.created_at))
        .bind(micros(m.updated_at))
        .bind(m.version)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        return Ok(());
    };
    let done = sqlx::query(
        "update mandates set state = $3, updated_at = $4, version = $5 where tenant_id = $1 and id = $2 and version = $6",
    )
    .bind(t)
    .bind(m.id.as_uuid())
    .bind(m.state.as_str())
    .bind(micros(m.updated_at))
    .bind(m.version)
    .bind(before)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() != 1 {
        return Err(stale_or_gone(tx, "mandates", "mandate", t, *m.id.as_uuid(), before).await);
    }
    if m.state == GrantState::Revoked {
        sqlx::query(
            "update delegations set state = 'revoked', updated_at = $3 \
             where tenant_id = $1 and mandate_id = $2 and state = 'active'",
        )
        .bind(t)
        .bind(m.id.as_uuid())
        .bind(micros(m.updated_at))
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

async fn insert_delegation(tx: &mut Tx<'_>, t: Uuid, d: &Delegation) -> Result<()> {
    // Only under a mandate still active: a concurrent revocation wins.
    let done = sqlx::query(
        "insert into delegations (tenant_id, id, mandate_id, delegate_user_id, role_ids, valid_until, state, \
         created_at, updated_at) select $1, $2, $3, $4, $5, $6, $7, $8, $9 where exists \
         (select 1 from mandates where tenant_id = $1 and id = $3 and state = 'active')",
    )
    .bind(t)
    .bind(d.id.as_uuid())
    .bind(d.mandate_id.as_uuid())
    .bind(d.delegate_user_id.as_uuid())
    .bind(Json(&d.role_ids))
    .bind(d.valid_until.map(micros))
    .bind(d.state.as_str())
    .bind(micros(d.created_at))
    .bind(micros(d.updated_at))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(Error::Refused("the mandate was revoked meanwhile")) }
}

const INVITATION_COLUMNS: &str = "id, email, organization_id, role_ids, user_id, state, expires_at, sent_count, \
     created_at, updated_at, version";

fn invitation_view(row: &DbRow) -> Result<Invitation> {
    let state: String = row.try_get("state").map_err(db_error)?;
    Ok(Invitation {
        id: InvitationId::from_uuid(row.try_get("id").map_err(db_error)?),
        email: row.try_get("email").map_err(db_error)?,
        organization_id: OrgId::from_uuid(row.try_get("organization_id").map_err(db_error)?),
        role_ids: row.try_get::<Json<Vec<RoleId>>, _>("role_ids").map_err(db_error)?.0,
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(db_error)?),
        state: InvitationState::parse(&state).ok_or_else(|| Error::internal(format!("invitation state {state}")))?,
        expires_at: from_micros(row.try_get("expires_at").map_err(db_error)?),
        sent_count: row.try_get("sent_count").map_err(db_error)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
        version: row.try_get("version").map_err(db_error)?,
    })
}

async fn put_invitation(tx: &mut Tx<'_>, t: Uuid, i: &Invitation, before: Option<i64>) -> Result<()> {
    let sql = if before.is_none() {
        "insert into invitations (tenant_id, id, email, organization_id, role_ids, user_id, state, expires_at, \
         sent_count, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    } else {
        "update invitations set state = $7, expires_at = $8, sent_count = $9, updated_at = $11, version = $12 \
         where tenant_id = $1 and id = $2 and email = $3 and organization_id = $4 and role_ids = $5 \
         and user_id = $6 and created_at = $10 and version = $13"
    };
    let mut query = sqlx::query(sql)
        .bind(t)
        .bind(i.id.as_uuid())
        .bind(&i.email)
        .bind(i.organization_id.as_uuid())
        .bind(Json(&i.role_ids))
        .bind(i.user_id.as_uuid())
        .bind(i.state.as_str())
        .bind(micros(i.expires_at))
        .bind(i.sent_count)
        .bind(micros(i.created_at))
        .bind(micros(i.updated_at))
        .bind(i.version);
    if let Some(before) = before {
        query = query.bind(before);
    }
    let done = query.execute(&mut **tx).await.map_err(db_error)?;
    match before {
        Some(before) if done.rows_affected() != 1 => {
            Err(stale_or_gone(tx, "invitations", "invitation", t, *i.id.as_uuid(), before).await)
        }
        _ => Ok(()),
    }
}

const CREDENTIAL_COLUMNS: &str = "id, user_id, type, format, issuer, issued_at, valid_from, valid_until, status, \
     metadata, created_at, updated_at, version";

fn credential_view(row: &DbRow) -> Result<Credential> {
    let at = |column: &str| -> Result<Option<OffsetDateTime>> {
        Ok(row.try_get::<Option<i64>, _>(column).map_err(db_error)?.map(from_micros))
    };
    let status: String = row.try_get("status").map_err(db_error)?;
    Ok(Credential {
        id: CredentialId::from_uuid(row.try_get("id").map_err(db_error)?),
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(db_error)?),
        kind: row.try_get("type").map_err(db_error)?,
        format: row.try_get("format").map_err(db_error)?,
        issuer: row.try_get("issuer").map_err(db_error)?,
        issued_at: at("issued_at")?,
        valid_from: at("valid_from")?,
        valid_until: at("valid_until")?,
        status: CredentialStatus::parse(&status).ok_or_else(|| Error::internal(format!("credential status {status}")))?,
        metadata: row.try_get::<Json<serde_json::Value>, _>("metadata").map_err(db_error)?.0,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
        version: row.try_get("version").map_err(db_error)?,
    })
}

/// Inserts a credential record, or (with the version it replaces) updates it.
async fn write_credential(tx: &mut Tx<'_>, t: Uuid, c: &Credential, before: Option<i64>) -> Result<()> {
    let sql = if before.is_none() {
        "insert into issued_credentials (tenant_id, id, user_id, type, format, issuer, issued_at, valid_from, \
         valid_until, status, metadata, created_at, updated_at, version) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    } else {
        "update issued_credentials set type = $4, format = $5, issuer = $6, issued_at = $7, valid_from = $8, \
         valid_until = $9, status = $10, metadata = $11, updated_at = $13, version = $14 \
         where tenant_id = $1 and id = $2 and user_id = $3 and created_at = $12 and version = $15"
    };
    let mut query = sqlx::query(sql)
        .bind(t)
        .bind(c.id.as_uuid())
        .bind(c.user_id.as_uuid())
        .bind(&c.kind)
        .bind(&c.format)
        .bind(&c.issuer)
        .bind(c.issued_at.map(micros))
        .bind(c.valid_from.map(micros))
        .bind(c.valid_until.map(micros))
        .bind(c.status.as_str())
        .bind(Json(&c.metadata))
        .bind(micros(c.created_at))
        .bind(micros(c.updated_at))
        .bind(c.version);
    if let Some(before) = before {
        query = query.bind(before);
    }
    let done = query.execute(&mut **tx).await.map_err(db_error)?;
    match before {
        Some(before) if done.rows_affected() != 1 => {
            Err(stale_or_gone(tx, "issued_credentials", "credential", t, *c.id.as_uuid(), before).await)
        }
        _ => Ok(()),
    }
}

const APP_COLUMNS: &str = "id, name, description, created_at, updated_at, version";
const MEMBERSHIP_COLUMNS: &str = "application_id, user_id, app_data, external_account_id, created_at, updated_at";

fn application_view(row: &DbRow) -> Result<Application> {
    Ok(Application {
        id: ApplicationId::from_uuid(row.try_get("id").map_err(db_error)?),
        name: row.try_get("name").map_err(db_error)?,
        description: row.try_get("description").map_err(db_error)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
        version: row.try_get("version").map_err(db_error)?,
    })
}

fn membership_view(row: &DbRow) -> Result<AppMembership> {
    Ok(AppMembership {
        application_id: ApplicationId::from_uuid(row.try_get("application_id").map_err(db_error)?),
        user_id: UserId::from_uuid(row.try_get("user_id").map_err(db_error)?),
        app_data: row.try_get::<Json<serde_json::Value>, _>("app_data").map_err(db_error)?.0,
        external_account_id: row.try_get("external_account_id").map_err(db_error)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
    })
}

async fn insert_application(tx: &mut Tx<'_>, t: Uuid, a: &Application) -> Result<()> {
    let done = sqlx::query(
        "insert into applications (tenant_id, id, name, name_key, description, created_at, updated_at, version) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing",
    )
    .bind(t)
    .bind(a.id.as_uuid())
    .bind(&a.name)
    .bind(index::text_key(&a.name))
    .bind(&a.description)
    .bind(micros(a.created_at))
    .bind(micros(a.updated_at))
    .bind(a.version)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(Error::Conflict { field: "name".to_owned() }) }
}

async fn update_application(tx: &mut Tx<'_>, t: Uuid, a: &Application, before: i64) -> Result<()> {
    let done = sqlx::query(
        "update applications set name = $3, name_key = $4, description = $5, updated_at = $6, version = $7 \
         where tenant_id = $1 and id = $2 and version = $8",
    )
    .bind(t)
    .bind(a.id.as_uuid())
    .bind(&a.name)
    .bind(index::text_key(&a.name))
    .bind(&a.description)
    .bind(micros(a.updated_at))
    .bind(a.version)
    .bind(before)
    .execute(&mut **tx)
    .await
    .map_err(|e| unique_is_conflict(e, "name"))?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(stale_or_gone(tx, "applications", "application", t, *a.id.as_uuid(), before).await)
    }
}

async fn put_membership(tx: &mut Tx<'_>, t: Uuid, m: &AppMembership, new: bool) -> Result<()> {
    let sql = if new {
        "insert into application_users (tenant_id, application_id, user_id, app_data, external_account_id, \
         created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing"
    } else {
        "update application_users set app_data = $4, external_account_id = $5, updated_at = $7 \
         where tenant_id = $1 and application_id = $2 and user_id = $3 and created_at = $6"
    };
    let done = sqlx::query(sql)
        .bind(t)
        .bind(m.application_id.as_uuid())
        .bind(m.user_id.as_uuid())
        .bind(Json(&m.app_data))
        .bind(&m.external_account_id)
        .bind(micros(m.created_at))
        .bind(micros(m.updated_at))
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    if done.rows_affected() != 1 {
        // Added, or removed, by a concurrent request meanwhile.
        return Err(Error::Refused("the membership changed meanwhile: try again"));
    }
    if !new {
        sqlx::query("delete from application_user_attrs where tenant_id = $1 and application_id = $2 and user_id = $3")
            .bind(t)
            .bind(m.application_id.as_uuid())
            .bind(m.user_id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    insert_membership_attrs(tx, t, std::slice::from_ref(m)).await
}

/// The migration that gave memberships a value index.
const MEMBERSHIP_INDEX_MIGRATION: i64 = 22;

/// Brings the schema to what this binary knows (`Schema::Migrate`), or checks that it is there
/// (`Schema::AsIs`, for deployments that migrate in a step of their own). A schema newer than
/// the binary knows is refused either way: an older node must not write to it.
async fn prepare_schema(pool: &Pool<Db>, migrator: sqlx::migrate::Migrator, schema: crate::Schema) -> Result<()> {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
        .fetch_one(pool)
        .await
        .unwrap_or(None);
    let applied = applied.unwrap_or(0);
    if applied > known {
        return Err(Error::internal(format!(
            "the database's schema is at version {applied}, newer than this binary knows ({known}): \
             run a release that knows it"
        )));
    }
    match schema {
        crate::Schema::AsIs if applied < known => Err(Error::internal(format!(
            "the database's schema is at version {applied}, this binary needs {known}: run \
             `roster migrate` first, or start without --no-migrate"
        ))),
        crate::Schema::AsIs => Ok(()),
        crate::Schema::Migrate => {
            let indexed = migrated(pool, MEMBERSHIP_INDEX_MIGRATION).await;
            migrator.run(pool).await.map_err(Error::internal)?;
            if !indexed {
                index_memberships(pool).await?;
            }
            Ok(())
        }
    }
}

/// Whether the migration `version` had been applied (not on a new database).
async fn migrated(pool: &Pool<Db>, version: i64) -> bool {
    let applied = sqlx::query("select 1 from _sqlx_migrations where version = $1 and success")
        .bind(version)
        .fetch_optional(pool)
        .await;
    matches!(applied, Ok(Some(_)))
}

/// Indexes the memberships written before their value index existed (run once, when the
/// migration that made it is applied); later ones are indexed as they are written.
async fn index_memberships(pool: &Pool<Db>) -> Result<()> {
    const PAGE: usize = 1000;
    let mut after: Option<(Uuid, Uuid, Uuid)> = None;
    loop {
        let mut q = QueryBuilder::<Db>::new(format!("select tenant_id, {MEMBERSHIP_COLUMNS} from application_users"));
        if let Some((t, a, u)) = after {
            q.push(" where (tenant_id, application_id, user_id) > (").push_bind(t);
            q.push(", ").push_bind(a).push(", ").push_bind(u).push(")");
        }
        q.push(format!(" order by tenant_id, application_id, user_id limit {PAGE}"));
        let rows = q.build().fetch_all(pool).await.map_err(db_error)?;
        let mut tx = pool.begin().await.map_err(db_error)?;
        for row in &rows {
            let tenant: Uuid = row.try_get("tenant_id").map_err(db_error)?;
            let m = membership_view(row)?;
            insert_membership_attrs(&mut tx, tenant, std::slice::from_ref(&m)).await?;
            after = Some((tenant, *m.application_id.as_uuid(), *m.user_id.as_uuid()));
        }
        tx.commit().await.map_err(db_error)?;
        if rows.len() < PAGE {
            return Ok(());
        }
    }
}

/// Indexes the searchable values of memberships (see `roster_core::index::membership_entries`).
async fn insert_membership_attrs(tx: &mut Tx<'_>, t: Uuid, memberships: &[AppMembership]) -> Result<()> {
    let rows: Vec<(&AppMembership, index::AttrEntry)> = memberships
        .iter()
        .flat_map(|m| index::membership_entries(m).into_iter().map(move |e| (m, e)))
        .collect();
    for chunk in rows.chunks(1000) {
        let mut q = QueryBuilder::<Db>::new(
            "insert into application_user_attrs (tenant_id, application_id, user_id, path, elem, value, num) ",
        );
        q.push_values(chunk, |mut row, (m, e)| {
            row.push_bind(t)
                .push_bind(*m.application_id.as_uuid())
                .push_bind(*m.user_id.as_uuid())
                .push_bind(e.path.clone())
                .push_bind(e.elem)
                .push_bind(e.value.clone())
                .push_bind(e.num);
        });
        q.push(" on conflict do nothing");
        q.build().execute(&mut **tx).await.map_err(db_error)?;
    }
    Ok(())
}

const ROLE_COLUMNS: &str = "id, organization_id, name, created_at, updated_at, version";

fn role_view(row: &DbRow) -> Result<Role> {
    Ok(Role {
        id: RoleId::from_uuid(row.try_get("id").map_err(db_error)?),
        organization_id: OrgId::from_uuid(row.try_get("organization_id").map_err(db_error)?),
        name: row.try_get("name").map_err(db_error)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
        version: row.try_get("version").map_err(db_error)?,
    })
}

async fn insert_role(tx: &mut Tx<'_>, t: Uuid, r: &Role) -> Result<()> {
    let done = sqlx::query(
        "insert into roles (tenant_id, id, organization_id, name, name_key, created_at, updated_at, version) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing",
    )
    .bind(t)
    .bind(r.id.as_uuid())
    .bind(r.organization_id.as_uuid())
    .bind(&r.name)
    .bind(index::text_key(&r.name))
    .bind(micros(r.created_at))
    .bind(micros(r.updated_at))
    .bind(r.version)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(Error::Conflict { field: "name".to_owned() }) }
}

async fn update_role(tx: &mut Tx<'_>, t: Uuid, r: &Role, before: i64) -> Result<()> {
    let done = sqlx::query(
        "update roles set name = $3, name_key = $4, updated_at = $5, version = $6 \
         where tenant_id = $1 and id = $2 and version = $7",
    )
    .bind(t)
    .bind(r.id.as_uuid())
    .bind(&r.name)
    .bind(index::text_key(&r.name))
    .bind(micros(r.updated_at))
    .bind(r.version)
    .bind(before)
    .execute(&mut **tx)
    .await
    .map_err(|e| unique_is_conflict(e, "name"))?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(stale_or_gone(tx, "roles", "role", t, *r.id.as_uuid(), before).await) }
}

const GROUP_COLUMNS: &str = "id, name, description, external_id, custom_data, created_at, updated_at, version";

/// The conditions of a group listing, after `where tenant_id = `.
fn push_group_query(q: &mut QueryBuilder<'_, Db>, tenant: TenantId, query: &GroupQuery) {
    q.push_bind(*tenant.as_uuid());
    if let Some(name) = &query.name {
        q.push(" and name_key = ").push_bind(index::text_key(name));
    }
    if let Some(after) = query.after {
        q.push(" and id > ").push_bind(*after.as_uuid());
    }
}

fn group_view(row: &DbRow) -> Result<Group> {
    Ok(Group {
        id: GroupId::from_uuid(row.try_get("id").map_err(db_error)?),
        name: row.try_get("name").map_err(db_error)?,
        description: row.try_get("description").map_err(db_error)?,
        external_id: row.try_get("external_id").map_err(db_error)?,
        custom_data: row.try_get::<Json<serde_json::Value>, _>("custom_data").map_err(db_error)?.0,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
        version: row.try_get("version").map_err(db_error)?,
    })
}

/// Where a member of a group is kept, and its column.
fn member_table(member: Member) -> (&'static str, &'static str) {
    match member {
        Member::User(_) => ("group_users", "user_id"),
        Member::Group(_) => ("group_groups", "member_id"),
    }
}

async fn insert_group(tx: &mut Tx<'_>, t: Uuid, g: &Group) -> Result<()> {
    let done = sqlx::query(
        "insert into groups (tenant_id, id, name, name_key, description, custom_data, created_at, updated_at, version, external_id) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict do nothing",
    )
    .bind(t)
    .bind(g.id.as_uuid())
    .bind(&g.name)
    .bind(index::text_key(&g.name))
    .bind(&g.description)
    .bind(Json(&g.custom_data))
    .bind(micros(g.created_at))
    .bind(micros(g.updated_at))
    .bind(g.version)
    .bind(&g.external_id)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(Error::Conflict { field: "name".to_owned() }) }
}

async fn update_group(tx: &mut Tx<'_>, t: Uuid, g: &Group, before: i64) -> Result<()> {
    let done = sqlx::query(
        "update groups set name = $3, name_key = $4, description = $5, custom_data = $6, updated_at = $7, \
         version = $8, external_id = $10 where tenant_id = $1 and id = $2 and version = $9",
    )
    .bind(t)
    .bind(g.id.as_uuid())
    .bind(&g.name)
    .bind(index::text_key(&g.name))
    .bind(&g.description)
    .bind(Json(&g.custom_data))
    .bind(micros(g.updated_at))
    .bind(g.version)
    .bind(before)
    .bind(&g.external_id)
    .execute(&mut **tx)
    .await
    .map_err(|e| unique_is_conflict(e, "name"))?;
    if done.rows_affected() == 1 { Ok(()) } else { Err(stale_or_gone(tx, "groups", "group", t, *g.id.as_uuid(), before).await) }
}

async fn add_group_member(tx: &mut Tx<'_>, t: Uuid, group: GroupId, member: Member, at: OffsetDateTime) -> Result<()> {
    let (table, column) = member_table(member);
    let done = sqlx::query(&format!(
        "insert into {table} (tenant_id, group_id, {column}, created_at) values ($1, $2, $3, $4) on conflict do nothing"
    ))
    .bind(t)
    .bind(group.as_uuid())
    .bind(member.uuid())
    .bind(micros(at))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict { field: column.to_owned() });
    }
    if let Member::Group(_) = member {
        // As for moving organizations: nesting in a tenant takes turns on the tenant row, then
        // looks for the new member among the groups it now (transitively) belongs to.
        sqlx::query("update tenants set seq = seq where id = $1")
            .bind(t)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        let cycle = sqlx::query(
            "with recursive above(id) as (select group_id from group_groups where tenant_id = $1 and member_id = $2 \
             union select gg.group_id from group_groups gg join above on gg.member_id = above.id \
             where gg.tenant_id = $1) select 1 from above where id = $2",
        )
        .bind(t)
        .bind(member.uuid())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
        if cycle.is_some() {
            return Err(Error::Refused("a group cannot be a member of itself or of a group below it"));
        }
    }
    Ok(())
}

fn tenant_view(row: &DbRow) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId::from_uuid(row.try_get("id").map_err(db_error)?),
        name: row.try_get("name").map_err(db_error)?,
        root_organization_id: OrgId::from_uuid(row.try_get("root_organization_id").map_err(db_error)?),
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
    })
}

const TOKEN_COLUMNS: &str =
    "id, name, scopes, created_at, expires_at, last_used_at, application_id, public_key";

async fn insert_token(tx: &mut Tx<'_>, tenant: TenantId, token: &NewToken) -> Result<()> {
    let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
    sqlx::query(
        "insert into tokens (tenant_id, id, name, secret_hash, scopes, created_at, expires_at, application_id, \
         public_key) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant.as_uuid())
    .bind(token.id.as_uuid())
    .bind(&token.name)
    .bind(&token.secret_hash[..])
    .bind(scopes.join(" "))
    .bind(micros(token.created_at))
    .bind(token.expires_at.map(micros))
    .bind(token.application_id.map(|a| *a.as_uuid()))
    .bind(token.public_key.as_ref().map(PublicKey::to_pem))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn token_view(row: &DbRow) -> Result<Token> {
    let scopes: String = row.try_get("scopes").map_err(db_error)?;
    Ok(Token {
        id: TokenId::from_uuid(row.try_get("id").map_err(db_error)?),
        name: row.try_get("name").map_err(db_error)?,
        scopes: scopes.split(' ').filter_map(Scope::parse).collect(),
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        expires_at: row.try_get::<Option<i64>, _>("expires_at").map_err(db_error)?.map(from_micros),
        last_used_at: row.try_get::<Option<i64>, _>("last_used_at").map_err(db_error)?.map(from_micros),
        application_id: row
            .try_get::<Option<Uuid>, _>("application_id")
            .map_err(db_error)?
            .map(ApplicationId::from_uuid),
        public_key: public_key(row)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Group commit. One writer task per store applies every change: it takes the jobs waiting in its
// queue (up to `MAX_BATCH`), applies each in a savepoint of one transaction, and commits them
// with a single synced write. A job that fails rolls back its own savepoint only. Concurrent
// writers thus share one fsync instead of queueing for one each, and durability is untouched.

/// Spawns the writer that owns all writes of `pool`.
/// Starts the writer task; `feed` ticks after every committed batch (long-polling readers wait
/// for it).
fn spawn_writer(pool: sqlx::Pool<Db>, feed: tokio::sync::watch::Sender<u64>, wake: Wake) -> tokio::sync::mpsc::Sender<Job> {
    let (queue, mut jobs) = tokio::sync::mpsc::channel::<Job>(4 * MAX_BATCH);
    tokio::spawn(async move {
        while let Some(first) = jobs.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            match apply_with_retries(&pool, &batch).await {
                Ok((results, work)) => {
                    feed.send_modify(|n| *n = n.wrapping_add(1));
                    work.wake(&wake.jobs, &wake.deliveries);
                    for (job, result) in batch.into_iter().zip(results) {
                        let _ = job.reply.send(Ok(result));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, jobs = batch.len(), "write batch failed");
                    for job in batch {
                        let _ = job.reply.send(Err(batch_failure(&e)));
                    }
                }
            }
        }
    });
    queue
}

/// The watches that wake this node's workers: each ticks when a commit (this node's, or
/// another's as notified) left work for them.
#[derive(Clone, Default)]
struct Wake {
    jobs: tokio::sync::watch::Sender<u64>,
    deliveries: tokio::sync::watch::Sender<u64>,
}

/// The channel on which a node tells the others it committed events.
const FEED_CHANNEL: &str = "roster_feed";
/// The channel of [`roster_core::store::Hint`]s: `token:<id>`, `tenant:<id>`.
const HINT_CHANNEL: &str = "roster_hints";

/// Tells the other nodes on `channel` when `tx` commits (PostgreSQL's `NOTIFY` is delivered
/// then, or never if it rolls back); nothing where one node writes the database.
async fn notify(tx: &mut sqlx::Transaction<'_, Db>, channel: &str, payload: &str) -> Result<()> {
    if NOTIFY {
        sqlx::query("select pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Most times a batch is tried again after the database rolled it back for a conflict with a
/// concurrent transaction (another node's writer).
const MAX_BATCH_RETRIES: u32 = 8;

/// [`apply_batch`], tried again when the database rolled it back for a deadlock or a
/// serialization failure (SQLSTATE 40P01, 40001: another node's writer took the same rows in
/// another order). Nothing of a rolled-back batch was written, so trying it again is safe;
/// when the retries run out the jobs hear `Unavailable` (a 503 with `Retry-After`).
async fn apply_with_retries(pool: &sqlx::Pool<Db>, batch: &[Job]) -> Result<(Vec<Vec<Result<()>>>, Work)> {
    let mut retries = 0;
    loop {
        match apply_batch(pool, batch).await {
            Err(e) if crate::rolled_back(&e) && retries < MAX_BATCH_RETRIES => {
                retries += 1;
                tracing::warn!(error = %e, retries, "write batch rolled back by the database; retrying");
                // Apart, so that the writers that collided do not collide again.
                let pause = fastrand::u64(1..=(1 << retries.min(6)));
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            outcome => return outcome,
        }
    }
}

/// Applies every job of `batch` in one transaction; per job (in `batch`'s order), the result
/// of each change. The jobs are applied in [`lock_order`]; the events of the changes that were
/// applied join the feed last, numbered in that order, each tenant's feed row locked in
/// tenant-id order, so that writers on several nodes never wait for each other in a cycle.
async fn apply_batch(pool: &sqlx::Pool<Db>, batch: &[Job]) -> Result<(Vec<Vec<Result<()>>>, Work)> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    // Every node takes row locks in one global order (tenant, then the user a job changes), so
    // two nodes' batches touching the same users wait for each other instead of deadlocking.
    // The sort is stable: two jobs on one user keep their arrival order.
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by_key(|&i| lock_order(&batch[i]));
    // A burst of single creates in one tenant (concurrent `POST /v1/users`) goes in one set of
    // multi-row statements; if any of them fails, every job is applied on its own below.
    let tenant = batch.first().map(|job| job.tenant);
    let burst: Vec<&Change> = batch
        .iter()
        .filter(|job| Some(job.tenant) == tenant && job.changes.len() == 1)
        .flat_map(|job| job.changes.iter().filter(|c| creates_only(c)))
        .collect();
    let all = match tenant {
        Some(tenant)
            if burst.len() == batch.len()
                && batch.len() > 1
                && try_creates(&mut tx, *tenant.as_uuid(), &burst).await? =>
        {
            batch.iter().map(|_| vec![Ok(())]).collect()
        }
        _ => {
            let mut all: Vec<Vec<Result<()>>> = batch.iter().map(|_| Vec::new()).collect();
            for &i in &order {
                all[i] = apply_job(&mut tx, &batch[i]).await?;
            }
            all
        }
    };
    let mut feed: Vec<(TenantId, Vec<&NewEvent>)> = Vec::new();
    for (job, results) in order.iter().map(|&i| (&batch[i], &all[i])) {
        let applied = job.changes.iter().zip(results).filter(|(_, r)| r.is_ok());
        let events = applied.flat_map(|(change, _)| &change.events);
        match feed.iter_mut().find(|(t, _)| *t == job.tenant) {
            Some((_, list)) => list.extend(events),
            None => feed.push((job.tenant, events.collect())),
        }
    }
    feed.sort_by_key(|(tenant, _)| *tenant.as_uuid());
    let mut work = Work::default();
    for (tenant, events) in &feed {
        work.deliveries |= insert_events(&mut tx, *tenant.as_uuid(), events).await? > 0;
    }
    work.jobs = batch.iter().zip(&all).any(|(job, results)| {
        let applied = job.changes.iter().zip(results).filter(|(_, r)| r.is_ok());
        applied.flat_map(|(c, _)| &c.writes).any(|w| matches!(w, Write::CreateJob { .. }))
    });
    if feed.iter().any(|(_, events)| !events.is_empty()) || work.jobs {
        notify(&mut tx, FEED_CHANNEL, &work.flags()).await?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok((all, work))
}

/// Where a job's row locks fall in the order every node takes them: its tenant, then the first
/// user it creates or replaces (jobs that change no user first).
fn lock_order(job: &Job) -> (Uuid, Option<Uuid>) {
    let user = job.changes.iter().flat_map(|c| &c.writes).find_map(|w| match w {
        Write::CreateUser { record } | Write::UpdateUser { record, .. } => Some(*record.user.id.as_uuid()),
        _ => None,
    });
    (*job.tenant.as_uuid(), user)
}

/// What a committed batch left for the workers: jobs to run, webhook deliveries to send.
#[derive(Debug, Default, Clone, Copy)]
struct Work {
    jobs: bool,
    deliveries: bool,
}

impl Work {
    /// As a notification's payload: `j` for jobs, `d` for deliveries.
    fn flags(self) -> String {
        [(self.jobs, 'j'), (self.deliveries, 'd')].iter().filter(|(on, _)| *on).map(|(_, c)| *c).collect()
    }

    /// Ticks the watches of the workers that have something to do.
    fn wake(self, jobs: &tokio::sync::watch::Sender<u64>, deliveries: &tokio::sync::watch::Sender<u64>) {
        for (on, watch) in [(self.jobs, jobs), (self.deliveries, deliveries)] {
            if on {
                watch.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}

/// Applies one job in a savepoint of `tx`: all or nothing when it is atomic (or a single
/// change), else each change in a savepoint of its own.
async fn apply_job(tx: &mut Tx<'_>, job: &Job) -> Result<Vec<Result<()>>> {
    use sqlx::Acquire as _;
    let t = *job.tenant.as_uuid();
    let mut job_tx = tx.begin().await.map_err(db_error)?;
    // Fast path for bulk creates: all at once; on any failure, one by one below.
    if job.changes.len() > 1
        && job.changes.iter().all(creates_only)
        && try_creates(&mut job_tx, t, &job.changes.iter().collect::<Vec<_>>()).await?
    {
        job_tx.commit().await.map_err(db_error)?;
        return Ok(job.changes.iter().map(|_| Ok(())).collect());
    }
    let mut results = Vec::with_capacity(job.changes.len());
    if job.atomic || job.changes.len() == 1 {
        for change in &job.changes {
            let failed = results.iter().any(Result::is_err);
            results.push(if failed { Err(Error::Aborted) } else { own(apply(&mut job_tx, t, change).await)? });
        }
        if results.iter().any(Result::is_err) {
            job_tx.rollback().await.map_err(db_error)?;
            for r in &mut results {
                if r.is_ok() {
                    *r = Err(Error::Aborted);
                }
            }
            return Ok(results);
        }
    } else {
        for change in &job.changes {
            let mut change_tx = job_tx.begin().await.map_err(db_error)?;
            let result = own(apply(&mut change_tx, t, change).await)?;
            match result {
                Ok(()) => change_tx.commit().await.map_err(db_error)?,
                Err(_) => change_tx.rollback().await.map_err(db_error)?,
            }
            results.push(result);
        }
    }
    job_tx.commit().await.map_err(db_error)?;
    Ok(results)
}

/// A change's own outcome, or the batch's failure when the database rolled it back in a
/// deadlock or serialization race: then the whole batch runs again ([`apply_with_retries`]).
fn own(result: Result<()>) -> Result<Result<()>> {
    match result {
        Err(e) if crate::rolled_back(&e) => Err(e),
        result => Ok(result),
    }
}

/// Applies create-only `changes` as one multi-row write in a savepoint of `tx`: `true` when it
/// worked, `false` (and nothing written) when any of them failed.
async fn try_creates(tx: &mut Tx<'_>, t: Uuid, changes: &[&Change]) -> Result<bool> {
    use sqlx::Acquire as _;
    let mut fast = tx.begin().await.map_err(db_error)?;
    if apply_creates(&mut fast, t, changes).await.is_ok() {
        fast.commit().await.map_err(db_error)?;
        Ok(true)
    } else {
        fast.rollback().await.map_err(db_error)?;
        Ok(false)
    }
}

/// What every job of a batch hears when the batch as a whole failed.
fn batch_failure(e: &Error) -> Error {
    match e {
        Error::Unavailable(_) => Error::Unavailable(e.to_string().into()),
        _ => Error::internal(format!("write batch failed: {e}")),
    }
}

/// Applies the writes of one change inside the caller's transaction (or savepoint); its events
/// are the batch's to append.
async fn apply(tx: &mut Tx<'_>, t: Uuid, change: &Change) -> Result<()> {
    if let Some(idem) = &change.idempotency {
        // Claims the key, or takes it over when it has expired.
        let claimed = sqlx::query(
            "insert into idempotency_keys (tenant_id, key, fingerprint, user_id, response, expires_at) \
             values ($1, $2, $3, $4, $5, $6) \
             on conflict (tenant_id, key) do update set fingerprint = excluded.fingerprint, \
             user_id = excluded.user_id, response = excluded.response, expires_at = excluded.expires_at \
             where idempotency_keys.expires_at <= $7 \
             returning key",
        )
        .bind(t)
        .bind(&idem.key)
        .bind(&idem.fingerprint[..])
        .bind(idem.user_id.as_uuid())
        .bind(Json(&idem.response))
        .bind(micros(idem.expires_at))
        .bind(micros(idem.expires_at - roster_core::directory::IDEMPOTENCY_TTL))
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
        if claimed.is_none() {
            return Err(Error::IdempotencyMismatch);
        }
    }
    for write in &change.writes {
        match write {
            Write::CreateUser { record } => insert_users(tx, t, &[record]).await?,
            Write::UpdateUser { record, before } => update_user(tx, t, record, before).await?,
            Write::CreateJob { job } => insert_job(tx, job).await?,
            Write::PutVerificationCode { user, record } => {
                sqlx::query(
                    "insert into verification_codes (tenant_id, user_id, purpose, code_hash, target, expires_at) \
                     values ($1, $2, $3, $4, $5, $6) on conflict (tenant_id, user_id, purpose) do update \
                     set code_hash = excluded.code_hash, target = excluded.target, expires_at = excluded.expires_at",
                )
                .bind(t)
                .bind(user.as_uuid())
                .bind(record.purpose.as_str())
                .bind(&record.code_hash)
                .bind(&record.target)
                .bind(micros(record.expires_at))
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
            Write::DeleteVerificationCode { user, purpose } => {
                sqlx::query("delete from verification_codes where tenant_id = $1 and user_id = $2 and purpose = $3")
                    .bind(t)
                    .bind(user.as_uuid())
                    .bind(purpose.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Write::FinishJob { id, attempt, state, error, at } => {
                end_job(&mut **tx, *id, *attempt, *state, error.as_deref(), micros(*at)).await?;
            }
            Write::CreateOrganization { org } => insert_organization(tx, t, org).await?,
            Write::UpdateOrganization { org, before_version } => {
                update_organization(tx, t, org, *before_version).await?;
            }
            Write::MoveOrganization { org, before_version } => {
                move_organization(tx, t, org, *before_version).await?;
            }
            Write::DeleteOrganization { id, parent } => delete_organization(tx, t, *id, *parent).await?,
            Write::AddMember { organization, user, at } => {
                add_member(tx, t, *organization, *user, *at).await?;
            }
            Write::RemoveMember { organization, user } => remove_member(tx, t, *organization, *user).await?,
            Write::PutMandate { mandate, before_version } => put_mandate(tx, t, mandate, *before_version).await?,
            Write::CreateDelegation { delegation } => insert_delegation(tx, t, delegation).await?,
            Write::PutInvitation { invitation, before_version } => {
                put_invitation(tx, t, invitation, *before_version).await?;
            }
            Write::CreateCredential { credential } => write_credential(tx, t, credential, None).await?,
            Write::UpdateCredential { credential, before_version } => {
                write_credential(tx, t, credential, Some(*before_version)).await?;
            }
            Write::DeleteCredential { id } => {
                sqlx::query("delete from issued_credentials where tenant_id = $1 and id = $2")
                    .bind(t)
                    .bind(id.as_uuid())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Write::CreateApplication { app } => insert_application(tx, t, app).await?,
            Write::UpdateApplication { app, before_version } => update_application(tx, t, app, *before_version).await?,
            Write::DeleteApplication { id } => {
                sqlx::query("delete from applications where tenant_id = $1 and id = $2")
                    .bind(t)
                    .bind(id.as_uuid())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                sqlx::query("update tokens set application_id = null where tenant_id = $1 and application_id = $2")
                    .bind(t)
                    .bind(id.as_uuid())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Write::PutAppMembership { membership, new } => put_membership(tx, t, membership, *new).await?,
            Write::RemoveAppMembership { application, user } => {
                sqlx::query("delete from application_users where tenant_id = $1 and application_id = $2 and user_id = $3")
                    .bind(t)
                    .bind(application.as_uuid())
                    .bind(user.as_uuid())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Write::CreateRole { role } => insert_role(tx, t, role).await?,
            Write::UpdateRole { role, before_version } => update_role(tx, t, role, *before_version).await?,
            Write::DeleteRole { id } => {
                sqlx::query("delete from roles where tenant_id = $1 and id = $2")
                    .bind(t)
                    .bind(id.as_uuid())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Write::AssignRole { user, role, at } => {
                let done = sqlx::query(
                    "insert into user_roles (tenant_id, user_id, role_id, created_at) values ($1, $2, $3, $4) \
                     on conflict do nothing",
                )
                .bind(t)
                .bind(user.as_uuid())
                .bind(role.as_uuid())
                .bind(micros(*at))
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
                if done.rows_affected() != 1 {
                    return Err(Error::Conflict { field: "role_id".to_owned() });
                }
            }
            Write::UnassignRole { user, role } => {
                sqlx::query("delete from user_roles where tenant_id = $1 and user_id = $2 and role_id = $3")
                    .bind(t)
                    .bind(user.as_uuid())
                    .bind(role.as_uuid())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Write::CreateGroup { group } => insert_group(tx, t, group).await?,
            Write::UpdateGroup { group, before_version } => update_group(tx, t, group, *before_version).await?,
            Write::DeleteGroup { id } => {
                sqlx::query("delete from groups where tenant_id = $1 and id = $2")
                    .bind(t)
                    .bind(id.as_uuid())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Write::AddGroupMember { group, member, at } => add_group_member(tx, t, *group, *member, *at).await?,
            Write::RemoveGroupMember { group, member } => {
                let (table, column) = member_table(*member);
                sqlx::query(&format!("delete from {table} where tenant_id = $1 and group_id = $2 and {column} = $3"))
                    .bind(t)
                    .bind(group.as_uuid())
                    .bind(member.uuid())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
        }
    }
    Ok(())
}

/// Whether `change` only creates users (and claims no idempotency key).
fn creates_only(change: &Change) -> bool {
    change.idempotency.is_none() && change.writes.iter().all(|w| matches!(w, Write::CreateUser { .. }))
}

/// Applies many create-only changes with a handful of multi-row statements instead of several
/// statements each. Fails as a whole on the first conflict; the caller then applies the changes
/// one by one to tell which failed.
async fn apply_creates(tx: &mut Tx<'_>, t: Uuid, changes: &[&Change]) -> Result<()> {
    let records: Vec<&UserRecord> = changes
        .iter()
        .flat_map(|c| &c.writes)
        .filter_map(|w| match w {
            Write::CreateUser { record } => Some(&**record),
            _ => None,
        })
        .collect();
    insert_users(tx, t, &records).await
}

/// Inserts `records` (multi-row statements), claims their unique keys and indexes their values.
async fn insert_users(tx: &mut Tx<'_>, t: Uuid, records: &[&UserRecord]) -> Result<()> {
    // 500 rows of 20 values stay under both engines' bound-parameter limits.
    for chunk in records.chunks(500) {
        let mut q = QueryBuilder::<Db>::new(
            "insert into users (tenant_id, id, kind, state, username, organization_id, profile, \
             password_hash, password_change_required, password_changed_at, national_id_hash, secret_hash, \
             created_at, updated_at, last_auth_at, version, username_key, email_key, family_name_key, phone_key) ",
        );
        q.push_values(chunk, |mut row, r| {
            let u = &r.user;
            let keys = index::sort_keys(u);
            row.push_bind(t)
                .push_bind(*u.id.as_uuid())
                .push_bind(u.kind.as_str())
                .push_bind(u.state.as_str())
                .push_bind(u.username.clone())
                .push_bind(*u.organization_id.as_uuid())
                .push_bind(Json(u.profile.clone()))
                .push_bind(r.password_hash.clone())
                .push_bind(u.password.change_required)
                .push_bind(u.password.changed_at.map(micros))
                .push_bind(r.national_id_hash.clone())
                .push_bind(r.secret_hash.clone())
                .push_bind(micros(u.created_at))
                .push_bind(micros(u.updated_at))
                .push_bind(u.last_auth_at.map(micros))
                .push_bind(u.version)
                .push_bind(keys.username)
                .push_bind(keys.email)
                .push_bind(keys.family_name)
                .push_bind(keys.phone);
        });
        q.build().execute(&mut **tx).await.map_err(db_error)?;
    }
    let keys: Vec<(UserId, UserKey)> =
        records.iter().flat_map(|r| index::keys(&r.user).into_iter().map(|k| (r.user.id, k))).collect();
    claim_keys(tx, t, &keys).await?;
    let entries: Vec<(UserId, index::AttrEntry)> =
        records.iter().flat_map(|r| index::entries(&r.user).into_iter().map(|e| (r.user.id, e))).collect();
    insert_attrs(tx, t, &entries).await
}

/// Replaces `before` with `r` if it is still at `before`'s version and failure count. Only the
/// unique keys and indexed values that differ are written: a state change touches one row.
async fn update_user(tx: &mut Tx<'_>, t: Uuid, r: &UserRecord, before: &UserRecord) -> Result<()> {
    let u = &r.user;
    let keys = index::sort_keys(u);
    let done = sqlx::query(
        "update users set state = $3, username = $4, organization_id = $5, profile = $6, \
         password_hash = $7, password_change_required = $8, password_changed_at = $9, \
         national_id_hash = $10, secret_hash = $11, updated_at = $12, last_auth_at = $13, version = $14, \
         username_key = $16, email_key = $17, family_name_key = $18, phone_key = $19, password_failures = $20 \
         where tenant_id = $1 and id = $2 and version = $15 and password_failures = $21",
    )
    .bind(t)
    .bind(u.id.as_uuid())
    .bind(u.state.as_str())
    .bind(&u.username)
    .bind(u.organization_id.as_uuid())
    .bind(Json(&u.profile))
    .bind(&r.password_hash)
    .bind(u.password.change_required)
    .bind(u.password.changed_at.map(micros))
    .bind(&r.national_id_hash)
    .bind(&r.secret_hash)
    .bind(micros(u.updated_at))
    .bind(u.last_auth_at.map(micros))
    .bind(u.version)
    .bind(before.user.version)
    .bind(keys.username)
    .bind(keys.email)
    .bind(keys.family_name)
    .bind(keys.phone)
    .bind(i64::from(r.password_failures))
    .bind(i64::from(before.password_failures))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 && u.state == UserState::Deleted && before.user.state != UserState::Deleted {
        // A tombstone is a member of nothing.
        // Mandates it gave or received end, with their delegations, and so do delegations to it
        // (the `user.deleted` event says so for all of them).
        let at = micros(u.updated_at);
        sqlx::query(
            "update delegations set state = 'revoked', updated_at = $3 where tenant_id = $1 and state = 'active' \
             and (delegate_user_id = $2 or mandate_id in (select id from mandates where tenant_id = $1 \
             and (grantor_user_id = $2 or grantee_user_id = $2)))",
        )
        .bind(t)
        .bind(u.id.as_uuid())
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "update mandates set state = 'revoked', updated_at = $3, version = version + 1 \
             where tenant_id = $1 and state = 'active' and (grantor_user_id = $2 or grantee_user_id = $2)",
        )
        .bind(t)
        .bind(u.id.as_uuid())
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        // Its credentials' records stay (issued credentials stay valid), without their metadata.
        sqlx::query("update issued_credentials set metadata = $3 where tenant_id = $1 and user_id = $2")
            .bind(t)
            .bind(u.id.as_uuid())
            .bind(Json(serde_json::json!({})))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        for table in ["organization_members", "group_users", "user_roles", "application_users", "verification_codes"] {
            sqlx::query(&format!("delete from {table} where tenant_id = $1 and user_id = $2"))
                .bind(t)
                .bind(u.id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
    }
    if done.rows_affected() != 1 {
        let current: Option<i64> = sqlx::query_scalar("select version from users where tenant_id = $1 and id = $2")
            .bind(t)
            .bind(u.id.as_uuid())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
        return Err(match current {
            Some(current) => Error::Stale { expected: before.user.version, current },
            None => Error::NotFound { kind: "user" },
        });
    }
    // Unique keys: release the ones the user no longer holds, then claim the new ones.
    let (old_keys, new_keys) = (index::keys(&before.user), index::keys(u));
    let same = |a: &UserKey, b: &UserKey| a.kind == b.kind && a.value == b.value;
    for gone in old_keys.iter().filter(|k| !new_keys.iter().any(|n| same(k, n))) {
        sqlx::query("delete from user_keys where tenant_id = $1 and kind = $2 and value = $3 and user_id = $4")
            .bind(t)
            .bind(gone.kind.as_str())
            .bind(&gone.value)
            .bind(u.id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    let added: Vec<(UserId, UserKey)> =
        new_keys.into_iter().filter(|n| !old_keys.iter().any(|k| same(k, n))).map(|k| (u.id, k)).collect();
    claim_keys(tx, t, &added).await?;
    // Indexed values: the same, one statement per removed value; all at once when most change.
    let (old, new) = (index::entries(&before.user), index::entries(u));
    let gone: Vec<&index::AttrEntry> = old.iter().filter(|e| !new.contains(e)).collect();
    let added: Vec<(UserId, index::AttrEntry)> =
        new.iter().filter(|e| !old.contains(e)).map(|e| (u.id, e.clone())).collect();
    if gone.len() > REWRITE_ATTRS_ABOVE {
        sqlx::query("delete from user_attrs where tenant_id = $1 and user_id = $2")
            .bind(t)
            .bind(u.id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        insert_attrs(tx, t, &new.into_iter().map(|e| (u.id, e)).collect::<Vec<_>>()).await?;
    } else {
        for e in gone {
            sqlx::query("delete from user_attrs where tenant_id = $1 and user_id = $2 and path = $3 and elem = $4 and value = $5")
                .bind(t)
                .bind(u.id.as_uuid())
                .bind(&e.path)
                .bind(e.elem)
                .bind(&e.value)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        insert_attrs(tx, t, &added).await?;
    }
    if u.state == UserState::Deleted {
        sqlx::query("delete from idempotency_keys where tenant_id = $1 and user_id = $2")
            .bind(t)
            .bind(u.id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Beyond this many changed values, an update rewrites a user's whole index entry.
const REWRITE_ATTRS_ABOVE: usize = 4;

/// Indexes searchable values, each of its user (see `roster_core::index`).
async fn insert_attrs(tx: &mut Tx<'_>, t: Uuid, entries: &[(UserId, index::AttrEntry)]) -> Result<()> {
    for chunk in entries.chunks(1000) {
        let mut q = QueryBuilder::<Db>::new("insert into user_attrs (tenant_id, user_id, path, elem, value, num) ");
        q.push_values(chunk, |mut row, (user, e)| {
            row.push_bind(t)
                .push_bind(*user.as_uuid())
                .push_bind(e.path.clone())
                .push_bind(e.elem)
                .push_bind(e.value.clone())
                .push_bind(e.num);
        });
        // A user's identical values (nested arrays) are one row.
        q.push(" on conflict do nothing");
        q.build().execute(&mut **tx).await.map_err(db_error)?;
    }
    Ok(())
}

/// Claims unique `keys`, each for its user; a key already held (by another user, or twice in
/// `keys`) is a conflict naming its field.
async fn claim_keys(tx: &mut Tx<'_>, t: Uuid, keys: &[(UserId, UserKey)]) -> Result<()> {
    let mut claimed = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(1000) {
        let mut q = QueryBuilder::<Db>::new("insert into user_keys (tenant_id, kind, value, user_id) ");
        q.push_values(chunk, |mut row, (user, key)| {
            row.push_bind(t).push_bind(key.kind.as_str()).push_bind(key.value.clone()).push_bind(*user.as_uuid());
        });
        q.push(" on conflict do nothing returning kind, value, user_id");
        for row in q.build().fetch_all(&mut **tx).await.map_err(db_error)? {
            let kind: String = row.try_get("kind").map_err(db_error)?;
            let value: String = row.try_get("value").map_err(db_error)?;
            let user: Uuid = row.try_get("user_id").map_err(db_error)?;
            claimed.push((kind, value, user));
        }
    }
    if claimed.len() == keys.len() {
        return Ok(());
    }
    let taken = keys
        .iter()
        .find(|(user, k)| {
            !claimed.iter().any(|(kind, value, u)| kind == k.kind.as_str() && *value == k.value && u == user.as_uuid())
        })
        .map_or_else(|| "username".to_owned(), |(_, k)| k.field.clone());
    Err(Error::Conflict { field: taken })
}

/// Appends `events` to the tenant's feed. The sequence numbers come from the tenant row, whose
/// lock is held until commit: numbers are gap-free and commit in order, so a reader of the feed
/// never skips an event that commits later with a smaller number.
/// Appends `events` to the tenant's feed, with their webhook deliveries; how many deliveries.
async fn insert_events(tx: &mut Tx<'_>, t: Uuid, events: &[&NewEvent]) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let n = i64::try_from(events.len()).map_err(Error::internal)?;
    let last: i64 = sqlx::query_scalar("update tenants set seq = seq + $2 where id = $1 returning seq")
        .bind(t)
        .bind(n)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error)?;
    let mut q = QueryBuilder::<Db>::new(
        "insert into events (tenant_id, seq, kind, resource_type, resource_id, version, actor, occurred_at, data) ",
    );
    let mut seq = last - n;
    q.push_values(events, |mut row, e| {
        seq += 1;
        row.push_bind(t)
            .push_bind(seq)
            .push_bind(e.kind)
            .push_bind(e.resource_type)
            .push_bind(e.resource_id)
            .push_bind(e.version)
            .push_bind(e.actor.to_string_repr())
            .push_bind(micros(e.occurred_at))
            .push_bind(Json(e.data.clone()));
    });
    q.build().execute(&mut **tx).await.map_err(db_error)?;
    // The outbox: a delivery for every enabled webhook of the tenant that wants each event.
    let at = events.last().map_or(0, |e| micros(e.occurred_at));
    let deliveries = sqlx::query(
        "insert into webhook_deliveries \
         (tenant_id, webhook_id, event_seq, status, attempts, next_attempt_at, created_at, updated_at) \
         select e.tenant_id, w.id, e.seq, 'pending', 0, $3, $3, $3 \
         from events e join webhooks w on w.tenant_id = e.tenant_id \
         where e.tenant_id = $1 and e.seq > $2 and w.enabled and exists ( \
             select 1 from webhook_event_types t where t.webhook_id = w.id and \
             ((t.prefix and substr(e.kind, 1, length(t.pattern)) = t.pattern) \
              or (not t.prefix and t.pattern = e.kind))) \
         order by e.seq, w.id",
    )
    .bind(t)
    .bind(last - n)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(deliveries.rows_affected())
}

// ---------------------------------------------------------------------------------------------
// Query compiler: a resolved `Cond` to SQL text with bound parameters. Every value goes through
// `push_bind`; only column names, operators and constant fragments are written as text.

fn push_where(q: &mut QueryBuilder<'_, Db>, tenant: TenantId, query: &UserQuery) {
    q.push("u.tenant_id = ").push_bind(*tenant.as_uuid());
    if !query.include_deleted {
        q.push(" and u.state <> 'deleted'");
    }
    if let Some(cond) = &query.cond {
        q.push(" and (");
        push_cond(q, tenant, cond);
        q.push(")");
    }
}

fn push_cond(q: &mut QueryBuilder<'_, Db>, tenant: TenantId, cond: &Cond) {
    match cond {
        Cond::And(a, b) | Cond::Or(a, b) => {
            q.push("(");
            push_cond(q, tenant, a);
            q.push(if matches!(cond, Cond::And(..)) { ") and (" } else { ") or (" });
            push_cond(q, tenant, b);
            q.push(")");
        }
        Cond::Not(x) => {
            q.push("not (");
            push_cond(q, tenant, x);
            q.push(")");
        }
        Cond::ColumnSet(c) => {
            q.push(column_name(*c)).push(" is not null");
        }
        Cond::Column(c, op, operand) => {
            q.push(column_name(*c)).push(sql_operator(*op));
            match operand {
                Operand::Text(s) => q.push_bind(s.clone()),
                Operand::Int(n) => q.push_bind(*n),
                Operand::Uuid(u) => q.push_bind(*u),
            };
        }
        Cond::AttrPresent(_) | Cond::Attr { .. } => {
            // Users holding a matching value, found through the (tenant, path, value) index.
            q.push("u.id in (select a.user_id from user_attrs a where a.tenant_id = ").push_bind(*tenant.as_uuid());
            q.push(" and ");
            push_attr(q, "a", cond);
            q.push(")");
        }
        Cond::Organization { id, recursive, members } => {
            let t = *tenant.as_uuid();
            let push_orgs = |q: &mut QueryBuilder<'_, Db>| {
                if *recursive {
                    q.push(" in (with recursive subtree(id) as (select ").push_bind(*id.as_uuid());
                    q.push(" union all select o.id from organizations o join subtree on o.parent_id = subtree.id \
                            where o.tenant_id = ").push_bind(t);
                    q.push(") select id from subtree)");
                } else {
                    q.push(" = ").push_bind(*id.as_uuid());
                }
            };
            q.push("(u.organization_id");
            push_orgs(q);
            if *members {
                q.push(" or u.id in (select m.user_id from organization_members m where m.tenant_id = ").push_bind(t);
                q.push(" and m.organization_id");
                push_orgs(q);
                q.push(")");
            }
            q.push(")");
        }
        Cond::HasRole(role) => {
            q.push("u.id in (select r.user_id from user_roles r where r.tenant_id = ").push_bind(*tenant.as_uuid());
            q.push(" and r.role_id = ").push_bind(*role.as_uuid());
            q.push(")");
        }
        Cond::Membership(cond) => {
            // Users with an application membership satisfying `cond`.
            q.push("u.id in (select m.user_id from application_users m where m.tenant_id = ").push_bind(*tenant.as_uuid());
            if let Some(cond) = cond {
                q.push(" and (");
                push_membership(q, cond);
                q.push(")");
            }
            q.push(")");
        }
        // `resolve` puts it inside memberships only.
        Cond::Application(_) => {
            q.push("false");
        }
        Cond::Elements { path, cond } => {
            // Users with an array element (same user, same `elem`) satisfying every part of `cond`.
            // The elements come from the index by the filter's most selective test, not by
            // walking every element under the path.
            q.push("u.id in (select x.user_id from user_attrs x where x.tenant_id = ").push_bind(*tenant.as_uuid());
            q.push(" and ");
            match element_driver(cond) {
                Some((_, driver)) => push_attr(q, "x", driver),
                None => push_path_prefix(q, "x", path),
            }
            q.push(" and (");
            push_element(q, cond);
            q.push("))");
        }
    }
}

/// A test of a value path's filter that every matching element passes (a conjunct), with its
/// rank as a way into the (tenant, path, value) index: an `eq` or `sw` on text finds few
/// rows, a number comparison a range, a boolean half of them.
fn element_driver(cond: &Cond) -> Option<(u8, &Cond)> {
    match cond {
        Cond::And(a, b) => match (element_driver(a), element_driver(b)) {
            (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
            (a, b) => a.or(b),
        },
        Cond::Attr { op, value, .. } => {
            let rank = match (op, value) {
                (CompareOp::Eq | CompareOp::Sw, AttrOperand::Text(_)) => 3,
                (_, AttrOperand::Number(_)) => 2,
                (CompareOp::Eq, AttrOperand::Bool(_)) => 1,
                _ => 0,
            };
            Some((rank, cond))
        }
        Cond::AttrPresent(_) => Some((0, cond)),
        _ => None,
    }
}

/// `cond`'s `and`, `or` and `not` as SQL, each other part as `leaf` writes it.
fn push_tree<'a>(q: &mut QueryBuilder<'a, Db>, cond: &Cond, leaf: fn(&mut QueryBuilder<'a, Db>, &Cond)) {
    match cond {
        Cond::And(a, b) | Cond::Or(a, b) => {
            q.push("(");
            push_tree(q, a, leaf);
            q.push(if matches!(cond, Cond::And(..)) { ") and (" } else { ") or (" });
            push_tree(q, b, leaf);
            q.push(")");
        }
        Cond::Not(x) => {
            q.push("not (");
            push_tree(q, x, leaf);
            q.push(")");
        }
        other => leaf(q, other),
    }
}

/// `cond` over the element `x` of a value path: each attribute test is an `exists` on the rows
/// of the same user and element.
fn push_element(q: &mut QueryBuilder<'_, Db>, cond: &Cond) {
    push_tree(q, cond, |q, test| match test {
        Cond::Attr { .. } | Cond::AttrPresent(_) => {
            q.push(
                "exists (select 1 from user_attrs e where e.tenant_id = x.tenant_id \
                 and e.user_id = x.user_id and e.elem = x.elem and ",
            );
            push_attr(q, "e", test);
            q.push(")");
        }
        // `resolve` puts only attribute tests inside value paths.
        _ => {
            q.push("false");
        }
    });
}

/// `cond` over the membership `m`: its application, or an `exists` on its indexed values.
fn push_membership(q: &mut QueryBuilder<'_, Db>, cond: &Cond) {
    push_tree(q, cond, |q, test| match test {
        Cond::Application(id) => {
            q.push("m.application_id = ").push_bind(*id.as_uuid());
        }
        Cond::Attr { .. } | Cond::AttrPresent(_) => {
            q.push(
                "exists (select 1 from application_user_attrs e where e.tenant_id = m.tenant_id \
                 and e.application_id = m.application_id and e.user_id = m.user_id and ",
            );
            push_attr(q, "e", test);
            q.push(")");
        }
        // `resolve` puts only the application and attribute tests inside memberships.
        _ => {
            q.push("false");
        }
    });
}

/// The test on one `user_attrs` row aliased `a`.
fn push_attr(q: &mut QueryBuilder<'_, Db>, a: &str, cond: &Cond) {
    match cond {
        Cond::AttrPresent(path) => push_path_prefix(q, a, path),
        Cond::Attr { path, op, value } => {
            q.push(format!("{a}.path = ")).push_bind(path.clone()).push(" and ");
            match (op, value) {
                (CompareOp::Sw, AttrOperand::Text(s)) => {
                    // A prefix is a range of the index: [s, s + U+10FFFF).
                    q.push(format!("{a}.value >= ")).push_bind(s.clone());
                    q.push(format!(" and {a}.value < ")).push_bind(format!("{s}{}", char::MAX));
                }
                (CompareOp::Co | CompareOp::Ew, AttrOperand::Text(s)) => {
                    let escaped = s.replace('!', "!!").replace('%', "!%").replace('_', "!_");
                    let pattern = if *op == CompareOp::Co { format!("%{escaped}%") } else { format!("%{escaped}") };
                    q.push(format!("{a}.value like ")).push_bind(pattern).push(" escape '!'");
                }
                (op, AttrOperand::Text(s)) => {
                    q.push(format!("{a}.value")).push(sql_operator(*op)).push_bind(s.clone());
                }
                (op, AttrOperand::Number(n)) => {
                    q.push(format!("{a}.num")).push(sql_operator(*op)).push_bind(*n);
                }
                (op, AttrOperand::Bool(b)) => {
                    q.push(format!("{a}.value")).push(sql_operator(*op)).push_bind(b.to_string());
                }
            }
        }
        _ => {
            q.push("false");
        }
    }
}

/// `path` itself or any path below it.
fn push_path_prefix(q: &mut QueryBuilder<'_, Db>, a: &str, path: &str) {
    q.push(format!("({a}.path = ")).push_bind(path.to_owned());
    q.push(format!(" or ({a}.path >= ")).push_bind(format!("{path}."));
    // '/' follows '.' in every collation used here (bytewise).
    q.push(format!(" and {a}.path < ")).push_bind(format!("{path}/")).push("))");
}

fn sql_operator(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => " = ",
        CompareOp::Ne => " <> ",
        CompareOp::Gt => " > ",
        CompareOp::Ge => " >= ",
        CompareOp::Lt => " < ",
        CompareOp::Le => " <= ",
        // `resolve` allows these only where `push_attr` handles them.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => " = ",
    }
}

fn column_name(c: Column) -> &'static str {
    match c {
        Column::Id => "u.id",
        Column::OrganizationId => "u.organization_id",
        Column::Kind => "u.kind",
        Column::State => "u.state",
        Column::CreatedAt => "u.created_at",
        Column::UpdatedAt => "u.updated_at",
        Column::LastAuthAt => "u.last_auth_at",
        Column::Version => "u.version",
    }
}

fn sort_column(key: SortKey) -> &'static str {
    match key {
        SortKey::CreatedAt => "u.created_at",
        SortKey::UpdatedAt => "u.updated_at",
        SortKey::LastAuthAt => "coalesce(u.last_auth_at, 0)",
        SortKey::Username => "u.username_key",
        SortKey::Email => "u.email_key",
        SortKey::FamilyName => "u.family_name_key",
        SortKey::Phone => "u.phone_key",
    }
}

fn user_record(row: &DbRow) -> Result<UserRecord> {
    let get_str = |c: &str| row.try_get::<String, _>(c).map_err(db_error);
    let kind = get_str("kind")?;
    let state = get_str("state")?;
    let Json(profile) = row.try_get::<Json<Profile>, _>("profile").map_err(db_error)?;
    let password_hash: Option<String> = row.try_get("password_hash").map_err(db_error)?;
    let national_id_hash: Option<String> = row.try_get("national_id_hash").map_err(db_error)?;
    let secret_hash: Option<String> = row.try_get("secret_hash").map_err(db_error)?;
    let kind = UserKind::parse(&kind).ok_or_else(|| Error::internal(format!("unknown user kind {kind}")))?;
    let time = |c: &str| row.try_get::<Option<i64>, _>(c).map(|t| t.map(from_micros)).map_err(db_error);
    let user = User {
        id: UserId::from_uuid(row.try_get("id").map_err(db_error)?),
        kind,
        state: UserState::parse(&state).ok_or_else(|| Error::internal(format!("unknown user state {state}")))?,
        username: row.try_get("username").map_err(db_error)?,
        organization_id: OrgId::from_uuid(row.try_get("organization_id").map_err(db_error)?),
        profile,
        password: PasswordInfo {
            set: password_hash.is_some(),
            change_required: row.try_get("password_change_required").map_err(db_error)?,
            changed_at: time("password_changed_at")?,
        },
        national_id: SecretInfo { set: national_id_hash.is_some() },
        has_secret: (kind == UserKind::Machine).then_some(secret_hash.is_some()),
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db_error)?),
        last_auth_at: time("last_auth_at")?,
        version: row.try_get("version").map_err(db_error)?,
    };
    let failures: i64 = row.try_get("password_failures").map_err(db_error)?;
    Ok(UserRecord {
        user,
        password_hash,
        national_id_hash,
        secret_hash,
        password_failures: u32::try_from(failures).unwrap_or(u32::MAX),
    })
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
