//! Recording airlines' answers, and appending `complete`. Answers of one
//! search in a batch are one script call, in one round trip for the whole
//! batch. While this process has recorded every answer of a search it
//! accepted, it builds the `complete` event itself from its tally, and the
//! script that records the last answer appends it in the same step; any
//! other search that completes is owed its `complete` by the caller, built
//! from the stored search ([`RedisStore::finish`]).
//!
//! The events themselves are staged by a plain `HSET` in the same round
//! trip, just before the script, which stores references to them (see
//! `lua/record.lua`): Lua interns every argument it is given, hashing each
//! byte, and the events are most of what a search writes.

use std::collections::HashMap;

use jiff::Timestamp;
use redis::Value;
use uuid::Uuid;

use super::local::Partial;
use super::stored::{decode, ms, tagged};
use super::{RedisStore, stage};
use crate::bus::BusError;
use crate::model::AnswerView;
use crate::search::events::{
    CompleteHead, EventKind, SearchStatus, complete_event, encode, first_offer_ms,
};
use crate::search::prepared::PreparedAnswer;

/// One search's answers in a batch.
struct Group {
    id: Uuid,
    /// Each answer's script arguments: provider, progress, offers count,
    /// events count, then the fields its events are staged in.
    answers: Vec<Vec<Vec<u8>>>,
    /// Each answer's tagged events, in the order of their fields.
    events: Vec<Vec<Vec<u8>>>,
    /// The search's tally with this batch added, when in step.
    tally: Option<Taken>,
}

/// A tally taken out of the process's memory for one batch.
struct Taken {
    partial: Partial,
    /// The search's events before this batch.
    before: u64,
    /// Which answers the tally recorded; Redis must agree.
    recorded: Vec<bool>,
    /// The tagged `complete` event and its figures, when the batch
    /// completes the search.
    complete: Option<(Vec<u8>, u64, Option<u64>)>,
}

/// A fresh field of a search's hash to stage an event in: no two calls
/// share one, so a repeated or refused answer never touches an event
/// already recorded.
fn staging_field() -> Vec<u8> {
    format!("x:{:016x}", rand::random::<u64>()).into_bytes()
}

/// What a record script answered for one search.
struct Reply {
    first: u64,
    /// 0 running, 1 completing (`complete` owed), 2 completed here.
    done: i64,
    client: String,
    recorded: Vec<bool>,
}

impl Reply {
    fn parse(value: Value) -> Option<Reply> {
        let Value::Array(items) = value else {
            return None;
        };
        let mut items = items.into_iter();
        let int = |v: Option<Value>| match v {
            Some(Value::Int(n)) => Some(n),
            _ => None,
        };
        let first = int(items.next())?.max(0) as u64;
        let done = int(items.next())?;
        let client = match items.next()? {
            Value::BulkString(b) => String::from_utf8(b).ok()?,
            Value::SimpleString(s) => s,
            _ => return None,
        };
        let recorded = items.map(|v| int(Some(v)) == Some(1)).collect();
        Some(Reply {
            first,
            done,
            client,
            recorded,
        })
    }
}

impl RedisStore {
    /// Records a batch of answers in one round trip (one script call per
    /// search), then completes the searches that are owed it. Repeats and
    /// late answers change nothing, so a batch may safely be recorded
    /// again.
    pub async fn record(&self, answers: &[AnswerView<'_>]) -> Result<(), BusError> {
        if answers.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let mut groups = self.group(answers, now);
        let calls = groups
            .iter()
            .map(|group| {
                let (expected, complete) = match group.tally.as_ref() {
                    Some(Taken {
                        before,
                        complete: Some((event, ..)),
                        ..
                    }) => (*before as i64, Some(event.as_slice())),
                    _ => (-1, None),
                };
                let complete = complete.map(|event| (staging_field(), event));
                let key = self.key(&group.id);
                let fields = group.answers.iter().flat_map(|args| &args[4..]);
                let staged = fields
                    .zip(group.events.iter().flatten())
                    .map(|(field, event)| (field.as_slice(), event.as_slice()))
                    .chain(complete.as_ref().map(|(f, e)| (f.as_slice(), *e)));
                let stage = stage(&key, staged);
                let (tag, now, expected) =
                    (self.announced_as(&group.id), ms(now), expected.to_string());
                let mut args: Vec<&[u8]> = vec![
                    &tag,
                    self.channel.as_bytes(),
                    &now,
                    expected.as_bytes(),
                    complete.as_ref().map_or(&[][..], |(field, _)| field),
                ];
                args.extend(group.answers.iter().flatten().map(Vec::as_slice));
                (stage, self.record.call(&key, &args))
            })
            .collect();
        let replies = match self.run_staged(calls).await {
            Ok(replies) => replies,
            Err(e) => {
                self.went_stale(groups.iter().map(|g| g.id));
                return Err(e);
            }
        };
        let mut owed = Vec::new();
        for (group, reply) in groups.iter_mut().zip(replies) {
            let Some(reply) = Reply::parse(reply) else {
                tracing::warn!(search_id = %group.id, "unexpected reply to the record script");
                continue;
            };
            let mut appended: Vec<Vec<u8>> = std::mem::take(&mut group.events)
                .into_iter()
                .zip(&reply.recorded)
                .filter(|(_, recorded)| **recorded)
                .flat_map(|(events, _)| events)
                .collect();
            let count = appended.len() as u64;
            match (reply.done, group.tally.take()) {
                (
                    2,
                    Some(Taken {
                        complete: Some((event, elapsed, first)),
                        ..
                    }),
                ) => {
                    crate::metrics::search_finished(false, elapsed, first);
                    appended.push(event);
                    self.local.lock().expect("local lock").finished(&group.id);
                    self.leaver.leave(&reply.client, group.id);
                }
                (1, _) => owed.push(group.id),
                (_, Some(mut taken))
                    if taken.recorded == reply.recorded
                        && (count == 0 || reply.first == taken.before + 1) =>
                {
                    taken.partial.events = taken.before + count;
                    let mut local = self.local.lock().expect("local lock");
                    local.put_back(&group.id, taken.partial);
                }
                _ => {}
            }
            if reply.first > 0 && !appended.is_empty() {
                self.feed(&group.id, reply.first, appended.into_iter());
            }
        }
        self.finish(&owed).await
    }

    /// Groups a batch's answers by search, in order of arrival, with each
    /// search's tally brought up to date.
    fn group(&self, answers: &[AnswerView<'_>], now: Timestamp) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<Uuid, usize> = HashMap::new();
        let mut local = self.local.lock().expect("local lock");
        for answer in answers {
            let id = answer.search_id;
            let at = *index.entry(id).or_insert_with(|| {
                let tally = local.take_tally(&id).map(|partial| Taken {
                    before: partial.events,
                    partial,
                    recorded: Vec::new(),
                    complete: None,
                });
                groups.push(Group {
                    id,
                    answers: Vec::new(),
                    events: Vec::new(),
                    tally,
                });
                groups.len() - 1
            });
            let group = &mut groups[at];
            let mut prepared = PreparedAnswer::new(id, answer);
            if let Some(taken) = &mut group.tally {
                let recorded = taken
                    .partial
                    .providers
                    .iter()
                    .position(|p| *p == answer.provider)
                    .is_some_and(|i| taken.partial.tally.record(i, &mut prepared));
                taken.recorded.push(recorded);
            }
            let mut events = Vec::with_capacity(2);
            if let Some(offers) = &prepared.offers_event {
                events.push(tagged(EventKind::Offers, offers));
            }
            events.push(tagged(
                EventKind::Provider,
                prepared.provider_event.as_bytes(),
            ));
            let mut args = vec![
                answer.provider.clone().into_bytes(),
                encode(&prepared.progress).into_bytes(),
                prepared.progress.offers.to_string().into_bytes(),
                events.len().to_string().into_bytes(),
            ];
            args.extend(events.iter().map(|_| staging_field()));
            group.answers.push(args);
            group.events.push(events);
        }
        drop(local);
        let top = self.limits.top_offers;
        for group in &mut groups {
            let Some(taken) = &mut group.tally else {
                continue;
            };
            let partial = &taken.partial;
            if taken.recorded.iter().all(|r| *r) && partial.tally.is_done() {
                let elapsed = (now.as_millisecond() - partial.created_ms).max(0) as u64;
                let event = partial.tally.complete(
                    group.id,
                    &partial.providers,
                    SearchStatus::Completed,
                    elapsed,
                    top,
                );
                taken.complete = Some((
                    tagged(EventKind::Complete, &event),
                    elapsed,
                    partial.tally.first_offer_ms(),
                ));
            }
        }
        groups
    }

    /// Appends events just written to Redis to this process's copy of the
    /// search's log, if a client here reads it.
    pub(super) fn feed(&self, id: &Uuid, first: u64, events: impl Iterator<Item = Vec<u8>>) {
        if let Some(log) = self.mirror(id) {
            let events: Vec<_> = events.filter_map(decode).collect();
            let ends = events
                .last()
                .is_some_and(|(k, _)| *k == EventKind::Complete);
            log.extend(first, events);
            // Its end did not fit where Redis put it: the copy here parted
            // from Redis (or missed events), and catches up.
            if ends && !log.is_finished() {
                self.went_stale(std::iter::once(*id));
            }
        }
    }

    /// Builds and appends the `complete` event of searches that are owed
    /// it, from the stored searches.
    pub(super) async fn finish(&self, ids: &[Uuid]) -> Result<(), BusError> {
        if ids.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let stored = self.read(ids).await?;
        let top = self.limits.top_offers;
        let calls = ids
            .iter()
            .zip(stored)
            .filter_map(|(id, stored)| {
                let mut stored = stored?;
                let outcome = match stored.state.as_str() {
                    "completing" => match stored.outcome.as_deref() {
                        Some("partial") => SearchStatus::Partial,
                        _ => SearchStatus::Completed,
                    },
                    _ => return None,
                };
                let elapsed_ms = (now.as_millisecond() - stored.created_ms).max(0) as u64;
                let figures = (
                    outcome == SearchStatus::Partial,
                    elapsed_ms,
                    first_offer_ms(stored.snapshot.providers.values()),
                );
                // The head takes what it shows; the offers stay for the list.
                let snap = &mut stored.snapshot;
                let head = CompleteHead {
                    kind: "complete",
                    search_id: *id,
                    status: outcome,
                    providers: std::mem::take(&mut snap.providers),
                    total_offers: snap.total_offers,
                    sellers: std::mem::take(&mut snap.sellers),
                    elapsed_ms,
                };
                let complete = tagged(
                    EventKind::Complete,
                    &complete_event(head, stored.cheapest(top)),
                );
                let call = self.finish.call(
                    &self.key(id),
                    &[
                        &self.announced_as(id),
                        &complete,
                        &ms(now),
                        self.channel.as_bytes(),
                    ],
                );
                Some(((*id, complete, figures), call))
            })
            .collect::<Vec<_>>();
        if calls.is_empty() {
            return Ok(());
        }
        let (completes, calls): (Vec<_>, Vec<_>) = calls.into_iter().unzip();
        let replies = match self.run(calls).await {
            Ok(replies) => replies,
            Err(e) => {
                self.went_stale(completes.iter().map(|(id, ..)| *id));
                return Err(e);
            }
        };
        for ((id, complete, (partial, elapsed, first)), reply) in completes.into_iter().zip(replies)
        {
            let (at, client): (i64, String) = redis::from_redis_value(reply).unwrap_or_default();
            if at > 0 {
                crate::metrics::search_finished(partial, elapsed, first);
                self.local.lock().expect("local lock").finished(&id);
                self.leaver.leave(&client, id);
                self.feed(&id, at as u64, std::iter::once(complete));
            }
        }
        Ok(())
    }
}
