//! The run itself: the closed loop (workers, one search after another) or
//! the open loop (searches on a fixed schedule, capped in flight), every
//! outcome recorded in the statistics.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::error::LoadtestError;
use crate::plan::{LoadtestArgs, Plan};
use crate::report::Report;
use crate::search::{Ctx, one_search};
use crate::stats::{Outcome, ShardedStats, shard_count};

/// Runs the load test described by `args` and returns its report.
///
/// It validates the options, checks the server with `GET /healthz`, then runs
/// `args.searches` searches (closed loop, or open loop with `--rate`; see the
/// crate documentation). Failed searches are counted in the report, not
/// returned as errors.
pub async fn run(args: &LoadtestArgs) -> Result<Report, LoadtestError> {
    let plan = Plan::from_args(args)?;
    let ctx = Arc::new(Ctx::connect(&plan, &args.url).await?);
    let before = ctx.counters().await;
    let shards = shard_count(plan.concurrency);
    let stats = Arc::new(ShardedStats::new(shards, plan.max_wait)?);
    tracing::info!(
        url = %ctx.base,
        searches = plan.searches,
        concurrency = plan.concurrency,
        rate = ?plan.rate,
        "load test starting"
    );

    let started = Instant::now();
    match plan.rate {
        None => closed_loop(&ctx, &stats, plan.searches, plan.concurrency).await,
        Some(rate) => open_loop(&ctx, &stats, plan.searches, plan.concurrency, rate).await,
    }
    let elapsed = started.elapsed();

    let stats = stats.merged()?;
    let mut report = stats.into_report(plan.searches, elapsed);
    if let (Some(before), Some(after)) = (before, ctx.counters().await) {
        let finished = report.completed + report.partial;
        report.cost = Some(crate::cost::Cost::between(before, after, finished));
    }
    Ok(report)
}

/// Closed loop: `concurrency` workers pull search numbers from a counter.
async fn closed_loop(ctx: &Arc<Ctx>, stats: &Arc<ShardedStats>, searches: u64, concurrency: usize) {
    let next = Arc::new(AtomicU64::new(0));
    let workers = usize::try_from(searches).map_or(concurrency, |n| n.min(concurrency));
    let mut handles = Vec::with_capacity(workers);
    for worker in 0..workers {
        let ctx = Arc::clone(ctx);
        let stats = Arc::clone(stats);
        let next = Arc::clone(&next);
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= searches {
                    break;
                }
                let outcome = one_search(&ctx, i).await;
                stats.record(worker, outcome);
            }
        }));
    }
    for handle in handles {
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "load test worker failed");
        }
    }
}

/// Open loop: search `i` starts at `i / rate` s; at most `concurrency` in
/// flight, the others are dropped (and counted as errors).
async fn open_loop(
    ctx: &Arc<Ctx>,
    stats: &Arc<ShardedStats>,
    searches: u64,
    concurrency: usize,
    rate: f64,
) {
    // `concurrency <= MAX_CONCURRENCY` fits in u32 (checked in `Plan`).
    let permits = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let semaphore = Arc::new(Semaphore::new(permits as usize));
    let t0 = Instant::now();
    for i in 0..searches {
        // Bounded by MAX_SCHEDULE_SECS (checked in `Plan`).
        let due = Duration::try_from_secs_f64(i as f64 / rate)
            .ok()
            .and_then(|offset| t0.checked_add(offset));
        if let Some(due) = due
            && due > Instant::now()
        {
            tokio::time::sleep_until(due).await;
        }
        let shard = usize::try_from(i).unwrap_or(0);
        match Arc::clone(&semaphore).try_acquire_owned() {
            Ok(permit) => {
                let ctx = Arc::clone(ctx);
                let stats = Arc::clone(stats);
                tokio::spawn(async move {
                    let outcome = one_search(&ctx, i).await;
                    stats.record(shard, outcome);
                    drop(permit);
                });
            }
            Err(_) => stats.record(
                shard,
                Outcome::Failed(Cow::Owned(format!(
                    "dropped: {concurrency} searches already in flight (--concurrency cap)"
                ))),
            ),
        }
    }
    // Every permit back means every search has ended.
    if let Ok(all) = semaphore.acquire_many(permits).await {
        drop(all);
    }
}
