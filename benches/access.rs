//! The cost of the access checks of one search, per search: the API key
//! (SHA-256 of the presented key, compared with every hash in constant
//! time) with 1 and with 1,000 keys in the file, and the in-process rate
//! limit (GCRA). The Redis limit adds one round trip, measured on a server
//! instead (docs/performance.md).
//!
//!     cargo bench --bench access
//!
//! Under `cargo test --all-targets` (without `--bench`) it runs a few
//! checks only, as a test.

use std::time::Instant;

use airstream::access::Keys;
use airstream::access::rate::{Decision, Local, Rate};

fn keys_file(extra: usize) -> (String, tempfile::NamedTempFile) {
    let (key, mut lines) = airstream::access::new_key("bench");
    for n in 0..extra {
        lines.push_str(&airstream::access::new_key(&format!("other-{n}")).1);
    }
    let file = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(file.path(), lines).expect("written");
    (key, file)
}

/// Nanoseconds per call of `f` over `n` calls.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let n = match std::env::args().any(|a| a == "--bench") {
        true => 200_000,
        false => 10,
    };
    for extra in [0, 999] {
        let (key, file) = keys_file(extra);
        let keys = Keys::load(file.path()).expect("the keys load");
        let ns = per_call(n, || {
            let found = keys.check(std::hint::black_box(&key));
            assert!(found.is_some());
        });
        println!("key check, {} key(s) in the file: {ns:.0} ns", extra + 1);
    }
    let limiter = Local::default();
    let rate = Rate {
        per_second: 1e9,
        burst: 1_000_000,
    };
    let now = tokio::time::Instant::now();
    let ns = per_call(n, || {
        let d = limiter.check("key bench", rate, now);
        assert!(matches!(d, Decision::Allowed { .. }));
    });
    println!("rate limit (in process): {ns:.0} ns");
}
