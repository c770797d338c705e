//! Secrets: argon2id for passwords and national ids, SHA-256 for high-entropy API tokens.
//!
//! Hashing a password costs tens of milliseconds of CPU, so it runs on tokio's blocking pool
//! behind a semaphore sized to the machine: a burst of requests queues instead of starving the
//! async workers or exhausting memory.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, SaltString};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// The prefix of every API token, so that secret scanners can recognise a leaked one.
pub const TOKEN_PREFIX: &str = "rst_";

/// argon2id cost parameters. The default is OWASP's recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// Hashes secrets off the async workers, a bounded number at a time.
#[derive(Clone)]
pub struct Hasher {
    argon2: Arc<argon2::Argon2<'static>>,
    permits: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(params: Argon2Params) -> Result<Self> {
        let params =
            argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, None)
                .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
        let argon2 =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let lanes = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Hasher { argon2: Arc::new(argon2), permits: Arc::new(Semaphore::new(lanes)) })
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `secret` under a fresh random salt.
    pub async fn hash(&self, secret: SecretString) -> Result<String> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        let argon2 = Arc::clone(&self.argon2);
        tokio::task::spawn_blocking(move || {
            let mut salt = [0u8; 16];
            getrandom::fill(&mut salt).map_err(|e| Error::internal(e.to_string()))?;
            let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal(e.to_string()))?;
            argon2
                .hash_password(secret.expose_secret().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::internal(e.to_string()))
        })
        .await
        .map_err(Error::internal)?
    }
}

/// A new API token (`rst_` and 256 random bits, base64url) and the SHA-256 under which it is
/// stored. Tokens are looked up by that hash: with 256 bits of entropy a fast hash is enough,
/// and the comparison happens on digests, never on the secret.
pub fn new_token() -> Result<(SecretString, [u8; 32])> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(e.to_string()))?;
    let token =
        format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    Ok((SecretString::from(token), hash))
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_salted_phc_strings() {
        let hasher =
            Hasher::new(Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap();
        let a = hasher.hash(SecretString::from("correct horse")).await.unwrap();
        let b = hasher.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn tokens_are_prefixed_and_hashed() {
        let (token, hash) = new_token().unwrap();
        assert!(token.expose_secret().starts_with(TOKEN_PREFIX));
        assert_eq!(token.expose_secret().len(), 4 + 43);
        assert_eq!(token_hash(token.expose_secret()), hash);
    }
}
