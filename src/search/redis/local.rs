//! What one api process remembers of the searches it accepted, so that
//! Redis is asked as little as possible: their deadlines (ended on time
//! from here, and taken off the shared deadline index in batches), the
//! retention cap on the searches it keeps in Redis (the oldest finished
//! one is evicted, as in memory), and, while this process records every
//! answer of a search, the tally its `complete` event is built from.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use tokio::time::Instant;
use uuid::Uuid;

use crate::search::tally::Tally;

/// A search accepted here.
#[derive(Debug)]
struct Accepted {
    expires: Instant,
    /// Finished, or past its deadline.
    ended: bool,
    /// Its answers as recorded here, while this process has recorded every
    /// one of them; `None` once it has not, or while a batch is recorded.
    tally: Option<Partial>,
}

/// A search's answers as this process recorded them.
#[derive(Debug)]
pub(super) struct Partial {
    /// The airlines it targets, in the request's order.
    pub providers: Vec<String>,
    /// When it was accepted, in milliseconds since the epoch.
    pub created_ms: i64,
    /// Its events in Redis.
    pub events: u64,
    /// What the answers add up to.
    pub tally: Tally,
}

/// The searches accepted by this process.
#[derive(Debug, Default)]
pub(super) struct Local {
    accepted: HashMap<Uuid, Accepted>,
    /// Accepted ids by expiry, about (searches may have different TTLs).
    order: VecDeque<(Instant, Uuid)>,
    /// Ended ids, oldest first: the ones to evict at the cap.
    ended: VecDeque<Uuid>,
    deadlines: BinaryHeap<Reverse<(Instant, Uuid)>>,
    /// Searches past their deadline and ended in Redis, to take off the
    /// deadline index.
    cleared: Vec<Uuid>,
}

impl Local {
    /// Makes room for one more search under `cap`: expired ones leave, and
    /// when still full the oldest ended one is evicted (its id returned, for
    /// its key to go too). `Err` with the count when every search kept is
    /// still running.
    pub fn room(&mut self, cap: usize, now: Instant) -> Result<Option<Uuid>, usize> {
        while let Some(&(expires, id)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            if self.accepted.get(&id).is_some_and(|a| a.expires <= now) {
                self.accepted.remove(&id);
            }
        }
        if self.accepted.len() < cap {
            return Ok(None);
        }
        while let Some(id) = self.ended.pop_front() {
            if self.accepted.remove(&id).is_some() {
                self.compact(cap);
                return Ok(Some(id));
            }
        }
        Err(self.accepted.len())
    }

    /// Drops the queues' ids of searches no longer kept once they outgrow
    /// the store.
    fn compact(&mut self, cap: usize) {
        if self.order.len() > 2 * cap.max(1024) {
            let accepted = &self.accepted;
            self.order.retain(|(_, id)| accepted.contains_key(id));
        }
        if self.ended.len() > 2 * cap.max(1024) {
            let accepted = &self.accepted;
            self.ended.retain(|id| accepted.contains_key(id));
        }
    }

    /// Remembers a search accepted here; returns whether its deadline is
    /// now the soonest.
    pub fn accept(
        &mut self,
        id: Uuid,
        deadline: Instant,
        expires: Instant,
        tally: Partial,
    ) -> bool {
        let sooner = self
            .deadlines
            .peek()
            .is_none_or(|Reverse((first, _))| deadline < *first);
        self.deadlines.push(Reverse((deadline, id)));
        self.order.push_back((expires, id));
        self.accepted.insert(
            id,
            Accepted {
                expires,
                ended: false,
                tally: Some(tally),
            },
        );
        sooner
    }

    /// Forgets a search that could not be stored.
    pub fn forget(&mut self, id: &Uuid) {
        self.accepted.remove(id);
    }

    /// Takes a search's tally to record a batch with; it is put back with
    /// [`Local::put_back`] when the batch kept it in step.
    pub fn take_tally(&mut self, id: &Uuid) -> Option<Partial> {
        self.accepted.get_mut(id)?.tally.take()
    }

    /// Puts a tally back, unless the search ended meanwhile.
    pub fn put_back(&mut self, id: &Uuid, tally: Partial) {
        if let Some(accepted) = self.accepted.get_mut(id)
            && !accepted.ended
        {
            accepted.tally = Some(tally);
        }
    }

    /// A search accepted here has finished.
    pub fn finished(&mut self, id: &Uuid) {
        if let Some(accepted) = self.accepted.get_mut(id)
            && !accepted.ended
        {
            accepted.ended = true;
            accepted.tally = None;
            self.ended.push_back(*id);
        }
    }

    /// The searches whose deadline has passed by `now`: those still
    /// running, to end in Redis (then [`Local::clear`]); the others are
    /// queued for the deadline index at once. Every one counts as ended.
    pub fn due(&mut self, now: Instant) -> Vec<Uuid> {
        let mut open = Vec::new();
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            match self.accepted.get(&id) {
                Some(accepted) if !accepted.ended => {
                    open.push(id);
                    self.finished(&id);
                }
                _ => self.cleared.push(id),
            }
        }
        open
    }

    /// The soonest deadline still to come.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Searches ended in Redis, to take off the deadline index.
    pub fn clear(&mut self, ids: impl IntoIterator<Item = Uuid>) {
        self.cleared.extend(ids);
    }

    /// The searches to take off the deadline index now.
    pub fn take_cleared(&mut self) -> Vec<Uuid> {
        std::mem::take(&mut self.cleared)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn partial() -> Partial {
        Partial {
            providers: vec!["a".into()],
            created_ms: 0,
            events: 0,
            tally: Tally::new(1),
        }
    }

    #[test]
    fn at_the_cap_the_oldest_ended_search_is_evicted_or_none_is_taken() {
        let mut local = Local::default();
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for id in &ids[..2] {
            assert_eq!(local.room(2, now), Ok(None));
            local.accept(*id, later, later, partial());
        }
        assert_eq!(local.room(2, now), Err(2));
        local.finished(&ids[1]);
        local.finished(&ids[0]);
        assert_eq!(local.room(2, now), Ok(Some(ids[1])));
        local.accept(ids[2], later, later, partial());
        assert_eq!(local.room(2, now), Ok(Some(ids[0])));
        // Expired searches leave without eviction.
        assert_eq!(local.room(2, later), Ok(None));
    }

    #[test]
    fn deadlines_end_running_searches_and_clear_finished_ones() {
        let mut local = Local::default();
        let now = Instant::now();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(local.accept(a, now, now + Duration::from_secs(60), partial()));
        assert!(!local.accept(
            b,
            now + Duration::from_secs(1),
            now + Duration::from_secs(60),
            partial()
        ));
        local.finished(&a);
        assert!(local.take_tally(&a).is_none());
        assert!(local.due(now).is_empty());
        assert_eq!(local.take_cleared(), vec![a]);
        assert!(local.take_tally(&b).is_some());
        assert_eq!(local.due(now + Duration::from_secs(1)), vec![b]);
        assert_eq!(local.next_deadline(), None);
    }
}
