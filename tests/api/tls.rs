//! TLS on the listener (issue 20): a real `airstream` process serving a
//! certificate made here for 127.0.0.1, driven through real sockets. HTTP/2
//! comes by ALPN, as browsers get it; 500 SSE streams share one connection;
//! the certificate is read again when its files change.
//!
//! Each test starts its own process on the embedded bus whatever `E2E_BUS`
//! says: TLS sits in front of the bus, and the figures read from `/metrics`
//! (open connections, open streams) must be this process's alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::json;

use crate::helpers::{
    Api, Process, WAIT, airstream, date_in, eventually, fast_airline, metric, samples_dir,
};

/// A certificate authority of this test, and what it signs.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A server certificate and its key, as PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        Ca {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    fn leaf(&self) -> Leaf {
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    fn root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.issuer.pem().as_bytes()).unwrap()
    }
}

/// Writes a file the way a certificate tool should: whole, then renamed
/// over the old one.
fn replace(path: &Path, text: &str) {
    let part = path.with_extension("part");
    std::fs::write(&part, text).unwrap();
    std::fs::rename(&part, path).unwrap();
}

/// A client trusting only `roots`, speaking whatever ALPN settles.
fn client(roots: &[&Ca]) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_certs_only(roots.iter().map(|ca| ca.root()))
        .tls_info(true)
        .timeout(WAIT)
}

/// A running TLS airstream and where its certificate files are.
struct TlsServer {
    process: Process,
    /// `https://127.0.0.1:PORT`.
    base: String,
    cert_file: PathBuf,
    key_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    /// Starts `airstream serve` serving `leaf`, with `files` as its
    /// providers and `settings` as `AIRSTREAM_*` variables.
    fn start(leaf: &Leaf, files: &[(&str, String)], settings: &[(&str, &str)]) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let providers = dir.path().join("providers.d");
        std::fs::create_dir(&providers).unwrap();
        for (name, yaml) in files {
            std::fs::write(providers.join(name), yaml).unwrap();
        }
        let cert_file = dir.path().join("cert.pem");
        let key_file = dir.path().join("key.pem");
        std::fs::write(&cert_file, &leaf.cert_pem).unwrap();
        std::fs::write(&key_file, &leaf.key_pem).unwrap();
        let mut envs = vec![
            ("AIRSTREAM_PROVIDERS_DIR", providers.as_os_str()),
            ("AIRSTREAM_TLS__CERT_FILE", cert_file.as_os_str()),
            ("AIRSTREAM_TLS__KEY_FILE", key_file.as_os_str()),
        ];
        envs.extend(settings.iter().map(|(k, v)| (*k, std::ffi::OsStr::new(*v))));
        let process = Process::spawn(&[], &envs);
        let base = process.base.replace("http://", "https://");
        TlsServer {
            process,
            base,
            cert_file,
            key_file,
            _dir: dir,
        }
    }

    fn api(&self, client: reqwest::Client) -> Api {
        Api::new(&self.base, client)
    }
}

/// The certificate the server presented to `response`'s connection.
fn presented(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the TLS details of the connection")
        .to_vec()
}

#[tokio::test]
async fn alpn_offers_http2_and_http1_and_plain_http_is_refused() {
    let ca = Ca::new("airstream test CA");
    let leaf = ca.leaf();
    let server = TlsServer::start(&leaf, &[("alpha.yaml", fast_airline("alpha", "AA"))], &[]);

    // A client that offers both gets HTTP/2, and a search streams through.
    let h2 = server.api(client(&[&ca]).build().unwrap());
    let health = h2.client.get(h2.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_2);
    assert_eq!(presented(&health), leaf.der);
    let body = json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1});
    let id = h2.submit(&body).await;
    let events = h2.stream(&id, "", None).await;
    assert_eq!(events.last().unwrap().event, "complete");

    // A client that offers HTTP/1.1 only is served HTTP/1.1.
    let h1 = server.api(client(&[&ca]).http1_only().build().unwrap());
    let health = h1.client.get(h1.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_11);
    let events = h1.stream(&id, "", None).await;
    assert_eq!(events.last().unwrap().event, "complete");

    // Plain HTTP, on either protocol, gets no answer on the TLS port.
    let plain = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let url = format!("{}/healthz", server.process.base);
    assert!(
        plain.get(&url).send().await.is_err(),
        "plain HTTP/1.1 answered"
    );
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(WAIT)
        .build()
        .unwrap();
    assert!(h2c.get(&url).send().await.is_err(), "plain HTTP/2 answered");
    server.process.terminate().await;
}

#[tokio::test]
async fn a_handshake_that_never_finishes_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca = Ca::new("airstream test CA");
    let server = TlsServer::start(
        &ca.leaf(),
        &[("alpha.yaml", fast_airline("alpha", "AA"))],
        // The idle timeout (60 s) is longer than any wait here: only the
        // handshake deadline can close these.
        &[("AIRSTREAM_HTTP__HEADER_READ_TIMEOUT", "1s")],
    );
    let addr = server
        .process
        .base
        .trim_start_matches("http://")
        .to_string();
    let silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut partial = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // The start of a TLS record (a handshake, 512 bytes long) and no more.
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    for mut tcp in [silent, partial] {
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a stalled handshake kept its connection");
    }
    server.process.terminate().await;
}

#[tokio::test]
async fn the_connection_cap_and_the_idle_timeout_hold_under_tls() {
    let ca = Ca::new("airstream test CA");
    let slow = crate::helpers::mock_airline("slow", "SL", "fixed: 60s", "timeout: 90s");
    let server = TlsServer::start(
        &ca.leaf(),
        &[("slow.yaml", slow)],
        &[
            ("AIRSTREAM_HTTP__MAX_CONNECTIONS", "2"),
            ("AIRSTREAM_HTTP__IDLE_TIMEOUT", "3s"),
            ("AIRSTREAM_SSE__KEEPALIVE", "1s"),
            ("AIRSTREAM_SEARCH__MAX_TIMEOUT", "90s"),
        ],
    );
    let body = json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1, "timeout_ms": 80_000});
    // Two connections kept busy by a waiting stream each (its keepalives
    // move bytes, so the idle timeout leaves them be): the cap is reached.
    let mut held = Vec::new();
    for _ in 0..2 {
        let api = server.api(client(&[&ca]).timeout(WAIT * 6).build().unwrap());
        let id = api.submit(&body).await;
        let stream = api.open_stream(&id, "", None).await;
        assert_eq!(stream.status(), 200);
        held.push((api, stream));
    }
    let third = server.api(client(&[&ca]).build().unwrap());
    let refused = third.client.get(third.url("/healthz")).send().await;
    assert!(refused.is_err(), "a connection beyond the cap was served");

    // Once one stream ends, its connection (still in its client's pool)
    // moves nothing and is closed by the idle timeout, freeing its slot.
    let (_idle_client, stream) = held.pop().unwrap();
    drop(stream);
    eventually("a connection slot to be freed by the idle timeout")
        .every(Duration::from_millis(200))
        .until(async || {
            let fresh = client(&[&ca]).build().unwrap();
            match fresh.get(format!("{}/healthz", server.base)).send().await {
                Ok(r) if r.status() == 200 => Ok(()),
                Ok(r) => Err(format!("{}", r.status())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    server.process.terminate().await;
}

/// An upstream airline whose every answer waits until the test opens the
/// gate: searches stay open for as long as the test needs, however slow
/// the machine, and none can finish early.
async fn gated_upstream() -> (String, tokio::sync::watch::Sender<bool>) {
    let (open, gate) = tokio::sync::watch::channel(false);
    let app = axum::Router::new().route(
        "/fares",
        axum::routing::get(move || {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                axum::Json(json!({"items": []}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, open)
}

fn gated_airline(base: &str) -> String {
    format!(
        r#"id: gated
name: Gated Air
airline: GT
timeout: 90s
concurrency: 1000
upstream:
  url: "{base}/fares"
  response:
    offers: body.items
    map: {{ flight_number: item.f, depart_at: item.d, arrive_at: item.a, price: item.p, currency: item.c }}
"#
    )
}

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn five_hundred_sse_streams_share_one_http2_connection() {
    const STREAMS: usize = 500;
    let ca = Ca::new("airstream test CA");
    let (upstream, gate) = gated_upstream().await;
    let server = TlsServer::start(
        &ca.leaf(),
        &[("gated.yaml", gated_airline(&upstream))],
        &[("AIRSTREAM_SEARCH__MAX_TIMEOUT", "120s")],
    );
    let api = server.api(client(&[&ca]).timeout(WAIT * 6).build().unwrap());
    // One request first, so the pool holds an HTTP/2 connection before
    // the rush: requests sent before it exists would each dial their own.
    let health = api.client.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(health.version(), reqwest::Version::HTTP_2);
    let body = json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1, "timeout_ms": 100_000});
    let ids: Vec<String> = futures::stream::iter(0..STREAMS)
        .map(|_| api.submit(&body))
        .buffer_unordered(32)
        .collect()
        .await;
    let rss_before = rss_kib(server.process.child.id());

    let streams: Vec<_> = ids
        .iter()
        .map(|id| {
            let api = api.clone();
            let url = api.url(&format!("/api/flights/search/{id}/stream"));
            tokio::spawn(async move {
                let response = api.client.get(url).send().await.expect("GET stream");
                assert_eq!(response.status(), 200);
                assert_eq!(response.version(), reqwest::Version::HTTP_2);
                let mut events = response.bytes_stream().eventsource();
                let mut last = String::new();
                while let Some(event) = events.next().await {
                    last = event.expect("well-formed SSE").event;
                }
                last
            })
        })
        .collect();

    // Every stream is open at once (none can end before the gate opens),
    // and all of them, with every other request, on one connection.
    let text = eventually(format!("{STREAMS} SSE streams open at once"))
        .every(Duration::from_millis(200))
        .until(async || {
            let text = api.get_text("/metrics").await;
            match metric(&text, "airstream_sse_connections") {
                n if n >= STREAMS as f64 => Ok(text),
                n => Err(format!("{n} open")),
            }
        })
        .await;
    assert_eq!(metric(&text, "airstream_http_connections"), 1.0, "{text}");
    let rss_open = rss_kib(server.process.child.id());
    println!(
        "{STREAMS} SSE streams over one HTTP/2 TLS connection: server RSS {} KiB before, {} KiB with them open, {:.1} KiB per stream (debug build)",
        rss_before,
        rss_open,
        rss_open.saturating_sub(rss_before) as f64 / STREAMS as f64
    );

    gate.send_replace(true);
    for stream in streams {
        let last = tokio::time::timeout(WAIT * 3, stream)
            .await
            .expect("the stream ends once its search completes")
            .expect("stream task");
        assert_eq!(last, "complete");
    }
    let text = api.get_text("/metrics").await;
    assert_eq!(metric(&text, "airstream_http_connections"), 1.0, "{text}");
    server.process.terminate().await;
}

#[tokio::test]
async fn a_changed_certificate_serves_new_connections_and_a_broken_one_is_not_taken() {
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let server = TlsServer::start(
        &old_ca.leaf(),
        &[("alpha.yaml", fast_airline("alpha", "AA"))],
        &[],
    );
    // `/metrics` through a client that trusts either certificate.
    let watcher = server.api(client(&[&old_ca, &new_ca]).build().unwrap());
    let reloads = async |outcome: &str| {
        let text = watcher.get_text("/metrics").await;
        metric(
            &text,
            &format!("airstream_tls_reloads_total{{outcome=\"{outcome}\"}}"),
        )
    };
    let fresh = |ca: &Ca| client(&[ca]).build().unwrap();
    let health = |client: reqwest::Client| {
        let url = format!("{}/healthz", server.base);
        async move { client.get(url).send().await }
    };
    assert!(health(fresh(&old_ca)).await.is_ok());
    assert!(
        health(fresh(&new_ca)).await.is_err(),
        "the new CA trusted early"
    );
    assert_eq!(reloads("ok").await, 0.0);

    let new = new_ca.leaf();
    replace(&server.key_file, &new.key_pem);
    replace(&server.cert_file, &new.cert_pem);
    eventually("the new certificate to be read")
        .every(Duration::from_millis(100))
        .until(async || match reloads("ok").await {
            n if n >= 1.0 => Ok(()),
            n => Err(format!("{n} reloads")),
        })
        .await;
    let response = health(fresh(&new_ca)).await.expect("the new certificate");
    assert_eq!(presented(&response), new.der);
    assert!(
        health(fresh(&old_ca)).await.is_err(),
        "the old one still served"
    );

    // A broken file is refused; the certificate in force keeps serving.
    let errors = reloads("error").await;
    let secret =
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU*\n-----END CERTIFICATE-----\n";
    replace(&server.cert_file, secret);
    eventually("the broken certificate to be refused")
        .every(Duration::from_millis(100))
        .until(async || match reloads("error").await {
            n if n > errors => Ok(()),
            n => Err(format!("{n} failed reloads")),
        })
        .await;
    let warning = server.process.next_log("the reload warning", |log| {
        log["level"] == "WARN"
            && log["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("TLS certificate"))
    });
    let said = warning.to_string();
    assert!(said.contains("tls.cert_file"), "{said}");
    assert!(said.contains("cert.pem"), "{said}");
    assert!(
        !said.contains("bm90IGEg"),
        "the log quoted the file: {said}"
    );
    let response = health(fresh(&new_ca))
        .await
        .expect("the last good certificate");
    assert_eq!(presented(&response), new.der);
    server.process.terminate().await;
}

/// Runs `airstream serve` with `settings`; it must fail to start. Returns
/// what it said.
fn refused_start(settings: &[(&str, &std::ffi::OsStr)]) -> String {
    let mut cmd = airstream();
    cmd.arg("serve")
        .env("AIRSTREAM_LISTEN", "127.0.0.1:0")
        .env("AIRSTREAM_PROVIDERS_DIR", samples_dir());
    for (k, v) in settings {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(0), "started: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_certificate_or_key_that_cannot_serve_stops_the_start_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("airstream test CA");
    let (leaf, other) = (ca.leaf(), ca.leaf());
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cert = file("cert.pem", &leaf.cert_pem);
    let key = file("key.pem", &leaf.key_pem);
    let other_key = file("other-key.pem", &other.key_pem);
    let secret =
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw%%\n-----END PRIVATE KEY-----\n";
    let garbage = file("garbage.pem", secret);
    let missing = dir.path().join("missing.pem");
    let (cert_var, key_var) = ("AIRSTREAM_TLS__CERT_FILE", "AIRSTREAM_TLS__KEY_FILE");

    let said = refused_start(&[(cert_var, missing.as_os_str()), (key_var, key.as_os_str())]);
    assert!(said.contains("`tls.cert_file`"), "{said}");
    assert!(said.contains("missing.pem"), "{said}");
    assert!(said.contains("no such file"), "{said}");

    let said = refused_start(&[(cert_var, cert.as_os_str()), (key_var, garbage.as_os_str())]);
    assert!(said.contains("`tls.key_file`"), "{said}");
    assert!(said.contains("garbage.pem"), "{said}");
    assert!(said.contains("not valid base64"), "{said}");
    assert!(!said.contains("c2VjcmV0"), "the file was quoted: {said}");

    let said = refused_start(&[(cert_var, garbage.as_os_str()), (key_var, key.as_os_str())]);
    assert!(said.contains("`tls.cert_file`"), "{said}");
    assert!(!said.contains("c2VjcmV0"), "the file was quoted: {said}");

    let said = refused_start(&[
        (cert_var, cert.as_os_str()),
        (key_var, other_key.as_os_str()),
    ]);
    assert!(said.contains("`tls.key_file`"), "{said}");
    assert!(said.contains("other-key.pem"), "{said}");
    assert!(said.contains("does not match the certificate"), "{said}");
    assert!(!said.contains("PRIVATE KEY"), "the key was quoted: {said}");

    let said = refused_start(&[(cert_var, cert.as_os_str())]);
    assert!(
        said.contains("`tls.cert_file` is set but `tls.key_file` is not"),
        "{said}"
    );
    let said = refused_start(&[(key_var, key.as_os_str())]);
    assert!(
        said.contains("`tls.key_file` is set but `tls.cert_file` is not"),
        "{said}"
    );
}
