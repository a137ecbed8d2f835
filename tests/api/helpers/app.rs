//! airstream started inside the test exactly as `main` starts it, on port
//! 0, against a fresh temporary `providers.d/` (and its own
//! `redis-server`, or its own Redis Cluster, when the suite runs on one).

use std::path::PathBuf;

use airstream::config::Settings;
use airstream::shutdown::Shutdown;
use airstream::startup::Application;
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::api::Api;
use super::fixtures::samples_dir;
use super::redis::RedisServer;
use super::redis_cluster::RedisCluster;
use super::wait::WAIT;

/// A running airstream; as a client, it is its [`Api`].
pub struct TestApp {
    api: Api,
    /// Its providers directory.
    pub dir: PathBuf,
    pub shutdown: Shutdown,
    pub server: Option<JoinHandle<Result<(), airstream::startup::StartupError>>>,
    _dir: Option<TempDir>,
    _redis: Option<Redis>,
}

/// The Redis a test app runs on, stopped with it.
enum Redis {
    One(#[allow(dead_code)] RedisServer),
    Cluster(#[allow(dead_code)] RedisCluster),
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Which bus the suite runs on: `E2E_BUS=redis` runs every
/// end-to-end test against its own real `redis-server`, `E2E_BUS=cluster`
/// against its own Redis Cluster (3 masters, 3 replicas); anything else
/// (the default) on the embedded bus. `scripts/test.sh` runs the suite all
/// three ways.
pub fn redis_backend() -> bool {
    std::env::var("E2E_BUS").is_ok_and(|b| b == "redis" || b == "cluster")
}

fn cluster_backend() -> bool {
    std::env::var("E2E_BUS").is_ok_and(|b| b == "cluster")
}

impl TestApp {
    /// Starts with the given provider files (`(file name, YAML)`) in a fresh
    /// directory, letting `tune` adjust settings first.
    pub async fn with_providers(
        files: &[(&str, &str)],
        tune: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, yaml) in files {
            std::fs::write(dir.path().join(name), yaml).expect("write provider file");
        }
        let path = dir.path().to_path_buf();
        Self::start(path, Some(dir), tune).await
    }

    /// Starts against a providers directory the test has laid out itself
    /// (links, subdirectories), kept until the app is dropped.
    pub async fn in_dir(dir: TempDir, tune: impl FnOnce(&mut Settings)) -> TestApp {
        let path = dir.path().to_path_buf();
        Self::start(path, Some(dir), tune).await
    }

    /// Starts with the repository's sample `providers.d/`.
    pub async fn with_samples() -> TestApp {
        Self::start(samples_dir(), None, |_| {}).await
    }

    async fn start(
        providers_dir: PathBuf,
        dir: Option<TempDir>,
        tune: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let mut settings = Settings::for_tests(providers_dir.clone());
        let redis = if cluster_backend() {
            let cluster = RedisCluster::start(3, 1).await;
            settings.redis_url = Some(cluster.urls[..3].join(","));
            // One partition of the streams per master.
            settings.redis.partitions = 3;
            Some(Redis::Cluster(cluster))
        } else if redis_backend() {
            let server = RedisServer::start().await;
            settings.redis_url = Some(server.url.clone());
            Some(Redis::One(server))
        } else {
            None
        };
        tune(&mut settings);
        let shutdown = Shutdown::new();
        let app = Application::build(settings, shutdown.clone())
            .await
            .expect("app builds");
        let base = format!("http://{}", app.addr());
        let server = tokio::spawn(app.run_until_stopped());
        TestApp {
            api: Api::new(base, reqwest::Client::new()),
            dir: providers_dir,
            shutdown,
            server: Some(server),
            _dir: dir,
            _redis: redis,
        }
    }

    /// Trips shutdown and waits for the server to stop.
    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(WAIT, server)
                .await
                .expect("server stops in time")
                .expect("server task")
                .expect("server ran cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}
