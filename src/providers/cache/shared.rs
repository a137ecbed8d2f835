//! Answers kept in Redis, and questions coalesced across processes: the
//! first process to ask takes the question's lock (`lua/ask.lua`, one round
//! trip that also reads a kept answer), asks the airline, then keeps the
//! answer, releases the lock and tells the others on one channel
//! (`lua/told.lua`): a short message when the answer was kept (a waiter then
//! reads it), the outcome itself otherwise (an error, a timeout). The
//! others wait for that message, at most the airline's budget, and then ask
//! themselves: a process that died while asking costs its waiters time,
//! never their answer.
//!
//! Each process holds one Pub/Sub connection to that channel. A waiter is
//! registered before the lookup, so a message published in between is not
//! missed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::watch;

use super::{Outcome, Question, coalesced, looked_up, told};
use crate::bus::Backoff;
use crate::bus::redis_conn::RedisConn;
use crate::fault::Chain;
use crate::shutdown::Shutdown;

/// One line per 10 s while Redis cannot be used, whatever the searches.
static REDIS_AWAY: crate::throttle::Throttle =
    crate::throttle::Throttle::new(Duration::from_secs(10));

/// What a waiter is told.
#[derive(Clone, Debug)]
enum Told {
    /// The outcome itself (it was not kept).
    Outcome(Outcome),
    /// The answer is kept: read it.
    Kept,
    /// The asker gave up (its search's deadline came first).
    GaveUp,
}

/// Answers kept in Redis.
pub struct SharedStore {
    conn: Arc<RedisConn>,
    ask: redis::Script,
    told: redis::Script,
    channel: String,
    waiters: Arc<Waiters>,
}

/// The questions this process waits on another process's answer for.
#[derive(Default)]
struct Waiters {
    open: Mutex<HashMap<String, watch::Sender<Option<Told>>>>,
}

impl Waiters {
    fn register(&self, key: &str) -> watch::Receiver<Option<Told>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.entry(key.to_string())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    fn remove(&self, key: &str) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Hands a published message to its waiter, if this process has one.
    fn deliver(&self, payload: &[u8]) {
        #[derive(Deserialize)]
        struct Message<'a> {
            key: String,
            #[serde(borrow)]
            outcome: Option<&'a RawValue>,
            #[serde(default)]
            kept: bool,
        }
        let Ok(message) = serde_json::from_slice::<Message<'_>>(payload) else {
            tracing::warn!("an unreadable message on the answers channel was ignored");
            return;
        };
        let Some(tx) = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&message.key)
        else {
            return;
        };
        let told = match message.outcome {
            _ if message.kept => Told::Kept,
            Some(raw) => {
                serde_json::from_str::<Outcome>(raw.get()).map_or(Told::GaveUp, Told::Outcome)
            }
            None => Told::GaveUp,
        };
        tx.send_replace(Some(told));
    }
}

impl SharedStore {
    /// A store in `conn`'s Redis; its Pub/Sub listener runs until
    /// `shutdown`.
    pub fn new(conn: Arc<RedisConn>, shutdown: Shutdown) -> Self {
        let waiters = Arc::new(Waiters::default());
        let channel = conn.key("answers");
        tokio::spawn(listen(
            conn.clone(),
            channel.clone(),
            waiters.clone(),
            shutdown,
        ));
        SharedStore {
            conn,
            ask: redis::Script::new(include_str!("lua/ask.lua")),
            told: redis::Script::new(include_str!("lua/told.lua")),
            channel,
            waiters,
        }
    }

    /// The kept answer to `question`, or another process's answer to it,
    /// or `ask`'s (kept when `ok`, and told to the processes waiting).
    pub async fn answer<F, Fut>(&self, question: &Question, ask: F) -> Option<Outcome>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Outcome>>,
    {
        let (answer_key, lock_key) = self.keys(&question.key);
        let seat = self.waiters.register(&question.key);
        let token = uuid::Uuid::new_v4().to_string();
        let lock_ms = question.wait.as_millis().clamp(1, u128::from(u32::MAX)) as u64;
        let reply: Result<Vec<Vec<u8>>, _> = self
            .ask
            .key(&answer_key)
            .key(&lock_key)
            .arg(u8::from(question.use_cache))
            .arg(&token)
            .arg(lock_ms)
            .invoke_async(&mut self.conn.short())
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                self.waiters.remove(&question.key);
                if let Some(held_back) = REDIS_AWAY.allow() {
                    tracing::warn!(provider = %question.provider, error = %e, held_back, "the answer cache in Redis could not be read; airlines are asked (one line per 10 s)");
                }
                return ask().await;
            }
        };
        match reply.first().map(Vec::as_slice) {
            Some(b"hit") => {
                self.waiters.remove(&question.key);
                let kept = reply
                    .get(1)
                    .and_then(|b| serde_json::from_slice::<Outcome>(b).ok());
                if let Some(outcome) = kept {
                    looked_up(&question.provider, true);
                    return Some(outcome);
                }
                tracing::warn!(provider = %question.provider, "an unreadable kept answer was ignored");
                looked_up(&question.provider, false);
                self.ask_and_tell(question, (&answer_key, &lock_key), &token, ask)
                    .await
            }
            Some(b"lead") => {
                self.waiters.remove(&question.key);
                if question.use_cache {
                    looked_up(&question.provider, false);
                }
                self.ask_and_tell(question, (&answer_key, &lock_key), &token, ask)
                    .await
            }
            _ => {
                if question.use_cache {
                    looked_up(&question.provider, false);
                }
                let waited = told(seat, question.wait).await;
                self.waiters.remove(&question.key);
                let waited = match waited {
                    Some(Told::Outcome(outcome)) => Some(outcome),
                    Some(Told::Kept) => self.kept(&answer_key).await,
                    Some(Told::GaveUp) | None => None,
                };
                match waited {
                    Some(outcome) => {
                        coalesced(&question.provider);
                        Some(outcome)
                    }
                    // The asker gave up or went silent: ask.
                    None => {
                        self.ask_and_tell(question, (&answer_key, &lock_key), &token, ask)
                            .await
                    }
                }
            }
        }
    }

    /// Asks the airline, then keeps an `ok` answer and tells the waiters
    /// (that the asker gave up, when its search's deadline came first).
    async fn ask_and_tell<F, Fut>(
        &self,
        question: &Question,
        (answer_key, lock_key): (&str, &str),
        token: &str,
        ask: F,
    ) -> Option<Outcome>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Outcome>>,
    {
        let outcome = ask().await;
        let (kept, ttl_ms) = match &outcome {
            Some(Outcome::Ok { offers, .. }) if !question.ttl.is_zero() => {
                let kept = Outcome::Ok {
                    offers: offers.clone(),
                    stored_at: Some(Timestamp::now()),
                };
                (
                    serde_json::to_string(&kept).unwrap_or_default(),
                    question.ttl.as_millis() as u64,
                )
            }
            _ => (String::new(), 0),
        };
        // A kept answer is read by the waiters; anything else travels in
        // the message (small: an error or a timeout).
        let told = match &outcome {
            Some(_) if !kept.is_empty() => "null,\"kept\":true".to_string(),
            Some(o) => serde_json::to_string(o).unwrap_or_else(|_| "null".into()),
            None => "null".into(),
        };
        let message = format!(
            "{{\"key\":{},\"outcome\":{told}}}",
            serde_json::Value::from(question.key.as_str())
        );
        let result: Result<i64, _> = self
            .told
            .key(answer_key)
            .key(lock_key)
            .arg(token)
            .arg(if kept.is_empty() { 0 } else { ttl_ms })
            .arg(kept)
            .arg(&self.channel)
            .arg(message)
            .invoke_async(&mut self.conn.short())
            .await;
        if let Err(e) = result
            && let Some(held_back) = REDIS_AWAY.allow()
        {
            tracing::warn!(provider = %question.provider, error = %e, held_back, "the airline's answer could not be kept in Redis (one line per 10 s)");
        }
        outcome
    }

    /// The answer another process just kept, as that process's live answer
    /// (not marked as read from the cache).
    async fn kept(&self, answer_key: &str) -> Option<Outcome> {
        let bytes: Option<Vec<u8>> = redis::cmd("GET")
            .arg(answer_key)
            .query_async(&mut self.conn.short())
            .await
            .ok()?;
        match serde_json::from_slice::<Outcome>(&bytes?).ok()? {
            Outcome::Ok { offers, .. } => Some(Outcome::Ok {
                offers,
                stored_at: None,
            }),
            other => Some(other),
        }
    }

    /// The kept answer's key and the question's lock, on one slot.
    fn keys(&self, key: &str) -> (String, String) {
        (
            self.conn.key(&format!("answer:{{{key}}}")),
            self.conn.key(&format!("answer-lock:{{{key}}}")),
        )
    }
}

/// Follows the answers channel until shutdown, reconnecting after an
/// error; while it is away, waiters time out and ask themselves.
async fn listen(conn: Arc<RedisConn>, channel: String, waiters: Arc<Waiters>, shutdown: Shutdown) {
    let mut backoff = Backoff::default();
    loop {
        let Some(pubsub) = conn.subscribe(&channel, &shutdown).await else {
            return;
        };
        match pubsub {
            Ok(pubsub) => {
                backoff.reset();
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        m = messages.next() => m,
                        _ = shutdown.wait() => return,
                    };
                    let Some(message) = message else { break };
                    waiters.deliver(message.get_payload_bytes());
                }
                tracing::warn!("the answers channel closed; subscribing again");
            }
            Err(e) => {
                tracing::warn!(error = %Chain(&e), "subscribing to the answers channel failed");
            }
        }
        let wait = backoff.next_wait();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait() => return,
        }
    }
}
