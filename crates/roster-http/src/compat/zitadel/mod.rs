//! The ZITADEL dialect at `/compat/zitadel`: the User Service v2 over Connect
//! (`POST /zitadel.user.v2.UserService/<Method>`, the form the official SDKs speak) and over the
//! REST gateway paths (`/v2/users/…`), both calling the same RPC functions.
//!
//! - [`wire`]: request messages as proto3 JSON.
//! - [`map`]: users out, documents in, list queries into the core filter.
//! - [`error`]: gRPC codes in each transport's shape.
//!
//! See docs/compat/zitadel.md for every RPC's status and the known differences.

mod error;
mod map;
mod rpc;
pub(crate) mod wire;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use roster_core::input::parse_document;
use roster_core::query::Order;
use roster_core::user::{User, UserKind, UserState};
use roster_core::verification::Purpose;
use roster_core::{Lookup, Principal, Scope, Search, Transition, UserId, UserInput};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};

use self::error::{Code, Result};
pub(crate) use self::error::{Transport, Zitadel, ZitadelError};
use self::map::NewPassword;
use self::rpc::Rpc;
use crate::AppState;
use crate::auth::{Auth, UsersRead};
use crate::limits::Budget;
use crate::surface::Operation;

const SERVICE: &str = "zitadel.user.v2.UserService";

/// The transport of a request to `path` (below `/compat/zitadel`), for errors answered before
/// the dialect runs.
pub(crate) fn transport(path: &str) -> Transport {
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(SERVICE)) {
        Some(method) if method.starts_with('/') => Transport::Connect,
        _ => Transport::Rest,
    }
}

/// RPCs of the service Roster does not serve; they answer `unimplemented`.
const UNIMPLEMENTED: [&str; 28] = [
    "ListAuthenticationMethodTypes",
    "ListAuthenticationFactors",
    "RegisterPasskey",
    "VerifyPasskeyRegistration",
    "RemovePasskey",
    "ListPasskeys",
    "CreatePasskeyRegistrationLink",
    "RegisterU2F",
    "VerifyU2FRegistration",
    "RemoveU2F",
    "RegisterTOTP",
    "VerifyTOTPRegistration",
    "RemoveTOTP",
    "AddOTPSMS",
    "RemoveOTPSMS",
    "AddOTPEmail",
    "RemoveOTPEmail",
    "AddIDPLink",
    "ListIDPLinks",
    "RemoveIDPLink",
    "StartIdentityProviderIntent",
    "RetrieveIdentityProviderIntent",
    "AddKey",
    "RemoveKey",
    "ListKeys",
    "AddPersonalAccessToken",
    "RemovePersonalAccessToken",
    "CreateInviteCode",
];

/// The dialect's routes, relative to `/compat/zitadel`.
pub(crate) fn router() -> Router<AppState> {
    let rest = |method: &'static str, status: StatusCode| -> MethodRouter<AppState> {
        let handler = move |State(state): State<AppState>,
                            auth: std::result::Result<Auth<UsersRead, Zitadel>, ZitadelError>,
                            budget: Budget,
                            params: Option<Path<Vec<(String, String)>>>,
                            body: Bytes| async move {
            let params = params.map(|Path(p)| p).unwrap_or_default();
            let call = Call { state: &state, budget: &budget, transport: Transport::Rest, method };
            serve(call, auth, status, params, &body).await
        };
        axum::routing::any(handler)
    };
    let ok = StatusCode::OK;
    Router::new()
        .route(&format!("/{SERVICE}/{{method}}"), post(connect))
        .route("/v2/users/new", post(rest("CreateUser", ok)))
        .route("/v2/users/human", post(rest("AddHumanUser", StatusCode::CREATED)))
        .route("/v2/users/human/{userId}", put(rest("UpdateHumanUser", ok)))
        .route("/v2/users", post(rest("ListUsers", ok)))
        .route(
            "/v2/users/{userId}",
            get(rest("GetUserByID", ok))
                .patch(rest("UpdateUser", ok))
                .delete(rest("DeleteUser", ok)),
        )
        .route("/v2/users/{userId}/deactivate", post(rest("DeactivateUser", ok)))
        .route("/v2/users/{userId}/reactivate", post(rest("ReactivateUser", ok)))
        .route("/v2/users/{userId}/lock", post(rest("LockUser", ok)))
        .route("/v2/users/{userId}/unlock", post(rest("UnlockUser", ok)))
        .route("/v2/users/{userId}/email", post(rest("SetEmail", ok)))
        .route("/v2/users/{userId}/email/resend", post(rest("ResendEmailCode", ok)))
        .route("/v2/users/{userId}/email/send", post(rest("SendEmailCode", ok)))
        .route("/v2/users/{userId}/email/verify", post(rest("VerifyEmail", ok)))
        .route("/v2/users/{userId}/phone/resend", post(rest("ResendPhoneCode", ok)))
        .route("/v2/users/{userId}/phone/verify", post(rest("VerifyPhone", ok)))
        .route(
            "/v2/users/{userId}/phone",
            post(rest("SetPhone", ok)).merge(delete(rest("RemovePhone", ok))),
        )
        .route("/v2/users/{userId}/password", post(rest("SetPassword", ok)))
        .route("/v2/users/{userId}/password_reset", post(rest("PasswordReset", ok)))
        .route(
            "/v2/users/{userId}/metadata",
            post(rest("SetUserMetadata", ok)).merge(patch(rest("DeleteUserMetadata", ok))),
        )
        .route("/v2/users/{userId}/metadata/_search", post(rest("ListUserMetadata", ok)))
        .route(
            "/v2/users/{userId}/secret",
            post(rest("AddSecret", ok)).merge(delete(rest("RemoveSecret", ok))),
        )
        .fallback(|| async {
            ZitadelError::new(Code::NotFound, "no such route").render(Transport::Rest)
        })
}

/// `POST /zitadel.user.v2.UserService/<Method>`: the request message is the body.
async fn connect(
    State(state): State<AppState>,
    auth: std::result::Result<Auth<UsersRead, Zitadel>, ZitadelError>,
    budget: Budget,
    Path(method): Path<String>,
    body: Bytes,
) -> Response {
    let call =
        Call { state: &state, budget: &budget, transport: Transport::Connect, method: &method };
    serve(call, auth, StatusCode::OK, Vec::new(), &body).await
}

/// One RPC as it arrived: what serving it may use.
#[derive(Clone, Copy)]
struct Call<'a> {
    state: &'a AppState,
    /// Spent by the RPCs that check a password or a verification code.
    budget: &'a Budget,
    transport: Transport,
    method: &'a str,
}

/// Runs one RPC for either transport: path parameters join the body's fields.
async fn serve(
    call: Call<'_>,
    auth: std::result::Result<Auth<UsersRead, Zitadel>, ZitadelError>,
    status: StatusCode,
    params: Vec<(String, String)>,
    body: &[u8],
) -> Response {
    let Call { state, budget, transport, method } = call;
    // What the audit trail and the metrics name the call by, once it is parsed.
    let mut operation = None;
    let outcome = async {
        let auth = auth?;
        let mut message = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            crate::extract::parse_json(body)
                .map_err(|e| ZitadelError::invalid(crate::extract::json_error("the body", &e)))?
        };
        roster_core::input::reject_nul(&message)?;
        let Some(fields) = message.as_object_mut() else {
            return Err(ZitadelError::invalid("the body must be a JSON object"));
        };
        for (name, value) in params {
            fields.insert(name, Value::String(value));
        }
        let user = fields.get("userId").and_then(Value::as_str).and_then(|id| id.parse().ok());
        let rpc = Rpc::parse(method, message)?;
        operation = Some(Operation {
            route: (transport == Transport::Connect)
                .then(|| format!("/compat/zitadel/{SERVICE}/{method}")),
            resource: user,
        });
        if !auth.principal.allows(rpc.scope()) {
            let message = format!("the token lacks the {} scope", rpc.scope().as_str());
            return Err(ZitadelError::new(Code::PermissionDenied, message));
        }
        if rpc.scope() != Scope::UsersRead {
            budget.write()?;
        }
        rpc.apply(state, budget, &auth.principal).await
    };
    let mut response = match outcome.await {
        Ok(body) => (status, axum::Json(body)).into_response(),
        Err(e) => e.render(transport),
    };
    if let Some(operation) = operation {
        response.extensions_mut().insert(operation);
    }
    response
}

/// A code for `purpose` when the request asked for one to be returned.
async fn code_if(
    state: &AppState,
    p: &Principal,
    id: UserId,
    purpose: Purpose,
    asked: bool,
) -> Result<Option<SecretString>> {
    if asked {
        Ok(Some(state.directory.issue_verification_code(p, id, purpose).await?))
    } else {
        Ok(None)
    }
}

/// `body` with the code under `field`, when there is one.
fn with_code(mut body: Value, field: &str, code: Option<SecretString>) -> Value {
    if let Some(code) = code {
        body[field] = json!(code.expose_secret());
    }
    body
}

/// The codes a create or update asked to have returned, as `emailCode` / `phoneCode`.
async fn codes(
    state: &AppState,
    p: &Principal,
    id: UserId,
    human: Option<&wire::Human>,
    mut body: Value,
) -> Result<Value> {
    let email = human.and_then(|h| h.email.as_ref()).is_some_and(|e| e.return_code.is_some());
    let phone = human.and_then(|h| h.phone.as_ref()).is_some_and(|p| p.return_code.is_some());
    body = with_code(body, "emailCode", code_if(state, p, id, Purpose::Email, email).await?);
    Ok(with_code(body, "phoneCode", code_if(state, p, id, Purpose::Phone, phone).await?))
}

/// The user a request names: by Roster's id, or by the id its client chose at creation (an
/// alias); anything else names no user.
async fn user_id(state: &AppState, p: &Principal, id: &str) -> Result<UserId> {
    if let Ok(id) = id.parse() {
        return Ok(id);
    }
    let alias = Lookup::Alias { namespace: map::ALIASES, value: id };
    match state.directory.find_user(p, alias).await {
        Ok(user) => Ok(user.id),
        Err(roster_core::Error::NotFound { .. }) => {
            Err(ZitadelError::new(Code::NotFound, "User could not be found"))
        }
        Err(e) => Err(e.into()),
    }
}

fn machine_only(user: &User) -> Result<()> {
    match user.kind {
        UserKind::Machine => Ok(()),
        UserKind::Human => {
            Err(ZitadelError::new(Code::FailedPrecondition, "the user is not a machine user"))
        }
    }
}

/// A caller-chosen `userId`: a UUID is kept as the user's id on every surface; any other id
/// (ZITADEL's are numeric, and clients choose their own) as the user's alias in this dialect's
/// namespace, which answers with it everywhere.
fn chosen_id(id: Option<&str>, doc: &mut Map<String, Value>) -> Option<UserId> {
    let id = id?;
    match id.parse() {
        Ok(uuid) => Some(uuid),
        Err(_) => {
            doc.insert("aliases".into(), json!({ map::ALIASES: id }));
            None
        }
    }
}

/// Creates a user from a native create document and its password.
async fn create_with(
    state: &AppState,
    p: &Principal,
    id: Option<UserId>,
    doc: Map<String, Value>,
    password: Option<(NewPassword, bool)>,
) -> Result<User> {
    let mut input: UserInput = parse_document(Value::Object(doc))?;
    input.id = id;
    if let Some((password, change_required)) = password {
        match password {
            NewPassword::Plain(s) => input.password = Some(Some(SecretString::from(s))),
            NewPassword::Hashed(h) => input.password_hash = Some(h),
        }
        input.password_change_required = change_required;
    }
    Ok(state.directory.create_user(p, input, None).await?.user)
}

async fn create_user(state: &AppState, p: &Principal, r: wire::CreateUserRequest) -> Result<Value> {
    wire::oneof("user", &[r.human.is_some(), r.machine.is_some()])?;
    let mut doc = Map::new();
    let id = chosen_id(r.user_id.as_deref(), &mut doc);
    if let Some(org) = &r.organization_id {
        doc.insert("organization_id".into(), json!(org));
    }
    let password = match (&r.human, &r.machine) {
        (Some(human), None) => {
            doc.insert("kind".into(), json!("human"));
            let username =
                r.username.clone().or_else(|| human.email.as_ref().map(|e| e.email.clone()));
            doc.insert("username".into(), json!(username));
            map::human_doc(human, &mut doc)?
        }
        (None, Some(machine)) => {
            doc.insert("kind".into(), json!("machine"));
            doc.insert(
                "username".into(),
                json!(r.username.clone().or_else(|| machine.name.clone())),
            );
            map::machine_doc(machine, &mut doc);
            None
        }
        _ => return Err(ZitadelError::invalid("user: set human or machine")),
    };
    let user = create_with(state, p, id, doc, password).await?;
    let body = json!({ "id": map::id(&user), "creationDate": map::details(&user)["creationDate"] });
    codes(state, p, user.id, r.human.as_ref(), body).await
}

async fn add_human_user(
    state: &AppState,
    p: &Principal,
    r: wire::AddHumanUserRequest,
) -> Result<Value> {
    wire::oneof("password", &[r.password.is_some(), r.hashed_password.is_some()])?;
    if !r.idp_links.is_empty() {
        return Err(ZitadelError::new(Code::Unimplemented, "idpLinks are not supported by Roster"));
    }
    let (Some(profile), Some(email)) = (r.profile, r.email) else {
        return Err(ZitadelError::invalid("profile and email are required"));
    };
    let mut doc = Map::new();
    let id = chosen_id(r.user_id.as_deref(), &mut doc);
    doc.insert("kind".into(), json!("human"));
    doc.insert("username".into(), json!(r.username.clone().unwrap_or_else(|| email.email.clone())));
    match r.organization {
        Some(wire::Organization { org_id: Some(id), org_domain: None }) => {
            doc.insert("organization_id".into(), json!(id));
        }
        Some(wire::Organization { org_domain: Some(_), .. }) => {
            return Err(ZitadelError::invalid(
                "organization.orgDomain: Roster organizations have no domains; give orgId",
            ));
        }
        _ => {}
    }
    let password = wire::SetPassword {
        password: r.password,
        hashed_password: r.hashed_password,
        ..Default::default()
    };
    let human = wire::Human {
        profile: Some(profile),
        email: Some(email),
        phone: r.phone,
        password: Some(password),
        metadata: r.metadata,
    };
    let password = map::human_doc(&human, &mut doc)?;
    let user = create_with(state, p, id, doc, password).await?;
    let body = json!({ "userId": map::id(&user), "details": map::details(&user) });
    codes(state, p, user.id, Some(&human), body).await
}

/// `UpdateUser` / `UpdateHumanUser`: what is given changes, in one merge; a new password is set
/// after it.
async fn update(
    state: &AppState,
    p: &Principal,
    id: UserId,
    username: Option<String>,
    human: Option<&wire::Human>,
    machine: Option<&wire::Machine>,
) -> Result<User> {
    let d = &state.directory;
    let current = d.user(p, id, false).await?;
    let mut doc = Map::new();
    if let Some(u) = username {
        doc.insert("username".into(), json!(u));
    }
    let mut password = None;
    if let Some(human) = human {
        if current.kind != UserKind::Human {
            return Err(ZitadelError::new(
                Code::FailedPrecondition,
                "the user is not a human user",
            ));
        }
        if human.metadata.is_some() {
            return Err(ZitadelError::invalid("human.metadata: use SetUserMetadata"));
        }
        // A merge patch: the profile's fields merge into the user's name.
        if let Some(profile) = &human.profile {
            map::profile_into(profile, &mut doc)?;
        }
        if let Some(e) = &human.email {
            doc.insert("emails".into(), map::email_contact(e)?);
        }
        if let Some(ph) = &human.phone {
            doc.insert("phones".into(), map::phone_contact(ph)?);
        }
        match human.password.as_ref().map(map::password_into).transpose()?.flatten() {
            Some((NewPassword::Plain(s), change_required)) => password = Some((s, change_required)),
            Some((NewPassword::Hashed(_), _)) => {
                return Err(ZitadelError::new(
                    Code::Unimplemented,
                    "password.hashedPassword: a hash can be imported at creation only",
                ));
            }
            None => {}
        }
    }
    if let Some(machine) = machine {
        if current.kind != UserKind::Machine {
            return Err(ZitadelError::new(
                Code::FailedPrecondition,
                "the user is not a machine user",
            ));
        }
        map::machine_doc(machine, &mut doc);
    }
    let mut user = d.merge_user(p, id, None, Value::Object(doc)).await?;
    if let Some((password, change_required)) = password {
        user = d.set_password(p, id, None, SecretString::from(password), change_required).await?;
    }
    Ok(user)
}

/// Deactivate, reactivate, lock, unlock or delete, with ZITADEL's preconditions.
async fn lifecycle(state: &AppState, p: &Principal, id: &str, t: Transition) -> Result<Value> {
    let id = user_id(state, p, id).await?;
    let current = state.directory.user(p, id, false).await?;
    let refused = match (t, current.state) {
        (Transition::Deactivate, UserState::Inactive) => Some("User is already deactivated"),
        (Transition::Activate, s) if s != UserState::Inactive => Some("User is not deactivated"),
        (Transition::Lock, UserState::Locked) => Some("User is already locked"),
        (Transition::Unlock, s) if s != UserState::Locked => Some("User is not locked"),
        _ => None,
    };
    if let Some(message) = refused {
        return Err(ZitadelError::new(Code::FailedPrecondition, message));
    }
    let user = state.directory.transition(p, id, None, t).await?;
    Ok(json!({ "details": map::details(&user) }))
}

async fn set_password(
    state: &AppState,
    budget: &Budget,
    p: &Principal,
    r: wire::SetPasswordRequest,
) -> Result<Value> {
    let id = user_id(state, p, &r.user_id).await?;
    let Some(new) = r.new_password else {
        return Err(ZitadelError::invalid("newPassword is required"));
    };
    wire::oneof("SetPassword", &[r.current_password.is_some(), r.verification_code.is_some()])?;
    if r.current_password.is_some() || r.verification_code.is_some() {
        budget.verification()?;
    }
    let secret = SecretString::from(new.password);
    if let Some(code) = r.verification_code {
        let code = SecretString::from(code);
        let d = &state.directory;
        let user = d.reset_password(p, id, code, secret, new.change_required).await?;
        return Ok(json!({ "details": map::details(&user) }));
    }
    if let Some(current) = r.current_password {
        match state.directory.verify_password(p, id, SecretString::from(current)).await {
            Ok(_) => {}
            Err(roster_core::Error::CredentialsRejected) => {
                return Err(ZitadelError::new(
                    Code::FailedPrecondition,
                    "currentPassword is not the user's password",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let user = state.directory.set_password(p, id, None, secret, new.change_required).await?;
    Ok(json!({ "details": map::details(&user) }))
}

async fn list_users(state: &AppState, p: &Principal, r: wire::ListUsersRequest) -> Result<Value> {
    let query = r.query.unwrap_or_default();
    let limit = match query.limit {
        None | Some(0) => 100,
        Some(l) if l <= 1000 => l as u32,
        Some(_) => return Err(ZitadelError::invalid("query.limit: at most 1000")),
    };
    let search = Search {
        filter: map::filter(&r.queries)?,
        sort: map::sort_key(r.sorting_column.as_deref())?,
        order: if query.asc { Order::Asc } else { Order::Desc },
        limit,
        offset: Some(query.offset.unwrap_or(0)),
        count: true,
        ..Search::default()
    };
    let found = state.directory.search(p, &search).await?;
    let now = state.directory.now().format(&time::format_description::well_known::Rfc3339).ok();
    Ok(json!({
        "details": { "totalResult": found.total_count.unwrap_or(0).to_string(), "timestamp": now },
        "sortingColumn": r.sorting_column.unwrap_or_else(|| "USER_FIELD_NAME_UNSPECIFIED".to_owned()),
        "result": found.users.iter().map(map::user).collect::<Vec<_>>(),
    }))
}
