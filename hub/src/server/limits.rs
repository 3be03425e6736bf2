//! What the server accepts and holds ([`Limits`], with the deadlines of
//! `hub.toml` `[limits]`), and the layer that stamps every response with
//! the hub's time ([`hub_time_layer`]).

use std::time::Duration;

use kaohe_proto::call_auth;
use tower::util::MapResponseLayer;

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

/// The body of every response the hub's server answers with.
type Answer = http::Response<tonic::body::Body>;

/// A tower layer that stamps every HTTP response (so every gRPC answer
/// and every trailers-only error status) with the hub's clock as
/// [`call_auth::HUB_TIME_METADATA_KEY`], read when the response is ready.
pub fn hub_time_layer(clock: Clock) -> MapResponseLayer<impl Fn(Answer) -> Answer + Clone> {
    MapResponseLayer::new(move |mut response: Answer| {
        response.headers_mut().insert(
            call_auth::HUB_TIME_METADATA_KEY,
            http::HeaderValue::from(clock.now().as_second()),
        );
        response
    })
}
