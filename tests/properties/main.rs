//! Property tests of the code that reads what outsiders write: each
//! property lives in `airstream::hostile`, shared with the fuzz targets in
//! `fuzz/`; here proptest feeds it arbitrary and mutated inputs, a bounded
//! number of cases each, on the stable toolchain (`docs/testing.md`).

mod inputs;

use airstream::hostile;
use proptest::prelude::*;

use inputs::{json_value, mutated_sample, nasty_text, sample_texts, search_object};

/// Cases per property: bounded so the whole file runs in seconds.
fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

/// Cases per property that parses whole sample files (milliseconds each
/// in a debug build).
fn config_files() -> ProptestConfig {
    ProptestConfig::with_cases(48)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn provider_text_of_any_characters_is_read_or_refused_with_positions(text in ".{0,300}") {
        hostile::provider_text(&text);
    }

    #[test]
    fn provider_text_of_yaml_characters_is_read_or_refused_with_positions(
        text in "([a-z_]{1,8}: ?|- |  |[\\[\\]{},:'\"#&*!|>%@`-]|[0-9a-zA-Z ]{1,6}|\n){0,60}"
    ) {
        hostile::provider_text(&text);
    }

    #[test]
    fn search_values_never_change_a_requests_structure(from in nasty_text(), to in nasty_text()) {
        hostile::template_values(&from, &to);
    }

    #[test]
    fn search_values_never_change_an_xml_requests_structure(from in nasty_text(), to in nasty_text()) {
        hostile::xml_values(&from, &to);
    }

    #[test]
    fn any_bytes_as_an_airline_answer_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        hostile::upstream_answer(&bytes);
    }

    #[test]
    fn any_json_as_an_airline_answer_never_panics(value in json_value()) {
        hostile::upstream_answer(value.to_string().as_bytes());
    }

    #[test]
    fn itineraries_of_any_values_are_mapped_or_dropped(
        items in proptest::collection::vec(inputs::itinerary(), 0..4)
    ) {
        let body = serde_json::json!({ "data": { "itineraries": items } });
        hostile::upstream_answer(body.to_string().as_bytes());
    }

    #[test]
    fn any_bytes_as_an_xml_answer_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        hostile::upstream_xml_answer(&bytes);
    }

    #[test]
    fn xml_like_text_as_an_xml_answer_never_panics(
        text in "(<[a-zA-Z:]{1,6}( [a-z@:]{1,4}=\"[^\"<&]{0,6}\")?/?>|</[a-zA-Z:]{1,6}>|[a-z0-9 .&;#]{1,8}|<!\\[CDATA\\[|\\]\\]>|<!DOCTYPE x>|<\\?xml version=\"1.0\"\\?>){0,40}"
    ) {
        hostile::upstream_xml_answer(text.as_bytes());
    }

    #[test]
    fn any_bytes_as_a_search_body_get_202_or_4xx(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        hostile::search_body(&bytes);
    }

    #[test]
    fn any_search_object_gets_202_or_4xx(object in search_object()) {
        hostile::search_body(object.to_string().as_bytes());
    }

    #[test]
    fn any_last_event_id_is_a_position_or_a_400(
        header in proptest::collection::vec(any::<u8>(), 0..24),
        query in proptest::option::of(".{0,24}"),
    ) {
        hostile::last_event_id(&header, query.as_deref());
    }

    #[test]
    fn whole_numbers_as_last_event_id_read_back(
        n in any::<u64>(),
        pad in "[ \t]{0,3}",
        as_header in any::<bool>(),
    ) {
        let text = format!("{pad}{n}{pad}");
        if as_header {
            hostile::last_event_id(text.as_bytes(), None);
        } else {
            hostile::last_event_id(b"\xff\xff not a header \r\n", Some(&text));
        }
    }
}

proptest! {
    #![proptest_config(config_files())]

    #[test]
    fn mutated_sample_files_are_read_or_refused_with_positions(text in mutated_sample()) {
        hostile::provider_text(&text);
    }

    #[test]
    fn comments_and_blank_lines_change_no_sample(
        index in 0usize..64,
        picks in proptest::collection::vec((any::<prop::sample::Index>(), nasty_text()), 1..6),
    ) {
        let samples = sample_texts();
        let (text, original) = &samples[index % samples.len()];
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (at, words) in picks {
            // Only before a top-level key: inside a block scalar a line is text.
            let tops: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].starts_with(|c: char| c.is_ascii_alphabetic()))
                .collect();
            let at = tops[at.index(tops.len())];
            // A comment holds printable characters (YAML 1.2, 5.1).
            let printable = |c: &char| *c == '\t' || !(c.is_control() || "\u{feff}\u{fffe}\u{ffff}".contains(*c));
            let comment = format!("# {}", words.chars().filter(printable).collect::<String>());
            lines.insert(at, comment);
            lines.insert(at, String::new());
        }
        let again = hostile::provider_text(&(lines.join("\n") + "\n"));
        prop_assert_eq!(again.as_ref(), Some(original));
    }
}

#[test]
fn every_sample_is_valid_and_survives_a_yaml_round_trip() {
    for (text, original) in sample_texts() {
        let value: serde_json::Value = serde_saphyr::from_str(text).expect("the sample is YAML");
        let written = serde_saphyr::to_string(&value).expect("YAML again");
        let again = hostile::provider_text(&written);
        assert_eq!(again.as_ref(), Some(original), "round trip of:\n{written}");
    }
}

/// Found by the `template_values` fuzzer: a number too large for an f64
/// outside quotes is valid JSON (its range is the reader's business), not
/// structure.
#[test]
fn a_huge_number_outside_quotes_stays_one_scalar() {
    hostile::template_values("", "11e077777");
}

/// Found by the `template_values` fuzzer: a value of `..` in a path
/// segment was escaped (a dot is unreserved), and parsing the URL then
/// resolved it, sending the request to the parent path. Such a URL is
/// refused before it is sent.
#[test]
fn a_dot_segment_value_cannot_move_the_path() {
    hostile::template_values("..", "DPS");
    hostile::template_values(".", "DPS");
    hostile::template_values("..", "..");
}

/// Found by the `upstream_answer` fuzzer: an itinerary whose currency is
/// missing was mapped to an offer with an empty currency; it is dropped.
#[test]
fn an_answer_without_a_currency_maps_no_offer() {
    let answer = br#"{"data": {"itineraries": [{"offer_ref": "8B-1", "segments": [{"flight": "8B 123", "carrier": "8B", "origin": "CGK", "destination": "DPS", "departure": "2027-01-05T07:30:00", "arrival": "2027-01-05T10:20:00", "stops": 0}], "duration": "1h50m", "cabin": "economy", "seats_available": 9, "fare": {"total": "1500000.00", "per_adult": "750000.00", "currcney": "IDR"}}]}}"#;
    hostile::upstream_answer(answer);
}
