//! The delivery workers: after the commit, send each claimed notification to its sink, in order
//! per incident and sink, with per-sink concurrency and rate limits; retry failures with
//! exponential backoff and jitter (or the receiver's `Retry-After`); dead-letter what is refused
//! for good or still failing past its give-up time; record every outcome in the outbox.
//!
//! Rows arrive two ways: straight from the writer (claimed when they were queued, so a page
//! goes out right after the commit, with no polling delay), and from a claim every
//! [`POLL_EVERY`] (retries that are due, escalations whose time came, rows a dead collector
//! held, rows left by an earlier run). A failed row and the rows behind it on the same incident
//! and sink are handed back to the outbox, which gives them out again only in order.
//! Claims are renewed while held; a collector that dies holding rows loses them when its lease
//! ends, and another delivers them (at least once: the idempotency key makes a repeat harmless).

use super::Message;
use super::outbox::{Notifier, Outgoing};
use super::sinks::{self, SendError, Sink};
use crate::clock::Clock;
use crate::export::NotificationMetrics;
use crate::pipeline::{NotifyWrite, Pipeline, Write, WriteOutcome};
use crate::store::Finish;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

/// How often the outbox is asked for rows that became claimable.
pub const POLL_EVERY: Duration = Duration::from_millis(1_000);

/// Most rows claimed per poll.
const CLAIM_LIMIT: usize = 256;

/// Most rows held in memory before polling pauses.
const MAX_HELD: usize = 20_000;

/// How long shutdown waits for requests in flight.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What the delivery workers need.
pub struct Dispatcher {
    /// Writes the outcomes.
    pub pipeline: Pipeline,
    /// Sinks, holder, lease.
    pub notifier: Notifier,
    /// One HTTP client for every sink (its pool is per host).
    pub client: reqwest::Client,
    /// Counters.
    pub metrics: NotificationMetrics,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// `public_url`, for links.
    pub public_url: Option<String>,
    /// An embedded store: rows held by an earlier run of this collector are taken at once.
    pub take_foreign: bool,
}

/// One finished attempt.
struct Done {
    row: Outgoing,
    result: Result<sinks::Receipt, SendError>,
}

/// A sink's limits.
struct Lane {
    concurrency: Arc<Semaphore>,
    rate: Arc<tokio::sync::Mutex<Bucket>>,
}

/// A token bucket: `rate` starts per second, bursts of up to `max(1, rate)`.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: tokio::time::Instant,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        Bucket {
            rate,
            tokens: rate.max(1.0),
            last: tokio::time::Instant::now(),
        }
    }

    /// Waits for a token (no wait without a limit).
    async fn take(&mut self) {
        if self.rate <= 0.0 {
            return;
        }
        loop {
            let now = tokio::time::Instant::now();
            let elapsed = now.duration_since(self.last).as_secs_f64();
            self.last = now;
            self.tokens = (self.tokens + elapsed * self.rate).min(self.rate.max(1.0));
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - self.tokens) / self.rate;
            tokio::time::sleep(Duration::from_secs_f64(wait.min(60.0))).await;
        }
    }
}

/// The delay before attempt `attempts + 1`: the receiver's `Retry-After` when it gave one
/// (at least the minimum), else `min_backoff × 2^(attempts-1)` up to `max_backoff`, with ±20 %
/// jitter derived from the key (so collectors retrying the same row do not move in step).
pub fn backoff(sink: &Sink, attempts: u32, retry_after: Option<Duration>, key: &str) -> Duration {
    let delivery = &sink.delivery;
    if let Some(after) = retry_after {
        return after.max(delivery.min_backoff);
    }
    let exponent = attempts.saturating_sub(1).min(20);
    let base = delivery
        .min_backoff
        .saturating_mul(1u32 << exponent)
        .min(delivery.max_backoff);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain(attempts.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let jitter = 0.8 + 0.4 * ((hash % 1_000) as f64 / 1_000.0);
    base.mul_f64(jitter).min(delivery.max_backoff)
}

impl Dispatcher {
    /// Runs until `stop` turns true: then waits up to `SHUTDOWN_WAIT` for requests in flight,
    /// records their outcomes and hands back the rest.
    pub async fn run(
        self,
        mut fresh: mpsc::UnboundedReceiver<Vec<Outgoing>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let sinks = Arc::clone(&self.notifier.sinks);
        let lanes: Vec<Lane> = sinks
            .iter()
            .map(|sink| Lane {
                concurrency: Arc::new(Semaphore::new(sink.delivery.concurrency)),
                rate: Arc::new(tokio::sync::Mutex::new(Bucket::new(
                    sink.delivery.rate_per_second,
                ))),
            })
            .collect();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        // Outcomes are written by their own task, in order, so recording one never holds up
        // the next delivery; claims and renewals run on their own tasks for the same reason.
        let (finish_tx, finish_rx) = mpsc::unbounded_channel::<Vec<Finish>>();
        let recorder = tokio::spawn(record_outcomes(
            self.pipeline.clone(),
            self.notifier.holder.clone(),
            finish_rx,
        ));
        let (claimed_tx, mut claimed_rx) = mpsc::unbounded_channel::<Vec<Outgoing>>();
        let mut claiming = false;
        let mut state = Queues::default();
        let mut finished: Vec<Finish> = Vec::new();
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let renew_every = Duration::from_millis((self.notifier.lease_ms / 3).max(1_000) as u64);
        let mut renew = tokio::time::interval(renew_every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        loop {
            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
                Some(done) = done_rx.recv() => {
                    self.complete(done, &mut state, &mut finished, &lanes, &done_tx);
                    while let Ok(done) = done_rx.try_recv() {
                        self.complete(done, &mut state, &mut finished, &lanes, &done_tx);
                    }
                    let _ = finish_tx.send(std::mem::take(&mut finished));
                }
                Some(rows) = fresh.recv() => {
                    self.accept(rows, &mut state, &lanes, &done_tx);
                    while let Ok(rows) = fresh.try_recv() {
                        self.accept(rows, &mut state, &lanes, &done_tx);
                    }
                }
                Some(rows) = claimed_rx.recv() => {
                    claiming = false;
                    self.accept(rows, &mut state, &lanes, &done_tx);
                }
                _ = poll.tick() => {
                    if !claiming && state.held < MAX_HELD {
                        claiming = true;
                        tokio::spawn(claim(
                            self.pipeline.clone(),
                            self.notifier.clone(),
                            self.take_foreign,
                            claimed_tx.clone(),
                            finish_tx.clone(),
                        ));
                    }
                }
                _ = renew.tick() => {
                    let ids = state.held_ids();
                    if !ids.is_empty() {
                        let write = Write::Notify(NotifyWrite::Renew {
                            holder: self.notifier.holder.clone(),
                            ids,
                            lease_ms: self.notifier.lease_ms,
                        });
                        let pipeline = self.pipeline.clone();
                        tokio::spawn(async move {
                            if let Err(error) = pipeline.write_waiting(write).await {
                                tracing::warn!(error = %error, "cannot renew the claims on notifications");
                            }
                        });
                    }
                }
            }
        }
        // Shutting down: nothing new starts; what is in flight may finish.
        state.stopping = true;
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        while state.in_flight > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(done)) => self.complete(done, &mut state, &mut finished, &lanes, &done_tx),
                _ => break,
            }
        }
        for row in state.drain_waiting() {
            finished.push(Finish::Release { id: row.id });
        }
        let _ = finish_tx.send(finished);
        drop(finish_tx);
        drop(claimed_rx);
        let _ = tokio::time::timeout_at(deadline + SHUTDOWN_WAIT, recorder).await;
        tracing::debug!(
            in_flight = state.in_flight,
            "notification dispatcher stopped"
        );
    }

    /// Queues rows behind their incident and sink, and starts what can start.
    fn accept(
        &self,
        rows: Vec<Outgoing>,
        state: &mut Queues,
        lanes: &[Lane],
        done: &mpsc::UnboundedSender<Done>,
    ) {
        for row in rows {
            let lane = (row.incident.id.clone(), row.sink);
            if state.known(row.id) {
                continue;
            }
            state.held += 1;
            state.ids.insert(row.id, lane.clone());
            state.queues.entry(lane.clone()).or_default().push_back(row);
            self.start(&lane, state, lanes, done);
        }
    }

    /// Starts the head of `lane` unless one of its rows is in flight.
    fn start(
        &self,
        lane: &(String, usize),
        state: &mut Queues,
        lanes: &[Lane],
        done: &mpsc::UnboundedSender<Done>,
    ) {
        if state.stopping || state.busy.contains_key(lane) {
            return;
        }
        let Some(row) = state.queues.get_mut(lane).and_then(VecDeque::pop_front) else {
            state.queues.remove(lane);
            return;
        };
        state.busy.insert(lane.clone(), row.id);
        state.in_flight += 1;
        let sink = Arc::clone(&self.notifier.sinks);
        let limits = &lanes[row.sink];
        let (concurrency, rate) = (Arc::clone(&limits.concurrency), Arc::clone(&limits.rate));
        let client = self.client.clone();
        let link = self
            .public_url
            .as_ref()
            .map(|url| format!("{url}/v1/incidents/{}", row.incident.id));
        let done = done.clone();
        tokio::spawn(async move {
            let _permit = concurrency.acquire_owned().await;
            rate.lock().await.take().await;
            let sink = &sink[row.sink];
            let message = Message {
                step: row.step,
                incident: &row.incident,
                idempotency_key: &row.key,
                at_ms: row.due_ms,
                level: row.level,
                link: link.as_deref(),
            };
            let result = sinks::deliver(&client, sink, &message).await;
            let _ = done.send(Done { row, result });
        });
    }

    /// Records an attempt's outcome and moves its lane on.
    fn complete(
        &self,
        done: Done,
        state: &mut Queues,
        finished: &mut Vec<Finish>,
        lanes: &[Lane],
        done_tx: &mpsc::UnboundedSender<Done>,
    ) {
        let Done { row, result } = done;
        let lane = (row.incident.id.clone(), row.sink);
        state.in_flight -= 1;
        state.busy.remove(&lane);
        state.forget(row.id);
        let sink = &self.notifier.sinks[row.sink];
        let name = [sink.name.as_str()];
        let now_ms = self.clock.now_ms();
        let attempts = row.attempts + 1;
        match result {
            Ok(receipt) => {
                self.metrics.sent.with_label_values(&name).inc();
                let seconds = (now_ms - row.due_ms).max(0) as f64 / 1_000.0;
                self.metrics
                    .delivery
                    .with_label_values(&name)
                    .observe(seconds);
                tracing::info!(incident_id = %row.incident.id, sink = %sink.name, step = %row.step, idempotency_key = %row.key, attempts, status = receipt.status, "notification sent");
                finished.push(Finish::Sent {
                    id: row.id,
                    at_ms: now_ms,
                });
            }
            Err(SendError::Permanent { reason }) => {
                self.metrics.dead.with_label_values(&name).inc();
                tracing::error!(incident_id = %row.incident.id, sink = %sink.name, step = %row.step, idempotency_key = %row.key, attempts, error = %reason, "notification refused: dead-lettered (retry it with POST /v1/notifications/ID/retry once fixed)");
                finished.push(Finish::Dead {
                    id: row.id,
                    error: reason,
                });
            }
            Err(SendError::Retry { reason, after }) if now_ms >= row.give_up_ms => {
                let _ = after;
                self.metrics.dead.with_label_values(&name).inc();
                tracing::error!(incident_id = %row.incident.id, sink = %sink.name, step = %row.step, idempotency_key = %row.key, attempts, error = %reason, "notification still failing past its dead-letter time: dead-lettered");
                finished.push(Finish::Dead {
                    id: row.id,
                    error: reason,
                });
            }
            Err(SendError::Retry { reason, after }) => {
                self.metrics.failed.with_label_values(&name).inc();
                let delay = backoff(sink, attempts, after, &row.key);
                let next_attempt_ms = now_ms.saturating_add(delay.as_millis() as i64);
                tracing::warn!(incident_id = %row.incident.id, sink = %sink.name, step = %row.step, idempotency_key = %row.key, attempts, error = %reason, retry_in_ms = delay.as_millis() as u64, "notification failed: will retry");
                finished.push(Finish::Retry {
                    id: row.id,
                    error: reason,
                    next_attempt_ms,
                });
                // The rows behind it wait for it: back to the outbox, which keeps the order.
                for behind in state.queues.remove(&lane).unwrap_or_default() {
                    state.forget(behind.id);
                    finished.push(Finish::Release { id: behind.id });
                }
                return;
            }
        }
        self.start(&lane, state, lanes, done_tx);
    }
}

/// Claims rows that became claimable (retries due, escalations due, rows of a dead holder)
/// and hands them to the dispatcher; unusable ones are dead-lettered.
async fn claim(
    pipeline: Pipeline,
    notifier: Notifier,
    take_foreign: bool,
    claimed: mpsc::UnboundedSender<Vec<Outgoing>>,
    finish: mpsc::UnboundedSender<Vec<Finish>>,
) {
    let write = Write::Notify(NotifyWrite::Claim {
        holder: notifier.holder.clone(),
        limit: CLAIM_LIMIT,
        lease_ms: notifier.lease_ms,
        take_foreign,
    });
    let mut outgoing = Vec::new();
    match pipeline.write_waiting(write).await {
        Ok(WriteOutcome::Notifications(rows)) => {
            let mut unusable = Vec::new();
            for row in rows {
                let id = row.id;
                match notifier.outgoing(row) {
                    Ok(row) => outgoing.push(row),
                    Err(error) => unusable.push(Finish::Dead { id, error }),
                }
            }
            if !unusable.is_empty() {
                let _ = finish.send(unusable);
            }
        }
        Ok(_) => {}
        Err(error) => tracing::debug!(error = %error, "cannot claim notifications now"),
    }
    // Always answered, so the dispatcher claims again at its next poll.
    let _ = claimed.send(outgoing);
}

/// Writes delivery outcomes in the order they came, batching what queued up meanwhile; a
/// failed write is retried (nothing is dropped: an outcome not written leaves its row to be
/// sent again, under the same idempotency key).
async fn record_outcomes(
    pipeline: Pipeline,
    holder: String,
    mut outcomes: mpsc::UnboundedReceiver<Vec<Finish>>,
) {
    while let Some(mut batch) = outcomes.recv().await {
        while let Ok(more) = outcomes.try_recv() {
            batch.extend(more);
        }
        if batch.is_empty() {
            continue;
        }
        loop {
            let write = Write::Notify(NotifyWrite::Finish {
                holder: holder.clone(),
                finished: batch.clone(),
            });
            match pipeline.write_waiting(write).await {
                Ok(_) => break,
                Err(crate::pipeline::WriteError::Closed) => return,
                Err(error) => {
                    tracing::warn!(error = %error, n = batch.len(), "cannot record notification outcomes yet: will retry");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    while let Ok(more) = outcomes.try_recv() {
                        batch.extend(more);
                    }
                }
            }
        }
    }
}

/// Rows held in memory, per incident and sink.
#[derive(Default)]
struct Queues {
    queues: HashMap<(String, usize), VecDeque<Outgoing>>,
    /// Lanes with a row in flight, and its id.
    busy: HashMap<(String, usize), i64>,
    /// Every held row (queued or in flight) and its lane.
    ids: HashMap<i64, (String, usize)>,
    held: usize,
    in_flight: usize,
    stopping: bool,
}

impl Queues {
    fn known(&self, id: i64) -> bool {
        self.ids.contains_key(&id)
    }

    fn forget(&mut self, id: i64) {
        if self.ids.remove(&id).is_some() {
            self.held -= 1;
        }
    }

    fn held_ids(&self) -> Vec<i64> {
        self.ids.keys().copied().collect()
    }

    fn drain_waiting(&mut self) -> Vec<Outgoing> {
        let rows: Vec<Outgoing> = self.queues.drain().flat_map(|(_, rows)| rows).collect();
        for row in &rows {
            self.ids.remove(&row.id);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::sinks::{Delivery, SinkKind};

    fn sink() -> Sink {
        Sink {
            name: "q".into(),
            kind: SinkKind::Webhook,
            url: "http://127.0.0.1:1/".into(),
            secret: None,
            steps: crate::notify::Step::DEFAULT.to_vec(),
            delivery: Delivery::default(),
            options: crate::notify::sinks::SinkOptions::default(),
            callback_secret: None,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after() {
        let sink = sink();
        let first = backoff(&sink, 1, None, "k");
        assert!((800..=1_200).contains(&first.as_millis()), "{first:?}");
        let fourth = backoff(&sink, 4, None, "k");
        assert!((6_400..=9_600).contains(&fourth.as_millis()), "{fourth:?}");
        assert_eq!(backoff(&sink, 30, None, "k"), Duration::from_secs(300));
        assert_eq!(
            backoff(&sink, 1, Some(Duration::from_secs(7)), "k"),
            Duration::from_secs(7)
        );
        assert_eq!(
            backoff(&sink, 1, Some(Duration::ZERO), "k"),
            Duration::from_secs(1),
            "never faster than the minimum"
        );
        assert_ne!(backoff(&sink, 3, None, "a"), backoff(&sink, 3, None, "b"));
    }
}
