//! The capacity state of the series this collector receives: each series' [`History`], its
//! latest forecast and alert level. Synchronous and clock-free (every call takes `now_ms`, the
//! collector's clock); the thread in `mod.rs` drives it and does the I/O.

use super::CapacityConfig;
use super::alert;
use super::readings::{Reading, ReadingView};
use crate::forecast::{self, Options};
use crate::history::{History, Layout};
use crate::incidents::EventIn;
use crate::store::{CapacityRecord, ColdRow, HistoryRow, HorizonRecord};
use std::collections::HashMap;
use std::sync::Arc;
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;

/// The `source` of capacity events (the collector's own).
pub const SOURCE: &str = "vigil";
/// Capacity checks are named `capacity:<resource>`.
pub const CHECK_PREFIX: &str = "capacity:";
/// The most bytes a persisted history may decompress to.
const MAX_HISTORY_BYTES: usize = 64 << 20;
/// The forecaster is given this much of the history (older points would coarsen its grid).
const FORECAST_WINDOW_MS: i64 = 7 * 24 * 3_600_000;
/// A series needs at least this many points before its first forecast.
const MIN_FORECAST_POINTS: usize = 10;
/// A firing series announces a moved forecast when the time left changed by more than this
/// fraction since the last announcement.
const MOVED: f64 = 0.25;

struct Entry {
    history: History,
    unit: &'static str,
    used: f64,
    capacity: Option<f64>,
    /// The newest point's time (agent clock).
    last_ms: i64,
    /// When the newest point arrived (collector clock).
    received_ms: i64,
    /// Pushed to since its last save.
    dirty: bool,
    /// Cold parts of the history whose save failed (kept for the next one).
    cold: Vec<ColdRow>,
    saved_ms: i64,
    record: Option<Arc<CapacityRecord>>,
    firing: Option<Severity>,
    /// The exhaustion time the last capacity event announced.
    announced_ms: Option<i64>,
    /// The host's labels in the newest batch that fed it (shared by the series of one batch).
    labels: Arc<Labels>,
}

impl Entry {
    fn new(unit: &'static str, layout: Layout) -> Entry {
        Entry {
            history: History::new(layout),
            unit,
            used: f64::NAN,
            capacity: None,
            last_ms: i64::MIN,
            received_ms: i64::MIN,
            dirty: false,
            cold: Vec::new(),
            saved_ms: i64::MIN,
            record: None,
            firing: None,
            announced_ms: None,
            labels: Arc::default(),
        }
    }
}

/// What a forecast pass produced.
#[derive(Debug, Default)]
pub struct Pass {
    /// The new forecasts (to store; the tracker holds the same ones).
    pub records: Vec<Arc<CapacityRecord>>,
    /// Capacity events (to the pipeline).
    pub events: Vec<EventIn>,
    /// Series that could not be forecast yet (too little history).
    pub waiting: usize,
}

/// Every series this collector holds, by host and resource.
pub struct Tracker {
    config: CapacityConfig,
    layout: Layout,
    hosts: HashMap<String, HashMap<String, Entry>>,
    /// A resource name being looked up (reused: a lookup of a known series allocates nothing).
    resource: String,
}

fn unit_of(resource: &str) -> &'static str {
    match resource.split(':').next().unwrap_or_default() {
        "filesystem" | "memory" | "swap" => "bytes",
        "inodes" => "inodes",
        "cpu" => "ratio",
        "load" => "load",
        "probe_latency" => "seconds",
        _ => "",
    }
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: CapacityConfig) -> Tracker {
        Tracker {
            config,
            layout: Layout::default(),
            hosts: HashMap::new(),
            resource: String::new(),
        }
    }

    /// Whether `host_id`'s series are in memory (else its stored ones should be restored first).
    pub fn knows(&self, host_id: &str) -> bool {
        self.hosts.contains_key(host_id)
    }

    /// Number of series held.
    pub fn len(&self) -> usize {
        self.hosts.values().map(HashMap::len).sum()
    }

    /// True when no series is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes `host_id`'s stored histories and forecasts (the host becomes known even when there
    /// are none). A row that does not decode is skipped and named in the answer.
    pub fn restore(
        &mut self,
        host_id: &str,
        histories: Vec<HistoryRow>,
        records: Vec<CapacityRecord>,
    ) -> Vec<(String, String)> {
        let layout = self.layout;
        let series = self.hosts.entry(host_id.to_owned()).or_default();
        let mut skipped = Vec::new();
        for row in histories {
            match decode(&row.data) {
                Ok(history) => {
                    let mut entry = Entry::new(unit_of(&row.resource), layout);
                    entry.history = history;
                    entry.saved_ms = row.saved_ms;
                    if let Some((time, value)) = entry.history.last() {
                        entry.last_ms = time;
                        entry.used = value;
                    }
                    series.insert(row.resource, entry);
                }
                Err(reason) => skipped.push((row.resource, reason)),
            }
        }
        for record in records {
            let entry = series
                .entry(record.resource.clone())
                .or_insert_with(|| Entry::new(unit_of(&record.resource), layout));
            entry.firing = record.alert.as_deref().and_then(|s| s.parse().ok());
            entry.announced_ms = record.exhaustion_ms;
            entry.capacity = record.capacity;
            entry.record = Some(Arc::new(record));
        }
        skipped
    }

    /// Adds one batch's readings, taken at `time_ms` (agent clock), received at `now_ms`.
    pub fn observe(
        &mut self,
        host_id: &str,
        labels: &Labels,
        time_ms: i64,
        readings: Vec<Reading>,
        now_ms: i64,
    ) {
        let pairs = labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let readings = readings.iter().map(Reading::as_view);
        self.observe_views(host_id, pairs, time_ms, readings, now_ms);
    }

    /// [`Tracker::observe`] with borrowed readings and the host's labels as sorted pairs (the
    /// capacity thread's form: nothing is allocated for a known host's known series whose labels
    /// did not change).
    pub fn observe_views<'a, 'r>(
        &mut self,
        host_id: &str,
        labels: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        time_ms: i64,
        readings: impl IntoIterator<Item = ReadingView<'r>>,
        now_ms: i64,
    ) {
        let Tracker {
            layout,
            hosts,
            resource,
            ..
        } = self;
        let layout = *layout;
        let series = match hosts.get_mut(host_id) {
            Some(series) => series,
            None => hosts.entry(host_id.to_owned()).or_default(),
        };
        // The labels are compared once a batch: the first series fed takes (or keeps) a copy
        // equal to `labels`, the others share it.
        let mut batch_labels: Option<Arc<Labels>> = None;
        for reading in readings {
            resource.clear();
            reading.write_resource(resource);
            let entry = match series.get_mut(resource.as_str()) {
                Some(entry) => entry,
                None => series
                    .entry(resource.clone())
                    .or_insert_with(|| Entry::new(reading.unit, layout)),
            };
            if time_ms <= entry.last_ms {
                continue;
            }
            entry.history.push(time_ms, reading.used);
            entry.unit = reading.unit;
            entry.used = reading.used;
            entry.capacity = reading.capacity;
            entry.last_ms = time_ms;
            entry.received_ms = now_ms;
            entry.dirty = true;
            match &batch_labels {
                Some(shared) => {
                    if !Arc::ptr_eq(&entry.labels, shared) {
                        entry.labels = Arc::clone(shared);
                    }
                }
                None => {
                    if !same_labels(&entry.labels, labels.clone()) {
                        let copy = labels
                            .clone()
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect();
                        entry.labels = Arc::new(copy);
                    }
                    batch_labels = Some(Arc::clone(&entry.labels));
                }
            }
        }
    }

    /// Forecasts every series with enough history; answers the new forecasts and the capacity
    /// events their alert levels call for.
    pub fn forecast(&mut self, now_ms: i64) -> Pass {
        let mut pass = Pass::default();
        let levels = &self.config.alerts;
        for (host_id, series) in &mut self.hosts {
            for (resource, entry) in series.iter_mut() {
                if entry.last_ms == i64::MIN {
                    continue;
                }
                let points = entry
                    .history
                    .points_since(entry.last_ms.saturating_sub(FORECAST_WINDOW_MS));
                let span = points.last().map_or(0, |last| last.0)
                    - points.first().map_or(0, |first| first.0);
                if points.len() < MIN_FORECAST_POINTS || span < self.config.min_history_ms {
                    pass.waiting += 1;
                    continue;
                }
                let mut options = Options::new(self.config.horizons_ms.clone());
                options.capacity = entry.capacity;
                let forecast = match forecast::forecast(&points, &options) {
                    Ok(forecast) => forecast,
                    Err(error) => {
                        tracing::debug!(host = %host_id, %resource, %error, "no forecast");
                        pass.waiting += 1;
                        continue;
                    }
                };
                let left = forecast
                    .exhaustion_at_ms
                    .map(|at| at.saturating_sub(forecast.last_ms));
                let kind = resource.split(':').next().unwrap_or_default();
                let alerting = self.config.alert_on.iter().any(|on| on == kind);
                let level = if alerting {
                    alert::decide(levels, left, entry.firing)
                } else {
                    None
                };
                let record = CapacityRecord {
                    host_id: host_id.clone(),
                    resource: resource.clone(),
                    unit: entry.unit.to_owned(),
                    used: entry.used,
                    capacity: entry.capacity,
                    last_ms: entry.last_ms,
                    computed_ms: now_ms,
                    points: points.len(),
                    model: forecast.model.to_owned(),
                    horizons: forecast
                        .horizons
                        .iter()
                        .map(|h| HorizonRecord {
                            horizon_ms: h.horizon_ms,
                            value: h.value,
                            low: h.low,
                            high: h.high,
                            model: h.model.to_owned(),
                        })
                        .collect(),
                    exhaustion_ms: forecast.exhaustion_at_ms,
                    band_exhaustion_ms: forecast.band_exhaustion_at_ms,
                    alert: level.map(|severity| severity.as_str().to_owned()),
                };
                if let Some(event) = event_for(host_id, resource, entry, &record, level) {
                    pass.events.push(event);
                    entry.announced_ms = record.exhaustion_ms;
                }
                entry.firing = level;
                let record = Arc::new(record);
                pass.records.push(Arc::clone(&record));
                entry.record = Some(record);
            }
        }
        pass
    }

    /// The histories to persist: those pushed to since their last save, once `persist_every`
    /// has passed since it (every one with `all`, at shutdown).
    pub fn histories(&mut self, now_ms: i64, all: bool) -> Vec<HistoryRow> {
        self.histories_at_most(now_ms, all, usize::MAX)
    }

    /// [`Tracker::histories`], at most `limit` of them (the rest stay due for the next call), so
    /// that a save of a whole fleet's series never holds all their bytes at once.
    pub fn histories_at_most(&mut self, now_ms: i64, all: bool, limit: usize) -> Vec<HistoryRow> {
        let every = self.config.persist_every_ms;
        let mut rows = Vec::new();
        for (host_id, series) in &mut self.hosts {
            for (resource, entry) in series.iter_mut() {
                if rows.len() >= limit {
                    return rows;
                }
                if entry.dirty && (all || now_ms.saturating_sub(entry.saved_ms) >= every) {
                    rows.push(history_row(host_id, resource, entry, self.layout, now_ms));
                }
            }
        }
        rows
    }

    /// Drops the series that received nothing for `idle_after` (their host reports to another
    /// collector now, or is gone), answering the final save of those not saved since.
    pub fn evict_idle(&mut self, now_ms: i64) -> Vec<HistoryRow> {
        let idle_after = self.config.idle_after_ms;
        let layout = self.layout;
        let mut rows = Vec::new();
        self.hosts.retain(|host_id, series| {
            series.retain(|resource, entry| {
                let idle = entry.received_ms != i64::MIN
                    && now_ms.saturating_sub(entry.received_ms) >= idle_after;
                if idle && entry.dirty {
                    rows.push(history_row(host_id, resource, entry, layout, now_ms));
                }
                !idle
            });
            !series.is_empty()
        });
        rows
    }

    /// Marks histories whose save failed as still to save.
    pub fn unsaved(&mut self, rows: Vec<HistoryRow>) {
        for row in rows {
            if let Some(entry) = self
                .hosts
                .get_mut(&row.host_id)
                .and_then(|series| series.get_mut(&row.resource))
            {
                entry.dirty = true;
                let mut cold = row.cold;
                cold.append(&mut entry.cold);
                entry.cold = cold;
            }
        }
    }

    /// Forgets a host (decommissioned).
    pub fn forget(&mut self, host_id: &str) {
        self.hosts.remove(host_id);
    }

    /// The latest forecast of every series that has one (shared with the tracker, not copied).
    pub fn records(&self) -> Vec<Arc<CapacityRecord>> {
        let mut records: Vec<Arc<CapacityRecord>> = self
            .hosts
            .values()
            .flat_map(HashMap::values)
            .filter_map(|entry| entry.record.clone())
            .collect();
        records.sort_by(|a, b| (&a.host_id, &a.resource).cmp(&(&b.host_id, &b.resource)));
        records
    }
}

/// Whether `held` has exactly the `pairs` (sorted by name, as a [`Labels`] iterates).
fn same_labels<'a>(held: &Labels, mut pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    held.iter().all(|(name, value)| {
        pairs
            .next()
            .is_some_and(|(other_name, other_value)| name == other_name && value == other_value)
    }) && pairs.next().is_none()
}

/// A stored history's bytes (`history_row`'s compressed `to_bytes`) read back.
fn decode(data: &[u8]) -> Result<History, String> {
    let bytes =
        zstd::bulk::decompress(data, MAX_HISTORY_BYTES).map_err(|error| error.to_string())?;
    History::from_bytes(&bytes).map_err(|error| error.to_string())
}

/// A series' whole kept history from what the store holds — its cold parts, then the saved
/// history — at the best resolution for each age, oldest first (what
/// `GET /v1/capacity/history` shows); an error naming the part that does not decode.
pub fn stored_points(row: &HistoryRow, cold: &[ColdRow]) -> Result<Vec<(i64, f64)>, String> {
    let history = decode(&row.data)
        .map_err(|reason| format!("the saved history does not decode: {reason}"))?;
    let hot = history.points();
    let start = hot.first().map_or(i64::MAX, |&(t, _)| t);
    let mut points = Vec::with_capacity(cold.len() * crate::history::CHUNK + hot.len());
    for part in cold {
        let from = crate::history::cold_points(&part.data).map_err(|error| {
            format!(
                "the cold part from {} does not decode: {error}",
                part.first_ms
            )
        })?;
        let after = points.last().map_or(i64::MIN, |&(t, _)| t);
        points.extend(from.into_iter().filter(|&(t, _)| t > after && t < start));
    }
    points.extend(hot);
    Ok(points)
}

/// The row that saves `entry`'s history: what stays in memory, with the hours that left it since
/// the last save (see `History::take_cold`) as cold parts.
fn history_row(
    host_id: &str,
    resource: &str,
    entry: &mut Entry,
    layout: Layout,
    now_ms: i64,
) -> HistoryRow {
    entry.dirty = false;
    entry.saved_ms = now_ms;
    let mut cold = std::mem::take(&mut entry.cold);
    cold.extend(entry.history.take_cold().into_iter().map(|chunk| ColdRow {
        first_ms: chunk.first_ms,
        end_ms: chunk.end_ms,
        data: chunk.data,
    }));
    // Level 1: unsampled tiers (NaN runs) shrink to almost nothing, in tens of microseconds.
    let data = zstd::bulk::compress(&entry.history.to_bytes(), 1)
        .unwrap_or_else(|_| entry.history.to_bytes());
    HistoryRow {
        host_id: host_id.to_owned(),
        resource: resource.to_owned(),
        saved_ms: now_ms,
        data,
        // Old parts expire as new ones arrive (a chunk every 128 hours), so only a save that
        // brings some asks the store to forget: no DELETE per series on every save.
        cold_before_ms: (!cold.is_empty())
            .then(|| entry.last_ms.saturating_sub(layout.hour_span_ms)),
        cold,
    }
}

/// The capacity event a new forecast calls for, if any: firing when a level starts or changes
/// or the time left moved by more than [`MOVED`] while firing, resolved when no level holds.
fn event_for(
    host_id: &str,
    resource: &str,
    entry: &Entry,
    record: &CapacityRecord,
    level: Option<Severity>,
) -> Option<EventIn> {
    let moved = match (entry.announced_ms, record.exhaustion_ms) {
        (Some(before), Some(now)) => {
            let left_before = before.saturating_sub(record.last_ms).max(1) as f64;
            let left_now = now.saturating_sub(record.last_ms).max(0) as f64;
            ((left_now - left_before) / left_before).abs() > MOVED
        }
        _ => false,
    };
    let (status, severity, summary) = match (entry.firing, level) {
        (None, None) => return None,
        (Some(before), None) => (
            Status::Resolved,
            before,
            format!(
                "{} on {host_id} is no longer forecast to run out",
                describe(resource)
            ),
        ),
        (before, Some(severity)) => {
            if before == Some(severity) && !moved {
                return None;
            }
            (
                Status::Firing,
                severity,
                firing_summary(host_id, resource, record),
            )
        }
    };
    let check = format!("{CHECK_PREFIX}{resource}");
    let mut event = EventIn::new(SOURCE, &check, status, severity)
        .with_host(host_id)
        .with_summary(summary);
    if let Some(service) = entry.labels.get("service") {
        event = event.with_service(service);
    }
    event
        .labels
        .insert("resource".to_owned(), resource.to_owned());
    event.host_labels.clone_from(&*entry.labels);
    Some(event)
}

fn describe(resource: &str) -> String {
    match resource.split_once(':') {
        Some(("filesystem", mountpoint)) => format!("filesystem {mountpoint}"),
        Some(("inodes", mountpoint)) => format!("inodes of {mountpoint}"),
        Some(("probe_latency", probe)) => format!("latency of probe {probe}"),
        _ => resource.to_owned(),
    }
}

fn firing_summary(host_id: &str, resource: &str, record: &CapacityRecord) -> String {
    let Some(at) = record.exhaustion_ms else {
        return format!("{} on {host_id} is forecast to run out", describe(resource));
    };
    let left = at.saturating_sub(record.last_ms);
    let share = record
        .capacity
        .filter(|&capacity| capacity > 0.0)
        .map(|capacity| format!(", {:.0} % used now", record.used / capacity * 100.0))
        .unwrap_or_default();
    format!(
        "{} on {host_id} is forecast to run out in {} (at {}{share}; model {})",
        describe(resource),
        alert::span_text(left),
        vigil_shared::time::rfc3339(at),
        record.model
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn plain(records: &[Arc<CapacityRecord>]) -> Vec<CapacityRecord> {
        records.iter().map(|record| (**record).clone()).collect()
    }

    fn config() -> CapacityConfig {
        CapacityConfig {
            min_history_ms: 2 * MINUTE,
            ..CapacityConfig::default()
        }
    }

    fn fs(used: f64) -> Vec<Reading> {
        vec![Reading {
            resource: "filesystem:/data".into(),
            unit: "bytes",
            used,
            capacity: Some(1_000.0),
        }]
    }

    /// A filesystem filling by `per_minute` from `from`, sampled every 10 s for `minutes`.
    fn fill(tracker: &mut Tracker, start_ms: i64, from: f64, per_minute: f64, minutes: i64) -> i64 {
        let labels = Labels::from([("service".to_owned(), "db".to_owned())]);
        let mut t = start_ms;
        for i in 0..minutes * 6 {
            t = start_ms + i * 10_000;
            let used = from + per_minute * (i as f64) / 6.0;
            tracker.observe("db-1", &labels, t, fs(used), t);
        }
        t
    }

    #[test]
    fn a_steady_fill_is_forecast_and_fires_then_resolves_when_it_recedes() {
        let mut tracker = Tracker::new(config());
        // One minute of history: not enough yet.
        let t = fill(&mut tracker, 0, 100.0, 2.0, 1);
        let pass = tracker.forecast(t);
        assert_eq!((pass.records.len(), pass.waiting), (0, 1));
        // 30 minutes at 2 a minute from 100: 840 left at 2 a minute = 7 h to go.
        let t = fill(&mut tracker, 0, 100.0, 2.0, 30);
        let pass = tracker.forecast(t);
        assert_eq!(pass.records.len(), 1);
        let record = &pass.records[0];
        let left = record.exhaustion_ms.expect("an exhaustion") - record.last_ms;
        let expected = (1_000.0 - 160.0) / 2.0 * MINUTE as f64;
        assert!(
            (left as f64 - expected).abs() < expected * 0.15,
            "{left} ms left, expected about {expected}"
        );
        assert_eq!(record.alert.as_deref(), Some("major"));
        assert_eq!(pass.events.len(), 1);
        let event = &pass.events[0];
        assert_eq!(
            (event.status, event.severity, event.check.as_str()),
            (Status::Firing, Severity::Major, "capacity:filesystem:/data")
        );
        assert_eq!(event.host.as_deref(), Some("db-1"));
        assert_eq!(event.service.as_deref(), Some("db"));
        assert!(
            event
                .summary
                .contains("filesystem /data on db-1 is forecast to run out in 7 h"),
            "{}",
            event.summary
        );
        // The same forecast again: nothing new to say.
        assert!(tracker.forecast(t).events.is_empty());
        // A cleanup frees most of it and the level holds flat for an hour: resolved.
        let labels = Labels::new();
        let mut now = t;
        for i in 1..=360 {
            now = t + i * 10_000;
            tracker.observe("db-1", &labels, now, fs(200.0), now);
        }
        let pass = tracker.forecast(now);
        assert_eq!(
            pass.records[0].exhaustion_ms, None,
            "a stale trend after a cleanup"
        );
        assert_eq!(pass.events.len(), 1);
        assert_eq!(pass.events[0].status, Status::Resolved);
        assert_eq!(pass.records[0].alert, None);
    }

    #[test]
    fn histories_are_saved_when_due_restored_and_idle_series_evicted() {
        let mut tracker = Tracker::new(CapacityConfig {
            persist_every_ms: 10 * MINUTE,
            idle_after_ms: 60 * MINUTE,
            ..config()
        });
        let t = fill(&mut tracker, 0, 100.0, 1.0, 30);
        let rows = tracker.histories(t, false);
        assert_eq!(rows.len(), 1, "never saved: due");
        assert!(
            tracker.histories(t, false).is_empty(),
            "just saved, not dirty"
        );
        tracker.observe("db-1", &Labels::new(), t + 10_000, fs(200.0), t + 10_000);
        assert!(
            tracker.histories(t + 10_000, false).is_empty(),
            "saved less than 10 min ago"
        );
        assert!(tracker.histories_at_most(t + 10_000, true, 0).is_empty());
        assert_eq!(
            tracker.histories(t + 10_000, true).len(),
            1,
            "all at shutdown"
        );
        let pass = tracker.forecast(t + 10_000);
        // A restart: the saved history and forecast come back.
        let mut restarted = Tracker::new(config());
        assert!(!restarted.knows("db-1"));
        let skipped = restarted.restore(
            "db-1",
            tracker
                .histories(t + 20_000, true)
                .into_iter()
                .chain(rows.clone())
                .take(1)
                .collect(),
            plain(&pass.records),
        );
        assert!(skipped.is_empty());
        assert!(restarted.knows("db-1"));
        assert_eq!(restarted.len(), 1);
        assert_eq!(plain(&restarted.records()), plain(&pass.records));
        // Corrupt bytes are skipped and named, never a panic.
        let mut broken = rows[0].clone();
        broken.data = vec![1, 2, 3];
        let skipped = restarted.restore("db-2", vec![broken], Vec::new());
        assert_eq!(skipped.len(), 1);
        assert!(restarted.knows("db-2"));
        // Nothing received for an hour: evicted, with a final save when it had news.
        tracker.observe("db-1", &Labels::new(), t + 30_000, fs(201.0), t + 30_000);
        let evicted = tracker.evict_idle(t + 30_000 + 60 * MINUTE);
        assert_eq!(evicted.len(), 1);
        assert!(!tracker.knows("db-1"));
        assert!(tracker.is_empty());
    }

    #[test]
    fn hours_older_than_the_forecast_window_are_saved_as_cold_parts_once() {
        // 30 days of 5-minute samples: the hours before the last 7 days (and the chunk that
        // spans them) leave memory with the first save, as cold parts.
        let mut tracker = Tracker::new(config());
        let labels = Labels::new();
        let day = 24 * 60 * MINUTE;
        let mut t = 0;
        while t <= 30 * day {
            tracker.observe("db-1", &labels, t, fs(t as f64 / day as f64), t);
            t += 5 * MINUTE;
        }
        let last = t - 5 * MINUTE;
        let before = tracker.hosts["db-1"]["filesystem:/data"].history.points();
        let rows = tracker.histories(last, true);
        assert_eq!(rows.len(), 1);
        let cold = &rows[0].cold;
        assert!(!cold.is_empty());
        assert!(cold.iter().all(|part| part.end_ms <= last - 7 * day));
        assert_eq!(rows[0].cold_before_ms, Some(last - 90 * day));
        // The saved history is what stayed; with the cold parts before it, the whole series.
        assert_eq!(stored_points(&rows[0], cold).unwrap(), before);
        let kept = stored_points(&rows[0], &[]).unwrap();
        assert!(kept.len() < before.len() && kept.first().unwrap().0 > last - 13 * day);
        let mut broken = cold.clone();
        broken[0].data.truncate(10);
        assert!(
            stored_points(&rows[0], &broken)
                .unwrap_err()
                .contains("cold part")
        );
        // A failed save keeps them for the next one; a saved one does not send them again.
        tracker.unsaved(rows.clone());
        let again = tracker.histories(last, true);
        assert_eq!(again[0].cold, rows[0].cold);
        tracker.observe(
            "db-1",
            &labels,
            last + 5 * MINUTE,
            fs(31.0),
            last + 5 * MINUTE,
        );
        let next = tracker.histories(last + 5 * MINUTE, true);
        assert!(next[0].cold.is_empty());
        assert_eq!(
            next[0].cold_before_ms, None,
            "nothing new: nothing to forget"
        );
    }

    #[test]
    fn a_young_series_persists_in_a_few_kilobytes() {
        // One hour of 10 s samples: the raw tier full (6 bytes a point), a dozen 5-minute buckets
        // and one hour bucket; nothing is allocated for the time not yet seen.
        let mut tracker = Tracker::new(config());
        fill(&mut tracker, 0, 100.0, 1.0, 60);
        let rows = tracker.histories(3_600_000, true);
        let plain = tracker.hosts["db-1"]["filesystem:/data"]
            .history
            .to_bytes()
            .len();
        let compressed = rows[0].data.len();
        eprintln!("one hour of 10 s samples: {plain} B as to_bytes, {compressed} B stored");
        assert!(plain < 4_000, "{plain}");
        assert!(compressed <= plain + 16, "{compressed}");
    }

    #[test]
    fn a_restored_firing_series_does_not_fire_again() {
        let mut tracker = Tracker::new(config());
        let t = fill(&mut tracker, 0, 100.0, 2.0, 30);
        let pass = tracker.forecast(t);
        assert_eq!(pass.events.len(), 1);
        let rows = tracker.histories(t, true);
        let mut restarted = Tracker::new(config());
        restarted.restore("db-1", rows, plain(&pass.records));
        let labels = Labels::from([("service".to_owned(), "db".to_owned())]);
        restarted.observe("db-1", &labels, t + 10_000, fs(160.5), t + 10_000);
        let again = restarted.forecast(t + 10_000);
        assert_eq!(again.records.len(), 1);
        assert!(again.events.is_empty(), "{:?}", again.events);
    }
}
