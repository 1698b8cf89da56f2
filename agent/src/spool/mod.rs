//! The store-and-forward spool: every batch is appended here before it is sent, and removed only
//! after the collector acknowledged it, so online and offline delivery are one path (vector's
//! `disk_v2`). The only module that writes under `<state-dir>/spool/`.
//!
//! # On-disk format
//!
//! ```text
//! <state-dir>/spool/
//!   00000000000000000001.seg   segment files, named by the seq of their first record (20 digits)
//!   00000000000000000513.seg
//!   acked                      16 bytes: last acknowledged seq (u64 LE), its CRC-32 (u32 LE), 0u32
//! ```
//!
//! A segment is a sequence of records framed as in [`record`] (length, CRC-32, seq, sample and
//! event counts, body). Records are only ever appended, each with one `write`, and seqs grow
//! strictly through the whole spool. The active segment is closed (and fsynced) once it is larger
//! than the segment size (`max_bytes / 8`, between 4 KiB and 8 MiB) and the next record opens a
//! new one; after a restart the first append always opens a new segment, so an old, possibly
//! torn file is never appended to.
//!
//! # Invariants
//!
//! - **Order:** [`Spool::front`] always returns the lowest unacknowledged seq; the shipper sends
//!   nothing else, so the collector sees seqs in increasing order.
//! - **Same payload per seq:** a record is written once and never rewritten; a resend after a
//!   restart reads the same bytes, so a batch the collector acknowledged can only ever come back
//!   identical (and is deduplicated by `(host, stream, seq)`).
//! - **Cap:** the segment files together stay at or under `max_bytes` (plus one record): when an
//!   append goes over, whole oldest segments are deleted, acknowledged or not, and the unsent
//!   batches, samples and events they held are counted and reported once through
//!   [`Spool::take_dropped`] (the sampler turns that into a `data_loss` event).
//! - A segment is deleted as soon as every record in it is acknowledged (except the active one).
//!
//! # Recovery (open after a crash)
//!
//! Every segment is scanned record by record. At the first record that is short, has an
//! implausible length, a CRC mismatch or a seq not above the previous one, the file is truncated
//! there (a `kill -9` in the middle of a write leaves exactly such a torn tail) and a warning
//! gives the bytes cut. The `acked` file is read if intact; when it is missing or corrupt the whole
//! spool is resent, which is harmless because the collector deduplicates.
//!
//! # Durability
//!
//! Appends and acks are plain writes (page cache): they survive a crash of the agent, not a power
//! loss. Segments are fsynced when closed and at shutdown. A power loss may cost the records
//! written since the last fsync, never the seq order: seqs come from [`crate::state`], which
//! reserves them in fsynced blocks, so no seq is reused after any restart.

pub mod record;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// Subdirectory of the state dir.
pub const SPOOL_DIR: &str = "spool";
/// Name of the acknowledgement file.
const ACKED_FILE: &str = "acked";
/// Smallest and largest segment size.
const MIN_SEGMENT_BYTES: u64 = 4 * 1024;
const MAX_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Why the spool could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool directory could not be created or listed.
    #[error("cannot use spool dir {}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A segment could not be read, written or removed.
    #[error("cannot use spool segment {}", path.display())]
    Segment {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A batch came with a seq not above the last one appended.
    #[error("seq {seq} is not above the last spooled seq {last}")]
    OutOfOrder {
        /// The refused seq.
        seq: u64,
        /// The last one in the spool.
        last: u64,
    },
    /// The spool was closed.
    #[error("the spool is closed")]
    Closed,
}

/// What the spool dropped at its cap since the last [`Spool::take_dropped`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Unsent batches deleted.
    pub batches: u64,
    /// Samples in them.
    pub samples: u64,
    /// Events in them.
    pub events: u64,
    /// Lowest seq dropped.
    pub first_seq: u64,
    /// Highest seq dropped.
    pub last_seq: u64,
}

/// Counters and sizes, for self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Bytes in segment files.
    pub bytes: u64,
    /// Unacknowledged batches.
    pub batches: u64,
    /// Batches dropped at the cap since start.
    pub dropped_batches_total: u64,
    /// Batches acknowledged since start.
    pub delivered_total: u64,
    /// Batches the collector refused for good since start.
    pub rejected_total: u64,
}

/// One batch read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// Its seq.
    pub seq: u64,
    /// The body to POST.
    pub body: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    last_seq: u64,
    path: PathBuf,
    bytes: u64,
}

#[derive(Debug)]
struct Inner {
    segments: VecDeque<Segment>,
    /// Open for appends: the last segment, when created by this process.
    writer: Option<File>,
    last_seq: u64,
    acked: u64,
    ack_file: Option<File>,
    /// Where the next unread record is: (segment first seq, offset).
    cursor: Option<(u64, u64)>,
    /// The front record, once read.
    front: Option<(Spooled, u64)>,
    bytes: u64,
    pending: u64,
    dropped: Dropped,
    stats: SpoolStats,
    closed: bool,
    scratch: Vec<u8>,
}

/// The on-disk spool (see the module doc).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    /// Wakes the shipper when a batch is appended or the spool is closed.
    pub(crate) notify: Notify,
    /// Wakes the shipper out of a backoff when the spool is closed (shutdown flush).
    pub(crate) closing: Notify,
}

fn segment_error(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Segment {
        path: path.to_owned(),
        source,
    }
}

impl Spool {
    /// Opens (creating if needed) the spool under `<state_dir>/spool`, recovering from a crash
    /// as the module doc describes.
    pub fn open(state_dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        let dir = state_dir.join(SPOOL_DIR);
        let dir_error = |source| SpoolError::Dir {
            path: dir.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(dir_error)?;
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(dir_error)? {
            let entry = entry.map_err(dir_error)?;
            let name = entry.file_name();
            let Some(first_seq) = name
                .to_str()
                .and_then(|name| name.strip_suffix(".seg"))
                .and_then(|stem| stem.parse::<u64>().ok())
            else {
                continue;
            };
            names.push((first_seq, entry.path()));
        }
        names.sort();

        let acked = read_acked(&dir.join(ACKED_FILE)).unwrap_or(0);
        let mut segments = VecDeque::new();
        let mut last_seq = 0;
        let mut pending = 0;
        let mut bytes = 0;
        for (_, path) in names {
            let scan = scan_segment(&path, last_seq, acked)?;
            if scan.n_records == 0 || scan.last_seq <= acked {
                fs::remove_file(&path).map_err(segment_error(&path))?;
                last_seq = last_seq.max(scan.last_seq);
                continue;
            }
            pending += scan.n_unacked;
            last_seq = scan.last_seq;
            bytes += scan.bytes;
            segments.push_back(Segment {
                first_seq: scan.first_seq,
                last_seq: scan.last_seq,
                path,
                bytes: scan.bytes,
            });
        }
        let ack_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(ACKED_FILE))
            .map_err(segment_error(&dir.join(ACKED_FILE)))?;
        if pending > 0 {
            tracing::info!(
                batches = pending,
                bytes,
                path = %dir.display(),
                "spool holds unsent batches from the last run: sending them first"
            );
        }
        let cursor = segments.front().map(|segment| (segment.first_seq, 0));
        let segment_bytes = (max_bytes / 8).clamp(MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES);
        Ok(Spool {
            dir,
            max_bytes,
            segment_bytes,
            inner: Mutex::new(Inner {
                segments,
                writer: None,
                last_seq,
                acked,
                ack_file: Some(ack_file),
                cursor,
                front: None,
                bytes,
                pending,
                dropped: Dropped::default(),
                stats: SpoolStats {
                    bytes,
                    batches: pending,
                    ..SpoolStats::default()
                },
                closed: false,
                scratch: Vec::new(),
            }),
            notify: Notify::new(),
            closing: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The highest seq ever appended (0 for an empty spool that never held anything).
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// Appends one encoded batch; drops the oldest segments when over the cap.
    pub fn append(
        &self,
        seq: u64,
        n_samples: u32,
        n_events: u32,
        body: &[u8],
    ) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(SpoolError::Closed);
        }
        if seq <= inner.last_seq {
            return Err(SpoolError::OutOfOrder {
                seq,
                last: inner.last_seq,
            });
        }
        let rotate = match (inner.writer.is_some(), inner.segments.back()) {
            (true, Some(active)) => active.bytes >= self.segment_bytes,
            _ => true,
        };
        if rotate {
            if let Some(writer) = inner.writer.take() {
                let _ = writer.sync_data();
            }
            let path = self.dir.join(format!("{seq:020}.seg"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)
                .map_err(segment_error(&path))?;
            if inner.segments.is_empty() {
                inner.cursor = Some((seq, 0));
            }
            inner.segments.push_back(Segment {
                first_seq: seq,
                last_seq: seq,
                path,
                bytes: 0,
            });
            inner.writer = Some(file);
        }
        let mut scratch = std::mem::take(&mut inner.scratch);
        scratch.clear();
        record::encode(seq, n_samples, n_events, body, &mut scratch);
        let written = match inner.writer.as_mut() {
            Some(writer) => writer.write_all(&scratch),
            None => Err(io::Error::other("no active segment")),
        };
        let n_written = scratch.len() as u64;
        // Keep the buffer only if it is of ordinary size, so one huge batch does not pin memory.
        if scratch.capacity() <= 256 * 1024 {
            inner.scratch = scratch;
        }
        if let Err(source) = written {
            // The segment may now end in a torn record: never append after it again.
            inner.writer = None;
            let path = inner
                .segments
                .back()
                .map(|segment| segment.path.clone())
                .unwrap_or_default();
            return Err(SpoolError::Segment { path, source });
        }
        let record_offset = inner.segments.back().map_or(0, |active| active.bytes);
        let active_first = inner.segments.back().map_or(0, |active| active.first_seq);
        if let Some(active) = inner.segments.back_mut() {
            active.bytes += n_written;
            active.last_seq = seq;
        }
        // The reader is waiting exactly here (the common online case): hand it the body from
        // memory instead of reading it back from the file.
        if inner.front.is_none() && inner.cursor == Some((active_first, record_offset)) {
            inner.front = Some((
                Spooled {
                    seq,
                    body: body.to_vec(),
                },
                record_offset + n_written,
            ));
        }
        inner.last_seq = seq;
        inner.bytes += n_written;
        inner.pending += 1;
        self.enforce_cap(&mut inner);
        inner.stats.bytes = inner.bytes;
        inner.stats.batches = inner.pending;
        drop(inner);
        self.notify.notify_one();
        Ok(())
    }

    /// Deletes whole oldest segments while over the cap, counting what was unsent in them.
    fn enforce_cap(&self, inner: &mut Inner) {
        while inner.bytes > self.max_bytes && inner.segments.len() > 1 {
            let Some(oldest) = inner.segments.pop_front() else {
                break;
            };
            let lost = count_unacked(&oldest.path, inner.acked);
            if let Err(error) = fs::remove_file(&oldest.path) {
                tracing::warn!(path = %oldest.path.display(), error = %error, "cannot remove a spool segment");
            }
            inner.bytes = inner.bytes.saturating_sub(oldest.bytes);
            inner.pending = inner.pending.saturating_sub(lost.batches);
            if lost.batches > 0 {
                let dropped = &mut inner.dropped;
                if dropped.batches == 0 {
                    dropped.first_seq = lost.first_seq;
                }
                dropped.batches += lost.batches;
                dropped.samples += lost.samples;
                dropped.events += lost.events;
                dropped.last_seq = lost.last_seq;
                inner.stats.dropped_batches_total += lost.batches;
                tracing::warn!(
                    batches = lost.batches,
                    first_seq = lost.first_seq,
                    last_seq = lost.last_seq,
                    max_bytes = self.max_bytes,
                    "spool full: dropped its oldest unsent batches"
                );
            }
            // The reader was in (or before) the dropped segment: move it to the next one.
            if inner
                .cursor
                .is_some_and(|(first_seq, _)| first_seq <= oldest.first_seq)
            {
                inner.front = None;
                inner.cursor = inner.segments.front().map(|segment| (segment.first_seq, 0));
            }
        }
    }

    /// The oldest unacknowledged batch, `Err(true)` when there is none and the spool is closed,
    /// `Err(false)` when there is none yet.
    pub fn front(&self) -> Result<Spooled, bool> {
        let mut inner = self.lock();
        loop {
            if let Some((spooled, _)) = &inner.front {
                return Ok(spooled.clone());
            }
            let Some((segment_seq, offset)) = inner.cursor else {
                return Err(inner.closed);
            };
            let Some(segment_idx) = inner
                .segments
                .iter()
                .position(|segment| segment.first_seq == segment_seq)
            else {
                inner.cursor = inner.segments.front().map(|segment| (segment.first_seq, 0));
                if inner.cursor.is_none() {
                    return Err(inner.closed);
                }
                continue;
            };
            let segment = &inner.segments[segment_idx];
            if offset >= segment.bytes {
                // End of this segment: on to the next one, if there is one.
                match inner.segments.get(segment_idx + 1) {
                    Some(next) => {
                        inner.cursor = Some((next.first_seq, 0));
                        continue;
                    }
                    None => return Err(inner.closed),
                }
            }
            match read_record(&segment.path, offset) {
                Ok(Some((header, body))) => {
                    let next_offset = offset + header.record_len();
                    if header.seq <= inner.acked {
                        inner.cursor = Some((segment_seq, next_offset));
                        continue;
                    }
                    inner.front = Some((
                        Spooled {
                            seq: header.seq,
                            body,
                        },
                        next_offset,
                    ));
                }
                Ok(None) | Err(_) => {
                    // Changed under us (or a disk error): give up on the rest of this segment.
                    tracing::error!(
                        path = %segment.path.display(),
                        offset,
                        "unreadable spool record: skipping the rest of the segment"
                    );
                    let end = segment.bytes;
                    inner.cursor = Some((segment_seq, end));
                }
            }
        }
    }

    /// Marks `seq` acknowledged (delivered, or rejected for good) if it is still the front batch.
    pub fn ack(&self, seq: u64, delivered: bool) {
        let mut inner = self.lock();
        let Some((front, next_offset)) = inner.front.take() else {
            return;
        };
        if front.seq != seq {
            inner.front = Some((front, next_offset));
            return;
        }
        if let Some((segment_seq, _)) = inner.cursor {
            inner.cursor = Some((segment_seq, next_offset));
        }
        inner.acked = seq;
        inner.pending = inner.pending.saturating_sub(1);
        if delivered {
            inner.stats.delivered_total += 1;
        } else {
            inner.stats.rejected_total += 1;
        }
        if let Some(file) = &inner.ack_file {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&seq.to_le_bytes());
            let crc = crc32fast::hash(&bytes[..8]);
            bytes[8..12].copy_from_slice(&crc.to_le_bytes());
            if let Err(error) = file.write_all_at(&bytes, 0) {
                tracing::warn!(error = %error, "cannot record the acknowledged seq");
            }
        }
        // Delete the segments the reader has left behind (never the active one).
        while inner.segments.len() > 1 {
            let Some(oldest) = inner.segments.front() else {
                break;
            };
            if oldest.last_seq > inner.acked {
                break;
            }
            let path = oldest.path.clone();
            let bytes = oldest.bytes;
            inner.segments.pop_front();
            inner.bytes = inner.bytes.saturating_sub(bytes);
            if let Err(error) = fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %error, "cannot remove a spool segment");
            }
            if inner.cursor.is_some_and(|(first_seq, _)| {
                first_seq < inner.segments.front().map_or(0, |s| s.first_seq)
            }) {
                inner.cursor = inner.segments.front().map(|segment| (segment.first_seq, 0));
            }
        }
        inner.stats.bytes = inner.bytes;
        inner.stats.batches = inner.pending;
    }

    /// What was dropped at the cap since the last call (all zero when nothing).
    pub fn take_dropped(&self) -> Dropped {
        std::mem::take(&mut self.lock().dropped)
    }

    /// Sizes and counters.
    pub fn stats(&self) -> SpoolStats {
        self.lock().stats
    }

    /// No more appends: the shipper returns once it has sent everything (or is stopped). Fsyncs
    /// the active segment so what is unsent survives even a power loss after a clean stop.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        if let Some(writer) = inner.writer.take() {
            let _ = writer.sync_data();
        }
        if let Some(ack_file) = &inner.ack_file {
            let _ = ack_file.sync_data();
        }
        drop(inner);
        self.notify.notify_one();
        self.closing.notify_one();
    }

    /// True once [`Spool::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

/// The acknowledged seq from the `acked` file, when intact.
fn read_acked(path: &Path) -> Option<u64> {
    let bytes = fs::read(path).ok()?;
    let seq = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let crc = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
    (crc32fast::hash(&bytes[..8]) == crc).then_some(seq)
}

/// One record at `offset`: `Ok(None)` when it is not intact.
fn read_record(path: &Path, offset: u64) -> io::Result<Option<(record::Header, Vec<u8>)>> {
    let file = File::open(path)?;
    let mut header_bytes = [0u8; record::HEADER_LEN];
    if let Err(error) = file.read_exact_at(&mut header_bytes, offset) {
        return if error.kind() == io::ErrorKind::UnexpectedEof {
            Ok(None)
        } else {
            Err(error)
        };
    }
    let Some(header) = record::decode_header(&header_bytes) else {
        return Ok(None);
    };
    let mut body = vec![0u8; header.len as usize];
    if let Err(error) = file.read_exact_at(&mut body, offset + record::HEADER_LEN as u64) {
        return if error.kind() == io::ErrorKind::UnexpectedEof {
            Ok(None)
        } else {
            Err(error)
        };
    }
    Ok(record::check(&header, &header_bytes, &body).then_some((header, body)))
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
struct Scan {
    first_seq: u64,
    last_seq: u64,
    n_records: u64,
    n_unacked: u64,
    bytes: u64,
}

/// Scans a segment record by record (one record in memory at a time), truncating it at the first
/// record that is not intact.
fn scan_segment(path: &Path, previous_seq: u64, acked: u64) -> Result<Scan, SpoolError> {
    let file = File::open(path).map_err(segment_error(path))?;
    let file_len = file.metadata().map_err(segment_error(path))?.len();
    let mut scan = Scan::default();
    let mut offset = 0u64;
    let mut last = previous_seq;
    let mut header_bytes = [0u8; record::HEADER_LEN];
    let mut body = Vec::new();
    while offset < file_len {
        if file.read_exact_at(&mut header_bytes, offset).is_err() {
            break;
        }
        let Some(header) = record::decode_header(&header_bytes) else {
            break;
        };
        if offset + header.record_len() > file_len {
            break;
        }
        body.resize(header.len as usize, 0);
        if file
            .read_exact_at(&mut body, offset + record::HEADER_LEN as u64)
            .is_err()
            || !record::check(&header, &header_bytes, &body)
            || header.seq <= last
        {
            break;
        }
        if scan.n_records == 0 {
            scan.first_seq = header.seq;
        }
        scan.n_records += 1;
        if header.seq > acked {
            scan.n_unacked += 1;
        }
        scan.last_seq = header.seq;
        last = header.seq;
        offset += header.record_len();
    }
    drop(file);
    if offset < file_len {
        tracing::warn!(
            path = %path.display(),
            kept_bytes = offset,
            cut_bytes = file_len - offset,
            "spool segment ends in a torn or corrupt record: truncated it"
        );
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(segment_error(path))?;
        file.set_len(offset).map_err(segment_error(path))?;
    }
    scan.bytes = offset;
    Ok(scan)
}

/// Counts the records above `acked` in a segment, reading headers only.
fn count_unacked(path: &Path, acked: u64) -> Dropped {
    let mut lost = Dropped::default();
    let Ok(file) = File::open(path) else {
        return lost;
    };
    let mut offset = 0u64;
    let mut header_bytes = [0u8; record::HEADER_LEN];
    while file.read_exact_at(&mut header_bytes, offset).is_ok() {
        let Some(header) = record::decode_header(&header_bytes) else {
            break;
        };
        if header.seq > acked {
            if lost.batches == 0 {
                lost.first_seq = header.seq;
            }
            lost.batches += 1;
            lost.samples += u64::from(header.n_samples);
            lost.events += u64::from(header.n_events);
            lost.last_seq = header.seq;
        }
        offset += header.record_len();
    }
    lost
}

#[cfg(test)]
mod tests;
