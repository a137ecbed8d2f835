//! One connection to Redis, whether one server or a Redis Cluster, as the
//! `redis` crate's connection trait, so every caller's commands and
//! pipelines run on either. On a cluster, the crate's cluster connection
//! routes each command to the master of its key's slot and follows
//! `MOVED`/`ASK` redirections and failovers itself; a pipeline whose
//! commands live on several slots is sent as one pipeline per slot, at
//! once, and its replies put back in order.

use futures::{StreamExt, TryStreamExt, stream};
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Arg, Cmd, Pipeline, RedisFuture, Value};

use super::slots::slot;

/// A connection to one Redis (self-reconnecting or plain) or to a cluster.
#[derive(Clone)]
pub enum Link {
    /// The shared connection to one Redis, which reconnects by itself.
    Managed(ConnectionManager),
    /// A blocking reader's own connection to one Redis.
    Plain(MultiplexedConnection),
    /// A connection to every node of a cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Managed(c) => c.req_packed_command(cmd),
            Link::Plain(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Plain(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => {
                if pipeline.is_transaction() {
                    c.req_packed_commands(pipeline, offset, count)
                } else {
                    Box::pin(by_slot(c.clone(), pipeline))
                }
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Managed(c) => c.get_db(),
            Link::Plain(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

/// The key a command is routed by: a script's first key, else the
/// command's first argument (every command airstream pipelines has one).
fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().filter_map(|arg| match arg {
        Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?;
    if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        let _script = args.next()?;
        let keys = args.next()?;
        return (keys != b"0").then(|| args.next()).flatten();
    }
    args.next()
}

/// Sub-pipelines of one pipeline in flight at once on a cluster.
const AT_ONCE: usize = 16;

/// Runs a pipeline on a cluster: one pipeline per slot, [`AT_ONCE`] at a
/// time, the replies in the order of the commands.
async fn by_slot(conn: ClusterConnection, pipeline: &Pipeline) -> redis::RedisResult<Vec<Value>> {
    let mut groups: Vec<(Option<u16>, Pipeline, Vec<usize>)> = Vec::new();
    for (at, cmd) in pipeline.cmd_iter().enumerate() {
        let slot = key_of(cmd).map(slot);
        let group = match groups.iter_mut().position(|(s, ..)| *s == slot) {
            Some(i) => &mut groups[i],
            None => {
                groups.push((slot, redis::pipe(), Vec::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        group.1.add_command(cmd.clone());
        group.2.push(at);
    }
    let subs: Vec<Pipeline> = groups
        .iter_mut()
        .map(|(_, sub, _)| std::mem::replace(sub, redis::pipe()))
        .collect();
    let replies: Vec<Vec<Value>> = stream::iter(subs.into_iter().map(|sub| {
        let mut conn = conn.clone();
        async move { conn.req_packed_commands(&sub, 0, sub.len()).await }
    }))
    .buffered(AT_ONCE)
    .try_collect()
    .await?;
    let mut out = vec![Value::Nil; pipeline.len()];
    for ((_, _, places), values) in groups.into_iter().zip(replies) {
        for (at, value) in places.into_iter().zip(values) {
            out[at] = value;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_routed_by_their_key_and_scripts_by_their_first_key() {
        let mut hset = redis::cmd("HSET");
        hset.arg("search:{a}").arg("f").arg(1);
        assert_eq!(key_of(&hset), Some(&b"search:{a}"[..]));
        let mut eval = redis::cmd("EVALSHA");
        eval.arg("abc").arg(1).arg("search:{b}").arg("x");
        assert_eq!(key_of(&eval), Some(&b"search:{b}"[..]));
        let mut keyless = redis::cmd("EVALSHA");
        keyless.arg("abc").arg(0).arg("x");
        assert_eq!(key_of(&keyless), None);
    }
}
