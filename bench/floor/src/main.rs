//! The floor of airstream's benchmarks: a server on the same stack (tokio,
//! hyper through axum) that answers airstream's two exchanges with bytes
//! recorded from a real search and does no other work. Whatever airstream
//! spends beyond it is airstream's own; throughput and memory goals are
//! ratios to it, measured in the same run (`bench/floor.sh`).
//!
//! - `POST /api/flights/search`: `202` with the recorded envelope.
//! - `GET /api/flights/search/{id}/stream`: the recorded SSE body, or, with
//!   `--idle`, a stream that stays open with keepalive comments only.
//! - `GET /healthz`: `200`, for the load generator's preflight.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use clap::Parser;

/// The floor server.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3900")]
    listen: SocketAddr,
    /// The `202` body a search answered, recorded.
    #[arg(long)]
    post: PathBuf,
    /// The SSE body of that search's stream, recorded.
    #[arg(long)]
    stream: PathBuf,
    /// Hold every stream open with keepalive comments instead.
    #[arg(long)]
    idle: bool,
    /// Interval of the keepalive comments of `--idle` streams.
    #[arg(long, default_value = "15")]
    keepalive_secs: u64,
}

/// The recorded bytes, shared by every answer.
#[derive(Clone)]
struct Recorded {
    post: Bytes,
    stream: Bytes,
    idle: Option<Duration>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let recorded = Recorded {
        post: std::fs::read(&args.post)
            .map_err(|e| format!("{}: {e}", args.post.display()))?
            .into(),
        stream: std::fs::read(&args.stream)
            .map_err(|e| format!("{}: {e}", args.stream.display()))?
            .into(),
        idle: args
            .idle
            .then(|| Duration::from_secs(args.keepalive_secs.max(1))),
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/flights/search", post(search))
        .route("/api/flights/search/{id}/stream", get(stream))
        .with_state(recorded);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("floor listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn search(State(recorded): State<Recorded>) -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        recorded.post,
    )
        .into_response()
}

async fn stream(State(recorded): State<Recorded>) -> Response {
    let body = match recorded.idle {
        None => Body::from(recorded.stream),
        Some(every) => Body::from_stream(futures::stream::unfold((), move |()| async move {
            tokio::time::sleep(every).await;
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from_static(b": keepalive\n\n")),
                (),
            ))
        })),
    };
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
