//! Mock airlines' answers waiting out their simulated delay. A task per
//! search and airline would hold about a kilobyte for the whole delay, and
//! for an idle SSE stream's search that task is most of what the search
//! costs; instead each consumer keeps its searches' due answers in one heap
//! behind one timer, 128 bytes each, and answers each when it is
//! due.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tracing::Instrument;

use super::answer::MockDue;
use super::{Consumer, search_span};
use crate::bus::EntryId;
use crate::model::SearchRequest;
use crate::providers::{InFlightGuard, ProviderDef, ProviderStats};

/// One search's answer waiting to be due, holding what the search's task
/// would have held: its slot of the airline's concurrency, and its count
/// in flight.
pub(super) struct Waiting {
    at: Instant,
    due: MockDue,
    entry: EntryId,
    search: Arc<SearchRequest>,
    def: Arc<ProviderDef>,
    started: Instant,
    _slot: OwnedSemaphorePermit,
    _in_flight: InFlightGuard,
}

impl Waiting {
    /// A search read now, whose answer is `due`.
    pub(super) fn new(
        due: MockDue,
        entry: EntryId,
        search: Arc<SearchRequest>,
        def: Arc<ProviderDef>,
        slot: OwnedSemaphorePermit,
        stats: &Arc<ProviderStats>,
    ) -> Self {
        let started = Instant::now();
        Waiting {
            at: started + due.after,
            due,
            entry,
            search,
            def,
            started,
            _slot: slot,
            _in_flight: stats.enter(),
        }
    }
}

// Ordered by due time, the earliest greatest: `BinaryHeap` pops the
// greatest.
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Waiting {}

impl Consumer {
    /// Answers each search sent on `incoming` when it is due, until the
    /// consumer stops sending and every one taken has been answered: an
    /// airline that goes away still answers the searches it read, with
    /// the definition they were read with.
    pub(super) async fn answer_when_due(
        self: Arc<Self>,
        mut incoming: mpsc::UnboundedReceiver<Waiting>,
    ) {
        let mut heap = BinaryHeap::new();
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut open = true;
        while open || !heap.is_empty() {
            tokio::select! {
                received = incoming.recv(), if open => match received {
                    Some(waiting) => heap.push(waiting),
                    None => open = false,
                },
                () = timer.as_mut(), if !heap.is_empty() => {
                    let now = Instant::now();
                    while heap.peek().is_some_and(|w| w.at <= now) {
                        let waiting = heap.pop().expect("peeked");
                        self.clone().answer_due(waiting).await;
                    }
                },
            }
            if let Some(next) = heap.peek()
                && next.at != timer.deadline()
            {
                timer.as_mut().reset(next.at);
            }
        }
    }

    /// Answers one due search: in place when the bus is in this process
    /// (publishing does not wait), else on a task of its own, so that one
    /// slow broker call does not hold back the answers due after it.
    async fn answer_due(self: Arc<Self>, waiting: Waiting) {
        let span = search_span(&waiting.search, &self.id);
        let in_process = self.bus.publishes_in_process();
        let answer = waiting.due.answer(&waiting.def, &waiting.search);
        let publish = async move {
            self.deliver(waiting.entry, &waiting.search, answer, waiting.started)
                .await;
            // The slot and the count in flight are let go only now.
            drop(waiting);
        };
        if in_process {
            publish.instrument(span).await;
        } else {
            tokio::spawn(publish.instrument(span));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a waiting search holds is the point of the heap: a task was
    /// 1,160 bytes.
    #[test]
    fn a_waiting_search_is_small() {
        let size = std::mem::size_of::<Waiting>();
        assert!(size <= 128, "{size} bytes");
    }
}
