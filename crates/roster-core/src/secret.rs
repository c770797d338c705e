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

/// The most an imported password hash may cost to verify. A hash naming more is refused when
/// it is written (400 naming the field) and, should one be stored already, fails verification
/// without being computed: one verification must never abort the process (scrypt allocates
/// `128·r·2^ln` bytes up front) nor hold a hashing thread for minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashLimits {
    /// scrypt's memory, `128·r·2^ln` bytes, in MiB.
    pub scrypt_memory_mib: u64,
    /// scrypt's `p`.
    pub scrypt_parallelism: u32,
    /// argon2's `m`, in KiB.
    pub argon2_memory_kib: u32,
    /// argon2's `t`.
    pub argon2_iterations: u32,
    /// argon2's `p`.
    pub argon2_parallelism: u32,
    /// PBKDF2's `i`.
    pub pbkdf2_iterations: u32,
    /// bcrypt's cost (`2^cost` rounds).
    pub bcrypt_cost: u32,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            scrypt_memory_mib: 256,
            scrypt_parallelism: 16,
            argon2_memory_kib: 256 * 1024,
            argon2_iterations: 16,
            argon2_parallelism: 16,
            pbkdf2_iterations: 10_000_000,
            bcrypt_cost: 15,
        }
    }
}

impl HashLimits {
    /// Why `hash` cannot be kept as a password hash: a scheme Roster cannot verify, or a cost
    /// beyond these bounds. `Ok` for an argon2, scrypt or pbkdf2 PHC string or a bcrypt hash
    /// within them.
    pub fn check(&self, hash: &str) -> std::result::Result<(), String> {
        use argon2::password_hash::PasswordHash;
        const UNKNOWN: &str = "must be an argon2, scrypt or pbkdf2 PHC string or a bcrypt hash";
        let beyond = |what: &str, most: u64| format!("{what} must be at most {most}");
        if hash.len() > 512 {
            return Err("must be at most 512 characters".to_owned());
        }
        if let Some(cost) = bcrypt_cost(hash) {
            return match cost {
                c if c < 4 => Err("bcrypt cost must be at least 4".to_owned()),
                c if c > self.bcrypt_cost => Err(beyond("bcrypt cost", self.bcrypt_cost.into())),
                _ => Ok(()),
            };
        }
        let parsed = PasswordHash::new(hash).map_err(|_| UNKNOWN.to_owned())?;
        if parsed.hash.is_none() {
            return Err(UNKNOWN.to_owned());
        }
        let malformed = |scheme: &str| format!("the {scheme} parameters are malformed");
        match parsed.algorithm.as_str() {
            "argon2id" | "argon2i" | "argon2d" => {
                let p = argon2::Params::try_from(&parsed).map_err(|_| malformed("argon2"))?;
                if p.m_cost() > self.argon2_memory_kib {
                    return Err(beyond("argon2 m (KiB)", self.argon2_memory_kib.into()));
                }
                if p.t_cost() > self.argon2_iterations {
                    return Err(beyond("argon2 t", self.argon2_iterations.into()));
                }
                if p.p_cost() > self.argon2_parallelism {
                    return Err(beyond("argon2 p", self.argon2_parallelism.into()));
                }
            }
            "scrypt" => {
                let p = scrypt::Params::try_from(&parsed).map_err(|_| malformed("scrypt"))?;
                // 128·r·2^ln in u128: ln < 64 and r < 2^32, so it cannot overflow.
                let bytes = (128 * u128::from(p.r())) << p.log_n();
                if bytes > u128::from(self.scrypt_memory_mib) << 20 {
                    return Err(format!(
                        "scrypt memory (128·r·2^ln bytes) must be at most {} MiB",
                        self.scrypt_memory_mib
                    ));
                }
                if p.p() > self.scrypt_parallelism {
                    return Err(beyond("scrypt p", self.scrypt_parallelism.into()));
                }
            }
            "pbkdf2-sha256" | "pbkdf2-sha512" | "pbkdf2" => {
                let p = pbkdf2::Params::try_from(&parsed).map_err(|_| malformed("pbkdf2"))?;
                if p.rounds > self.pbkdf2_iterations {
                    return Err(beyond("pbkdf2 i", self.pbkdf2_iterations.into()));
                }
            }
            _ => return Err(UNKNOWN.to_owned()),
        }
        Ok(())
    }

    /// These limits, raised where needed to cover hashes made at the configured cost.
    fn covering(mut self, configured: &argon2::Params) -> Self {
        self.argon2_memory_kib = self.argon2_memory_kib.max(configured.m_cost());
        self.argon2_iterations = self.argon2_iterations.max(configured.t_cost());
        self.argon2_parallelism = self.argon2_parallelism.max(configured.p_cost());
        self
    }
}

/// The cost of a bcrypt hash in modular-crypt form (`$2a$|$2b$|$2y$`, a two-digit cost, then 53
/// characters of salt and hash), or `None` when `hash` is not one.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let b = hash.as_bytes();
    let bcrypt = b.len() == 60
        && hash.starts_with("$2")
        && matches!(b[2], b'a' | b'b' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
        && hash[7..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/');
    bcrypt.then(|| u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0'))
}

/// Hashes secrets off the async workers, on a pool of one thread per core.
#[derive(Clone)]
pub struct Hasher {
    argon2: Arc<argon2::Argon2<'static>>,
    params: argon2::Params,
    /// What an imported hash may cost (covering the configured cost).
    limits: HashLimits,
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
        let limits = HashLimits::default().covering(&params);
        Ok(Hasher { argon2: Arc::new(argon2), params, limits, jobs })
    }

    /// Bounds imported hashes by `limits` (never below the configured cost).
    pub fn with_limits(mut self, limits: HashLimits) -> Self {
        self.limits = limits.covering(&self.params);
        self
    }

    /// What an imported hash may cost.
    pub fn limits(&self) -> &HashLimits {
        &self.limits
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
        let (params, limits) = (self.params.clone(), self.limits);
        self.run(move || verify_blocking(&params, &limits, &hash, &password)).await
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

/// Whether `password` matches `hash`. A hash beyond `limits` (stored before they applied, or
/// since tightened) is not computed: it fails like a wrong password.
fn verify_blocking(
    params: &argon2::Params,
    limits: &HashLimits,
    hash: &str,
    password: &SecretString,
) -> Verified {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    if limits.check(hash).is_err() {
        return Verified::No;
    }
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

/// A key for one purpose (`label`) derived from a deployment key: HMAC-SHA256 of the label.
pub fn derive(key: &[u8], label: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    match <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(label);
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of any length; this arm cannot run.
        Err(_) => Sha256::digest(key).into(),
    }
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
    fn imported_hashes_are_bounded_by_the_limits() {
        let limits = HashLimits::default();
        let salt = "c2FsdHNhbHRzYWx0c2FsdA";
        let out = "A".repeat(43);
        let within = [
            format!("$argon2id$v=19$m=19456,t=2,p=1${salt}${out}"),
            format!("$argon2id$v=19$m=262144,t=16,p=16${salt}${out}"),
            format!("$scrypt$ln=17,r=8,p=1${salt}${out}"),
            format!("$scrypt$ln=18,r=8,p=16${salt}${out}"),
            format!("$pbkdf2-sha256$i=600000,l=32${salt}${out}"),
            format!("$pbkdf2-sha512$i=10000000${salt}${out}"),
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
            "$2y$15$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
        ];
        for hash in &within {
            assert_eq!(limits.check(hash), Ok(()), "{hash}");
        }
        let beyond = [
            (format!("$scrypt$ln=50,r=8,p=1${salt}${out}"), "scrypt memory"),
            (format!("$scrypt$ln=19,r=8,p=1${salt}${out}"), "scrypt memory"),
            (format!("$scrypt$ln=10,r=8,p=17${salt}${out}"), "scrypt p"),
            (format!("$argon2id$v=19$m=8,t=3000000,p=1${salt}${out}"), "argon2 t"),
            (format!("$argon2id$v=19$m=262145,t=1,p=1${salt}${out}"), "argon2 m"),
            (format!("$argon2i$v=19$m=65536,t=1,p=17${salt}${out}"), "argon2 p"),
            (format!("$pbkdf2-sha256$i=4294967295${salt}${out}"), "pbkdf2 i"),
            (format!("$pbkdf2$i=10000001${salt}${out}"), "pbkdf2 i"),
            ("$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(), "bcrypt"),
            ("$2b$16$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(), "bcrypt"),
            ("$md5$abc".to_owned(), "must be an argon2"),
            ("plaintext password".to_owned(), "must be an argon2"),
            ("$2b$12$short".to_owned(), "must be an argon2"),
            (format!("$argon2id$v=19$m=19456,t=2,p=1${salt}"), "must be an argon2"),
        ];
        for (hash, why) in &beyond {
            let message = limits.check(hash).expect_err(hash);
            assert!(message.contains(why), "{hash}: {message}");
        }
        let tighter = HashLimits { bcrypt_cost: 10, ..limits };
        assert!(tighter.check(&within[6]).is_err(), "a setting, not a constant");
    }

    #[tokio::test]
    async fn a_stored_hash_beyond_the_limits_fails_without_being_computed() {
        let cheap = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };
        let hasher = Hasher::new(cheap).unwrap();
        let pw = || SecretString::from("whatever1");
        let salt = "c2FsdHNhbHRzYWx0c2FsdA";
        let out = "A".repeat(43);
        // Each would abort the process (2^60 bytes) or run for minutes if computed.
        for hash in [
            format!("$scrypt$ln=50,r=8,p=1${salt}${out}"),
            format!("$argon2id$v=19$m=8,t=4294967295,p=1${salt}${out}"),
            format!("$pbkdf2-sha256$i=4294967295${salt}${out}"),
            "$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
        ] {
            assert_eq!(hasher.verify(Some(hash.clone()), pw()).await.unwrap(), Verified::No);
        }
        // The configured cost is always within the limits, however high it is set.
        let costly = Hasher::new(Argon2Params { memory_kib: 64, iterations: 20, parallelism: 1 })
            .unwrap()
            .with_limits(HashLimits { argon2_iterations: 2, ..HashLimits::default() });
        let own = costly.hash(pw()).await.unwrap();
        assert_eq!(costly.verify(Some(own), pw()).await.unwrap(), Verified::Yes { rehash: false });
    }

    #[test]
    fn tokens_are_prefixed_and_hashed() {
        let (token, hash) = new_token().unwrap();
        assert!(token.expose_secret().starts_with(TOKEN_PREFIX));
        assert_eq!(token.expose_secret().len(), 4 + 43);
        assert_eq!(token_hash(token.expose_secret()), hash);
    }
}
