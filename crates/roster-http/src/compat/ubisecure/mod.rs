//! Ubisecure CustomerID's REST API 2.1 at `/compat/ubisecure`: users listed, read, changed,
//! deleted and re-invited; organizations created, changed, listed and read; roles, mandates,
//! role invitations and delegations read — in XML, or in JSON for a client that accepts it.
//!
//! - [`wire`] holds the documents, both ways;
//! - [`map`] CustomerID's attributes, statuses and criteria, and the core's users and
//!   organizations;
//! - [`error`] its errors, `<error><code/><message/></error>`.
//!
//! Every answer is rendered last, by [`finish`], in the format the request accepts, naming the
//! request it answers (`inResponseTo`, `method`). See docs/compat/ubisecure.md.

mod error;
mod map;
mod wire;

use axum::Router;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use roster_core::directory::{MAX_LIMIT, Within};
use roster_core::filter::{AttrPath, CompareOp, Filter, Value as Literal};
use roster_core::invitations::InvitationsOf;
use roster_core::mandates::{Delegation, DelegationsOf, Mandate, MandatesOf, Party};
use roster_core::organizations::Organization;
use roster_core::user::{User, UserState};
use roster_core::{
    DelegationId, MandateId, OrgId, Principal, RoleId, Search, Transition, UserId, UserInput,
};
use serde_json::Value;

use self::error::{Code, Result};
pub(crate) use self::error::{Ubisecure, UbisecureError};
use self::map::{OrgName, USER_READ_ONLY};
use self::wire::{Changes, Doc};
use crate::AppState;
use crate::auth::{Auth, DirectoryAdmin, UsersRead, UsersWrite};
use crate::body::{Format, negotiate};

/// Where the dialect is mounted.
pub(crate) const MOUNT: &str = "/compat/ubisecure";

/// The dialect's routes, relative to [`MOUNT`]; a collection answers with and without its
/// trailing slash.
pub(crate) fn router() -> Router<AppState> {
    let routes: [(&str, MethodRouter<AppState>); 17] = [
        ("/users/", get(list_users)),
        ("/users/{id}", get(get_user).put(update_user).patch(patch_user).delete(delete_user)),
        ("/users/{id}/reinvite", axum::routing::put(reinvite)),
        ("/users/{id}/roles", get(user_roles)),
        ("/users/{id}/mandates/{direction}", get(user_mandates)),
        ("/users/{id}/roleinvitations/", get(user_invitations)),
        ("/users/{id}/delegations/", get(user_delegations)),
        ("/organizations/", get(list_organizations).post(create_organization)),
        ("/organizations/{id}", get(get_organization).put(update_organization)),
        ("/organizations/{id}/users/", get(organization_users).post(create_user)),
        ("/organizations/{id}/mandates/{direction}", get(organization_mandates)),
        ("/roles/", get(list_roles)),
        ("/roles/{id}", get(get_role)),
        ("/mandates/", get(list_mandates)),
        ("/mandates/{id}", get(get_mandate)),
        ("/roleinvitations/", get(list_invitations)),
        ("/delegations/{id}", get(get_delegation)),
    ];
    let mut router = Router::new();
    for (path, methods) in routes {
        let twin = match path.strip_suffix('/') {
            Some(bare) => bare.to_owned(),
            None => format!("{path}/"),
        };
        router = router
            .route(&format!("/2.1{path}"), methods.clone())
            .route(&format!("/2.1{twin}"), methods);
    }
    router
}

/// An answer of the dialect: rendered by [`finish`], which knows the format asked for.
impl IntoResponse for Doc {
    fn into_response(self) -> Response {
        let mut response = StatusCode::OK.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Every request of the dialect, first and last: CustomerID's URL credentials (`username`,
/// `password`) become the request's credentials and leave its parameters; the answer — a
/// document, the dialect's error or a shared layer's refusal — is written in XML, or in JSON
/// when the request accepts it better.
pub(crate) async fn finish(mut request: Request, next: Next) -> Response {
    let path = request.uri().path().strip_prefix(MOUNT).unwrap_or_default().to_owned();
    let method = request.method().as_str().to_owned();
    let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    let format = negotiate(accept, &[Format::Xml, Format::Json]).unwrap_or(Format::Xml);
    lift_credentials(&mut request);
    let mut response = next.run(request).await;
    if let Some(doc) = response.extensions_mut().remove::<Doc>() {
        return doc.render(format, &path, &method);
    }
    let error = response.extensions_mut().remove::<UbisecureError>().or_else(|| {
        let refusal = response.extensions().get::<crate::surface::Refusal>().copied()?;
        Some(UbisecureError::from(crate::surface::Rejection::Refused(refusal)))
    });
    let Some(error) = error else { return response };
    let status = response.status();
    let retry_after = response.headers().get(RETRY_AFTER).cloned();
    let mut rendered = wire::error(format, status, error.code.as_str(), &error.message);
    if let Some(retry_after) = retry_after {
        rendered.headers_mut().insert(RETRY_AFTER, retry_after);
    } else if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
        rendered.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if status == StatusCode::UNAUTHORIZED {
        let challenge = HeaderValue::from_static("Basic realm=\"CustomerID\"");
        rendered.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    }
    rendered
}

/// Moves `username` and `password` out of the URL: the password, when no `Authorization`
/// header is sent, becomes the bearer token. Neither is ever a criterion or an attribute.
fn lift_credentials(request: &mut Request) {
    let Some(query) = request.uri().query() else { return };
    let is_credential = |name: &str| name == "username" || name == "password";
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if !pairs.iter().any(|(name, _)| is_credential(name)) {
        return;
    }
    let password = pairs.iter().find(|(name, _)| name == "password").map(|(_, v)| v.clone());
    let kept: Vec<&(String, String)> =
        pairs.iter().filter(|(name, _)| !is_credential(name)).collect();
    let mut target = request.uri().path().to_owned();
    if !kept.is_empty() {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(kept.iter().map(|(n, v)| (n, v)));
        target = format!("{target}?{}", query.finish());
    }
    if let Ok(uri) = target.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    if let Some(password) = password
        && !request.headers().contains_key(AUTHORIZATION)
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {password}"))
    {
        request.headers_mut().insert(AUTHORIZATION, value);
    }
}

/// A request's input: its URL parameters and, when it has one, its body in the format its
/// `Content-Type` names.
struct Input {
    params: Vec<(String, String)>,
    body: Option<(Value, Format)>,
}

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = UbisecureError;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        let query = req.uri().query().unwrap_or_default();
        let params = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let format = content_type.map(Format::of);
        let bytes = crate::extract::read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(Input { params, body: None });
        }
        let Some(Some(format)) = format else {
            let expected = "application/x-www-form-urlencoded, application/xml or application/json";
            return Err(crate::surface::Rejection::UnsupportedMediaType(expected).into());
        };
        let value = format.read(&bytes).map_err(crate::surface::Rejection::Malformed)?;
        roster_core::input::reject_nul(&value).map_err(crate::surface::Rejection::Core)?;
        Ok(Input { params, body: Some((value, format)) })
    }
}

impl Input {
    /// The parameters of an operation that takes them in the URL, or in a form body too.
    fn params(self) -> Result<Vec<(String, String)>> {
        let mut params = self.params;
        match self.body {
            None => {}
            Some((form, Format::Form)) => params.extend(wire::pairs(form)),
            Some(_) => {
                return Err(UbisecureError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    Code::ClientError,
                    "this operation takes URL parameters or a form (application/x-www-form-urlencoded)",
                ));
            }
        }
        Ok(params)
    }

    /// A user change: PATCH124's body (a form, `<UserRequest>` or JSON), else the URL
    /// parameters.
    fn changes(self) -> Result<Changes> {
        match self.body {
            Some((value, format)) => Changes::from_body(value, format, &USER_READ_ONLY),
            None => Changes::from_params(&self.params, &USER_READ_ONLY),
        }
    }
}

/// An id from the path: not a UUID is an entity that does not exist.
fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T> {
    raw.parse().map_err(|_| UbisecureError::not_found(what))
}

/// A live user of the tenant.
async fn live_user(state: &AppState, p: &Principal, id: &str) -> Result<User> {
    let id: UserId = path_id(id, "user")?;
    Ok(state.directory.user(p, id, false).await?)
}

async fn owner(state: &AppState, p: &Principal, user: &User) -> Result<Organization> {
    Ok(state.directory.organization(p, user.organization_id).await?)
}

fn ids<T: ToString>(root: &'static str, items: impl IntoIterator<Item = T>) -> Doc {
    Doc::Ids { root, ids: items.into_iter().map(|i| i.to_string()).collect() }
}

/// GET104 `GET /2.1/users/`: the ids of the users the criteria select, oldest first.
async fn list_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    input: Input,
) -> Result<Doc> {
    let params = input.params()?;
    Ok(ids("Users", user_ids(&state, &auth.principal, &params, None).await?))
}

/// GET113 `GET /2.1/organizations/{id}/users/`: the organization's users (owned and members;
/// with `recursive=true`, those of the organizations below it too).
async fn organization_users(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
    input: Input,
) -> Result<Doc> {
    let id: OrgId = path_id(&id, "organization")?;
    state.directory.organization(&auth.principal, id).await?;
    let params = input.params()?;
    Ok(ids("Users", user_ids(&state, &auth.principal, &params, Some(id)).await?))
}

/// Most organizations a name criterion may select.
const MAX_NAMED_ORGANIZATIONS: usize = 100;

async fn user_ids(
    state: &AppState,
    p: &Principal,
    params: &[(String, String)],
    within: Option<OrgId>,
) -> Result<Vec<UserId>> {
    let criteria = map::criteria(params, within.is_some())?;
    if criteria.none {
        return Ok(Vec::new());
    }
    let mut filter = criteria.filter;
    if !criteria.organization.is_empty() {
        let orgs = all_organizations(state, p).await?;
        for (which, given) in &criteria.organization {
            let named = orgs.iter().filter(|o| {
                let name = match which {
                    OrgName::Friendly => &o.friendly_name,
                    OrgName::Technical => &o.technical_name,
                };
                map::matches(name, given, criteria.exact)
            });
            let tests: Vec<Filter> = named
                .map(|o| {
                    Filter::Compare(
                        AttrPath::new(["organization_id"]),
                        CompareOp::Eq,
                        Literal::String(o.id.to_string()),
                    )
                })
                .collect();
            if tests.len() > MAX_NAMED_ORGANIZATIONS {
                return Err(UbisecureError::invalid(format!(
                    "{}: names more than {MAX_NAMED_ORGANIZATIONS} organizations; give more of the name",
                    if *which == OrgName::Friendly {
                        "organization"
                    } else {
                        "organizationEntityName"
                    }
                )));
            }
            let Some(test) = map::any_of(tests) else { return Ok(Vec::new()) };
            filter = Some(match filter {
                Some(f) => Filter::And(Box::new(f), Box::new(test)),
                None => test,
            });
        }
    }
    let within = within.map(|id| Within::Organization { id, recursive: criteria.recursive });
    let max = if criteria.max_results == 0 { u64::MAX } else { criteria.max_results };
    let mut found_ids = Vec::new();
    let mut cursor = None;
    loop {
        let left = max - found_ids.len() as u64;
        let limit = u32::try_from(left.min(u64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT);
        let search = Search { filter: filter.clone(), limit, cursor, within, ..Search::default() };
        let found = state.directory.search(p, &search).await?;
        found_ids.extend(found.users.iter().map(|u| u.id));
        cursor = found.next_cursor;
        if cursor.is_none() || found_ids.len() as u64 >= max {
            return Ok(found_ids);
        }
    }
}

/// GET105 `GET /2.1/users/{id}`.
async fn get_user(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let user = live_user(&state, &auth.principal, &id).await?;
    Ok(map::user(&user, &owner(&state, &auth.principal, &user).await?))
}

/// Applies a change to a user in one commit: the attributes given, and `status`.
async fn change(state: &AppState, p: &Principal, id: &str, changes: &Changes) -> Result<User> {
    let current = live_user(state, p, id).await?;
    let doc = map::document(changes, Some(&current))?;
    let status = changes.builtins.get("status");
    if let Some(status) = status {
        map::transition(current.state, status)?;
    }
    let toward = |from| match status {
        Some(status) => map::transition(from, status),
        None => Ok(None),
    };
    Ok(state.directory.change_user(p, current.id, Value::Object(doc), &toward, None).await?)
}

/// PUT103 `PUT /2.1/users/{id}?login=…&status=…`.
async fn update_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Ubisecure>,
    Path(id): Path<String>,
    input: Input,
) -> Result<Doc> {
    let changes = Changes::from_params(&input.params()?, &USER_READ_ONLY)?;
    let user = change(&state, &auth.principal, &id, &changes).await?;
    Ok(ids("Users", [user.id]))
}

/// PATCH124 `PATCH /2.1/users/{id}` with a form, `<UserRequest>` or JSON: `UserResponse`.
async fn patch_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Ubisecure>,
    Path(id): Path<String>,
    input: Input,
) -> Result<Doc> {
    let p = &auth.principal;
    let user = change(&state, p, &id, &input.changes()?).await?;
    Ok(map::user_response(&user, &owner(&state, p, &user).await?))
}

/// DEL102 `DELETE /2.1/users/{id}`.
async fn delete_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let user = live_user(&state, &auth.principal, &id).await?;
    state.directory.transition(&auth.principal, user.id, None, Transition::Delete).await?;
    Ok(ids("Users", [user.id]))
}

/// `POST /2.1/organizations/{id}/users/` (REST 1.0's MOD009 under 2.1's layout): a ready-to-use
/// user of the organization, with PUT103's parameters; `login` is required.
async fn create_user(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Ubisecure>,
    Path(org): Path<String>,
    input: Input,
) -> Result<Doc> {
    let p = &auth.principal;
    let org: OrgId = path_id(&org, "organization")?;
    state.directory.organization(p, org).await?;
    let changes = Changes::from_params(&input.params()?, &USER_READ_ONLY)?;
    if changes.builtins.get("login").is_none_or(String::is_empty) {
        return Err(UbisecureError::invalid("login: is required"));
    }
    let mut doc = map::document(&changes, None)?;
    let active = match changes.builtins.get("status") {
        None => true,
        Some(status) => match map::parse_status(status).map(|s| s.name) {
            Some("Enabled") => true,
            Some("Disabled") => false,
            _ => {
                return Err(UbisecureError::invalid("status: only Enabled or Disabled can be set"));
            }
        },
    };
    doc.insert("organization_id".into(), org.to_string().into());
    doc.insert("state".into(), if active { "active" } else { "inactive" }.into());
    let input = roster_core::input::parse_document::<UserInput>(Value::Object(doc))?;
    let created = state.directory.create_user(p, input, None).await?;
    Ok(ids("Users", [created.user.id]))
}

/// PUT123 `PUT /2.1/users/{id}/reinvite`: the user's pending invitation issued again.
async fn reinvite(
    State(state): State<AppState>,
    auth: Auth<UsersWrite, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let (d, p) = (&state.directory, &auth.principal);
    let user = live_user(&state, p, &id).await?;
    if user.state != UserState::Initial {
        return Err(UbisecureError::invalid(format!(
            "the user's status is {}, not Waiting for registration",
            map::status(user.state).name
        )));
    }
    let invitations = d.invitations(p, InvitationsOf::User(user.id)).await?;
    let Some(last) = invitations.last() else {
        return Err(UbisecureError::invalid("the user was never invited: nothing to reissue"));
    };
    let reissued = d.reinvite(p, last.id).await?;
    let email = user.profile.emails.iter().find(|c| c.primary).or(user.profile.emails.first());
    let email = email.map_or(reissued.email, |c| c.value.clone());
    Ok(Doc::Record {
        root: "ReinviteResponse",
        members: vec![("userId", user.id.to_string()), ("email", email)],
        custom: None,
    })
}

/// GET117 `GET /2.1/users/{id}/roles`.
async fn user_roles(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let roles = state.directory.user_roles(&auth.principal, path_id(&id, "user")?).await?;
    Ok(ids("Roles", roles.iter().map(|r| r.id)))
}

/// The mandates a party gave (`given`) or received (`received`).
async fn mandates_of(
    state: &AppState,
    p: &Principal,
    party: Party,
    direction: &str,
) -> Result<Doc> {
    let given = match direction {
        "given" => true,
        "received" => false,
        _ => return Err(UbisecureError::not_found("listing")),
    };
    let found = state.directory.mandates(p, MandatesOf { party, given }).await?;
    Ok(ids("Mandates", found.iter().map(|m| m.id)))
}

/// GET120, GET121 `GET /2.1/users/{id}/mandates/given`, `…/received`.
async fn user_mandates(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path((id, direction)): Path<(String, String)>,
) -> Result<Doc> {
    let party = Party::User(path_id(&id, "user")?);
    mandates_of(&state, &auth.principal, party, &direction).await
}

/// GET118, GET119 `GET /2.1/organizations/{id}/mandates/given`, `…/received`.
async fn organization_mandates(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path((id, direction)): Path<(String, String)>,
) -> Result<Doc> {
    let party = Party::Organization(path_id(&id, "organization")?);
    mandates_of(&state, &auth.principal, party, &direction).await
}

/// GET114 `GET /2.1/users/{id}/roleinvitations/`.
async fn user_invitations(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let of = InvitationsOf::User(path_id(&id, "user")?);
    let found = state.directory.invitations(&auth.principal, of).await?;
    Ok(ids("RoleInvitations", found.iter().map(|i| i.id)))
}

/// GET115 and GET122 `GET /2.1/users/{id}/delegations/`: the delegations the user received.
async fn user_delegations(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let of = DelegationsOf::Delegate(path_id(&id, "user")?);
    let found = state.directory.delegations(&auth.principal, of).await?;
    Ok(ids("Delegations", found.iter().map(|d| d.id)))
}

/// Reads every page of a listing that pages by the last id seen.
async fn every<T, I, F, Fut>(mut page: F, id: impl Fn(&T) -> I) -> Result<Vec<T>>
where
    I: Copy,
    F: FnMut(Option<I>) -> Fut,
    Fut: std::future::Future<Output = roster_core::Result<Vec<T>>>,
{
    let mut all: Vec<T> = Vec::new();
    loop {
        let after = all.last().map(&id);
        let found = page(after).await?;
        let full = found.len() >= MAX_LIMIT as usize;
        all.extend(found);
        if !full {
            return Ok(all);
        }
    }
}

async fn all_organizations(state: &AppState, p: &Principal) -> Result<Vec<Organization>> {
    every(|after| state.directory.organizations(p, None, after, MAX_LIMIT), |o| o.id).await
}

/// GET106 `GET /2.1/organizations/`.
async fn list_organizations(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
) -> Result<Doc> {
    let all = all_organizations(&state, &auth.principal).await?;
    Ok(ids("Organizations", all.iter().map(|o| o.id)))
}

/// GET107 `GET /2.1/organizations/{id}`.
async fn get_organization(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let org = state.directory.organization(&auth.principal, path_id(&id, "organization")?).await?;
    Ok(map::organization(&org))
}

/// POST100 `POST /2.1/organizations/?friendlyName=…&parentOrganizationId=…`.
async fn create_organization(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin, Ubisecure>,
    input: Input,
) -> Result<Doc> {
    let p = &auth.principal;
    let params = input.params()?;
    let mut doc = map::organization_document(&params, false)?;
    if let Some((_, parent)) = params.iter().find(|(n, _)| n == "parentOrganizationId") {
        let unknown = || {
            UbisecureError::new(
                StatusCode::NOT_FOUND,
                Code::ParentNotFound,
                "parentOrganizationId: no such organization",
            )
        };
        let parent: OrgId = parent.trim().parse().map_err(|_| unknown())?;
        match state.directory.organization(p, parent).await {
            Ok(_) => doc.insert("parent_id".into(), parent.to_string().into()),
            Err(roster_core::Error::NotFound { .. }) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
    }
    let org = state.directory.create_organization(p, Value::Object(doc)).await?;
    Ok(ids("Organizations", [org.id]))
}

/// PUT101 `PUT /2.1/organizations/{id}?friendlyName=…`.
async fn update_organization(
    State(state): State<AppState>,
    auth: Auth<DirectoryAdmin, Ubisecure>,
    Path(id): Path<String>,
    input: Input,
) -> Result<Doc> {
    let id: OrgId = path_id(&id, "organization")?;
    let patch = map::organization_document(&input.params()?, true)?;
    let org = state
        .directory
        .update_organization(&auth.principal, id, None, &Value::Object(patch))
        .await?;
    Ok(ids("Organizations", [org.id]))
}

/// GET108 `GET /2.1/roles/`.
async fn list_roles(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
) -> Result<Doc> {
    let p = &auth.principal;
    let all = every(|after| state.directory.all_roles(p, None, after, MAX_LIMIT), |r| r.id).await?;
    Ok(ids("Roles", all.iter().map(|r| r.id)))
}

/// GET109 `GET /2.1/roles/{id}`.
async fn get_role(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let id: RoleId = path_id(&id, "role")?;
    Ok(map::role(&state.directory.role(&auth.principal, id).await?))
}

/// GET110 `GET /2.1/mandates/`.
async fn list_mandates(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
) -> Result<Doc> {
    let p = &auth.principal;
    let all = every(|after| state.directory.all_mandates(p, after, MAX_LIMIT), |m| m.id).await?;
    Ok(ids("Mandates", all.iter().map(|m| m.id)))
}

/// GET111 `GET /2.1/mandates/{id}`.
async fn get_mandate(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let id: MandateId = path_id(&id, "mandate")?;
    Ok(mandate(&state.directory.mandate(&auth.principal, id).await?))
}

/// GET112 `GET /2.1/roleinvitations/`.
async fn list_invitations(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
) -> Result<Doc> {
    let p = &auth.principal;
    let all = every(|after| state.directory.all_invitations(p, after, MAX_LIMIT), |i| i.id).await?;
    Ok(ids("RoleInvitations", all.iter().map(|i| i.id)))
}

/// GET116 `GET /2.1/delegations/{id}`.
async fn get_delegation(
    State(state): State<AppState>,
    auth: Auth<UsersRead, Ubisecure>,
    Path(id): Path<String>,
) -> Result<Doc> {
    let id: DelegationId = path_id(&id, "delegation")?;
    Ok(delegation(&state.directory.delegation(&auth.principal, id).await?))
}

fn rfc3339(at: Option<time::OffsetDateTime>) -> String {
    at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A party as an attribute: `<role>UserId` or `<role>OrganizationId`.
fn party(role: &str, party: Party) -> (String, Vec<String>) {
    match party {
        Party::User(id) => (format!("{role}UserId"), vec![id.to_string()]),
        Party::Organization(id) => (format!("{role}OrganizationId"), vec![id.to_string()]),
    }
}

/// GET111's `<Mandate>`.
fn mandate(m: &Mandate) -> Doc {
    Doc::Entity {
        root: "Mandate",
        kind: "mandate",
        attributes: vec![
            ("id".into(), vec![m.id.to_string()]),
            party("grantor", m.grantor),
            party("grantee", m.grantee),
            ("roleId".into(), m.role_ids.iter().map(ToString::to_string).collect()),
            ("validUntil".into(), vec![rfc3339(m.valid_until)]),
            ("status".into(), vec![m.state.as_str().to_owned()]),
        ],
    }
}

/// GET116's `<Delegation>`.
fn delegation(d: &Delegation) -> Doc {
    Doc::Entity {
        root: "Delegation",
        kind: "delegation",
        attributes: vec![
            ("id".into(), vec![d.id.to_string()]),
            ("mandateId".into(), vec![d.mandate_id.to_string()]),
            ("delegateUserId".into(), vec![d.delegate_user_id.to_string()]),
            ("roleId".into(), d.role_ids.iter().map(ToString::to_string).collect()),
            ("validUntil".into(), vec![rfc3339(d.valid_until)]),
            ("status".into(), vec![d.state.as_str().to_owned()]),
        ],
    }
}
