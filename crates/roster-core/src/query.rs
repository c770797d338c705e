//! The one query model of every listing: a filter resolved against the user model, a sort and a
//! page. Surfaces parse or build a [`Filter`]; [`resolve`] checks every attribute, operator and
//! value against the model and turns it into a [`Cond`] the store compiles to SQL with bound
//! parameters only.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::filter::{AttrPath, CompareOp, Filter, Value};
use crate::id::{ApplicationId, OrgId, RoleId, UserId};
use crate::index::text_key;

/// A filter resolved against the user model.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    /// A comparison on a column of the users table.
    Column(Column, CompareOp, Operand),
    /// The column is set (not null).
    ColumnSet(Column),
    /// Some indexed value under `path` compares true (see `crate::index`).
    Attr {
        path: String,
        op: CompareOp,
        value: AttrOperand,
    },
    /// Some value is indexed at `path` or below it.
    AttrPresent(String),
    /// Some element of the array at `path` satisfies `cond`, whose attribute paths are full.
    Elements {
        path: String,
        cond: Box<Cond>,
    },
    /// The user is owned by the organization `id` (or, `recursive`, by one below it) or, with
    /// `members`, is a member of it (or of one below it).
    Organization {
        id: OrgId,
        recursive: bool,
        members: bool,
    },
    /// The user is assigned the role.
    HasRole(RoleId),
    /// Some application membership of the user satisfies the condition (any membership when
    /// none), whose attribute paths are the membership's: `external_account_id`, `app_data.…`
    /// (see [`crate::index::membership_entries`]).
    Membership(Option<Box<Cond>>),
    /// Inside [`Cond::Membership`] only: the membership is of this application.
    Application(ApplicationId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    OrganizationId,
    Kind,
    State,
    CreatedAt,
    UpdatedAt,
    LastAuthAt,
    Version,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Text(String),
    /// Timestamps (microseconds) and versions.
    Int(i64),
    Uuid(Uuid),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrOperand {
    /// Lower-cased, as indexed.
    Text(String),
    Number(f64),
    Bool(bool),
}

/// Sort orders of user listings; the id breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    CreatedAt,
    UpdatedAt,
    Username,
    Email,
    FamilyName,
    Phone,
    LastAuthAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Asc,
    Desc,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [
        SortKey::CreatedAt,
        SortKey::UpdatedAt,
        SortKey::Username,
        SortKey::Email,
        SortKey::FamilyName,
        SortKey::Phone,
        SortKey::LastAuthAt,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Username => "username",
            SortKey::Email => "email",
            SortKey::FamilyName => "family_name",
            SortKey::Phone => "phone",
            SortKey::LastAuthAt => "last_auth_at",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the key is a timestamp (an integer) rather than text.
    pub const fn is_time(self) -> bool {
        matches!(self, SortKey::CreatedAt | SortKey::UpdatedAt | SortKey::LastAuthAt)
    }
}

/// A position in a sorted listing: the sort key and id of the last user seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// A listing as the store runs it.
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub cond: Option<Cond>,
    pub sort: SortKey,
    pub order: Order,
    pub limit: u32,
    /// Users to skip (offset paging); ignored with `after`.
    pub offset: u64,
    /// Keyset paging: start after this position.
    pub after: Option<(SortValue, UserId)>,
    pub include_deleted: bool,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Error {
    Error::invalid("filter", code, message)
}

/// Parses filter text; a syntax error names its position.
pub fn parse_filter(text: &str) -> Result<Filter> {
    Filter::parse(text).map_err(|e| invalid("invalid_syntax", e.to_string()))
}

/// Resolves a parsed filter against the user model.
pub fn resolve(filter: &Filter) -> Result<Cond> {
    resolve_in(filter, Scope::User)
}

/// What a filter's attribute paths are relative to.
#[derive(Clone, Copy)]
enum Scope<'a> {
    User,
    /// Inside a value path such as `emails[...]`: the element's fields.
    Element(&'a str),
    /// Inside `memberships[...]`: a membership of an application.
    Membership,
}

/// `memberships` and the path below it, when `path` starts there at the user's level.
fn membership_path(path: &AttrPath, scope: Scope<'_>) -> Option<AttrPath> {
    let is = matches!(scope, Scope::User)
        && path.schema.is_none()
        && path.names.first().is_some_and(|n| n == "memberships");
    is.then(|| AttrPath::new(path.names.iter().skip(1).map(String::as_str)))
}

fn resolve_in(filter: &Filter, scope: Scope<'_>) -> Result<Cond> {
    // `memberships pr`, `memberships.app_data.tier eq "gold"`: some membership, or one where
    // the rest of the path compares true.
    if let Filter::Present(path) | Filter::Compare(path, ..) = filter
        && let Some(inner) = membership_path(path, scope)
    {
        let inner = match filter {
            Filter::Compare(..) if inner.names.is_empty() => {
                return Err(invalid(
                    "invalid_filter",
                    "`memberships` compares through its fields: application_id, \
                     external_account_id, app_data.…",
                ));
            }
            Filter::Compare(_, op, value) => Some(Filter::Compare(inner, *op, value.clone())),
            _ if inner.names.is_empty() => None,
            _ => Some(Filter::Present(inner)),
        };
        let cond = inner.map(|f| resolve_in(&f, Scope::Membership)).transpose()?;
        return Ok(Cond::Membership(cond.map(Box::new)));
    }
    Ok(match filter {
        Filter::And(a, b) => {
            Cond::And(Box::new(resolve_in(a, scope)?), Box::new(resolve_in(b, scope)?))
        }
        Filter::Or(a, b) => {
            Cond::Or(Box::new(resolve_in(a, scope)?), Box::new(resolve_in(b, scope)?))
        }
        Filter::Not(x) => Cond::Not(Box::new(resolve_in(x, scope)?)),
        Filter::Present(path) => match target(path, scope)? {
            Target::Column(c) => Cond::ColumnSet(c),
            Target::Attr(p) => Cond::AttrPresent(p),
            Target::Application => return Err(application_only()),
        },
        Filter::Compare(path, op, value) => match (target(path, scope)?, value) {
            (Target::Application, Value::String(s))
                if matches!(op, CompareOp::Eq | CompareOp::Ne) =>
            {
                let id = ApplicationId::from_uuid(Uuid::parse_str(s).map_err(|_| {
                    invalid("invalid_value", format!("`{path}` compares with a UUID string"))
                })?);
                match op {
                    CompareOp::Eq => Cond::Application(id),
                    _ => Cond::Not(Box::new(Cond::Application(id))),
                }
            }
            (Target::Application, _) => return Err(application_only()),
            (_, Value::Null) => {
                let present = resolve_in(&Filter::Present(path.clone()), scope)?;
                match op {
                    CompareOp::Eq => Cond::Not(Box::new(present)),
                    CompareOp::Ne => present,
                    _ => {
                        return Err(invalid(
                            "invalid_operator",
                            format!("`{path}`: null compares only with eq and ne"),
                        ));
                    }
                }
            }
            (Target::Column(c), value) => column(c, path, *op, value)?,
            (Target::Attr(p), value) => attr(p, path, *op, value)?,
        },
        Filter::Elements(..) if !matches!(scope, Scope::User) => {
            return Err(invalid("invalid_filter", "value paths cannot nest"));
        }
        Filter::Elements(path, inner) if membership_path(path, scope).is_some() => {
            if path.names.len() > 1 {
                return Err(invalid("invalid_filter", format!("`{path}` is not multi-valued")));
            }
            Cond::Membership(Some(Box::new(resolve_in(inner, Scope::Membership)?)))
        }
        Filter::Elements(path, inner) => match target(path, scope)? {
            Target::Attr(p) => {
                let cond = resolve_in(inner, Scope::Element(&p))?;
                Cond::Elements { path: p, cond: Box::new(cond) }
            }
            Target::Column(_) | Target::Application => {
                return Err(invalid("invalid_filter", format!("`{path}` is not multi-valued")));
            }
        },
    })
}

fn application_only() -> Error {
    invalid("invalid_operator", "`application_id` compares with eq or ne and a UUID string")
}

enum Target {
    Column(Column),
    Attr(String),
    /// A membership's `application_id`.
    Application,
}

/// Maps a path of the native document (`emails.value`, `name.family`) to what is stored.
fn target(path: &AttrPath, scope: Scope<'_>) -> Result<Target> {
    let unknown =
        || invalid("unknown_attribute", format!("`{path}` is not a filterable attribute"));
    if path.schema.is_some() {
        return Err(unknown());
    }
    let names: Vec<&str> = path.names.iter().map(String::as_str).collect();
    match scope {
        // Inside `emails[...]`, paths name the element's fields.
        Scope::Element(array) if names.iter().all(|n| !n.is_empty()) => {
            return Ok(Target::Attr(format!("{array}.{}", names.join("."))));
        }
        Scope::Element(_) => return Err(unknown()),
        Scope::Membership => {
            return match names.as_slice() {
                ["application_id"] => Ok(Target::Application),
                ["external_account_id"] => Ok(Target::Attr(names.join("."))),
                ["app_data", rest @ ..] if rest.iter().all(|n| !n.is_empty()) => {
                    Ok(Target::Attr(names.join(".")))
                }
                _ => Err(unknown()),
            };
        }
        Scope::User => {}
    }
    let column = match names.as_slice() {
        ["id"] => Some(Column::Id),
        ["organization_id"] => Some(Column::OrganizationId),
        ["kind"] => Some(Column::Kind),
        ["state"] => Some(Column::State),
        ["created_at"] => Some(Column::CreatedAt),
        ["updated_at"] => Some(Column::UpdatedAt),
        ["last_auth_at"] => Some(Column::LastAuthAt),
        ["version"] => Some(Column::Version),
        _ => None,
    };
    if let Some(c) = column {
        return Ok(Target::Column(c));
    }
    let known = matches!(
        names.as_slice(),
        ["username" | "salutation" | "title" | "gender" | "nationalities" | "locale" | "picture"]
            | ["name"
                | "birth"
                | "address"
                | "postal_address"
                | "emails"
                | "phones"
                | "external_ids"
                | "machine"]
            | ["name", "given" | "middle" | "family" | "display" | "nickname"]
            | ["birth", "date" | "city" | "country" | "name"]
            | [
                "address" | "postal_address",
                "line1" | "line2" | "postcode" | "city" | "state" | "country"
            ]
            | ["emails" | "phones", "value" | "primary" | "verified"]
            | ["external_ids", "external_user_id" | "external_account_id"]
            | ["machine", "name" | "description" | "access_token_type"]
            | ["aliases", _]
            | ["identities"]
            | ["identities", "provider" | "subject"]
            | ["attributes" | "claims" | "app_data", ..]
    );
    if !known {
        return Err(unknown());
    }
    Ok(Target::Attr(names.join(".")))
}

fn column(c: Column, path: &AttrPath, op: CompareOp, value: &Value) -> Result<Cond> {
    use CompareOp::*;
    let mismatch = |what: &str| invalid("invalid_value", format!("`{path}` compares with {what}"));
    let operand = match (c, value) {
        (Column::Id | Column::OrganizationId, Value::String(s)) => {
            Operand::Uuid(Uuid::parse_str(s).map_err(|_| mismatch("a UUID string"))?)
        }
        (Column::Id | Column::OrganizationId, _) => return Err(mismatch("a UUID string")),
        (Column::Kind | Column::State, Value::String(s)) => Operand::Text(s.clone()),
        (Column::Kind | Column::State, _) => return Err(mismatch("a string")),
        (Column::CreatedAt | Column::UpdatedAt | Column::LastAuthAt, Value::String(s)) => {
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| mismatch("an RFC 3339 date-time string"))?;
            Operand::Int(
                i64::try_from(t.unix_timestamp_nanos() / 1000)
                    .map_err(|_| mismatch("a date-time"))?,
            )
        }
        (Column::CreatedAt | Column::UpdatedAt | Column::LastAuthAt, _) => {
            return Err(mismatch("an RFC 3339 date-time string"));
        }
        (Column::Version, Value::Number(n)) => {
            Operand::Int(n.as_i64().ok_or_else(|| mismatch("an integer"))?)
        }
        (Column::Version, _) => return Err(mismatch("an integer")),
    };
    let allowed = match c {
        Column::Id | Column::OrganizationId | Column::Kind | Column::State => matches!(op, Eq | Ne),
        _ => matches!(op, Eq | Ne | Gt | Ge | Lt | Le),
    };
    if !allowed {
        return Err(invalid(
            "invalid_operator",
            format!("`{path}` does not support `{}`", op.as_str()),
        ));
    }
    Ok(Cond::Column(c, op, operand))
}

fn attr(stored: String, path: &AttrPath, op: CompareOp, value: &Value) -> Result<Cond> {
    use CompareOp::*;
    // A complex multi-valued attribute compared directly means its `value` (RFC 7644 §3.4.2.2).
    let stored = match stored.as_str() {
        "emails" | "phones" => format!("{stored}.value"),
        _ => stored,
    };
    let operand = match value {
        Value::String(s) if stored == "phones.value" && matches!(op, Eq | Ne) => {
            AttrOperand::Text(crate::validate::phone(s).unwrap_or_else(|| s.clone()))
        }
        Value::String(s) => AttrOperand::Text(text_key(s)),
        Value::Number(n) => AttrOperand::Number(
            n.as_f64().ok_or_else(|| invalid("invalid_value", "number out of range"))?,
        ),
        Value::Bool(b) => AttrOperand::Bool(*b),
        Value::Null => return Err(invalid("invalid_value", "null")),
    };
    let allowed = match operand {
        AttrOperand::Text(_) => true,
        AttrOperand::Number(_) => matches!(op, Eq | Ne | Gt | Ge | Lt | Le),
        AttrOperand::Bool(_) => matches!(op, Eq | Ne),
    };
    if !allowed {
        return Err(invalid(
            "invalid_operator",
            format!("`{path}` cannot use `{}` with this value", op.as_str()),
        ));
    }
    Ok(Cond::Attr { path: stored, op, value: operand })
}

/// Whether `doc` contains `pattern`, as PostgreSQL's `jsonb @>` defines it: an object contains
/// another when it holds each of its keys with a value that contains that key's value; an array
/// contains another when each of its elements is contained in some element of the array;
/// strings are equal exactly (with case), numbers by value, booleans and null by themselves, and
/// values of different types never. The exact test behind a search the index only narrows.
pub fn json_contains(doc: &serde_json::Value, pattern: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (doc, pattern) {
        (J::Object(d), J::Object(p)) => {
            p.iter().all(|(k, v)| d.get(k).is_some_and(|dv| json_contains(dv, v)))
        }
        (J::Array(d), J::Array(p)) => p.iter().all(|v| d.iter().any(|dv| json_contains(dv, v))),
        (J::Number(a), J::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
        _ => doc == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(filter: &str) -> Result<Cond> {
        resolve(&Filter::parse(filter).unwrap())
    }

    fn error(filter: &str) -> String {
        match resolved(filter) {
            Err(Error::Invalid(errors)) => format!("{}: {}", errors[0].code, errors[0].message),
            other => panic!("{filter}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn paths_map_to_columns_and_indexed_values() {
        assert_eq!(
            resolved(r#"emails co "Example.ORG""#).unwrap(),
            Cond::Attr {
                path: "emails.value".into(),
                op: CompareOp::Co,
                value: AttrOperand::Text("example.org".into())
            }
        );
        assert_eq!(
            resolved(r#"phones.value eq "+49 30 901820""#).unwrap(),
            Cond::Attr {
                path: "phones.value".into(),
                op: CompareOp::Eq,
                value: AttrOperand::Text("+4930901820".into())
            }
        );
        assert_eq!(
            resolved(r#"state eq "active""#).unwrap(),
            Cond::Column(Column::State, CompareOp::Eq, Operand::Text("active".into()))
        );
        assert_eq!(
            resolved(r#"created_at gt "1970-01-01T00:00:01Z""#).unwrap(),
            Cond::Column(Column::CreatedAt, CompareOp::Gt, Operand::Int(1_000_000))
        );
        assert_eq!(
            resolved("name.middle eq null").unwrap(),
            Cond::Not(Box::new(Cond::AttrPresent("name.middle".into())))
        );
        assert_eq!(
            resolved("emails[verified eq true]").unwrap(),
            Cond::Elements {
                path: "emails".into(),
                cond: Box::new(Cond::Attr {
                    path: "emails.verified".into(),
                    op: CompareOp::Eq,
                    value: AttrOperand::Bool(true)
                })
            }
        );
        assert!(resolved(r#"claims.loyalty.tier eq "gold" and attributes.department pr"#).is_ok());
    }

    #[test]
    fn containment_is_exact_and_type_strict() {
        use serde_json::json;
        let doc = json!({ "name": "Patrick", "age": 30, "ok": true, "none": null,
            "tags": ["a", "b"], "address": { "city": "Wellington", "zip": "6011" } });
        for pattern in [
            json!({}),
            json!({ "name": "Patrick", "address": { "city": "Wellington" } }),
            json!({ "age": 30.0 }),
            json!({ "none": null, "ok": true }),
            json!({ "tags": ["b"] }),
        ] {
            assert!(json_contains(&doc, &pattern), "{pattern}");
        }
        for pattern in [
            json!({ "name": "patrick" }),
            json!({ "name": "Pat" }),
            json!({ "age": "30" }),
            json!({ "ok": "true" }),
            json!({ "none": false }),
            json!({ "tags": ["c"] }),
            json!({ "address": { "city": "Wellington", "country": "NZ" } }),
            json!({ "missing": null }),
        ] {
            assert!(!json_contains(&doc, &pattern), "{pattern}");
        }
    }

    #[test]
    fn memberships_resolve_to_the_membership_index() {
        let app = "0190a6c4-0000-7000-8000-000000000001";
        let id = ApplicationId::from_uuid(Uuid::parse_str(app).unwrap());
        let tier = |op| Cond::Attr {
            path: "app_data.tier".into(),
            op,
            value: AttrOperand::Text("gold".into()),
        };
        assert_eq!(
            resolved(&format!(
                r#"memberships[application_id eq "{app}" and app_data.tier eq "Gold"]"#
            ))
            .unwrap(),
            Cond::Membership(Some(Box::new(Cond::And(
                Box::new(Cond::Application(id)),
                Box::new(tier(CompareOp::Eq))
            ))))
        );
        assert_eq!(
            resolved(r#"memberships.app_data.tier sw "gold""#).unwrap(),
            Cond::Membership(Some(Box::new(tier(CompareOp::Sw))))
        );
        assert_eq!(resolved("memberships pr").unwrap(), Cond::Membership(None));
        assert_eq!(
            resolved("memberships.external_account_id eq null").unwrap(),
            Cond::Membership(Some(Box::new(Cond::Not(Box::new(Cond::AttrPresent(
                "external_account_id".into()
            ))))))
        );
        assert_eq!(
            resolved(&format!(r#"not (memberships[application_id ne "{app}"])"#)).unwrap(),
            Cond::Not(Box::new(Cond::Membership(Some(Box::new(Cond::Not(Box::new(
                Cond::Application(id)
            )))))))
        );
    }

    #[test]
    fn membership_mistakes_are_named() {
        assert!(error(r#"memberships eq "x""#).starts_with("invalid_filter"));
        assert!(error(r#"memberships[name eq "x"]"#).starts_with("unknown_attribute"));
        assert!(error(r#"memberships[application_id eq "x"]"#).starts_with("invalid_value"));
        assert!(error(r#"memberships[application_id sw "0"]"#).starts_with("invalid_operator"));
        assert!(error("memberships[application_id pr]").starts_with("invalid_operator"));
        assert!(error("memberships[emails[value pr]]").starts_with("invalid_filter"));
        assert!(error("memberships.app_data[tier pr]").starts_with("invalid_filter"));
        // Only the user's own level has memberships; the profile's `app_data` is another thing.
        assert!(resolved("app_data.crm.tier pr").is_ok());
    }

    #[test]
    fn mistakes_are_named() {
        assert!(error(r#"colour eq "blue""#).starts_with("unknown_attribute"));
        assert!(error(r#"name.maiden eq "x""#).starts_with("unknown_attribute"));
        assert!(error(r#"created_at gt "yesterday""#).starts_with("invalid_value"));
        assert!(error(r#"state gt "active""#).starts_with("invalid_operator"));
        assert!(error("version eq \"1\"").starts_with("invalid_value"));
        assert!(error("claims.points co 5").starts_with("invalid_operator"));
        assert!(error("name.family sw null").starts_with("invalid_operator"));
        assert!(error(r#"id eq "nope""#).starts_with("invalid_value"));
        assert!(error("emails[x[y pr]]").starts_with("invalid_filter"));
        assert!(error(r#"urn:x:y:userName eq "a""#).starts_with("unknown_attribute"));
    }
}
