//! The aggregator: reads airline answers from the results stream in its own
//! consumer group and records them where searches are kept, which turns
//! them into SSE events. With Redis, every api process reads in the one
//! group, so each answer is recorded by one of them; answers left pending
//! by a process that died are claimed by a live one after the claim idle
//! time. Each partition of the results stream has its own reader.

use std::sync::Arc;
use std::time::Duration;

use super::Searches;
use super::events::EventLog;
use super::prepared::Answer;
use crate::bus::{AGGREGATOR_GROUP, Backoff, Bus, BusError, Entry, StartFrom};
use crate::fault::Chain;
use crate::model::{AnswerView, EncodedAnswer};
use crate::shutdown::Shutdown;

/// Answers read per round trip at most.
const BATCH: usize = 512;
/// How long one blocking read waits.
const READ_BLOCK: Duration = Duration::from_secs(5);
/// Recording an answer takes milliseconds, so an answer left this long
/// with another api process is taken over, however long the airlines'
/// claim idle time: its search is waiting. A live but slow process loses
/// nothing by it, since recording twice changes nothing.
const ANSWER_CLAIM_IDLE: Duration = Duration::from_secs(1);

/// Creates the aggregator's consumer group so that no answer published from
/// now on is missed.
pub async fn prepare(bus: &Bus) -> Result<(), BusError> {
    let partitions = bus.partitions().clone();
    for stream in partitions.all_results() {
        bus.ensure_group(stream, AGGREGATOR_GROUP, StartFrom::Latest)
            .await?;
    }
    Ok(())
}

/// Feeds the searches from the results stream until shutdown. `claim_idle`
/// is how long an answer may sit unacknowledged with another api process
/// before this one takes it over (Redis only).
pub async fn run(
    bus: Bus,
    searches: Searches,
    consumer: String,
    claim_idle: Option<Duration>,
    shutdown: Shutdown,
) {
    let partitions = bus.partitions().clone();
    let readers = partitions.all_results().map(|stream| {
        read(
            &bus,
            &searches,
            stream,
            &consumer,
            claim_idle,
            shutdown.clone(),
        )
    });
    futures::future::join_all(readers).await;
}

/// Feeds the searches from one partition of the results stream until
/// shutdown.
async fn read(
    bus: &Bus,
    searches: &Searches,
    stream: &str,
    consumer: &str,
    claim_idle: Option<Duration>,
    shutdown: Shutdown,
) {
    let mut backoff = Backoff::default();
    let claim_idle = claim_idle.map(|idle| idle.min(ANSWER_CLAIM_IDLE));
    // Reads return often enough to look for answers to take over.
    let block = claim_idle.map_or(READ_BLOCK, |idle| idle / 2);
    let mut last_claim = tokio::time::Instant::now();
    loop {
        let claim = claim_idle.filter(|idle| last_claim.elapsed() >= *idle / 2);
        let read = async {
            match claim {
                Some(idle) => {
                    bus.claim_idle(stream, AGGREGATOR_GROUP, consumer, idle, BATCH)
                        .await
                }
                None => {
                    bus.read_group(stream, AGGREGATOR_GROUP, consumer, BATCH, block)
                        .await
                }
            }
        };
        let read = tokio::select! {
            r = read => r,
            _ = shutdown.wait() => return,
        };
        if claim.is_some() {
            last_claim = tokio::time::Instant::now();
        }
        let entries = match read {
            Ok(entries) => {
                backoff.reset();
                entries
            }
            Err(e) => {
                if bus
                    .recover_read(&e, stream, AGGREGATOR_GROUP, &mut backoff, &shutdown)
                    .await
                {
                    continue;
                }
                return;
            }
        };
        if entries.is_empty() {
            continue;
        }
        if !record(searches, &entries, &shutdown).await {
            return;
        }
        let ids: Vec<_> = entries.iter().map(|e| e.id).collect();
        if let Err(e) = bus.ack(stream, AGGREGATOR_GROUP, &ids).await {
            tracing::warn!(error = %Chain(&e), "acknowledging answers failed");
        }
    }
}

/// Records a batch of answers, retrying while the broker is away: an answer
/// is acknowledged only once recorded. Returns false on shutdown.
async fn record(searches: &Searches, entries: &[Entry], shutdown: &Shutdown) -> bool {
    match searches {
        Searches::Memory(store) => {
            // An answer handed over in process is taken as it is; one with
            // bytes is read.
            let answers: Vec<Answer<'_>> = entries
                .iter()
                .filter_map(|entry| match entry.local::<EncodedAnswer>() {
                    Some(answer) => Some(Answer::Encoded(answer)),
                    None => read_answer(entry).map(Answer::Read),
                })
                .collect();
            // Readers wake after the whole batch, so each sends every new
            // event of its search in one write.
            let touched: Vec<Arc<EventLog>> = answers
                .iter()
                .filter_map(|answer| store.apply(answer))
                .map(|cell| cell.log.clone())
                .collect();
            for log in touched {
                log.notify();
            }
            true
        }
        Searches::Redis(redis) => {
            // A Redis store comes with the Redis bus, whose entries are
            // bytes only.
            let answers: Vec<AnswerView<'_>> = entries.iter().filter_map(read_answer).collect();
            let mut backoff = Backoff::default();
            loop {
                match redis.record(&answers).await {
                    Ok(()) => return true,
                    Err(e) => {
                        let wait = backoff.next_wait();
                        tracing::warn!(error = %Chain(&e), answers = answers.len(), retry_in_ms = wait.as_millis() as u64, "recording answers failed");
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = shutdown.wait() => return false,
                        }
                    }
                }
            }
        }
    }
}

/// An answer's JSON read, or `None` (logged) when it cannot be.
fn read_answer(entry: &Entry) -> Option<AnswerView<'_>> {
    match AnswerView::read(&entry.data) {
        Ok(answer) => Some(answer),
        Err(e) => {
            tracing::error!(entry = %entry.id, error = %e, "unreadable answer skipped");
            None
        }
    }
}
