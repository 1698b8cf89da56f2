//! Capacity as the store keeps it (issue 11): each series' downsampled history as an opaque
//! blob ([`HistoryRow`], written by the collector that receives the series and read back when a
//! collector starts receiving it), and each series' latest forecast ([`CapacityRecord`], what
//! `GET /v1/capacity` lists fleet-wide). Both are keyed by `(host_id, resource)`; a newer save
//! replaces the older one. The oldest part of a history, which the collector no longer holds in
//! memory, is kept beside it as [`ColdRow`]s: written once, read only on request
//! (`GET /v1/capacity/history`), forgotten when a save says they are too old.

use serde::{Deserialize, Serialize};

/// One series' persisted history: `History::to_bytes`, compressed by the capacity tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    /// The host.
    pub host_id: String,
    /// The resource (`filesystem:/data`, `memory`, ...).
    pub resource: String,
    /// Saved, Unix ms.
    pub saved_ms: i64,
    /// The bytes.
    pub data: Vec<u8>,
    /// Older parts of the history that left memory since the last save, to keep beside it.
    pub cold: Vec<ColdRow>,
    /// The series' kept cold parts that end before this (Unix ms) are forgotten with this save.
    pub cold_before_ms: Option<i64>,
}

/// An old part of a series' history kept only in the store, keyed by its series and start.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdRow {
    /// Its start, Unix ms.
    pub first_ms: i64,
    /// Its end, Unix ms.
    pub end_ms: i64,
    /// The bytes (`ColdChunk::data`).
    pub data: Vec<u8>,
}

/// A series' latest forecast, as `GET /v1/capacity` shows it (times in Unix ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityRecord {
    /// The host.
    pub host_id: String,
    /// The resource (`filesystem:/data`, `inodes:/data`, `memory`, `swap`, `cpu`, `load`,
    /// `probe_latency:web`).
    pub resource: String,
    /// The unit of `used` and `capacity` (`bytes`, `inodes`, `ratio`, `load`, `seconds`).
    pub unit: String,
    /// The newest value.
    pub used: f64,
    /// What exhausts it (filesystem size, inode count, memory or swap total, 1 for CPU, the
    /// CPU count for load); `None` when nothing does (probe latency).
    pub capacity: Option<f64>,
    /// The newest point's time.
    pub last_ms: i64,
    /// When the forecast was made.
    pub computed_ms: i64,
    /// Points of history it was made from.
    pub points: usize,
    /// The model chosen for the longest horizon.
    pub model: String,
    /// The forecast at each horizon.
    pub horizons: Vec<HorizonRecord>,
    /// When the central forecast reaches `capacity`, if within the longest horizon.
    pub exhaustion_ms: Option<i64>,
    /// When the band's upper edge reaches it: the earliest plausible exhaustion.
    pub band_exhaustion_ms: Option<i64>,
    /// The severity of the capacity incident this forecast keeps firing (`None`: none).
    pub alert: Option<String>,
}

/// The forecast at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonRecord {
    /// After `last_ms`, ms.
    pub horizon_ms: i64,
    /// The central forecast.
    pub value: f64,
    /// The band's lower edge.
    pub low: f64,
    /// The band's upper edge.
    pub high: f64,
    /// The model chosen at this horizon.
    pub model: String,
}

/// Filters of `GET /v1/capacity`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapacityFilter {
    /// This host only.
    pub host: Option<String>,
    /// Resources starting with this (`filesystem`, `memory`, `filesystem:/data`).
    pub resource: Option<String>,
    /// Only series with an exhaustion forecast.
    pub exhausting: bool,
    /// At most this many, by host and resource.
    pub limit: usize,
}
