//! The User Service's operations as one typed enum, parsed once from the method name and the
//! request message (mini-redis's `cmd` module): the scope each needs is an exhaustive match, so
//! an RPC cannot be added without one; its name (the method it was parsed from) and the user it
//! is about (the message's `userId`) go to the audit trail, the metrics and the rate limits.
//!
//! Each arm of [`Rpc::apply`] maps the message to core calls and the answer back; the longer
//! mappings are functions of the parent module.
// https://zitadel.com/docs/apis/resources/user_service_v2

use roster_core::verification::Purpose;
use roster_core::{Principal, Scope, Transition};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};

use super::error::{Code, Result, ZitadelError};
use super::wire::{self, parse};
use super::{
    SERVICE, UNIMPLEMENTED, add_human_user, code_if, codes, create_user, lifecycle, list_users,
    machine_only, map, set_password, update, user_id, with_code,
};
use crate::AppState;
use crate::limits::Budget;

/// An RPC of `zitadel.user.v2.UserService` with its request message.
pub(super) enum Rpc {
    GetUserById(wire::UserIdRequest),
    ListUsers(wire::ListUsersRequest),
    ListUserMetadata(wire::ListUserMetadataRequest),
    CreateUser(Box<wire::CreateUserRequest>),
    AddHumanUser(Box<wire::AddHumanUserRequest>),
    UpdateUser(Box<wire::UpdateUserRequest>),
    UpdateHumanUser(Box<wire::UpdateHumanUserRequest>),
    DeactivateUser(wire::UserIdRequest),
    ReactivateUser(wire::UserIdRequest),
    LockUser(wire::UserIdRequest),
    UnlockUser(wire::UserIdRequest),
    DeleteUser(wire::UserIdRequest),
    SetEmail(String, wire::SetEmail),
    SetPhone(String, wire::SetPhone),
    RemovePhone(wire::UserIdRequest),
    ResendEmailCode(wire::ResendCodeRequest),
    SendEmailCode(wire::ResendCodeRequest),
    ResendPhoneCode(wire::ResendCodeRequest),
    VerifyEmail(wire::VerifyCodeRequest),
    VerifyPhone(wire::VerifyCodeRequest),
    PasswordReset(wire::PasswordResetRequest),
    SetPassword(wire::SetPasswordRequest),
    SetUserMetadata(wire::SetUserMetadataRequest),
    DeleteUserMetadata(wire::DeleteUserMetadataRequest),
    AddSecret(wire::UserIdRequest),
    RemoveSecret(wire::UserIdRequest),
    /// An RPC of the service that Roster does not serve.
    Unimplemented(&'static str),
}

impl Rpc {
    /// The RPC `method` names, with `body` read as its request message. A method the service
    /// does not have is `unimplemented`, as a gRPC server answers it.
    pub(super) fn parse(method: &str, body: Value) -> Result<Rpc> {
        Ok(match method {
            "GetUserByID" => Rpc::GetUserById(parse(body)?),
            "ListUsers" => Rpc::ListUsers(parse(body)?),
            "ListUserMetadata" => Rpc::ListUserMetadata(parse(body)?),
            "CreateUser" => Rpc::CreateUser(Box::new(parse(body)?)),
            "AddHumanUser" => Rpc::AddHumanUser(Box::new(parse(body)?)),
            "UpdateUser" => Rpc::UpdateUser(Box::new(parse(body)?)),
            "UpdateHumanUser" => Rpc::UpdateHumanUser(Box::new(parse(body)?)),
            "DeactivateUser" => Rpc::DeactivateUser(parse(body)?),
            "ReactivateUser" => Rpc::ReactivateUser(parse(body)?),
            "LockUser" => Rpc::LockUser(parse(body)?),
            "UnlockUser" => Rpc::UnlockUser(parse(body)?),
            "DeleteUser" => Rpc::DeleteUser(parse(body)?),
            "SetEmail" => {
                let (id, rest) = wire::split_user_id(body)?;
                Rpc::SetEmail(id, parse(rest)?)
            }
            "SetPhone" => {
                let (id, rest) = wire::split_user_id(body)?;
                Rpc::SetPhone(id, parse(rest)?)
            }
            "RemovePhone" => Rpc::RemovePhone(parse(body)?),
            "ResendEmailCode" => Rpc::ResendEmailCode(parse(body)?),
            "SendEmailCode" => Rpc::SendEmailCode(parse(body)?),
            "ResendPhoneCode" => Rpc::ResendPhoneCode(parse(body)?),
            "VerifyEmail" => Rpc::VerifyEmail(parse(body)?),
            "VerifyPhone" => Rpc::VerifyPhone(parse(body)?),
            "PasswordReset" => Rpc::PasswordReset(parse(body)?),
            "SetPassword" => Rpc::SetPassword(parse(body)?),
            "SetUserMetadata" => Rpc::SetUserMetadata(parse(body)?),
            "DeleteUserMetadata" => Rpc::DeleteUserMetadata(parse(body)?),
            "AddSecret" => Rpc::AddSecret(parse(body)?),
            "RemoveSecret" => Rpc::RemoveSecret(parse(body)?),
            m => match UNIMPLEMENTED.iter().find(|u| **u == m) {
                Some(known) => Rpc::Unimplemented(known),
                None => {
                    let message = format!("{SERVICE}/{m} does not exist");
                    return Err(ZitadelError::new(Code::Unimplemented, message));
                }
            },
        })
    }

    /// The scope the RPC needs: reads `users:read`, everything that changes a user
    /// `users:write`. Unimplemented RPCs need only a token, to be told so.
    pub(super) fn scope(&self) -> Scope {
        match self {
            Rpc::GetUserById(_)
            | Rpc::ListUsers(_)
            | Rpc::ListUserMetadata(_)
            | Rpc::Unimplemented(_) => Scope::UsersRead,
            Rpc::CreateUser(_)
            | Rpc::AddHumanUser(_)
            | Rpc::UpdateUser(_)
            | Rpc::UpdateHumanUser(_)
            | Rpc::DeactivateUser(_)
            | Rpc::ReactivateUser(_)
            | Rpc::LockUser(_)
            | Rpc::UnlockUser(_)
            | Rpc::DeleteUser(_)
            | Rpc::SetEmail(..)
            | Rpc::SetPhone(..)
            | Rpc::RemovePhone(_)
            | Rpc::ResendEmailCode(_)
            | Rpc::SendEmailCode(_)
            | Rpc::ResendPhoneCode(_)
            | Rpc::VerifyEmail(_)
            | Rpc::VerifyPhone(_)
            | Rpc::PasswordReset(_)
            | Rpc::SetPassword(_)
            | Rpc::SetUserMetadata(_)
            | Rpc::DeleteUserMetadata(_)
            | Rpc::AddSecret(_)
            | Rpc::RemoveSecret(_) => Scope::UsersWrite,
        }
    }

    /// Serves the RPC for `p`, who holds its scope; `budget` pays for the secrets it checks.
    pub(super) async fn apply(
        self,
        state: &AppState,
        budget: &Budget,
        p: &Principal,
    ) -> Result<Value> {
        let d = &state.directory;
        match self {
            Rpc::GetUserById(r) => {
                let user = d.user(p, user_id(state, p, &r.user_id).await?, false).await?;
                Ok(json!({ "details": map::details(&user), "user": map::user(&user) }))
            }
            Rpc::ListUsers(r) => list_users(state, p, r).await,
            Rpc::ListUserMetadata(r) => {
                if r.pagination.is_some() || !r.filters.is_empty() {
                    return Err(ZitadelError::new(
                        Code::Unimplemented,
                        "ListUserMetadata: pagination and filters are not supported; every key is returned",
                    ));
                }
                let user = d.user(p, user_id(state, p, &r.user_id).await?, false).await?;
                let metadata = map::metadata(&user);
                let total = metadata.len().to_string();
                Ok(json!({ "pagination": { "totalResult": total }, "metadata": metadata }))
            }
            Rpc::CreateUser(r) => create_user(state, p, *r).await,
            Rpc::AddHumanUser(r) => add_human_user(state, p, *r).await,
            Rpc::UpdateUser(r) => {
                wire::oneof("user", &[r.human.is_some(), r.machine.is_some()])?;
                let id = user_id(state, p, &r.user_id).await?;
                let user =
                    update(state, p, id, r.username, r.human.as_ref(), r.machine.as_ref()).await?;
                let body = json!({ "changeDate": map::details(&user)["changeDate"] });
                codes(state, p, id, r.human.as_ref(), body).await
            }
            Rpc::UpdateHumanUser(r) => {
                let human = wire::Human {
                    profile: r.profile,
                    email: r.email,
                    phone: r.phone,
                    password: r.password,
                    metadata: None,
                };
                let id = user_id(state, p, &r.user_id).await?;
                let user = update(state, p, id, r.username, Some(&human), None).await?;
                codes(state, p, id, Some(&human), json!({ "details": map::details(&user) })).await
            }
            Rpc::DeactivateUser(r) => lifecycle(state, p, &r.user_id, Transition::Deactivate).await,
            Rpc::ReactivateUser(r) => lifecycle(state, p, &r.user_id, Transition::Activate).await,
            Rpc::LockUser(r) => lifecycle(state, p, &r.user_id, Transition::Lock).await,
            Rpc::UnlockUser(r) => lifecycle(state, p, &r.user_id, Transition::Unlock).await,
            Rpc::DeleteUser(r) => lifecycle(state, p, &r.user_id, Transition::Delete).await,
            Rpc::SetEmail(id, set) => {
                let id = user_id(state, p, &id).await?;
                let patch = json!({ "emails": map::email_contact(&set)? });
                let user = d.merge_user(p, id, None, patch).await?;
                let code = code_if(state, p, id, Purpose::Email, set.return_code.is_some()).await?;
                Ok(with_code(json!({ "details": map::details(&user) }), "verificationCode", code))
            }
            Rpc::SetPhone(id, set) => {
                let id = user_id(state, p, &id).await?;
                let patch = json!({ "phones": map::phone_contact(&set)? });
                let user = d.merge_user(p, id, None, patch).await?;
                let code = code_if(state, p, id, Purpose::Phone, set.return_code.is_some()).await?;
                Ok(with_code(json!({ "details": map::details(&user) }), "verificationCode", code))
            }
            Rpc::RemovePhone(r) => {
                let id = user_id(state, p, &r.user_id).await?;
                if d.user(p, id, false).await?.profile.phones.is_empty() {
                    return Err(ZitadelError::new(Code::NotFound, "Phone not found"));
                }
                let user = d.merge_user(p, id, None, json!({ "phones": [] })).await?;
                Ok(json!({ "details": map::details(&user) }))
            }
            Rpc::ResendEmailCode(r) | Rpc::SendEmailCode(r) => {
                resend(state, p, r, Purpose::Email).await
            }
            Rpc::ResendPhoneCode(r) => resend(state, p, r, Purpose::Phone).await,
            Rpc::VerifyEmail(r) => verify(state, budget, p, r, Purpose::Email).await,
            Rpc::VerifyPhone(r) => verify(state, budget, p, r, Purpose::Phone).await,
            Rpc::PasswordReset(r) => {
                wire::oneof("medium", &[r.send_link.is_some(), r.return_code.is_some()])?;
                if r.send_link.is_some() {
                    return Err(ZitadelError::new(
                        Code::FailedPrecondition,
                        "sendLink: Roster sends no messages; use returnCode",
                    ));
                }
                let id = user_id(state, p, &r.user_id).await?;
                let code = d.issue_verification_code(p, id, Purpose::Password).await?;
                let user = d.user(p, id, false).await?;
                let body = json!({ "details": map::details(&user) });
                Ok(with_code(body, "verificationCode", r.return_code.map(|_| code)))
            }
            Rpc::SetPassword(r) => set_password(state, budget, p, r).await,
            Rpc::SetUserMetadata(r) => {
                let patch = json!({ "attributes": map::metadata_attributes(&r.metadata)? });
                let user =
                    d.merge_user(p, user_id(state, p, &r.user_id).await?, None, patch).await?;
                Ok(json!({ "setDate": map::details(&user)["changeDate"] }))
            }
            Rpc::DeleteUserMetadata(r) => {
                let keys: Map<String, Value> =
                    r.keys.into_iter().map(|k| (k, Value::Null)).collect();
                let patch = json!({ "attributes": keys });
                let user =
                    d.merge_user(p, user_id(state, p, &r.user_id).await?, None, patch).await?;
                Ok(json!({ "deletionDate": map::details(&user)["changeDate"] }))
            }
            Rpc::AddSecret(r) => {
                let id = user_id(state, p, &r.user_id).await?;
                machine_only(&d.user(p, id, false).await?)?;
                let (user, secret) = d.add_secret(p, id, None).await?;
                let created = &map::details(&user)["changeDate"];
                Ok(json!({ "clientSecret": secret.expose_secret(), "creationDate": created }))
            }
            Rpc::RemoveSecret(r) => {
                let id = user_id(state, p, &r.user_id).await?;
                machine_only(&d.user(p, id, false).await?)?;
                let user = d.remove_secret(p, id, None).await?;
                Ok(json!({ "deletionDate": map::details(&user)["changeDate"] }))
            }
            Rpc::Unimplemented(name) => Err(ZitadelError::new(
                Code::Unimplemented,
                format!("{SERVICE}/{name} is not supported by Roster"),
            )),
        }
    }
}

/// `ResendEmailCode`, `SendEmailCode`, `ResendPhoneCode`.
async fn resend(
    state: &AppState,
    p: &Principal,
    r: wire::ResendCodeRequest,
    purpose: Purpose,
) -> Result<Value> {
    map::verification("code", r.send_code.is_some(), r.return_code.is_some(), None)?;
    let id = user_id(state, p, &r.user_id).await?;
    let code = state.directory.issue_verification_code(p, id, purpose).await?;
    let user = state.directory.user(p, id, false).await?;
    let body = json!({ "details": map::details(&user) });
    Ok(with_code(body, "verificationCode", r.return_code.map(|_| code)))
}

/// `VerifyEmail`, `VerifyPhone`: a code check, paid from the verification budget.
async fn verify(
    state: &AppState,
    budget: &Budget,
    p: &Principal,
    r: wire::VerifyCodeRequest,
    purpose: Purpose,
) -> Result<Value> {
    budget.verification()?;
    let code = SecretString::from(r.verification_code);
    let user =
        state.directory.verify_code(p, user_id(state, p, &r.user_id).await?, purpose, code).await?;
    Ok(json!({ "details": map::details(&user) }))
}
