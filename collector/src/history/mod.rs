//! Compact downsampled history of one series (issue 11 item 1), pure: no I/O, no clock.
//!
//! Three tiers, each a fixed-size ring: raw points for the newest `raw_span` (default 1 h), then
//! per-minute buckets for `minute_span` (2 days), then per-hour buckets for `hour_span` (90 days).
//! A bucket keeps the mean and the maximum of its samples as `f32`; the open (newest) bucket of
//! each tier accumulates in place, so [`History::push`] is O(1) with no allocation once the
//! raw ring has grown to its size. Samples older than the newest bucket of a tier are folded
//! into the raw ring only when still in order; a late sample is counted and otherwise ignored.
//! [`History::points`] gives the series the forecaster takes: hour means before the minute
//! tier's reach, minute means before the raw tier's, then the raw points. A bucket's point is
//! stamped at the bucket's middle (so the oldest, partial bucket is off by up to half a width).
//!
//! [`History::to_bytes`] / [`History::from_bytes`] are the persisted form (for the store to keep
//! behind its interface), little-endian:
//!
//! ```text
//! "VGH1"  u8 version = 1
//! i64 raw_span_ms  i64 minute_span_ms  i64 hour_span_ms  u64 late
//! u32 n_raw, then n_raw × (i64 time_ms, f32 value)
//! per tier (minute, hour): i64 width_ms  u32 len  i64 newest_bucket (i64::MIN = none)
//!                          f64 open_sum  u32 open_count  f32 open_max
//!                          len × (f32 mean, f32 max)   (NaN = no sample)
//! ```
//!
//! `from_bytes` checks every length and field and answers [`HistoryError`] for anything else;
//! it never panics on any bytes.

use std::collections::VecDeque;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const MAGIC: &[u8; 4] = b"VGH1";
const VERSION: u8 = 1;
/// The largest tier ring `from_bytes` accepts (10 years of minutes).
const MAX_SLOTS: u32 = 6_000_000;

/// How much history each tier keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Raw points are kept this long.
    pub raw_span_ms: i64,
    /// Per-minute buckets are kept this long.
    pub minute_span_ms: i64,
    /// Per-hour buckets are kept this long.
    pub hour_span_ms: i64,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            raw_span_ms: HOUR_MS,
            minute_span_ms: 48 * HOUR_MS,
            hour_span_ms: 90 * 24 * HOUR_MS,
        }
    }
}

/// Why persisted bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The bytes do not start with the history magic and version.
    #[error("not a series history (bad magic or version {0}): the bytes are from something else")]
    NotHistory(u8),
    /// The bytes end early or a length is out of range.
    #[error("truncated or corrupt series history at byte {0}")]
    Corrupt(usize),
}

/// One downsampling tier: a ring of closed buckets plus the open one.
#[derive(Debug, Clone, PartialEq)]
struct Tier {
    width_ms: i64,
    /// Bucket index (time / width) of the open bucket; `i64::MIN` before the first sample.
    newest: i64,
    open_sum: f64,
    open_count: u32,
    open_max: f32,
    means: Vec<f32>,
    maxes: Vec<f32>,
}

impl Tier {
    fn new(width_ms: i64, span_ms: i64) -> Tier {
        let len = usize::try_from((span_ms / width_ms.max(1)).max(1)).unwrap_or(1);
        Tier {
            width_ms: width_ms.max(1),
            newest: i64::MIN,
            open_sum: 0.0,
            open_count: 0,
            open_max: f32::NAN,
            means: vec![f32::NAN; len],
            maxes: vec![f32::NAN; len],
        }
    }

    fn slot(&self, bucket: i64) -> usize {
        bucket.rem_euclid(self.means.len() as i64) as usize
    }

    /// Adds a sample (ignored when older than the open bucket; `History` only passes samples
    /// in time order).
    fn push(&mut self, time_ms: i64, value: f64) {
        let bucket = time_ms.div_euclid(self.width_ms);
        if self.newest == i64::MIN {
            self.newest = bucket;
        }
        if bucket < self.newest {
            return;
        }
        if bucket > self.newest {
            self.close();
            // Buckets skipped by a gap hold no sample.
            let skipped = (bucket - self.newest - 1).min(self.means.len() as i64);
            for offset in 1..=skipped {
                let slot = self.slot(self.newest + offset);
                self.means[slot] = f32::NAN;
                self.maxes[slot] = f32::NAN;
            }
            self.newest = bucket;
        }
        self.open_sum += value;
        self.open_count += 1;
        let value = value as f32;
        if self.open_max.is_nan() || value > self.open_max {
            self.open_max = value;
        }
    }

    /// Moves the open bucket into its ring slot.
    fn close(&mut self) {
        let slot = self.slot(self.newest);
        if self.open_count > 0 {
            self.means[slot] = (self.open_sum / f64::from(self.open_count)) as f32;
            self.maxes[slot] = self.open_max;
        } else {
            self.means[slot] = f32::NAN;
            self.maxes[slot] = f32::NAN;
        }
        self.open_sum = 0.0;
        self.open_count = 0;
        self.open_max = f32::NAN;
    }

    /// (bucket mid time, mean) of every bucket with samples that starts in
    /// [`since_ms`, `before_ms`), oldest first; the open bucket included.
    fn points_between(&self, since_ms: i64, before_ms: i64, out: &mut Vec<(i64, f64)>) {
        if self.newest == i64::MIN {
            return;
        }
        let len = self.means.len() as i64;
        let first = (self.newest - len + 1).max(since_ms.div_euclid(self.width_ms));
        for bucket in first..=self.newest {
            let start = bucket.saturating_mul(self.width_ms);
            if start >= before_ms {
                break;
            }
            let mean = if bucket == self.newest {
                (self.open_count > 0).then(|| self.open_sum / f64::from(self.open_count))
            } else {
                let mean = self.means[self.slot(bucket)];
                (!mean.is_nan()).then_some(f64::from(mean))
            };
            if let Some(mean) = mean {
                out.push((start.saturating_add(self.width_ms / 2), mean));
            }
        }
    }
}

/// The downsampled history of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    layout: Layout,
    raw: VecDeque<(i64, f32)>,
    minute: Tier,
    hour: Tier,
    late: u64,
}

impl History {
    /// An empty history with `layout`.
    pub fn new(layout: Layout) -> History {
        History {
            layout,
            raw: VecDeque::new(),
            minute: Tier::new(MINUTE_MS, layout.minute_span_ms),
            hour: Tier::new(HOUR_MS, layout.hour_span_ms),
            late: 0,
        }
    }

    /// Adds one sample. Non-finite values and samples older than the newest one are counted as
    /// late and dropped.
    pub fn push(&mut self, time_ms: i64, value: f64) {
        let in_order = self.raw.back().is_none_or(|&(last, _)| time_ms >= last);
        if !value.is_finite() || !in_order {
            self.late += 1;
            return;
        }
        self.raw.push_back((time_ms, value as f32));
        let horizon = time_ms.saturating_sub(self.layout.raw_span_ms);
        while self.raw.front().is_some_and(|&(t, _)| t < horizon) {
            self.raw.pop_front();
        }
        self.minute.push(time_ms, value);
        self.hour.push(time_ms, value);
    }

    /// Samples dropped as late or non-finite.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The series at its best resolution for each age, oldest first: hour means older than the
    /// minute tier reaches, minute means older than the raw points, then the raw points.
    pub fn points(&self) -> Vec<(i64, f64)> {
        self.points_since(i64::MIN)
    }

    /// [`History::points`] from `since_ms` on (e.g. the last 7 days, which the forecaster
    /// resamples onto a 5-minute grid; all 90 days would give it a 1-hour grid).
    pub fn points_since(&self, since_ms: i64) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        let raw_start = self.raw.front().map_or(i64::MAX, |&(t, _)| t);
        let minute_start = match self.minute.newest {
            i64::MIN => raw_start,
            newest => (newest - self.minute.means.len() as i64 + 1)
                .saturating_mul(self.minute.width_ms)
                .min(raw_start),
        };
        // Whole buckets only below each finer tier's start, so no time is counted twice.
        let floor = |t: i64, width: i64| t.div_euclid(width).saturating_mul(width);
        self.hour
            .points_between(since_ms, floor(minute_start, HOUR_MS), &mut out);
        let minute_floor = out
            .last()
            .map_or(i64::MIN, |&(t, _)| t.saturating_add(HOUR_MS / 2));
        let mut minutes = Vec::new();
        self.minute
            .points_between(since_ms, floor(raw_start, MINUTE_MS), &mut minutes);
        out.extend(
            minutes
                .into_iter()
                .filter(|&(t, _)| t.saturating_sub(MINUTE_MS / 2) >= minute_floor),
        );
        let raw_floor = floor(raw_start, MINUTE_MS);
        out.extend(
            self.raw
                .iter()
                .filter(|&&(t, _)| t >= raw_floor && t >= since_ms)
                .map(|&(t, v)| (t, f64::from(v))),
        );
        out
    }

    /// Heap bytes held (the rings at their current size).
    pub fn heap_bytes(&self) -> usize {
        self.raw.capacity() * std::mem::size_of::<(i64, f32)>()
            + (self.minute.means.len() + self.hour.means.len()) * 2 * std::mem::size_of::<f32>()
    }

    /// The persisted form (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.heap_bytes());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        for value in [
            self.layout.raw_span_ms,
            self.layout.minute_span_ms,
            self.layout.hour_span_ms,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&self.late.to_le_bytes());
        out.extend_from_slice(&(self.raw.len() as u32).to_le_bytes());
        for &(time, value) in &self.raw {
            out.extend_from_slice(&time.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        for tier in [&self.minute, &self.hour] {
            out.extend_from_slice(&tier.width_ms.to_le_bytes());
            out.extend_from_slice(&(tier.means.len() as u32).to_le_bytes());
            out.extend_from_slice(&tier.newest.to_le_bytes());
            out.extend_from_slice(&tier.open_sum.to_le_bytes());
            out.extend_from_slice(&tier.open_count.to_le_bytes());
            out.extend_from_slice(&tier.open_max.to_le_bytes());
            for (mean, max) in tier.means.iter().zip(&tier.maxes) {
                out.extend_from_slice(&mean.to_le_bytes());
                out.extend_from_slice(&max.to_le_bytes());
            }
        }
        out
    }

    /// Reads [`History::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Result<History, HistoryError> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(4)? != MAGIC {
            return Err(HistoryError::NotHistory(0));
        }
        let version = reader.take(1)?[0];
        if version != VERSION {
            return Err(HistoryError::NotHistory(version));
        }
        let layout = Layout {
            raw_span_ms: reader.i64()?,
            minute_span_ms: reader.i64()?,
            hour_span_ms: reader.i64()?,
        };
        let late = reader.u64()?;
        let n_raw = reader.u32()?;
        if u64::from(n_raw) * 12 > (bytes.len() - reader.at) as u64 {
            return Err(HistoryError::Corrupt(reader.at));
        }
        let mut raw = VecDeque::with_capacity(n_raw as usize);
        for _ in 0..n_raw {
            raw.push_back((reader.i64()?, reader.f32()?));
        }
        let mut tiers = Vec::with_capacity(2);
        for _ in 0..2 {
            let at = reader.at;
            let width_ms = reader.i64()?;
            let len = reader.u32()?;
            if width_ms <= 0 || len == 0 || len > MAX_SLOTS {
                return Err(HistoryError::Corrupt(at));
            }
            let newest = reader.i64()?;
            let open_sum = reader.f64()?;
            let open_count = reader.u32()?;
            let open_max = reader.f32()?;
            if u64::from(len) * 8 > (bytes.len() - reader.at) as u64 {
                return Err(HistoryError::Corrupt(reader.at));
            }
            let mut means = Vec::with_capacity(len as usize);
            let mut maxes = Vec::with_capacity(len as usize);
            for _ in 0..len {
                means.push(reader.f32()?);
                maxes.push(reader.f32()?);
            }
            tiers.push(Tier {
                width_ms,
                newest,
                open_sum,
                open_count,
                open_max,
                means,
                maxes,
            });
        }
        if reader.at != bytes.len() {
            return Err(HistoryError::Corrupt(reader.at));
        }
        let hour = tiers.pop().ok_or(HistoryError::Corrupt(reader.at))?;
        let minute = tiers.pop().ok_or(HistoryError::Corrupt(reader.at))?;
        Ok(History {
            layout,
            raw,
            minute,
            hour,
            late,
        })
    }
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HistoryError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(HistoryError::Corrupt(self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HistoryError> {
        let at = self.at;
        self.take(N)?
            .try_into()
            .map_err(|_| HistoryError::Corrupt(at))
    }

    fn i64(&mut self) -> Result<i64, HistoryError> {
        self.array().map(i64::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, HistoryError> {
        self.array().map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, HistoryError> {
        self.array().map(u32::from_le_bytes)
    }

    fn f64(&mut self) -> Result<f64, HistoryError> {
        self.array().map(f64::from_le_bytes)
    }

    fn f32(&mut self) -> Result<f32, HistoryError> {
        self.array().map(f32::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_790_000_000_000;

    #[test]
    fn history_keeps_raw_then_minutes_then_hours() {
        // Start on an hour, so that no bucket is partial (a bucket's point sits at its middle).
        const T0: i64 = 1_789_999_200_000;
        let mut history = History::new(Layout::default());
        // 3 days of 10 s samples of a line: 1 per second.
        let span = 3 * 24 * HOUR_MS;
        for i in 0..=span / 10_000 {
            let t = T0 + i * 10_000;
            history.push(t, (t - T0) as f64 / 1_000.0);
        }
        let points = history.points();
        let last = T0 + span;
        // Raw for the last hour (361 points), minutes for the 47 hours before, hours before.
        let raw: Vec<_> = points.iter().filter(|(t, _)| *t > last - HOUR_MS).collect();
        assert!((360..=362).contains(&raw.len()), "{}", raw.len());
        let minutes = points
            .iter()
            .filter(|(t, _)| *t <= last - HOUR_MS && *t > last - 48 * HOUR_MS)
            .count();
        assert!((47 * 60 - 2..=47 * 60 + 2).contains(&minutes), "{minutes}");
        let hours = points
            .iter()
            .filter(|(t, _)| *t <= last - 48 * HOUR_MS)
            .count();
        assert!((23..=25).contains(&hours), "{hours}");
        // Every point sits on the line (a bucket mean at its mid time), in time order.
        for pair in points.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{pair:?}");
        }
        for &(t, v) in &points {
            let expected = (t - T0) as f64 / 1_000.0;
            assert!(
                (v - expected).abs() <= 6.0 + expected * 1e-6,
                "{t}: {v} vs {expected}"
            );
        }
        assert_eq!(history.late(), 0);
        let recent = history.points_since(last - 2 * HOUR_MS);
        assert!(recent.iter().all(|(t, _)| *t >= last - 2 * HOUR_MS));
        assert_eq!(
            recent.len(),
            points
                .iter()
                .filter(|(t, _)| *t >= last - 2 * HOUR_MS)
                .count()
        );
    }

    #[test]
    fn history_drops_late_and_non_finite_samples_and_survives_gaps() {
        let mut history = History::new(Layout::default());
        history.push(T0, 1.0);
        history.push(T0 + 1_000, 2.0);
        history.push(T0 + 500, 9.0);
        history.push(T0 + 2_000, f64::NAN);
        // A gap longer than every tier.
        history.push(T0 + 400 * 24 * HOUR_MS, 5.0);
        assert_eq!(history.late(), 2);
        assert_eq!(history.points(), vec![(T0 + 400 * 24 * HOUR_MS, 5.0)]);
    }

    #[test]
    fn history_round_trips_through_bytes() {
        let mut history = History::new(Layout::default());
        for i in 0..10_000 {
            history.push(T0 + i * 15_000, (i % 97) as f64);
        }
        let bytes = history.to_bytes();
        let back = History::from_bytes(&bytes).unwrap();
        assert_eq!(back.points(), history.points());
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(
            History::from_bytes(b"nope"),
            Err(HistoryError::NotHistory(0))
        );
        assert!(matches!(
            History::from_bytes(&bytes[..bytes.len() - 1]),
            Err(HistoryError::Corrupt(_))
        ));
    }

    proptest! {
        #[test]
        fn history_from_any_bytes_is_ok_or_err(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut bytes = bytes;
            if bytes.len() > 5 {
                bytes[..4].copy_from_slice(MAGIC);
                bytes[4] = VERSION;
            }
            let _ = History::from_bytes(&bytes);
        }

        #[test]
        fn history_push_never_panics(samples in prop::collection::vec((any::<i64>(), any::<f64>()), 0..200)) {
            let mut history = History::new(Layout::default());
            for (t, v) in samples {
                history.push(t, v);
            }
            let points = history.points();
            let back = History::from_bytes(&history.to_bytes()).unwrap();
            prop_assert_eq!(back.points().len(), points.len());
        }
    }
}
