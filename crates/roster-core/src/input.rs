//! The user document as a client sends it, before validation.
//!
//! Enumerations and identifiers are plain strings here so that [`crate::validate`] can report
//! every wrong field at once instead of stopping at the first. Secrets are [`SecretString`]s from
//! the moment they are parsed, so they never reach a log through `Debug`.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::ToSchema;

use crate::user::{Address, Contact, ExternalIds, PersonName};

/// A create (`POST`) or replace (`PUT`) body; merge patches are applied to the current document
/// and then parsed into this type.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UserInput {
    /// `human` (default) or `machine`.
    #[schema(value_type = Option<crate::user::UserKind>)]
    pub kind: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub username: Option<String>,
    /// On create only: `initial`, `pending`, `active` (default) or `inactive`.
    #[schema(pattern = "^(initial|pending|active|inactive)$")]
    pub state: Option<String>,
    #[schema(format = Uuid)]
    pub organization_id: Option<String>,
    pub name: Option<PersonName>,
    /// `male`, `female`, `female_married` or `diverse`.
    #[schema(value_type = Option<crate::user::Salutation>)]
    pub salutation: Option<String>,
    /// `dr`, `prof`, `prof_dr`, `dipl_ing` or `magister`.
    #[schema(value_type = Option<crate::user::Title>)]
    pub title: Option<String>,
    /// `male`, `female`, `diverse` or `unspecified`.
    #[schema(value_type = Option<crate::user::Gender>)]
    pub gender: Option<String>,
    pub birth: Option<crate::user::Birth>,
    pub nationalities: Option<Vec<String>>,
    pub emails: Option<Vec<Contact>>,
    pub phones: Option<Vec<Contact>>,
    /// A BCP 47 language tag, e.g. `de-CH`.
    #[schema(min_length = 2)]
    pub locale: Option<String>,
    #[schema(min_length = 1)]
    pub picture: Option<String>,
    pub address: Option<Address>,
    pub postal_address: Option<Address>,
    /// Write-only. Absent keeps the current value, `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1)]
    pub national_id: Option<Option<SecretString>>,
    /// Write-only. Absent keeps the current password, `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Password, min_length = 8)]
    pub password: Option<Option<SecretString>>,
    pub external_ids: Option<ExternalIds>,
    /// The user's ids in other systems by namespace (1 to 32 of `a-z`, `0-9`, `_`, `-`, starting
    /// with a letter); each unique in the tenant and namespace.
    pub aliases: Option<BTreeMap<String, String>>,
    /// Links to the user's accounts at external identity providers; each (provider, subject)
    /// pair links one user of the tenant.
    pub identities: Option<Vec<crate::user::Identity>>,
    pub attributes: Option<BTreeMap<String, Vec<String>>>,
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Value>,
    #[schema(value_type = Option<BTreeMap<String, Object>>)]
    pub app_data: Option<BTreeMap<String, Value>>,
    pub machine: Option<MachineInput>,
    /// A password hash from another system (PHC string or bcrypt), for imports only: no API
    /// document can set it.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// On create, an id the client chose (a dialect importing users with their ids); taken,
    /// it is a conflict on `id`. No API document sets it.
    #[serde(skip)]
    pub id: Option<crate::UserId>,
    /// On create, for surfaces whose clients set a one-time password (the ZITADEL dialect's
    /// `changeRequired`): it must be changed at the next sign-in. No API document sets it.
    #[serde(skip)]
    pub password_change_required: bool,
}

#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
pub struct MachineInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `bearer` (default) or `jwt`.
    #[schema(value_type = Option<crate::user::AccessTokenType>)]
    pub access_token_type: Option<String>,
}

/// Tells a field that is present with `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Parses a JSON document into `T`, naming every field `T` does not know (they are errors, never
/// silently dropped) and the path of the first value of the wrong type.
pub fn parse_document<T: serde::de::DeserializeOwned>(document: Value) -> crate::Result<T> {
    use crate::error::{Error, FieldError};

    let mut unknown = Vec::new();
    let parsed: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        document,
        &mut |path: serde_ignored::Path<'_>| unknown.push(field_path(&path)),
    ));
    match parsed {
        Err(e) => {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            let message = without_value(&e.into_inner().to_string());
            Err(Error::Invalid(vec![FieldError::new(field, "invalid_type", message)]))
        }
        Ok(_) if !unknown.is_empty() => Err(Error::Invalid(
            unknown
                .into_iter()
                .map(|f| FieldError::new(f, "unknown_field", "is not a field of this document"))
                .collect(),
        )),
        Ok(value) => Ok(value),
    }
}

/// Refuses a document holding the NUL character (U+0000) in any string or name: PostgreSQL can
/// store it neither in text nor in JSON, so both engines refuse it alike, before anything is
/// written. The error names where it is (`custom_data.a[2]`).
pub fn reject_nul(document: &Value) -> crate::Result<()> {
    use crate::error::{Error, FieldError};

    fn find(value: &Value, path: &str) -> Option<String> {
        let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
        match value {
            Value::String(s) if s.contains('\0') => Some(path.to_owned()),
            Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, v)| find(v, &format!("{path}[{i}]")))
            }
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                if k.contains('\0') {
                    Some(at(&k.replace('\0', "\\u0000")))
                } else {
                    find(v, &at(k))
                }
            }),
            _ => None,
        }
    }
    match find(document, "") {
        None => Ok(()),
        Some(field) => Err(Error::Invalid(vec![FieldError::new(
            field,
            "invalid_value",
            "must not contain the NUL character (U+0000)",
        )])),
    }
}

/// serde's messages quote the offending value ("invalid type: string \"x\", expected …"); a value
/// may be a secret, so only what was expected is kept.
fn without_value(message: &str) -> String {
    for prefix in ["invalid type", "invalid value", "invalid length"] {
        if message.starts_with(prefix) {
            return match message.split_once(", expected ") {
                Some((_, expected)) => format!("{prefix}, expected {expected}"),
                None => prefix.to_owned(),
            };
        }
    }
    message.to_owned()
}

/// A path the way validation errors spell it: `emails[0].value`, `name.given`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => match field_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

/// Fields of a user that only Roster writes. Sending one is an error, never silently ignored.
pub const READ_ONLY: &[&str] =
    &["id", "version", "created_at", "updated_at", "last_auth_at", "has_secret"];
/// Fields a client may write but never reads back.
pub const WRITE_ONLY: &[&str] = &["password", "national_id"];

/// A body must be a JSON object without read-only fields; each one present is a field error.
pub fn reject_read_only(body: &Value) -> crate::Result<()> {
    reject_fields(body, READ_ONLY)
}

/// Refuses a body that is not an object or that sets any of `read_only`, naming each.
pub fn reject_fields(body: &Value, read_only: &[&str]) -> crate::Result<()> {
    let Some(object) = body.as_object() else {
        return Err(crate::Error::invalid("", "invalid_type", "the body must be a JSON object"));
    };
    let errors: Vec<crate::FieldError> = read_only
        .iter()
        .filter(|f| object.contains_key(**f))
        .map(|f| crate::FieldError::new(*f, "read_only", "is set by Roster and cannot be written"))
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(crate::Error::Invalid(errors)) }
}

/// The document a JSON Merge Patch (RFC 7396) makes of `current`. Write-only fields are not in
/// the current document; they pass through as given, so that `null` removes them (a merge
/// patch would treat `null` as "absent", which keeps them).
pub fn merged(current: &crate::User, patch: &Value) -> crate::Result<UserInput> {
    let mut document = serde_json::to_value(current).map_err(crate::Error::internal)?;
    if let Some(object) = document.as_object_mut() {
        for field in READ_ONLY.iter().chain(WRITE_ONLY).chain(&["state"]) {
            object.remove(*field);
        }
    }
    let mut patch = patch.clone();
    let write_only: Vec<(&str, Value)> = WRITE_ONLY
        .iter()
        .filter_map(|f| patch.as_object_mut()?.remove(*f).map(|v| (*f, v)))
        .collect();
    json_patch::merge(&mut document, &patch);
    if let Some(object) = document.as_object_mut() {
        for (field, value) in write_only {
            object.insert(field.to_owned(), value);
        }
    }
    parse_document(document)
}
