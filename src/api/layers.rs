//! The middleware every request passes through, as tower services with
//! futures of their own. axum's `from_fn` and `map_response` clone the
//! service they wrap into a new box and box its future on every request;
//! these wrap it as it is, and box only the rare path that must read a
//! body (an error's plain-text answer given the JSON envelope).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, Either, Ready};
use tower::{Layer, Service};

use super::error::{self, ErrorCode, ErrorEnvelope};
use super::http_metrics::HttpMetrics;

/// Counts each request by route pattern, method and status class, and
/// times it to the response head. A route layer: the route's pattern is
/// known only inside the router.
#[derive(Clone, Debug, Default)]
pub struct TrackHttpLayer(Arc<HttpMetrics>);

impl<S> Layer<S> for TrackHttpLayer {
    type Service = TrackHttp<S>;

    fn layer(&self, inner: S) -> TrackHttp<S> {
        TrackHttp {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// See [`TrackHttpLayer`].
#[derive(Clone, Debug)]
pub struct TrackHttp<S> {
    inner: S,
    metrics: Arc<HttpMetrics>,
}

impl<S> Service<Request> for TrackHttp<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        Tracked {
            inner: self.inner.call(request),
            metrics: self.metrics.clone(),
            route,
            method,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request being answered, timed.
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        metrics: Arc<HttpMetrics>,
        route: Option<MatchedPath>,
        method: Method,
        started: Instant,
    }
}

impl<F> Future for Tracked<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        let class = match response.status().as_u16() / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        let route = this.route.as_ref().map_or("unmatched", |m| m.as_str());
        this.metrics.record(
            route,
            this.method,
            class,
            this.started.elapsed().as_secs_f64(),
        );
        Poll::Ready(Ok(response))
    }
}

/// A body whose declared length is over the limit is refused before a
/// byte of it is read: `413` at once, rather than waiting for the body
/// (which may never come) until the request times out.
#[derive(Clone, Copy, Debug)]
pub struct RefuseOversizeLayer(pub usize);

impl<S> Layer<S> for RefuseOversizeLayer {
    type Service = RefuseOversize<S>;

    fn layer(&self, inner: S) -> RefuseOversize<S> {
        RefuseOversize {
            inner,
            limit: self.0,
        }
    }
}

/// See [`RefuseOversizeLayer`].
#[derive(Clone, Debug)]
pub struct RefuseOversize<S> {
    inner: S,
    limit: usize,
}

impl<S> Service<Request> for RefuseOversize<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limit as u64) {
            let refused = error::ApiError::PayloadTooLarge(self.limit).into_response();
            return Either::Left(futures::future::ready(Ok(refused)));
        }
        Either::Right(self.inner.call(request))
    }
}

/// Gives the bare answers of the router, the timeout layer and axum's
/// extractors (405, 408, and the plain-text rejections of a bad query
/// string or path) the JSON envelope every other answer has.
pub fn envelope_layer<F>() -> tower::util::MapFutureLayer<fn(F) -> Enveloped<F>> {
    tower::util::MapFutureLayer::new(|inner| Enveloped::Answering { inner })
}

pin_project_lite::pin_project! {
    /// A request being answered, then, if its answer is a bare error,
    /// that answer being put in the envelope.
    #[project = EnvelopedProj]
    pub enum Enveloped<F> {
        Answering { #[pin] inner: F },
        Wrapping { wrap: BoxFuture<'static, Response> },
    }
}

impl<F> Future for Enveloped<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                EnvelopedProj::Answering { inner } => {
                    let Ok(response) = ready!(inner.poll(cx));
                    if !is_bare_error(&response) {
                        return Poll::Ready(Ok(response));
                    }
                    self.set(Enveloped::Wrapping {
                        wrap: Box::pin(envelope(response)),
                    });
                }
                EnvelopedProj::Wrapping { wrap } => return wrap.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

/// An error answered without a body of ours: no content type, or plain
/// text.
fn is_bare_error(response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let plain = content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    content_type.is_none() || plain
}

/// A bare error in the envelope, with its own words when it has some.
async fn envelope(response: Response) -> Response {
    let status = response.status();
    let (mut parts, body) = response.into_parts();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::NOT_FOUND => ErrorCode::RouteNotFound,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_string(),
        StatusCode::REQUEST_TIMEOUT => "the request took too long and was cancelled".to_string(),
        _ => {
            // An extractor's rejection, such as a repeated query parameter:
            // its own words, shortened.
            let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            match text.trim() {
                "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
                text => crate::text::cap_quotes(text),
            }
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = Json(ErrorEnvelope::new(code, message)).into_response();
    let (body_parts, body) = body.into_parts();
    parts.headers.extend(body_parts.headers);
    Response::from_parts(parts, body)
}
