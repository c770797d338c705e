//! Between Transmit's user and the core. Natively: the primary and secondary `emails` and
//! `phones`, `name.given/middle/family`, `birth.date`, `locale`, `picture`, `claims` (Transmit's
//! `custom_data`), `external_ids.external_user_id`, the address's `line1`, `city`, `state`,
//! `postcode` and `country`. What the core has no place for — the name's `title` (free text at
//! Transmit) and the address's `type` — is kept in the attributes `transmit.title` and
//! `transmit.address_type`.

use roster_core::applications::{AppMembership, Application};
use roster_core::groups::Group;
use roster_core::user::{Contact, User, UserState};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{Result, TransmitError};

pub(crate) const TITLE: &str = "transmit.title";
pub(crate) const ADDRESS_TYPE: &str = "transmit.address_type";
const ADDRESS_TYPES: [&str; 3] = ["Home", "Work", "Other"];

/// A core field path in Transmit's words, for error messages.
pub(crate) fn field_name(field: &str) -> String {
    const NAMES: [(&str, &str); 14] = [
        ("emails[0]", "email"),
        ("emails", "secondary_emails"),
        ("phones[0]", "phone_number"),
        ("phones", "secondary_phone_numbers"),
        ("name.given", "name.first_name"),
        ("name.middle", "name.middle_name"),
        ("name.family", "name.last_name"),
        ("birth.date", "birthday"),
        ("locale", "language"),
        ("claims", "custom_data"),
        ("external_ids.external_user_id", "external_user_id"),
        ("address.line1", "address.street_address"),
        ("address.postcode", "address.postal_code"),
        ("attributes.transmit.title", "name.title"),
    ];
    match crate::surface::rename(field, &NAMES) {
        Some((theirs, rest)) => format!("{theirs}{}", rest.trim_start_matches(".value")),
        None => field.to_owned(),
    }
}

/// Transmit's status of a core state.
pub(crate) fn status(state: UserState) -> &'static str {
    match state {
        UserState::Initial | UserState::Pending => "Pending",
        UserState::Active => "Active",
        UserState::Inactive | UserState::Locked => "Disabled",
        UserState::Offboarding | UserState::Deleted => "Forget Requested",
    }
}

/// Epoch milliseconds, as Transmit's timestamps are.
fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A user as Transmit answers it; `groups` on single-user answers, `app` with the requesting
/// application's membership when the token has one and the user is a member.
pub(crate) fn user(
    user: &User,
    groups: Option<&[Group]>,
    app: Option<(&Application, &AppMembership)>,
) -> Value {
    let p = &user.profile;
    let (primary, secondary) = split(&p.emails);
    let (phone, phones) = split(&p.phones);
    let attribute = |name: &str| p.attributes.get(name).and_then(|v| v.first()).cloned();
    let mut out = json!({
        "user_id": user.id,
        "status": status(user.state),
        "username": user.username,
        "created_at": millis(user.created_at),
        "updated_at": millis(user.updated_at),
    });
    let mut put = |name: &str, value: Value| {
        if !value.is_null() {
            out[name] = value;
        }
    };
    put(
        "email",
        primary.map_or(Value::Null, |c| json!({ "value": c.value, "email_verified": c.verified })),
    );
    put(
        "secondary_emails",
        json!(
            secondary
                .iter()
                .map(|c| json!({ "value": c.value, "email_verified": c.verified }))
                .collect::<Vec<_>>()
        ),
    );
    put(
        "phone_number",
        phone.map_or(
            Value::Null,
            |c| json!({ "value": c.value, "phone_number_verified": c.verified }),
        ),
    );
    put(
        "secondary_phone_numbers",
        json!(
            phones
                .iter()
                .map(|c| json!({ "value": c.value, "phone_number_verified": c.verified }))
                .collect::<Vec<_>>()
        ),
    );
    if let Some(n) = &p.name {
        put(
            "name",
            json!({ "title": attribute(TITLE), "first_name": n.given, "middle_name": n.middle, "last_name": n.family }),
        );
    }
    if let Some(a) = &p.address {
        put(
            "address",
            json!({ "street_address": a.line1, "city": a.city, "state": a.state,
            "postal_code": a.postcode, "country": a.country, "type": attribute(ADDRESS_TYPE) }),
        );
    }
    put("birthday", json!(p.birth.as_ref().and_then(|b| b.date.clone())));
    put("picture", json!(p.picture));
    put("language", json!(p.locale));
    put("custom_data", p.claims.clone().unwrap_or(Value::Null));
    put("external_user_id", json!(p.external_ids.external_user_id));
    put(
        "last_auth",
        user.last_auth_at.and_then(|t| t.format(&Rfc3339).ok()).map_or(Value::Null, Value::String),
    );
    if let Some(groups) = groups {
        put("groupIds", json!(groups.iter().map(|g| g.id).collect::<Vec<_>>()));
    }
    if let Some((application, membership)) = app {
        put("custom_app_data", membership.app_data.clone());
        put("external_account_id", json!(membership.external_account_id));
        put("app_name", json!(application.name));
    }
    out
}

/// The primary contact (else the first) and the others.
fn split(items: &[Contact]) -> (Option<&Contact>, Vec<&Contact>) {
    let primary = items.iter().position(|c| c.primary).or((!items.is_empty()).then_some(0));
    let others = items.iter().enumerate().filter(|(i, _)| Some(*i) != primary).map(|(_, c)| c);
    (primary.map(|i| &items[i]), others.collect())
}

/// A create (`POST`) or change (`PUT`) body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserBody {
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub username: Option<String>,
    pub secondary_emails: Option<Vec<String>>,
    pub secondary_phone_numbers: Option<Vec<String>>,
    pub birthday: Option<String>,
    pub address: Option<Address>,
    pub name: Option<Name>,
    pub external_account_id: Option<String>,
    pub custom_app_data: Option<Value>,
    pub picture: Option<String>,
    pub language: Option<String>,
    pub custom_data: Option<Value>,
    pub external_user_id: Option<String>,
    /// Create only.
    pub credentials: Option<Credentials>,
    /// Change only.
    pub status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Address {
    pub street_address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Name {
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    pub password: String,
    #[serde(default = "yes")]
    pub force_replace: bool,
}

fn yes() -> bool {
    true
}

/// `body` read strictly: an unknown member or a wrong type is a 400 naming it.
pub(crate) fn body(value: Value) -> Result<UserBody> {
    if !value.is_object() {
        return Err(TransmitError::bad_one("the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        TransmitError::bad_one(format!("{path}: {}", e.into_inner()))
    })
}

/// The JSON Merge Patch (RFC 7396) that turns `from` into `to`.
fn merge_patch(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            for (key, value) in b {
                match a.get(key) {
                    Some(old) if old == value => {}
                    Some(old) => drop(patch.insert(key.clone(), merge_patch(old, value))),
                    None => drop(patch.insert(key.clone(), value.clone())),
                }
            }
            Value::Object(patch)
        }
        (_, to) => to.clone(),
    }
}

/// `YYYY-MM-DD`, or a date-time whose date it is.
fn birthday(value: &str) -> Result<String> {
    let date = value.get(..10).unwrap_or(value);
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let whole = value.len() == 10 || OffsetDateTime::parse(value, &Rfc3339).is_ok();
    match time::Date::parse(date, format) {
        Ok(_) if whole => Ok(date.to_owned()),
        _ => Err(TransmitError::bad_one("birthday: a date (YYYY-MM-DD) or a date-time")),
    }
}

/// The body as a native document: a create document, or, for a change of `current`, a JSON
/// Merge Patch (secondary addresses and numbers added, `name` and `address` replaced whole,
/// `custom_data` merged one level deep).
pub(crate) fn document(b: &UserBody, current: Option<&User>) -> Result<Map<String, Value>> {
    let mut doc = Map::new();
    let mut attributes = current.map(|u| u.profile.attributes.clone()).unwrap_or_default();
    let contacts = |primary: &Option<String>, secondary: &Option<Vec<String>>, kept: &[Contact]| {
        let (kept_primary, kept_others) = split(kept);
        let primary = primary.clone().or_else(|| kept_primary.map(|c| c.value.clone()));
        let mut list: Vec<Value> = Vec::new();
        if let Some(p) = &primary {
            let verified = kept_primary.is_some_and(|c| &c.value == p && c.verified);
            list.push(json!({ "value": p, "primary": true, "verified": verified }));
        }
        let mut seen: Vec<String> = primary.iter().map(|p| p.to_lowercase()).collect();
        let others = kept_others.iter().map(|c| (c.value.clone(), c.verified));
        let added = secondary.iter().flatten().map(|v| (v.clone(), false));
        for (value, verified) in others.chain(added) {
            if !seen.contains(&value.to_lowercase()) {
                seen.push(value.to_lowercase());
                list.push(json!({ "value": value, "primary": false, "verified": verified }));
            }
        }
        list
    };
    let (emails, phones) =
        current.map_or((&[][..], &[][..]), |u| (&u.profile.emails[..], &u.profile.phones[..]));
    if b.email.is_some() || b.secondary_emails.is_some() {
        doc.insert("emails".into(), json!(contacts(&b.email, &b.secondary_emails, emails)));
    }
    if b.phone_number.is_some() || b.secondary_phone_numbers.is_some() {
        doc.insert(
            "phones".into(),
            json!(contacts(&b.phone_number, &b.secondary_phone_numbers, phones)),
        );
    }
    if let Some(u) = &b.username {
        doc.insert("username".into(), json!(u));
    }
    if let Some(n) = &b.name {
        doc.insert(
            "name".into(),
            json!({ "given": n.first_name, "middle": n.middle_name, "family": n.last_name,
            "display": null, "nickname": null }),
        );
        match &n.title {
            Some(t) => attributes.insert(TITLE.into(), vec![t.clone()]),
            None => attributes.remove(TITLE),
        };
    }
    if let Some(a) = &b.address {
        if a.kind.as_deref().is_some_and(|k| !ADDRESS_TYPES.contains(&k)) {
            return Err(TransmitError::bad_one("address.type: one of Home, Work, Other"));
        }
        doc.insert(
            "address".into(),
            json!({ "line1": a.street_address, "line2": null, "city": a.city,
            "state": a.state, "postcode": a.postal_code, "country": a.country }),
        );
        match &a.kind {
            Some(k) => attributes.insert(ADDRESS_TYPE.into(), vec![k.clone()]),
            None => attributes.remove(ADDRESS_TYPE),
        };
    }
    if let Some(d) = &b.birthday {
        doc.insert("birth".into(), json!({ "date": birthday(d)? }));
    }
    for (given, native) in [(&b.picture, "picture"), (&b.language, "locale")] {
        if let Some(v) = given {
            doc.insert(native.into(), json!(v));
        }
    }
    if let Some(data) = &b.custom_data {
        let Some(given) = data.as_object() else {
            return Err(TransmitError::bad_one("custom_data: a JSON object"));
        };
        // Merged one level deep: each member given replaces that member whole.
        let before = current.and_then(|u| u.profile.claims.clone()).unwrap_or_else(|| json!({}));
        let mut after = before.clone();
        for (k, v) in given {
            after[k] = v.clone();
        }
        let patch = if current.is_some() { merge_patch(&before, &after) } else { after };
        doc.insert("claims".into(), patch);
    }
    if let Some(x) = &b.external_user_id {
        doc.insert("external_ids".into(), json!({ "external_user_id": x }));
    }
    if current.is_none_or(|u| u.profile.attributes != attributes) {
        let attributes: Map<String, Value> = match current {
            // A merge patch: removed attributes are nulls.
            Some(u) => u
                .profile
                .attributes
                .keys()
                .filter(|k| !attributes.contains_key(*k))
                .map(|k| (k.clone(), Value::Null))
                .chain(attributes.iter().map(|(k, v)| (k.clone(), json!(v))))
                .collect(),
            None => attributes.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
        };
        if !attributes.is_empty() {
            doc.insert("attributes".into(), Value::Object(attributes));
        }
    }
    if current.is_none() {
        doc.retain(|_, v| !v.is_null());
    }
    Ok(doc)
}
