//! An XML answer to the sample NDC-style airline: mapped or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    airstream::hostile::upstream_xml_answer(bytes);
});
