//! Groups: named sets of users and other groups, with a description and free `custom_data`.
//!
//! A group's name is unique in the tenant, compared without case. Groups nest (a group may be a
//! member of another) but never in a cycle; a user's groups are those it is a member of, and
//! with `transitive` also the groups those are members of, and so on up.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::directory::{Directory, check_limit, stale_unless};
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::id::{GroupId, UserId};
use crate::input::{parse_document, reject_fields};
use crate::store::{Change, Write};
use crate::tenant::Principal;
use crate::validate;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    pub id: GroupId,
    /// Unique in the tenant, compared without case.
    pub name: String,
    pub description: Option<String>,
    /// The group's id in the system that provisions it (SCIM's `externalId`).
    pub external_id: Option<String>,
    /// Free JSON for the application (up to 64 KiB).
    #[schema(value_type = Object)]
    pub custom_data: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// A group document as written by a client.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct GroupInput {
    /// 1 to 200 characters.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1)]
    pub description: Option<String>,
    /// Up to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub external_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub custom_data: Option<Value>,
}

/// How an update changes a group's direct members.
#[derive(Debug, Clone, Copy)]
pub enum Members<'a> {
    Keep,
    /// Exactly these.
    Set(&'a [Member]),
    Add(Member),
    /// The member with this id.
    Remove(Uuid),
}

/// A listing of groups, in id order.
#[derive(Debug, Clone)]
pub struct GroupQuery {
    /// Only the group of this name (compared without case, as names are unique).
    pub name: Option<String>,
    /// Keyset paging: groups after this one.
    pub after: Option<GroupId>,
    /// Offset paging: groups to skip.
    pub offset: u64,
    /// 1 to [`crate::directory::MAX_LIMIT`].
    pub limit: u32,
}

impl Default for GroupQuery {
    fn default() -> Self {
        GroupQuery { name: None, after: None, offset: 0, limit: crate::directory::DEFAULT_LIMIT }
    }
}

/// A direct member of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Member {
    User(UserId),
    Group(GroupId),
}

impl Member {
    pub fn uuid(&self) -> Uuid {
        match self {
            Member::User(id) => *id.as_uuid(),
            Member::Group(id) => *id.as_uuid(),
        }
    }
}

const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "version"];

const NOT_FOUND: Error = Error::NotFound { kind: "group" };

impl Directory {
    /// Creates a group with `members` as its first direct members, in one commit.
    pub async fn create_group(
        &self,
        p: &Principal,
        input: Value,
        members: &[Member],
    ) -> Result<Group> {
        reject_fields(&input, READ_ONLY)?;
        let valid = validate::group(parse_document(input)?)?;
        let now = self.now();
        let group = Group {
            id: GroupId::generate(now),
            name: valid.name,
            description: valid.description,
            external_id: valid.external_id,
            custom_data: valid.custom_data,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        distinct(members)?;
        self.check_members(p, members, members).await?;
        let mut events = vec![group_event(p, "group.created", &group, now, json!({}))];
        let mut writes = vec![Write::CreateGroup { group: Box::new(group.clone()) }];
        for &member in members {
            writes.push(Write::AddGroupMember { group: group.id, member, at: now });
            events.push(group_event(p, "group.member_added", &group, now, member_data(member)));
        }
        self.store().commit(p.tenant, Change::of(writes, events)).await?;
        Ok(group)
    }

    pub async fn group(&self, p: &Principal, id: GroupId) -> Result<Group> {
        self.store().group(p.tenant, id).await?.ok_or(NOT_FOUND)
    }

    /// Groups in id (creation) order, as `query` selects them.
    pub async fn groups(&self, p: &Principal, query: &GroupQuery) -> Result<Vec<Group>> {
        check_limit(query.limit)?;
        self.store().groups(p.tenant, query).await
    }

    /// How many groups `query` selects, whatever its page.
    pub async fn count_groups(&self, p: &Principal, query: &GroupQuery) -> Result<u64> {
        self.store().count_groups(p.tenant, query).await
    }

    /// Applies a JSON Merge Patch to a group's name, description and custom data and changes its
    /// direct members as `members` says, in one commit; the version moves when anything
    /// changed. A change that loses a race runs again on the fresh group (without `if_match`),
    /// so adding or removing one member never undoes another's change.
    pub async fn update_group(
        &self,
        p: &Principal,
        id: GroupId,
        if_match: Option<i64>,
        patch: &Value,
        members: Members<'_>,
    ) -> Result<Group> {
        reject_fields(patch, READ_ONLY)?;
        if let Members::Set(list) = members {
            distinct(list)?;
        }
        self.with_retries(*id.as_uuid(), if_match, || async move {
            let current = self.group(p, id).await?;
            stale_unless(current.version, if_match)?;
            let mut document = json!({
                "name": current.name,
                "description": current.description,
                "external_id": current.external_id,
                "custom_data": current.custom_data,
            });
            json_patch::merge(&mut document, patch);
            let valid = validate::group(parse_document(document)?)?;
            let mut group = Group {
                name: valid.name,
                description: valid.description,
                external_id: valid.external_id,
                custom_data: valid.custom_data,
                ..current.clone()
            };
            let mut fields: Vec<&str> = [
                ("name", group.name != current.name),
                ("description", group.description != current.description),
                ("external_id", group.external_id != current.external_id),
                ("custom_data", group.custom_data != current.custom_data),
            ]
            .into_iter()
            .filter_map(|(f, changed)| changed.then_some(f))
            .collect();
            let before = match members {
                Members::Keep => Vec::new(),
                _ => self.store().group_members(p.tenant, id).await?,
            };
            let target: Vec<Member> = match members {
                Members::Keep => Vec::new(),
                Members::Set(list) => list.to_vec(),
                Members::Add(m) if before.contains(&m) => before.clone(),
                Members::Add(m) => before.iter().copied().chain([m]).collect(),
                Members::Remove(uuid) => {
                    if !before.iter().any(|m| m.uuid() == uuid) {
                        return Err(Error::NotFound { kind: "member" });
                    }
                    before.iter().copied().filter(|m| m.uuid() != uuid).collect()
                }
            };
            let added: Vec<Member> =
                target.iter().copied().filter(|m| !before.contains(m)).collect();
            let removed: Vec<Member> =
                before.iter().copied().filter(|m| !target.contains(m)).collect();
            self.check_members(p, &target, &added).await?;
            let now = self.now();
            let mut writes = Vec::new();
            let mut changes = Vec::new();
            for &member in &added {
                writes.push(Write::AddGroupMember { group: id, member, at: now });
                changes.push(("group.member_added", member_data(member)));
            }
            for &member in &removed {
                writes.push(Write::RemoveGroupMember { group: id, member });
                changes.push(("group.member_removed", member_data(member)));
            }
            if !writes.is_empty() {
                fields.push("members");
            }
            if fields.is_empty() {
                return Ok(current);
            }
            group.version += 1;
            group.updated_at = now;
            let mut events =
                vec![group_event(p, "group.updated", &group, now, json!({ "fields": fields }))];
            events.extend(
                changes.into_iter().map(|(kind, data)| group_event(p, kind, &group, now, data)),
            );
            let update = Write::UpdateGroup {
                group: Box::new(group.clone()),
                before_version: current.version,
            };
            writes.insert(0, update);
            self.store().commit(p.tenant, Change::of(writes, events)).await.map(|()| group)
        })
        .await
    }

    /// Each of `added` exists in the tenant (a user not deleted); an error names its place in
    /// `target`. Cycles are refused when the change commits.
    async fn check_members(
        &self,
        p: &Principal,
        target: &[Member],
        added: &[Member],
    ) -> Result<()> {
        for member in added {
            let found = match *member {
                Member::User(user) => self.record(p.tenant, user, false).await.map(|_| ()),
                Member::Group(g) => self.group(p, g).await.map(|_| ()),
            };
            if let Err(Error::NotFound { kind }) = found {
                let i = target.iter().position(|m| m == member).unwrap_or_default();
                return Err(Error::invalid(
                    format!("members[{i}]"),
                    "not_found",
                    format!("no such {kind}"),
                ));
            }
            found?;
        }
        Ok(())
    }

    /// Deletes a group with its memberships (of its members, and in other groups).
    /// With `if_match`, only the group at that version.
    pub async fn delete_group(
        &self,
        p: &Principal,
        id: GroupId,
        if_match: Option<i64>,
    ) -> Result<()> {
        let group = self.group(p, id).await?;
        stale_unless(group.version, if_match)?;
        let event = group_event(p, "group.deleted", &group, self.now(), json!({}));
        let write = Write::DeleteGroup { id };
        self.store().commit(p.tenant, Change::of(vec![write], vec![event])).await
    }

    /// Adds a user or a group to a group; adding a member twice changes nothing. A group cannot
    /// become a member of itself or of a group below it (409).
    pub async fn add_group_member(&self, p: &Principal, id: GroupId, member: Member) -> Result<()> {
        self.group(p, id).await?;
        match member {
            Member::User(user) => {
                self.record(p.tenant, user, false).await?;
            }
            Member::Group(g) => {
                self.group(p, g).await?;
            }
        }
        self.update_group(p, id, None, &json!({}), Members::Add(member)).await.map(drop)
    }

    /// Removes a direct member (a user or a group) from a group.
    pub async fn remove_group_member(
        &self,
        p: &Principal,
        id: GroupId,
        member: Uuid,
    ) -> Result<()> {
        self.update_group(p, id, None, &json!({}), Members::Remove(member)).await.map(drop)
    }

    /// A group's direct members: its users, then its groups, each in id order.
    pub async fn group_members(&self, p: &Principal, id: GroupId) -> Result<Vec<Member>> {
        self.group(p, id).await?;
        self.store().group_members(p.tenant, id).await
    }

    /// The groups a user is a member of; with `transitive`, also the groups those belong to.
    pub async fn user_groups(
        &self,
        p: &Principal,
        user: UserId,
        transitive: bool,
    ) -> Result<Vec<Group>> {
        self.record(p.tenant, user, false).await?;
        self.store().user_groups(p.tenant, user, transitive).await
    }
}

/// No member listed twice.
fn distinct(members: &[Member]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    match members.iter().position(|m| !seen.insert(*m)) {
        Some(i) => Err(Error::invalid(format!("members[{i}]"), "duplicate", "is listed twice")),
        None => Ok(()),
    }
}

fn member_data(member: Member) -> Value {
    match member {
        Member::User(id) => json!({ "user_id": id }),
        Member::Group(id) => json!({ "group_id": id }),
    }
}

fn group_event(
    p: &Principal,
    kind: &'static str,
    group: &Group,
    at: OffsetDateTime,
    data: Value,
) -> NewEvent {
    NewEvent {
        kind,
        resource_type: "group",
        resource_id: *group.id.as_uuid(),
        version: group.version,
        actor: p.actor,
        occurred_at: at,
        data,
    }
}
