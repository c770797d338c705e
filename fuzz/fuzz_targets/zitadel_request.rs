//! The ZITADEL dialect's request decoder (proto3 JSON: either field case, nulls, 64-bit integers
//! as strings, oneofs) never panics, whatever the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    roster_http::fuzzing::zitadel_request(data);
});
