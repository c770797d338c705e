//! The cursor decoder never panics on a forged cursor, and accepts none it did not sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_core::cursor::{Binding, CursorKey, decode};
use roster_core::TenantId;
use roster_core::query::{Order, SortKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let key = CursorKey::new(b"fuzzing key, not a deployment's".to_vec());
    let binding = Binding::new(SortKey::CreatedAt, Order::Asc, "", false);
    let tenant = TenantId::from_uuid(Default::default());
    // Without the key, a 128-bit tag cannot be guessed: every input is refused.
    assert!(decode(&key, tenant, &binding, text).is_err(), "accepted a forged cursor: {text:?}");
});
