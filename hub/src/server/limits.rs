//! What the server accepts and holds ([`Limits`], with the deadlines of
//! `hub.toml` `[limits]`), and the layer that stamps every response with
//! the hub's time ([`HubTimeLayer`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use kaohe_proto::call_auth;

use crate::clock::Clock;
use crate::config;

/// Bounds on what the server accepts and holds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Server deadline of a unary call.
    pub call_timeout: Duration,
    /// A stream that sends nothing for this long is ended.
    pub stream_idle: Duration,
    /// Most envelopes verified and committed as one chunk of a stream.
    pub chunk: usize,
    /// Most envelopes the writer commits in one transaction.
    pub max_batch: usize,
    /// Requests waiting for the writer before callers wait.
    pub queue: usize,
    /// Requests served at once on one connection.
    pub per_connection: usize,
    /// HTTP/2 streams open at once on one connection.
    pub max_streams: u32,
    /// Threads verifying one chunk in parallel.
    pub verify_workers: usize,
}

impl Limits {
    /// The defaults with what `hub.toml` `[limits]` sets (checked when the
    /// file was loaded).
    pub fn from_config(config: &config::LimitsConfig) -> Limits {
        let mut limits = Limits::default();
        if let Some(t) = config.call_timeout() {
            limits.call_timeout = t;
        }
        if let Some(t) = config.stream_idle() {
            limits.stream_idle = t;
        }
        limits
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(30),
            stream_idle: Duration::from_secs(120),
            chunk: 512,
            max_batch: 4096,
            queue: 64,
            per_connection: 64,
            max_streams: 64,
            verify_workers: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
        }
    }
}

/// A tower layer that stamps every HTTP response (so every gRPC answer
/// and every trailers-only error status) with the hub's clock as
/// [`call_auth::HUB_TIME_METADATA_KEY`], read when the response is ready.
#[derive(Debug, Clone)]
pub struct HubTimeLayer {
    clock: Clock,
}

impl HubTimeLayer {
    /// Stamps responses with `clock`.
    pub fn new(clock: Clock) -> HubTimeLayer {
        HubTimeLayer { clock }
    }
}

impl<S> tower_layer::Layer<S> for HubTimeLayer {
    type Service = HubTime<S>;

    fn layer(&self, inner: S) -> HubTime<S> {
        HubTime {
            inner,
            clock: self.clock.clone(),
        }
    }
}

/// The service of [`HubTimeLayer`].
#[derive(Debug, Clone)]
pub struct HubTime<S> {
    inner: S,
    clock: Clock,
}

impl<S, B, ResBody> tower_service::Service<http::Request<B>> for HubTime<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    ResBody: 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let answer = self.inner.call(request);
        let clock = self.clock.clone();
        Box::pin(async move {
            let mut response = answer.await?;
            response.headers_mut().insert(
                call_auth::HUB_TIME_METADATA_KEY,
                http::HeaderValue::from(clock.now().as_second()),
            );
            Ok(response)
        })
    }
}
