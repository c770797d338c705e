//! Credential metadata: records of credentials issued to a user (an mDL, a verifiable
//! credential…): type, format, issuer, when issued and valid, status, and free metadata.
//! Roster keeps the record, not the credential. A credential whose `valid_until` has passed
//! reads as `expired`. Deleting the user keeps its credentials' records (issued credentials
//! stay valid) with their free metadata erased, readable with the tombstone.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::{Directory, MAX_LIMIT, check_limit, stale_unless};
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::id::{CredentialId, UserId};
use crate::input::{parse_document, reject_fields};
use crate::store::{Change, Write};
use crate::tenant::Principal;
use crate::validate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    Valid,
    Suspended,
    Revoked,
    Expired,
}

impl CredentialStatus {
    pub const ALL: [(&'static str, CredentialStatus); 4] = [
        ("valid", CredentialStatus::Valid),
        ("suspended", CredentialStatus::Suspended),
        ("revoked", CredentialStatus::Revoked),
        ("expired", CredentialStatus::Expired),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, s)| *s == self).map_or("valid", |(n, _)| n)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, s)| *s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Credential {
    pub id: CredentialId,
    pub user_id: UserId,
    /// What kind of credential, e.g. `org.iso.18013.5.1.mDL`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its encoding, e.g. `mso_mdoc`, `jwt_vc_json`.
    pub format: Option<String>,
    pub issuer: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub issued_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_from: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
    pub status: CredentialStatus,
    /// Free JSON about the credential (up to 64 KiB).
    #[schema(value_type = Object)]
    pub metadata: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// A credential record as written by a client. Times are RFC 3339.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CredentialInput {
    #[serde(rename = "type")]
    #[schema(required = true, nullable = false, min_length = 1)]
    pub kind: Option<String>,
    #[schema(min_length = 1)]
    pub format: Option<String>,
    #[schema(min_length = 1)]
    pub issuer: Option<String>,
    #[schema(format = DateTime)]
    pub issued_at: Option<String>,
    #[schema(format = DateTime)]
    pub valid_from: Option<String>,
    #[schema(format = DateTime)]
    pub valid_until: Option<String>,
    /// Default `valid`.
    #[schema(value_type = Option<CredentialStatus>)]
    pub status: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

const READ_ONLY: &[&str] = &["id", "user_id", "created_at", "updated_at", "version"];

const NOT_FOUND: Error = Error::NotFound { kind: "credential" };

impl Directory {
    /// Records a credential issued to a user.
    pub async fn create_credential(
        &self,
        p: &Principal,
        user: UserId,
        input: Value,
    ) -> Result<Credential> {
        self.record(p.tenant, user, false).await?;
        reject_fields(&input, READ_ONLY)?;
        let valid = validate::credential(parse_document(input)?)?;
        let now = self.now();
        let credential = Credential {
            id: CredentialId::generate(now),
            user_id: user,
            kind: valid.kind,
            format: valid.format,
            issuer: valid.issuer,
            issued_at: valid.issued_at,
            valid_from: valid.valid_from,
            valid_until: valid.valid_until,
            status: valid.status,
            metadata: valid.metadata,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let event = credential_event(p, "credential.created", &credential, now);
        let write = Write::CreateCredential { credential: Box::new(credential.clone()) };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await?;
        Ok(self.as_read(credential))
    }

    /// One of a user's credential records (also of a deleted user's, with `include_deleted`).
    pub async fn credential(
        &self,
        p: &Principal,
        user: UserId,
        id: CredentialId,
        include_deleted: bool,
    ) -> Result<Credential> {
        self.record(p.tenant, user, include_deleted).await?;
        let found = self.store().credential(p.tenant, id).await?.filter(|c| c.user_id == user);
        found.map(|c| self.as_read(c)).ok_or(NOT_FOUND)
    }

    /// A user's credential records in id (creation) order after `after`.
    pub async fn credentials(
        &self,
        p: &Principal,
        user: UserId,
        after: Option<CredentialId>,
        limit: u32,
        include_deleted: bool,
    ) -> Result<Vec<Credential>> {
        check_limit(limit)?;
        self.record(p.tenant, user, include_deleted).await?;
        let found = self.store().credentials(p.tenant, user, after, limit.min(MAX_LIMIT)).await?;
        Ok(found.into_iter().map(|c| self.as_read(c)).collect())
    }

    /// Applies a JSON Merge Patch to a credential record (its status, validity, metadata…).
    pub async fn update_credential(
        &self,
        p: &Principal,
        user: UserId,
        id: CredentialId,
        if_match: Option<i64>,
        patch: &Value,
    ) -> Result<Credential> {
        reject_fields(patch, READ_ONLY)?;
        self.with_retries(*id.as_uuid(), if_match, || async move {
            self.record(p.tenant, user, false).await?;
            let current = self.store().credential(p.tenant, id).await?;
            let current = current.filter(|c| c.user_id == user).ok_or(NOT_FOUND)?;
            stale_unless(current.version, if_match)?;
            let mut document = serde_json::to_value(&current).map_err(Error::internal)?;
            if let Some(object) = document.as_object_mut() {
                for field in READ_ONLY {
                    object.remove(*field);
                }
            }
            json_patch::merge(&mut document, patch);
            let valid = validate::credential(parse_document(document)?)?;
            let now = self.now();
            let credential = Credential {
                kind: valid.kind,
                format: valid.format,
                issuer: valid.issuer,
                issued_at: valid.issued_at,
                valid_from: valid.valid_from,
                valid_until: valid.valid_until,
                status: valid.status,
                metadata: valid.metadata,
                updated_at: now,
                version: current.version + 1,
                ..current.clone()
            };
            let unchanged = Credential {
                updated_at: current.updated_at,
                version: current.version,
                ..credential.clone()
            };
            if unchanged == current {
                return Ok(self.as_read(current));
            }
            let event = credential_event(p, "credential.updated", &credential, now);
            let write = Write::UpdateCredential {
                credential: Box::new(credential.clone()),
                before_version: current.version,
            };
            self.store()
                .commit(p.tenant, Change::of(vec![write], vec![event]))
                .await
                .map(|()| self.as_read(credential))
        })
        .await
    }

    /// Deletes a credential record.
    pub async fn delete_credential(
        &self,
        p: &Principal,
        user: UserId,
        id: CredentialId,
    ) -> Result<()> {
        let credential = self.credential(p, user, id, false).await?;
        let event = credential_event(p, "credential.deleted", &credential, self.now());
        let write = Write::DeleteCredential { id };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await
    }

    /// The record as read now: `valid` past its `valid_until` is `expired`.
    fn as_read(&self, mut credential: Credential) -> Credential {
        let lapsed = credential.valid_until.is_some_and(|until| until <= self.now());
        if credential.status == CredentialStatus::Valid && lapsed {
            credential.status = CredentialStatus::Expired;
        }
        credential
    }
}

fn credential_event(
    p: &Principal,
    kind: &'static str,
    credential: &Credential,
    at: OffsetDateTime,
) -> NewEvent {
    NewEvent {
        kind,
        resource_type: "credential",
        resource_id: *credential.id.as_uuid(),
        version: credential.version,
        actor: p.actor,
        occurred_at: at,
        data: json!({ "user_id": credential.user_id, "status": credential.status }),
    }
}
