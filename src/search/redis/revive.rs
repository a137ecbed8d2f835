//! Writing again a search that Redis lost: a write a master acknowledged
//! is lost when the master dies before its replica received it, and the
//! replica takes over without it (Redis replicates asynchronously). The
//! process that accepted the search still has it, and its events as its
//! own clients saw them; at the deadline it writes the search again from
//! those, and ends it like any other (each airline without an answer
//! `timeout`, then `complete`), so every accepted search completes.

use serde::Deserialize;

use super::RedisStore;
use super::local::Revive;
use super::stored::tagged;
use crate::bus::BusError;
use crate::fault::Fault;
use crate::search::events::{AirlineProgress, EventKind};

/// The fields of a `provider` event that make an airline's progress.
#[derive(Deserialize)]
struct ProviderEvent {
    provider: String,
    #[serde(flatten)]
    progress: AirlineProgress,
}

impl RedisStore {
    /// Writes a lost search again from what this process holds, then ends
    /// it at once (its deadline has passed).
    pub(super) async fn revive(&self, revive: Revive) -> Result<(), BusError> {
        let request = &revive.request;
        let id = request.search_id;
        let json = serde_json::to_vec(request).map_err(|e| BusError::Protocol(Fault::of(e)))?;
        let (events, _) = revive
            .log
            .as_ref()
            .map(|log| log.events_after(0))
            .unwrap_or_default();
        // Its events before `complete`: the search is ended afresh.
        let events: Vec<_> = events
            .into_iter()
            .take_while(|e| e.kind != EventKind::Complete)
            .collect();
        let mut progress: Vec<(&str, AirlineProgress)> = request
            .providers
            .iter()
            .map(|p| (p.as_str(), AirlineProgress::pending()))
            .collect();
        for event in events.iter().filter(|e| e.kind == EventKind::Provider) {
            if let Ok(answered) = serde_json::from_slice::<ProviderEvent>(&event.data)
                && let Some(slot) = progress.iter_mut().find(|(p, _)| *p == answered.provider)
            {
                slot.1 = answered.progress;
            }
        }
        let progress: Vec<(&str, &AirlineProgress)> = progress
            .iter()
            .map(|(p, progress)| (*p, progress))
            .collect();
        let tagged_events: Vec<Vec<u8>> = events.iter().map(|e| tagged(e.kind, &e.data)).collect();
        let pipe = self.stored_search(
            request,
            &json,
            revive.expires,
            &revive.client,
            &progress,
            &tagged_events,
        );
        let mut conn = self.redis.short();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| crate::bus::redis_conn::bus_error(e, "", ""))?;
        tracing::warn!(search_id = %id, events = tagged_events.len(), "a search lost by Redis (a failover?) was written again by the process that accepted it, and ended");
        self.expire_now(&[id]).await.map(drop)
    }
}
