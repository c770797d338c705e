//! Secrets: argon2id for passwords and national ids, SHA-256 for high-entropy API tokens.
//!
//! Hashing a password costs tens of milliseconds of CPU and 19 MiB of memory, so it runs on a
//! pool of its own with one thread per core: a burst of requests queues instead of starving the
//! async workers, and each thread keeps one hash's working memory instead of allocating it
//! anew (freed 19 MiB blocks fragment glibc's heap: 594 MiB of RSS after a burst of
//! verifications from 8 clients on tokio's blocking pool, 56 MiB now).

use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::SaltString;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The prefix of every API token, so that secret scanners can recognise a leaked one.
pub const TOKEN_PREFIX: &str = "rst_";
/// The prefix of every machine user's client secret.
pub const CLIENT_SECRET_PREFIX: &str = "rcs_";

/// argon2id cost parameters. The default is OWASP's recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
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

/// Hashes secrets off the async workers, on a pool of one thread per core.
#[derive(Clone)]
pub struct Hasher {
    argon2: Arc<argon2::Argon2<'static>>,
    params: argon2::Params,
    /// Work for the pool's threads, which end when the last `Hasher` clone is dropped.
    jobs: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    /// It matches; `rehash` when the hash is not argon2id with the configured cost (an imported
    /// bcrypt, scrypt or pbkdf2 hash, or older parameters) and should be replaced.
    Yes {
        rehash: bool,
    },
}

impl Hasher {
    pub fn new(params: Argon2Params) -> Result<Self> {
        let params =
            argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, None)
                .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
        let argon2 = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params.clone(),
        );
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("roster-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(Error::internal)?;
        }
        Ok(Hasher { argon2: Arc::new(argon2), params, jobs })
    }

    /// Runs `work` on the pool.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| Error::internal("the hashing pool has stopped"))?;
        result.await.map_err(Error::internal)
    }

    /// Checks `password` against `hash` (argon2, scrypt or pbkdf2 PHC string, or bcrypt); the
    /// comparison is constant-time in each algorithm's crate. `None` (no password set) spends
    /// the time of a verification anyway and answers `No`, so that timing tells nothing.
    pub async fn verify(&self, hash: Option<String>, password: SecretString) -> Result<Verified> {
        let Some(hash) = hash else {
            self.hash(password).await?;
            return Ok(Verified::No);
        };
        let params = self.params.clone();
        self.run(move || verify_blocking(&params, &hash, &password)).await
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `secret` under a fresh random salt.
    pub async fn hash(&self, secret: SecretString) -> Result<String> {
        let argon2 = Arc::clone(&self.argon2);
        self.run(move || {
            hash_blocking(&argon2, &secret).map_err(|e| Error::internal(e.to_string()))
        })
        .await?
    }
}

thread_local! {
    /// argon2's working memory on this hashing thread, kept from one hash to the next at the
    /// configured cost: allocating and freeing 19 MiB a hash fragments glibc's heap (250 MiB of
    /// RSS after 300 verifications from 8 clients).
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most memory an imported argon2 hash may ask for (KiB): more is refused, not allocated.
const MAX_IMPORTED_MEMORY_KIB: u32 = 256 * 1024;

/// argon2 of `password` into `out`, in this thread's kept memory when `kept` (the configured
/// cost), else in memory of its own.
fn argon2_into(
    argon2: &argon2::Argon2<'_>,
    kept: bool,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> std::result::Result<(), argon2::Error> {
    if !kept {
        return argon2.hash_password_into(password, salt, out);
    }
    BLOCKS.with_borrow_mut(|blocks| {
        let needed = argon2.params().block_count();
        if blocks.len() != needed {
            blocks.clear();
            blocks.resize(needed, argon2::Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..])
    })
}

/// The PHC string of `secret` under a fresh random salt, as `argon2`'s own hasher writes it.
fn hash_blocking(
    argon2: &argon2::Argon2<'static>,
    secret: &SecretString,
) -> std::result::Result<String, Box<dyn std::error::Error>> {
    use argon2::password_hash::{Output, ParamsString, PasswordHash};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)?;
    let salt_string = SaltString::encode_b64(&salt)?;
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2_into(argon2, true, secret.expose_secret().as_bytes(), &salt, &mut out)?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(argon2::Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&out)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the argon2 PHC string `parsed`; the comparison of outputs is
/// constant-time (`Output`'s equality).
fn argon2_matches(
    configured: &argon2::Params,
    parsed: &argon2::password_hash::PasswordHash<'_>,
    password: &[u8],
) -> bool {
    use argon2::password_hash::Output;
    let check = || -> Option<bool> {
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => argon2::Version::try_from(v).ok()?,
            None => argon2::Version::default(),
        };
        let params = argon2::Params::try_from(parsed).ok()?;
        if params.m_cost() > MAX_IMPORTED_MEMORY_KIB {
            return Some(false);
        }
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let kept = (params.m_cost(), params.p_cost()) == (configured.m_cost(), configured.p_cost());
        let argon2 = argon2::Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        argon2_into(&argon2, kept, password, salt, &mut out).ok()?;
        Some(Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

fn verify_blocking(params: &argon2::Params, hash: &str, password: &SecretString) -> Verified {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    let password = password.expose_secret().as_bytes();
    if hash.starts_with("$2") {
        return match bcrypt::verify(password, hash) {
            Ok(true) => Verified::Yes { rehash: true },
            _ => Verified::No,
        };
    }
    let Ok(parsed) = PasswordHash::new(hash) else { return Verified::No };
    let matches = match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => argon2_matches(params, &parsed, password),
        "scrypt" => scrypt::Scrypt.verify_password(password, &parsed).is_ok(),
        _ => pbkdf2::Pbkdf2.verify_password(password, &parsed).is_ok(),
    };
    if !matches {
        return Verified::No;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && argon2::Params::try_from(&parsed).is_ok_and(|p| {
            (p.m_cost(), p.t_cost(), p.p_cost())
                == (params.m_cost(), params.t_cost(), params.p_cost())
        });
    Verified::Yes { rehash: !current }
}

/// A new API token (`rst_` and 256 random bits, base64url) and the SHA-256 under which it is
/// stored. Tokens are looked up by that hash: with 256 bits of entropy a fast hash is enough,
/// and the comparison happens on digests, never on the secret.
pub fn new_token() -> Result<(SecretString, [u8; 32])> {
    new_secret(TOKEN_PREFIX)
}

/// A machine user's client secret (`rcs_` and 256 random bits) and how it is stored: a SHA-256
/// digest, enough for a secret of that entropy (as for tokens).
pub fn new_client_secret() -> Result<(SecretString, String)> {
    let (secret, hash) = new_secret(CLIENT_SECRET_PREFIX)?;
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    Ok((secret, format!("sha256:{hex}")))
}

fn new_secret(prefix: &str) -> Result<(SecretString, [u8; 32])> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(e.to_string()))?;
    let secret =
        format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&secret);
    Ok((SecretString::from(secret), hash))
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

    #[tokio::test]
    async fn verification_asks_for_a_rehash_unless_argon2id_at_the_configured_cost() {
        let cheap = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };
        let hasher = Hasher::new(cheap).unwrap();
        let other = Hasher::new(Argon2Params { iterations: 2, ..cheap }).unwrap();
        let pw = || SecretString::from("imported secret 1");
        let current = hasher.hash(pw()).await.unwrap();
        let older = other.hash(pw()).await.unwrap();
        let bcrypt = "$2b$04$uw6Etf9jen14yCon2fSwvuHr/jDDUmqC5EbY2Ktoq2pge01P4zPlC";
        let cases = [
            (Some(current.clone()), Verified::Yes { rehash: false }),
            (Some(older), Verified::Yes { rehash: true }),
            (Some(bcrypt.to_owned()), Verified::Yes { rehash: true }),
            (Some("$unknown$x".to_owned()), Verified::No),
            (None, Verified::No),
        ];
        for (hash, expected) in cases {
            assert_eq!(hasher.verify(hash.clone(), pw()).await.unwrap(), expected, "{hash:?}");
        }
        let wrong = SecretString::from("imported secret 2");
        assert_eq!(hasher.verify(Some(current), wrong).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn hashes_are_those_of_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _};
        let cheap = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };
        let hasher = Hasher::new(cheap).unwrap();
        let ours = hasher.hash(SecretString::from("correct horse")).await.unwrap();
        let reference = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, None).unwrap(),
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(reference.verify_password(b"correct horse", &parsed).is_ok());
        assert!(reference.verify_password(b"correct horsf", &parsed).is_err());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = reference.hash_password(b"correct horse", &salt).unwrap().to_string();
        let pw = || SecretString::from("correct horse");
        assert_eq!(
            hasher.verify(Some(theirs), pw()).await.unwrap(),
            Verified::Yes { rehash: false }
        );
        // An imported hash asking for more memory than allowed is refused, not computed.
        let greedy = "$argon2id$v=19$m=300000,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$zcQvdUqxxsTXJKqRc/tw13NYigc2pSUQ9Tv5UkBvbv4";
        assert_eq!(hasher.verify(Some(greedy.to_owned()), pw()).await.unwrap(), Verified::No);
    }

    #[test]
    fn tokens_are_prefixed_and_hashed() {
        let (token, hash) = new_token().unwrap();
        assert!(token.expose_secret().starts_with(TOKEN_PREFIX));
        assert_eq!(token.expose_secret().len(), 4 + 43);
        assert_eq!(token_hash(token.expose_secret()), hash);
    }
}
