//! An airline's answer to the sample upstream airline: mapped or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    airstream::hostile::upstream_answer(bytes);
});
