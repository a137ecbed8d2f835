//! How a deployment's partitioned keys lie over a Redis Cluster's masters,
//! logged at start: each master with the partitions it holds, and a
//! warning for masters that hold none, whose share of the load then goes
//! to the others.

use std::collections::BTreeMap;

use redis::Value;

use super::redis_conn::RedisConn;
use super::slots::slot;

/// The masters of a cluster, each with the slot ranges it serves
/// (`CLUSTER SLOTS`).
pub async fn masters(redis: &RedisConn) -> Result<Vec<(u16, u16, String)>, redis::RedisError> {
    let mut conn = redis.short();
    let ranges: Vec<Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await?;
    let mut out = Vec::new();
    for range in ranges {
        let Value::Array(items) = range else { continue };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (items.first(), items.get(1), items.get(2))
        else {
            continue;
        };
        let host = match master.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => continue,
        };
        let Some(Value::Int(port)) = master.get(1) else {
            continue;
        };
        out.push((*start as u16, *end as u16, format!("{host}:{port}")));
    }
    Ok(out)
}

/// Which master holds each of `keys` (by group: `(what, key)`), or `None`
/// when the cluster's slots cannot be read.
async fn lay_out<'a>(
    redis: &RedisConn,
    keys: impl IntoIterator<Item = (&'a str, String)>,
) -> Option<BTreeMap<String, Vec<(&'a str, String)>>> {
    let masters = match masters(redis).await {
        Ok(masters) => masters,
        Err(e) => {
            tracing::warn!(error = %e, "the cluster's slots could not be read; the spread of the streams is not checked");
            return None;
        }
    };
    let mut by_master: BTreeMap<String, Vec<(&str, String)>> = masters
        .iter()
        .map(|(_, _, addr)| (addr.clone(), Vec::new()))
        .collect();
    for (what, key) in keys {
        let at = slot(key.as_bytes());
        if let Some((_, _, addr)) = masters.iter().find(|(s, e, _)| (*s..=*e).contains(&at)) {
            by_master.entry(addr.clone()).or_default().push((what, key));
        }
    }
    Some(by_master)
}

/// Logs where `keys` lie over the masters, and warns of masters that hold
/// none of those in `spread`.
pub async fn log_spread(redis: &RedisConn, keys: Vec<(&'static str, String)>, spread: &[&str]) {
    let Some(by_master) = lay_out(redis, keys).await else {
        return;
    };
    let mut idle = Vec::new();
    for (master, keys) in &by_master {
        let held: Vec<&str> = keys.iter().map(|(_, key)| key.as_str()).collect();
        tracing::info!(master = %master, keys = ?held, "partitioned keys on this Redis Cluster master");
        if !keys.iter().any(|(what, _)| spread.contains(what)) {
            idle.push(master.clone());
        }
    }
    if !idle.is_empty() {
        tracing::warn!(
            idle = ?idle,
            masters = by_master.len(),
            "these Redis Cluster masters hold no partition of the requested and results streams, so the others carry their load: set redis.partitions to at least the number of masters"
        );
    }
}
