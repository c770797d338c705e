//! API tokens of a tenant: issued with a name, scopes and an optional expiry, shown once, stored
//! as a SHA-256 digest, listed without their secret, revoked by id.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::Directory;
use crate::error::{Error, FieldError, Result};
use crate::id::TokenId;
use crate::secret;
use crate::tenant::{NewToken, Principal, Scope, Token};

/// Longest token name, in characters.
const MAX_NAME: usize = 100;

/// The body of `POST /v1/tokens`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TokenInput {
    /// What the token is for, e.g. `ci-provisioning`.
    #[schema(min_length = 1)]
    pub name: String,
    /// At least one; a token can only be given scopes its creator holds.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// When the token stops working; never, when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl Directory {
    /// Issues a token in `p`'s tenant; its secret is returned once and never again.
    pub async fn create_token(
        &self,
        p: &Principal,
        input: TokenInput,
    ) -> Result<(Token, SecretString)> {
        let now = self.now();
        let mut errors = Vec::new();
        let name = input.name.trim();
        if name.is_empty() {
            errors.push(FieldError::new("name", "required", "must not be blank"));
        } else if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                "invalid_format",
                format!("at most {MAX_NAME} characters, no control characters"),
            ));
        }
        if input.scopes.is_empty() {
            errors.push(FieldError::new("scopes", "required", "name at least one scope"));
        }
        for (i, scope) in input.scopes.iter().enumerate() {
            if !p.allows(*scope) {
                errors.push(FieldError::new(
                    format!("scopes[{i}]"),
                    "not_held",
                    "a token can only be given scopes its creator holds",
                ));
            }
        }
        if input.expires_at.is_some_and(|at| at <= now) {
            errors.push(FieldError::new("expires_at", "out_of_range", "must be in the future"));
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let mut scopes = input.scopes;
        scopes.sort();
        scopes.dedup();
        let (secret, token) = self.new_token(name, scopes, input.expires_at, None)?;
        self.store().create_token(p.tenant, &token).await?;
        let view = Token {
            id: token.id,
            name: token.name,
            scopes: token.scopes,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: None,
        };
        Ok((view, secret))
    }

    /// The tokens of `p`'s tenant that `p` may see, oldest first.
    pub async fn tokens(&self, p: &Principal) -> Result<Vec<Token>> {
        let tokens = self.store().tokens(p.tenant).await?;
        Ok(tokens.into_iter().filter(|t| visible(p, t)).collect())
    }

    pub async fn token(&self, p: &Principal, id: TokenId) -> Result<Token> {
        let token = self.store().token(p.tenant, id).await?;
        token.filter(|t| visible(p, t)).ok_or(Error::NotFound { kind: "token" })
    }

    /// Revokes a token: at once on this node, within the principal cache's lifetime on others.
    pub async fn revoke_token(&self, p: &Principal, id: TokenId) -> Result<()> {
        // Scopes never change, so the token seen is the token revoked.
        self.token(p, id).await?;
        if !self.store().revoke_token(p.tenant, id).await? {
            return Err(Error::NotFound { kind: "token" });
        }
        self.forget_token(id);
        Ok(())
    }

    /// A token named `name` with `scopes`: the `given` secret, or a generated one.
    pub(crate) fn new_token(
        &self,
        name: &str,
        scopes: Vec<Scope>,
        expires_at: Option<OffsetDateTime>,
        given: Option<SecretString>,
    ) -> Result<(SecretString, NewToken)> {
        let (secret, secret_hash) = match given {
            Some(t) => {
                let hash = secret::token_hash(t.expose_secret());
                (t, hash)
            }
            None => secret::new_token()?,
        };
        let now = self.now();
        let token = NewToken {
            id: TokenId::generate(now),
            name: name.to_owned(),
            secret_hash,
            scopes,
            created_at: now,
            expires_at,
        };
        Ok((secret, token))
    }
}

/// Whether `p` may see (and so revoke) `token`: only a token whose every scope `p` holds itself,
/// and never the deployment's `system` token, which a tenant's admin must not be able to list or
/// revoke (it would lose the operator the management of tenants).
fn visible(p: &Principal, token: &Token) -> bool {
    token.scopes.iter().all(|s| *s != Scope::System && p.allows(*s))
}
