//! Transport: delivers batches to the collector's `POST /v1/ingest`, strictly in `seq` order.
//! The only module that uses reqwest.
//!
//! # Pipeline
//!
//! The sampler hands each [`Batch`] to [`Queue::push`], which encodes it once
//! (`encode(batch, Format::Msgpack)`, MessagePack with named fields) and compresses it with zstd
//! level 3. [`Shipper::run`] takes the oldest queued batch, POSTs it with
//! `Content-Type: application/msgpack`, `Content-Encoding: zstd`, `User-Agent: vigil-agent/<version>`
//! and `Authorization: Bearer <token>` (when a token is set; the header is marked sensitive and
//! the token is never logged), and classifies the answer with [`retry`]: delivered → next batch;
//! retriable → the *same* batch again after an exponential backoff with full jitter (so order is
//! kept); rejected (400, 413, 415, 422, other 4xx) → the collector's `{"error": ...}` is logged at
//! error level, the batch is dropped and counted, and the next one goes.
//!
//! # Limits
//!
//! The queue is in memory and bounded ([`QueueLimits`]: 1,000 batches or 64 MiB of compressed
//! bodies). When it is full the **oldest** batch is dropped with a warning and counted in
//! [`QueueStats::dropped_full`], so a long collector outage costs the oldest data, not the newest.
//! Batches still queued when the process exits are lost: an on-disk spool (write, send, ack)
//! replaces this queue in a later issue, so that offline and online become one path.
//!
//! On shutdown the queue is closed: a shipper waiting in a backoff wakes up at once and retries at
//! least every 500 ms until the caller's deadline.
//!
//! One long-lived `reqwest::Client` (connection pool inside), connect timeout 5 s, request timeout
//! 10 s. The rustls `ring` provider is installed before the client is built (reqwest is compiled
//! with `rustls-no-provider` and panics without one).

pub mod retry;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use tokio::sync::Notify;
use vigil_shared::wire::Batch;
use vigil_shared::wire::codec::{self, EncodeError, Format};

use crate::collectors::DisplayChain;
use crate::config::Secret;
use retry::{Backoff, RetryPolicy, Verdict};

/// zstd level of request bodies.
pub const ZSTD_LEVEL: i32 = 3;
/// Longest wait between attempts once the queue is closed (shutdown flush).
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
    /// A batch could not be encoded.
    #[error("cannot encode batch seq {seq}")]
    Encode {
        /// The batch's seq.
        seq: u64,
        /// The encoder's error.
        #[source]
        source: EncodeError,
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

/// Bounds of the in-memory queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most batches held.
    pub max_batches: usize,
    /// Most compressed bytes held.
    pub max_bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_batches: 1_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Counters of the queue and the shipper.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Batches the collector accepted.
    pub delivered: AtomicU64,
    /// Batches dropped because the queue was full (oldest first).
    pub dropped_full: AtomicU64,
    /// Batches the collector refused for good.
    pub rejected: AtomicU64,
}

/// One encoded, compressed batch waiting to be sent.
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

#[derive(Debug, Default)]
struct QueueInner {
    batches: VecDeque<Encoded>,
    bytes: usize,
    closed: bool,
}

/// The bounded FIFO between the sampler and the shipper.
#[derive(Debug)]
pub struct Queue {
    limits: QueueLimits,
    inner: Mutex<QueueInner>,
    /// Wakes the shipper when a batch is pushed or the queue is closed.
    notify: Notify,
    /// Wakes the shipper out of a backoff when the queue is closed (shutdown flush).
    closing: Notify,
    stats: QueueStats,
}

impl Queue {
    /// An empty queue.
    pub fn new(limits: QueueLimits) -> Queue {
        Queue {
            limits,
            inner: Mutex::new(QueueInner::default()),
            notify: Notify::new(),
            closing: Notify::new(),
            stats: QueueStats::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Encodes, compresses and enqueues a batch.
    pub fn push(&self, batch: &Batch) -> Result<(), TransportError> {
        self.push_encoded(Encoded::new(batch)?);
        Ok(())
    }

    /// Enqueues an encoded batch, dropping the oldest ones while the queue is over its limits.
    pub fn push_encoded(&self, encoded: Encoded) {
        let mut inner = self.lock();
        inner.bytes += encoded.body.len();
        inner.batches.push_back(encoded);
        while inner.batches.len() > self.limits.max_batches.max(1)
            || (inner.bytes > self.limits.max_bytes && inner.batches.len() > 1)
        {
            let Some(dropped) = inner.batches.pop_front() else {
                break;
            };
            inner.bytes -= dropped.body.len();
            let n_dropped = self.stats.dropped_full.fetch_add(1, Ordering::Relaxed) + 1;
            // One warning per 100 drops: a long outage drops a batch every tick.
            if n_dropped % 100 == 1 {
                tracing::warn!(
                    seq = dropped.seq,
                    dropped_total = n_dropped,
                    "queue full: dropping the oldest batches (logged every 100 drops)"
                );
            } else {
                tracing::debug!(
                    seq = dropped.seq,
                    dropped_total = n_dropped,
                    "queue full: dropped the oldest batch"
                );
            }
        }
        drop(inner);
        self.notify.notify_one();
    }

    /// No more pushes: [`Shipper::run`] returns once the queue is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
        self.closing.notify_one();
    }

    /// True once [`Queue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.lock().batches.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters.
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    /// A copy of the oldest batch, or whether the queue is closed when there is none.
    fn front(&self) -> Result<Encoded, bool> {
        let inner = self.lock();
        inner.batches.front().cloned().ok_or(inner.closed)
    }

    /// Removes the oldest batch if it is still `seq` (it may have been dropped meanwhile).
    fn remove(&self, seq: u64) {
        let mut inner = self.lock();
        if inner.batches.front().is_some_and(|front| front.seq == seq)
            && let Some(removed) = inner.batches.pop_front()
        {
            inner.bytes -= removed.body.len();
        }
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
        }
    }
}

/// Sends queued batches to the collector.
#[derive(Debug)]
pub struct Shipper {
    client: reqwest::Client,
    url: reqwest::Url,
    authorization: Option<HeaderValue>,
    retry: RetryPolicy,
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
        let client = reqwest::Client::builder()
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
        })
    }

    /// Sends queued batches in order until the queue is closed and empty. Never returns early:
    /// bound it with a timeout to give up.
    pub async fn run(&self, queue: &Queue) {
        let mut backoff = Backoff::new(self.retry, jitter_seed());
        loop {
            let batch = match queue.front() {
                Ok(batch) => batch,
                Err(true) => return,
                Err(false) => {
                    queue.notify.notified().await;
                    continue;
                }
            };
            let seq = batch.seq;
            let (verdict, attempt) = self.send(batch.body).await;
            match verdict {
                Verdict::Delivered => {
                    queue.remove(seq);
                    queue.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    if backoff.attempt() > 0 {
                        tracing::info!(seq, "collector reachable again");
                    }
                    backoff.reset();
                    tracing::debug!(seq, "batch delivered");
                }
                Verdict::Reject { reason } => {
                    queue.remove(seq);
                    let n_rejected = queue.stats.rejected.fetch_add(1, Ordering::Relaxed) + 1;
                    backoff.reset();
                    let (status, message) = attempt_fields(&attempt);
                    tracing::error!(
                        seq,
                        status,
                        reason,
                        rejected_total = n_rejected,
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
                    } else {
                        tracing::warn!(seq, status, reason, delay_ms, error = %message, "delivery failed: will retry");
                    }
                    // During the shutdown flush, retry at least every 500 ms: the deadline is short.
                    let closed = queue.is_closed();
                    let delay = if closed {
                        delay.min(FLUSH_RETRY_DELAY)
                    } else {
                        delay
                    };
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = queue.closing.notified(), if !closed => {}
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

    fn encoded(seq: u64, len: usize) -> Encoded {
        Encoded {
            seq,
            body: vec![0; len],
        }
    }

    #[test]
    fn queue_drops_oldest_when_full_by_count() {
        let queue = Queue::new(QueueLimits {
            max_batches: 3,
            max_bytes: usize::MAX,
        });
        for seq in 1..=5 {
            queue.push_encoded(encoded(seq, 10));
        }
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.front().unwrap().seq, 3);
        assert_eq!(queue.stats().dropped_full.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn queue_drops_oldest_when_full_by_bytes_but_keeps_the_newest() {
        let queue = Queue::new(QueueLimits {
            max_batches: 100,
            max_bytes: 25,
        });
        queue.push_encoded(encoded(1, 10));
        queue.push_encoded(encoded(2, 10));
        queue.push_encoded(encoded(3, 10));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.front().unwrap().seq, 2);
        queue.push_encoded(encoded(4, 100));
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.front().unwrap().seq, 4);
    }

    #[test]
    fn queue_remove_only_takes_the_expected_front() {
        let queue = Queue::new(QueueLimits::default());
        queue.push_encoded(encoded(1, 1));
        queue.push_encoded(encoded(2, 1));
        queue.remove(2);
        assert_eq!(queue.len(), 2);
        queue.remove(1);
        assert_eq!(queue.front().unwrap().seq, 2);
        queue.close();
        queue.remove(2);
        assert_eq!(queue.front(), Err(true));
    }

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
