//! The user model: what Roster keeps about a person or a machine account.
//!
//! Its serde shape is the native `/v1` user document (snake_case; unset fields are `null`), and
//! the JSON the stores keep. Secrets are never part of it: a `User` only says whether a password,
//! national id or machine secret is set.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::id::{OrgId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    Human,
    Machine,
}

impl UserKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            UserKind::Human => "human",
            UserKind::Machine => "machine",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [UserKind::Human, UserKind::Machine].into_iter().find(|k| k.as_str() == s)
    }
}

/// The canonical lifecycle states (design.md); [`crate::state`] says which transitions exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    /// Created or invited, not yet registered.
    Initial,
    /// Registered, awaiting an administrator's approval.
    Pending,
    Active,
    /// Disabled by an administrator.
    Inactive,
    /// Too many failed sign-ins, or locked by an administrator.
    Locked,
    /// Erasure requested, running asynchronously.
    Offboarding,
    /// Tombstone: personal data erased, id and events kept.
    Deleted,
}

impl UserState {
    pub const ALL: [UserState; 7] = [
        UserState::Initial,
        UserState::Pending,
        UserState::Active,
        UserState::Inactive,
        UserState::Locked,
        UserState::Offboarding,
        UserState::Deleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            UserState::Initial => "initial",
            UserState::Pending => "pending",
            UserState::Active => "active",
            UserState::Inactive => "inactive",
            UserState::Locked => "locked",
            UserState::Offboarding => "offboarding",
            UserState::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

impl fmt::Display for UserState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as every surface sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub kind: UserKind,
    pub state: UserState,
    /// Unique in the tenant, compared case-insensitively; `null` only on a deleted tombstone.
    pub username: Option<String>,
    /// The owning organization (ZITADEL's resource owner); the root organization by default.
    pub organization_id: OrgId,
    #[serde(flatten)]
    pub profile: Profile,
    pub password: PasswordInfo,
    pub national_id: SecretInfo,
    /// Machine users only: whether a client secret is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_secret: Option<bool>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_auth_at: Option<OffsetDateTime>,
    /// Counts this user's changes from 1; the `ETag` of every response about the user.
    pub version: i64,
}

/// The fields a client writes (besides username and organization), kept as one document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    pub name: Option<PersonName>,
    pub salutation: Option<Salutation>,
    pub title: Option<Title>,
    pub gender: Option<Gender>,
    pub birth: Option<Birth>,
    /// ISO 3166-1 alpha-2 country codes.
    #[serde(default)]
    pub nationalities: Vec<String>,
    #[serde(default)]
    pub emails: Vec<Contact>,
    /// E.164 numbers.
    #[serde(default)]
    pub phones: Vec<Contact>,
    /// A BCP 47 language tag.
    pub locale: Option<String>,
    /// An absolute http(s) URL.
    pub picture: Option<String>,
    /// The residential address.
    pub address: Option<Address>,
    /// `null` means "same as `address`".
    pub postal_address: Option<Address>,
    #[serde(default)]
    pub external_ids: ExternalIds,
    /// The user's ids in other systems, by namespace (`zitadel`: the id a ZITADEL client chose):
    /// each unique in the tenant and namespace, found in one lookup. A dialect that lets
    /// callers choose ids answers with its namespace's alias.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Links to the user's accounts at external identity providers: each (provider, subject)
    /// pair links one user of the tenant.
    #[serde(default)]
    pub identities: Vec<Identity>,
    /// Multi-valued string attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Free-form JSON object.
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Value>,
    /// Free-form JSON per application.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, Object>)]
    pub app_data: BTreeMap<String, Value>,
    /// Machine users only.
    pub machine: Option<Machine>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonName {
    pub given: Option<String>,
    pub middle: Option<String>,
    pub family: Option<String>,
    pub display: Option<String>,
    pub nickname: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Salutation {
    Male,
    Female,
    FemaleMarried,
    Diverse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Title {
    Dr,
    Prof,
    ProfDr,
    DiplIng,
    Magister,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
    Diverse,
    Unspecified,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Birth {
    /// A calendar date, `YYYY-MM-DD`, not in the future.
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    /// Birth (family) name.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        self == &Address::default()
    }
}

/// An e-mail address or phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    pub value: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub verified: bool,
    /// Phone numbers only: kept as given because it cannot be read as an E.164 number (even in
    /// the deployment's `phone_default_region`); such a number is never a unique key nor found
    /// by a lookup. On input, `true` asks to keep a number that does not parse instead of
    /// refusing it (SCIM asks so for every number: identity providers send free text).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unnormalized: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExternalIds {
    /// Unique in the tenant.
    pub external_user_id: Option<String>,
    pub external_account_id: Option<String>,
}

/// The user's account at an external identity provider (OpenID Connect's issuer and subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    /// The provider's absolute http(s) URL, kept exactly as given.
    #[schema(min_length = 1, max_length = 2048)]
    pub provider: String,
    /// The user's id at the provider, compared exactly.
    #[schema(min_length = 1, max_length = 255)]
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Machine {
    pub name: String,
    pub description: Option<String>,
    pub access_token_type: AccessTokenType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenType {
    #[default]
    Bearer,
    Jwt,
}

/// What is known about a user's password; the hash itself never leaves the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordInfo {
    pub set: bool,
    pub change_required: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub changed_at: Option<OffsetDateTime>,
}

/// Whether a write-only secret (a national id) is set; its value is never returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretInfo {
    pub set: bool,
}
