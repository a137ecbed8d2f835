//! The one shutdown signal. SIGINT or SIGTERM trips it; the HTTP server, every
//! SSE stream, every stream consumer and every background task select on it.

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// A cloneable handle on the process-wide shutdown signal.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A signal that nothing has tripped yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal of its own that also trips when this one does (stopping one
    /// part without stopping the process).
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
        }
    }

    /// Trips the signal; every waiter wakes.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the signal has been tripped.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the signal is tripped.
    pub fn wait(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// An owned future that resolves once the signal is tripped, for places
    /// that need `'static` (axum's graceful shutdown).
    pub fn wait_owned(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// Trips this signal on SIGINT or SIGTERM. Call once, from `main`.
    pub fn trigger_on_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let ctrl_c = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            #[cfg(unix)]
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let term = std::future::pending::<()>();
            tokio::select! {
                _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
                _ = term => tracing::info!("SIGTERM received, shutting down"),
                _ = this.wait() => return,
            }
            this.trigger();
        });
    }
}
