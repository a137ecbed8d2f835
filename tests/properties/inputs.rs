//! Input strategies: hostile text, arbitrary JSON, mutated sample files and
//! near-valid search requests.

use std::sync::OnceLock;

use airstream::providers::ProviderDef;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// The sample provider files' text, each with its definition: read and
/// parsed once.
pub fn sample_texts() -> &'static [(String, ProviderDef)] {
    static SAMPLES: OnceLock<Vec<(String, ProviderDef)>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let mut paths: Vec<_> = std::fs::read_dir(airstream::hostile::samples_dir())
            .expect("the samples directory")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).expect("a sample");
                let def = airstream::hostile::provider_text(&text).expect("the sample is valid");
                (text, def)
            })
            .collect()
    })
}

/// Text that tries to break out of where it lands: quotes, backslashes,
/// URL and JSON structure, CR/LF, controls, non-ASCII; or any string.
pub fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\"'\\\\/?&#%+=;:,.{}\\[\\]<> \r\n\t\u{0}\u{1}\u{7f}a-zA-Z0-9\u{e9}\u{2028}\u{1F600}]{0,24}",
        any::<String>(),
        Just("{{ env }}".to_string()),
        Just("\"}, \"admin\": true, \"x\": {\"".to_string()),
        Just("../../admin?x=1#y".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("a\r\nX-Evil: 1".to_string()),
    ]
}

/// Any JSON value, a few levels deep.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[A-Z0-9 :.+-]{0,12}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for an offer field: often well-typed, often not.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[A-Z]{2}[0-9]{1,4}".prop_map(Value::from),
        "20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:00)?"
            .prop_map(Value::from),
        "[0-9]{1,3}h ?[0-9]{1,2}m|PT[0-9]H[0-9]M|[0-9]{1,6}".prop_map(Value::from),
        "-?[0-9]{1,12}(\\.[0-9]{0,30})?(e[0-9]{1,3})?".prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        json_value(),
    ]
}

/// One itinerary of the sample upstream's answer, its fields arbitrary.
pub fn itinerary() -> impl Strategy<Value = Value> {
    let segment = proptest::collection::btree_map(
        prop::sample::select(vec![
            "flight",
            "carrier",
            "origin",
            "destination",
            "departure",
            "arrival",
            "stops",
        ]),
        field_value(),
        0..8,
    );
    let fare = proptest::collection::btree_map(
        prop::sample::select(vec!["total", "per_adult", "currency"]),
        field_value(),
        0..4,
    );
    (
        proptest::collection::vec(segment, 0..2),
        fare,
        proptest::collection::btree_map(
            prop::sample::select(vec!["offer_ref", "duration", "cabin", "seats_available"]),
            field_value(),
            0..5,
        ),
    )
        .prop_map(|(segments, fare, rest)| {
            let mut item: Map<String, Value> =
                rest.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let segments = segments
                .into_iter()
                .map(|s| Value::Object(s.into_iter().map(|(k, v)| (k.into(), v)).collect()));
            item.insert("segments".into(), Value::Array(segments.collect()));
            let fare = fare.into_iter().map(|(k, v)| (k.to_string(), v));
            item.insert("fare".into(), Value::Object(fare.collect()));
            Value::Object(item)
        })
}

/// A search request object: the known fields (and stray ones) with values
/// from right to absurd.
pub fn search_object() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "from",
        "to",
        "date",
        "passengers",
        "return_date",
        "cabin",
        "providers",
        "timeout_ms",
        "extra",
        "",
    ]);
    let value = prop_oneof![
        prop::sample::select(vec!["CGK", "DPS", "SUB", "cgk", "XXX", "C G K"])
            .prop_map(Value::from),
        "20[0-9]{2}-[0-9]{2}-[0-9]{2}".prop_map(Value::from),
        prop::sample::select(vec!["economy", "business", "first", "premium_economy"])
            .prop_map(Value::from),
        proptest::collection::vec("[a-z-]{0,12}", 0..4).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..12).prop_map(Value::from),
        json_value(),
    ];
    proptest::collection::btree_map(field, value, 0..9)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// A sample file with a few edits: a span deleted, text inserted, a line
/// duplicated or its indentation changed.
pub fn mutated_sample() -> impl Strategy<Value = String> {
    let edit = (
        0u8..4,
        any::<prop::sample::Index>(),
        0usize..40,
        nasty_text(),
    );
    (0usize..64, proptest::collection::vec(edit, 1..5)).prop_map(|(index, edits)| {
        let samples = sample_texts();
        let mut text = samples[index % samples.len()].0.clone();
        for (kind, at, len, words) in edits {
            let chars: Vec<char> = text.chars().collect();
            let at = at.index(chars.len() + 1);
            let end = (at + len).min(chars.len());
            let (head, tail) = (&chars[..at], &chars[at..]);
            text = match kind {
                0 => head.iter().chain(&chars[end..]).collect(),
                1 => head.iter().collect::<String>() + &words + &tail.iter().collect::<String>(),
                2 => {
                    let line: String = tail.iter().take_while(|&&c| c != '\n').collect();
                    head.iter().collect::<String>()
                        + &line
                        + "\n"
                        + &tail.iter().collect::<String>()
                }
                _ => head.iter().collect::<String>() + " " + &tail.iter().collect::<String>(),
            };
        }
        text
    })
}
