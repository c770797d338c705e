//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`,
//! describing exactly the attributes and features this service implements.

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::list::ListRequest;
use super::users::ENTERPRISE_ATTRIBUTES;
use super::{
    BaseUrl, ENTERPRISE_SCHEMA, GROUP_SCHEMA, ROSTER_GROUP_SCHEMA, ROSTER_USER_SCHEMA, ScimError,
    ScimResult, USER_SCHEMA, scim_json,
};

const CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// Most operations in one bulk request, and its largest body.
pub(crate) const MAX_BULK_OPERATIONS: usize = 1000;

pub(crate) async fn service_provider_config(base: BaseUrl) -> ScimResult {
    let config = json!({
        "schemas": [CONFIG_SCHEMA],
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": MAX_BULK_OPERATIONS,
            "maxPayloadSize": crate::HttpConfig::default().max_bulk_body_bytes,
        },
        "filter": { "supported": true, "maxResults": super::list::MAX_COUNT },
        "changePassword": { "supported": true },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": super::list::DEFAULT_COUNT,
            "maxPageSize": super::list::MAX_COUNT,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A Roster API token in the Authorization header: users:read to read, users:write to write",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", base.0),
        },
    });
    Ok(scim_json(StatusCode::OK, &config))
}

fn resource_type_documents(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "People and machine accounts",
            "schema": USER_SCHEMA,
            "schemaExtensions": [
                { "schema": ENTERPRISE_SCHEMA, "required": false },
                { "schema": ROSTER_USER_SCHEMA, "required": false },
            ],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Groups of users and groups",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [{ "schema": ROSTER_GROUP_SCHEMA, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

pub(crate) async fn resource_types(base: BaseUrl, RawQuery(query): RawQuery) -> ScimResult {
    listing(resource_type_documents(&base.0), query.as_deref())
}

pub(crate) async fn resource_type(base: BaseUrl, Path(id): Path<String>) -> ScimResult {
    one(resource_type_documents(&base.0), &id, "resource type")
}

pub(crate) async fn schemas(base: BaseUrl, RawQuery(query): RawQuery) -> ScimResult {
    listing(schema_documents(&base.0), query.as_deref())
}

pub(crate) async fn schema(base: BaseUrl, Path(id): Path<String>) -> ScimResult {
    one(schema_documents(&base.0), &id, "schema")
}

/// A discovery listing: every document in one page; filtering is not supported here (RFC 7644
/// §4 says so).
fn listing(documents: Vec<Value>, query: Option<&str>) -> ScimResult {
    let request = ListRequest::from_query(query)?;
    if request.filter.is_some() {
        return Err(ScimError::new(
            StatusCode::FORBIDDEN,
            None,
            "discovery endpoints do not take filters",
        ));
    }
    let total = documents.len() as u64;
    Ok(scim_json(StatusCode::OK, &super::list::response(documents, total, Some(1), None)))
}

fn one(documents: Vec<Value>, id: &str, kind: &str) -> ScimResult {
    documents
        .into_iter()
        .find(|d| d["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
        .map(|d| scim_json(StatusCode::OK, &d))
        .ok_or_else(|| ScimError::new(StatusCode::NOT_FOUND, None, format!("{kind} not found")))
}

/// One attribute definition (RFC 7643 §7).
struct A {
    name: &'static str,
    kind: &'static str,
    multi: bool,
    required: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    case_exact: bool,
    description: &'static str,
    sub: Vec<A>,
    canonical: &'static [&'static str],
    reference_types: &'static [&'static str],
}

/// A country attribute: its canonical values are the ISO 3166-1 alpha-2 codes it takes.
fn country(name: &'static str) -> A {
    static CODES: LazyLock<Vec<&'static str>> = LazyLock::new(roster_core::validate::country_codes);
    A { canonical: CODES.as_slice(), ..string(name, "ISO 3166-1 alpha-2 country code") }
}

/// A read-write, optional, single-valued string, returned by default.
fn string(name: &'static str, description: &'static str) -> A {
    A {
        name,
        kind: "string",
        multi: false,
        required: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        case_exact: false,
        description,
        sub: Vec::new(),
        canonical: &[],
        reference_types: &[],
    }
}

impl A {
    fn kind(self, kind: &'static str) -> A {
        A { kind, ..self }
    }
    fn multi(self) -> A {
        A { multi: true, ..self }
    }
    fn required(self) -> A {
        A { required: true, ..self }
    }
    fn read_only(self) -> A {
        A { mutability: "readOnly", ..self }
    }
    fn immutable(self) -> A {
        A { mutability: "immutable", ..self }
    }
    fn unique(self) -> A {
        A { uniqueness: "server", ..self }
    }
    fn case_exact(self) -> A {
        A { case_exact: true, ..self }
    }
    fn canonical(self, values: &'static [&'static str]) -> A {
        A { canonical: values, ..self }
    }
    fn references(self, types: &'static [&'static str]) -> A {
        A { kind: "reference", reference_types: types, ..self }
    }
    fn complex(self, sub: Vec<A>) -> A {
        A { kind: "complex", sub, ..self }
    }
    fn never_returned(self) -> A {
        A { returned: "never", mutability: "writeOnly", ..self }
    }

    fn to_json(&self) -> Value {
        let mut a = json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "mutability": self.mutability,
            "returned": self.returned,
        });
        if self.kind == "complex" {
            a["subAttributes"] = self.sub.iter().map(A::to_json).collect();
        } else {
            a["caseExact"] = json!(self.case_exact);
            a["uniqueness"] = json!(self.uniqueness);
        }
        if !self.canonical.is_empty() {
            a["canonicalValues"] = json!(self.canonical);
        }
        if !self.reference_types.is_empty() {
            a["referenceTypes"] = json!(self.reference_types);
        }
        a
    }
}

fn contact(name: &'static str, description: &'static str) -> A {
    string(name, description).multi().complex(vec![
        string("value", "The address or number").required(),
        string("primary", "The preferred one").kind("boolean"),
    ])
}

fn address(name: &'static str, description: &'static str) -> A {
    string(name, description).complex(vec![
        string("streetAddress", "Street, house number and, on a second line, more"),
        string("locality", "City"),
        string("region", "State or region"),
        string("postalCode", "Postal code"),
        country("country"),
    ])
}

fn user_attributes() -> Vec<A> {
    vec![
        string("id", "Roster's id of the user").read_only().case_exact().unique(),
        string("externalId", "The provisioning client's id of the user").case_exact().unique(),
        string("userName", "Unique in the tenant, compared without case").required().unique(),
        string("name", "The user's name").complex(vec![
            string("givenName", "Given name"),
            string("middleName", "Middle name"),
            string("familyName", "Family name"),
        ]),
        string("displayName", "Name to display"),
        string("nickName", "Casual name"),
        string("locale", "BCP 47 language tag").canonical(&["en-US", "de-DE", "fi-FI", "fr-FR"]),
        string("active", "Whether the user is active").kind("boolean"),
        string("password", "Write-only; never returned").never_returned(),
        contact("emails", "E-mail addresses, unique in the tenant"),
        contact("phoneNumbers", "Phone numbers in E.164 form, e.g. +4930901820"),
        string("photos", "The user's picture (one)")
            .multi()
            .complex(vec![string("value", "An absolute http(s) URL").references(&["external"])]),
        string("addresses", "The residential address (one)").multi().complex(vec![
            string("streetAddress", "Street, house number and, on a second line, more"),
            string("locality", "City"),
            string("region", "State or region"),
            string("postalCode", "Postal code"),
            country("country"),
            string("type", "Always home").canonical(&["home"]),
        ]),
    ]
}

fn enterprise_attributes() -> Vec<A> {
    let [employee, cost, org, division, department, _] = ENTERPRISE_ATTRIBUTES;
    vec![
        string(employee, "Employee number"),
        string(cost, "Cost center"),
        string(org, "Organization name"),
        string(division, "Division"),
        string(department, "Department"),
        string("manager", "The user's manager")
            .complex(vec![string("value", "The manager's user id").required()]),
    ]
}

fn roster_user_attributes() -> Vec<A> {
    vec![
        string("salutation", "male, female, female_married or diverse").canonical(&[
            "male",
            "female",
            "female_married",
            "diverse",
        ]),
        string("gender", "male, female, diverse or unspecified").canonical(&[
            "male",
            "female",
            "diverse",
            "unspecified",
        ]),
        string("academicTitle", "dr, prof, prof_dr, dipl_ing or magister")
            .canonical(&["dr", "prof", "prof_dr", "dipl_ing", "magister"]),
        string("birth", "Birth data").complex(vec![
            string("date", "YYYY-MM-DD, not in the future").canonical(&["1990-01-01"]),
            string("city", "City of birth"),
            country("country"),
            string("name", "Birth (family) name"),
        ]),
        A { multi: true, ..country("nationalities") },
        address("postalAddress", "The postal address, when not the residential one"),
        string("attributes", "Multi-valued string attributes, one entry per value")
            .multi()
            .complex(vec![
                string("name", "The attribute's name").required(),
                string("value", "One of its values").required(),
            ]),
        string("externalAccountId", "The user's account id in another system"),
    ]
}

fn group_attributes() -> Vec<A> {
    vec![
        string("id", "Roster's id of the group").read_only().case_exact().unique(),
        string("externalId", "The provisioning client's id of the group").case_exact(),
        string("displayName", "The group's name, unique in the tenant").required().unique(),
        string("members", "Direct members: users and groups").multi().complex(vec![
            string("value", "The member's id").immutable(),
            string("$ref", "The member's URI").references(&["User", "Group"]).immutable(),
            string("type", "User or Group").canonical(&["User", "Group"]).immutable(),
        ]),
    ]
}

fn roster_group_attributes() -> Vec<A> {
    vec![string("description", "What the group is for")]
}

fn schema_documents(base: &str) -> Vec<Value> {
    let schema = |id: &str, name: &str, description: &str, attributes: Vec<A>| {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attributes.iter().map(A::to_json).collect::<Vec<_>>(),
            "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
        })
    };
    vec![
        schema(USER_SCHEMA, "User", "User account", user_attributes()),
        schema(ENTERPRISE_SCHEMA, "EnterpriseUser", "Enterprise user", enterprise_attributes()),
        schema(
            ROSTER_USER_SCHEMA,
            "RosterUser",
            "What Roster keeps about a user beyond SCIM's core",
            roster_user_attributes(),
        ),
        schema(GROUP_SCHEMA, "Group", "Group", group_attributes()),
        schema(
            ROSTER_GROUP_SCHEMA,
            "RosterGroup",
            "What Roster keeps about a group beyond SCIM's core",
            roster_group_attributes(),
        ),
    ]
}
