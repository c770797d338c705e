//! Passwords: setting one, and verifying one with a lockout after consecutive failures. Client
//! secrets of machine users: generated (shown once), replaced, removed.
//!
//! Verification answers only yes or no: a wrong password, a user who cannot sign in (locked,
//! inactive, deleted, without a password) and an unknown id all give the same
//! `Error::CredentialsRejected` after the same hashing work. A success resets the failure count,
//! records `last_auth_at` and replaces a hash that is not argon2id at the configured cost; the
//! `lockout_after`-th consecutive failure locks the user (a `user.state_changed` event). Neither
//! changes the user's version: they are not edits of the document.

use secrecy::SecretString;
use serde_json::json;

use crate::directory::{Directory, RETRIES, event};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::secret::{self, Verified};
use crate::state::Transition;
use crate::tenant::Principal;
use crate::user::{PasswordInfo, User, UserKind, UserState};
use crate::validate;

impl Directory {
    /// Sets a user's password (argon2id); `change_required` asks for a change at next sign-in.
    pub async fn set_password(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        password: SecretString,
        change_required: bool,
    ) -> Result<User> {
        validate::check_password(&password)?;
        let hash = self.hasher().hash(password).await?;
        self.modify(p, id, if_match, |record| {
            record.password_hash = Some(hash.clone());
            record.password_failures = 0;
            record.user.password =
                PasswordInfo { set: true, change_required, changed_at: Some(self.now()) };
            Ok(("user.password_changed", json!({ "change_required": change_required })))
        })
        .await
    }

    /// Checks a user's password; the user (with `last_auth_at` set) when it is accepted.
    pub async fn verify_password(
        &self,
        p: &Principal,
        id: UserId,
        password: SecretString,
    ) -> Result<User> {
        for _ in 0..RETRIES {
            let current = match self.record(p.tenant, id, false).await {
                Ok(r) => Some(r),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            let hash = current.as_ref().and_then(|r| r.password_hash.clone());
            let verified = self.hasher().verify(hash, password.clone()).await?;
            let Some(current) = current.filter(|r| r.user.state == UserState::Active) else {
                return Err(Error::CredentialsRejected);
            };
            let now = self.now();
            let mut record = current.clone();
            let mut events = Vec::new();
            match verified {
                Verified::Yes { rehash } => {
                    if rehash {
                        record.password_hash = Some(self.hasher().hash(password.clone()).await?);
                    }
                    record.password_failures = 0;
                    record.user.last_auth_at = Some(now);
                }
                Verified::No => {
                    record.password_failures = current.password_failures.saturating_add(1);
                    if record.password_failures >= self.lockout_after() {
                        let from = record.user.state;
                        record.user.state = Transition::Lock.target(from).unwrap_or(from);
                        record.user.updated_at = now;
                        record.user.version += 1;
                        events.push(event(
                            p,
                            "user.state_changed",
                            &record.user,
                            json!({ "from": from, "to": record.user.state, "action": "lock",
                                    "reason": "password_failures" }),
                        ));
                    }
                }
            }
            match self.commit_update(p.tenant, current, record, events, Vec::new()).await {
                Err(Error::Stale { .. }) => continue,
                Err(e) => return Err(e),
                Ok(user) if verified == Verified::No => {
                    tracing::info!(user = %user.id, locked = user.state == UserState::Locked, "password rejected");
                    return Err(Error::CredentialsRejected);
                }
                Ok(user) => return Ok(user),
            }
        }
        Err(Error::CredentialsRejected)
    }

    /// Generates a machine user's client secret, replacing any earlier one; the secret is
    /// returned once and stored as a digest.
    pub async fn add_secret(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
    ) -> Result<(User, SecretString)> {
        let (secret, hash) = secret::new_client_secret()?;
        let user = self.change_secret(p, id, if_match, Some(hash)).await?;
        Ok((user, secret))
    }

    /// Removes a machine user's client secret.
    pub async fn remove_secret(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
    ) -> Result<User> {
        self.change_secret(p, id, if_match, None).await
    }

    async fn change_secret(
        &self,
        p: &Principal,
        id: UserId,
        if_match: Option<i64>,
        hash: Option<String>,
    ) -> Result<User> {
        self.modify(p, id, if_match, |record| {
            if record.user.kind != UserKind::Machine {
                return Err(Error::Refused("only machine users have client secrets"));
            }
            if hash.is_none() && record.secret_hash.is_none() {
                return Err(Error::NotFound { kind: "client secret" });
            }
            record.secret_hash = hash.clone();
            record.user.has_secret = Some(hash.is_some());
            let action = if hash.is_some() { "set" } else { "removed" };
            Ok(("user.secret_changed", json!({ "action": action })))
        })
        .await
    }
}
