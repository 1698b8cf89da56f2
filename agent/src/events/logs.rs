//! `log:NAME`: follows a log file from `[[log]]` and turns each line matching its regex into a
//! one-shot firing event (summary = the line, cut to [`MAX_SUMMARY`] bytes).
//!
//! Following rules:
//! - A file that exists when the agent starts is followed from its end (old lines are not news);
//!   a file that appears later is read from its start.
//! - Rotation by rename (the path now names another inode): the rest of the old file is read
//!   through the open handle first, then the new file from its start.
//! - Truncation (the file is shorter than what was read, e.g. `copytruncate`): read again from 0.
//! - At most [`MAX_READ_PER_TICK`] bytes are read per tick; the rest waits for the next tick.
//! - Rate limit: at most [`MAX_EVENTS_PER_TICK`] events per file per tick; further matches become
//!   one event "N more lines matched".
//! - A line longer than [`MAX_LINE`] is cut there; bytes that are not UTF-8 are replaced.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;

use vigil_shared::wire::Event;
use vigil_shared::{Labels, Status};

use crate::config::LogConfig;

/// Longest summary (bytes).
pub const MAX_SUMMARY: usize = 1_000;
/// Most events per file per tick, before the aggregate one.
pub const MAX_EVENTS_PER_TICK: usize = 5;
/// Most bytes read per file per tick.
pub const MAX_READ_PER_TICK: u64 = 1024 * 1024;
/// Longest line kept whole.
pub const MAX_LINE: usize = 64 * 1024;

/// One followed file.
#[derive(Debug)]
pub struct LogFollower {
    config: LogConfig,
    file: Option<File>,
    identity: (u64, u64),
    offset: u64,
    partial: Vec<u8>,
    /// True until the first look at the path: an existing file is then followed from its end.
    first_look: bool,
    missing_logged: bool,
    chunk: Vec<u8>,
    n_events: usize,
    n_suppressed: u64,
}

impl LogFollower {
    /// A follower that has not looked at the file yet.
    pub fn new(config: LogConfig) -> LogFollower {
        LogFollower {
            config,
            file: None,
            identity: (0, 0),
            offset: 0,
            partial: Vec::new(),
            first_look: true,
            missing_logged: false,
            chunk: Vec::new(),
            n_events: 0,
            n_suppressed: 0,
        }
    }

    /// Reads what was appended since the last poll; appends the events.
    pub fn poll(&mut self, now_ms: i64, out: &mut Vec<Event>) {
        self.n_events = 0;
        self.n_suppressed = 0;
        let first_look = std::mem::replace(&mut self.first_look, false);
        if self.file.is_none() && !self.open(first_look) {
            return;
        }
        let mut budget = MAX_READ_PER_TICK;
        // Truncated under us: start over.
        if let Some(file) = &self.file
            && file.metadata().is_ok_and(|meta| meta.len() < self.offset)
        {
            tracing::info!(log = %self.config.name, path = %self.config.path.display(), "log file truncated: reading from its start");
            self.rewind();
        }
        budget = budget.saturating_sub(self.read_available(budget, now_ms, out));
        // Rotated: the path names another file now (or none).
        let rotated = match std::fs::metadata(&self.config.path) {
            Ok(meta) => (meta.dev(), meta.ino()) != self.identity,
            Err(_) => false,
        };
        if rotated && budget > 0 {
            self.flush_partial(now_ms, out);
            tracing::info!(log = %self.config.name, path = %self.config.path.display(), "log file rotated: following the new file");
            self.file = None;
            if self.open(false) {
                self.read_available(budget, now_ms, out);
            }
        }
        if self.n_suppressed > 0 {
            let summary = format!(
                "{} more lines matched in {} this tick",
                self.n_suppressed,
                self.config.path.display()
            );
            out.push(self.event(summary, now_ms));
        }
    }

    /// Opens the path; from its end on the first look, else from its start.
    fn open(&mut self, at_end: bool) -> bool {
        let file = match File::open(&self.config.path) {
            Ok(file) => file,
            Err(error) => {
                if !self.missing_logged {
                    tracing::warn!(log = %self.config.name, path = %self.config.path.display(), error = %error, "cannot open log file: will retry every tick");
                    self.missing_logged = true;
                }
                return false;
            }
        };
        self.missing_logged = false;
        let Ok(meta) = file.metadata() else {
            return false;
        };
        self.identity = (meta.dev(), meta.ino());
        self.offset = if at_end { meta.len() } else { 0 };
        self.partial.clear();
        let mut file = file;
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        self.file = Some(file);
        true
    }

    fn rewind(&mut self) {
        self.offset = 0;
        self.partial.clear();
        if let Some(file) = &mut self.file
            && file.seek(SeekFrom::Start(0)).is_err()
        {
            self.file = None;
        }
    }

    /// Reads up to `budget` bytes, handling complete lines; returns the bytes read.
    fn read_available(&mut self, budget: u64, now_ms: i64, out: &mut Vec<Event>) -> u64 {
        let Some(mut file) = self.file.take() else {
            return 0;
        };
        let mut n_read = 0u64;
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.resize(64 * 1024, 0);
        while n_read < budget {
            let want = chunk
                .len()
                .min(usize::try_from(budget - n_read).unwrap_or(usize::MAX));
            let got = match file.read(&mut chunk[..want]) {
                Ok(0) => break,
                Ok(got) => got,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!(log = %self.config.name, error = %error, "cannot read log file");
                    break;
                }
            };
            n_read += got as u64;
            self.offset += got as u64;
            for &byte in &chunk[..got] {
                if byte == b'\n' {
                    let line = std::mem::take(&mut self.partial);
                    self.line(&line, now_ms, out);
                    self.partial = line;
                    self.partial.clear();
                } else if self.partial.len() < MAX_LINE {
                    self.partial.push(byte);
                }
            }
        }
        self.chunk = chunk;
        self.file = Some(file);
        n_read
    }

    /// A line left without its newline when the file was rotated away.
    fn flush_partial(&mut self, now_ms: i64, out: &mut Vec<Event>) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, now_ms, out);
        }
    }

    fn line(&mut self, raw: &[u8], now_ms: i64, out: &mut Vec<Event>) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = String::from_utf8_lossy(raw);
        if !self.config.pattern.0.is_match(&text) {
            return;
        }
        if self.n_events >= MAX_EVENTS_PER_TICK {
            self.n_suppressed += 1;
            return;
        }
        self.n_events += 1;
        out.push(self.event(truncate(&text, MAX_SUMMARY).to_owned(), now_ms));
    }

    fn event(&self, summary: String, now_ms: i64) -> Event {
        super::event(
            format!("log:{}", self.config.name),
            Status::Firing,
            self.config.severity,
            summary,
            Labels::from([("path".to_owned(), self.config.path.display().to_string())]),
            now_ms,
        )
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;
    use std::io::Write;
    use std::path::Path;
    use vigil_shared::Severity;

    fn follower(path: &Path, pattern: &str) -> LogFollower {
        LogFollower::new(LogConfig {
            name: "app".into(),
            path: path.to_owned(),
            pattern: Pattern(regex::Regex::new(pattern).unwrap()),
            severity: Severity::Minor,
        })
    }

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn poll(follower: &mut LogFollower) -> Vec<String> {
        let mut out = Vec::new();
        follower.poll(1, &mut out);
        for event in &out {
            assert_eq!(event.check, "log:app");
            assert_eq!(event.severity, Severity::Minor);
        }
        out.into_iter().map(|event| event.summary).collect()
    }

    #[test]
    fn logs_start_at_the_end_then_report_new_matching_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "ERROR old news\n");
        let mut follower = follower(&path, "ERROR");
        assert!(poll(&mut follower).is_empty());
        append(&path, "INFO fine\nERROR disk full\nERROR half a li");
        assert_eq!(poll(&mut follower), vec!["ERROR disk full"]);
        append(&path, "ne\r\n");
        assert_eq!(poll(&mut follower), vec!["ERROR half a line"]);
        assert!(poll(&mut follower).is_empty());
    }

    #[test]
    fn logs_follow_rotation_by_rename_reading_the_old_rest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "");
        let mut follower = follower(&path, "ERROR");
        poll(&mut follower);
        append(&path, "ERROR one\n");
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append(
            &dir.path().join("app.log.1"),
            "ERROR two, late in the old file\n",
        );
        append(&path, "ERROR three, in the new file\n");
        assert_eq!(
            poll(&mut follower),
            vec![
                "ERROR one",
                "ERROR two, late in the old file",
                "ERROR three, in the new file"
            ]
        );
        append(&path, "ERROR four\n");
        assert_eq!(poll(&mut follower), vec!["ERROR four"]);
    }

    #[test]
    fn logs_start_over_after_truncation_and_read_late_files_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut follower = follower(&path, "ERROR");
        assert!(poll(&mut follower).is_empty(), "missing file: nothing");
        append(&path, "ERROR created later\n");
        assert_eq!(poll(&mut follower), vec!["ERROR created later"]);
        std::fs::write(&path, "").unwrap();
        append(&path, "ERROR x\n");
        assert_eq!(poll(&mut follower), vec!["ERROR x"]);
    }

    #[test]
    fn logs_rate_limit_a_storm_and_cut_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "");
        let mut follower = follower(&path, "ERROR");
        poll(&mut follower);
        let mut storm = String::new();
        for line_idx in 0..100 {
            storm.push_str(&format!("ERROR {line_idx}\n"));
        }
        storm.push_str(&format!("ERROR {}\n", "é".repeat(2_000)));
        append(&path, &storm);
        let summaries = poll(&mut follower);
        assert_eq!(summaries.len(), MAX_EVENTS_PER_TICK + 1);
        assert_eq!(summaries[0], "ERROR 0");
        assert!(
            summaries[MAX_EVENTS_PER_TICK].starts_with("96 more lines matched"),
            "{summaries:?}"
        );
        append(&path, &format!("ERROR {}\n", "é".repeat(2_000)));
        let long = poll(&mut follower);
        assert!(
            long[0].len() <= MAX_SUMMARY && long[0].len() > 990,
            "{}",
            long[0].len()
        );
        append(&path, "\u{0}\u{ff}ERROR \u{7f}binary\n");
        assert_eq!(poll(&mut follower).len(), 1);
    }
}
