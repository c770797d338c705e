//! API tokens of a tenant: issued with a name, scopes, an optional expiry and application, shown
//! once, stored as a SHA-256 digest, listed without their secret, revoked by id. A token is also
//! an OAuth2 client: the client-credentials grant issues it access tokens, signed and stored
//! nowhere, checked against their client whenever the principal cache misses.

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::directory::Directory;
use crate::error::{Error, FieldError, Result};
use crate::id::{ApplicationId, TokenId};
use crate::keys::PublicKey;
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
    /// An application of the tenant the token acts for: "the requesting application" of the
    /// dialects that have one, inherited by the token's access tokens.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub application_id: Option<ApplicationId>,
    /// A PEM SubjectPublicKeyInfo (EC P-256, P-384 or P-521): when given, every request made
    /// with the token or its access tokens must carry an HTTP Message Signature by its private
    /// key (RFC 9421), on every surface and at the token endpoint.
    #[serde(default)]
    pub public_key: Option<String>,
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
        if let Some(app) = input.application_id
            && self.store().application(p.tenant, app).await?.is_none()
        {
            errors.push(FieldError::new("application_id", "not_found", "no such application"));
        }
        let public_key = match input.public_key.as_deref().map(PublicKey::from_pem) {
            None => None,
            Some(Ok(key)) => Some(key),
            Some(Err(reason)) => {
                errors.push(FieldError::new("public_key", "invalid_format", reason));
                None
            }
        };
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let mut scopes = input.scopes;
        scopes.sort();
        scopes.dedup();
        let (secret, mut token) = self.new_token(name, scopes, input.expires_at, None)?;
        token.application_id = input.application_id;
        token.public_key = public_key;
        self.store().create_token(p.tenant, &token).await?;
        let view = Token {
            id: token.id,
            name: token.name,
            scopes: token.scopes,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: None,
            application_id: token.application_id,
            public_key: token.public_key,
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
            application_id: None,
            public_key: None,
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

/// Access tokens start with this: told from API tokens at a glance, and by secret scanners.
pub const ACCESS_TOKEN_PREFIX: &str = "rat_";
/// How long an access token lives (never past its client token).
pub const ACCESS_TOKEN_TTL: time::Duration = time::Duration::hours(1);

/// An access token issued by the client-credentials grant (RFC 6749 §4.4).
pub struct AccessToken {
    /// `rat_…`: shown to the client once, verified by its signature, stored nowhere.
    pub token: SecretString,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The scopes it carries: the client's, or those the request narrowed them to.
    pub scopes: Vec<Scope>,
}

/// What an access token says, signed: the tenant, the client token, the scopes and the expiry.
#[derive(serde::Serialize, Deserialize)]
struct Claims {
    #[serde(rename = "t")]
    tenant: uuid::Uuid,
    #[serde(rename = "c")]
    client: uuid::Uuid,
    #[serde(rename = "s")]
    scopes: String,
    /// Unix seconds.
    #[serde(rename = "e")]
    expires: i64,
}

impl Directory {
    /// The OAuth2 client-credentials grant: an API token is the client (`client_id` its id,
    /// `client_secret` its secret), and the access token it gets acts with the client's scopes,
    /// or those `scope` (space-separated) narrows them to, for an hour at most. A wrong client is
    /// `Unauthenticated`; a scope the client does not hold is invalid on `scope`.
    pub async fn grant_client_credentials(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        scope: Option<&str>,
    ) -> Result<(Principal, AccessToken)> {
        let secret = client_secret.expose_secret();
        // A client authenticates with its own secret, never with an access token.
        if secret.starts_with(ACCESS_TOKEN_PREFIX) {
            return Err(Error::Unauthenticated);
        }
        let client = self.authenticate(secret).await?;
        let id = match client.actor {
            crate::Actor::Token(id) if client_id.parse::<TokenId>() == Ok(id) => id,
            _ => return Err(Error::Unauthenticated),
        };
        let scopes = match scope.map(str::split_whitespace) {
            None => client.scopes.clone(),
            Some(asked) => {
                let mut scopes = Vec::new();
                for name in asked {
                    match Scope::parse(name) {
                        Some(s) if client.allows(s) => scopes.push(s),
                        _ => {
                            return Err(Error::invalid(
                                "scope",
                                "not_held",
                                format!("`{name}` is not a scope this client holds"),
                            ));
                        }
                    }
                }
                scopes.sort();
                scopes.dedup();
                if scopes.is_empty() { client.scopes.clone() } else { scopes }
            }
        };
        let now = self.now();
        let expires =
            client.expires_at.map_or(now + ACCESS_TOKEN_TTL, |e| e.min(now + ACCESS_TOKEN_TTL));
        let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        let claims = Claims {
            tenant: *client.tenant.as_uuid(),
            client: *id.as_uuid(),
            scopes: names.join(" "),
            expires: expires.unix_timestamp(),
        };
        let payload = serde_json::to_vec(&claims).map_err(Error::internal)?;
        let mac = sign(self.access_key().await?, &payload)?;
        let token = format!("{ACCESS_TOKEN_PREFIX}{}.{}", B64.encode(&payload), B64.encode(mac));
        let access = AccessToken {
            token: SecretString::from(token),
            expires_in: (expires - now).whole_seconds().max(0),
            scopes,
        };
        Ok((client, access))
    }

    /// The principal an access token (without its prefix) stands for: its client's, with the
    /// token's scopes and expiry, while both are valid and the client exists.
    pub(crate) async fn access_principal(
        &self,
        access: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Principal>> {
        let Some((payload, mac)) = access.split_once('.') else { return Ok(None) };
        let (Ok(payload), Ok(mac)) = (B64.decode(payload), B64.decode(mac)) else {
            return Ok(None);
        };
        if !verify(self.access_key().await?, &payload, &mac)? {
            return Ok(None);
        }
        let Ok(claims) = serde_json::from_slice::<Claims>(&payload) else { return Ok(None) };
        let Ok(expires) = OffsetDateTime::from_unix_timestamp(claims.expires) else {
            return Ok(None);
        };
        if expires <= now {
            return Ok(None);
        }
        let tenant = crate::TenantId::from_uuid(claims.tenant);
        let client = TokenId::from_uuid(claims.client);
        let Some(mut principal) = self.store().principal_of_token(tenant, client, now).await?
        else {
            return Ok(None);
        };
        // The scopes granted, as far as the client still holds them.
        let granted = claims.scopes.split(' ').filter_map(Scope::parse);
        principal.scopes = granted.filter(|s| principal.allows(*s)).collect();
        principal.expires_at = Some(principal.expires_at.map_or(expires, |e| e.min(expires)));
        Ok(Some(principal))
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn sign(key: &[u8], payload: &[u8]) -> Result<[u8; 32]> {
    use hmac::Mac as _;
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).map_err(Error::internal)?;
    mac.update(payload);
    Ok(mac.finalize().into_bytes().into())
}

/// Whether `mac` signs `payload`, compared in constant time.
fn verify(key: &[u8], payload: &[u8], mac: &[u8]) -> Result<bool> {
    use hmac::Mac as _;
    let mut check =
        <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).map_err(Error::internal)?;
    check.update(payload);
    Ok(check.verify_slice(mac).is_ok())
}
