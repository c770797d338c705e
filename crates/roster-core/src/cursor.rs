//! Opaque keyset cursors: the sort key and id of the last user of a page, bound to the tenant
//! and the query they came from, and sealed (XChaCha20-Poly1305) under a key derived from the
//! deployment's cursor key. A forged, corrupted or misplaced cursor is a 400 rather than a wrong
//! page, another tenant's cursor is not one this server issued, and nothing in a cursor — the
//! last user's username or e-mail address, say — can be read by decoding it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit as _, Payload as Sealed};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::query::{Order, SortKey, SortValue};

/// Bytes of the random nonce that opens a cursor (XChaCha20's 192 bits: random nonces never
/// collide in practice).
const NONCE_BYTES: usize = 24;
/// Bytes of the authentication tag (Poly1305's 128 bits).
const TAG_BYTES: usize = 16;

/// The key cursors are sealed with.
#[derive(Clone)]
pub struct CursorKey(XChaCha20Poly1305);

impl CursorKey {
    /// The cursor key derived from the deployment's `cursor_key` setting: HMAC-SHA256 under it
    /// of a label, so the setting itself is never used as a cipher key.
    pub fn new(deployment_key: Vec<u8>) -> Self {
        let derived = crate::secret::derive(&deployment_key, b"roster cursor sealing key v2");
        CursorKey(XChaCha20Poly1305::new(&derived.into()))
    }
}

/// Everything a cursor must agree with: the sort and a digest of the filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    #[serde(rename = "s")]
    pub sort: SortKey,
    #[serde(rename = "o")]
    pub order: Order,
    #[serde(rename = "q")]
    pub query: String,
}

impl Binding {
    /// `filter` is the canonical text of the filter (empty for none).
    pub fn new(sort: SortKey, order: Order, filter: &str, include_deleted: bool) -> Self {
        let digest = Sha256::digest(format!("{filter}\n{include_deleted}").as_bytes());
        let query = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Binding { sort, order, query }
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    #[serde(flatten)]
    binding: Binding,
    #[serde(rename = "k")]
    key: SortValue,
    #[serde(rename = "i")]
    id: Uuid,
}

/// A cursor holding `position`, readable only by this deployment for `tenant` and `binding`.
pub fn encode(
    key: &CursorKey,
    tenant: TenantId,
    binding: &Binding,
    position: (SortValue, UserId),
) -> Result<String> {
    let payload = Payload { binding: binding.clone(), key: position.0, id: *position.1.as_uuid() };
    let payload = serde_json::to_vec(&payload).map_err(Error::internal)?;
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(|e| Error::internal(e.to_string()))?;
    let sealed = Sealed { msg: &payload, aad: tenant.as_uuid().as_bytes() };
    let sealed = key
        .0
        .encrypt(XNonce::from_slice(&nonce), sealed)
        .map_err(|_| Error::internal("sealing a cursor"))?;
    let mut cursor = nonce.to_vec();
    cursor.extend_from_slice(&sealed);
    Ok(URL_SAFE_NO_PAD.encode(cursor))
}

/// The position a cursor holds, if it is genuine and belongs to `tenant` and `binding`.
pub fn decode(
    key: &CursorKey,
    tenant: TenantId,
    binding: &Binding,
    cursor: &str,
) -> Result<(SortValue, UserId)> {
    let forged = || Error::invalid("cursor", "invalid", "is not a cursor this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| forged())?;
    if bytes.len() < NONCE_BYTES + TAG_BYTES {
        return Err(forged());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let sealed = Sealed { msg: sealed, aad: tenant.as_uuid().as_bytes() };
    let payload = key.0.decrypt(XNonce::from_slice(nonce), sealed).map_err(|_| forged())?;
    let payload: Payload = serde_json::from_slice(&payload).map_err(|_| forged())?;
    if &payload.binding != binding {
        return Err(Error::invalid(
            "cursor",
            "stale",
            "belongs to a query with another filter or sort",
        ));
    }
    let valid_key = matches!(
        (&payload.key, binding.sort.is_time()),
        (SortValue::Int(_), true) | (SortValue::Text(_), false)
    );
    if !valid_key {
        return Err(forged());
    }
    Ok((payload.key, UserId::from_uuid(payload.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: TenantId = TenantId::from_uuid(Uuid::from_u128(1));

    #[test]
    fn round_trip_and_tampering() {
        let key = CursorKey::new(vec![7; 32]);
        let binding = Binding::new(SortKey::Username, Order::Asc, r#"state eq "active""#, false);
        let id = UserId::from_uuid(Uuid::from_u128(42));
        let karl = || (SortValue::Text("karl".into()), id);
        let cursor = encode(&key, TENANT, &binding, karl()).unwrap();
        assert_eq!(decode(&key, TENANT, &binding, &cursor).unwrap(), karl());

        let other_key = CursorKey::new(vec![8; 32]);
        assert!(decode(&other_key, TENANT, &binding, &cursor).is_err(), "sealed with another key");
        let other_tenant = TenantId::from_uuid(Uuid::from_u128(2));
        match decode(&key, other_tenant, &binding, &cursor) {
            Err(Error::Invalid(e)) => assert_eq!(e[0].code, "invalid", "another tenant's"),
            other => panic!("{other:?}"),
        }
        let other_query = Binding::new(SortKey::Username, Order::Asc, "", false);
        match decode(&key, TENANT, &other_query, &cursor) {
            Err(Error::Invalid(e)) => assert_eq!(e[0].code, "stale"),
            other => panic!("{other:?}"),
        }
        let mut flipped = cursor.clone().into_bytes();
        flipped[30] ^= 1;
        assert!(decode(&key, TENANT, &binding, &String::from_utf8(flipped).unwrap()).is_err());
        for junk in ["", ".", "abc", "a.b", "😀.😀"] {
            assert!(decode(&key, TENANT, &binding, junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn a_cursor_reveals_nothing_it_holds() {
        let key = CursorKey::new(vec![7; 32]);
        let binding = Binding::new(SortKey::Email, Order::Asc, "", false);
        let id = UserId::from_uuid(Uuid::from_u128(42));
        let email = "karl.schmidt@example.org";
        let a = encode(&key, TENANT, &binding, (SortValue::Text(email.into()), id)).unwrap();
        let b = encode(&key, TENANT, &binding, (SortValue::Text(email.into()), id)).unwrap();
        assert_ne!(a, b, "a fresh nonce each time");
        let bytes = URL_SAFE_NO_PAD.decode(&a).unwrap();
        for needle in [email.as_bytes(), b"karl", b"email", id.to_string().as_bytes()] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{needle:?} readable");
        }
    }

    use proptest::prelude::*;

    /// A sort and a position in it: times sort by integers, the rest by text.
    fn position() -> impl Strategy<Value = (SortKey, (SortValue, UserId))> {
        let value = prop_oneof![
            any::<i64>().prop_map(|n| (SortKey::CreatedAt, SortValue::Int(n))),
            "\\PC{0,64}".prop_map(|s| (SortKey::Email, SortValue::Text(s))),
        ];
        (value, any::<u128>())
            .prop_map(|((sort, v), id)| (sort, (v, UserId::from_uuid(Uuid::from_u128(id)))))
    }

    proptest! {
        #[test]
        fn every_position_round_trips((sort, position) in position()) {
            let key = CursorKey::new(vec![1; 32]);
            let binding = Binding::new(sort, Order::Desc, "", true);
            let cursor = encode(&key, TENANT, &binding, position.clone()).unwrap();
            prop_assert_eq!(decode(&key, TENANT, &binding, &cursor).unwrap(), position);
        }

        #[test]
        fn arbitrary_cursors_are_refused_without_panicking(cursor in "\\PC{0,200}") {
            let key = CursorKey::new(vec![1; 32]);
            let binding = Binding::new(SortKey::CreatedAt, Order::Asc, "", false);
            prop_assert!(decode(&key, TENANT, &binding, &cursor).is_err());
        }
    }
}
