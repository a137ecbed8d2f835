//! A `Last-Event-ID` header and query value: a position or a 400.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Option<String>)| {
    airstream::hostile::last_event_id(&input.0, input.1.as_deref());
});
