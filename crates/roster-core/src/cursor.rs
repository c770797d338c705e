//! Opaque keyset cursors: the sort key and id of the last user of a page, bound to the query
//! they came from and signed with the deployment's cursor key, so that a forged, corrupted or
//! misplaced cursor is a 400 rather than a wrong page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::id::UserId;
use crate::query::{Order, SortKey, SortValue};

/// Bytes of the MAC kept in a cursor (128 bits).
const MAC_BYTES: usize = 16;

#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        CursorKey(bytes)
    }

    fn mac(&self, payload: &[u8]) -> Result<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).map_err(Error::internal)?;
        mac.update(payload);
        Ok(mac)
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

pub fn encode(key: &CursorKey, binding: &Binding, position: (SortValue, UserId)) -> Result<String> {
    let payload = Payload { binding: binding.clone(), key: position.0, id: *position.1.as_uuid() };
    let payload = serde_json::to_vec(&payload).map_err(Error::internal)?;
    let mac = key.mac(&payload)?.finalize().into_bytes();
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(&mac[..MAC_BYTES])
    ))
}

/// The position a cursor holds, if it is genuine and belongs to `binding`.
pub fn decode(key: &CursorKey, binding: &Binding, cursor: &str) -> Result<(SortValue, UserId)> {
    let forged = || Error::invalid("cursor", "invalid", "is not a cursor this server issued");
    let (payload, mac) = cursor.split_once('.').ok_or_else(forged)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| forged())?;
    let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| forged())?;
    key.mac(&payload)?.verify_truncated_left(&mac).map_err(|_| forged())?;
    if mac.len() != MAC_BYTES {
        return Err(forged());
    }
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

    #[test]
    fn round_trip_and_tampering() {
        let key = CursorKey::new(vec![7; 32]);
        let binding = Binding::new(SortKey::Username, Order::Asc, r#"state eq "active""#, false);
        let id = UserId::from_uuid(Uuid::from_u128(42));
        let cursor = encode(&key, &binding, (SortValue::Text("karl".into()), id)).unwrap();
        assert_eq!(decode(&key, &binding, &cursor).unwrap(), (SortValue::Text("karl".into()), id));

        let other_key = CursorKey::new(vec![8; 32]);
        assert!(decode(&other_key, &binding, &cursor).is_err(), "signed with another key");
        let other_query = Binding::new(SortKey::Username, Order::Asc, "", false);
        match decode(&key, &other_query, &cursor) {
            Err(Error::Invalid(e)) => assert_eq!(e[0].code, "stale"),
            other => panic!("{other:?}"),
        }
        let mut flipped = cursor.clone().into_bytes();
        flipped[3] ^= 1;
        assert!(decode(&key, &binding, &String::from_utf8(flipped).unwrap()).is_err());
        for junk in ["", ".", "abc", "a.b", "😀.😀"] {
            assert!(decode(&key, &binding, junk).is_err(), "{junk}");
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
            let cursor = encode(&key, &binding, position.clone()).unwrap();
            prop_assert_eq!(decode(&key, &binding, &cursor).unwrap(), position);
        }

        #[test]
        fn arbitrary_cursors_are_refused_without_panicking(cursor in "\\PC{0,200}") {
            let key = CursorKey::new(vec![1; 32]);
            let binding = Binding::new(SortKey::CreatedAt, Order::Asc, "", false);
            prop_assert!(decode(&key, &binding, &cursor).is_err());
        }
    }
}
