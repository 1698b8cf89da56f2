//! Live capacity forecasts (issue 11): the series an agent's batches carry become per-resource
//! histories, forecast every `forecast_every`, persisted, listed by `GET /v1/capacity`,
//! exported as `vigil_capacity_*` and turned into capacity incidents.
//!
//! - `readings.rs` — which samples are capacity and what exhausts them (pure).
//! - `tracker.rs` — the state: a [`History`](crate::history::History) per (host, resource),
//!   the latest forecast, the alert level; restore, save, evict (pure, takes `now`).
//! - `alert.rs` — forecast → capacity incident level, with hysteresis (pure).
//! - this file — the thread that drives it: [`Capacity::observe`] (ingest, after the batch's
//!   commit) puts the batch's readings in the inbox; the thread restores a host's stored series
//!   the first time it sees the host (so another collector, or this one after a restart, carries on the
//!   history), forecasts on its timer with the same `forecast` the `forecast` command runs, sends
//!   capacity events into the pipeline like the threshold rules do, and saves forecasts and the
//!   histories due through the pipeline (`Write::Capacity`). At shutdown it saves every history
//!   with news before the writer stops.
//!
//! The hand-off allocates nothing per batch: the inbox is a few flat buffers (the text of host
//! ids, labels and resource names back to back, and the readings and messages indexing it) that
//! ingest appends to under a mutex held for the copy, and that the thread swaps whole for its own
//! emptied set; both sets keep their capacity. (A message per batch with its own host id, labels
//! and readings cost a dozen allocations, freed on the other thread: about 12 µs a batch.)
//! After taking readings the thread sleeps `GATHER` (50 ms) before it looks again, so on a busy
//! collector ingest finds it asleep and only appends; an idle thread waits on a condition
//! variable and the next batch wakes it. Woken by every batch, it cost a futex wake and several
//! context switches per batch: a fifth of the CPU of a collector ingesting ~5,000–9,000 batches a
//! second, measured before the change.
//!
//! **Invariants:** ingest never waits for it (an append under a mutex the thread only holds to
//! swap the buffers); messages are applied in the order they were put in; a history is saved only
//! by the collector receiving its series, and a host whose stored series could not be read is
//! not tracked until they can be (so a fresh history never overwrites a stored one).

pub mod alert;
pub mod readings;
pub mod tracker;

use crate::clock::Clock;
use crate::incidents::EventIn;
use crate::pipeline::{Pipeline, Write};
use crate::store::{CapacityFilter, CapacityRecord, HistoryRow, Reader};
use alert::AlertLevel;
use readings::ReadingView;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};
use tracker::Tracker;
use vigil_shared::labels::Labels;
use vigil_shared::wire::view::SampleView;

const MINUTE_MS: i64 = 60_000;
/// Histories per save: a fleet's series (tens of thousands, due together after a restart) are
/// saved in writes of this many, never all their bytes at once (~6 KB each compressed).
const SAVE_ROWS: usize = 500;
/// Save ticks per `persist_every`: the series due are saved a share at each tick, so a fleet whose
/// series all came due together (a restart restores them with one `saved_ms`) spreads its saves
/// over the period instead of holding the one writer for all of them at once.
const SAVE_TICKS: i64 = 30;
const HOUR_MS: i64 = 3_600_000;
/// How long the thread lets readings gather after taking some (see the module doc).
const GATHER: Duration = Duration::from_millis(50);
/// An inbox grown past this many messages (a backlog) is shrunk back after it was taken.
const KEEP_MESSAGES: usize = 4_096;

/// The `[capacity]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityConfig {
    /// Off: no history, no forecasts.
    pub enabled: bool,
    /// How often every series is forecast.
    pub forecast_every_ms: i64,
    /// How often a series' history is saved (a crash loses at most this much of it).
    pub persist_every_ms: i64,
    /// History a series needs before its first forecast.
    pub min_history_ms: i64,
    /// A series that received nothing this long is saved and dropped from memory.
    pub idle_after_ms: i64,
    /// Forecast horizons; the longest bounds `exhaustion_at`.
    pub horizons_ms: Vec<i64>,
    /// Capacity incident levels, most urgent first.
    pub alerts: Vec<AlertLevel>,
    /// The resource kinds that open capacity incidents (`filesystem`, `inodes`, `memory`,
    /// `swap`; `cpu`, `load` and `probe_latency` are forecast but, by default, alert nobody:
    /// a busy CPU is not running out of anything the threshold rules do not already watch).
    pub alert_on: Vec<String>,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            enabled: true,
            forecast_every_ms: 5 * MINUTE_MS,
            persist_every_ms: 15 * MINUTE_MS,
            min_history_ms: 5 * MINUTE_MS,
            idle_after_ms: HOUR_MS,
            horizons_ms: vec![HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS, 7 * 24 * HOUR_MS],
            alerts: alert::default_levels(),
            alert_on: ["filesystem", "inodes", "memory", "swap"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

/// How a horizon is named in the API and the metrics: `30m`, `1h`, `24h`, `7d` (whole days from
/// 2 days on, whole hours below).
pub fn horizon_key(ms: i64) -> String {
    const DAY_MS: i64 = 24 * HOUR_MS;
    match ms {
        ms if ms >= 2 * DAY_MS && ms % DAY_MS == 0 => format!("{}d", ms / DAY_MS),
        ms if ms >= HOUR_MS && ms % HOUR_MS == 0 => format!("{}h", ms / HOUR_MS),
        ms => vigil_shared::format_duration(Duration::from_millis(ms.max(0) as u64)),
    }
}

/// What `/metrics` shows: this collector's latest forecasts.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The forecasts, by host and resource (shared with the tracker).
    pub records: Vec<Arc<CapacityRecord>>,
    /// Series held (forecast or still gathering history).
    pub series: usize,
}

/// A run of the inbox's text.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// One batch's readings or a host to forget, pointing into its [`Inbox`]'s buffers.
#[derive(Debug, Clone, Copy)]
enum Message {
    Observe {
        host_id: Span,
        /// Indices into `Inbox::labels`.
        labels: Span,
        /// Indices into `Inbox::readings`.
        readings: Span,
        time_ms: i64,
        received_ms: i64,
    },
    Forget(Span),
}

/// A reading whose variable part of the name is in `Inbox::text`.
#[derive(Debug, Clone, Copy)]
struct Pending {
    prefix: &'static str,
    suffix: Span,
    unit: &'static str,
    used: f64,
    capacity: Option<f64>,
}

/// Messages in the order they were put in, with what they point to.
#[derive(Debug, Default)]
struct Inbox {
    text: String,
    labels: Vec<(Span, Span)>,
    readings: Vec<Pending>,
    messages: Vec<Message>,
}

impl Inbox {
    fn put_text(&mut self, text: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(text);
        Span {
            start,
            end: self.text.len(),
        }
    }

    fn text(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or_default()
    }

    /// Puts in a batch's capacity readings; false (and nothing put in) when it has none.
    fn observe(
        &mut self,
        host_id: &str,
        labels: &Labels,
        time_ms: i64,
        received_ms: i64,
        samples: &[SampleView<'_>],
    ) -> bool {
        let first_reading = self.readings.len();
        let text_len = self.text.len();
        readings::each_reading(samples, |reading| {
            let suffix = self.put_text(reading.suffix);
            self.readings.push(Pending {
                prefix: reading.prefix,
                suffix,
                unit: reading.unit,
                used: reading.used,
                capacity: reading.capacity,
            });
        });
        if self.readings.len() == first_reading {
            self.text.truncate(text_len);
            return false;
        }
        let readings = Span {
            start: first_reading,
            end: self.readings.len(),
        };
        let host_id = self.put_text(host_id);
        let first_label = self.labels.len();
        for (name, value) in labels {
            let pair = (self.put_text(name), self.put_text(value));
            self.labels.push(pair);
        }
        let labels = Span {
            start: first_label,
            end: self.labels.len(),
        };
        self.messages.push(Message::Observe {
            host_id,
            labels,
            readings,
            time_ms,
            received_ms,
        });
        true
    }

    fn forget(&mut self, host_id: &str) {
        let host_id = self.put_text(host_id);
        self.messages.push(Message::Forget(host_id));
    }

    /// Empties it, keeping the buffers (shrunk after a backlog).
    fn clear(&mut self) {
        let shrink = self.messages.capacity() > KEEP_MESSAGES;
        self.text.clear();
        self.labels.clear();
        self.readings.clear();
        self.messages.clear();
        if shrink {
            self.text.shrink_to(KEEP_MESSAGES * 64);
            self.labels.shrink_to(KEEP_MESSAGES);
            self.readings.shrink_to(KEEP_MESSAGES * 8);
            self.messages.shrink_to(KEEP_MESSAGES);
        }
    }
}

/// What ingest and the thread share: the inbox and whether the thread waits for it.
#[derive(Default)]
struct Mailbox {
    inbox: Inbox,
    /// The thread waits on `Shared::wake` (the next message wakes it).
    waiting: bool,
    /// Every handle dropped: the thread saves and ends once it took the inbox.
    closed: bool,
    /// The thread ended (or panicked): nothing is put in any more.
    gone: bool,
}

#[derive(Default)]
struct Shared {
    mailbox: Mutex<Mailbox>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts a message in with `put` (false: nothing was), waking the thread if it waits.
    fn put(&self, put: impl FnOnce(&mut Inbox) -> bool) {
        let mut mailbox = self.lock();
        if mailbox.gone {
            return;
        }
        let wake = put(&mut mailbox.inbox) && std::mem::take(&mut mailbox.waiting);
        drop(mailbox);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Waits until there are messages, every handle dropped, or `until`; then swaps the inbox
    /// with `taken` (emptied). True when every handle dropped (so `taken` holds the last ones).
    fn take(&self, taken: &mut Inbox, until: Instant) -> bool {
        let mut mailbox = self.lock();
        loop {
            if !mailbox.inbox.messages.is_empty() || mailbox.closed {
                break;
            }
            let Some(wait) = until
                .checked_duration_since(Instant::now())
                .filter(|wait| !wait.is_zero())
            else {
                break;
            };
            mailbox.waiting = true;
            mailbox = self
                .wake
                .wait_timeout(mailbox, wait)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        mailbox.waiting = false;
        std::mem::swap(&mut mailbox.inbox, taken);
        mailbox.closed
    }
}

/// Held by the thread: when it ends, however it ends, the inbox is emptied and stays so.
struct Outlet<'a>(&'a Shared);

impl Drop for Outlet<'_> {
    fn drop(&mut self) {
        let mut mailbox = self.0.lock();
        mailbox.gone = true;
        mailbox.inbox = Inbox::default();
    }
}

/// Held by every [`Capacity`] clone; the last one dropped tells the thread to save and end.
struct Inlet(Arc<Shared>);

impl Drop for Inlet {
    fn drop(&mut self) {
        let mut mailbox = self.0.lock();
        mailbox.closed = true;
        drop(mailbox);
        self.0.wake.notify_one();
    }
}

/// The handle ingest and the exporter use.
#[derive(Clone)]
pub struct Capacity {
    inlet: Option<Arc<Inlet>>,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
}

impl Capacity {
    /// A handle that tracks nothing (`[capacity] enabled = false`, tests).
    pub fn disabled() -> Capacity {
        Capacity {
            inlet: None,
            snapshot: Arc::default(),
        }
    }

    /// Hands the capacity readings of one committed batch's `samples`, taken at `time_ms`
    /// (agent clock) and received at `received_ms` (collector clock), to the tracker.
    pub fn observe(
        &self,
        host_id: &str,
        labels: &Labels,
        time_ms: i64,
        received_ms: i64,
        samples: &[SampleView<'_>],
    ) {
        let Some(inlet) = &self.inlet else {
            return;
        };
        inlet
            .0
            .put(|inbox| inbox.observe(host_id, labels, time_ms, received_ms, samples));
    }

    /// Forgets a decommissioned host's series (the store forgets its rows with the host).
    pub fn forget(&self, host_id: &str) {
        if let Some(inlet) = &self.inlet {
            inlet.0.put(|inbox| {
                inbox.forget(host_id);
                true
            });
        }
    }

    /// Whether readings are tracked.
    pub fn is_enabled(&self) -> bool {
        self.inlet.is_some()
    }

    /// The latest forecasts of this collector's series.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(
            &self
                .snapshot
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// What the thread needs.
pub struct Wiring {
    /// The settings.
    pub config: CapacityConfig,
    /// Stored histories and forecasts are read here.
    pub reader: Arc<dyn Reader>,
    /// Saves go through the write path.
    pub pipeline: Pipeline,
    /// Capacity events go here (the collector's own event producer).
    pub feed: tokio::sync::mpsc::UnboundedSender<EventIn>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The runtime the pipeline's futures run on.
    pub runtime: tokio::runtime::Handle,
}

/// Starts the capacity thread (when enabled). It ends, after a last save, once every
/// [`Capacity`] handle is dropped.
pub fn start(wiring: Wiring) -> std::io::Result<(Capacity, Option<std::thread::JoinHandle<()>>)> {
    if !wiring.config.enabled {
        return Ok((Capacity::disabled(), None));
    }
    let shared = Arc::new(Shared::default());
    let inbox = Arc::clone(&shared);
    let snapshot: Arc<RwLock<Arc<Snapshot>>> = Arc::default();
    let published = Arc::clone(&snapshot);
    let thread = std::thread::Builder::new()
        .name("vigil-capacity".into())
        .spawn(move || run(wiring, &inbox, &published))?;
    Ok((
        Capacity {
            inlet: Some(Arc::new(Inlet(shared))),
            snapshot,
        },
        Some(thread),
    ))
}

fn run(wiring: Wiring, shared: &Shared, published: &RwLock<Arc<Snapshot>>) {
    let _outlet = Outlet(shared);
    let Wiring {
        config,
        reader,
        pipeline,
        feed,
        clock,
        runtime,
    } = wiring;
    let forecast_every = Duration::from_millis(config.forecast_every_ms.max(100) as u64);
    let save_every_ms = (config.persist_every_ms / SAVE_TICKS).clamp(100, MINUTE_MS);
    let save_every = Duration::from_millis(save_every_ms as u64);
    let persist_every_ms = config.persist_every_ms;
    let mut tracker = Tracker::new(config);
    let mut next_forecast = Instant::now() + forecast_every;
    let mut next_save = Instant::now() + save_every;
    // One write; false when it failed (its histories are then due again, cold parts kept).
    let save = |tracker: &mut Tracker, write: Write| {
        let Write::Capacity { records, histories } = &write else {
            return true;
        };
        if records.is_empty() && histories.is_empty() {
            return true;
        }
        let n_histories = histories.len();
        // What a retry needs: the series and their cold parts, not the bytes.
        let unsaved: Vec<HistoryRow> = histories
            .iter()
            .map(|row| HistoryRow {
                host_id: row.host_id.clone(),
                resource: row.resource.clone(),
                saved_ms: row.saved_ms,
                data: Vec::new(),
                cold: row.cold.clone(),
                cold_before_ms: row.cold_before_ms,
            })
            .collect();
        if let Err(error) = runtime.block_on(pipeline.write_waiting(write)) {
            tracing::warn!(error = %error, n_histories, "capacity not saved; retrying at the next save");
            tracker.unsaved(unsaved);
            return false;
        }
        true
    };
    // The histories due (all of them with `all`, else this tick's share), SAVE_ROWS a write; the
    // idle series' last saves.
    let save_histories = |tracker: &mut Tracker, now_ms: i64, all: bool| {
        let mut budget = if all {
            usize::MAX
        } else {
            save_budget(tracker.len(), save_every_ms, persist_every_ms)
        };
        while budget > 0 {
            let histories = tracker.histories_at_most(now_ms, all, SAVE_ROWS.min(budget));
            if histories.is_empty() {
                break;
            }
            budget -= histories.len();
            let records = Vec::new();
            if !save(tracker, Write::Capacity { records, histories }) {
                return;
            }
        }
        let mut idle = tracker.evict_idle(now_ms);
        while !idle.is_empty() {
            let histories = idle.split_off(idle.len().saturating_sub(SAVE_ROWS));
            let records = Vec::new();
            // An evicted series is not tracked any more: a failed save cannot be retried.
            save(tracker, Write::Capacity { records, histories });
        }
    };
    let mut taken = Inbox::default();
    loop {
        let closed = shared.take(&mut taken, next_forecast.min(next_save));
        let n_taken = taken.messages.len();
        for message in &taken.messages {
            take(&mut tracker, reader.as_ref(), &taken, *message);
        }
        taken.clear();
        if closed {
            tracing::info!(n_series = tracker.len(), "saving capacity histories");
            save_histories(&mut tracker, clock.now_ms(), true);
            return;
        }
        let now = Instant::now();
        if now >= next_forecast {
            let started = Instant::now();
            let now_ms = clock.now_ms();
            let pass = tracker.forecast(now_ms);
            tracing::debug!(
                n_forecasts = pass.records.len(),
                n_waiting = pass.waiting,
                n_events = pass.events.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "capacity forecast pass"
            );
            for event in pass.events {
                tracing::info!(host = ?event.host, check = %event.check, status = event.status.as_str(), summary = %event.summary, "capacity event");
                if feed.send(event).is_err() {
                    tracing::warn!(
                        "event feed closed (shutting down): capacity event not recorded"
                    );
                }
            }
            // SAVE_ROWS a write too: a fleet's records (one per series) in one write held the
            // writer, and ingest's batches behind it, for seconds on PostgreSQL.
            for records in pass.records.chunks(SAVE_ROWS) {
                let records = records.to_vec();
                let histories = Vec::new();
                save(&mut tracker, Write::Capacity { records, histories });
            }
            save_histories(&mut tracker, now_ms, false);
            let snapshot = Arc::new(Snapshot {
                records: tracker.records(),
                series: tracker.len(),
            });
            *published
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot;
            next_forecast = Instant::now() + forecast_every;
            next_save = Instant::now() + save_every;
        } else if now >= next_save {
            save_histories(&mut tracker, clock.now_ms(), false);
            next_save = Instant::now() + save_every;
        }
        if n_taken > 0 {
            let until_timer = next_forecast
                .min(next_save)
                .saturating_duration_since(Instant::now());
            std::thread::sleep(GATHER.min(until_timer));
        }
    }
}

/// How many histories one save tick may write: twice the share that saves `n_series` once per
/// `persist_every_ms` at a tick every `tick_ms`, so the saves keep up with a growing fleet and a
/// fleet due all at once is saved within half the period, a few writes of [`SAVE_ROWS`] a tick.
fn save_budget(n_series: usize, tick_ms: i64, persist_every_ms: i64) -> usize {
    let ticks = (persist_every_ms / tick_ms.max(1)).max(1) as usize;
    (2 * n_series).div_ceil(ticks).max(SAVE_ROWS)
}

/// Applies one message of `inbox` to the tracker, restoring a host's stored series the first
/// time it is seen (a host whose stored series cannot be read yet is skipped until its next
/// batch).
fn take(tracker: &mut Tracker, reader: &dyn Reader, inbox: &Inbox, message: Message) {
    match message {
        Message::Observe {
            host_id,
            labels,
            readings,
            time_ms,
            received_ms,
        } => {
            let host_id = inbox.text(host_id);
            if !tracker.knows(host_id) && !restore(tracker, reader, host_id) {
                return;
            }
            let labels = inbox
                .labels
                .get(labels.start..labels.end)
                .unwrap_or_default()
                .iter()
                .map(|&(name, value)| (inbox.text(name), inbox.text(value)));
            let readings = inbox
                .readings
                .get(readings.start..readings.end)
                .unwrap_or_default()
                .iter()
                .map(|pending| ReadingView {
                    prefix: pending.prefix,
                    suffix: inbox.text(pending.suffix),
                    unit: pending.unit,
                    used: pending.used,
                    capacity: pending.capacity,
                });
            tracker.observe_views(host_id, labels, time_ms, readings, received_ms);
        }
        Message::Forget(host_id) => tracker.forget(inbox.text(host_id)),
    }
}

/// Restores `host_id`'s stored series; false when the store could not be read (the host is
/// then not tracked yet, and asked again with its next batch).
fn restore(tracker: &mut Tracker, reader: &dyn Reader, host_id: &str) -> bool {
    let stored = reader.load_history(host_id).and_then(|histories| {
        let records = reader.list_capacity(&CapacityFilter {
            host: Some(host_id.to_owned()),
            limit: 100_000,
            ..CapacityFilter::default()
        })?;
        Ok((histories, records))
    });
    match stored {
        Ok((histories, records)) => {
            let n_histories = histories.len();
            for (resource, reason) in tracker.restore(host_id, histories, records) {
                tracing::warn!(host = %host_id, %resource, %reason, "stored capacity history unreadable: starting it afresh");
            }
            if n_histories > 0 {
                tracing::debug!(host = %host_id, n_histories, "capacity histories restored");
            }
            true
        }
        Err(error) => {
            tracing::warn!(host = %host_id, error = %error, "cannot read the stored capacity history yet");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::history::History;
    use crate::incidents::{Engine, Policy};
    use crate::pipeline::Writer;
    use crate::store::sqlite::{SqliteBackend, SqliteReader};
    use vigil_shared::wire::view::LabelsView;

    #[test]
    fn a_fleet_due_at_once_is_saved_over_half_the_period_in_shares() {
        let every = 15 * MINUTE_MS;
        let tick = every / SAVE_TICKS;
        // 10,000 hosts × 5 series, all due together after a restart.
        let n_series = 50_000;
        let budget = save_budget(n_series, tick, every);
        assert_eq!(budget, 3_334);
        let ticks_to_save_all = n_series.div_ceil(budget) as i64;
        assert!(
            ticks_to_save_all * tick <= every / 2,
            "{ticks_to_save_all} ticks"
        );
        // A small fleet is saved whole at one tick, a write of at most SAVE_ROWS.
        assert_eq!(save_budget(40, tick, every), SAVE_ROWS);
        // A tick as long as the period (persist_every under SAVE_TICKS × 100 ms) saves all.
        assert!(save_budget(n_series, 1_000, 1_000) >= n_series);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_reading_sent_before_the_last_handle_drops_is_saved_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let backend = SqliteBackend::open(&path).unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let writer = Writer {
            backend: Box::new(backend),
            engine: Engine::new(Policy::default(), Vec::new(), 0),
            clock: clock.clone(),
            observer: Box::new(|_| {}),
            event_id_retention_ms: 60_000,
            notify: None,
            notification_retention_ms: 60_000,
        };
        let (pipeline, _writer_thread) = Pipeline::start(writer, 1_000).unwrap();
        let (feed, _feed_rx) = tokio::sync::mpsc::unbounded_channel();
        let (capacity, thread) = start(Wiring {
            config: CapacityConfig::default(),
            reader: Arc::new(SqliteReader::open(&path).unwrap()),
            pipeline,
            feed,
            clock,
            runtime: tokio::runtime::Handle::current(),
        })
        .unwrap();
        // Bursts with pauses longer than the gathering time between them: the thread takes
        // readings both as they come and after they queued up while it slept.
        let n_points = 300;
        let sample = |name: &'static str, value: f64| SampleView {
            name: name.into(),
            labels: LabelsView::default(),
            value,
            time_ms: None,
        };
        // A batch without capacity samples puts nothing in.
        capacity.observe(
            "db-1",
            &Labels::new(),
            0,
            1_000,
            &[sample("uptime_seconds", 1.0)],
        );
        for i in 0..n_points {
            // memory used = total − available = i
            let samples = [
                sample("memory_total_bytes", 1e6),
                sample("memory_available_bytes", 1e6 - i as f64),
            ];
            capacity.observe("db-1", &Labels::new(), i * 10_000, 1_000, &samples);
            if i % 100 == 99 {
                tokio::time::sleep(GATHER * 3).await;
            }
        }
        drop(capacity);
        tokio::task::spawn_blocking(move || thread.unwrap().join().unwrap())
            .await
            .unwrap();
        let rows = SqliteReader::open(&path)
            .unwrap()
            .load_history("db-1")
            .unwrap();
        assert_eq!(rows.len(), 1);
        let bytes = zstd::bulk::decompress(&rows[0].data, 1 << 20).unwrap();
        let points = History::from_bytes(&bytes).unwrap().points();
        let times: Vec<i64> = points.iter().map(|&(t, _)| t).collect();
        assert_eq!(times, (0..n_points).map(|i| i * 10_000).collect::<Vec<_>>());
        assert_eq!(points.last(), Some(&(2_990_000, 299.0)));
    }
}
