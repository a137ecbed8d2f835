//! The Redis connections of one process, and what a Redis error means for
//! the broker. Short commands share one multiplexed connection, which
//! pipelines concurrent commands on one socket: on one Redis a
//! self-reconnecting `ConnectionManager` (a deadpool pool was tried first
//! and measured at half the throughput, because each checkout costs a
//! recycle round trip, `UNWATCH` and `PING`); on a Redis Cluster the
//! crate's cluster connection, which routes by slot and follows
//! redirections and failovers ([`Link`]). Each blocking reader gets its own
//! connection with no response timeout: the client's default 500 ms would
//! cut `XREADGROUP ... BLOCK` short, and a blocking command would stall
//! every command multiplexed with it. The bus, the Redis search store, the
//! shared cache, the rate limit and the live set of airlines all reach
//! Redis through here.
//!
//! `redis_url` names one Redis, or any node of a cluster (found out with
//! `INFO cluster`), or several nodes of a cluster separated by commas.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use tokio::sync::Mutex;

use super::error::BusError;
use super::redis_link::Link;
use crate::fault::Fault;
use crate::shutdown::Shutdown;

/// How long a short command waits for its answer: while Redis is away it
/// fails within a few seconds (a search is refused with 503 rather than
/// left hanging).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a short command may take on a cluster, retries and
/// redirections included: a failover quicker than this (a short
/// `cluster-node-timeout`) is ridden out; a longer one refuses new
/// searches with 503 meanwhile, as an outage of one Redis does, well
/// within the HTTP request timeout.
const CLUSTER_OVERALL_TIMEOUT: Duration = Duration::from_secs(4);
/// How long opening the short-command connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long opening a blocking reader's connection may take.
const READER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the connections go to.
enum Target {
    /// One Redis.
    One(redis::Client),
    /// A Redis Cluster: a client for the blocking readers (no response
    /// timeout), and one client per seed node for Pub/Sub, which a cluster
    /// broadcasts to every node.
    Cluster {
        readers: ClusterClient,
        nodes: Vec<redis::Client>,
    },
}

/// One process's connections to Redis, with every key's prefix.
pub struct RedisConn {
    target: Target,
    shared: Link,
    prefix: String,
    /// One connection per blocking reader, opened on first use and dropped
    /// on error so the next read reconnects.
    readers: Mutex<HashMap<String, Link>>,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn")
            .field("prefix", &self.prefix)
            .field("cluster", &self.is_cluster())
            .finish_non_exhaustive()
    }
}

impl RedisConn {
    /// Connects to `url` (checking it answers), with every key prefixed by
    /// `prefix`: one Redis, or a cluster when `url` lists several nodes or
    /// its one node is a cluster's.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BusError> {
        let bad = |e: redis::RedisError| {
            BusError::Unavailable(Fault::caused_by(format!("bad Redis URL: {e}"), e))
        };
        let seeds: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let nodes = seeds
            .iter()
            .map(|seed| redis::Client::open(*seed))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let Some(first) = nodes.first().cloned() else {
            return Err(BusError::Unavailable(Fault::new("no Redis URL given")));
        };
        let cluster = nodes.len() > 1 || is_cluster_node(&first).await?;
        let (target, shared) = if cluster {
            let short = ClusterClient::builder(seeds.clone())
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .overall_response_timeout(Some(CLUSTER_OVERALL_TIMEOUT))
                .build()
                .map_err(bad)?;
            let readers = ClusterClient::builder(seeds)
                .connection_timeout(READER_CONNECT_TIMEOUT)
                .build()
                .map_err(bad)?;
            let shared = short
                .get_async_connection()
                .await
                .map_err(|e| BusError::Unavailable(Fault::of(e)))?;
            (Target::Cluster { readers, nodes }, Link::Cluster(shared))
        } else {
            // The manager reconnects on its own when Redis is back.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_secs(1));
            let shared = ConnectionManager::new_with_config(first.clone(), config)
                .await
                .map_err(|e| BusError::Unavailable(Fault::of(e)))?;
            (Target::One(first), Link::Managed(shared))
        };
        let conn = Self {
            target,
            shared,
            prefix: prefix.to_string(),
            readers: Mutex::new(HashMap::new()),
        };
        conn.ping().await?;
        Ok(conn)
    }

    /// Whether the connections go to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster { .. })
    }

    /// A key's full name, with the configured prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// The shared connection for short commands.
    pub fn short(&self) -> Link {
        self.shared.clone()
    }

    /// The blocking reader `name`'s own connection, opened on first use.
    pub async fn reader(&self, name: &str) -> Result<Link, BusError> {
        let mut readers = self.readers.lock().await;
        if let Some(conn) = readers.get(name) {
            return Ok(conn.clone());
        }
        let conn = match &self.target {
            Target::One(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_response_timeout(None)
                    .set_connection_timeout(Some(READER_CONNECT_TIMEOUT));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Link::Plain)
            }
            // No response timeout unless set: a cluster's blocking read
            // waits as long as its BLOCK.
            Target::Cluster { readers, .. } => {
                readers.get_async_connection().await.map(Link::Cluster)
            }
        }
        .map_err(|e| BusError::Unavailable(Fault::of(e)))?;
        readers.insert(name.to_string(), conn.clone());
        Ok(conn)
    }

    /// A new Pub/Sub connection; on a cluster, to the first seed node that
    /// answers (a cluster delivers every message to every node).
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, redis::RedisError> {
        match &self.target {
            Target::One(client) => client.get_async_pubsub().await,
            Target::Cluster { nodes, .. } => {
                let mut last = None;
                for node in nodes {
                    match node.get_async_pubsub().await {
                        Ok(pubsub) => return Ok(pubsub),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "no cluster node to subscribe on",
                    ))
                }))
            }
        }
    }

    /// A new Pub/Sub connection subscribed to `channel`, or `None` when
    /// shutdown comes first.
    pub async fn subscribe(
        &self,
        channel: &str,
        shutdown: &Shutdown,
    ) -> Option<Result<redis::aio::PubSub, redis::RedisError>> {
        let subscribed = async {
            let mut pubsub = self.pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok(pubsub)
        };
        tokio::select! {
            r = subscribed => Some(r),
            _ = shutdown.wait() => None,
        }
    }

    /// Forgets a reader's connection after an error, so the next read
    /// reconnects.
    pub async fn drop_reader(&self, name: &str) {
        self.readers.lock().await.remove(name);
    }

    /// `SCRIPT LOAD`s a script (on every node of a cluster), so that calls
    /// by its SHA-1 (`EVALSHA`) find it.
    pub async fn load_script(&self, source: &str) -> Result<(), redis::RedisError> {
        let mut conn = self.short();
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(source)
            .query_async::<redis::Value>(&mut conn)
            .await
            .map(drop)
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.short();
        let _: redis::Value = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| BusError::Unavailable(Fault::of(e)))?;
        Ok(())
    }
}

/// Whether one Redis is a node of a cluster (`cluster_enabled:1`). A Redis
/// that does not let this user run `INFO` is taken for a single one.
async fn is_cluster_node(client: &redis::Client) -> Result<bool, BusError> {
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| BusError::Unavailable(Fault::of(e)))?;
    Ok(redis::cmd("INFO")
        .arg("cluster")
        .query_async::<String>(&mut conn)
        .await
        .is_ok_and(|info| info.lines().any(|l| l.trim() == "cluster_enabled:1")))
}

/// Maps a Redis error to the bus's: a missing group, a broker that cannot be
/// reached, or anything else as a protocol error.
pub fn bus_error(e: redis::RedisError, stream: &str, group: &str) -> BusError {
    if e.code() == Some("NOGROUP") {
        BusError::NoGroup {
            stream: stream.to_string(),
            group: group.to_string(),
        }
    } else if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
    {
        BusError::Unavailable(Fault::of(e))
    } else if let Some(reason) = server_code(&e).as_deref().and_then(refusal) {
        // Redis is there but refuses the write for now: the broker's
        // trouble, never the client's.
        BusError::Unavailable(Fault::caused_by(reason, e))
    } else {
        BusError::Protocol(Fault::of(e))
    }
}

/// The error code Redis answered with, also inside a pipeline's failure.
fn server_code(e: &redis::RedisError) -> Option<String> {
    e.code().map(str::to_string).or_else(|| {
        let items = e.clone().into_server_errors()?;
        items.first().map(|(_, error)| error.code().to_string())
    })
}

/// Plain words for the error codes of a Redis that refuses a command for
/// now, and will take it again once it recovers.
fn refusal(code: &str) -> Option<&'static str> {
    Some(match code {
        "OOM" => "Redis is out of memory and refuses writes (maxmemory reached)",
        "READONLY" => "Redis is a read-only replica (failing over?)",
        "MASTERDOWN" => "Redis has lost its master",
        "LOADING" => "Redis is loading its data set",
        "BUSY" => "Redis is busy running a script",
        "TRYAGAIN" | "CLUSTERDOWN" => "the Redis cluster is not ready",
        "MISCONF" => "Redis cannot persist its data and refuses writes",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error Redis answers with `reply`, a RESP error line.
    fn answered(reply: &str) -> redis::RedisError {
        redis::parse_redis_value(format!("-{reply}\r\n").as_bytes())
            .and_then(redis::Value::extract_error)
            .unwrap_err()
    }

    #[test]
    fn a_missing_group_names_its_stream_and_group() {
        let e = bus_error(answered("NOGROUP No such key or consumer group"), "s", "g");
        assert!(
            matches!(&e, BusError::NoGroup { stream, group } if stream == "s" && group == "g"),
            "{e}"
        );
    }

    #[test]
    fn a_redis_that_cannot_be_reached_is_unavailable() {
        for kind in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::TimedOut,
        ] {
            let e = bus_error(std::io::Error::from(kind).into(), "", "");
            assert!(matches!(e, BusError::Unavailable(_)), "{kind:?}: {e}");
        }
    }

    #[test]
    fn a_redis_that_refuses_for_now_is_unavailable_in_plain_words() {
        let e = bus_error(
            answered("OOM command not allowed when used memory > 'maxmemory'."),
            "",
            "",
        );
        assert!(matches!(e, BusError::Unavailable(_)), "{e}");
        assert!(e.to_string().contains("out of memory"), "{e}");
        for code in [
            "READONLY",
            "MASTERDOWN",
            "LOADING",
            "BUSY",
            "TRYAGAIN",
            "MISCONF",
        ] {
            let e = bus_error(answered(&format!("{code} not now")), "", "");
            assert!(matches!(e, BusError::Unavailable(_)), "{code}: {e}");
        }
    }

    #[test]
    fn anything_else_is_a_protocol_error() {
        let e = bus_error(answered("ERR unknown command 'NOPE'"), "", "");
        assert!(matches!(e, BusError::Protocol(_)), "{e}");
        let e = bus_error(answered("WRONGTYPE Operation against a key"), "", "");
        assert!(matches!(e, BusError::Protocol(_)), "{e}");
    }
}
