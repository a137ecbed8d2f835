//! The load tester against a fake airstream server: the closed and the open
//! loop, failed searches counted with their message, and an unreachable
//! server and bad options refused before the run.

use airstream_loadtest::{LoadtestArgs, LoadtestError, run};

fn args(extra: &[&str]) -> LoadtestArgs {
    LoadtestArgs::try_from_options(extra).expect("valid test arguments")
}

#[tokio::test]
async fn run_rejects_bad_arguments_before_any_request() {
    let err = run(&args(&["-n", "0"])).await.expect_err("invalid");
    assert!(err.to_string().contains("--searches"), "{err}");
}

/// A fake airstream server.
mod fake {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::Json;
    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::sse::{Event, Sse};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use futures::stream;

    /// How the fake answers.
    #[derive(Clone, Copy)]
    pub enum Mode {
        /// 202, then `offers`, `provider`, `offers`, `complete`.
        Ok,
        /// 202, then only `complete` with status partial.
        NoOffers,
        /// 503 to every POST.
        Unavailable,
    }

    #[derive(Clone)]
    struct AppState {
        mode: Mode,
        posts: Arc<AtomicU64>,
    }

    async fn submit(State(st): State<AppState>, body: axum::body::Bytes) -> Response {
        st.posts.fetch_add(1, Ordering::Relaxed);
        let request: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        };
        if request.get("from").is_none() || request.get("date").is_none() {
            return StatusCode::UNPROCESSABLE_ENTITY.into_response();
        }
        if let Mode::Unavailable = st.mode {
            let body = serde_json::json!({"success": false, "message": "broker unavailable"});
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
        let id = uuid::Uuid::new_v4();
        let body = serde_json::json!({
            "success": true,
            "message": "Search request submitted",
            "data": {
                "search_id": id,
                "status": "processing",
                "providers": ["garuda", "lion"],
                "stream_url": format!("/api/flights/search/{id}/stream"),
                "expires_at": "2030-01-01T00:00:00Z",
            }
        });
        (StatusCode::ACCEPTED, Json(body)).into_response()
    }

    async fn stream_events(State(st): State<AppState>, Path(_id): Path<String>) -> Response {
        let events: Vec<Event> = match st.mode {
            Mode::Ok => vec![
                Event::default()
                    .id("1")
                    .event("offers")
                    .data(r#"{"type":"offers","provider":"garuda","offers":[{"price":"1"}]}"#),
                Event::default()
                    .id("2")
                    .event("provider")
                    .data(r#"{"type":"provider","status":"ok","offers":1}"#),
                Event::default().id("3").event("offers").data(
                    r#"{"type":"offers","provider":"lion","offers":[{"price":"2"},{"price":"3"}]}"#,
                ),
                Event::default().id("4").event("complete").data(
                    r#"{"type":"complete","status":"completed","total_offers":3,"cheapest":[]}"#,
                ),
            ],
            Mode::NoOffers | Mode::Unavailable => {
                vec![Event::default().id("1").event("complete").data(
                    r#"{"type":"complete","status":"partial","total_offers":0,"cheapest":[]}"#,
                )]
            }
        };
        Sse::new(stream::iter(events.into_iter().map(Ok::<_, Infallible>))).into_response()
    }

    /// Serves the fake on 127.0.0.1:0; returns its base URL and the POST
    /// counter.
    pub async fn start(mode: Mode) -> (String, Arc<AtomicU64>) {
        let posts = Arc::new(AtomicU64::new(0));
        let state = AppState {
            mode,
            posts: Arc::clone(&posts),
        };
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/api/flights/search", post(submit))
            .route("/api/flights/search/{id}/stream", get(stream_events))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        (format!("http://{addr}"), posts)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_against_a_fake_server() {
    let (url, posts) = fake::start(fake::Mode::Ok).await;
    let report = run(&args(&["--url", &url, "-n", "200", "-c", "8"]))
        .await
        .expect("run");
    assert_eq!(report.searches, 200);
    assert_eq!(report.completed, 200, "{report:?}");
    assert_eq!((report.partial, report.errors), (0, 0), "{report:?}");
    assert!(report.error_samples.is_empty());
    assert_eq!(report.offers_total, 600);
    assert_eq!(report.time_to_first_offer.count, 200);
    assert_eq!(report.time_to_complete.count, 200);
    assert!(report.time_to_complete.p50_ms > 0.0);
    assert!(report.time_to_first_offer.p50_ms <= report.time_to_complete.max_ms);
    assert!(report.searches_per_sec > 0.0);
    assert_eq!(posts.load(std::sync::atomic::Ordering::Relaxed), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_without_offers() {
    let (url, _) = fake::start(fake::Mode::NoOffers).await;
    let report = run(&args(&[
        "--url", &url, "-n", "30", "-c", "30", "--rate", "300",
    ]))
    .await
    .expect("run");
    assert_eq!(
        (report.searches, report.partial, report.errors),
        (30, 30, 0),
        "{report:?}"
    );
    assert_eq!(report.completed, 0);
    assert_eq!(report.time_to_first_offer.count, 0);
    assert_eq!(report.time_to_complete.count, 30);
    // 30 searches at 300/s take at least ~0.1 s.
    assert!(report.elapsed_secs >= 0.09, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_errors_are_counted_with_the_message() {
    let (url, _) = fake::start(fake::Mode::Unavailable).await;
    let report = run(&args(&["--url", &url, "-n", "25", "-c", "5"]))
        .await
        .expect("run");
    assert_eq!(
        (report.completed, report.partial, report.errors),
        (0, 0, 25)
    );
    assert_eq!(report.error_samples.len(), 1, "{report:?}");
    let sample = &report.error_samples[0];
    assert_eq!(sample.count, 25);
    assert!(sample.message.contains("503"), "{}", sample.message);
    assert!(
        sample.message.contains("broker unavailable"),
        "{}",
        sample.message
    );
    assert_eq!(report.time_to_complete.count, 0);
    assert_eq!(report.searches_per_sec, 0.0);
    assert!(report.to_string().contains("broker unavailable"));
}

#[tokio::test]
async fn unreachable_server_is_a_clear_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let url = format!("http://{addr}");
    let err = run(&args(&["--url", &url])).await.expect_err("unreachable");
    assert!(matches!(err, LoadtestError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&url) && text.contains("/healthz"), "{text}");
}
