//! `/scim/v2/Groups`: the SCIM Group mapped to and from the core group, and its handlers.
//!
//! `displayName` is the group's name; `externalId` its id in the provisioning system; `members`
//! its direct members, users and groups (`type` `User` or `Group`, found out when a client leaves
//! it out); Roster's group extension carries `description`. The free-form `custom_data` has no
//! SCIM type: a PUT or PATCH keeps it. Listings filter by `displayName eq "…"` only, the one
//! filter provisioning clients send for groups.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use roster_core::filter::{CompareOp, Filter, Value as Literal};
use roster_core::groups::{Group, GroupQuery, Member, Members};
use roster_core::query::parse_filter;
use roster_core::{Error, GroupId, Principal, UserId};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

use super::Scim;
use super::list::{ListRequest, Projection};
use super::patch::{self, Schema};
use super::{
    BaseUrl, GROUP_SCHEMA, ROSTER_GROUP_SCHEMA, ScimBody, ScimError, ScimResult, get_ci,
    require_schema, resource, scim_json, version_tag,
};
use crate::AppState;
use crate::auth::{Auth, UsersRead, UsersWrite};
use crate::extract::IfMatch;

const CORE_ATTRIBUTES: [&str; 6] =
    ["id", "externalId", "meta", "schemas", "displayName", "members"];
const ROSTER_ATTRIBUTES: [&str; 1] = ["description"];

pub(crate) const SCHEMA: Schema = Schema {
    core: GROUP_SCHEMA,
    extensions: &[ROSTER_GROUP_SCHEMA],
    known: |urn, attr| {
        let list: &[&str] = if urn.is_some() { &ROSTER_ATTRIBUTES } else { &CORE_ATTRIBUTES };
        list.iter().any(|a| a.eq_ignore_ascii_case(attr))
    },
    read_only: &["id", "meta"],
};

/// A group and its direct members as a SCIM Group.
pub(crate) fn to_scim(group: &Group, members: &[Member], base: &str) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|m| {
            let (kind, path) = match m {
                Member::User(_) => ("User", "Users"),
                Member::Group(_) => ("Group", "Groups"),
            };
            let id = m.uuid();
            json!({ "value": id, "type": kind, "$ref": format!("{base}/{path}/{id}") })
        })
        .collect();
    let mut extension = Map::new();
    if let Some(d) = &group.description {
        extension.insert("description".into(), json!(d));
    }
    let mut doc = json!({
        "schemas": [GROUP_SCHEMA],
        "id": group.id,
        "displayName": group.name,
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": group.created_at.format(&Rfc3339).ok(),
            "lastModified": group.updated_at.format(&Rfc3339).ok(),
            "location": format!("{base}/Groups/{}", group.id),
            "version": version_tag(group.version),
        },
    });
    if let Some(e) = &group.external_id {
        doc["externalId"] = json!(e);
    }
    if !extension.is_empty() {
        doc["schemas"] = json!([GROUP_SCHEMA, ROSTER_GROUP_SCHEMA]);
        doc[ROSTER_GROUP_SCHEMA] = Value::Object(extension);
    }
    doc
}

/// A group document: the merge patch of its fields and its members as given.
struct GroupDocument {
    fields: Value,
    members: Option<Vec<MemberRef>>,
}

/// A member as a client names it: an id, and `User` or `Group` when it says.
struct MemberRef {
    id: uuid::Uuid,
    kind: Option<&'static str>,
}

fn from_scim(document: &Value) -> Result<GroupDocument, ScimError> {
    let Some(object) = document.as_object() else {
        return Err(ScimError::bad("invalidSyntax", "a Group must be a JSON object"));
    };
    let mut fields = json!({ "name": null, "description": null, "external_id": null });
    let mut members = None;
    for (key, value) in object {
        let name = CORE_ATTRIBUTES
            .iter()
            .chain([&ROSTER_GROUP_SCHEMA])
            .find(|a| a.eq_ignore_ascii_case(key));
        match name.copied() {
            Some("id" | "meta" | "schemas") => {}
            Some("displayName") => fields["name"] = value.clone(),
            Some("externalId") => fields["external_id"] = value.clone(),
            Some("members") => members = Some(members_from_scim(value)?),
            Some(ROSTER_GROUP_SCHEMA) if value.is_object() || value.is_null() => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    match ROSTER_ATTRIBUTES.iter().find(|a| a.eq_ignore_ascii_case(k)).copied() {
                        Some(_) => fields["description"] = v.clone(),
                        None if k.eq_ignore_ascii_case("schemas") => {}
                        None => {
                            return Err(ScimError::bad(
                                "invalidSyntax",
                                format!(
                                    "`{ROSTER_GROUP_SCHEMA}:{k}` is not an attribute Roster keeps"
                                ),
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    format!("`{key}` is not an attribute Roster keeps"),
                ));
            }
        }
    }
    Ok(GroupDocument { fields, members })
}

fn members_from_scim(value: &Value) -> ScimResult<Vec<MemberRef>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(ScimError::bad("invalidValue", "`members` must be an array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let bad = |why: &str| ScimError::bad("invalidValue", format!("members[{i}]: {why}"));
            let object = item.as_object().ok_or_else(|| bad("must be an object"))?;
            for k in object.keys() {
                if !["value", "type", "$ref", "display"].iter().any(|n| n.eq_ignore_ascii_case(k)) {
                    return Err(bad(&format!("`{k}` is not a member attribute")));
                }
            }
            let id = get_ci(object, "value")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("`value` must be the id of a user or group"))?;
            let kind = match get_ci(object, "type").and_then(Value::as_str) {
                None => None,
                Some(t) if t.eq_ignore_ascii_case("User") => Some("User"),
                Some(t) if t.eq_ignore_ascii_case("Group") => Some("Group"),
                Some(_) => return Err(bad("`type` must be `User` or `Group`")),
            };
            Ok(MemberRef { id, kind })
        })
        .collect()
}

/// The core members the references name; a reference to nothing is a 400 naming it.
async fn resolve(state: &AppState, p: &Principal, refs: Vec<MemberRef>) -> ScimResult<Vec<Member>> {
    let mut members = Vec::with_capacity(refs.len());
    for (i, r) in refs.into_iter().enumerate() {
        let user = || Member::User(UserId::from_uuid(r.id));
        let group = || Member::Group(GroupId::from_uuid(r.id));
        let member = match r.kind {
            Some("User") => user(),
            Some(_) => group(),
            None => match state.directory.user(p, UserId::from_uuid(r.id), false).await {
                Ok(_) => user(),
                Err(Error::NotFound { .. }) => {
                    match state.directory.group(p, GroupId::from_uuid(r.id)).await {
                        Ok(_) => group(),
                        Err(Error::NotFound { .. }) => {
                            return Err(ScimError::bad(
                                "invalidValue",
                                format!("members[{i}]: {} is neither a user nor a group", r.id),
                            ));
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            },
        };
        if members.contains(&member) {
            continue; // Listed twice: one membership.
        }
        members.push(member);
    }
    Ok(members)
}

fn err(e: Error) -> ScimError {
    let rename = |field: &str| match field {
        "name" => "displayName".to_owned(),
        "external_id" => "externalId".to_owned(),
        f => f.to_owned(),
    };
    ScimError::from_core(e, rename)
}

fn group_id(id: &str) -> ScimResult<GroupId> {
    id.parse().map_err(|_| ScimError::new(StatusCode::NOT_FOUND, None, "group not found"))
}

async fn document(state: &AppState, p: &Principal, group: &Group, base: &str) -> ScimResult<Value> {
    let members = state.directory.group_members(p, group.id).await.map_err(err)?;
    Ok(to_scim(group, &members, base))
}

/// `GET /Groups`.
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Scim>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ScimResult {
    let request = ListRequest::from_query(query.as_deref())?;
    run_list(&state, &auth, &base, request).await
}

/// `POST /Groups/.search`.
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
    let name = match &request.filter {
        None => None,
        Some(text) => Some(display_name(&parse_filter(text).map_err(err)?)?),
    };
    if let Some(by) = &request.sort_by
        && !["displayName", "id", "meta.created"].iter().any(|k| k.eq_ignore_ascii_case(by))
    {
        return Err(ScimError::bad("invalidValue", "groups sort by id (creation) only"));
    }
    if request.descending {
        return Err(ScimError::bad("invalidValue", "groups are listed in ascending order only"));
    }
    let after = match request.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<GroupId>().map_err(|_| {
            ScimError::bad("invalidCursor", "the cursor is not one this server gave")
        })?),
    };
    let query = GroupQuery {
        name,
        after,
        offset: request.start_index.map_or(0, |i| i - 1),
        limit: request.count.clamp(1, super::list::MAX_COUNT) as u32,
    };
    let p = &auth.principal;
    let total = state.directory.count_groups(p, &query).await.map_err(err)?;
    let groups = if request.count == 0 {
        Vec::new()
    } else {
        state.directory.groups(p, &query).await.map_err(err)?
    };
    let next = match (&request.cursor, groups.last()) {
        (Some(_), Some(last)) if groups.len() == query.limit as usize => Some(last.id.to_string()),
        _ => None,
    };
    let mut resources = Vec::with_capacity(groups.len());
    for group in &groups {
        let doc = document(state, p, group, &base.0).await?;
        resources.push(request.projection.apply(doc, GROUP_SCHEMA));
    }
    Ok(scim_json(
        StatusCode::OK,
        &super::list::response(resources, total, request.start_index, next),
    ))
}

/// The name a `displayName eq "…"` filter asks for.
fn display_name(filter: &Filter) -> ScimResult<String> {
    match filter {
        Filter::Compare(path, CompareOp::Eq, Literal::String(name))
            if path.names.len() == 1
                && path.names[0].eq_ignore_ascii_case("displayName")
                && path.schema.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(GROUP_SCHEMA)) =>
        {
            Ok(name.clone())
        }
        _ => Err(ScimError::bad(
            "invalidFilter",
            "groups are filtered by `displayName eq \"…\"` only",
        )),
    }
}

/// `POST /Groups`.
pub(crate) async fn create(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Scim>,
    base: BaseUrl,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let p = &auth.principal;
    require_schema(&body, GROUP_SCHEMA)?;
    let doc = from_scim(&body)?;
    let members = resolve(&state, p, doc.members.unwrap_or_default()).await?;
    let mut fields = doc.fields;
    strip_nulls(&mut fields);
    let group = state.directory.create_group(p, fields, &members).await.map_err(err)?;
    Ok(resource(StatusCode::CREATED, &document(&state, p, &group, &base.0).await?))
}

fn strip_nulls(fields: &mut Value) {
    if let Value::Object(o) = fields {
        o.retain(|_, v| !v.is_null());
    }
}

/// `GET /Groups/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Scim>,
    base: BaseUrl,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ScimResult {
    let projection = Projection::from_query(query.as_deref())?;
    let group = state.directory.group(&auth.principal, group_id(&id)?).await.map_err(err)?;
    let doc = document(&state, &auth.principal, &group, &base.0).await?;
    Ok(resource(StatusCode::OK, &projection.apply(doc, GROUP_SCHEMA)))
}

/// `PUT /Groups/{id}`.
pub(crate) async fn replace(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Scim>,
    base: BaseUrl,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch<Scim>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let p = &auth.principal;
    let id = group_id(&id)?;
    require_schema(&body, GROUP_SCHEMA)?;
    let doc = from_scim(&body)?;
    let members = resolve(&state, p, doc.members.unwrap_or_default()).await?;
    let group = state
        .directory
        .update_group(p, id, version, &doc.fields, Members::Set(&members))
        .await
        .map_err(err)?;
    Ok(resource(StatusCode::OK, &document(&state, p, &group, &base.0).await?))
}

/// `PATCH /Groups/{id}`: the operations applied to the current document, which then replaces
/// the group (members included) in one commit pinned to the version it was read at. Without
/// `If-Match`, a group changed meanwhile is read again and the operations applied again.
pub(crate) async fn modify(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Scim>,
    base: BaseUrl,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch<Scim>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let p = &auth.principal;
    let id = group_id(&id)?;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = state.directory.group(p, id).await.map_err(err)?;
        let pinned = version.unwrap_or(current.version);
        let mut patched = document(&state, p, &current, &base.0).await?;
        patch::apply(&mut patched, &body, &SCHEMA)?;
        let doc = from_scim(&patched)?;
        let members = resolve(&state, p, doc.members.unwrap_or_default()).await?;
        let updated = state
            .directory
            .update_group(p, id, Some(pinned), &doc.fields, Members::Set(&members))
            .await;
        match updated {
            Err(Error::Stale { .. }) if version.is_none() && attempts < 3 => continue,
            Err(e) => return Err(err(e)),
            Ok(group) => {
                return Ok(resource(StatusCode::OK, &document(&state, p, &group, &base.0).await?));
            }
        }
    }
}

/// `DELETE /Groups/{id}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Scim>,
    Path(id): Path<String>,
    IfMatch(version, _): IfMatch<Scim>,
) -> ScimResult {
    state.directory.delete_group(&auth.principal, group_id(&id)?, version).await.map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
