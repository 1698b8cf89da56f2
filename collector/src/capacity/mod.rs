//! Live capacity forecasts (issue 11): the series an agent's batches carry become per-resource
//! histories, forecast every `forecast_every`, persisted, listed by `GET /v1/capacity`,
//! exported as `vigil_capacity_*` and turned into capacity incidents.
//!
//! - `readings.rs` — which samples are capacity and what exhausts them (pure).
//! - `tracker.rs` — the state: a [`History`](crate::history::History) per (host, resource),
//!   the latest forecast, the alert level; restore, save, evict (pure, takes `now`).
//! - `alert.rs` — forecast → capacity incident level, with hysteresis (pure).
//! - this file — the thread that drives it: [`Capacity::observe`] (ingest, after the batch's
//!   commit) hands readings over a channel; the thread restores a host's stored series the first
//!   time it sees the host (so another collector, or this one after a restart, carries on the
//!   history), forecasts on its timer with the same `forecast` the `forecast` command runs, sends
//!   capacity events into the pipeline like the threshold rules do, and saves forecasts and the
//!   histories due through the pipeline (`Write::Capacity`). At shutdown it saves every history
//!   with news before the writer stops.
//!
//! After taking readings the thread sleeps `GATHER` (50 ms) before it looks again, so on a busy
//! collector ingest's send finds it asleep and only queues the message; an idle thread waits on
//! the channel and the next send wakes it. Woken by every send, it cost a futex wake and several
//! context switches per batch: a fifth of the CPU of a collector ingesting ~5,000–9,000 batches a
//! second, measured before the change.
//!
//! **Invariants:** ingest never waits for it (a channel send per batch); a history is saved only
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
use readings::Reading;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tracker::Tracker;
use vigil_shared::labels::Labels;

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
/// The most messages taken at once before the timers are looked at again.
const MAX_TAKEN: usize = 4_096;

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

enum Message {
    Observe {
        host_id: String,
        labels: Labels,
        time_ms: i64,
        received_ms: i64,
        readings: Vec<Reading>,
    },
    Forget(String),
}

/// The handle ingest and the exporter use.
#[derive(Clone)]
pub struct Capacity {
    sender: Option<mpsc::Sender<Message>>,
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
}

impl Capacity {
    /// A handle that tracks nothing (`[capacity] enabled = false`, tests).
    pub fn disabled() -> Capacity {
        Capacity {
            sender: None,
            snapshot: Arc::default(),
        }
    }

    /// Hands one committed batch's capacity readings, taken at `time_ms` (agent clock) and
    /// received at `received_ms` (collector clock), to the tracker.
    pub fn observe(
        &self,
        host_id: &str,
        labels: &Labels,
        time_ms: i64,
        received_ms: i64,
        readings: Vec<Reading>,
    ) {
        let Some(sender) = &self.sender else {
            return;
        };
        if readings.is_empty() {
            return;
        }
        let _ = sender.send(Message::Observe {
            host_id: host_id.to_owned(),
            labels: labels.clone(),
            time_ms,
            received_ms,
            readings,
        });
    }

    /// Forgets a decommissioned host's series (the store forgets its rows with the host).
    pub fn forget(&self, host_id: &str) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Message::Forget(host_id.to_owned()));
        }
    }

    /// Whether readings are tracked.
    pub fn is_enabled(&self) -> bool {
        self.sender.is_some()
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
    let (sender, receiver) = mpsc::channel();
    let snapshot: Arc<RwLock<Arc<Snapshot>>> = Arc::default();
    let published = Arc::clone(&snapshot);
    let thread = std::thread::Builder::new()
        .name("vigil-capacity".into())
        .spawn(move || run(wiring, &receiver, &published))?;
    Ok((
        Capacity {
            sender: Some(sender),
            snapshot,
        },
        Some(thread),
    ))
}

fn run(wiring: Wiring, receiver: &mpsc::Receiver<Message>, published: &RwLock<Arc<Snapshot>>) {
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
    loop {
        let wait = next_forecast
            .min(next_save)
            .saturating_duration_since(Instant::now());
        let mut caught_up = false;
        match receiver.recv_timeout(wait) {
            Ok(message) => {
                take(&mut tracker, reader.as_ref(), message);
                let mut n_taken = 1;
                while n_taken < MAX_TAKEN {
                    let Ok(message) = receiver.try_recv() else {
                        caught_up = true;
                        break;
                    };
                    take(&mut tracker, reader.as_ref(), message);
                    n_taken += 1;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                tracing::info!(n_series = tracker.len(), "saving capacity histories");
                save_histories(&mut tracker, clock.now_ms(), true);
                return;
            }
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
        if caught_up {
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

/// Applies one message to the tracker, restoring a host's stored series the first time it is
/// seen (a host whose stored series cannot be read yet is skipped until its next batch).
fn take(tracker: &mut Tracker, reader: &dyn Reader, message: Message) {
    match message {
        Message::Observe {
            host_id,
            labels,
            time_ms,
            received_ms,
            readings,
        } => {
            if !tracker.knows(&host_id) && !restore(tracker, reader, &host_id) {
                return;
            }
            tracker.observe(&host_id, &labels, time_ms, readings, received_ms);
        }
        Message::Forget(host_id) => tracker.forget(&host_id),
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
        for i in 0..n_points {
            let reading = Reading {
                resource: "memory".into(),
                unit: "bytes",
                used: i as f64,
                capacity: Some(1e6),
            };
            capacity.observe("db-1", &Labels::new(), i * 10_000, 1_000, vec![reading]);
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
