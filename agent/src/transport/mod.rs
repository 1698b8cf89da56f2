//! Transport: delivers batches to the collector's `POST /v1/ingest`, strictly in `seq` order.
//! The only module that uses reqwest.
//!
//! # Pipeline
//!
//! The sampler hands each [`Batch`] to [`enqueue`], which encodes it once
//! (`encode(batch, Format::Msgpack)`, MessagePack with named fields), compresses it with zstd
//! level 3 and appends it to the on-disk [`Spool`]. [`Shipper::run`] takes the oldest unacknowledged
//! batch from the spool, POSTs it with
//! `Content-Type: application/msgpack`, `Content-Encoding: zstd`, `User-Agent: vigil-agent/<version>`
//! and `Authorization: Bearer <token>` (when a token is set; the header is marked sensitive and
//! the token is never logged), and classifies the answer with [`retry`]: delivered → acknowledge
//! in the spool, next batch; retriable (connection error, timeout, 408, 429, 5xx, 401/403) → the
//! *same* batch again after an exponential backoff with full jitter or the collector's
//! `Retry-After` (so order is kept, and everything taken meanwhile waits in the spool); rejected
//! (400, 413, 415, 422, other 4xx) → the collector's `{"error": ...}` is logged at error level, the
//! batch is acknowledged as rejected (dropped and counted) and the next one goes, so one malformed
//! batch never blocks the queue.
//!
//! Every answer's `Date` header is kept as the collector's clock ([`PeerClock`]), for the
//! `clock_skew` event.
//!
//! On shutdown the spool is closed: a shipper waiting in a backoff wakes up at once and retries at
//! least every 500 ms until the caller's deadline; what is still unsent stays in the spool for the
//! next start.
//!
//! One long-lived `reqwest::Client` (connection pool inside), connect timeout 5 s, request timeout
//! 10 s. With an `http://` collector the client is built without the system CA bundle (nothing
//! to verify), which saves its parsing at start and its memory; with `https://` it trusts the
//! system's roots or `ca_file`, and shows `client_cert` for mTLS (`tls.rs`). The rustls `ring` provider is installed before the client is built (reqwest is compiled
//! with `rustls-no-provider` and panics without one).

pub mod retry;
pub mod tls;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use reqwest::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, DATE, HeaderValue, RETRY_AFTER,
};
use vigil_shared::wire::Batch;
use vigil_shared::wire::codec::{self, EncodeError, Format};

use crate::collectors::DisplayChain;
use crate::config::Secret;
use crate::spool::{Spool, SpoolError};
use retry::{Backoff, RetryPolicy, Verdict};

/// zstd level of request bodies.
pub const ZSTD_LEVEL: i32 = 3;
/// Longest wait between attempts once the spool is closed (shutdown flush).
const FLUSH_RETRY_DELAY: Duration = Duration::from_millis(500);
/// Longest part of an error response body kept for the log.
const MAX_ERROR_BODY: usize = 4_096;

/// Why the transport could not be set up or a batch could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The collector URL is not usable.
    #[error("invalid collector URL {url:?}: {message}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The token cannot be sent as a header.
    #[error("the token cannot be sent in an HTTP header")]
    InvalidToken,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// A TLS file (`ca_file`, `client_cert`, `client_key`) is not usable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A batch could not be encoded.
    #[error("cannot encode batch seq {seq}")]
    Encode {
        /// The batch's seq.
        seq: u64,
        /// The encoder's error.
        #[source]
        source: EncodeError,
    },
    /// A batch could not be written to the spool.
    #[error("cannot spool batch seq {seq}")]
    Spool {
        /// The batch's seq.
        seq: u64,
        /// The spool's error.
        #[source]
        source: SpoolError,
    },
    /// A batch could not be compressed.
    #[error("cannot compress batch seq {seq}")]
    Compress {
        /// The batch's seq.
        seq: u64,
        /// zstd's error.
        #[source]
        source: std::io::Error,
    },
}

/// One encoded, compressed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The batch's seq.
    pub seq: u64,
    /// zstd-compressed MessagePack.
    pub body: Vec<u8>,
}

impl Encoded {
    /// Encodes and compresses a batch.
    pub fn new(batch: &Batch) -> Result<Encoded, TransportError> {
        let seq = batch.seq;
        let raw = codec::encode(batch, Format::Msgpack)
            .map_err(|source| TransportError::Encode { seq, source })?;
        let body = zstd::bulk::compress(&raw, ZSTD_LEVEL)
            .map_err(|source| TransportError::Compress { seq, source })?;
        Ok(Encoded { seq, body })
    }
}

/// Encodes batches with one long-lived zstd context (creating one per batch costs more than the
/// compression itself at agent batch sizes).
pub struct Encoder {
    compressor: Option<zstd::bulk::Compressor<'static>>,
}

impl Encoder {
    /// An encoder; the zstd context is created at the first batch.
    pub fn new() -> Encoder {
        Encoder { compressor: None }
    }

    /// Encodes and compresses a batch.
    pub fn encode(&mut self, batch: &Batch) -> Result<Encoded, TransportError> {
        let seq = batch.seq;
        let raw = codec::encode(batch, Format::Msgpack)
            .map_err(|source| TransportError::Encode { seq, source })?;
        let compressor = match &mut self.compressor {
            Some(compressor) => compressor,
            None => self.compressor.insert(
                zstd::bulk::Compressor::new(ZSTD_LEVEL)
                    .map_err(|source| TransportError::Compress { seq, source })?,
            ),
        };
        let body = compressor
            .compress(&raw)
            .map_err(|source| TransportError::Compress { seq, source })?;
        Ok(Encoded { seq, body })
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// Encodes a batch and appends it to the spool, from where [`Shipper::run`] sends it.
pub fn enqueue(spool: &Spool, batch: &Batch) -> Result<(), TransportError> {
    enqueue_with(spool, &mut Encoder::new(), batch)
}

/// [`enqueue`] with a long-lived [`Encoder`].
pub fn enqueue_with(
    spool: &Spool,
    encoder: &mut Encoder,
    batch: &Batch,
) -> Result<(), TransportError> {
    let encoded = encoder.encode(batch)?;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    spool
        .append(
            encoded.seq,
            count(batch.samples.len()),
            count(batch.events.len()),
            &encoded.body,
        )
        .map_err(|source| TransportError::Spool {
            seq: encoded.seq,
            source,
        })
}

/// The collector's clock as last seen in a `Date` header.
#[derive(Debug, Default)]
pub struct PeerClock {
    known: AtomicBool,
    /// Local clock minus the collector's, in ms.
    skew_ms: AtomicI64,
}

impl PeerClock {
    /// Local minus collector clock in ms, once a `Date` header was seen.
    pub fn skew_ms(&self) -> Option<i64> {
        self.known
            .load(Ordering::Relaxed)
            .then(|| self.skew_ms.load(Ordering::Relaxed))
    }

    fn record(&self, skew_ms: i64) {
        self.skew_ms.store(skew_ms, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Collector base URL (`/v1/ingest` is appended).
    pub collector: String,
    /// Bearer token.
    pub token: Option<Secret>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Backoff bounds.
    pub retry: RetryPolicy,
    /// CAs to trust and the client certificate (an `https://` collector only).
    pub tls: tls::ClientTls,
}

impl TransportOptions {
    /// Options with the standard timeouts and backoff.
    pub fn new(collector: impl Into<String>, token: Option<Secret>) -> Self {
        TransportOptions {
            collector: collector.into(),
            token,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            tls: tls::ClientTls::default(),
        }
    }
}

/// Sends spooled batches to the collector.
#[derive(Debug)]
pub struct Shipper {
    client: reqwest::Client,
    url: reqwest::Url,
    authorization: Option<HeaderValue>,
    retry: RetryPolicy,
    clock: PeerClock,
}

/// What one attempt ended with, for the log.
enum Attempt {
    Answered { status: u16, message: String },
    Failed(reqwest::Error),
}

impl Shipper {
    /// Builds the one HTTP client (installing the rustls ring provider first).
    pub fn new(options: &TransportOptions) -> Result<Shipper, TransportError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let text = format!("{}/v1/ingest", options.collector.trim_end_matches('/'));
        let url = reqwest::Url::parse(&text).map_err(|error| TransportError::InvalidUrl {
            url: options.collector.clone(),
            message: error.to_string(),
        })?;
        let authorization = match &options.token {
            None => None,
            Some(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| TransportError::InvalidToken)?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let mut builder = reqwest::Client::builder();
        if url.scheme() == "http" {
            // Plain HTTP needs no trust store: skip loading (and keeping) the system's CA
            // bundle, the largest part of the agent's start-up CPU and heap.
            builder = builder.tls_certs_only(std::iter::empty());
        } else {
            // https: the system's roots, or only `ca_file`'s CAs; a client certificate for mTLS.
            builder = tls::ClientTls::apply(options.tls.load()?, builder);
        }
        let client = builder
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("vigil-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(TransportError::Client)?;
        Ok(Shipper {
            client,
            url,
            authorization,
            retry: options.retry,
            clock: PeerClock::default(),
        })
    }

    /// The collector's clock as seen in its last `Date` header.
    pub fn peer_clock(&self) -> &PeerClock {
        &self.clock
    }

    /// Sends spooled batches in order until the spool is closed and empty. Never returns early:
    /// bound it with a timeout to give up.
    pub async fn run(&self, spool: &Spool) {
        let mut backoff = Backoff::new(self.retry, jitter_seed());
        loop {
            let batch = match spool.front() {
                Ok(batch) => batch,
                Err(true) => return,
                Err(false) => {
                    spool.notify.notified().await;
                    continue;
                }
            };
            let seq = batch.seq;
            let (verdict, attempt) = self.send(batch.body).await;
            match verdict {
                Verdict::Delivered => {
                    spool.ack(seq, true);
                    if backoff.attempt() > 0 {
                        tracing::info!(seq, "collector reachable again");
                    }
                    backoff.reset();
                    tracing::debug!(seq, "batch delivered");
                }
                Verdict::Reject { reason } => {
                    spool.ack(seq, false);
                    backoff.reset();
                    let (status, message) = attempt_fields(&attempt);
                    tracing::error!(
                        seq,
                        status,
                        reason,
                        rejected_total = spool.stats().rejected_total,
                        error = %message,
                        "collector rejected the batch: dropped it"
                    );
                }
                Verdict::Retry {
                    reason,
                    retry_after,
                    loud,
                } => {
                    let delay = backoff.next_delay(retry_after);
                    let (status, message) = attempt_fields(&attempt);
                    let delay_ms = delay.as_millis() as u64;
                    if loud {
                        tracing::error!(seq, status, reason, delay_ms, error = %message, "collector refused the token: check --token; will retry");
                    } else if backoff.attempt() == 1 {
                        tracing::warn!(seq, status, reason, delay_ms, error = %message, "delivery failed: spooling until the collector answers");
                    } else {
                        tracing::debug!(seq, status, reason, delay_ms, error = %message, "delivery failed again");
                    }
                    // During the shutdown flush, retry at least every 500 ms: the deadline is short.
                    let closed = spool.is_closed();
                    let delay = if closed {
                        delay.min(FLUSH_RETRY_DELAY)
                    } else {
                        delay
                    };
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = spool.closing.notified(), if !closed => {}
                    }
                }
            }
        }
    }

    /// One POST of one body.
    async fn send(&self, body: Vec<u8>) -> (Verdict, Attempt) {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, Format::Msgpack.content_type())
            .header(CONTENT_ENCODING, "zstd")
            .body(body);
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let verdict = retry::classify_request_error(error.is_timeout());
                return (verdict, Attempt::Failed(error));
            }
        };
        let status = response.status().as_u16();
        if let Some(date_ms) = response
            .headers()
            .get(DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(crate::clock::parse_http_date_ms)
        {
            // The header has 1 s resolution and is truncated: compare with its middle.
            self.clock.record(crate::clock::now_ms() - (date_ms + 500));
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(retry::parse_retry_after);
        let verdict = retry::classify_status(status, retry_after);
        if verdict == Verdict::Delivered {
            // Read the short acknowledgement so the connection goes back to the pool.
            let _ = response.bytes().await;
            return (
                verdict,
                Attempt::Answered {
                    status,
                    message: String::new(),
                },
            );
        }
        // Keep at most MAX_ERROR_BODY bytes of the answer for the log.
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(MAX_ERROR_BODY);
        (
            verdict,
            Attempt::Answered {
                status,
                message: error_message(&body),
            },
        )
    }
}

/// `(status, message)` of an attempt for log fields (status 0: no response).
fn attempt_fields(attempt: &Attempt) -> (u16, String) {
    match attempt {
        Attempt::Answered { status, message } => (*status, message.clone()),
        Attempt::Failed(error) => (0, DisplayChain(error).to_string()),
    }
}

/// The collector's `{"error": "..."}`, or the body's text when it is not that shape.
pub fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => parsed.error,
        Err(_) => String::from_utf8_lossy(body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A seed for the backoff jitter: wall-clock nanoseconds mixed with the process id.
fn jitter_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_prefers_the_json_error_field() {
        assert_eq!(
            error_message(br#"{"error": "seq must start at 1"}"#),
            "seq must start at 1"
        );
        assert_eq!(error_message(b"plain\ntext"), "plain text");
        assert_eq!(error_message(b""), "");
    }

    #[test]
    fn shipper_refuses_a_bad_url_and_builds_with_a_token() {
        let error = Shipper::new(&TransportOptions::new("not a url", None)).unwrap_err();
        assert!(
            error.to_string().starts_with("invalid collector URL"),
            "{error}"
        );
        let shipper = Shipper::new(&TransportOptions::new(
            "http://127.0.0.1:9470/",
            Some(Secret::new("tok")),
        ))
        .unwrap();
        assert_eq!(shipper.url.as_str(), "http://127.0.0.1:9470/v1/ingest");
        assert!(format!("{shipper:?}").contains("Sensitive"));
    }
}
