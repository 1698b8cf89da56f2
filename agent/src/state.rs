//! The agent's sequence state in `--state-dir`: which `stream` it writes and the last `seq` used.
//!
//! # Format
//!
//! One file, `<state-dir>/state`, holding one JSON object: `{"version":1,"stream":<u64>,"seq":<u64>}`.
//! `stream` is a random non-zero u64 read from `/dev/urandom` when the file is first created;
//! `seq` is the highest sequence number *reserved*: numbers are taken in blocks of [`SEQ_BLOCK`],
//! so the file (and its fsync) is rewritten once per block, not once per batch.
//!
//! A second file, `<state-dir>/boot_time`, holds the host's boot time (Unix seconds, text) as
//! seen by the last run, for the `reboot` event ([`State::swap_boot_time`]).
//!
//! # Invariants
//!
//! - [`State::next_seq`] only hands out a number that is already covered by a reservation on disk
//!   (temporary file, `fsync`, `rename`, `fsync` of the directory), so a number is durable before
//!   any batch carrying it can leave the host, and `seq` only grows across restarts within a
//!   stream. After a restart (clean or not) numbering continues above the last reservation: the
//!   unused rest of a block is skipped, never reused, so the collector sees a gap, not a repeat.
//! - If the file is unreadable or corrupt, the agent never guesses: it logs a warning and starts a
//!   new random stream with `seq` from 1, so it can never resend lower numbers on a known stream.
//! - If writing fails, `next_seq` returns an error and the caller does not send a batch with that
//!   number (the next successful call still only grows).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the state file inside the state directory.
pub const STATE_FILE: &str = "state";
/// Name of the boot-time file inside the state directory.
pub const BOOT_TIME_FILE: &str = "boot_time";
/// How many sequence numbers one fsynced write of the state file reserves.
pub const SEQ_BLOCK: u64 = 64;
const STATE_VERSION: u32 = 1;

/// Why the state could not be opened or advanced.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory could not be created.
    #[error("cannot create state dir {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The state file could not be written.
    #[error("cannot write state file {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// No random stream id could be read.
    #[error("cannot read a random stream id from /dev/urandom")]
    Random(#[source] io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    stream: u64,
    seq: u64,
}

/// The open sequence state.
#[derive(Debug)]
pub struct State {
    dir: PathBuf,
    stream: u64,
    seq: u64,
    reserved: u64,
}

impl State {
    /// Opens (creating if needed) the state in `dir`. A missing file starts a new stream; a
    /// corrupt or unreadable one is logged and replaced by a new stream.
    pub fn open(dir: &Path) -> Result<State, StateError> {
        fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(STATE_FILE);
        let loaded = match fs::read(&path) {
            Ok(bytes) => match parse(&bytes) {
                Some(file) => Some(file),
                None => {
                    tracing::warn!(path = %path.display(), "state file is corrupt: starting a new stream");
                    None
                }
            },
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "state file is unreadable: starting a new stream");
                None
            }
        };
        let state = match loaded {
            Some(file) => State {
                dir: dir.to_owned(),
                stream: file.stream,
                seq: file.seq,
                reserved: file.seq,
            },
            None => {
                let state = State {
                    dir: dir.to_owned(),
                    stream: random_stream()?,
                    seq: 0,
                    reserved: 0,
                };
                state.persist(0)?;
                tracing::info!(stream = state.stream, path = %path.display(), "started a new stream");
                state
            }
        };
        Ok(state)
    }

    /// The stream id.
    pub fn stream(&self) -> u64 {
        self.stream
    }

    /// The last sequence number handed out (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Takes the next sequence number; when it is beyond the reservation, reserves the next
    /// block on disk first.
    pub fn next_seq(&mut self) -> Result<u64, StateError> {
        let next = self.seq.saturating_add(1);
        // Even when the write fails, never hand this number out again: a partial write may have
        // reached the disk.
        self.seq = next;
        if next > self.reserved {
            let reserved = next.saturating_add(SEQ_BLOCK - 1);
            self.persist(reserved)?;
            self.reserved = reserved;
        }
        Ok(next)
    }

    /// Makes sure the next seq is above `seq` (the spool's highest, which may belong to an older
    /// stream when the state file was lost).
    pub fn skip_to(&mut self, seq: u64) {
        if seq > self.seq {
            self.seq = seq;
        }
    }

    /// Records `boot_time` (Unix seconds) and returns the one the last run recorded, if any.
    pub fn swap_boot_time(&self, boot_time: u64) -> Option<u64> {
        let path = self.dir.join(BOOT_TIME_FILE);
        let previous = fs::read_to_string(&path)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok());
        if previous != Some(boot_time)
            && let Err(error) = fs::write(&path, format!("{boot_time}\n"))
        {
            tracing::warn!(path = %path.display(), error = %error, "cannot record the boot time");
        }
        previous
    }

    fn persist(&self, seq: u64) -> Result<(), StateError> {
        let path = self.dir.join(STATE_FILE);
        let temporary = self.dir.join(".state.tmp");
        let file = StateFile {
            version: STATE_VERSION,
            stream: self.stream,
            seq,
        };
        let bytes = serde_json::to_vec(&file).map_err(|error| StateError::Write {
            path: path.clone(),
            source: io::Error::other(error),
        })?;
        let write = || -> io::Result<()> {
            let mut handle = fs::File::create(&temporary)?;
            handle.write_all(&bytes)?;
            handle.write_all(b"\n")?;
            handle.sync_all()?;
            drop(handle);
            fs::rename(&temporary, &path)?;
            // Make the rename itself durable; a directory that cannot be fsynced is not an error.
            if let Ok(directory) = fs::File::open(&self.dir) {
                let _ = directory.sync_all();
            }
            Ok(())
        };
        write().map_err(|source| StateError::Write { path, source })
    }
}

/// Parses the state file; `None` when it is not a valid one.
fn parse(bytes: &[u8]) -> Option<StateFile> {
    let file: StateFile = serde_json::from_slice(bytes).ok()?;
    (file.version == STATE_VERSION && file.stream != 0).then_some(file)
}

/// A random non-zero stream id from `/dev/urandom`.
fn random_stream() -> Result<u64, StateError> {
    let mut urandom = fs::File::open("/dev/urandom").map_err(StateError::Random)?;
    loop {
        let mut bytes = [0u8; 8];
        urandom.read_exact(&mut bytes).map_err(StateError::Random)?;
        let stream = u64::from_le_bytes(bytes);
        if stream != 0 {
            return Ok(stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_continues_seq_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("nested/state");
        let mut state = State::open(&state_dir).unwrap();
        let stream = state.stream();
        assert_ne!(stream, 0);
        assert_eq!(state.next_seq().unwrap(), 1);
        assert_eq!(state.next_seq().unwrap(), 2);
        assert_eq!(state.next_seq().unwrap(), 3);
        drop(state);

        // The rest of the reserved block is skipped, never reused.
        let mut state = State::open(&state_dir).unwrap();
        assert_eq!(state.stream(), stream);
        assert_eq!(state.last_seq(), SEQ_BLOCK);
        assert_eq!(state.next_seq().unwrap(), SEQ_BLOCK + 1);
        for expected in SEQ_BLOCK + 2..=3 * SEQ_BLOCK + 5 {
            assert_eq!(state.next_seq().unwrap(), expected);
        }
        drop(state);
        let mut state = State::open(&state_dir).unwrap();
        assert_eq!(state.next_seq().unwrap(), 4 * SEQ_BLOCK + 1);
        state.skip_to(10 * SEQ_BLOCK);
        assert_eq!(state.next_seq().unwrap(), 10 * SEQ_BLOCK + 1);
        state.skip_to(5);
        assert_eq!(state.next_seq().unwrap(), 10 * SEQ_BLOCK + 2);
    }

    #[test]
    fn state_swaps_the_boot_time() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        assert_eq!(state.swap_boot_time(1_000), None);
        assert_eq!(state.swap_boot_time(1_000), Some(1_000));
        assert_eq!(state.swap_boot_time(2_000), Some(1_000));
        fs::write(dir.path().join(BOOT_TIME_FILE), "garbage").unwrap();
        assert_eq!(state.swap_boot_time(3_000), None);
    }

    #[test]
    fn state_starts_new_stream_when_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(dir.path()).unwrap();
        let stream = state.stream();
        state.next_seq().unwrap();
        state.next_seq().unwrap();
        drop(state);

        for garbage in [
            &b"{\"version\":1,\"stream\":"[..],
            b"",
            b"\xff\x00garbage",
            b"{\"version\":1,\"stream\":0,\"seq\":5}",
        ] {
            fs::write(dir.path().join(STATE_FILE), garbage).unwrap();
            let mut state = State::open(dir.path()).unwrap();
            assert_ne!(
                state.stream(),
                stream,
                "reused the stream after {garbage:?}"
            );
            assert_eq!(state.next_seq().unwrap(), 1);
            // The replacement is itself readable.
            let reopened = State::open(dir.path()).unwrap();
            assert_eq!(reopened.stream(), state.stream());
            assert_eq!(reopened.last_seq(), SEQ_BLOCK);
        }
    }

    #[test]
    fn state_new_file_is_written_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(dir.path()).unwrap();
        let file = parse(&fs::read(dir.path().join(STATE_FILE)).unwrap()).unwrap();
        assert_eq!(file.stream, state.stream());
        assert_eq!(file.seq, 0);
    }

    #[test]
    fn state_open_fails_when_dir_cannot_be_created() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let error = State::open(&blocker.join("sub")).unwrap_err();
        assert!(
            error.to_string().starts_with("cannot create state dir"),
            "{error}"
        );
    }
}
