//! The public keys a token can hold: when it does, every request made with it (or with its
//! access tokens) must be signed with the private half (HTTP Message Signatures, RFC 9421; the
//! surfaces check the message, this module the key and the signature).
//!
//! The key is given as PEM SubjectPublicKeyInfo on one of the NIST curves, and verifies ECDSA
//! with the curve's own hash: P-256 with SHA-256, P-384 with SHA-384, P-521 with SHA-512. A
//! signature is accepted DER-encoded (as OpenSSL and Python's `cryptography` produce it) or as
//! the fixed-size `r‖s` that RFC 9421 §3.3.4 names.

use std::fmt;
use std::sync::Arc;

use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};

/// A token's public key for request signatures.
#[derive(Clone)]
pub struct PublicKey(Arc<Key>);

enum Key {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Reads a PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`) of P-256, P-384 or P-521;
    /// anything else is refused with the reason.
    pub fn from_pem(pem: &str) -> Result<Self, &'static str> {
        let pem = pem.trim();
        let key = if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            Key::P256(k)
        } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            Key::P384(k)
        } else if let Ok(k) = p521::PublicKey::from_public_key_pem(pem) {
            let point = k.to_sec1_bytes();
            Key::P521(
                p521::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| "not a valid P-521 point")?,
            )
        } else {
            return Err(
                "a PEM SubjectPublicKeyInfo (\"-----BEGIN PUBLIC KEY-----\") of an EC key on \
                 P-256, P-384 or P-521",
            );
        };
        Ok(PublicKey(Arc::new(key)))
    }

    /// The key as PEM SubjectPublicKeyInfo, in one canonical form whatever form it was given in.
    pub fn to_pem(&self) -> String {
        let pem = match &*self.0 {
            Key::P256(k) => k.to_public_key_pem(LineEnding::LF),
            Key::P384(k) => k.to_public_key_pem(LineEnding::LF),
            Key::P521(k) => {
                let point = k.to_encoded_point(false);
                p521::PublicKey::from_sec1_bytes(point.as_bytes())
                    .map_err(|_| p256::pkcs8::spki::Error::KeyMalformed)
                    .and_then(|k| k.to_public_key_pem(LineEnding::LF))
            }
        };
        // Encoding a key that was decoded cannot fail.
        pem.unwrap_or_default()
    }

    /// The curve, as RFC 9421 names its algorithm: `ecdsa-p256-sha256`, `ecdsa-p384-sha384`,
    /// or `ecdsa-p521-sha512`.
    pub fn algorithm(&self) -> &'static str {
        match &*self.0 {
            Key::P256(_) => "ecdsa-p256-sha256",
            Key::P384(_) => "ecdsa-p384-sha384",
            Key::P521(_) => "ecdsa-p521-sha512",
        }
    }

    /// Whether `signature` (DER, or fixed-size `r‖s`) signs `message` under this key. Costs a
    /// millisecond or so on P-521: callers on an async runtime run it off the reactor.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &*self.0 {
            Key::P256(k) => p256::ecdsa::DerSignature::from_bytes(signature)
                .ok()
                .and_then(|s| p256::ecdsa::Signature::try_from(s).ok())
                .or_else(|| p256::ecdsa::Signature::from_slice(signature).ok())
                .is_some_and(|s| k.verify(message, &s).is_ok()),
            Key::P384(k) => p384::ecdsa::DerSignature::from_bytes(signature)
                .ok()
                .and_then(|s| p384::ecdsa::Signature::try_from(s).ok())
                .or_else(|| p384::ecdsa::Signature::from_slice(signature).ok())
                .is_some_and(|s| k.verify(message, &s).is_ok()),
            Key::P521(k) => p521::ecdsa::Signature::from_der(signature)
                .or_else(|_| p521::ecdsa::Signature::from_slice(signature))
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
        }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_pem() == other.to_pem()
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicKey").field(&self.algorithm()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;

    fn p521_pair() -> (p521::ecdsa::SigningKey, String) {
        let mut scalar = [7u8; 66];
        scalar[0] = 0; // below the group order
        let secret = p521::ecdsa::SigningKey::from_slice(&scalar).unwrap();
        let point = p521::ecdsa::VerifyingKey::from(&secret).to_encoded_point(false);
        let public = p521::PublicKey::from_sec1_bytes(point.as_bytes()).unwrap();
        (secret, public.to_public_key_pem(LineEnding::LF).unwrap())
    }

    #[test]
    fn a_p521_key_verifies_der_and_fixed_signatures_and_nothing_else() {
        let (secret, pem) = p521_pair();
        let key = PublicKey::from_pem(&pem).unwrap();
        assert_eq!(key.algorithm(), "ecdsa-p521-sha512");
        assert_eq!(key.to_pem(), pem);
        let signature: p521::ecdsa::Signature = secret.sign(b"message");
        assert!(key.verify(b"message", &signature.to_der().to_bytes()));
        assert!(key.verify(b"message", &signature.to_bytes()));
        assert!(!key.verify(b"messagE", &signature.to_der().to_bytes()));
        assert!(!key.verify(b"message", b"not a signature"));
    }

    #[test]
    fn a_p256_key_verifies_with_sha256() {
        let secret = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let pem = secret.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let key = PublicKey::from_pem(&pem).unwrap();
        assert_eq!(key.algorithm(), "ecdsa-p256-sha256");
        let signature: p256::ecdsa::Signature = secret.sign(b"message");
        assert!(key.verify(b"message", signature.to_der().as_bytes()));
        assert!(key.verify(b"message", &signature.to_bytes()));
        let other: p256::ecdsa::Signature = secret.sign(b"other");
        assert!(!key.verify(b"message", &other.to_bytes()));
    }

    #[test]
    fn other_keys_and_text_are_refused() {
        assert!(PublicKey::from_pem("").is_err());
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        // An Ed25519 SubjectPublicKeyInfo: a valid key, but not one of the curves.
        let ed25519 = "-----BEGIN PUBLIC KEY-----\n\
            MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----";
        assert!(PublicKey::from_pem(ed25519).is_err());
    }
}
