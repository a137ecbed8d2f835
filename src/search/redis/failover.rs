//! Watching a Redis Cluster for failovers. Redis copies a master's writes
//! to its replicas after acknowledging them, so a master that dies can take
//! a search's last writes with it (its `complete`, say) while this process
//! counts the search as ended. When the masters change, the searches this
//! process ended lately are ended again at their deadline: a search Redis
//! still has unchanged is left alone, one that lost its end gets it again,
//! and one that is gone is written again (see `revive.rs`).

use std::sync::Arc;
use std::time::Duration;

use super::RedisStore;
use crate::bus::spread::masters;
use crate::shutdown::Shutdown;

/// How often the cluster's masters are read.
const WATCH_EVERY: Duration = Duration::from_secs(1);

impl RedisStore {
    /// Reads the cluster's masters every [`WATCH_EVERY`] until shutdown;
    /// when they change, marks the searches ended here lately as at risk.
    /// Does nothing on a single Redis.
    pub async fn watch_failovers(self: Arc<Self>, shutdown: Shutdown) {
        if !self.redis.is_cluster() {
            return;
        }
        let mut known: Option<Vec<(u16, u16, String)>> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(WATCH_EVERY) => {}
                _ = shutdown.wait() => return,
            }
            // Unreadable while the cluster fails over: read again later.
            let Ok(mut now) = masters(&self.redis).await else {
                continue;
            };
            now.sort();
            if known.as_ref().is_some_and(|known| *known != now) {
                let searches = self.local.lock().expect("local lock").at_risk();
                tracing::warn!(
                    searches,
                    "the cluster's masters changed (a failover?): searches ended here lately are ended again at their deadline, in case Redis lost their last writes"
                );
                self.wake.notify_one();
            }
            known = Some(now);
        }
    }
}
