//! A JSON Merge Patch (RFC 7396) over a user document, then the document parser and validator,
//! as `PATCH /v1/users/{id}` runs them: no input panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_core::UserInput;
use roster_core::input::parse_document;
use roster_core::validate::{Mode, user};

fuzz_target!(|data: &[u8]| {
    // Two JSON documents: the current one, a newline, then the patch.
    let Some(split) = data.iter().position(|b| *b == b'\n') else { return };
    let (Ok(mut document), Ok(patch)) = (
        serde_json::from_slice::<serde_json::Value>(&data[..split]),
        serde_json::from_slice::<serde_json::Value>(&data[split + 1..]),
    ) else {
        return;
    };
    json_patch::merge(&mut document, &patch);
    let today = time::macros::date!(2026 - 01 - 01);
    if let Ok(input) = parse_document::<UserInput>(document) {
        let _ = user(input, Mode::Replace, today, &Default::default());
    }
});
