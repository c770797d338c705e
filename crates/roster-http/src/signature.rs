//! Signed requests: HTTP Message Signatures (RFC 9421) and the body's `content-digest`
//! (RFC 9530), required of every request made with a token that holds a public key, or with one
//! of its access tokens, on every surface and at the token endpoint.
//!
//! A request is signed as the investment platform's helper signs it: `signature-input:
//! sig1=("@method" "@path" … "content-digest");keyid="…";nonce="…";created=N;expires=N` and
//! `signature: sig1=:<ECDSA signature>:`, over the signature base of RFC 9421 §2.5 — one line
//! `"<component>": <value>` per covered component, then `"@signature-params": <the inner
//! list>`. The signature must cover `@method`, `@path`, `@query` when there is a query,
//! `authorization` when it is sent, `idempotency-key` when it is sent and `content-digest` when
//! there is a body, whose digest [`digest`] has checked against the bytes. It must be at most
//! [`MAX_AGE`] old and at most [`MAX_SKEW`] ahead, and not past its `expires`. Nonces are not
//! remembered: a replay within the window is accepted, as the window is short (the helper's is
//! ten seconds).
//!
//! Parsing the structured fields is `sfv`'s; the curves are RustCrypto's, behind
//! [`roster_core::PublicKey`].

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use roster_core::{Error, PublicKey};
use sha2::Digest as _;
use time::OffsetDateTime;

use crate::surface::Refusal;

/// How old a signature's `created` may be, in seconds.
pub(crate) const MAX_AGE: i64 = 300;
/// How far ahead of this node's clock a signature's `created` may be, in seconds.
pub(crate) const MAX_SKEW: i64 = 30;

/// What [`digest`] found out about a request's body, for the signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyDigest {
    /// The request has no body.
    NoBody,
    /// A body without a `content-digest`, or one in no algorithm this node computes.
    Unchecked,
    /// `content-digest` names `sha-256` or `sha-512`, and each such digest is the body's.
    Matches,
    /// `content-digest` is malformed or not the body's.
    Wrong,
}

/// The layer that checks a request's `content-digest` against its body (read within `limit`
/// and passed on), and leaves what it found in the request for the signature check. A request
/// without a digest is passed on untouched; an unsigned request's wrong digest is not refused
/// here, as nothing relies on it.
pub(crate) async fn digest(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key("transfer-encoding")
        || headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    let Some(claimed) = joined(headers, "content-digest") else {
        let found = if has_body { BodyDigest::Unchecked } else { BodyDigest::NoBody };
        let mut request = request;
        request.extensions_mut().insert(found);
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Refusal::BodyTooLarge.into_response();
    };
    let found = match digests(&claimed) {
        None => BodyDigest::Wrong,
        Some(claimed) if claimed.is_empty() => BodyDigest::Unchecked,
        Some(claimed) => {
            let right = claimed.iter().all(|(algorithm, value)| match *algorithm {
                "sha-256" => sha2::Sha256::digest(&bytes).as_slice() == value.as_slice(),
                _ => sha2::Sha512::digest(&bytes).as_slice() == value.as_slice(),
            });
            if right { BodyDigest::Matches } else { BodyDigest::Wrong }
        }
    };
    parts.extensions.insert(found);
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// The `sha-256` and `sha-512` digests of a `content-digest` field; `None` if it is not a
/// dictionary of byte sequences.
fn digests(field: &str) -> Option<Vec<(&'static str, Vec<u8>)>> {
    let dictionary: sfv::Dictionary = sfv::Parser::new(field).parse().ok()?;
    let mut found = Vec::new();
    for (algorithm, entry) in &dictionary {
        let sfv::ListEntry::Item(item) = entry else { return None };
        let value = item.bare_item.as_byte_sequence()?;
        match algorithm.as_str() {
            "sha-256" => found.push(("sha-256", value.to_vec())),
            "sha-512" => found.push(("sha-512", value.to_vec())),
            _ => {}
        }
    }
    Some(found)
}

/// The parts of a request a signature covers.
pub(crate) struct Message<'a> {
    pub method: &'a Method,
    /// The target as the client sent it, before any router stripped a prefix.
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: BodyDigest,
}

/// Checks that `message` carries a valid signature by `key`, made at most [`MAX_AGE`] before
/// `now`; the reason otherwise.
pub(crate) async fn check(
    message: &Message<'_>,
    key: &PublicKey,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let refuse = |reason: &'static str| Error::BadSignature(reason);
    let (Some(inputs), Some(signatures)) =
        (joined(message.headers, "signature-input"), joined(message.headers, "signature"))
    else {
        return Err(refuse(
            "this token signs its requests: `signature` and `signature-input` are required",
        ));
    };
    let inputs: sfv::Dictionary =
        sfv::Parser::new(&inputs).parse().map_err(|_| refuse("`signature-input` is malformed"))?;
    let signatures: sfv::Dictionary =
        sfv::Parser::new(&signatures).parse().map_err(|_| refuse("`signature` is malformed"))?;
    // Each signature is tried with its input; one good one suffices.
    let mut reason = "no label of `signature` has an input in `signature-input`";
    for (label, entry) in &signatures {
        let sfv::ListEntry::Item(item) = entry else { continue };
        let (Some(signature), Some(sfv::ListEntry::InnerList(input))) =
            (item.bare_item.as_byte_sequence(), inputs.get(label))
        else {
            continue;
        };
        match base(message, input, key, now) {
            Err(why) => reason = why,
            Ok(base) => {
                let (key, signature) = (key.clone(), signature.to_vec());
                // ECDSA on P-521 takes a millisecond or so: off the reactor.
                let valid =
                    tokio::task::spawn_blocking(move || key.verify(base.as_bytes(), &signature))
                        .await
                        .map_err(Error::internal)?;
                if valid {
                    return Ok(());
                }
                reason = "the signature does not verify with the token's public key";
            }
        }
    }
    Err(refuse(reason))
}

/// The signature base of `input` over `message` (RFC 9421 §2.5), once the input covers what it
/// must and is fresh.
fn base(
    message: &Message<'_>,
    input: &sfv::InnerList,
    key: &PublicKey,
    now: OffsetDateTime,
) -> Result<String, &'static str> {
    let mut covered: Vec<&str> = Vec::with_capacity(input.items.len());
    for item in &input.items {
        let Some(name) = item.bare_item.as_string() else {
            return Err("`signature-input` names a component that is not a string");
        };
        if !item.params.is_empty() {
            return Err("`signature-input` gives a component parameter, which is not supported");
        }
        if covered.contains(&name.as_str()) {
            return Err("`signature-input` names a component twice");
        }
        covered.push(name.as_str());
    }
    let required: [(&str, bool); 6] = [
        ("@method", true),
        ("@path", true),
        ("@query", message.uri.query().is_some()),
        ("authorization", message.headers.contains_key("authorization")),
        ("idempotency-key", message.headers.contains_key("idempotency-key")),
        ("content-digest", message.body != BodyDigest::NoBody),
    ];
    if required.iter().any(|(name, needed)| *needed && !covered.contains(name)) {
        return Err("the signature must cover @method, @path, and @query, authorization, \
             idempotency-key and content-digest when the request has them");
    }
    match message.body {
        BodyDigest::NoBody | BodyDigest::Matches => {}
        BodyDigest::Wrong => return Err("`content-digest` is not the body's"),
        BodyDigest::Unchecked => {
            return Err("`content-digest` must give the body's sha-256 or sha-512");
        }
    }
    let integer = |name: &str| {
        input.params.get(name).map(|v| v.as_integer().map(i64::from).ok_or("not an integer"))
    };
    let now = now.unix_timestamp();
    match integer("created") {
        None => return Err("the signature must say when it was `created`"),
        Some(Err(_)) => return Err("`created` is not an integer"),
        Some(Ok(created)) if created < now - MAX_AGE => {
            return Err("the signature was created more than 300 s ago");
        }
        Some(Ok(created)) if created > now + MAX_SKEW => {
            return Err("the signature was created more than 30 s ahead of this server's clock");
        }
        Some(Ok(_)) => {}
    }
    match integer("expires") {
        Some(Err(_)) => return Err("`expires` is not an integer"),
        Some(Ok(expires)) if expires <= now => return Err("the signature has expired"),
        _ => {}
    }
    if let Some(alg) = input.params.get("alg")
        && alg.as_string().map(|a| a.as_str()) != Some(key.algorithm())
    {
        return Err("`alg` is not the algorithm of the token's public key");
    }
    let mut base = String::new();
    for name in covered {
        let value = match name {
            "@method" => message.method.as_str().to_owned(),
            "@path" => message.uri.path().to_owned(),
            "@query" => format!("?{}", message.uri.query().unwrap_or_default()),
            "@request-target" => {
                message.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned()
            }
            "@authority" => joined(message.headers, "host")
                .ok_or("`@authority` is covered but the request has no host")?
                .to_ascii_lowercase(),
            derived if derived.starts_with('@') => {
                return Err(
                    "`signature-input` covers a derived component this server does not derive",
                );
            }
            header => joined(message.headers, header)
                .ok_or("`signature-input` covers a header the request does not have")?,
        };
        if value.contains('\n') {
            return Err("a covered value contains a line break");
        }
        base.push_str(&format!("\"{name}\": {value}\n"));
    }
    let entry = sfv::ListEntry::InnerList(input.clone());
    let mut list = sfv::ListSerializer::new();
    list.members([&entry]);
    let params = list.finish().ok_or("`signature-input` is empty")?;
    base.push_str(&format!("\"@signature-params\": {params}"));
    Ok(base)
}

/// A field's lines joined as RFC 9421 §2.1 says: each trimmed, joined by `, `.
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    let values: Option<Vec<&str>> = lines.map(|v| v.to_str().ok().map(str::trim)).collect();
    values.map(|v| v.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn digests_are_read_from_the_dictionary() {
        let sha512 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(b"x"));
        let found = digests(&format!("sha-512=:{sha512}:, md5=:AAAA:")).unwrap();
        assert_eq!(found, vec![("sha-512", sha2::Sha512::digest(b"x").to_vec())]);
        assert_eq!(digests("sha-512=\"text\""), None);
        assert_eq!(digests("not a dictionary ("), None);
    }
}
