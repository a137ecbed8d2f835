//! A provider file's text: read or refused with positions and plain words.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    airstream::hostile::provider_text(text);
});
