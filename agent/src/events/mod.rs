//! Host events: things that happened to the host, each an [`Event`] with a stable `check` name
//! and a severity. Detectors are edge-triggered (a change is one event, a state is never
//! repeated every tick) and know nothing of batches or the network; the sampler runs them every
//! tick and puts what they find in the next batch.
//!
//! | check | file | status | severity |
//! |---|---|---|---|
//! | `reboot` | [`reboot`] | firing, one-shot | warning |
//! | `agent_start`, `agent_stop` | (sampler) | firing, one-shot | info |
//! | `oom_kill` | [`oom`] | firing, one-shot | major |
//! | `fs_readonly:MOUNTPOINT` | [`readonly`] | firing / resolved | critical |
//! | `clock_skew` | [`skew`] | firing / resolved | warning |
//! | `log:NAME` | [`logs`] | firing, one-shot per matching line | per `[[log]]` (warning) |
//! | `data_loss` | (sampler, from the spool) | firing, one-shot | major |
//!
//! Probe events (`probe:NAME`, `process_restart:NAME`) come from [`crate::probes`].

pub mod logs;
pub mod oom;
pub mod readonly;
pub mod reboot;
pub mod skew;

use std::path::PathBuf;
use std::time::Duration;

use vigil_shared::wire::{Event, InventoryFilesystem};
use vigil_shared::{Labels, Severity, Status};

use crate::config::LogConfig;

/// An event with no service and no explicit dedup key.
pub fn event(
    check: impl Into<String>,
    status: Status,
    severity: Severity,
    summary: impl Into<String>,
    labels: Labels,
    time_ms: i64,
) -> Event {
    Event {
        check: check.into(),
        status,
        severity,
        summary: summary.into(),
        service: None,
        labels,
        time_ms,
        dedup_key: None,
    }
}

/// What the detectors look at on one tick.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// Real filesystems seen by the `filesystem` collector.
    pub filesystems: &'a [InventoryFilesystem],
    /// Those of them mounted read-only.
    pub read_only: &'a [String],
    /// Local minus collector clock, once known.
    pub skew_ms: Option<i64>,
    /// Now, Unix ms.
    pub now_ms: i64,
}

/// The per-tick detectors.
#[derive(Debug)]
pub struct HostEvents {
    procfs_root: PathBuf,
    oom: oom::OomDetector,
    readonly: readonly::ReadOnlyDetector,
    skew: skew::SkewDetector,
    logs: Vec<logs::LogFollower>,
}

impl HostEvents {
    /// Detectors for a host whose `/proc` is under `procfs_root`; log files that exist now are
    /// followed from their end.
    pub fn new(procfs_root: PathBuf, skew_threshold: Duration, logs: &[LogConfig]) -> HostEvents {
        HostEvents {
            procfs_root,
            oom: oom::OomDetector::default(),
            readonly: readonly::ReadOnlyDetector::default(),
            skew: skew::SkewDetector::new(skew_threshold),
            logs: logs.iter().cloned().map(logs::LogFollower::new).collect(),
        }
    }

    /// Runs every detector once, appending what they found.
    pub fn detect(&mut self, observed: Observed<'_>, out: &mut Vec<Event>) {
        self.oom.check(&self.procfs_root, observed.now_ms, out);
        self.readonly.check(
            observed.filesystems,
            observed.read_only,
            observed.now_ms,
            out,
        );
        self.skew.check(observed.skew_ms, observed.now_ms, out);
        for follower in &mut self.logs {
            follower.poll(observed.now_ms, out);
        }
    }
}
