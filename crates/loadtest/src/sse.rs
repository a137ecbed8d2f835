//! A lean Server-Sent Events reader for the search stream: it follows only
//! the `event:` names (to time the first `offers` event) and keeps the
//! `data:` of the `complete` event, so that reading a stream costs the load
//! tester little next to the server it measures.

use std::borrow::Cow;

use serde::Deserialize;

use crate::contract::{COMPLETE_EVENT, COMPLETED_STATUS, OFFERS_EVENT, PARTIAL_STATUS};
/// The status of a `complete` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FinalStatus {
    /// Every airline answered.
    Completed,
    /// The deadline came first.
    Partial,
}

/// The kind of an SSE event, from its `event:` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventKind {
    Offers,
    Complete,
    Other,
}

/// A parsed `complete` event (status, total offers), or why it is bad.
pub(crate) type CompleteResult = Result<(FinalStatus, u64), Cow<'static, str>>;

/// What one chunk of a stream held.
#[derive(Debug, Default)]
pub(crate) struct Fed {
    /// At least one `offers` event was dispatched.
    pub(crate) offers: bool,
    /// The `complete` event, parsed: status and total offers. Parsing stops
    /// at it.
    pub(crate) complete: Option<CompleteResult>,
}

/// A minimal Server-Sent Events reader: it tracks the `event:` name of each
/// event and keeps the `data:` lines only when the event may be `complete`.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// An unterminated line carried over to the next chunk.
    carry: Vec<u8>,
    /// The previous chunk ended with `\r`: skip a `\n` that starts the next.
    skip_lf: bool,
    /// The `event:` of the event being read, if any yet.
    kind: Option<EventKind>,
    /// The `data:` lines of the event being read (only kept when needed).
    data: Vec<u8>,
    /// A `data:` line was seen in the event being read.
    has_data: bool,
}

impl SseParser {
    /// Feeds one chunk of the stream.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Fed {
        let mut fed = Fed::default();
        if self.skip_lf {
            self.skip_lf = false;
            if let [b'\n', rest @ ..] = chunk {
                chunk = rest;
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', chunk) {
            let line_end = &chunk[..pos];
            let mut rest = &chunk[pos + 1..];
            if chunk[pos] == b'\r' {
                match rest {
                    [b'\n', tail @ ..] => rest = tail,
                    [] => self.skip_lf = true,
                    _ => {}
                }
            }
            let dispatched = if self.carry.is_empty() {
                self.line(line_end)
            } else {
                let mut line = std::mem::take(&mut self.carry);
                line.extend_from_slice(line_end);
                let dispatched = self.line(&line);
                line.clear();
                self.carry = line;
                dispatched
            };
            match dispatched {
                Some(EventKind::Offers) => fed.offers = true,
                Some(EventKind::Complete) => {
                    fed.complete = Some(parse_complete(&self.data));
                    self.data.clear();
                    return fed;
                }
                Some(EventKind::Other) | None => {}
            }
            chunk = rest;
        }
        self.carry.extend_from_slice(chunk);
        fed
    }

    /// Handles one line; returns the kind of the event it dispatches, if any.
    /// After a `Complete` dispatch, `self.data` holds the event's data.
    fn line(&mut self, line: &[u8]) -> Option<EventKind> {
        if line.is_empty() {
            let kind = self.kind.take().unwrap_or(EventKind::Other);
            let had_data = std::mem::replace(&mut self.has_data, false);
            if kind != EventKind::Complete {
                self.data.clear();
            }
            return had_data.then_some(kind);
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => {
                self.kind = Some(if value == OFFERS_EVENT.as_bytes() {
                    EventKind::Offers
                } else if value == COMPLETE_EVENT.as_bytes() {
                    EventKind::Complete
                } else {
                    EventKind::Other
                });
            }
            b"data" => {
                if matches!(self.kind, None | Some(EventKind::Complete)) {
                    if self.has_data {
                        self.data.push(b'\n');
                    }
                    self.data.extend_from_slice(value);
                }
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

/// The fields of the `complete` event's data that the load test reads.
#[derive(Deserialize)]
struct CompleteData<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default)]
    total_offers: u64,
}

/// Reads the data of a `complete` event.
fn parse_complete(data: &[u8]) -> CompleteResult {
    let complete: CompleteData<'_> = serde_json::from_slice(data)
        .map_err(|e| Cow::Owned(format!("complete event: bad data: {e}")))?;
    let status = match &*complete.status {
        COMPLETED_STATUS => FinalStatus::Completed,
        PARTIAL_STATUS => FinalStatus::Partial,
        other => {
            return Err(Cow::Owned(format!(
                "complete event: unexpected status {other:?}"
            )));
        }
    };
    Ok((status, complete.total_offers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(parser: &mut SseParser, parts: &[&[u8]]) -> (usize, Option<CompleteResult>) {
        let mut offers = 0;
        for part in parts {
            let fed = parser.feed(part);
            offers += usize::from(fed.offers);
            if fed.complete.is_some() {
                return (offers, fed.complete);
            }
        }
        (offers, None)
    }

    #[test]
    fn sse_parser_reads_events_across_chunks() {
        let stream: &[u8] =
            b": keepalive\n\nretry: 1000\nid: 1\nevent: offers\ndata: {\"type\":\"offers\"}\n\n\
            id: 2\r\nevent: provider\r\ndata: {}\r\n\r\n\
            id: 3\revent: complete\rdata: {\"type\":\"complete\",\"status\":\"partial\",\r\
            data: \"total_offers\":7,\"cheapest\":[{\"x\":1}]}\r\r";
        // Whole, and split at every position (also between \r and \n).
        let (offers, complete) = feed_all(&mut SseParser::default(), &[stream]);
        assert_eq!(offers, 1);
        assert_eq!(complete.expect("complete"), Ok((FinalStatus::Partial, 7)));
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            let (offers, complete) = feed_all(&mut SseParser::default(), &[a, b]);
            assert_eq!(offers, 1, "cut at {cut}");
            assert_eq!(
                complete.expect("complete"),
                Ok((FinalStatus::Partial, 7)),
                "cut {cut}"
            );
        }
        // Byte by byte.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (_, complete) = feed_all(&mut SseParser::default(), &bytes);
        assert_eq!(complete.expect("complete"), Ok((FinalStatus::Partial, 7)));
    }

    #[test]
    fn sse_parser_ignores_events_without_data_and_reports_bad_complete() {
        let mut p = SseParser::default();
        let fed = p.feed(b"event: offers\n\nevent:complete\ndata:{\"status\":\"weird\"}\n\n");
        assert!(!fed.offers);
        let err = fed.complete.expect("complete").expect_err("bad status");
        assert!(err.contains("weird"), "{err}");
        let fed = SseParser::default().feed(b"event: complete\ndata: nope\n\n");
        assert!(fed.complete.expect("complete").is_err());
    }
}
