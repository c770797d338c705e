//! Mapping between ZITADEL's messages and the core: users out, create and update documents in,
//! list queries into the one filter AST.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use roster_core::filter::{AttrPath, CompareOp, Filter, Value as Literal};
use roster_core::query::SortKey;
use roster_core::user::{Gender, User, UserKind, UserState};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{Result, ZitadelError};
use super::wire::{
    Human, Machine, Metadata, Profile, SearchQuery, SetEmail, SetPassword, SetPhone, TextQuery,
    oneof,
};

/// A core field path in ZITADEL's words, for error messages.
pub(crate) fn field_name(field: &str) -> String {
    const NAMES: [(&str, &str); 12] = [
        ("id", "userId"),
        ("aliases.zitadel", "userId"),
        ("password_hash", "hashedPassword.hash"),
        ("username", "username"),
        ("name.given", "profile.givenName"),
        ("name.family", "profile.familyName"),
        ("name.nickname", "profile.nickName"),
        ("name.display", "profile.displayName"),
        ("locale", "profile.preferredLanguage"),
        ("emails", "email"),
        ("phones", "phone"),
        ("machine", "machine"),
    ];
    match crate::surface::rename(field, &NAMES) {
        // ZITADEL's e-mail and phone are single values.
        Some((zitadel, rest)) => format!("{zitadel}{}", rest.trim_start_matches("[0]")),
        None => field.to_owned(),
    }
}

fn time(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map_or(Value::Null, Value::String)
}

/// The namespace of the ids ZITADEL clients choose (`CreateUser`'s `userId`) that are not
/// Roster's UUIDs: kept as the user's alias, and the user's id in this dialect.
pub(crate) const ALIASES: &str = "zitadel";

/// The user's id in this dialect: the id its client chose, else Roster's.
pub(crate) fn id(user: &User) -> String {
    user.profile.aliases.get(ALIASES).cloned().unwrap_or_else(|| user.id.to_string())
}

/// `details` of a user: its version as the sequence, its dates and owning organization.
pub(crate) fn details(user: &User) -> Value {
    json!({
        "sequence": user.version.to_string(),
        "creationDate": time(user.created_at),
        "changeDate": time(user.updated_at),
        "resourceOwner": user.organization_id.to_string(),
    })
}

pub(crate) fn state_name(state: UserState) -> &'static str {
    match state {
        UserState::Initial | UserState::Pending => "USER_STATE_INITIAL",
        UserState::Active => "USER_STATE_ACTIVE",
        UserState::Inactive | UserState::Offboarding => "USER_STATE_INACTIVE",
        UserState::Locked => "USER_STATE_LOCKED",
        UserState::Deleted => "USER_STATE_DELETED",
    }
}

fn gender_name(gender: Option<Gender>) -> &'static str {
    match gender {
        Some(Gender::Female) => "GENDER_FEMALE",
        Some(Gender::Male) => "GENDER_MALE",
        Some(Gender::Diverse) => "GENDER_DIVERSE",
        Some(Gender::Unspecified) | None => "GENDER_UNSPECIFIED",
    }
}

/// A user as ZITADEL's `User` message.
pub(crate) fn user(user: &User) -> Value {
    let p = &user.profile;
    let username = user.username.clone().unwrap_or_default();
    let mut out = json!({
        "userId": id(user),
        "details": details(user),
        "state": state_name(user.state),
        "username": username,
        "loginNames": [username],
        "preferredLoginName": username,
    });
    match user.kind {
        UserKind::Human => {
            let name = p.name.clone().unwrap_or_default();
            let primary = |items: &[roster_core::user::Contact]| {
                items.iter().find(|c| c.primary).or(items.first()).cloned()
            };
            let mut human = json!({
                "profile": {
                    "givenName": name.given.unwrap_or_default(),
                    "familyName": name.family.unwrap_or_default(),
                    "nickName": name.nickname.unwrap_or_default(),
                    "displayName": name.display.unwrap_or_default(),
                    "preferredLanguage": p.locale.clone().unwrap_or_default(),
                    "gender": gender_name(p.gender),
                    "avatarUrl": p.picture.clone().unwrap_or_default(),
                },
                "passwordChangeRequired": user.password.change_required,
            });
            if let Some(e) = primary(&p.emails) {
                human["email"] = json!({ "email": e.value, "isVerified": e.verified });
            }
            if let Some(ph) = primary(&p.phones) {
                human["phone"] = json!({ "phone": ph.value, "isVerified": ph.verified });
            }
            if let Some(changed) = user.password.changed_at {
                human["passwordChanged"] = time(changed);
            }
            out["human"] = human;
        }
        UserKind::Machine => {
            let m = p.machine.clone();
            let token_type = match m.as_ref().map(|m| m.access_token_type) {
                Some(roster_core::user::AccessTokenType::Jwt) => "ACCESS_TOKEN_TYPE_JWT",
                _ => "ACCESS_TOKEN_TYPE_BEARER",
            };
            out["machine"] = json!({
                "name": m.as_ref().map(|m| m.name.clone()).unwrap_or_default(),
                "description": m.and_then(|m| m.description).unwrap_or_default(),
                "hasSecret": user.has_secret.unwrap_or(false),
                "accessTokenType": token_type,
            });
        }
    }
    out
}

/// The fields a profile sets, as a merge into the native `name`, `locale` and `gender`.
pub(crate) fn profile_into(profile: &Profile, doc: &mut Map<String, Value>) -> Result<()> {
    let mut name = doc.get("name").and_then(Value::as_object).cloned().unwrap_or_default();
    for (field, value) in [
        ("given", &profile.given_name),
        ("family", &profile.family_name),
        ("nickname", &profile.nick_name),
        ("display", &profile.display_name),
    ] {
        if let Some(v) = value {
            name.insert(field.into(), json!(v));
        }
    }
    if !name.is_empty() {
        doc.insert("name".into(), Value::Object(name));
    }
    if let Some(lang) = &profile.preferred_language {
        doc.insert("locale".into(), if lang.is_empty() { Value::Null } else { json!(lang) });
    }
    if let Some(g) = &profile.gender {
        let gender = match g.as_str() {
            "GENDER_FEMALE" => json!("female"),
            "GENDER_MALE" => json!("male"),
            "GENDER_DIVERSE" => json!("diverse"),
            "GENDER_UNSPECIFIED" => Value::Null,
            other => {
                return Err(ZitadelError::invalid(format!(
                    "profile.gender: unknown value {other}"
                )));
            }
        };
        doc.insert("gender".into(), gender);
    }
    Ok(())
}

/// Whether a value is set verified. `returnCode` leaves it unverified (a code is issued after
/// the write); Roster sends no mail or SMS, so `sendCode` is refused.
pub(crate) fn verification(
    what: &str,
    send: bool,
    ret: bool,
    verified: Option<bool>,
) -> Result<bool> {
    oneof(what, &[send, ret, verified.is_some()])?;
    if send {
        return Err(ZitadelError::new(
            super::error::Code::FailedPrecondition,
            format!("{what}.sendCode: Roster sends no messages; use returnCode or isVerified"),
        ));
    }
    Ok(verified.unwrap_or(false))
}

pub(crate) fn email_contact(e: &SetEmail) -> Result<Value> {
    let verified =
        verification("email", e.send_code.is_some(), e.return_code.is_some(), e.is_verified)?;
    Ok(json!([{ "value": e.email, "primary": true, "verified": verified }]))
}

pub(crate) fn phone_contact(p: &SetPhone) -> Result<Value> {
    let verified =
        verification("phone", p.send_code.is_some(), p.return_code.is_some(), p.is_verified)?;
    Ok(json!([{ "value": p.phone, "primary": true, "verified": verified }]))
}

/// A password a request sets: in clear text or as a hash from another system.
pub(crate) enum NewPassword {
    Plain(String),
    Hashed(String),
}

/// The password of `SetPassword`, with whether it must be changed at the next sign-in; a change
/// confirmed by `currentPassword` or a code is not part of these calls.
pub(crate) fn password_into(p: &SetPassword) -> Result<Option<(NewPassword, bool)>> {
    oneof("password", &[p.password.is_some(), p.hashed_password.is_some()])?;
    if p.current_password.is_some() || p.verification_code.is_some() {
        return Err(ZitadelError::new(
            super::error::Code::Unimplemented,
            "password.currentPassword and password.verificationCode are not supported: use SetPassword",
        ));
    }
    Ok(match (&p.password, &p.hashed_password) {
        (Some(p), _) => Some((NewPassword::Plain(p.password.clone()), p.change_required)),
        (_, Some(h)) => Some((NewPassword::Hashed(h.hash.clone()), h.change_required)),
        (None, None) => None,
    })
}

/// Metadata as user attributes: each key one UTF-8 value.
pub(crate) fn metadata_attributes(metadata: &[Metadata]) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (i, m) in metadata.iter().enumerate() {
        let bytes = STANDARD
            .decode(&m.value)
            .map_err(|_| ZitadelError::invalid(format!("metadata[{i}].value: not base64")))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            ZitadelError::invalid(format!("metadata[{i}].value: Roster keeps UTF-8 text values"))
        })?;
        out.insert(m.key.clone(), json!([text]));
    }
    Ok(out)
}

/// Attributes as metadata (`{key, value}` with base64 values).
pub(crate) fn metadata(user: &User) -> Vec<Value> {
    user.profile
        .attributes
        .iter()
        .map(|(key, values)| json!({ "key": key, "value": STANDARD.encode(values.join(",")) }))
        .collect()
}

/// A human's create document from its parts, and its password.
pub(crate) fn human_doc(
    human: &Human,
    doc: &mut Map<String, Value>,
) -> Result<Option<(NewPassword, bool)>> {
    if let Some(profile) = &human.profile {
        profile_into(profile, doc)?;
    }
    if let Some(e) = &human.email {
        doc.insert("emails".into(), email_contact(e)?);
    }
    if let Some(p) = &human.phone {
        doc.insert("phones".into(), phone_contact(p)?);
    }
    if let Some(m) = &human.metadata {
        doc.insert("attributes".into(), Value::Object(metadata_attributes(m)?));
    }
    human.password.as_ref().map(password_into).transpose().map(Option::flatten)
}

pub(crate) fn machine_doc(machine: &Machine, doc: &mut Map<String, Value>) {
    let mut m = Map::new();
    if let Some(n) = &machine.name {
        m.insert("name".into(), json!(n));
    }
    if let Some(d) = &machine.description {
        m.insert("description".into(), json!(d));
    }
    doc.insert("machine".into(), Value::Object(m));
}

fn path(names: &[&str]) -> AttrPath {
    AttrPath::new(names.iter().copied())
}

fn text(q: &TextQuery, names: &[&str]) -> Result<Filter> {
    let op = match q.method.as_deref().unwrap_or("TEXT_QUERY_METHOD_EQUALS") {
        "TEXT_QUERY_METHOD_EQUALS" | "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE" => CompareOp::Eq,
        "TEXT_QUERY_METHOD_STARTS_WITH" | "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE" => {
            CompareOp::Sw
        }
        "TEXT_QUERY_METHOD_CONTAINS" | "TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE" => CompareOp::Co,
        "TEXT_QUERY_METHOD_ENDS_WITH" | "TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE" => CompareOp::Ew,
        other => return Err(ZitadelError::invalid(format!("unknown text query method {other}"))),
    };
    Ok(Filter::Compare(path(names), op, Literal::String(q.value.clone())))
}

/// Matches nothing: the filter of an empty `in` list.
fn nothing() -> Filter {
    Filter::Not(Box::new(Filter::Present(path(&["id"]))))
}

fn any_of(items: impl IntoIterator<Item = Filter>) -> Filter {
    items.into_iter().reduce(|a, b| Filter::Or(Box::new(a), Box::new(b))).unwrap_or_else(nothing)
}

/// `queries` (ANDed) as one filter; `None` when there is none.
pub(crate) fn filter(queries: &[SearchQuery]) -> Result<Option<Filter>> {
    let mut all = Vec::with_capacity(queries.len());
    for q in queries {
        all.push(query(q)?);
    }
    Ok(all.into_iter().reduce(|a, b| Filter::And(Box::new(a), Box::new(b))))
}

fn query(q: &SearchQuery) -> Result<Filter> {
    let set = [
        q.user_name_query.is_some(),
        q.first_name_query.is_some(),
        q.last_name_query.is_some(),
        q.nick_name_query.is_some(),
        q.display_name_query.is_some(),
        q.email_query.is_some(),
        q.phone_query.is_some(),
        q.login_name_query.is_some(),
        q.state_query.is_some(),
        q.type_query.is_some(),
        q.organization_id_query.is_some(),
        q.in_user_ids_query.is_some(),
        q.in_user_emails_query.is_some(),
        q.and_query.is_some(),
        q.or_query.is_some(),
        q.not_query.is_some(),
        q.metadata_key_filter.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err(ZitadelError::invalid("each query sets exactly one kind of query"));
    }
    let eq = |names: &[&str], v: &str| {
        Filter::Compare(path(names), CompareOp::Eq, Literal::String(v.to_owned()))
    };
    Ok(if let Some(t) = &q.user_name_query {
        text(t, &["username"])?
    } else if let Some(t) = &q.login_name_query {
        text(t, &["username"])?
    } else if let Some(t) = &q.first_name_query {
        text(t, &["name", "given"])?
    } else if let Some(t) = &q.last_name_query {
        text(t, &["name", "family"])?
    } else if let Some(t) = &q.nick_name_query {
        text(t, &["name", "nickname"])?
    } else if let Some(t) = &q.display_name_query {
        text(t, &["name", "display"])?
    } else if let Some(t) = &q.email_query {
        text(t, &["emails", "value"])?
    } else if let Some(t) = &q.phone_query {
        text(t, &["phones", "value"])?
    } else if let Some(s) = &q.state_query {
        let states: &[&str] = match s.state.as_str() {
            "USER_STATE_ACTIVE" => &["active"],
            "USER_STATE_INACTIVE" => &["inactive", "offboarding"],
            "USER_STATE_LOCKED" => &["locked"],
            "USER_STATE_INITIAL" => &["initial", "pending"],
            // Deleted users are never listed.
            "USER_STATE_DELETED" => &[],
            other => {
                return Err(ZitadelError::invalid(format!("stateQuery: unknown state {other}")));
            }
        };
        any_of(states.iter().map(|s| eq(&["state"], s)))
    } else if let Some(t) = &q.type_query {
        match t.kind.as_str() {
            "TYPE_HUMAN" => eq(&["kind"], "human"),
            "TYPE_MACHINE" => eq(&["kind"], "machine"),
            other => return Err(ZitadelError::invalid(format!("typeQuery: unknown type {other}"))),
        }
    } else if let Some(o) = &q.organization_id_query {
        if uuid::Uuid::parse_str(&o.organization_id).is_err() {
            nothing()
        } else {
            eq(&["organization_id"], &o.organization_id)
        }
    } else if let Some(ids) = &q.in_user_ids_query {
        // Roster's ids, or the ids clients chose (aliases).
        any_of(ids.user_ids.iter().map(|id| match uuid::Uuid::parse_str(id) {
            Ok(_) => eq(&["id"], id),
            Err(_) => eq(&["aliases", ALIASES], id),
        }))
    } else if let Some(emails) = &q.in_user_emails_query {
        any_of(emails.user_emails.iter().map(|e| eq(&["emails", "value"], e)))
    } else if let Some(and) = &q.and_query {
        filter(&and.queries)?.unwrap_or_else(|| Filter::Present(path(&["id"])))
    } else if let Some(or) = &q.or_query {
        let mut parts = Vec::new();
        for q in &or.queries {
            parts.push(query(q)?);
        }
        any_of(parts)
    } else if let Some(not) = &q.not_query {
        Filter::Not(Box::new(query(&not.query)?))
    } else if let Some(m) = &q.metadata_key_filter {
        if m.method.as_deref().is_some_and(|m| m != "TEXT_QUERY_METHOD_EQUALS") {
            return Err(ZitadelError::invalid("metadataKeyFilter: only TEXT_QUERY_METHOD_EQUALS"));
        }
        Filter::Present(path(&["attributes", &m.key]))
    } else {
        return Err(ZitadelError::invalid("each query sets exactly one kind of query"));
    })
}

/// `sortingColumn` as a core sort key.
pub(crate) fn sort_key(column: Option<&str>) -> Result<SortKey> {
    Ok(match column.unwrap_or("USER_FIELD_NAME_UNSPECIFIED") {
        "USER_FIELD_NAME_UNSPECIFIED" | "USER_FIELD_NAME_CREATION_DATE" => SortKey::CreatedAt,
        "USER_FIELD_NAME_USER_NAME" => SortKey::Username,
        "USER_FIELD_NAME_LAST_NAME" => SortKey::FamilyName,
        "USER_FIELD_NAME_EMAIL" => SortKey::Email,
        other => {
            return Err(ZitadelError::invalid(format!(
                "sortingColumn {other} is not supported: sort by creation date, user name, last name or email"
            )));
        }
    })
}
