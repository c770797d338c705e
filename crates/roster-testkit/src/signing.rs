//! A client side of signed requests, for tests: an ECDSA P-521 key that signs a request the way
//! the investment platform's helper does (HTTP Message Signatures with `content-digest`), and
//! lets a test leave a component out or sign at another time.

use base64::Engine as _;
use p521::ecdsa::signature::Signer as _;
use p521::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::Digest as _;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A signing key; `public_pem` is what `POST /v1/tokens` takes as `public_key`.
pub struct RequestSigner {
    key: p521::ecdsa::SigningKey,
}

/// How a request is signed: when, for how long, and which components are left out.
#[derive(Clone, Copy)]
pub struct Signing<'a> {
    /// `created`, in Unix seconds.
    pub created: i64,
    /// `expires` is `created` plus this.
    pub lifetime: i64,
    /// Component names not covered (`"content-digest"`, `"@query"`, …).
    pub skip: &'a [&'a str],
}

impl Signing<'_> {
    /// Signed now, valid for ten seconds (the helper's default), covering everything.
    pub fn at(created: i64) -> Signing<'static> {
        Signing { created, lifetime: 10, skip: &[] }
    }
}

impl RequestSigner {
    /// A fresh random key.
    pub fn generate() -> RequestSigner {
        RequestSigner {
            key: p521::ecdsa::SigningKey::random(&mut p521::elliptic_curve::rand_core::OsRng),
        }
    }

    pub fn public_pem(&self) -> String {
        let point = p521::ecdsa::VerifyingKey::from(&self.key).to_encoded_point(false);
        let public = p521::PublicKey::from_sec1_bytes(point.as_bytes()).expect("a valid point");
        public.to_public_key_pem(LineEnding::LF).expect("PEM")
    }

    /// Adds `content-digest` (when there is a body), `signature-input` and `signature` to
    /// `request`, covering `@method`, `@path`, `@query` (when there is one) and every header
    /// it has, as the helper does.
    pub fn sign(&self, request: &mut reqwest::Request, how: Signing<'_>) {
        let body = request.body().and_then(|b| b.as_bytes()).unwrap_or_default().to_vec();
        let headers = request.headers_mut();
        if !body.is_empty() {
            let digest = format!(":{}:", B64.encode(sha2::Sha512::digest(&body)));
            headers.insert("content-digest", format!("sha-512={digest}").parse().expect("value"));
        }
        let url = request.url().clone();
        let mut components: Vec<(String, String)> = vec![
            ("@method".into(), request.method().as_str().to_owned()),
            ("@path".into(), url.path().to_owned()),
        ];
        if let Some(query) = url.query() {
            components.push(("@query".into(), format!("?{query}")));
        }
        for (name, value) in request.headers() {
            let value = value.to_str().expect("a text header").trim().to_owned();
            components.push((name.as_str().to_owned(), value));
        }
        components.retain(|(name, _)| !how.skip.contains(&name.as_str()));
        let names: Vec<String> = components.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let params = format!(
            "({});keyid=\"test\";nonce=\"{}\";created={};expires={}",
            names.join(" "),
            uuid::Uuid::new_v4(),
            how.created,
            how.created + how.lifetime
        );
        let mut base = String::new();
        for (name, value) in &components {
            base.push_str(&format!("\"{name}\": {value}\n"));
        }
        base.push_str(&format!("\"@signature-params\": {params}"));
        let signature: p521::ecdsa::Signature = self.key.sign(base.as_bytes());
        let signature = B64.encode(signature.to_der().as_bytes());
        let headers = request.headers_mut();
        headers.insert("signature-input", format!("sig1={params}").parse().expect("value"));
        headers.insert("signature", format!("sig1=:{signature}:").parse().expect("value"));
    }
}
