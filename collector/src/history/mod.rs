//! Compact downsampled history of one series (issue 11 item 1), pure: no I/O, no clock.
//!
//! Three tiers: raw points for the newest `raw_span` (default 1 h), then 5-minute bucket means
//! for `fine_span` (7 days, the window the forecaster reads, on the forecaster's own 5-minute
//! grid), then 1-hour bucket means for `hour_span` (90 days). Each tier is a list of sealed
//! chunks of up to [`CHUNK`] points plus one open chunk; the open bucket of a tier accumulates
//! in place, so [`History::push`] is O(1) and allocates only when a chunk seals.
//!
//! A sealed chunk quantizes its values to `u16` steps between its own minimum and maximum
//! (error at most 1/131,068 of the chunk's range, far below any sample's noise), and a tier
//! chunk's times are implicit (consecutive buckets, `u16::MAX` marks one without a sample), so a
//! bucket costs 2 bytes and a raw point 6. Memory grows with the series' age, up to about
//! 12 KB per series with every tier full (measured in BENCHMARKS.md), and whole chunks expire.
//! Samples older than the newest one are counted as late and dropped.
//!
//! [`History::points`] gives the series the forecaster takes: hour means before the fine tier's
//! reach, 5-minute means before the raw tier's, then the raw points. A bucket's point is stamped
//! at the bucket's middle.
//!
//! [`History::take_cold`] moves the sealed hour chunks older than the fine tier's reach (which
//! nothing live reads: the forecaster takes the last 7 days) out of memory as [`ColdChunk`]s, for
//! the store to keep beside the series; [`ColdChunk::points`] reads one back. A full series then
//! holds about 9 KB instead of 14.5 KB.
//!
//! [`History::to_bytes`] / [`History::from_bytes`] are the persisted form (for the store to keep
//! behind its interface), little-endian:
//!
//! ```text
//! "VGH2"  u8 version = 2
//! i64 raw_span_ms  i64 fine_span_ms  i64 hour_span_ms  u64 late
//! per line (raw, fine, hour):
//!     u32 n_sealed, then per sealed chunk:
//!         i64 first  f64 lo  f64 step  u16 n  n × u16 value  [raw only: n × u32 offset_ms]
//!     i64 open_first  u32 n_open  n_open × f32 value  [raw only: n_open × u32 offset_ms]
//! per bucket tier (fine, hour): i64 open_bucket (i64::MIN = none)  f64 open_sum  u32 open_count
//! ```
//!
//! `first` is a time in ms for the raw line and a bucket index for the tiers. A [`ColdChunk`]'s
//! bytes are one hour-tier sealed chunk in the same layout (`first` .. the values). `from_bytes`
//! checks every length and field and answers [`HistoryError`] for anything else; it never panics
//! on any bytes. It also reads the first form ("VGH1", `v1.rs`), re-pushing its points.

mod v1;

use std::collections::VecDeque;

const MINUTE_MS: i64 = 60_000;
const FINE_MS: i64 = 5 * MINUTE_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const MAGIC: &[u8; 4] = b"VGH2";
const VERSION: u8 = 2;
/// Points per sealed chunk.
pub const CHUNK: usize = 128;
/// The quantized value that marks a bucket without a sample.
const NO_SAMPLE: u16 = u16::MAX;
/// The largest quantized value.
const TOP: f64 = (u16::MAX - 1) as f64;
/// The most chunks one line may hold in the persisted form (10 years of 5-minute buckets).
const MAX_CHUNKS: u32 = 10 * 366 * 288 / CHUNK as u32 + 2;

/// How much history each tier keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Raw points are kept this long.
    pub raw_span_ms: i64,
    /// 5-minute buckets are kept this long.
    pub fine_span_ms: i64,
    /// 1-hour buckets are kept this long.
    pub hour_span_ms: i64,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            raw_span_ms: HOUR_MS,
            fine_span_ms: 7 * 24 * HOUR_MS,
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

/// A sealed run of points: values quantized between `lo` and `lo + step × TOP`.
#[derive(Debug, Clone, PartialEq)]
struct Chunk {
    /// The first point's time (raw: ms) or bucket index (tiers).
    first: i64,
    lo: f64,
    step: f64,
    values: Box<[u16]>,
    /// Raw only: each point's ms after `first`; empty for tiers (consecutive buckets).
    offsets: Box<[u32]>,
}

impl Chunk {
    fn seal(first: i64, values: &[f32], offsets: &[u32]) -> Chunk {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let lo = finite
            .clone()
            .fold(f64::INFINITY, |a, v| a.min(f64::from(v)));
        let hi = finite.fold(f64::NEG_INFINITY, |a, v| a.max(f64::from(v)));
        let (lo, step) = if lo.is_finite() && hi > lo {
            (lo, (hi - lo) / TOP)
        } else {
            (if lo.is_finite() { lo } else { 0.0 }, 0.0)
        };
        let values = values
            .iter()
            .map(|&v| match v {
                v if !v.is_finite() => NO_SAMPLE,
                _ if step == 0.0 => 0,
                v => ((f64::from(v) - lo) / step).round().clamp(0.0, TOP) as u16,
            })
            .collect();
        Chunk {
            first,
            lo,
            step,
            values,
            offsets: offsets.into(),
        }
    }

    fn value(&self, q: u16) -> Option<f64> {
        (q != NO_SAMPLE).then(|| self.lo + f64::from(q) * self.step)
    }

    /// The time (raw) or bucket (tiers) of the chunk's last point.
    fn last(&self) -> i64 {
        match self.offsets.last() {
            Some(&offset) => self.first.saturating_add(i64::from(offset)),
            None => self
                .first
                .saturating_add(self.values.len().saturating_sub(1) as i64),
        }
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Chunk>() + self.values.len() * 2 + self.offsets.len() * 4
    }

    /// Appends the persisted form (see the module doc).
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.first.to_le_bytes());
        out.extend_from_slice(&self.lo.to_le_bytes());
        out.extend_from_slice(&self.step.to_le_bytes());
        out.extend_from_slice(&(self.values.len() as u16).to_le_bytes());
        for value in self.values.iter() {
            out.extend_from_slice(&value.to_le_bytes());
        }
        for offset in self.offsets.iter() {
            out.extend_from_slice(&offset.to_le_bytes());
        }
    }
}

/// A sealed hour-tier chunk that [`History::take_cold`] moved out of memory: up to [`CHUNK`]
/// consecutive hour means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdChunk {
    /// Its first hour's start, Unix ms.
    pub first_ms: i64,
    /// Its last hour's end, Unix ms.
    pub end_ms: i64,
    /// The chunk's persisted form (see the module doc).
    pub data: Vec<u8>,
}

impl ColdChunk {
    fn of(chunk: &Chunk) -> ColdChunk {
        let mut data = Vec::with_capacity(26 + chunk.values.len() * 2);
        chunk.write(&mut data);
        ColdChunk {
            first_ms: chunk.first.saturating_mul(HOUR_MS),
            end_ms: chunk.last().saturating_add(1).saturating_mul(HOUR_MS),
            data,
        }
    }

    /// (hour mid time, mean) of each of its hours with samples: [`cold_points`] of its bytes.
    pub fn points(&self) -> Result<Vec<(i64, f64)>, HistoryError> {
        cold_points(&self.data)
    }
}

/// (hour mid time, mean) of each hour with samples in a [`ColdChunk`]'s bytes, oldest first; an
/// error for bytes that are not a chunk (never a panic).
pub fn cold_points(data: &[u8]) -> Result<Vec<(i64, f64)>, HistoryError> {
    let mut reader = Reader { bytes: data, at: 0 };
    let chunk = reader.chunk(false, i64::MIN)?;
    if reader.at != data.len() || chunk.first.checked_mul(HOUR_MS).is_none() {
        return Err(HistoryError::Corrupt(reader.at));
    }
    let mut out = Vec::with_capacity(chunk.values.len());
    for (i, &q) in chunk.values.iter().enumerate() {
        if let Some(value) = chunk.value(q) {
            let bucket = chunk.first.saturating_add(i as i64);
            let mid = bucket.saturating_mul(HOUR_MS).saturating_add(HOUR_MS / 2);
            out.push((mid, value));
        }
    }
    Ok(out)
}

/// One line of points: sealed chunks and the open one. Raw lines carry per-point offsets; tier
/// lines have one slot per consecutive bucket.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    raw: bool,
    sealed: VecDeque<Chunk>,
    open_first: i64,
    open_values: Vec<f32>,
    open_offsets: Vec<u32>,
}

impl Line {
    fn new(raw: bool) -> Line {
        Line {
            raw,
            sealed: VecDeque::new(),
            open_first: 0,
            open_values: Vec::new(),
            open_offsets: Vec::new(),
        }
    }

    fn seal(&mut self) {
        if self.open_values.is_empty() {
            return;
        }
        // Grown by one, not doubled: a series holds a few dozen chunks for weeks.
        self.sealed.reserve_exact(1);
        self.sealed.push_back(Chunk::seal(
            self.open_first,
            &self.open_values,
            &self.open_offsets,
        ));
        // Released, not cleared: a tier's open chunk takes hours to days to fill again, and
        // its full capacity (512 bytes a line) held all that time was a fifth of a series.
        self.open_values = Vec::new();
        self.open_offsets = Vec::new();
    }

    /// Appends a point at `at` (ms for raw, bucket index for tiers), which is after every point
    /// held. A tier's skipped buckets are filled with "no sample" within a chunk.
    fn append(&mut self, at: i64, value: f32) {
        if !self.open_values.is_empty() {
            let offset = at.saturating_sub(self.open_first);
            if offset < 0 {
                // Not after the points held (only corrupt persisted state gets here).
                return;
            }
            let fits = if self.raw {
                u32::try_from(offset).is_ok()
            } else {
                offset < CHUNK as i64
            };
            if !fits {
                self.seal();
            }
        }
        if self.open_values.is_empty() {
            self.open_first = at;
        }
        if self.raw {
            self.open_offsets
                .push(u32::try_from(at - self.open_first).unwrap_or(u32::MAX));
        } else {
            let slot = (at - self.open_first) as usize;
            self.open_values.resize(slot, f32::NAN);
        }
        self.open_values.push(value);
        if self.open_values.len() >= CHUNK {
            self.seal();
        }
    }

    /// Drops the chunks whose last point is before `oldest`.
    fn expire(&mut self, oldest: i64) {
        while self
            .sealed
            .front()
            .is_some_and(|chunk| chunk.last() < oldest)
        {
            self.sealed.pop_front();
        }
        if self.sealed.is_empty() && self.open_last().is_some_and(|last| last < oldest) {
            self.open_values.clear();
            self.open_offsets.clear();
        }
    }

    /// The open chunk's last point's time or bucket, if any.
    fn open_last(&self) -> Option<i64> {
        let n = self.open_values.len();
        (n > 0).then(|| match self.open_offsets.last() {
            Some(&offset) => self.open_first.saturating_add(i64::from(offset)),
            None => self.open_first.saturating_add(n as i64 - 1),
        })
    }

    /// The first point's time or bucket, if any.
    fn first(&self) -> Option<i64> {
        match self.sealed.front() {
            Some(chunk) => Some(chunk.first),
            None => (!self.open_values.is_empty()).then_some(self.open_first),
        }
    }

    /// Every point (time or bucket, value), oldest first, from `since` on and before `before`.
    fn each(&self, since: i64, before: i64, mut f: impl FnMut(i64, f64)) {
        let at = |first: i64, offsets: &[u32], i: usize| match offsets.get(i) {
            Some(&offset) => first.saturating_add(i64::from(offset)),
            None => first.saturating_add(i as i64),
        };
        for chunk in &self.sealed {
            if chunk.last() < since {
                continue;
            }
            for (i, &q) in chunk.values.iter().enumerate() {
                let t = at(chunk.first, &chunk.offsets, i);
                if t >= before {
                    return;
                }
                if let Some(v) = chunk.value(q).filter(|_| t >= since) {
                    f(t, v);
                }
            }
        }
        for (i, &v) in self.open_values.iter().enumerate() {
            let t = at(self.open_first, &self.open_offsets, i);
            if t >= before {
                return;
            }
            if t >= since && v.is_finite() {
                f(t, f64::from(v));
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.sealed.capacity() * std::mem::size_of::<Chunk>()
            + self
                .sealed
                .iter()
                .map(|c| c.heap_bytes() - std::mem::size_of::<Chunk>())
                .sum::<usize>()
            + self.open_values.capacity() * 4
            + self.open_offsets.capacity() * 4
    }
}

/// One bucket tier: its line of closed buckets and the open bucket.
#[derive(Debug, Clone, PartialEq)]
struct Tier {
    width_ms: i64,
    span_ms: i64,
    line: Line,
    /// Bucket index of the open bucket; `i64::MIN` before the first sample.
    open: i64,
    open_sum: f64,
    open_count: u32,
}

impl Tier {
    fn new(width_ms: i64, span_ms: i64) -> Tier {
        Tier {
            width_ms,
            span_ms,
            line: Line::new(false),
            open: i64::MIN,
            open_sum: 0.0,
            open_count: 0,
        }
    }

    fn push(&mut self, time_ms: i64, value: f64) {
        let bucket = time_ms.div_euclid(self.width_ms);
        if bucket > self.open {
            self.close();
            self.open = bucket;
            let keep = (self.span_ms / self.width_ms).max(1);
            self.line.expire(bucket.saturating_sub(keep));
        }
        self.open_sum += value;
        self.open_count += 1;
    }

    /// Moves the open bucket's mean into the line.
    fn close(&mut self) {
        if self.open_count > 0 {
            let mean = self.open_sum / f64::from(self.open_count);
            self.line.append(self.open, mean as f32);
        }
        self.open_sum = 0.0;
        self.open_count = 0;
    }

    /// The oldest bucket's start time, if any.
    fn start_ms(&self) -> Option<i64> {
        let open = (self.open_count > 0).then_some(self.open);
        self.line
            .first()
            .or(open)
            .map(|bucket| bucket.saturating_mul(self.width_ms))
    }

    /// (bucket mid time, mean) of every bucket with samples that starts in
    /// [`since_ms`, `before_ms`), oldest first; the open bucket included.
    fn points_between(&self, since_ms: i64, before_ms: i64, out: &mut Vec<(i64, f64)>) {
        let width = self.width_ms;
        // Bucket b starts at b × width: b ≥ ceil(since / width), b < ceil(before / width).
        let since = since_ms.div_euclid(width) + i64::from(since_ms.rem_euclid(width) != 0);
        let before = before_ms.div_euclid(width) + i64::from(before_ms.rem_euclid(width) != 0);
        let mid = |bucket: i64| bucket.saturating_mul(width).saturating_add(width / 2);
        self.line.each(since, before, |bucket, mean| {
            out.push((mid(bucket), mean));
        });
        if self.open_count > 0 && self.open >= since && self.open < before {
            out.push((mid(self.open), self.open_sum / f64::from(self.open_count)));
        }
    }
}

/// The downsampled history of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    layout: Layout,
    raw: Line,
    /// The newest raw point's time.
    newest: i64,
    fine: Tier,
    hour: Tier,
    late: u64,
}

impl History {
    /// An empty history with `layout`.
    pub fn new(layout: Layout) -> History {
        History {
            layout,
            raw: Line::new(true),
            newest: i64::MIN,
            fine: Tier::new(FINE_MS, layout.fine_span_ms),
            hour: Tier::new(HOUR_MS, layout.hour_span_ms),
            late: 0,
        }
    }

    /// Adds one sample. Non-finite values and samples older than the newest one are counted as
    /// late and dropped.
    pub fn push(&mut self, time_ms: i64, value: f64) {
        if !value.is_finite() || time_ms < self.newest {
            self.late += 1;
            return;
        }
        self.newest = time_ms;
        self.raw.append(time_ms, value as f32);
        self.raw
            .expire(time_ms.saturating_sub(self.layout.raw_span_ms));
        self.fine.push(time_ms, value);
        self.hour.push(time_ms, value);
    }

    /// The newest sample (time, value), if any.
    pub fn last(&self) -> Option<(i64, f64)> {
        let mut last = None;
        self.raw
            .each(self.newest, i64::MAX, |t, v| last = Some((t, v)));
        last
    }

    /// Samples dropped as late or non-finite.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The series at its best resolution for each age, oldest first: hour means older than the
    /// fine tier reaches, 5-minute means older than the raw points, then the raw points.
    pub fn points(&self) -> Vec<(i64, f64)> {
        self.points_since(i64::MIN)
    }

    /// [`History::points`] from `since_ms` on (e.g. the last 7 days, which the forecaster
    /// resamples onto its 5-minute grid).
    pub fn points_since(&self, since_ms: i64) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        // Raw points are kept for `raw_span` (whole chunks expire, so a few may be older).
        let raw_start = self.raw.first().map_or(i64::MAX, |first| {
            first.max(self.newest.saturating_sub(self.layout.raw_span_ms))
        });
        let fine_start = self.fine.start_ms().map_or(raw_start, |t| t.min(raw_start));
        // Whole buckets only below each finer tier's start, so no time is counted twice.
        let floor = |t: i64, width: i64| t.div_euclid(width).saturating_mul(width);
        self.hour
            .points_between(since_ms, floor(fine_start, HOUR_MS), &mut out);
        let fine_since = out.last().map_or(since_ms, |&(t, _)| {
            since_ms.max(t.saturating_add(HOUR_MS / 2))
        });
        self.fine
            .points_between(fine_since, floor(raw_start, FINE_MS), &mut out);
        let raw_since = out
            .last()
            .map_or(since_ms, |&(t, _)| t.saturating_add(FINE_MS / 2));
        let raw_since = raw_since.max(since_ms).max(floor(raw_start, FINE_MS));
        self.raw.each(raw_since, i64::MAX, |t, v| out.push((t, v)));
        out
    }

    /// Moves the sealed hour chunks that end before the fine tier's reach (older than
    /// `fine_span` before the newest sample: nothing live reads them) out of memory, oldest first.
    /// [`History::points`] no longer has them; the caller keeps them (the store, beside the
    /// series).
    pub fn take_cold(&mut self) -> Vec<ColdChunk> {
        if self.newest == i64::MIN {
            return Vec::new();
        }
        let reach = self.newest.saturating_sub(self.layout.fine_span_ms);
        // A chunk whose last hour ends by the reach: last + 1 ≤ reach / HOUR.
        let before = reach.div_euclid(HOUR_MS);
        let line = &mut self.hour.line;
        let mut cold = Vec::new();
        while let Some(chunk) = line.sealed.front().filter(|chunk| chunk.last() < before) {
            cold.push(ColdChunk::of(chunk));
            line.sealed.pop_front();
        }
        if !cold.is_empty() {
            line.sealed.shrink_to_fit();
        }
        cold
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.raw.heap_bytes() + self.fine.line.heap_bytes() + self.hour.line.heap_bytes()
    }

    /// The persisted form (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.heap_bytes());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        for value in [
            self.layout.raw_span_ms,
            self.layout.fine_span_ms,
            self.layout.hour_span_ms,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&self.late.to_le_bytes());
        for line in [&self.raw, &self.fine.line, &self.hour.line] {
            out.extend_from_slice(&(line.sealed.len() as u32).to_le_bytes());
            for chunk in &line.sealed {
                chunk.write(&mut out);
            }
            out.extend_from_slice(&line.open_first.to_le_bytes());
            out.extend_from_slice(&(line.open_values.len() as u32).to_le_bytes());
            for value in &line.open_values {
                out.extend_from_slice(&value.to_le_bytes());
            }
            for offset in &line.open_offsets {
                out.extend_from_slice(&offset.to_le_bytes());
            }
        }
        for tier in [&self.fine, &self.hour] {
            out.extend_from_slice(&tier.open.to_le_bytes());
            out.extend_from_slice(&tier.open_sum.to_le_bytes());
            out.extend_from_slice(&tier.open_count.to_le_bytes());
        }
        out
    }

    /// Reads [`History::to_bytes`] back (or the first form, "VGH1", converted).
    pub fn from_bytes(bytes: &[u8]) -> Result<History, HistoryError> {
        if bytes.starts_with(v1::MAGIC) {
            let old = v1::History::from_bytes(bytes)?;
            let mut history = History::new(Layout::default());
            for (t, v) in old.points() {
                history.push(t, v);
            }
            history.late = old.late();
            return Ok(history);
        }
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
            fine_span_ms: reader.i64()?,
            hour_span_ms: reader.i64()?,
        };
        let late = reader.u64()?;
        let mut lines = Vec::with_capacity(3);
        for raw in [true, false, false] {
            lines.push(reader.line(raw)?);
        }
        let mut tiers = Vec::with_capacity(2);
        for (width_ms, span_ms) in [
            (FINE_MS, layout.fine_span_ms),
            (HOUR_MS, layout.hour_span_ms),
        ] {
            let mut tier = Tier::new(width_ms, span_ms.max(1));
            tier.open = reader.i64()?;
            tier.open_sum = reader.f64()?;
            tier.open_count = reader.u32()?;
            tiers.push(tier);
        }
        if reader.at != bytes.len() {
            return Err(HistoryError::Corrupt(reader.at));
        }
        let (Some(hour_line), Some(fine_line), Some(raw)) = (lines.pop(), lines.pop(), lines.pop())
        else {
            return Err(HistoryError::Corrupt(reader.at));
        };
        let (Some(mut hour), Some(mut fine)) = (tiers.pop(), tiers.pop()) else {
            return Err(HistoryError::Corrupt(reader.at));
        };
        hour.line = hour_line;
        fine.line = fine_line;
        let mut newest = i64::MIN;
        raw.each(i64::MIN, i64::MAX, |t, _| newest = t);
        Ok(History {
            layout,
            raw,
            newest,
            fine,
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

    fn u16(&mut self) -> Result<u16, HistoryError> {
        self.array().map(u16::from_le_bytes)
    }

    fn f64(&mut self) -> Result<f64, HistoryError> {
        self.array().map(f64::from_le_bytes)
    }

    fn f32(&mut self) -> Result<f32, HistoryError> {
        self.array().map(f32::from_le_bytes)
    }

    /// One line: its sealed chunks (each in time order after the one before) and its open chunk.
    fn line(&mut self, raw: bool) -> Result<Line, HistoryError> {
        let mut line = Line::new(raw);
        let at = self.at;
        let n_sealed = self.u32()?;
        if n_sealed > MAX_CHUNKS {
            return Err(HistoryError::Corrupt(at));
        }
        let mut after = i64::MIN;
        for _ in 0..n_sealed {
            let chunk = self.chunk(raw, after)?;
            after = chunk.last();
            line.sealed.push_back(chunk);
        }
        let at = self.at;
        line.open_first = self.i64()?;
        let n_open = self.u32()? as usize;
        if n_open > CHUNK || (n_open > 0 && line.open_first <= after) {
            return Err(HistoryError::Corrupt(at));
        }
        for _ in 0..n_open {
            line.open_values.push(self.f32()?);
        }
        if raw {
            line.open_offsets = self.offsets(n_open)?.into_vec();
        } else if line.open_first.checked_add(n_open as i64).is_none() {
            return Err(HistoryError::Corrupt(at));
        }
        Ok(line)
    }

    /// One sealed chunk, which starts after `after`.
    fn chunk(&mut self, raw: bool, after: i64) -> Result<Chunk, HistoryError> {
        let at = self.at;
        let first = self.i64()?;
        let lo = self.f64()?;
        let step = self.f64()?;
        let n = usize::from(self.u16()?);
        if n == 0 || n > CHUNK || first <= after || !lo.is_finite() || !step.is_finite() {
            return Err(HistoryError::Corrupt(at));
        }
        let values = (0..n)
            .map(|_| self.u16())
            .collect::<Result<Box<[u16]>, _>>()?;
        let offsets = if raw {
            self.offsets(n)?
        } else {
            Box::default()
        };
        Ok(Chunk {
            first,
            lo,
            step,
            values,
            offsets,
        })
    }

    /// `n` raw offsets, each after the one before.
    fn offsets(&mut self, n: usize) -> Result<Box<[u32]>, HistoryError> {
        let at = self.at;
        let offsets = (0..n)
            .map(|_| self.u32())
            .collect::<Result<Box<[u32]>, _>>()?;
        if offsets.first().is_some_and(|&first| first != 0)
            || offsets.windows(2).any(|pair| pair[1] < pair[0])
        {
            return Err(HistoryError::Corrupt(at));
        }
        Ok(offsets)
    }
}

#[cfg(test)]
mod tests;
