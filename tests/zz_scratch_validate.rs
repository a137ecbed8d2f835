use airstream::providers::{ProviderMode, load::Catalog, mock::Quoter};
use airstream::search::model::{Cabin, SearchRequest};
use jiff::civil::date;

#[test]
fn samples_validate() {
    let c = Catalog::load(&[std::path::PathBuf::from("providers.d")]).unwrap();
    for e in c.errors() { eprintln!("{e}"); }
    assert_eq!(c.errors().count(), 0);
    assert!(c.providers.len() >= 5);
    let today = date(2025, 6, 2); // a Monday
    for (id, def) in &c.providers {
        let ProviderMode::Mock(t) = &def.mode;
        let d = &def.latency.distribution;
        eprintln!("{id}: timeout {:?} p50 {:?} p90 {:?} p99 {:?} p99.9 {:?} err {} to {} airports {:?}",
            def.timeout, d.quantile(0.5), d.quantile(0.9), d.quantile(0.99), d.quantile(0.999),
            def.latency.error_rate, def.latency.timeout_rate, t.airports());
        assert!(d.quantile(0.99) * 2 <= def.timeout);
        let q = Quoter { provider: id, airline: &def.airline };
        for (from, to) in [("CGK", "DPS"), ("DPS", "CGK")] {
            for offset in 0..7 {
                let day = today.checked_add(jiff::Span::new().days(offset + 10)).unwrap();
                let s = SearchRequest {
                    search_id: uuid::Uuid::nil(), from: from.into(), to: to.into(), date: day,
                    return_date: None, passengers: 1, cabin: Cabin::Economy, providers: vec![],
                    created_at: jiff::Timestamp::now(), deadline: jiff::Timestamp::now(),
                };
                let offers = t.offers(&q, &s, today);
                assert!(offers.len() >= 3, "{id} {from}-{to} {day}: {}", offers.len());
            }
        }
    }
    // A worked example for the docs.
    let def = &c.providers["garuda"];
    let ProviderMode::Mock(t) = &def.mode;
    let q = Quoter { provider: "garuda", airline: &def.airline };
    for (d, pax) in [(date(2025, 6, 7), 2u8), (date(2025, 6, 4), 1)] {
        let s = SearchRequest {
            search_id: uuid::Uuid::nil(), from: "CGK".into(), to: "DPS".into(), date: d,
            return_date: None, passengers: pax, cabin: Cabin::Economy, providers: vec![],
            created_at: jiff::Timestamp::now(), deadline: jiff::Timestamp::now(),
        };
        for o in t.offers(&q, &s, today).iter().take(3) {
            eprintln!("{}", serde_json::to_string(o).unwrap());
        }
    }
    // Broken copies.
    let bad = Catalog::load(&[std::path::PathBuf::from("/tmp/broken")]).unwrap();
    for f in &bad.files {
        match &f.error { Some(e) => println!("{e}"), None => println!("{}: ok ({})", f.path.display(), f.id) }
    }
}
