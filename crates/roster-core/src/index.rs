//! What the store indexes of a user, decided here so that both engines agree: every leaf of
//! the profile document under its dotted path (strings lower-cased), the sort keys, and the
//! unique keys a user is found by.

use serde_json::Value;

use crate::applications::AppMembership;
use crate::store::{KeyKind, UserKey};
use crate::user::User;

/// At most this many values of one user are indexed; a document with more (large claims) is
/// searchable by its first ones only.
pub const MAX_ENTRIES: usize = 1000;
/// Strings longer than this (in bytes) are not indexed.
pub const MAX_VALUE_BYTES: usize = 512;

/// One searchable value.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrEntry {
    /// Dotted path, e.g. `name.family`, `emails.value`.
    pub path: String,
    /// Index of the innermost array the value sits in (0 outside arrays).
    pub elem: i64,
    /// Lower-cased string, number text, or `true`/`false`.
    pub value: String,
    /// The number, for numeric comparisons.
    pub num: Option<f64>,
}

/// The columns users are sorted by (empty when unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortKeys {
    pub username: String,
    /// The primary e-mail, else the first.
    pub email: String,
    pub family_name: String,
    /// The primary phone, else the first.
    pub phone: String,
}

/// How text is compared in filters and sorts: case-insensitively, the same on every engine.
pub fn text_key(s: &str) -> String {
    s.to_lowercase()
}

pub fn sort_keys(user: &User) -> SortKeys {
    let primary = |items: &[crate::user::Contact]| {
        items
            .iter()
            .find(|c| c.primary)
            .or(items.first())
            .map(|c| text_key(&c.value))
            .unwrap_or_default()
    };
    let p = &user.profile;
    SortKeys {
        username: user.username.as_deref().map(text_key).unwrap_or_default(),
        email: primary(&p.emails),
        family_name: p
            .name
            .as_ref()
            .and_then(|n| n.family.as_deref())
            .map(text_key)
            .unwrap_or_default(),
        phone: primary(&p.phones),
    }
}

/// Every searchable value of `user`.
pub fn entries(user: &User) -> Vec<AttrEntry> {
    let mut out = Vec::new();
    if let Some(username) = &user.username {
        out.push(AttrEntry {
            path: "username".to_owned(),
            elem: 0,
            value: text_key(username),
            num: None,
        });
    }
    if let Ok(Value::Object(profile)) = serde_json::to_value(&user.profile) {
        for (key, value) in &profile {
            flatten(key, value, 0, &mut out);
        }
    }
    out.truncate(MAX_ENTRIES);
    out
}

/// Every searchable value of a user's membership of an application: its `external_account_id`
/// and the leaves of its `app_data` (paths `app_data.…`).
pub fn membership_entries(membership: &AppMembership) -> Vec<AttrEntry> {
    let mut out = Vec::new();
    if let Some(account) = &membership.external_account_id {
        flatten("external_account_id", &Value::String(account.clone()), 0, &mut out);
    }
    if let Value::Object(data) = &membership.app_data {
        for (key, value) in data {
            flatten(&format!("app_data.{key}"), value, 0, &mut out);
        }
    }
    out.truncate(MAX_ENTRIES);
    out
}

fn flatten(path: &str, value: &Value, elem: i64, out: &mut Vec<AttrEntry>) {
    if out.len() >= MAX_ENTRIES {
        return;
    }
    let mut push = |value: String, num: Option<f64>| {
        out.push(AttrEntry { path: path.to_owned(), elem, value, num });
    };
    match value {
        Value::Null => {}
        Value::Bool(b) => push(b.to_string(), None),
        Value::Number(n) => push(n.to_string(), n.as_f64()),
        Value::String(s) if s.len() <= MAX_VALUE_BYTES => push(text_key(s), None),
        Value::String(_) => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(path, item, i64::try_from(i).unwrap_or(i64::MAX), out);
            }
        }
        Value::Object(map) => {
            for (key, value) in map {
                flatten(&format!("{path}.{key}"), value, elem, out);
            }
        }
    }
}

/// The unique keys a user holds; `field` points into the input document for a 409.
pub fn keys(user: &User) -> Vec<UserKey> {
    let mut keys = Vec::new();
    if let Some(username) = &user.username {
        keys.push(UserKey {
            kind: KeyKind::Username,
            value: crate::validate::username_key(username),
            field: "username".to_owned(),
        });
    }
    for (i, email) in user.profile.emails.iter().enumerate() {
        keys.push(UserKey {
            kind: KeyKind::Email,
            value: crate::validate::email_key(&email.value),
            field: format!("emails[{i}].value"),
        });
    }
    // A number kept as given is no key: it may be any text.
    for (i, phone) in user.profile.phones.iter().enumerate().filter(|(_, p)| !p.unnormalized) {
        keys.push(UserKey {
            kind: KeyKind::Phone,
            value: phone.value.clone(),
            field: format!("phones[{i}].value"),
        });
    }
    if let Some(x) = &user.profile.external_ids.external_user_id {
        keys.push(UserKey {
            kind: KeyKind::ExternalUserId,
            value: x.clone(),
            field: "external_ids.external_user_id".to_owned(),
        });
    }
    for (namespace, value) in &user.profile.aliases {
        keys.push(UserKey {
            kind: KeyKind::Alias,
            value: alias_key(namespace, value),
            field: format!("aliases.{namespace}"),
        });
    }
    for (i, identity) in user.profile.identities.iter().enumerate() {
        keys.push(UserKey {
            kind: KeyKind::Identity,
            value: identity_key(&identity.provider, &identity.subject),
            field: format!("identities[{i}]"),
        });
    }
    keys
}

/// The unique key of an identity link: neither part holds a line break (a URL has no white
/// space, a subject no control character), so the pair is unambiguous.
pub fn identity_key(provider: &str, subject: &str) -> String {
    format!("{provider}\n{subject}")
}

/// The unique key of an alias: a namespace holds no `:`, so the pair is unambiguous.
pub fn alias_key(namespace: &str, value: &str) -> String {
    format!("{namespace}:{value}")
}
