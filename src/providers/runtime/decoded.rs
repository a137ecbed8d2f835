//! Searches read from the requested stream, decoded once per process. Every
//! airline has its own consumer group, so each of a process's airlines reads
//! the same entry: five airlines would decode the same JSON five times. The
//! first consumer to read an entry decodes it; the others, usually within a
//! few milliseconds, take its search from here. Only the last [`KEPT`]
//! entries are kept, so a consumer that lags (its airline's slots full)
//! decodes again, as it would without this.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use foldhash::HashMap;

use crate::bus::{Entry, EntryId};
use crate::model::SearchRequest;

/// Entries kept: at 2,000 searches a second, the last eighth of a second.
const KEPT: usize = 256;

/// The searches of the last entries read (at most [`KEPT`]), by entry id.
#[derive(Default)]
pub struct Decoded {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// Each entry's bytes and its search. The bytes are compared on a hit:
    /// two partitions' streams, or a Redis that lost its data, can give the
    /// same id to different entries.
    searches: HashMap<EntryId, (Bytes, Arc<SearchRequest>)>,
    /// Ids in the order they were kept, oldest first.
    order: VecDeque<EntryId>,
}

impl Decoded {
    /// The search in `entry`: the one handed over in process, one decoded
    /// from the same bytes before, or its JSON decoded now.
    pub fn search(&self, entry: &Entry) -> Result<Arc<SearchRequest>, serde_json::Error> {
        if let Some(search) = entry.local::<SearchRequest>() {
            return Ok(search);
        }
        if let Some((data, search)) = self.kept().searches.get(&entry.id)
            && *data == entry.data
        {
            return Ok(search.clone());
        }
        let search: Arc<SearchRequest> = Arc::new(serde_json::from_slice(&entry.data)?);
        let mut kept = self.kept();
        let previous = kept
            .searches
            .insert(entry.id, (entry.data.clone(), search.clone()));
        if previous.is_none() {
            kept.order.push_back(entry.id);
            if kept.order.len() > KEPT
                && let Some(oldest) = kept.order.pop_front()
            {
                kept.searches.remove(&oldest);
            }
        }
        Ok(search)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // Nothing above panics while holding the lock (a failed allocation
        // aborts), so a poisoned lock still guards a whole map.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ms: u64, json: &str) -> Entry {
        Entry {
            id: EntryId { ms, seq: 0 },
            data: Bytes::from(json.to_string()),
            deliveries: 1,
            local: None,
        }
    }

    fn json(from: &str) -> String {
        let mut search = crate::search::memory::tests::request(std::time::Duration::from_secs(30));
        search.from = from.into();
        serde_json::to_string(&search).unwrap()
    }

    #[test]
    fn an_entry_read_again_is_not_decoded_again() {
        let decoded = Decoded::default();
        let cgk = json("CGK");
        let first = decoded.search(&entry(1, &cgk)).unwrap();
        let again = decoded.search(&entry(1, &cgk)).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the kept search is handed out");
        assert_eq!(again.from, "CGK");
    }

    #[test]
    fn the_same_id_with_other_bytes_is_decoded_from_its_own_bytes() {
        let decoded = Decoded::default();
        let (cgk, sub) = (json("CGK"), json("SUB"));
        decoded.search(&entry(1, &cgk)).unwrap();
        let other = decoded.search(&entry(1, &sub)).unwrap();
        assert_eq!(other.from, "SUB");
        let again = decoded.search(&entry(1, &sub)).unwrap();
        assert!(Arc::ptr_eq(&other, &again), "the new bytes' search is kept");
    }

    #[test]
    fn only_the_last_entries_are_kept_and_bad_json_is_an_error() {
        let decoded = Decoded::default();
        let cgk = json("CGK");
        let first = decoded.search(&entry(0, &cgk)).unwrap();
        assert!(Arc::ptr_eq(
            &first,
            &decoded.search(&entry(0, &cgk)).unwrap()
        ));
        for ms in 1..=KEPT as u64 {
            decoded.search(&entry(ms, &cgk)).unwrap();
        }
        let kept = decoded.kept();
        assert_eq!(kept.searches.len(), KEPT);
        assert_eq!(kept.order.len(), KEPT);
        drop(kept);
        let again = decoded.search(&entry(0, &cgk)).unwrap();
        assert!(!Arc::ptr_eq(&first, &again), "the oldest was let go");
        assert!(decoded.search(&entry(999, "{not json")).is_err());
    }
}
