//! The cache and coalescing in one process, under paused time: tiers by
//! days to departure, only `ok` answers kept, identical questions asked
//! once, and a search that gives up letting the others ask.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

fn question(key: &str, ttl: Duration) -> Question {
    Question {
        provider: "sky".into(),
        key: format!("sky:{key}"),
        ttl,
        use_cache: true,
        wait: Duration::from_secs(3),
    }
}

fn local() -> AnswerCache {
    AnswerCache::new(Store::Local(LocalStore::new(1_000, 16 * 1024 * 1024)))
}

fn ok() -> Outcome {
    Outcome::Ok {
        offers: Vec::new(),
        stored_at: None,
    }
}

/// Asks through `cache`, counting the calls in `calls`; the call takes
/// `delay` and answers `outcome`.
async fn ask(
    cache: &AnswerCache,
    q: &Question,
    calls: &AtomicUsize,
    delay: Duration,
    outcome: Option<Outcome>,
) -> Option<Outcome> {
    cache
        .answer(q, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            outcome
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn answers_are_kept_for_their_tier_by_days_to_departure() {
    let cache = local();
    let policy = CachePolicy::default();
    // A departure in 3 days is kept 15 minutes; one in 60 days, 4 hours.
    let near = question("near", policy.ttl(3));
    let far = question("far", policy.ttl(60));
    let calls = AtomicUsize::new(0);
    for q in [&near, &far] {
        ask(&cache, q, &calls, Duration::ZERO, Some(ok())).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(Duration::from_secs(14 * 60 + 59)).await;
    for q in [&near, &far] {
        let kept = ask(&cache, q, &calls, Duration::ZERO, Some(ok())).await;
        assert!(
            matches!(
                kept,
                Some(Outcome::Ok {
                    stored_at: Some(_),
                    ..
                })
            ),
            "{} within its TTL is kept: {kept:?}",
            q.key
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "no call within the TTLs");
    tokio::time::advance(Duration::from_secs(2)).await;
    let fresh = ask(&cache, &near, &calls, Duration::ZERO, Some(ok())).await;
    assert_eq!(
        fresh,
        Some(ok()),
        "past 15 minutes, the near one is asked again"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    tokio::time::advance(Duration::from_secs(3 * 3600)).await;
    ask(&cache, &far, &calls, Duration::ZERO, Some(ok())).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "the far one lasts 4 hours");
    tokio::time::advance(Duration::from_secs(3600)).await;
    ask(&cache, &far, &calls, Duration::ZERO, Some(ok())).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4, "and not longer");
}

#[tokio::test(start_paused = true)]
async fn errors_and_timeouts_are_not_kept_and_a_live_search_skips_the_cache() {
    let cache = local();
    let calls = AtomicUsize::new(0);
    let q = question("q", Duration::from_secs(600));
    let error = Outcome::Error {
        reason: "the airline answered 500".into(),
    };
    for _ in 0..2 {
        let got = ask(&cache, &q, &calls, Duration::ZERO, Some(error.clone())).await;
        assert_eq!(got, Some(error.clone()));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "an error is asked again");
    ask(&cache, &q, &calls, Duration::ZERO, Some(ok())).await;
    let live = Question {
        use_cache: false,
        ..q.clone()
    };
    ask(&cache, &live, &calls, Duration::ZERO, Some(ok())).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4, "`cache: false` asks");
    let kept = ask(&cache, &q, &calls, Duration::ZERO, Some(ok())).await;
    assert!(matches!(
        kept,
        Some(Outcome::Ok {
            stored_at: Some(_),
            ..
        })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn twenty_identical_questions_in_flight_are_asked_once() {
    let cache = Arc::new(local());
    let calls = Arc::new(AtomicUsize::new(0));
    // Not kept (TTL zero), so only coalescing can spare the calls.
    let q = question("same", Duration::ZERO);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (cache, calls, q) = (cache.clone(), calls.clone(), q.clone());
        tasks.push(tokio::spawn(async move {
            ask(&cache, &q, &calls, Duration::from_millis(300), Some(ok())).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), Some(ok()));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Once answered, the question is no longer in flight.
    ask(&cache, &q, &calls, Duration::ZERO, Some(ok())).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn when_the_asking_search_gives_up_the_others_ask_themselves() {
    let cache = Arc::new(local());
    let calls = Arc::new(AtomicUsize::new(0));
    let q = question("given-up", Duration::from_secs(60));
    // The first search's deadline comes first: it answers nobody.
    let first = {
        let (cache, calls, q) = (cache.clone(), calls.clone(), q.clone());
        tokio::spawn(async move { ask(&cache, &q, &calls, Duration::from_millis(200), None).await })
    };
    tokio::task::yield_now().await;
    let second = ask(&cache, &q, &calls, Duration::from_millis(10), Some(ok())).await;
    assert_eq!(first.await.unwrap(), None);
    assert_eq!(second, Some(ok()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_store_is_bounded_by_entries_and_bytes() {
    let store = LocalStore::new(10, 16 * 1024 * 1024);
    let cache = AnswerCache::new(Store::Local(store));
    let calls = AtomicUsize::new(0);
    for n in 0..50 {
        let q = question(&format!("q{n}"), Duration::from_secs(600));
        ask(&cache, &q, &calls, Duration::ZERO, Some(ok())).await;
    }
    let Store::Local(store) = &cache.store else {
        unreachable!()
    };
    store.settle().await;
    assert!(store.len() <= 10, "{} answers kept", store.len());
    assert!(!store.is_empty());
    cache.forget("sky");
    store.settle().await;
    assert!(store.is_empty(), "a changed file drops its answers");
}

/// An upstream file with `cache` written as `cache`.
fn file_with(cache: &str) -> String {
    format!(
        "name: Sky\nairline: SK\nupstream:\n  url: \"http://127.0.0.1:9/x\"\n{cache}  response:\n    offers: body.offers\n    map: {{ flight_number: item.f, depart_at: item.d, duration: item.m, price: item.p, currency: item.c }}\n"
    )
}

#[test]
fn a_files_cache_is_read_and_every_mistake_named_at_its_line() {
    let load = |cache: &str| {
        crate::providers::load::parse_provider(std::path::Path::new("sky.yaml"), &file_with(cache))
    };
    let def = load("").expect("valid");
    assert_eq!(def.cache(), Some(&CachePolicy::default()), "on by default");
    let def = load("  cache: { enabled: false }\n").expect("valid");
    assert_eq!(def.cache(), None);
    let def = load("  cache:\n    tiers:\n      - { days: 3, ttl: 5m }\n      - { ttl: 2h }\n")
        .expect("valid");
    let policy = def.cache().expect("on");
    assert_eq!(policy.ttl(3), Duration::from_secs(300));
    assert_eq!(policy.ttl(4), Duration::from_secs(7200));
    for (cache, line, wanted) in [
        (
            "  cache:\n    tiers:\n      - { days: 30, ttl: 1h }\n      - { days: 7, ttl: 5m }\n",
            8,
            "not more than the tier before (30)",
        ),
        (
            "  cache:\n    tiers:\n      - { ttl: 1h }\n      - { days: 7, ttl: 5m }\n",
            8,
            "must be the last",
        ),
        (
            "  cache:\n    tiers:\n      - { days: 7, ttl: 0s }\n",
            7,
            "more than zero and at most 7d",
        ),
        (
            "  cache:\n    tiers:\n      - { days: 7, ttl: 8d }\n",
            7,
            "more than zero and at most 7d",
        ),
        ("  cache:\n    tiers: []\n", 6, "cache.tiers is empty"),
        ("  cache: { ttl: 5m }\n", 5, "unknown field `ttl`"),
    ] {
        let problems = load(cache).expect_err(cache);
        assert!(
            problems
                .iter()
                .any(|p| p.line == line && p.message.contains(wanted)),
            "{cache}: {problems:?}"
        );
    }
}
