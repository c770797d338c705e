//! `/scim/v2/Users`: the SCIM User (core schema, the Enterprise extension and Roster's own)
//! mapped to and from the core user, and its handlers.
//!
//! Mapping (SCIM → core): `userName` → `username`; `externalId` → `external_ids.external_user_id`;
//! `name.givenName|middleName|familyName` → `name.given|middle|family`; `displayName`,
//! `nickName` → `name.display|nickname`; `locale`; `emails[].value|primary` and
//! `phoneNumbers[].value|primary` → `emails`, `phones`; `photos[0].value` → `picture`;
//! `addresses[0]` → `address`; `password` (write-only); `active` → the state (see
//! [`Transition::towards_active`](roster_core::Transition::towards_active)). The Enterprise
//! extension's attributes are kept as attributes of the same name; Roster's extension carries the
//! rest (salutation, gender, academic title, birth, nationalities, postal address, attributes,
//! external account id). What SCIM leaves to `/v1` (the owning organization, free-form JSON
//! claims, per-application data, machine details, `verified` flags) a PUT or PATCH keeps.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use roster_core::filter::{AttrPath, CompareOp, Filter, Value as Literal};
use roster_core::input::parse_document;
use roster_core::query::{Order, SortKey, parse_filter};
use roster_core::user::{Address, Contact, User, UserState};
use roster_core::{Error, FieldError, Search, Transition, UserId, UserInput};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

use super::Scim;
use super::list::{ListRequest, Projection};
use super::patch::{self, Schema};
use super::{
    BaseUrl, ENTERPRISE_SCHEMA, ROSTER_USER_SCHEMA, ScimBody, ScimError, ScimResult, USER_SCHEMA,
    require_schema, resource, scim_json, version_tag,
};
use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::IfMatch;

/// The Enterprise extension's attributes, each kept as the user attribute of the same name.
pub(crate) const ENTERPRISE_ATTRIBUTES: [&str; 6] =
    ["employeeNumber", "costCenter", "organization", "division", "department", "manager"];

/// Top-level attributes of the core User schema that Roster keeps.
const CORE_ATTRIBUTES: [&str; 16] = [
    "id",
    "externalId",
    "meta",
    "schemas",
    "userName",
    "name",
    "displayName",
    "nickName",
    "locale",
    "active",
    "password",
    "emails",
    "phoneNumbers",
    "photos",
    "addresses",
    "groups",
];

/// Roster's extension attributes.
const ROSTER_ATTRIBUTES: [&str; 8] = [
    "salutation",
    "gender",
    "academicTitle",
    "birth",
    "nationalities",
    "postalAddress",
    "attributes",
    "externalAccountId",
];

pub(crate) const SCHEMA: Schema = Schema {
    core: USER_SCHEMA,
    extensions: &[ENTERPRISE_SCHEMA, ROSTER_USER_SCHEMA],
    known: |urn, attr| {
        let list: &[&str] = match urn {
            None => &CORE_ATTRIBUTES,
            Some(ENTERPRISE_SCHEMA) => &ENTERPRISE_ATTRIBUTES,
            Some(_) => &ROSTER_ATTRIBUTES,
        };
        list.iter().any(|a| a.eq_ignore_ascii_case(attr))
    },
    read_only: &["id", "meta", "groups"],
};

/// A user as a SCIM User.
pub(crate) fn to_scim(user: &User, base: &str) -> Value {
    let p = &user.profile;
    let mut doc = Map::new();
    let mut schemas = vec![json!(USER_SCHEMA)];
    doc.insert("id".into(), json!(user.id));
    put(&mut doc, "externalId", json!(p.external_ids.external_user_id));
    put(&mut doc, "userName", json!(user.username));
    if let Some(n) = &p.name {
        let mut name = Map::new();
        put(&mut name, "givenName", json!(n.given));
        put(&mut name, "middleName", json!(n.middle));
        put(&mut name, "familyName", json!(n.family));
        put(&mut doc, "name", Value::Object(name));
        put(&mut doc, "displayName", json!(n.display));
        put(&mut doc, "nickName", json!(n.nickname));
    }
    put(&mut doc, "locale", json!(p.locale));
    doc.insert("active".into(), json!(user.state == UserState::Active));
    let contacts = |items: &[Contact]| -> Value {
        items.iter().map(|c| json!({ "value": c.value, "primary": c.primary })).collect()
    };
    put(&mut doc, "emails", contacts(&p.emails));
    put(&mut doc, "phoneNumbers", contacts(&p.phones));
    if let Some(picture) = &p.picture {
        doc.insert("photos".into(), json!([{ "value": picture }]));
    }
    if let Some(a) = &p.address {
        let mut address = address_to_scim(a);
        address.insert("type".into(), json!("home"));
        doc.insert("addresses".into(), json!([address]));
    }
    let mut enterprise = Map::new();
    for name in ENTERPRISE_ATTRIBUTES {
        let Some(value) = p.attributes.get(name).and_then(|v| v.first()) else { continue };
        let value = if name == "manager" { json!({ "value": value }) } else { json!(value) };
        enterprise.insert(name.into(), value);
    }
    if !enterprise.is_empty() {
        schemas.push(json!(ENTERPRISE_SCHEMA));
        doc.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    let mut roster = Map::new();
    put(&mut roster, "salutation", json!(p.salutation));
    put(&mut roster, "gender", json!(p.gender));
    put(&mut roster, "academicTitle", json!(p.title));
    if let Some(b) = &p.birth {
        put(&mut roster, "birth", json!(b));
    }
    put(&mut roster, "nationalities", json!(p.nationalities));
    if let Some(a) = &p.postal_address {
        put(&mut roster, "postalAddress", Value::Object(address_to_scim(a)));
    }
    let attributes: Vec<Value> = p
        .attributes
        .iter()
        .filter(|(name, _)| !ENTERPRISE_ATTRIBUTES.contains(&name.as_str()))
        .flat_map(|(name, values)| values.iter().map(move |v| json!({ "name": name, "value": v })))
        .collect();
    put(&mut roster, "attributes", json!(attributes));
    put(&mut roster, "externalAccountId", json!(p.external_ids.external_account_id));
    if !roster.is_empty() {
        schemas.push(json!(ROSTER_USER_SCHEMA));
        doc.insert(ROSTER_USER_SCHEMA.into(), Value::Object(roster));
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": user.created_at.format(&Rfc3339).ok(),
            "lastModified": user.updated_at.format(&Rfc3339).ok(),
            "location": format!("{base}/Users/{}", user.id),
            "version": version_tag(user.version),
        }),
    );
    Value::Object(doc)
}

/// Inserts `value` unless it is null, an empty string, array or object.
fn put(doc: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        doc.insert(key.into(), value);
    }
}

fn address_to_scim(a: &Address) -> Map<String, Value> {
    let street: Vec<&str> =
        [&a.line1, &a.line2].into_iter().flatten().map(String::as_str).collect();
    let mut out = Map::new();
    put(&mut out, "streetAddress", json!((!street.is_empty()).then(|| street.join("\n"))));
    put(&mut out, "locality", json!(a.city));
    put(&mut out, "region", json!(a.state));
    put(&mut out, "postalCode", json!(a.postcode));
    put(&mut out, "country", json!(a.country));
    out
}

/// A SCIM User document as the core's input, with its `active` if given. Read-only attributes
/// (`id`, `meta`, `groups`, `name.formatted`) are ignored (RFC 7643 §2.2), as is `schemas`
/// inside an extension; an attribute Roster does not keep is an error naming it.
pub(crate) fn from_scim(document: &Value) -> Result<(UserInput, Option<bool>), Error> {
    let Some(object) = document.as_object() else {
        return Err(Error::invalid("", "invalid_type", "a User must be a JSON object"));
    };
    let mut errors = Vec::new();
    let mut native = Map::new();
    let mut active = None;
    let mut attributes: Map<String, Value> = Map::new();
    let mut unknown_names = Vec::new();
    let mut unknown = |name: String| unknown_names.push(name);
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        match canonical(key, &CORE_ATTRIBUTES).or_else(|| extension(key)) {
            Some("id" | "meta" | "schemas" | "groups") => {}
            Some("externalId") => {
                native.insert("external_ids".into(), json!({ "external_user_id": value }));
            }
            Some("userName") => {
                native.insert("username".into(), value.clone());
            }
            Some("name") => match value.as_object() {
                Some(name) => {
                    let mut n = native_object(&mut native, "name");
                    for (k, v) in name {
                        match canonical(k, &["givenName", "middleName", "familyName", "formatted"])
                        {
                            Some("givenName") => n.insert("given".into(), v.clone()),
                            Some("middleName") => n.insert("middle".into(), v.clone()),
                            Some("familyName") => n.insert("family".into(), v.clone()),
                            Some(_) => None,
                            None => {
                                unknown(format!("name.{k}"));
                                None
                            }
                        };
                    }
                    native.insert("name".into(), Value::Object(std::mem::take(&mut n)));
                }
                None => native.insert("name".into(), value.clone()).map_or((), drop),
            },
            Some("displayName") => set_name(&mut native, "display", value),
            Some("nickName") => set_name(&mut native, "nickname", value),
            Some("locale") => {
                native.insert("locale".into(), value.clone());
            }
            Some("active") => match active_value(value) {
                Some(a) => active = Some(a),
                None => errors.push(FieldError::new("active", "invalid_type", "must be a boolean")),
            },
            Some("password") => {
                native.insert("password".into(), value.clone());
            }
            Some(name @ ("emails" | "phoneNumbers")) => {
                let field = if name == "emails" { "emails" } else { "phones" };
                native.insert(field.into(), contacts_from_scim(name, value, &mut unknown));
            }
            Some("photos") => {
                let photo = value.as_array().and_then(|p| {
                    p.iter().find(|i| i["primary"] == json!(true)).or(p.first()).cloned()
                });
                native.insert("picture".into(), photo.map_or(Value::Null, |p| p["value"].clone()));
            }
            Some("addresses") => {
                let address = match value.as_array().map(Vec::as_slice) {
                    Some([]) => Value::Null,
                    Some([one]) => address_from_scim("addresses[0]", one, &mut unknown),
                    Some(_) => {
                        errors.push(FieldError::new(
                            "addresses",
                            "too_many",
                            "Roster keeps one address (and a postal one in its extension)",
                        ));
                        Value::Null
                    }
                    None => value.clone(),
                };
                native.insert("address".into(), address);
            }
            Some(ENTERPRISE_SCHEMA) => match value.as_object() {
                Some(ext) => {
                    for (k, v) in ext.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
                        match canonical(k, &ENTERPRISE_ATTRIBUTES) {
                            Some("manager") => {
                                let id = v.get("value").cloned().unwrap_or(v.clone());
                                attributes.insert("manager".into(), id);
                            }
                            Some(name) => {
                                attributes.insert(name.into(), v.clone());
                            }
                            None => unknown(format!("{ENTERPRISE_SCHEMA}:{k}")),
                        }
                    }
                }
                None => unknown(ENTERPRISE_SCHEMA.to_owned()),
            },
            Some(ROSTER_USER_SCHEMA) => match value.as_object() {
                Some(ext) => roster_from_scim(ext, &mut native, &mut unknown),
                None => unknown(ROSTER_USER_SCHEMA.to_owned()),
            },
            _ => unknown(key.clone()),
        }
    }
    errors.extend(
        unknown_names
            .into_iter()
            .map(|name| FieldError::new(name, "unknown_field", "is not an attribute Roster keeps")),
    );
    // Roster's users may have no username; SCIM's always have a userName (RFC 7643 §4.1.1).
    if !native.contains_key("username") {
        errors.push(FieldError::new("userName", "required", "is required"));
    }
    // Single values become the one-element lists the core keeps.
    let mut kept =
        native.remove("attributes").and_then(|a| a.as_object().cloned()).unwrap_or_default();
    for (name, value) in attributes {
        let values = match value {
            Value::Null => continue,
            Value::Array(values) => Value::Array(values),
            v => json!([v]),
        };
        kept.insert(name, values);
    }
    if !kept.is_empty() {
        native.insert("attributes".into(), Value::Object(kept));
    }
    let input = parse_document::<UserInput>(Value::Object(native));
    match input {
        Ok(mut input) if errors.is_empty() => {
            // Identity providers send phone numbers as free text (RFC 7643 §4.1.2 suggests
            // RFC 3966, which few follow): one that cannot be read is kept as given.
            for phone in input.phones.iter_mut().flatten() {
                phone.unnormalized = true;
            }
            Ok((input, active))
        }
        Ok(_) => Err(Error::Invalid(errors)),
        Err(Error::Invalid(more)) => {
            errors.extend(more);
            Err(Error::Invalid(errors))
        }
        Err(e) => Err(e),
    }
}

/// `key` as spelled in `names`, compared without case.
fn canonical(key: &str, names: &[&'static str]) -> Option<&'static str> {
    names.iter().find(|n| n.eq_ignore_ascii_case(key)).copied()
}

fn extension(key: &str) -> Option<&'static str> {
    canonical(key, &[ENTERPRISE_SCHEMA, ROSTER_USER_SCHEMA])
}

fn native_object(native: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    native.remove(key).and_then(|v| v.as_object().cloned()).unwrap_or_default()
}

fn set_name(native: &mut Map<String, Value>, field: &str, value: &Value) {
    let mut name = native_object(native, "name");
    name.insert(field.into(), value.clone());
    native.insert("name".into(), Value::Object(name));
}

/// A boolean, or the strings `"true"`/`"false"` some provisioning clients send.
fn active_value(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// `emails` or `phoneNumbers`: `value` and `primary` are kept; `type` and `display` are
/// accepted and not kept (Roster does not type contacts).
fn contacts_from_scim(name: &str, value: &Value, unknown: &mut impl FnMut(String)) -> Value {
    let Some(items) = value.as_array() else { return value.clone() };
    let out: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Some(item) = item.as_object() else { return item.clone() };
            let mut contact = Map::new();
            for (k, v) in item {
                match canonical(k, &["value", "primary", "type", "display"]) {
                    Some("value") => {
                        contact.insert("value".into(), v.clone());
                    }
                    Some("primary") => {
                        contact.insert("primary".into(), v.clone());
                    }
                    Some(_) => {}
                    None => unknown(format!("{name}[{i}].{k}")),
                }
            }
            Value::Object(contact)
        })
        .collect();
    Value::Array(out)
}

fn address_from_scim(field: &str, value: &Value, unknown: &mut impl FnMut(String)) -> Value {
    let Some(a) = value.as_object() else { return value.clone() };
    let mut out = Map::new();
    for (k, v) in a {
        let ignored = ["type", "primary", "formatted"].iter().any(|n| n.eq_ignore_ascii_case(k));
        match address_field(k) {
            // Its first line, and after a line break the second.
            Some("line1") => match v.as_str().map(|s| s.split_once('\n')) {
                Some(Some((line1, line2))) => {
                    out.insert("line1".into(), json!(line1));
                    out.insert("line2".into(), json!(line2));
                }
                Some(None) => {
                    out.insert("line1".into(), v.clone());
                    out.insert("line2".into(), Value::Null);
                }
                None => {
                    out.insert("line1".into(), v.clone());
                }
            },
            Some(native) => {
                out.insert(native.into(), v.clone());
            }
            None if ignored => {}
            None => unknown(format!("{field}.{k}")),
        }
    }
    Value::Object(out)
}

fn roster_from_scim(
    ext: &Map<String, Value>,
    native: &mut Map<String, Value>,
    unknown: &mut impl FnMut(String),
) {
    for (k, v) in ext {
        match canonical(k, &ROSTER_ATTRIBUTES) {
            _ if k.eq_ignore_ascii_case("schemas") => {}
            Some("salutation") => {
                native.insert("salutation".into(), v.clone());
            }
            Some("gender") => {
                native.insert("gender".into(), v.clone());
            }
            Some("academicTitle") => {
                native.insert("title".into(), v.clone());
            }
            Some("birth") => {
                native.insert("birth".into(), v.clone());
            }
            Some("nationalities") => {
                native.insert("nationalities".into(), v.clone());
            }
            Some("postalAddress") => {
                let field = format!("{ROSTER_USER_SCHEMA}:postalAddress");
                native.insert("postal_address".into(), address_from_scim(&field, v, unknown));
            }
            Some("attributes") => {
                let mut grouped: Map<String, Value> = Map::new();
                for item in v.as_array().into_iter().flatten() {
                    let (Some(name), Some(value)) = (item["name"].as_str(), item.get("value"))
                    else {
                        unknown(format!("{ROSTER_USER_SCHEMA}:attributes[]"));
                        continue;
                    };
                    let slot = grouped.entry(name).or_insert_with(|| json!([]));
                    if let Some(values) = slot.as_array_mut() {
                        values.push(value.clone());
                    }
                }
                native.insert("attributes".into(), Value::Object(grouped));
            }
            Some("externalAccountId") => {
                let ids = native.entry("external_ids").or_insert_with(|| json!({}));
                ids["external_account_id"] = v.clone();
            }
            _ => unknown(format!("{ROSTER_USER_SCHEMA}:{k}")),
        }
    }
}

/// A core field path in SCIM's words, for error details.
pub(crate) fn rename(field: &str) -> String {
    const NAMES: [(&str, &str); 16] = [
        ("username", "userName"),
        ("name.given", "name.givenName"),
        ("name.middle", "name.middleName"),
        ("name.family", "name.familyName"),
        ("name.display", "displayName"),
        ("name.nickname", "nickName"),
        ("external_ids.external_user_id", "externalId"),
        (
            "external_ids.external_account_id",
            "urn:roster:params:scim:schemas:extension:2.0:User:externalAccountId",
        ),
        ("phones", "phoneNumbers"),
        ("picture", "photos"),
        ("address", "addresses"),
        ("postal_address", "urn:roster:params:scim:schemas:extension:2.0:User:postalAddress"),
        ("organization_id", "urn:roster:params:scim:schemas:extension:2.0:User:organizationId"),
        ("title", "urn:roster:params:scim:schemas:extension:2.0:User:academicTitle"),
        ("birth", "urn:roster:params:scim:schemas:extension:2.0:User:birth"),
        ("nationalities", "urn:roster:params:scim:schemas:extension:2.0:User:nationalities"),
    ];
    match crate::surface::rename(field, &NAMES) {
        Some((scim, rest)) => format!("{scim}{rest}"),
        None => field.to_owned(),
    }
}

fn err(e: Error) -> ScimError {
    ScimError::from_core(e, rename)
}

/// A path in the URL: an id that is not a UUID names no user.
fn user_id(id: &str) -> ScimResult<UserId> {
    id.parse().map_err(|_| ScimError::new(StatusCode::NOT_FOUND, None, "user not found"))
}

/// `GET /Users`.
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Scim>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ScimResult {
    let request = ListRequest::from_query(query.as_deref())?;
    run_list(&state, &auth, &base, request).await
}

/// `POST /Users/.search`.
pub(crate) async fn search(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Scim>,
    base: BaseUrl,
    ScimBody(body): ScimBody,
) -> ScimResult {
    run_list(&state, &auth, &base, ListRequest::from_search(&body)?).await
}

async fn run_list(
    state: &AppState,
    auth: &Auth<UsersRead, Scim>,
    base: &BaseUrl,
    request: ListRequest,
) -> ScimResult {
    let filter = match &request.filter {
        Some(text) => Some(native_filter(parse_filter(text).map_err(err)?)?),
        None => None,
    };
    let search = Search {
        filter,
        sort: sort_key(request.sort_by.as_deref())?,
        order: if request.descending { Order::Desc } else { Order::Asc },
        limit: request.count.clamp(1, super::list::MAX_COUNT) as u32,
        offset: request.start_index.map(|i| i - 1),
        cursor: request.cursor.clone().filter(|c| !c.is_empty()),
        count: true,
        ..Search::default()
    };
    let found = state.directory.search(&auth.principal, &search).await.map_err(err)?;
    let resources = if request.count == 0 {
        Vec::new()
    } else {
        found
            .users
            .iter()
            .map(|u| request.projection.apply(to_scim(u, &base.0), USER_SCHEMA))
            .collect()
    };
    let next = if request.cursor.is_some() { found.next_cursor } else { None };
    let total = found.total_count.unwrap_or(0);
    Ok(scim_json(
        StatusCode::OK,
        &super::list::response(resources, total, request.start_index, next),
    ))
}

fn sort_key(sort_by: Option<&str>) -> ScimResult<SortKey> {
    let Some(name) = sort_by else { return Ok(SortKey::CreatedAt) };
    let lower = name.to_ascii_lowercase();
    let plain =
        lower.strip_prefix(&format!("{}:", USER_SCHEMA.to_ascii_lowercase())).unwrap_or(&lower);
    Ok(match plain {
        "id" | "meta.created" => SortKey::CreatedAt,
        "meta.lastmodified" => SortKey::UpdatedAt,
        "username" => SortKey::Username,
        "emails" | "emails.value" => SortKey::Email,
        "name.familyname" => SortKey::FamilyName,
        "phonenumbers" | "phonenumbers.value" => SortKey::Phone,
        _ => {
            return Err(ScimError::bad(
                "invalidValue",
                format!(
                    "cannot sort by `{name}`: sortBy takes id, userName, name.familyName, emails, phoneNumbers, meta.created or meta.lastModified"
                ),
            ));
        }
    })
}

/// Translates a filter on SCIM attribute names into one on the core's.
pub(crate) fn native_filter(filter: Filter) -> ScimResult<Filter> {
    Ok(match filter {
        Filter::And(a, b) => {
            Filter::And(Box::new(native_filter(*a)?), Box::new(native_filter(*b)?))
        }
        Filter::Or(a, b) => Filter::Or(Box::new(native_filter(*a)?), Box::new(native_filter(*b)?)),
        Filter::Not(f) => Filter::Not(Box::new(native_filter(*f)?)),
        Filter::Present(path) if is_active(&path) => Filter::Present(AttrPath::new(["id"])),
        Filter::Present(path) => Filter::Present(native_path(&path, None)?),
        Filter::Compare(path, op, value) if is_active(&path) => {
            let (Literal::Bool(active), CompareOp::Eq | CompareOp::Ne) = (&value, op) else {
                return Err(ScimError::bad(
                    "invalidFilter",
                    "`active` compares with eq or ne and a boolean",
                ));
            };
            let same = (op == CompareOp::Eq) == *active;
            let op = if same { CompareOp::Eq } else { CompareOp::Ne };
            Filter::Compare(AttrPath::new(["state"]), op, Literal::String("active".into()))
        }
        Filter::Compare(path, op, value) => Filter::Compare(native_path(&path, None)?, op, value),
        Filter::Elements(path, inner) => {
            let native = native_path(&path, None)?;
            let within = native.dotted();
            Filter::Elements(native, Box::new(native_inner(*inner, &within)?))
        }
    })
}

fn is_active(path: &AttrPath) -> bool {
    path.schema.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(USER_SCHEMA))
        && path.names.len() == 1
        && path.names[0].eq_ignore_ascii_case("active")
}

fn native_inner(filter: Filter, within: &str) -> ScimResult<Filter> {
    Ok(match filter {
        Filter::And(a, b) => {
            Filter::And(Box::new(native_inner(*a, within)?), Box::new(native_inner(*b, within)?))
        }
        Filter::Or(a, b) => {
            Filter::Or(Box::new(native_inner(*a, within)?), Box::new(native_inner(*b, within)?))
        }
        Filter::Not(f) => Filter::Not(Box::new(native_inner(*f, within)?)),
        Filter::Present(p) => Filter::Present(native_path(&p, Some(within))?),
        Filter::Compare(p, op, v) => Filter::Compare(native_path(&p, Some(within))?, op, v),
        Filter::Elements(..) => {
            return Err(ScimError::bad("invalidFilter", "value paths cannot nest"));
        }
    })
}

/// The core path of a SCIM attribute; `within`, the core array a value path's filter is
/// inside of.
fn native_path(path: &AttrPath, within: Option<&str>) -> ScimResult<AttrPath> {
    let unknown =
        || ScimError::bad("invalidFilter", format!("`{path}` is not a filterable attribute"));
    let names: Vec<String> = path.names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let schema = path.schema.as_deref().map(str::to_ascii_lowercase);
    let mapped: Vec<&str> = match (schema.as_deref(), within, names.as_slice()) {
        (_, Some("emails" | "phones"), ["value"]) => vec!["value"],
        (_, Some("emails" | "phones"), ["primary"]) => vec!["primary"],
        (_, Some("address"), [sub]) => vec![address_field(sub).ok_or_else(unknown)?],
        (_, Some(_), _) => return Err(unknown()),
        (Some(s), None, [name]) if s == ENTERPRISE_SCHEMA.to_ascii_lowercase() => {
            let attr = canonical(name, &ENTERPRISE_ATTRIBUTES).ok_or_else(unknown)?;
            vec!["attributes", attr]
        }
        (Some(s), None, ["manager", "value"]) if s == ENTERPRISE_SCHEMA.to_ascii_lowercase() => {
            vec!["attributes", "manager"]
        }
        (Some(s), None, names) if s == ROSTER_USER_SCHEMA.to_ascii_lowercase() => match names {
            ["salutation"] => vec!["salutation"],
            ["gender"] => vec!["gender"],
            ["academictitle"] => vec!["title"],
            ["nationalities"] => vec!["nationalities"],
            ["birth", sub @ ("date" | "city" | "country" | "name")] => vec!["birth", sub],
            ["postaladdress", sub] => {
                vec!["postal_address", address_field(sub).ok_or_else(unknown)?]
            }
            ["externalaccountid"] => vec!["external_ids", "external_account_id"],
            _ => return Err(unknown()),
        },
        (Some(s), None, _) if s != USER_SCHEMA.to_ascii_lowercase() => return Err(unknown()),
        (_, None, names) => match names {
            ["id"] => vec!["id"],
            ["externalid"] => vec!["external_ids", "external_user_id"],
            ["username"] => vec!["username"],
            ["name", "givenname"] => vec!["name", "given"],
            ["name", "middlename"] => vec!["name", "middle"],
            ["name", "familyname"] => vec!["name", "family"],
            ["displayname"] => vec!["name", "display"],
            ["nickname"] => vec!["name", "nickname"],
            ["locale"] => vec!["locale"],
            ["emails"] => vec!["emails"],
            ["emails", "value"] => vec!["emails", "value"],
            ["emails", "primary"] => vec!["emails", "primary"],
            ["phonenumbers"] => vec!["phones"],
            ["phonenumbers", "value"] => vec!["phones", "value"],
            ["phonenumbers", "primary"] => vec!["phones", "primary"],
            ["addresses"] => vec!["address"],
            ["addresses", sub] => vec!["address", address_field(sub).ok_or_else(unknown)?],
            ["photos"] | ["photos", "value"] => vec!["picture"],
            ["meta", "created"] => vec!["created_at"],
            ["meta", "lastmodified"] => vec!["updated_at"],
            _ => return Err(unknown()),
        },
    };
    Ok(AttrPath::new(mapped))
}

fn address_field(sub: &str) -> Option<&'static str> {
    Some(match sub.to_ascii_lowercase().as_str() {
        "streetaddress" => "line1",
        "locality" => "city",
        "region" => "state",
        "postalcode" => "postcode",
        "country" => "country",
        _ => return None,
    })
}

/// `POST /Users`.
pub(crate) async fn create(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Scim>,
    base: BaseUrl,
    ScimBody(body): ScimBody,
) -> ScimResult {
    require_schema(&body, USER_SCHEMA)?;
    let (mut input, active) = from_scim(&body).map_err(err)?;
    if let Some(active) = active {
        input.state = Some(if active { "active" } else { "inactive" }.to_owned());
    }
    let created = state.directory.create_user(&auth.principal, input, None).await.map_err(err)?;
    Ok(resource(StatusCode::CREATED, &to_scim(&created.user, &base.0)))
}

/// `GET /Users/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Scim>,
    base: BaseUrl,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ScimResult {
    let projection = Projection::from_query(query.as_deref())?;
    let user = state.directory.user(&auth.principal, user_id(&id)?, false).await.map_err(err)?;
    Ok(resource(StatusCode::OK, &projection.apply(to_scim(&user, &base.0), USER_SCHEMA)))
}

/// The core input for a SCIM document replacing `current`: what SCIM cannot express is kept.
fn replacing(current: &User, document: &Value) -> Result<UserInput, Error> {
    let (mut input, _) = from_scim(document)?;
    let p = &current.profile;
    input.kind = Some(current.kind.as_str().to_owned());
    input.app_data = Some(p.app_data.clone());
    input.claims = p.claims.clone();
    input.aliases = Some(p.aliases.clone());
    input.machine = p.machine.clone().map(|m| roster_core::input::MachineInput {
        name: Some(m.name),
        description: m.description,
        access_token_type: json!(m.access_token_type).as_str().map(str::to_owned),
    });
    if input.organization_id.is_none() {
        input.organization_id = Some(current.organization_id.to_string());
    }
    let keep_verified = |new: &mut Option<Vec<Contact>>, old: &[Contact]| {
        for c in new.iter_mut().flatten() {
            c.verified = old.iter().any(|o| o.verified && o.value.eq_ignore_ascii_case(&c.value));
        }
    };
    keep_verified(&mut input.emails, &p.emails);
    keep_verified(&mut input.phones, &p.phones);
    Ok(input)
}

/// `PUT /Users/{id}`.
pub(crate) async fn replace(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Scim>,
    base: BaseUrl,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch<Scim>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let id = user_id(&id)?;
    require_schema(&body, USER_SCHEMA)?;
    let (_, active) = from_scim(&body).map_err(err)?;
    let edit = |current: &User| replacing(current, &body);
    let user = state
        .directory
        .update_user_active(&auth.principal, id, version, edit, active)
        .await
        .map_err(err)?;
    Ok(resource(StatusCode::OK, &to_scim(&user, &base.0)))
}

/// `PATCH /Users/{id}`.
pub(crate) async fn modify(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Scim>,
    base: BaseUrl,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch<Scim>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let id = user_id(&id)?;
    let current = state.directory.user(&auth.principal, id, false).await.map_err(err)?;
    // Applied once here so that a bad operation is answered in SCIM's terms, then again to
    // whatever version the update runs on.
    let mut patched = to_scim(&current, &base.0);
    patch::apply(&mut patched, &body, &SCHEMA)?;
    let (_, active) = from_scim(&patched).map_err(err)?;
    let was_active = current.state == UserState::Active;
    let active = active.filter(|a| *a != was_active);
    let edit = |current: &User| {
        let mut document = to_scim(current, &base.0);
        patch::apply(&mut document, &body, &SCHEMA)
            .map_err(|e| Error::invalid("", "invalid_value", e.detail))?;
        replacing(current, &document)
    };
    let user = state
        .directory
        .update_user_active(&auth.principal, id, version, edit, active)
        .await
        .map_err(err)?;
    Ok(resource(StatusCode::OK, &to_scim(&user, &base.0)))
}

/// `DELETE /Users/{id}`: the user becomes a tombstone, and is not found from then on.
pub(crate) async fn delete(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Scim>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch<Scim>,
) -> ScimResult {
    let id = user_id(&id)?;
    state
        .directory
        .transition(&auth.principal, id, version, Transition::Delete)
        .await
        .map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_translate_to_core_paths() {
        let cases = [
            ("userName eq \"ada\"", "username eq \"ada\""),
            ("active eq true", "state eq \"active\""),
            ("active ne true", "state ne \"active\""),
            (
                "name.familyName sw \"Love\" and emails[value co \"@x\"]",
                "name.family sw \"Love\" and emails[value co \"@x\"]",
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:externalId eq \"e1\"",
                "external_ids.external_user_id eq \"e1\"",
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"R&D\"",
                "attributes.department eq \"R&D\"",
            ),
            (
                "meta.lastModified gt \"2026-01-01T00:00:00Z\"",
                "updated_at gt \"2026-01-01T00:00:00Z\"",
            ),
        ];
        for (scim, native) in cases {
            let filter = native_filter(Filter::parse(scim).unwrap()).unwrap();
            assert_eq!(filter.to_string(), native, "{scim}");
        }
        for bad in ["title eq \"x\"", "active gt true", "emails[type eq \"work\"]"] {
            let e = native_filter(Filter::parse(bad).unwrap()).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{bad}");
        }
    }

    #[test]
    fn documents_map_and_unknown_attributes_are_named() {
        let doc = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "userName": "ada", "name": {"givenName": "Ada", "formatted": "ignored"},
            "emails": [{"value": "ada@x.example", "type": "work", "primary": true}],
            "active": "False",
            ENTERPRISE_SCHEMA: {"department": "R&D", "manager": {"value": "m1"}},
        });
        let (input, active) = from_scim(&doc).unwrap();
        assert_eq!(active, Some(false));
        assert_eq!(input.username.as_deref(), Some("ada"));
        let attributes = input.attributes.unwrap();
        assert_eq!(attributes["department"], ["R&D"]);
        assert_eq!(attributes["manager"], ["m1"]);
        let Err(Error::Invalid(errors)) = from_scim(
            &json!({"userName": "a", "title": "x", "emails": [{"value": "a@b.example", "kind": 1}]}),
        ) else {
            panic!("unknown attributes are errors");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["emails[0].kind", "title"]);
        assert_eq!(rename("name.given"), "name.givenName");
        assert_eq!(rename("phones[1].value"), "phoneNumbers[1].value");
        assert_eq!(rename("name.givenName"), "name.givenName");
    }
}
