//! One-time codes that confirm a user's e-mail address or phone number, or allow a password
//! reset.
//!
//! A code is issued for the user's primary address (or number), or for a reset, replacing an
//! earlier one for the same purpose; it is returned once, kept as an argon2id hash with the value
//! it confirms, and expires after [`CODE_TTL`]. Checking the right code marks that value verified
//! (or sets the new password) and spends the code, in one commit. Roster sends no messages itself: a surface returns the code to its
//! caller, or a mailer follows `user.verification_code_issued`.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use crate::directory::{Directory, event};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::secret::Verified;
use crate::store::Write;
use crate::tenant::Principal;
use crate::user::{Contact, User};

/// How long a code stays good.
pub const CODE_TTL: Duration = Duration::from_secs(60 * 60);
/// Characters of a code: upper-case letters and digits without the ones read alike (0/O, 1/I).
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 6;

/// What a code confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Email,
    Phone,
    /// A password reset: the code stands in for the current password.
    Password,
}

impl Purpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::Email => "email",
            Purpose::Phone => "phone",
            Purpose::Password => "password",
        }
    }

    /// The contacts a code confirms one of; none for a reset.
    fn contacts(self, user: &mut User) -> Option<&mut Vec<Contact>> {
        match self {
            Purpose::Email => Some(&mut user.profile.emails),
            Purpose::Phone => Some(&mut user.profile.phones),
            Purpose::Password => None,
        }
    }

    fn field(self) -> &'static str {
        match self {
            Purpose::Email => "emails",
            Purpose::Phone => "phones",
            Purpose::Password => "password",
        }
    }
}

/// A pending code as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub purpose: Purpose,
    pub code_hash: String,
    /// The address or number the code confirms.
    pub target: String,
    pub expires_at: OffsetDateTime,
}

fn new_code() -> Result<SecretString> {
    let mut bytes = [0u8; CODE_LENGTH];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(e.to_string()))?;
    // 256 is a multiple of the alphabet's 32 characters: every character is equally likely.
    let code: String =
        bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
    Ok(SecretString::from(code))
}

impl Directory {
    /// Issues a code confirming the user's primary e-mail address or phone number; the code
    /// is returned this once.
    pub async fn issue_verification_code(
        &self,
        p: &Principal,
        id: UserId,
        purpose: Purpose,
    ) -> Result<SecretString> {
        let mut record = self.record(p.tenant, id, false).await?;
        let target = match purpose.contacts(&mut record.user) {
            None => String::new(),
            Some(contacts) => match contacts.iter().find(|c| c.primary).or(contacts.first()) {
                Some(c) => c.value.clone(),
                None if purpose == Purpose::Email => {
                    return Err(Error::Refused("the user has no e-mail address to verify"));
                }
                None => return Err(Error::Refused("the user has no phone number to verify")),
            },
        };
        let code = new_code()?;
        let code_hash = self.hasher().hash(code.clone()).await?;
        let now = self.now();
        let code_record = CodeRecord { purpose, code_hash, target, expires_at: now + CODE_TTL };
        let write = Write::PutVerificationCode { user: id, record: Box::new(code_record) };
        let data = json!({ "purpose": purpose.as_str() });
        let mut issued = event(p, "user.verification_code_issued", &record.user, data);
        issued.occurred_at = now;
        self.store().commit(p.tenant, crate::Change::of(vec![write], vec![issued])).await?;
        Ok(code)
    }

    /// Checks a code: the value it was issued for becomes verified and the code is spent. A
    /// wrong code is an error on `code`; no pending code, an expired one, or a value changed
    /// since the code was issued are refusals.
    pub async fn verify_code(
        &self,
        p: &Principal,
        id: UserId,
        purpose: Purpose,
        code: SecretString,
    ) -> Result<User> {
        let pending = self.pending_code(p, id, purpose, code).await?;
        let spend = Write::DeleteVerificationCode { user: id, purpose };
        let change = |record: &mut crate::store::UserRecord| {
            let contact = purpose
                .contacts(&mut record.user)
                .and_then(|contacts| contacts.iter_mut().find(|c| c.value == pending.target))
                .ok_or(Error::Refused("the value changed since the code was issued"))?;
            contact.verified = true;
            Ok(("user.updated", json!({ "fields": [purpose.field()] })))
        };
        self.modify_with(p, id, None, change, vec![spend]).await
    }

    /// Sets a new password with a reset code instead of the current password; the code is
    /// spent in the same commit.
    pub async fn reset_password(
        &self,
        p: &Principal,
        id: UserId,
        code: SecretString,
        password: SecretString,
        change_required: bool,
    ) -> Result<User> {
        crate::validate::check_password(&password)?;
        self.pending_code(p, id, Purpose::Password, code).await?;
        let hash = self.hasher().hash(password).await?;
        let spend = Write::DeleteVerificationCode { user: id, purpose: Purpose::Password };
        let now = self.now();
        let change = |record: &mut crate::store::UserRecord| {
            record.password_hash = Some(hash.clone());
            record.password_failures = 0;
            record.user.password =
                crate::user::PasswordInfo { set: true, change_required, changed_at: Some(now) };
            Ok((
                "user.password_changed",
                json!({ "change_required": change_required, "reset": true }),
            ))
        };
        self.modify_with(p, id, None, change, vec![spend]).await
    }

    /// The pending code for `purpose` when `code` is it and it has not expired.
    async fn pending_code(
        &self,
        p: &Principal,
        id: UserId,
        purpose: Purpose,
        code: SecretString,
    ) -> Result<CodeRecord> {
        self.record(p.tenant, id, false).await?;
        let Some(pending) = self.store().verification_code(p.tenant, id, purpose).await? else {
            return Err(Error::Refused("no verification code is pending"));
        };
        if pending.expires_at <= self.now() {
            return Err(Error::Refused("the verification code has expired"));
        }
        if self.hasher().verify(Some(pending.code_hash.clone()), code).await? == Verified::No {
            return Err(Error::invalid("code", "invalid", "is not the code that was issued"));
        }
        Ok(pending)
    }
}
