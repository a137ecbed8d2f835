//! Sending a rendered request: one pooled client per provider, retries with
//! backoff for connection errors, timeouts and 5xx answers, and never past
//! the deadline (a retry is only made when its wait leaves room).

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::error::{Failure, UpstreamError, snippet};
use super::template::Rendered;

/// Largest answer read, in bytes.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// An airline's answer: its body and what its `Content-Type` says.
pub struct Answer {
    /// The body.
    pub body: Bytes,
    /// The `Content-Type` header, when it is text.
    pub content_type: Option<String>,
}

/// How a provider's requests are sent.
pub struct Sender {
    /// The provider's pooled client.
    pub client: reqwest::Client,
    /// The HTTP method.
    pub method: reqwest::Method,
    /// Time one attempt may take at most (else all the time left).
    pub attempt_timeout: Option<Duration>,
    /// Retries of failed attempts.
    pub retries: Retries,
}

/// Retries of failed attempts, within a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retries {
    /// Retries after the first attempt.
    pub attempts: u32,
    /// Wait before the first retry, doubled for each further one.
    pub backoff: Duration,
}

impl Retries {
    /// The wait after attempt number `attempt` (1 for the first): the
    /// backoff doubled per attempt (at most 2^10 times), times `jitter`.
    fn wait(&self, attempt: u32, jitter: f64) -> Duration {
        self.backoff
            .saturating_mul(1 << (attempt - 1).min(10))
            .mul_f64(jitter)
    }

    /// Makes attempts (`attempt` gets the attempt's number and the time
    /// left) until one answers, one fails in a way a retry cannot mend, the
    /// retries run out, or the next wait would not leave room before the
    /// deadline. The last error is reported, with the number of attempts
    /// when more than one failed alike.
    pub async fn run<T, F, Fut>(&self, deadline: Instant, mut attempt: F) -> Result<T, Failure>
    where
        F: FnMut(u32, Duration) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let mut attempts = 0u32;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout(UpstreamError::Deadline { attempts }));
            }
            attempts += 1;
            let error = match attempt(attempts, left).await {
                Ok(answer) => return Ok(answer),
                Err(error) if !error.is_retryable() => return Err(error.into()),
                Err(error) => error,
            };
            let wait = self.wait(attempts, rand::random_range(0.5..=1.0));
            let room = deadline.saturating_duration_since(Instant::now());
            if attempts > self.attempts || room <= wait {
                let error = if attempts > 1 {
                    UpstreamError::Retried {
                        attempts,
                        last: Box::new(error),
                    }
                } else {
                    error
                };
                return Err(error.into());
            }
            tokio::time::sleep(wait).await;
        }
    }
}

impl Sender {
    /// Sends with retries, never past the deadline; returns the answer.
    pub async fn send(
        &self,
        provider: &str,
        request: &Rendered,
        deadline: Instant,
    ) -> Result<Answer, Failure> {
        self.retries
            .run(deadline, |attempt, left| {
                self.attempt(provider, request, attempt, left)
            })
            .await
    }

    /// One attempt, within `left`.
    async fn attempt(
        &self,
        provider: &str,
        request: &Rendered,
        attempt: u32,
        left: Duration,
    ) -> Result<Answer, UpstreamError> {
        let mut builder = self
            .client
            .request(self.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .timeout(self.attempt_timeout.map_or(left, |t| t.min(left)));
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let sent = builder.send().await;
        let label = match &sent {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) if e.is_timeout() => "timeout".to_string(),
            Err(e) if e.is_connect() => "connect_error".to_string(),
            Err(_) => "error".to_string(),
        };
        metrics::counter!(crate::metrics::UPSTREAM_CALLS, "provider" => provider.to_string(), "status" => label).increment(1);
        // Errors are kept without the URL: its query may carry a key.
        let response = sent.map_err(|e| {
            let source = e.without_url();
            if source.is_timeout() {
                UpstreamError::NoAnswerInTime { attempt, source }
            } else if source.is_connect() {
                UpstreamError::Connect { source }
            } else {
                UpstreamError::Request { source }
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            // The airline's own words stay in our log: passed on, they
            // could tell a client anything the airline says.
            let body = snippet(&response.bytes().await.unwrap_or_default());
            tracing::warn!(provider, status = status.as_u16(), %body, "the airline answered with an error");
            return Err(UpstreamError::Status {
                status: status.as_u16(),
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match read_limited(response).await {
            Ok(Some(body)) => Ok(Answer { body, content_type }),
            Ok(None) => Err(UpstreamError::TooLarge {
                max_bytes: MAX_BODY,
            }),
            Err(e) => {
                let source = e.without_url();
                Err(if source.is_timeout() {
                    UpstreamError::SlowBody { source }
                } else {
                    UpstreamError::Body { source }
                })
            }
        }
    }
}

/// The answer's body, or `None` when it is larger than [`MAX_BODY`].
async fn read_limited(mut response: reqwest::Response) -> Result<Option<Bytes>, reqwest::Error> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if buf.len() + chunk.len() > MAX_BODY {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const RETRIES: Retries = Retries {
        attempts: 2,
        backoff: Duration::from_millis(100),
    };

    /// Runs `RETRIES` against attempts that each fail as `miss` says, with
    /// `budget` before the deadline: how it ended (`error` or `timeout`,
    /// and the text), the attempts made and the time they took.
    async fn run<Fut: Future<Output = UpstreamError>>(
        budget: Duration,
        miss: impl Fn(u32) -> Fut,
    ) -> ((&'static str, String), u32, Duration) {
        let start = Instant::now();
        let made = AtomicU32::new(0);
        let outcome = RETRIES
            .run(start + budget, |attempt, _left| {
                made.store(attempt, Ordering::Relaxed);
                let miss = miss(attempt);
                async move { Err::<(), _>(miss.await) }
            })
            .await;
        let shown = match outcome.expect_err("every attempt fails") {
            Failure::Error(e) => ("error", e.to_string()),
            Failure::Timeout(e) => ("timeout", e.to_string()),
        };
        (shown, made.into_inner(), start.elapsed())
    }

    async fn status(status: u16) -> UpstreamError {
        UpstreamError::Status { status }
    }

    /// A timeout of the HTTP client itself: a request to a listener that
    /// never answers.
    async fn timed_out(attempt: u32) -> UpstreamError {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!("http://{}/", listener.local_addr().expect("its address"));
        let source = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_millis(1))
            .send()
            .await
            .expect_err("no answer")
            .without_url();
        assert!(source.is_timeout(), "{source}");
        UpstreamError::NoAnswerInTime { attempt, source }
    }

    #[test]
    fn the_wait_doubles_per_attempt_within_its_jitter() {
        assert_eq!(RETRIES.wait(1, 1.0), Duration::from_millis(100));
        assert_eq!(RETRIES.wait(2, 1.0), Duration::from_millis(200));
        assert_eq!(RETRIES.wait(3, 0.5), Duration::from_millis(200));
        assert_eq!(RETRIES.wait(40, 1.0), Duration::from_millis(100 << 10));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_they_run_out_and_says_how_many_attempts() {
        let (shown, made, took) = run(Duration::from_secs(10), |_| status(503)).await;
        assert_eq!(made, 3, "the first attempt and two retries");
        assert_eq!(
            shown,
            (
                "error",
                "HTTP 503 from the airline (after 3 attempts)".into()
            )
        );
        // Two waits: 50..=100 ms, then 100..=200 ms.
        assert!(took >= Duration::from_millis(150), "{took:?}");
        assert!(took <= Duration::from_millis(300), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_whose_wait_would_reach_the_deadline() {
        // The first wait (50..=100 ms) fits in 120 ms; the second
        // (100..=200 ms) does not fit in what is left.
        let (shown, made, took) = run(Duration::from_millis(120), timed_out).await;
        assert_eq!(made, 2);
        assert_eq!(
            shown,
            (
                "timeout",
                "no answer in time (2 attempt(s)) (after 2 attempts)".into()
            )
        );
        assert!(took < Duration::from_millis(120), "{took:?}");
        // Too little room for even the first wait: one attempt, its error
        // as it is.
        let (shown, made, _) = run(Duration::from_millis(40), |_| status(502)).await;
        assert_eq!(made, 1);
        assert_eq!(shown, ("error", "HTTP 502 from the airline".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_error_is_not_retried_and_a_passed_deadline_sends_nothing() {
        let (shown, made, _) = run(Duration::from_secs(10), |_| status(404)).await;
        assert_eq!(made, 1);
        assert_eq!(shown, ("error", "HTTP 404 from the airline".into()));
        let (shown, made, _) = run(Duration::ZERO, |_| status(503)).await;
        assert_eq!(made, 0);
        assert_eq!(
            shown,
            (
                "timeout",
                "no answer within the deadline after 0 attempt(s)".into()
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_after_a_retry_is_returned() {
        let answered = RETRIES
            .run(
                Instant::now() + Duration::from_secs(1),
                |attempt, _| async move {
                    if attempt < 2 {
                        Err(UpstreamError::Status { status: 502 })
                    } else {
                        Ok(attempt)
                    }
                },
            )
            .await;
        assert_eq!(answered.expect("answered"), 2);
    }
}
