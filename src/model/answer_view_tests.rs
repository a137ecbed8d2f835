//! Answers read by their offers' spans against the same answers read
//! whole, and every way the spans can fail to fit.

use uuid::Uuid;

use super::AnswerView;
use crate::model::offer_json::tests::{full, unusual};
use crate::model::{AnswerStatus, EncodedAnswer, ProviderAnswer};

fn answer(offers: usize) -> ProviderAnswer {
    let mut list = Vec::new();
    for i in 0..offers {
        let mut offer = if i % 2 == 0 { unusual() } else { full() };
        offer.id = format!("{i}-{}", offer.id);
        list.push(offer);
    }
    ProviderAnswer {
        search_id: Uuid::new_v4(),
        provider: "b\"1".into(),
        status: AnswerStatus::Ok,
        offers: list,
        error: None,
        elapsed_ms: 12,
        cached: true,
        age_ms: Some(40),
    }
}

/// What a view holds, comparable.
fn parts(view: &AnswerView<'_>) -> String {
    format!(
        "{} {} {:?} {:?} {:?} {} {} {:?} {:?}",
        view.search_id,
        view.provider,
        view.status,
        view.offers,
        view.error,
        view.elapsed_ms,
        view.cached,
        view.age_ms,
        view.offer_keys
    )
}

/// The same answer read whole: its JSON without `offers_at`, so that the
/// spans are not looked at.
fn whole(json: &[u8]) -> String {
    let comma = json.iter().position(|b| *b == b',').unwrap();
    let plain = [b"{", &json[comma + 1..]].concat();
    assert!(AnswerView::by_spans(&plain).is_none());
    parts(&AnswerView::read(&plain).unwrap())
}

#[test]
fn an_answer_is_read_by_its_spans_as_it_is_read_whole() {
    for offers in [0, 1, 2, 5] {
        let answer = answer(offers);
        let json = EncodedAnswer::new(answer.clone()).to_json();
        assert!(json.starts_with(b"{\"offers_at\":"));
        // Still the answer the streams contract describes.
        let back: ProviderAnswer = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, answer);
        let fast = AnswerView::by_spans(&json).expect("the spans fit");
        assert_eq!(fast.offers.len(), offers);
        for (text, offer) in fast.offers.iter().zip(&answer.offers) {
            assert_eq!(*text, serde_json::to_string(offer).unwrap());
        }
        assert_eq!(parts(&fast), whole(&json), "{offers} offers");
        assert_eq!(parts(&AnswerView::read(&json).unwrap()), parts(&fast));
    }
    // An error answer: no offers, its message kept.
    let mut failed = answer(0);
    failed.status = AnswerStatus::Error;
    failed.error = Some("upstream said \"no\" {".into());
    failed.cached = false;
    failed.age_ms = None;
    let json = EncodedAnswer::new(failed).to_json();
    let fast = AnswerView::by_spans(&json).expect("the spans fit");
    assert_eq!(fast.error.as_deref(), Some("upstream said \"no\" {"));
    assert_eq!(parts(&fast), whole(&json));
}

/// Replaces the first `from` in `json` by `to`.
fn edit(json: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(json.to_vec()).unwrap();
    assert!(text.contains(from), "{from} in the answer");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn spans_that_do_not_fit_have_the_answer_read_whole() {
    let json = EncodedAnswer::new(answer(3)).to_json();
    let view = AnswerView::by_spans(&json).unwrap();
    let at = json.len() - view.offers.iter().map(|o| o.len() + 1).sum::<usize>() - 1;
    let spans: Vec<usize> = {
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        serde_json::from_value(value["offer_spans"].clone()).unwrap()
    };
    let spans_text = |spans: &[usize]| {
        spans
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let written = format!("\"offer_spans\":[{}]", spans_text(&spans));
    let mut misfits: Vec<(&str, Vec<u8>)> = vec![
        (
            "offers_at one short",
            edit(&json, &format!(":{at},"), &format!(":{},", at - 1)),
        ),
        (
            "offers_at one long",
            edit(&json, &format!(":{at},"), &format!(":{},", at + 1)),
        ),
        (
            "offers_at past the end",
            edit(&json, &format!(":{at},"), ":99999999,"),
        ),
        (
            "offers_at not a number",
            edit(&json, &format!(":{at},"), ":\"x\","),
        ),
    ];
    let mut shifted = spans.clone();
    shifted[2] += 1;
    let mut short = spans.clone();
    short.truncate(4);
    let mut odd = spans.clone();
    odd.pop();
    let mut wide = spans.clone();
    wide[5] += 1;
    let mut overlapping = spans.clone();
    overlapping[2] = spans[1];
    for (what, bad) in [
        ("a span moved", shifted),
        ("an offer left out", short),
        ("an odd count", odd),
        ("past the end", wide),
        ("no comma between", overlapping),
    ] {
        let bad = format!("\"offer_spans\":[{}]", spans_text(&bad));
        misfits.push((what, edit(&json, &written, &bad)));
    }
    misfits.push(("no spans", edit(&json, &written, "\"no_spans\":[]")));
    // An offer whose end is not its object's.
    let mut inner = spans.clone();
    inner[1] -= 1;
    inner[2] -= 1;
    let inner = format!("\"offer_spans\":[{}]", spans_text(&inner));
    misfits.push((
        "a span ending inside an offer",
        edit(&json, &written, &inner),
    ));
    let expected = whole(&json);
    for (what, misfit) in misfits {
        assert!(AnswerView::by_spans(&misfit).is_none(), "{what}");
        match AnswerView::read(&misfit) {
            // Read whole: the same answer as ever.
            Ok(view) => assert_eq!(parts(&view), expected, "{what}"),
            Err(e) => panic!("{what}: {e}"),
        }
    }
    // Truncated: neither way reads it.
    let cut = &json[..json.len() - 10];
    assert!(AnswerView::by_spans(cut).is_none());
    assert!(AnswerView::read(cut).is_err());
}
