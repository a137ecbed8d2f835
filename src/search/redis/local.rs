//! What one api process remembers of the searches it accepted, so that
//! Redis is asked as little as possible: their deadlines (ended on time
//! from here, and taken off the shared deadline index in batches), the
//! retention cap on the searches it keeps in Redis (the oldest finished
//! one is evicted, as in memory), while this process records every
//! answer of a search, the tally its `complete` event is built from, and
//! the searches it ended lately, checked again when a master changes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use crate::search::events::EventLog;
use crate::search::tally::Tally;

/// How long a search ended here is checked again should a master change:
/// longer than a cluster takes to promote a replica (`cluster-node-timeout`,
/// 15 s by default, and the election), within which the master's last
/// writes, acknowledged but not yet copied to its replica, may be lost.
pub(super) const RISK_WINDOW: Duration = Duration::from_secs(30);

/// A search accepted here.
#[derive(Debug)]
struct Accepted {
    deadline: Instant,
    expires: Instant,
    /// Finished, or past its deadline.
    ended: bool,
    /// Its answers as recorded here, while this process has recorded every
    /// one of them; `None` once it has not, or while a batch is recorded.
    tally: Option<Partial>,
    /// Its event log here, made before the search was published and fed
    /// since, held while it runs: its first SSE client needs no read.
    log: Option<Arc<EventLog>>,
    /// What it takes to write the search again, held while it runs.
    revive: Option<Revive>,
}

/// A search accepted here, as it was accepted: enough to write it again
/// should Redis lose it (a failover after an acknowledged write that its
/// replica had not received yet).
#[derive(Debug)]
pub(super) struct Revive {
    /// The search.
    pub request: crate::model::SearchRequest,
    /// When its results expire.
    pub expires: jiff::Timestamp,
    /// Its client's running-searches set.
    pub client: String,
    /// Its log here.
    pub log: Option<Arc<EventLog>>,
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
    /// Searches ended here within [`RISK_WINDOW`], oldest first.
    recent: VecDeque<Recent>,
    /// Recent searches to end again at their deadline, since a master
    /// changed after they ended: Redis may have lost their last writes.
    suspects: Vec<Recent>,
}

/// A search ended here lately.
#[derive(Debug)]
struct Recent {
    ended: Instant,
    deadline: Instant,
    id: Uuid,
    revive: Revive,
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
        log: Arc<EventLog>,
        revive: Revive,
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
                deadline,
                expires,
                ended: false,
                tally: Some(tally),
                log: Some(log),
                revive: Some(revive),
            },
        );
        sooner
    }

    /// Forgets a search that could not be stored.
    pub fn forget(&mut self, id: &Uuid) {
        self.accepted.remove(id);
    }

    /// The log of a search accepted here that still runs.
    pub fn log(&self, id: &Uuid) -> Option<Arc<EventLog>> {
        self.accepted.get(id)?.log.clone()
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
            accepted.log = None;
            let now = Instant::now();
            if let Some(revive) = accepted.revive.take() {
                self.recent.push_back(Recent {
                    ended: now,
                    deadline: accepted.deadline,
                    id: *id,
                    revive,
                });
            }
            self.ended.push_back(*id);
            while self
                .recent
                .front()
                .is_some_and(|r| r.ended + RISK_WINDOW < now)
            {
                self.recent.pop_front();
            }
        }
    }

    /// A master changed (a failover): the searches ended here within
    /// [`RISK_WINDOW`] are ended again at their deadline, written again if
    /// Redis lost them. Returns how many.
    pub fn at_risk(&mut self) -> usize {
        let now = Instant::now();
        let recent = std::mem::take(&mut self.recent);
        let before = self.suspects.len();
        self.suspects
            .extend(recent.into_iter().filter(|r| r.ended + RISK_WINDOW >= now));
        self.suspects.len() - before
    }

    /// The searches whose deadline has passed by `now`: those still
    /// running, to end in Redis (then [`Local::clear`]), each with what it
    /// takes to write it again, and the suspects whose deadline passed;
    /// the others are queued for the deadline index at once. Every one
    /// counts as ended.
    pub fn due(&mut self, now: Instant) -> Vec<(Uuid, Option<Revive>)> {
        let mut open = Vec::new();
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            match self.accepted.get_mut(&id) {
                Some(accepted) if !accepted.ended => {
                    let log = accepted.log.take();
                    let revive = accepted.revive.take().map(|r| Revive { log, ..r });
                    open.push((id, revive));
                    self.finished(&id);
                }
                _ => self.cleared.push(id),
            }
        }
        if !self.suspects.is_empty() {
            let (due, later) = std::mem::take(&mut self.suspects)
                .into_iter()
                .partition(|r| r.deadline <= now);
            self.suspects = later;
            open.extend(due.into_iter().map(|r: Recent| (r.id, Some(r.revive))));
        }
        open
    }

    /// The soonest deadline still to come.
    pub fn next_deadline(&self) -> Option<Instant> {
        let suspect = self.suspects.iter().map(|r| r.deadline).min();
        let first = self.deadlines.peek().map(|Reverse((at, _))| *at);
        first.into_iter().chain(suspect).min()
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

    fn revive() -> Revive {
        Revive {
            request: crate::search::memory::tests::request(Duration::ZERO),
            expires: jiff::Timestamp::now(),
            client: String::new(),
            log: None,
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
            local.accept(*id, later, later, partial(), Arc::default(), revive());
        }
        assert_eq!(local.room(2, now), Err(2));
        local.finished(&ids[1]);
        local.finished(&ids[0]);
        assert_eq!(local.room(2, now), Ok(Some(ids[1])));
        local.accept(ids[2], later, later, partial(), Arc::default(), revive());
        assert_eq!(local.room(2, now), Ok(Some(ids[0])));
        // Expired searches leave without eviction.
        assert_eq!(local.room(2, later), Ok(None));
    }

    #[test]
    fn after_a_failover_searches_ended_lately_are_ended_again_at_their_deadline() {
        let mut local = Local::default();
        let now = Instant::now();
        let deadline = now + Duration::from_secs(5);
        let id = Uuid::new_v4();
        let later = now + Duration::from_secs(60);
        local.accept(id, deadline, later, partial(), Arc::default(), revive());
        local.finished(&id);
        // Without a failover its deadline only clears it.
        assert!(local.due(deadline).is_empty());
        let other = Uuid::new_v4();
        local.accept(other, deadline, later, partial(), Arc::default(), revive());
        local.finished(&other);
        assert_eq!(local.at_risk(), 2);
        assert_eq!(local.next_deadline(), Some(deadline));
        let due = local.due(deadline);
        assert_eq!(due.len(), 2);
        assert!(due.iter().all(|(_, revive)| revive.is_some()));
        // Taken once.
        assert_eq!(local.at_risk(), 0);
        assert!(local.due(deadline).is_empty());
    }

    #[test]
    fn deadlines_end_running_searches_and_clear_finished_ones() {
        let mut local = Local::default();
        let now = Instant::now();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(local.accept(
            a,
            now,
            now + Duration::from_secs(60),
            partial(),
            Arc::default(),
            revive()
        ));
        assert!(!local.accept(
            b,
            now + Duration::from_secs(1),
            now + Duration::from_secs(60),
            partial(),
            Arc::default(),
            revive()
        ));
        local.finished(&a);
        assert!(local.take_tally(&a).is_none());
        assert!(local.due(now).is_empty());
        assert_eq!(local.take_cleared(), vec![a]);
        assert!(local.take_tally(&b).is_some());
        let due = local.due(now + Duration::from_secs(1));
        assert_eq!(due.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![b]);
        assert!(due[0].1.as_ref().is_some_and(|r| r.log.is_some()));
        assert_eq!(local.next_deadline(), None);
    }
}
