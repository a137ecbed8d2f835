//! Two search values in a request's URL, header and JSON body: each place
//! stays whole and the values read back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|values: (String, String)| {
    airstream::hostile::template_values(&values.0, &values.1);
});
