//! Test harness: starts airstream exactly as `main` does, on port 0, against
//! a fresh temporary `providers.d/`, and reads its SSE streams.

use std::path::{Path, PathBuf};
use std::time::Duration;

use airstream::config::Settings;
use airstream::shutdown::Shutdown;
use airstream::startup::Application;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// How long any wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running airstream.
pub struct TestApp {
    pub base: String,
    /// Its providers directory.
    pub dir: PathBuf,
    pub client: reqwest::Client,
    pub shutdown: Shutdown,
    pub server: Option<JoinHandle<Result<(), airstream::startup::StartupError>>>,
    _dir: Option<TempDir>,
    _redis: Option<RedisServer>,
}

/// Which bus the suite runs on: `E2E_BUS=redis` runs every
/// end-to-end test against its own real `redis-server`; anything else (the
/// default) on the embedded bus. `scripts/test.sh` runs the suite both ways.
pub fn redis_backend() -> bool {
    std::env::var("E2E_BUS").is_ok_and(|b| b == "redis")
}

/// One SSE event as a client sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: Value,
    pub retry: Option<Duration>,
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
        let redis = if redis_backend() {
            let server = RedisServer::start().await;
            settings.redis_url = Some(server.url.clone());
            Some(server)
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
            base,
            dir: providers_dir,
            client: reqwest::Client::new(),
            shutdown,
            server: Some(server),
            _dir: dir,
            _redis: redis,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a raw body to the search endpoint.
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/api/flights/search"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.expect("JSON body");
        (status, body)
    }

    /// POSTs a search.
    pub async fn post(&self, search: &Value) -> (u16, Value) {
        self.post_raw(search.to_string()).await
    }

    /// POSTs a search that must be accepted; returns its id.
    pub async fn submit(&self, search: &Value) -> String {
        let (status, body) = self.post(search).await;
        assert_eq!(status, 202, "{body}");
        body["data"]["search_id"]
            .as_str()
            .expect("search_id")
            .to_string()
    }

    /// GETs a JSON path.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON body"))
    }

    /// Opens a search's SSE stream with extra headers and query.
    pub async fn open_stream(
        &self,
        id: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .get(self.url(&format!("/api/flights/search/{id}/stream{query}")));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last);
        }
        request.send().await.expect("GET stream")
    }

    /// Reads a search's SSE stream until the server ends it.
    pub async fn stream(
        &self,
        id: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> Vec<SseEvent> {
        let response = self.open_stream(id, query, last_event_id).await;
        assert_eq!(response.status().as_u16(), 200);
        read_events(response).await
    }

    /// Polls until `check` holds for the snapshot (or the path 404s, when
    /// `check` accepts that), failing after [`WAIT`].
    pub async fn wait_for(&self, path: &str, check: impl Fn(u16, &Value) -> bool) -> Value {
        let started = std::time::Instant::now();
        loop {
            let (status, body) = self.get(path).await;
            if check(status, &body) {
                return body;
            }
            assert!(
                started.elapsed() < WAIT,
                "gave up waiting on {path}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
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

/// Reads SSE events from a response until it ends.
pub async fn read_events(response: reqwest::Response) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut stream = response.bytes_stream().eventsource();
    let read = async {
        while let Some(event) = stream.next().await {
            let event = event.expect("well-formed SSE");
            events.push(SseEvent {
                data: serde_json::from_str(&event.data).expect("event data is JSON"),
                id: event.id,
                event: event.event,
                retry: event.retry,
            });
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("stream ends in time");
    events
}

pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("providers.d")
}

/// A date `days` ahead of today (UTC), as `YYYY-MM-DD`.
pub fn date_in(days: i64) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    today
        .checked_add(jiff::Span::new().days(days))
        .expect("date")
        .to_string()
}

/// A valid search body for CGK to DPS two weeks ahead.
pub fn search_body() -> Value {
    json!({"from": "cgk", "to": "DPS", "date": date_in(14), "passengers": 2})
}

/// A minimal mock airline: CGK-DPS daily with two flights, DPS-CGK with one.
pub fn mock_airline(id: &str, code: &str, latency: &str, extra: &str) -> String {
    format!(
        r#"id: {id}
name: Test Air {code}
airline: {code}
{extra}
latency:
  {latency}
mock:
  currency: IDR
  seed: 7
  routes:
    - from: CGK
      to: DPS
      flights:
        - {{ number: {code}100, depart: "07:30", duration: 1h50m, fares: {{ economy: 1000000, business: 3000000 }}, seats: 9 }}
        - {{ number: {code}102, depart: "12:15", duration: 1h50m, fares: {{ economy: 900000 }}, seats: 9 }}
    - from: DPS
      to: CGK
      flights:
        - {{ number: {code}101, depart: "10:30", duration: 1h50m, fares: {{ economy: 1100000, business: 3200000 }}, seats: 9 }}
  pricing: {{ jitter: 0.05 }}
"#
    )
}

/// An airline that answers at once.
pub fn fast_airline(id: &str, code: &str) -> String {
    mock_airline(id, code, "fixed: 0ms", "")
}

/// `fast_airline` with fares ten times higher.
pub fn pricier_airline(id: &str, code: &str) -> String {
    fast_airline(id, code)
        .replace("economy: 1000000", "economy: 10000000")
        .replace("economy: 900000", "economy: 9000000")
}

/// The cheapest per-passenger fare of a `complete` event.
pub fn cheapest_fare(complete: &Value) -> u64 {
    complete["offers"][0]["price"]["per_passenger"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A real `redis-server` on a free port, for one test, stopped on drop.
pub struct RedisServer {
    pub url: String,
    port: u16,
    durable: bool,
    child: std::process::Child,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts `redis-server` with no persistence in a temporary directory and
    /// waits until it answers.
    pub async fn start() -> RedisServer {
        Self::start_with(false).await
    }

    /// Starts `redis-server` with every write in its append-only file before
    /// it is acknowledged (`appendfsync always`), as production should run,
    /// so a restart keeps what was acknowledged.
    pub async fn start_durable() -> RedisServer {
        Self::start_with(true).await
    }

    async fn start_with(durable: bool) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = spawn_redis(port, dir.path(), durable);
        let server = RedisServer {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            durable,
            child,
            _dir: dir,
        };
        wait_for_redis(port).await;
        server
    }

    /// Starts the server again on the same port: empty, or with what it
    /// had acknowledged when durable.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_redis(self.port, self._dir.path(), self.durable);
        wait_for_redis(self.port).await;
    }

    /// Stops the server at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until a redis-server on `port` answers PING.
async fn wait_for_redis(port: u16) {
    let started = std::time::Instant::now();
    loop {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut reply = [0u8; 7];
            if stream.write_all(b"PING\r\n").await.is_ok()
                && stream.read_exact(&mut reply).await.is_ok()
                && &reply == b"+PONG\r\n"
            {
                return;
            }
        }
        assert!(
            started.elapsed() < WAIT,
            "redis-server did not start on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `redis-server` on `port` in `dir`, durable or without
/// persistence.
fn spawn_redis(port: u16, dir: &Path, durable: bool) -> std::process::Child {
    let aof: &[&str] = if durable {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &["--appendonly", "no"]
    };
    std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(aof)
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test.sh installs it)")
}
