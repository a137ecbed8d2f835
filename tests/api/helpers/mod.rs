//! Test harness: airstream started exactly as `main` starts it, on port 0,
//! against a fresh temporary `providers.d/` ([`TestApp`]), or as a real
//! process ([`Process`]); one HTTP client of either ([`Api`]); a real
//! `redis-server` per test ([`RedisServer`]), or a Redis Cluster of them
//! ([`RedisCluster`]); and one way to wait for a
//! condition ([`eventually`]).

mod api;
mod app;
mod direct;
mod fixtures;
mod net;
mod process;
mod redis;
mod redis_cluster;
mod wait;

pub use api::{Api, SseEvent, read_events};
pub use app::TestApp;
pub use direct::Direct;
pub use fixtures::{
    cheapest_fare, date_in, fast_airline, mock_airline, pricier_airline, refused_at_a_line,
    sample_files, samples_dir, search_body, steady_sample_files,
};
pub use net::{free_port, metric};
pub use process::{Process, airstream};
pub use redis::RedisServer;
pub use redis_cluster::RedisCluster;
pub use wait::{WAIT, eventually};
