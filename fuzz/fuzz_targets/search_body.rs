//! A search request body: 202 or 4xx, never 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    airstream::hostile::search_body(bytes);
});
