//! The user document parser and validator never panic, whatever JSON they are given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_core::UserInput;
use roster_core::input::parse_document;
use roster_core::validate::{Mode, user};

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let today = time::macros::date!(2026 - 01 - 01);
    for mode in [Mode::Create, Mode::Replace] {
        if let Ok(input) = parse_document::<UserInput>(document.clone()) {
            let _ = user(input, mode, today, &Default::default());
        }
    }
});
