//! The first persisted form of a series history ("VGH1": fixed rings of per-minute and per-hour
//! `f32` means and maxima), read only: a history stored by an older collector is decoded here
//! and re-pushed into today's compact layout, so an upgrade keeps it.

use super::{HistoryError, Reader};
use std::collections::VecDeque;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
pub(super) const MAGIC: &[u8; 4] = b"VGH1";
const VERSION: u8 = 1;
/// The largest tier ring `from_bytes` accepts (10 years of minutes).
const MAX_SLOTS: u32 = 6_000_000;

/// One downsampling tier: a ring of closed buckets plus the open one.
#[derive(Debug, Clone, PartialEq)]
struct Tier {
    width_ms: i64,
    /// Bucket index (time / width) of the open bucket; `i64::MIN` before the first sample.
    newest: i64,
    open_sum: f64,
    open_count: u32,
    means: Vec<f32>,
}

impl Tier {
    fn slot(&self, bucket: i64) -> usize {
        bucket.rem_euclid(self.means.len() as i64) as usize
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
pub(super) struct History {
    raw: VecDeque<(i64, f32)>,
    minute: Tier,
    hour: Tier,
    late: u64,
}

impl History {
    /// Samples the old collector dropped as late.
    pub(super) fn late(&self) -> u64 {
        self.late
    }

    /// The series at its best resolution for each age, oldest first: hour means older than the
    /// minute tier reaches, minute means older than the raw points, then the raw points.
    pub(super) fn points(&self) -> Vec<(i64, f64)> {
        self.points_since(i64::MIN)
    }

    /// [`History::points`] from `since_ms` on (e.g. the last 7 days, which the forecaster
    /// resamples onto a 5-minute grid; all 90 days would give it a 1-hour grid).
    fn points_since(&self, since_ms: i64) -> Vec<(i64, f64)> {
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

    /// Reads [`History::to_bytes`] back.
    pub(super) fn from_bytes(bytes: &[u8]) -> Result<History, HistoryError> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(4)? != MAGIC {
            return Err(HistoryError::NotHistory(0));
        }
        let version = reader.take(1)?[0];
        if version != VERSION {
            return Err(HistoryError::NotHistory(version));
        }
        // The tier spans (raw, minute, hour): the rings' lengths below say the same.
        for _ in 0..3 {
            reader.i64()?;
        }
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
            // The open bucket's maximum: maxima are not kept any more.
            reader.f32()?;
            if u64::from(len) * 8 > (bytes.len() - reader.at) as u64 {
                return Err(HistoryError::Corrupt(reader.at));
            }
            let mut means = Vec::with_capacity(len as usize);
            for _ in 0..len {
                means.push(reader.f32()?);
                reader.f32()?;
            }
            tiers.push(Tier {
                width_ms,
                newest,
                open_sum,
                open_count,
                means,
            });
        }
        if reader.at != bytes.len() {
            return Err(HistoryError::Corrupt(reader.at));
        }
        let hour = tiers.pop().ok_or(HistoryError::Corrupt(reader.at))?;
        let minute = tiers.pop().ok_or(HistoryError::Corrupt(reader.at))?;
        Ok(History {
            raw,
            minute,
            hour,
            late,
        })
    }
}
