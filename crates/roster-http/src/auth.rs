//! Bearer-token authentication and the scope each route needs.
//!
//! A handler states its scope in its signature: `Auth<UsersRead>`, `Auth<UsersWrite>` or
//! `Auth<DirectoryAdmin>`, `Auth<TenantAdmin>` or `Auth<System>`; a surface other than the
//! native one names itself too (`Auth<UsersRead, Scim>`), and a refusal comes in its shape.
//! Whatever the surface, the tenant goes into the request's span and the caller into its audit
//! slot here, once. The credentials are a bearer token (an API token, or an access token of the
//! client-credentials grant, [`crate::oauth`]) or HTTP Basic with a token as the password; a
//! token that holds a public key must sign the request too ([`crate::signature`]).

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use roster_core::{Error, Principal, Scope};
use secrecy::{ExposeSecret as _, SecretString};

use crate::AppState;
use crate::audit::Caller;
use crate::signature::{self, BodyDigest, Message};
use crate::surface::{Native, Rejection, Surface};

/// A scope a route requires.
pub trait RequiredScope: Send + Sync + 'static {
    const SCOPE: Scope;
}

pub struct UsersRead;
pub struct UsersWrite;
pub struct DirectoryAdmin;
pub struct TenantAdmin;
pub struct System;

impl RequiredScope for UsersRead {
    const SCOPE: Scope = Scope::UsersRead;
}
impl RequiredScope for UsersWrite {
    const SCOPE: Scope = Scope::UsersWrite;
}
impl RequiredScope for DirectoryAdmin {
    const SCOPE: Scope = Scope::DirectoryAdmin;
}
impl RequiredScope for TenantAdmin {
    const SCOPE: Scope = Scope::TenantAdmin;
}
impl RequiredScope for System {
    const SCOPE: Scope = Scope::System;
}

/// The authenticated principal of a request, holding scope `S`, for surface `X`.
pub struct Auth<S, X = Native> {
    pub principal: Principal,
    _scope: PhantomData<(S, X)>,
}

impl<S: RequiredScope, X: Surface> FromRequestParts<AppState> for Auth<S, X> {
    type Rejection = X::Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let refuse = |e: Error| X::Error::from(Rejection::Core(e));
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|t| SecretString::from(t.trim().to_owned()));
        // HTTP Basic: any user name, an API token (or access token) as the password.
        let token = bearer
            .or_else(|| crate::oauth::basic(&parts.headers).map(|(_, password)| password))
            .ok_or_else(|| refuse(Error::Unauthenticated))?;
        let principal =
            state.directory.authenticate(token.expose_secret()).await.map_err(refuse)?;
        tracing::Span::current().record("tenant_id", tracing::field::display(principal.tenant));
        if let Some(caller) = parts.extensions.get::<Caller>() {
            caller.set(&principal);
        }
        if let Some(key) = &principal.public_key {
            let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |u| &u.0);
            let body = parts.extensions.get().copied().unwrap_or(BodyDigest::Unchecked);
            let message = Message { method: &parts.method, uri, headers: &parts.headers, body };
            signature::check(&message, key, state.directory.now()).await.map_err(refuse)?;
        }
        if !principal.allows(S::SCOPE) {
            return Err(refuse(Error::Forbidden));
        }
        Ok(Auth { principal, _scope: PhantomData })
    }
}
