//! Merging a search's log from Redis into a copy that parted from it: a
//! failed-over master can lose writes it had acknowledged, and whose
//! events this process had already fed to its readers; Redis then numbers
//! later events from where it stands, so a copy that skipped them by their
//! number would never hear the rest. Merged by airline instead, the
//! readers still hear each airline once, and the end.

use bytes::Bytes;

use super::events::{EventKind, EventLog, StoredEvent};

impl EventLog {
    /// Appends, after the events it has, those of `events` (a search's
    /// whole log as Redis now has it) about an airline it has not heard
    /// from, then `complete`: for a copy that parted from Redis when a
    /// failed-over master lost writes it had already fed, so that its
    /// readers still hear each airline once and the end.
    pub fn merge(&self, events: impl IntoIterator<Item = (EventKind, Bytes)>) {
        let appended = {
            let mut state = self.state.lock().expect("log lock");
            if state.finished {
                return;
            }
            let mut heard: Vec<(EventKind, Vec<u8>)> = state
                .events
                .iter()
                .filter_map(|e| Some((e.kind, airline(&e.data)?.to_vec())))
                .collect();
            let mut complete = None;
            let mut appended = false;
            for (kind, data) in events {
                if kind == EventKind::Complete {
                    complete = Some(data);
                    continue;
                }
                let Some(from) = airline(&data).map(<[u8]>::to_vec) else {
                    continue;
                };
                let answered = heard
                    .iter()
                    .any(|(k, a)| *a == from && (*k == kind || *k == EventKind::Provider));
                if !answered {
                    let id = state.events.len() as u64 + 1;
                    state.events.push(StoredEvent { id, kind, data });
                    heard.push((kind, from));
                    appended = true;
                }
            }
            if let Some(data) = complete {
                let id = state.events.len() as u64 + 1;
                let kind = EventKind::Complete;
                state.events.push(StoredEvent { id, kind, data });
                state.finished = true;
                appended = true;
            }
            appended
        };
        if appended {
            self.notify();
        }
    }
}

/// The airline an `offers` or `provider` event is about: its first
/// `provider` field.
fn airline(data: &[u8]) -> Option<&[u8]> {
    const FIELD: &[u8] = b"\"provider\":\"";
    let at = data.windows(FIELD.len()).position(|w| w == FIELD)? + FIELD.len();
    let len = data[at..].iter().position(|&b| b == b'"')?;
    Some(&data[at..at + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, airline: &str) -> (EventKind, Bytes) {
        let kind = match kind {
            "offers" => EventKind::Offers,
            "provider" => EventKind::Provider,
            _ => EventKind::Complete,
        };
        let data = format!(
            r#"{{"type":"{}","provider":"{airline}","n":1}}"#,
            kind.as_str()
        );
        (kind, Bytes::from(data))
    }

    #[test]
    fn a_parted_copy_hears_each_airline_once_and_the_end() {
        let log = EventLog::default();
        log.extend(1, [event("offers", "alpha"), event("provider", "alpha")]);
        // Redis lost those, then heard bravo and timed alpha out.
        log.merge([
            event("offers", "bravo"),
            event("provider", "bravo"),
            event("provider", "alpha"),
            (EventKind::Complete, Bytes::from_static(b"{}")),
        ]);
        let (events, finished) = log.events_after(0);
        assert!(finished);
        let seen: Vec<_> = events
            .iter()
            .map(|e| (e.id, e.kind, airline(&e.data).map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            seen,
            vec![
                (1, EventKind::Offers, Some(b"alpha".to_vec())),
                (2, EventKind::Provider, Some(b"alpha".to_vec())),
                (3, EventKind::Offers, Some(b"bravo".to_vec())),
                (4, EventKind::Provider, Some(b"bravo".to_vec())),
                (5, EventKind::Complete, None),
            ]
        );
        // Finished, it takes nothing more.
        log.merge([event("provider", "charlie")]);
        assert_eq!(log.len(), 5);
    }
}
