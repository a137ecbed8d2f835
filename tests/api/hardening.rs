//! What hostile clients and an idle server found (issue 12): each test
//! drives a real `airstream` process through real sockets.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Api, Process, WAIT, date_in, eventually, fast_airline, pricier_airline};

/// A real `airstream serve` on a fresh providers directory holding
/// `files`, with `settings` as `AIRSTREAM_*` variables.
fn serve(files: &[(&str, String)], settings: &[(&str, &str)]) -> (tempfile::TempDir, Process) {
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml) in files {
        std::fs::write(dir.path().join(name), yaml).unwrap();
    }
    let mut envs = vec![("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str())];
    envs.extend(settings.iter().map(|(k, v)| (*k, std::ffi::OsStr::new(*v))));
    let process = Process::spawn(&[], &envs);
    (dir, process)
}

/// The value of an unlabelled counter on a process's `/metrics`.
async fn counter(api: &Api, name: &str) -> f64 {
    crate::helpers::metric(&api.get_text("/metrics").await, name)
}

#[tokio::test]
async fn an_idle_server_does_not_reread_its_providers_directory() {
    let (dir, process) = serve(&[("alpha.yaml", fast_airline("alpha", "AA"))], &[]);
    let scans = "airstream_provider_scans_total";
    // Start-up reads the directory, and the watcher once more when it starts.
    eventually("the directory to be read twice")
        .every(Duration::from_millis(50))
        .until(async || match counter(&process, scans).await {
            n if n >= 2.0 => Ok(()),
            n => Err(format!("{n} scans")),
        })
        .await;
    let settled = counter(&process, scans).await;
    // Nothing changes for three seconds: nothing is read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = counter(&process, scans).await;
    assert_eq!(idle, settled, "an idle server reread its directory");

    // A real change is still seen, and serves.
    std::fs::write(
        dir.path().join("alpha.yaml"),
        pricier_airline("alpha", "AA"),
    )
    .unwrap();
    let body = json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1});
    eventually("the edited fare to serve")
        .every(Duration::from_millis(50))
        .until(async || {
            let accepted = process.post_search(&body).await;
            let url = accepted["data"]["stream_url"].as_str().unwrap().to_string();
            let events = process.read_stream(&url).await;
            let complete = &events.last().unwrap().data;
            match crate::helpers::cheapest_fare(complete) {
                fare if fare > 5_000_000 => Ok(()),
                fare => Err(format!("cheapest fare {fare}")),
            }
        })
        .await;
    assert!(counter(&process, scans).await > idle);
    process.terminate().await;
}

#[test]
fn validate_into_a_closed_pipe_ends_quietly() {
    for args in [&["validate"][..], &["settings"][..]] {
        // A pipe whose reader is gone before anything is written, as with
        // `airstream validate | head -1` once head has its line.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = crate::helpers::airstream()
            .args(args)
            .env("AIRSTREAM_PROVIDERS_DIR", crate::helpers::samples_dir())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn the_test_command_installs_without_recommended_packages() {
    // Debian's docker-compose recommends docker.io: a Docker engine,
    // containerd and iptables for a tool that only parses a file here.
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test.sh"),
    )
    .unwrap();
    let installs: Vec<&str> = script
        .lines()
        .filter(|l| l.contains("apt-get install"))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(!installs.is_empty(), "the script installs nothing?");
    for line in installs {
        assert!(line.contains("--no-install-recommends"), "{line}");
    }
}

/// Opens `n` connections to `base` that each send half a request header
/// and then nothing.
async fn half_open(base: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let addr = base.trim_start_matches("http://").to_string();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        conns.push(tcp);
    }
    conns
}

/// Reads until the peer closes (end of file or reset); false if it is
/// still open at the deadline.
async fn closed_by_peer(tcp: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// One search for every airline, read to its `complete` event.
async fn one_search(api: &Api) -> serde_json::Value {
    let body = json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1});
    let accepted = api.post_search(&body).await;
    let url = accepted["data"]["stream_url"].as_str().unwrap().to_string();
    let events = api.read_stream(&url).await;
    events.last().unwrap().data.clone()
}

#[tokio::test]
async fn half_open_connections_neither_starve_probes_nor_stay_open() {
    airstream::api::server::raise_descriptor_limit().unwrap();
    let (_dir, process) = serve(
        &[("alpha.yaml", fast_airline("alpha", "AA"))],
        &[("AIRSTREAM_HTTP__HEADER_READ_TIMEOUT", "2s")],
    );
    let mut conns = half_open(&process.base, 3000).await;
    // Fresh clients are served while the half-open ones wait.
    let api = Api::new(
        &process.base,
        reqwest::Client::builder().timeout(WAIT).build().unwrap(),
    );
    let health = api.client.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let complete = one_search(&api).await;
    assert_eq!(complete["type"], "complete", "{complete}");
    // Every half-open connection is closed once its header is overdue.
    for tcp in &mut conns {
        assert!(
            closed_by_peer(tcp, WAIT).await,
            "a half-open connection stayed open"
        );
    }
    process.terminate().await;
}

#[tokio::test]
async fn beyond_the_connection_cap_a_new_connection_is_refused_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_dir, process) = serve(
        &[("alpha.yaml", fast_airline("alpha", "AA"))],
        &[
            ("AIRSTREAM_HTTP__MAX_CONNECTIONS", "40"),
            ("AIRSTREAM_HTTP__HEADER_READ_TIMEOUT", "3s"),
        ],
    );
    let conns = half_open(&process.base, 40).await;
    let addr = process.base.trim_start_matches("http://");
    let mut probe = tokio::net::TcpStream::connect(addr).await.unwrap();
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, probe.read_to_end(&mut answer))
        .await
        .expect("the refusal comes at once, not after a wait")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"success\":false"), "{answer}");
    // Once the half-open ones are closed, probes answer again.
    drop(conns);
    let api = Api::new(
        &process.base,
        reqwest::Client::builder().timeout(WAIT).build().unwrap(),
    );
    eventually("probes to answer again")
        .every(Duration::from_millis(50))
        .until(
            async || match api.client.get(api.url("/healthz")).send().await {
                Ok(r) if r.status() == 200 => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            },
        )
        .await;
    let metrics = api.get_text("/metrics").await;
    assert!(
        metrics.contains("airstream_http_connections_refused_total 1"),
        "{metrics}"
    );
    process.terminate().await;
}

/// An airline with `n` flights CGK-DPS, so one answer is a large event.
fn wide_airline(n: usize) -> String {
    let flights: String = (0..n)
        .map(|i| {
            format!(
                "        - {{ number: WD{i}, depart: \"{:02}:{:02}\", duration: 1h50m, fares: {{ economy: {} }}, seats: 9 }}\n",
                i % 24,
                i % 60,
                1_000_000 + i
            )
        })
        .collect();
    format!(
        "id: wide\nname: Wide Air\nairline: WD\nlatency:\n  fixed: 300ms\nmock:\n  currency: IDR\n  routes:\n    - from: CGK\n      to: DPS\n      flights:\n{flights}"
    )
}

/// Bytes the kernel queues on the server's side of the connection from
/// local port `client`, read from `/proc/net/tcp` (`tx_queue`).
fn server_send_queue(server: u16, client: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
        if port(cols[1])? != server || port(cols[2])? != client {
            return None;
        }
        u64::from_str_radix(cols[4].split(':').next()?, 16).ok()
    })
}

#[tokio::test]
async fn a_reader_that_never_reads_holds_a_bounded_queue_and_is_closed() {
    use tokio::io::AsyncWriteExt;
    let (_dir, process) = serve(
        &[("wide.yaml", wide_airline(600))],
        &[
            ("AIRSTREAM_HTTP__MAX_UNSENT_BYTES", "16384"),
            ("AIRSTREAM_HTTP__IDLE_TIMEOUT", "3s"),
            ("AIRSTREAM_SSE__KEEPALIVE", "1s"),
        ],
    );
    let api = Api::new(
        &process.base,
        reqwest::Client::builder().timeout(WAIT).build().unwrap(),
    );
    let body = json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1});
    let accepted = api.post_search(&body).await;
    let url = accepted["data"]["stream_url"].as_str().unwrap().to_string();
    // A client with a small receive buffer that asks and never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = process.base.trim_start_matches("http://").parse().unwrap();
    let mut slow = socket.connect(addr).await.unwrap();
    let slow_port = slow.local_addr().unwrap().port();
    slow.write_all(format!("GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // The stream (over 200 KB) goes on for a fast client.
    let events = api.read_stream(&url).await;
    assert_eq!(events.last().unwrap().event, "complete");
    // The slow one's queue in the kernel stays near the bound (the kernel
    // doubles a send buffer for its bookkeeping), not the whole stream.
    let queued = server_send_queue(addr.port(), slow_port).expect("the connection is open");
    assert!(
        queued <= 2 * 16384,
        "{queued} bytes queued for a reader that never reads"
    );
    // It is counted while open, and closed once nothing moved for the idle
    // timeout.
    let gauge = |text: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix("airstream_http_connections ")?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(-1.0)
    };
    let open = gauge(&api.get_text("/metrics").await);
    assert!(open >= 2.0, "the slow reader is not counted ({open} open)");
    eventually("the slow reader's connection to close")
        .every(Duration::from_millis(100))
        .until(async || {
            // This request's own connection is the only one left.
            let open = gauge(&api.get_text("/metrics").await);
            if open == 1.0 {
                Ok(())
            } else {
                Err(format!("{open} open"))
            }
        })
        .await;
    assert!(closed_by_peer(&mut slow, WAIT).await);
    process.terminate().await;
}
