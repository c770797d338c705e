//! The filter parser (RFC 7644 §3.4.2.2 grammar) never panics, and what it parses prints back
//! to text that parses to the same filter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_core::filter::Filter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(filter) = Filter::parse(text) {
        let printed = filter.to_string();
        let again = Filter::parse(&printed).expect("printed filters parse");
        assert_eq!(again, filter, "{text:?} printed as {printed:?}");
    }
});
