//! The accept loop and each connection's limits, so that clients on the open
//! internet cannot pin the server:
//!
//! - a request's header must arrive within `http.header_read_timeout`
//!   (hyper restarts that clock while a kept-alive connection waits for its
//!   next request, so it also bounds idle keep-alive);
//! - a connection that moves no byte either way for `http.idle_timeout` is
//!   closed, whatever protocol it speaks (an HTTP/2 connection, a partial
//!   preface);
//! - at most `http.max_connections` are open (by default the descriptor
//!   limit less a reserve for Redis, airline calls and files); beyond it a
//!   new connection gets a short `503` and is closed at once, instead of the
//!   process running out of descriptors and stalling every probe;
//! - the kernel queues at most `http.max_unsent_bytes` for a client (its
//!   send buffer, fixed instead of growing to megabytes), so a reader that
//!   never reads holds that much plus the one chunk hyper has in hand, until
//!   the idle timeout closes it (an SSE client then resumes with
//!   `Last-Event-ID`); its events wait in the search's shared log, not in a
//!   copy per client;
//! - one HTTP/2 connection carries at most `http.max_concurrent_streams`
//!   requests at once (hyper's default, 200, is fewer than a page of
//!   searches can open).
//!
//! With TLS on (`tls`), each accepted connection is guarded as above, and
//! TLS runs on top of the guarded socket: the idle timeout and the slot
//! cover the handshake too, and the handshake must end within
//! `http.header_read_timeout`. A TLS connection beyond the cap is closed
//! without the `503`, which it could not read.
//!
//! axum's own `serve` sets none of these: hyper's header timeout needs a
//! timer it does not give, and an accept error makes it sleep a second.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::shutdown::Shutdown;

/// What every connection is held to.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time for a request's header to arrive, and for a kept-alive
    /// connection to start its next request.
    pub header_read_timeout: Duration,
    /// Time a connection may move no byte in either direction.
    pub idle_timeout: Duration,
    /// Connections open at once, at most.
    pub max_connections: usize,
    /// The kernel's send buffer per connection, bytes.
    pub max_unsent_bytes: usize,
    /// Requests one HTTP/2 connection may have open at once.
    pub max_concurrent_streams: u32,
}

/// Client connections allowed under a descriptor limit: the limit less a
/// reserve (a tenth, 64 to 2,048) for Redis, airline APIs, provider files
/// and the log; at least 1, and no more than a semaphore can count.
pub fn connection_cap(limit: u64) -> usize {
    let reserve = (limit / 10).clamp(64, 2048);
    let cap = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    cap.clamp(1, Semaphore::MAX_PERMITS)
}

/// Raises this process's soft limit on open descriptors to its hard limit,
/// and returns `(soft before, soft now, hard)`.
pub fn raise_descriptor_limit() -> io::Result<(u64, u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((before, limit.rlim_cur, limit.rlim_max))
}

/// Serves `router` on `listener` until `shutdown`, then lets open
/// connections finish (SSE streams end on the same signal). With `tls`,
/// every connection speaks TLS.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: Shutdown,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    let mut last_error_logged: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of descriptors (something besides clients took them),
                // or a connection reset before it was accepted: log once a
                // second at most, and keep accepting.
                if last_error_logged.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    last_error_logged = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Without TCP_NODELAY, small SSE writes wait on the peer's delayed
        // ACK (Nagle), adding tens of milliseconds to a live stream.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        if let Err(e) = socket2::SockRef::from(&tcp).set_send_buffer_size(limits.max_unsent_bytes) {
            tracing::debug!(error = %e, "send buffer size not set");
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!(crate::metrics::HTTP_CONNECTIONS_REFUSED).increment(1);
            // A TLS client could not read a plain answer: it is closed.
            refuse(tcp, tls.is_none());
            continue;
        };
        let io = Guarded::new(tcp, limits, slot);
        let router = router.clone();
        let shutdown = shutdown.clone();
        match &tls {
            None => tracker.spawn(serve_connection(io, peer, router, limits, shutdown)),
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tracker.spawn(async move {
                    let deadline = limits.header_read_timeout;
                    let Some(io) =
                        super::tls::handshake(&acceptor, io, deadline, peer, &shutdown).await
                    else {
                        return;
                    };
                    serve_connection(io, peer, router, limits, shutdown).await;
                })
            }
        };
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

async fn serve_connection<IO>(
    io: IO,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Handlers see the peer's address (`ConnectInfo`), as with axum's own
    // server.
    let service = router.map_request(move |mut request: axum::http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.map(Body::new)
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // No HTTP/2 pings: they would keep an idle connection busy for ever;
    // the idle timeout closes it, and finds a dead peer.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams);
    let conn =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.wait(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The whole answer to a plain HTTP connection beyond the cap: written if
/// the socket takes it at once, then closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 85\r\n\r\n{\"success\":false,\"message\":\"the server has too many open connections; retry shortly\"}";

fn refuse(tcp: TcpStream, answer: bool) {
    // A fresh socket's send buffer is empty: the write does not block.
    if answer {
        let _ = tcp.try_write(REFUSAL);
    }
    if let Ok(std) = tcp.into_std() {
        let _ = std.shutdown(std::net::Shutdown::Both);
    }
}

/// A client connection with the idle timeout, counted in the
/// open-connections gauge while it lives.
struct Guarded {
    tcp: TcpStream,
    idle: Duration,
    /// Fires at the idle deadline; re-armed lazily from `last_active`.
    idle_timer: Pin<Box<Sleep>>,
    last_active: Instant,
    _slot: OwnedSemaphorePermit,
}

impl Guarded {
    fn new(tcp: TcpStream, limits: ConnectionLimits, slot: OwnedSemaphorePermit) -> Self {
        metrics::gauge!(crate::metrics::HTTP_CONNECTIONS).increment(1.0);
        let now = Instant::now();
        Self {
            tcp,
            idle: limits.idle_timeout,
            idle_timer: Box::pin(tokio::time::sleep_until(now + limits.idle_timeout)),
            last_active: now,
            _slot: slot,
        }
    }

    /// After a `Pending`: an error once nothing has moved for the idle
    /// timeout, else `Pending` with the timer armed.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            ready!(self.idle_timer.as_mut().poll(cx));
            let deadline = self.last_active + self.idle;
            if deadline <= Instant::now() {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no bytes moved within the idle timeout",
                ));
            }
            self.idle_timer.as_mut().reset(deadline);
        }
    }
}

impl Guarded {
    /// A write's outcome: activity when it moved bytes, the idle check
    /// when it must wait.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(result) => {
                self.last_active = Instant::now();
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_idle(cx).map(Err),
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::HTTP_CONNECTIONS).decrement(1.0);
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.last_active = Instant::now();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.tcp).poll_write(cx, buf);
        this.after_write(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        this.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_connection_cap_keeps_a_reserve_and_stays_countable() {
        assert_eq!(super::connection_cap(20_000), 18_000);
        assert_eq!(super::connection_cap(1024), 922);
        assert_eq!(super::connection_cap(1_048_576), 1_046_528);
        // A tiny limit still serves one connection; an unlimited one fits
        // the semaphore.
        assert_eq!(super::connection_cap(50), 1);
        assert_eq!(
            super::connection_cap(u64::MAX),
            tokio::sync::Semaphore::MAX_PERMITS
        );
    }
}
