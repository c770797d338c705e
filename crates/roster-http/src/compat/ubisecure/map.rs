//! Between CustomerID's attributes and the core. A user's `login` is its username, `email` and
//! `mobile` its primary e-mail address and phone number, `firstname` and `surname` its given
//! and family names, `cn` its display name (else both names), `ssn` its national id (written,
//! never read), `pwd` its password; every other name is a user attribute. An organization's
//! `entityName` is its technical name; its other names are attributes.

use roster_core::Transition;
use roster_core::filter::{AttrPath, CompareOp, Filter, Value as Literal};
use roster_core::organizations::Organization;
use roster_core::roles::Role;
use roster_core::user::{Contact, User, UserState};
use serde_json::{Map, Value, json};

use super::error::{Result, UbisecureError};
use super::wire::{Changes, Custom, Doc, USER_BUILTINS};

/// Attributes of a user that are read, never written.
pub(crate) const USER_READ_ONLY: [&str; 7] =
    ["id", "userId", "cn", "organization", "organizationEntityName", "repoId", "type"];

/// A core field path in CustomerID's words, for messages.
pub(crate) fn parameter(field: &str) -> String {
    const NAMES: [(&str, &str); 11] = [
        ("username", "login"),
        ("emails", "email"),
        ("phones", "mobile"),
        ("name.given", "firstname"),
        ("name.family", "surname"),
        ("name.display", "cn"),
        ("national_id", "ssn"),
        ("password", "pwd"),
        ("technical_name", "technicalName"),
        ("friendly_name", "friendlyName"),
        ("type", "organizationType"),
    ];
    if let Some(custom) = field.strip_prefix("attributes.") {
        return custom.split('[').next().unwrap_or(custom).to_owned();
    }
    match crate::surface::rename(field, &NAMES) {
        Some((theirs, _)) => theirs.to_owned(),
        None => field.to_owned(),
    }
}

/// A user status: its name, technical name and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    pub name: &'static str,
    pub technical: &'static str,
    pub code: &'static str,
    /// The core states it stands for.
    pub states: &'static [UserState],
}

pub(crate) const STATUSES: [Status; 5] = [
    Status { name: "Pending", technical: "pending", code: "0", states: &[UserState::Pending] },
    Status { name: "Enabled", technical: "enabled", code: "1", states: &[UserState::Active] },
    Status {
        name: "Disabled",
        technical: "disabled",
        code: "2",
        states: &[UserState::Inactive, UserState::Offboarding],
    },
    Status { name: "Locked", technical: "locked", code: "3", states: &[UserState::Locked] },
    Status {
        name: "Waiting for registration",
        technical: "waiting_for_registration",
        code: "5",
        states: &[UserState::Initial],
    },
];

/// The status of a core state (a tombstone is never shown).
pub(crate) fn status(state: UserState) -> Status {
    STATUSES.into_iter().find(|s| s.states.contains(&state)).unwrap_or(STATUSES[2])
}

/// A status by name, technical name or code, without case.
pub(crate) fn parse_status(given: &str) -> Option<Status> {
    STATUSES.into_iter().find(|s| {
        [s.name, s.technical, s.code].iter().any(|n| n.eq_ignore_ascii_case(given.trim()))
    })
}

/// The transition a written `status` asks of a user in `from`: only `Enabled` and `Disabled`
/// can be set.
pub(crate) fn transition(from: UserState, given: &str) -> roster_core::Result<Option<Transition>> {
    let invalid = |why: &str| Err(roster_core::Error::invalid("status", "invalid_value", why));
    match parse_status(given).map(|s| s.name) {
        Some("Enabled") => Ok(Transition::towards_active(true, from)),
        Some("Disabled") => Ok(match from {
            UserState::Inactive | UserState::Offboarding | UserState::Deleted => None,
            _ => Some(Transition::Deactivate),
        }),
        _ => invalid("only Enabled or Disabled can be set"),
    }
}

fn primary(items: &[Contact]) -> Option<&Contact> {
    items.iter().find(|c| c.primary).or(items.first())
}

/// `cn`: the display name, else the given and family names joined by a space.
fn common_name(user: &User) -> Option<String> {
    let name = user.profile.name.as_ref()?;
    if let Some(display) = &name.display {
        return Some(display.clone());
    }
    let parts: Vec<&str> =
        [&name.given, &name.family].into_iter().flatten().map(String::as_str).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A user's builtin attributes that are read, in the order they are answered.
fn builtins(user: &User, org: &Organization) -> Vec<(&'static str, String)> {
    let p = &user.profile;
    let name = p.name.as_ref();
    let text = |v: Option<&String>| v.cloned().unwrap_or_default();
    vec![
        ("firstname", text(name.and_then(|n| n.given.as_ref()))),
        ("surname", text(name.and_then(|n| n.family.as_ref()))),
        ("cn", common_name(user).unwrap_or_default()),
        ("login", text(user.username.as_ref())),
        ("email", primary(&p.emails).map(|c| c.value.clone()).unwrap_or_default()),
        ("mobile", primary(&p.phones).map(|c| c.value.clone()).unwrap_or_default()),
        ("locale", text(p.locale.as_ref())),
        ("status", status(user.state).name.to_owned()),
        ("organization", org.friendly_name.clone()),
        ("organizationEntityName", org.technical_name.clone()),
        ("repoId", org.id.to_string()),
    ]
}

/// Custom attributes: the user's attributes whose names are not builtin.
fn custom(user: &User) -> Custom {
    user.profile
        .attributes
        .iter()
        .filter(|(name, _)| {
            !USER_BUILTINS.contains(&name.as_str()) && !USER_READ_ONLY.contains(&name.as_str())
        })
        .map(|(name, values)| (name.clone(), values.clone()))
        .collect()
}

/// GET105's `<User>`: `id`, the builtin attributes, then the custom ones.
pub(crate) fn user(user: &User, org: &Organization) -> Doc {
    let mut attributes = vec![("id".to_owned(), vec![user.id.to_string()])];
    attributes.extend(builtins(user, org).into_iter().map(|(n, v)| (n.to_owned(), vec![v])));
    attributes.extend(custom(user));
    Doc::Entity { root: "User", kind: "user", attributes }
}

/// PATCH124's `UserResponse`: the seed's members, the user's id as `userId`.
pub(crate) fn user_response(user: &User, org: &Organization) -> Doc {
    let mut members: Vec<(&'static str, String)> =
        builtins(user, org).into_iter().filter(|(n, _)| *n != "cn").collect();
    let at = members.iter().position(|(n, _)| *n == "organization").unwrap_or(members.len());
    members.insert(at, ("userId", user.id.to_string()));
    Doc::Record { root: "UserResponse", members, custom: Some(custom(user)) }
}

/// A user change as a native document: a create document when there is no `current` user, a
/// JSON Merge Patch of it otherwise. `status`, `pwd.activated` are the caller's.
pub(crate) fn document(changes: &Changes, current: Option<&User>) -> Result<Map<String, Value>> {
    let mut doc = Map::new();
    let given = |name: &str| changes.builtins.get(name).map(String::as_str);
    let or_null = |v: &str| if v.is_empty() { Value::Null } else { json!(v) };
    if let Some(v) = given("pwd.activated") {
        match v.to_ascii_lowercase().as_str() {
            "true" => {}
            "false" => {
                return Err(UbisecureError::invalid(
                    "pwd.activated: password authentication cannot be turned off here",
                ));
            }
            _ => return Err(UbisecureError::invalid("pwd.activated: true or false")),
        }
    }
    if let Some(v) = given("login") {
        doc.insert("username".into(), or_null(v));
    }
    let contacts = |v: &str, kept: &[Contact], phone: bool| {
        let kept_primary = primary(kept);
        let mut list: Vec<Value> = Vec::new();
        if !v.is_empty() {
            let verified = kept_primary.is_some_and(|c| c.value == v && c.verified);
            let mut contact = json!({ "value": v, "primary": true, "verified": verified });
            if phone {
                // What CustomerID stores as given, Roster keeps as given when it is not E.164.
                contact["unnormalized"] = json!(true);
            }
            list.push(contact);
        }
        for c in kept.iter().filter(|c| Some(*c) != kept_primary) {
            list.push(serde_json::to_value(c).unwrap_or(Value::Null));
        }
        Value::Array(list)
    };
    let (emails, phones) =
        current.map_or((&[][..], &[][..]), |u| (&u.profile.emails[..], &u.profile.phones[..]));
    if let Some(v) = given("email") {
        doc.insert("emails".into(), contacts(v, emails, false));
    }
    if let Some(v) = given("mobile") {
        doc.insert("phones".into(), contacts(v, phones, true));
    }
    let mut name = Map::new();
    for (theirs, ours) in [("firstname", "given"), ("surname", "family")] {
        if let Some(v) = given(theirs) {
            name.insert(ours.into(), or_null(v));
        }
    }
    if !name.is_empty() {
        doc.insert("name".into(), Value::Object(name));
    }
    for (theirs, ours) in [("locale", "locale"), ("ssn", "national_id"), ("pwd", "password")] {
        if let Some(v) = given(theirs) {
            doc.insert(ours.into(), or_null(v));
        }
    }
    if !changes.custom.is_empty() {
        let attributes: Map<String, Value> = changes
            .custom
            .iter()
            .map(|(n, values)| {
                (n.clone(), if values.is_empty() { Value::Null } else { json!(values) })
            })
            .collect();
        doc.insert("attributes".into(), Value::Object(attributes));
    }
    if current.is_none() {
        strip_nulls(&mut doc);
    }
    Ok(doc)
}

/// A create document holds no removals.
fn strip_nulls(doc: &mut Map<String, Value>) {
    doc.retain(|_, v| !v.is_null());
    for value in doc.values_mut() {
        if let Value::Object(inner) = value {
            strip_nulls(inner);
        }
    }
    doc.retain(|_, v| !matches!(v, Value::Object(o) if o.is_empty()));
}

/// The search GET104 and GET113 ask for.
#[derive(Debug, Default)]
pub(crate) struct Criteria {
    pub filter: Option<Filter>,
    /// 0: no limit.
    pub max_results: u64,
    pub recursive: bool,
    /// Organizations named by `organization` or `organizationEntityName`, and whether the
    /// match is exact: resolved by the caller.
    pub organization: Vec<(OrgName, String)>,
    pub exact: bool,
    /// An id criterion that is not a UUID: no user matches.
    pub none: bool,
}

/// Which name of its organization a criterion gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrgName {
    Friendly,
    Technical,
}

/// Reads the criteria of a user listing: `exactMatch`, `maxResults`, `recursive` (where
/// `recursive_allowed`), and any user attribute once each.
pub(crate) fn criteria(params: &[(String, String)], recursive_allowed: bool) -> Result<Criteria> {
    let mut out = Criteria::default();
    let mut seen: Vec<&str> = Vec::new();
    let boolean = |name: &str, v: &str| match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(UbisecureError::invalid(format!("{name}: true or false"))),
    };
    let mut tests: Vec<(String, String)> = Vec::new();
    for (name, value) in params {
        if seen.contains(&name.as_str()) {
            return Err(UbisecureError::invalid(format!("{name}: is given more than once")));
        }
        seen.push(name);
        match name.as_str() {
            "exactMatch" => out.exact = boolean(name, value)?,
            "recursive" if recursive_allowed => out.recursive = boolean(name, value)?,
            "maxResults" => {
                out.max_results = value.trim().parse().map_err(|_| {
                    UbisecureError::invalid("maxResults: a whole number, 0 for no limit")
                })?;
            }
            _ => tests.push((name.clone(), value.clone())),
        }
    }
    let op = if out.exact { CompareOp::Eq } else { CompareOp::Sw };
    let mut filters = Vec::new();
    let compare = |names: &[&str], value: &str| {
        Filter::Compare(AttrPath::new(names.iter().copied()), op, Literal::String(value.to_owned()))
    };
    for (name, value) in &tests {
        let filter = match name.as_str() {
            "status" => {
                let status = parse_status(value).ok_or_else(|| {
                    UbisecureError::invalid(
                        "status: a status name, technical name or code (Pending, 0, enabled, …)",
                    )
                })?;
                let states = status.states.iter().map(|s| {
                    Filter::Compare(
                        AttrPath::new(["state"]),
                        CompareOp::Eq,
                        Literal::String(s.as_str().to_owned()),
                    )
                });
                match any_of(states) {
                    Some(filter) => filter,
                    None => continue,
                }
            }
            "id" | "userId" | "repoId" => {
                let column = if name == "repoId" { "organization_id" } else { "id" };
                match value.trim().parse::<uuid::Uuid>() {
                    Ok(id) => Filter::Compare(
                        AttrPath::new([column]),
                        CompareOp::Eq,
                        Literal::String(id.to_string()),
                    ),
                    // Every id is a UUID: a criterion that is not one matches no user.
                    Err(_) => {
                        out.none = true;
                        continue;
                    }
                }
            }
            "organization" => {
                out.organization.push((OrgName::Friendly, value.clone()));
                continue;
            }
            "organizationEntityName" => {
                out.organization.push((OrgName::Technical, value.clone()));
                continue;
            }
            "login" => compare(&["username"], value),
            "firstname" => compare(&["name", "given"], value),
            "surname" => compare(&["name", "family"], value),
            "cn" => compare(&["name", "display"], value),
            "locale" => compare(&["locale"], value),
            "email" | "mobile" => {
                let list = if name == "email" { "emails" } else { "phones" };
                Filter::Elements(AttrPath::new([list]), Box::new(compare(&["value"], value)))
            }
            "ssn" | "pwd" | "pwd.activated" => {
                return Err(UbisecureError::invalid(format!("{name}: cannot be searched")));
            }
            custom => Filter::Compare(
                AttrPath { schema: None, names: vec!["attributes".to_owned(), custom.to_owned()] },
                op,
                Literal::String(value.clone()),
            ),
        };
        filters.push(filter);
    }
    out.filter = filters.into_iter().reduce(|a, b| Filter::And(Box::new(a), Box::new(b)));
    Ok(out)
}

/// `a or b or …`; `None` of nothing.
pub(crate) fn any_of(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
    filters.into_iter().reduce(|a, b| Filter::Or(Box::new(a), Box::new(b)))
}

/// Whether `name` matches `given` as a criterion does: a prefix (or the whole, if `exact`),
/// without case.
pub(crate) fn matches(name: &str, given: &str, exact: bool) -> bool {
    let (name, given) = (name.to_lowercase(), given.to_lowercase());
    if exact { name == given } else { name.starts_with(&given) }
}

/// GET107's `<Organization>`.
pub(crate) fn organization(org: &Organization) -> Doc {
    let mut attributes = vec![
        ("id".to_owned(), vec![org.id.to_string()]),
        ("entityName".to_owned(), vec![org.technical_name.clone()]),
        ("friendlyName".to_owned(), vec![org.friendly_name.clone()]),
        ("organizationType".to_owned(), vec![org.kind.clone()]),
        ("virtual".to_owned(), vec![org.is_virtual.to_string()]),
    ];
    if let Some(parent) = org.parent_id {
        attributes.push(("parentOrganizationId".to_owned(), vec![parent.to_string()]));
    }
    let builtin = |n: &str| attributes.iter().any(|(b, _)| b == n);
    let custom: Vec<(String, Vec<String>)> = org
        .attributes
        .iter()
        .filter(|(n, _)| !builtin(n))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    attributes.extend(custom);
    Doc::Entity { root: "Organization", kind: "organization", attributes }
}

/// GET109's `<Role>`.
pub(crate) fn role(role: &Role) -> Doc {
    Doc::Entity {
        root: "Role",
        kind: "role",
        attributes: vec![
            ("id".to_owned(), vec![role.id.to_string()]),
            ("name".to_owned(), vec![role.name.clone()]),
            ("organizationId".to_owned(), vec![role.organization_id.to_string()]),
        ],
    }
}

/// POST100's and PUT101's parameters as a native organization document (a create document,
/// or a JSON Merge Patch when `update`): the builtin names, and every other name an attribute
/// whose values are separated by commas (an empty one removes it).
pub(crate) fn organization_document(
    params: &[(String, String)],
    update: bool,
) -> Result<Map<String, Value>> {
    let mut doc = Map::new();
    let mut attributes = Map::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in params {
        let value = value.trim();
        let builtin = matches!(
            name.as_str(),
            "technicalName"
                | "friendlyName"
                | "organizationType"
                | "virtual"
                | "parentOrganizationId"
        );
        if builtin && seen.contains(&name.as_str()) {
            return Err(UbisecureError::invalid(format!("{name}: is given more than once")));
        }
        seen.push(name);
        let text = |v: &str| if v.is_empty() && update { Value::Null } else { json!(v) };
        match name.as_str() {
            "technicalName" => drop(doc.insert("technical_name".into(), text(value))),
            "friendlyName" => drop(doc.insert("friendly_name".into(), text(value))),
            "organizationType" => drop(doc.insert("type".into(), text(value))),
            "virtual" => {
                let flag = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(UbisecureError::invalid("virtual: true or false")),
                };
                doc.insert("virtual".into(), json!(flag));
            }
            "parentOrganizationId" if update => {
                return Err(UbisecureError::invalid(
                    "parentOrganizationId: an organization is not moved by an update",
                ));
            }
            // The caller resolves the parent, so that an unknown one is `Parent not found`.
            "parentOrganizationId" => {}
            "id" | "entityName" | "type" => {
                return Err(UbisecureError::invalid(format!("{name}: cannot be changed")));
            }
            _ if name.is_empty() => return Err(UbisecureError::invalid("a parameter has no name")),
            custom => {
                let values: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect();
                match attributes.get_mut(custom) {
                    Some(Value::Array(kept)) => kept.extend(values.into_iter().map(Value::from)),
                    _ => {
                        let value = if values.is_empty() { Value::Null } else { json!(values) };
                        attributes.insert(custom.to_owned(), value);
                    }
                }
            }
        }
    }
    if !update {
        attributes.retain(|_, v| !v.is_null());
        doc.retain(|_, v| v.as_str() != Some(""));
    }
    if !attributes.is_empty() {
        doc.insert("attributes".into(), Value::Object(attributes));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_by_name_technical_name_or_code() {
        for given in [
            "Waiting for registration",
            "waiting_for_registration",
            "5",
            "WAITING_FOR_REGISTRATION",
        ] {
            assert_eq!(parse_status(given).unwrap().states, &[UserState::Initial], "{given}");
        }
        assert_eq!(parse_status("0").unwrap().name, "Pending");
        assert!(parse_status("4").is_none(), "Not initialized is not a status Roster has");
        assert_eq!(status(UserState::Offboarding).name, "Disabled");
    }

    #[test]
    fn only_enabled_and_disabled_are_written() {
        assert_eq!(transition(UserState::Inactive, "Enabled").unwrap(), Some(Transition::Activate));
        assert_eq!(
            transition(UserState::Locked, "Disabled").unwrap(),
            Some(Transition::Deactivate)
        );
        assert_eq!(transition(UserState::Active, "enabled").unwrap(), None);
        assert!(transition(UserState::Active, "Locked").is_err());
    }

    #[test]
    fn core_fields_are_named_as_customerid_names_them() {
        assert_eq!(parameter("emails[0].value"), "email");
        assert_eq!(parameter("name.given"), "firstname");
        assert_eq!(parameter("attributes.browsers[1]"), "browsers");
        assert_eq!(parameter("username"), "login");
    }

    #[test]
    fn organization_attributes_split_on_commas() {
        let params = [
            ("friendlyName".to_owned(), "Acme".to_owned()),
            ("vatnumber".to_owned(), "1, 2".to_owned()),
            ("empty".to_owned(), String::new()),
        ];
        let create = organization_document(&params, false).unwrap();
        assert_eq!(
            Value::Object(create),
            json!({ "friendly_name": "Acme", "attributes": { "vatnumber": ["1", "2"] } })
        );
        let update = organization_document(&params, true).unwrap();
        assert_eq!(update["attributes"]["empty"], Value::Null, "an empty value removes");
    }
}
