//! Host collectors: the [`REGISTRY`] of named collectors, the shared [`Sources`] they read from,
//! and [`Collectors::collect`], which runs them all (node_exporter `collector.go`).
//!
//! Rules every collector follows:
//! - It appends [`Sample`]s (names without the `vigil_host_` prefix the collector adds, `time_ms`
//!   left `None` so the batch's time applies) and knows nothing of batches, the state or the
//!   network.
//! - It refreshes only what it samples, on the one long-lived `sysinfo::System` / `Disks` in
//!   [`Sources`]; the process table is never refreshed.
//! - Procfs is read through [`procfs::Procfs`] (injectable root) and parsed by a pure
//!   `parse(&str)` function tested with literal text or fixtures.
//! - A failing collector never fails the sample: its partial output is discarded, it is logged
//!   with the field `collector` (a warning when it starts failing, debug while it keeps failing)
//!   and reported as data: `agent_collector_success{collector="<name>"}` is 1 or 0.
//!
//! A collector's name (registry key, log field, label value) equals its file stem.

pub mod agent;
pub mod cpu;
pub mod filesystem;
pub mod inventory;
pub mod load;
pub mod memory;
pub mod network;
pub mod pressure;
pub mod procfs;
pub mod system;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};
use vigil_shared::Labels;
use vigil_shared::wire::{Inventory, InventoryFilesystem, Sample};

use self::procfs::Procfs;

/// Why one collector (or the collector set) failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content was not understood.
    #[error("cannot parse {}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: ParseError,
    },
    /// sysinfo could not provide something.
    #[error("{what} is unavailable")]
    Unavailable {
        /// What was asked for.
        what: &'static str,
        /// sysinfo's error.
        #[source]
        source: sysinfo::Error,
    },
    /// sysinfo returned nothing where something is always expected.
    #[error("{0} is empty")]
    Empty(&'static str),
}

/// What a pure procfs parser did not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }

    /// Attaches the file the text came from.
    pub(crate) fn at(self, path: PathBuf) -> CollectorError {
        CollectorError::Parse { path, source: self }
    }
}

/// What the collectors read from: the long-lived sysinfo handles, the procfs root, and the
/// latest lists the inventory is built from.
pub struct Sources {
    /// The one `System`, refreshed per collector for CPU usage and memory only.
    pub system: System,
    /// The one `Disks`, refreshed for storage only.
    pub disks: Disks,
    /// Procfs under the configured root.
    pub procfs: Procfs,
    /// Filesystems reported by the last successful `filesystem` run.
    pub filesystems: Vec<InventoryFilesystem>,
    /// Interfaces reported by the last successful `network` run.
    pub interfaces: Vec<String>,
    /// Mount points of real filesystems mounted read-only, from the last `filesystem` run.
    pub read_only: Vec<String>,
}

/// A collector: appends its samples to `out`.
pub type CollectFn = fn(&mut Sources, &mut Vec<Sample>) -> Result<(), CollectorError>;

/// One entry of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Registration {
    /// The collector's name (= file stem).
    pub name: &'static str,
    /// Its function.
    pub collect: CollectFn,
}

/// Every collector, in the order they run.
pub const REGISTRY: &[Registration] = &[
    Registration {
        name: "cpu",
        collect: cpu::collect,
    },
    Registration {
        name: "memory",
        collect: memory::collect,
    },
    Registration {
        name: "filesystem",
        collect: filesystem::collect,
    },
    Registration {
        name: "network",
        collect: network::collect,
    },
    Registration {
        name: "load",
        collect: load::collect,
    },
    Registration {
        name: "system",
        collect: system::collect,
    },
    Registration {
        name: "pressure",
        collect: pressure::collect,
    },
    Registration {
        name: "agent",
        collect: agent::collect,
    },
];

/// The collector set with its sources and per-collector health.
pub struct Collectors {
    sources: Sources,
    healthy: Vec<bool>,
    static_inventory: inventory::StaticInventory,
    macs: HashMap<String, String>,
    addresses: HashMap<String, Vec<String>>,
    addresses_read: Option<std::time::Instant>,
}

impl Collectors {
    /// Creates the sysinfo handles (refreshing CPU usage once, so the next refresh at least
    /// [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`] later gives a real usage figure) and reads the
    /// static part of the inventory.
    pub fn new(procfs_root: &Path) -> Result<Collectors, CollectorError> {
        let refresh = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram().with_swap());
        let system =
            System::new_with_specifics(refresh).map_err(|source| CollectorError::Unavailable {
                what: "system information",
                source,
            })?;
        let disks = Disks::new().map_err(|source| CollectorError::Unavailable {
            what: "disk list",
            source,
        })?;
        let procfs = Procfs::new(procfs_root);
        let static_inventory = inventory::StaticInventory::read(&system, &procfs);
        Ok(Collectors {
            sources: Sources {
                system,
                disks,
                procfs,
                filesystems: Vec::new(),
                interfaces: Vec::new(),
                read_only: Vec::new(),
            },
            healthy: vec![true; REGISTRY.len()],
            static_inventory,
            macs: HashMap::new(),
            addresses: HashMap::new(),
            addresses_read: None,
        })
    }

    /// Runs every collector, appending their samples and one `agent_collector_success` per
    /// collector to `out`.
    pub fn collect(&mut self, out: &mut Vec<Sample>) {
        for (registration, healthy) in REGISTRY.iter().zip(self.healthy.iter_mut()) {
            let mark = out.len();
            let result = (registration.collect)(&mut self.sources, out);
            let success = match result {
                Ok(()) => {
                    if !*healthy {
                        tracing::info!(collector = registration.name, "collector recovered");
                    }
                    *healthy = true;
                    1.0
                }
                Err(error) => {
                    out.truncate(mark);
                    if *healthy {
                        tracing::warn!(collector = registration.name, error = %DisplayChain(&error), "collector failed");
                    } else {
                        tracing::debug!(collector = registration.name, error = %DisplayChain(&error), "collector still failing");
                    }
                    *healthy = false;
                    0.0
                }
            };
            out.push(labeled(
                "agent_collector_success",
                &[("collector", registration.name)],
                success,
            ));
        }
    }

    /// The inventory as of the last [`Collectors::collect`].
    pub fn inventory(&mut self, depends_on: &[String]) -> Inventory {
        if self
            .addresses_read
            .is_none_or(|read| read.elapsed() >= inventory::ADDRESS_REFRESH)
        {
            self.addresses = inventory::read_addresses();
            self.addresses_read = Some(std::time::Instant::now());
        }
        inventory::build(
            &self.static_inventory,
            &self.sources,
            &mut self.macs,
            &self.addresses,
            depends_on,
        )
    }

    /// Real filesystems seen by the last `filesystem` run.
    pub fn filesystems(&self) -> &[InventoryFilesystem] {
        &self.sources.filesystems
    }

    /// Mount points of real filesystems found read-only by the last `filesystem` run.
    pub fn read_only(&self) -> &[String] {
        &self.sources.read_only
    }
}

/// A sample without labels.
pub(crate) fn sample(name: &str, value: f64) -> Sample {
    Sample {
        name: name.to_owned(),
        labels: Labels::new(),
        value,
        time_ms: None,
    }
}

/// A sample with labels.
pub(crate) fn labeled(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
        value,
        time_ms: None,
    }
}

/// A percentage (0..100) from sysinfo as a 0..1 ratio rounded to 0.01 % (more digits of an f32
/// are noise); non-finite values become 0.
pub(crate) fn percent_to_ratio(percent: f32) -> f64 {
    let ratio = (f64::from(percent) * 100.0).round() / 10_000.0;
    if ratio.is_finite() {
        ratio.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Displays an error with its sources, `outer: inner: ...`, on one line.
pub(crate) struct DisplayChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(formatter, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The fixture root (`agent/tests/fixtures`).
    pub(crate) fn fixture_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    /// Sources over `root` without any refresh yet.
    pub(crate) fn sources(root: &Path) -> Sources {
        Sources {
            system: System::new().unwrap(),
            disks: Disks::new().unwrap(),
            procfs: Procfs::new(root),
            filesystems: Vec::new(),
            interfaces: Vec::new(),
            read_only: Vec::new(),
        }
    }

    fn names(samples: &[Sample]) -> Vec<&str> {
        samples.iter().map(|sample| sample.name.as_str()).collect()
    }

    #[test]
    fn collectors_report_success_for_each_collector_on_fixtures() {
        let mut collectors = Collectors::new(&fixture_root()).unwrap();
        let mut out = Vec::new();
        collectors.collect(&mut out);
        let successes: Vec<(&str, f64)> = out
            .iter()
            .filter(|sample| sample.name == "agent_collector_success")
            .map(|sample| (sample.labels["collector"].as_str(), sample.value))
            .collect();
        assert_eq!(successes.len(), REGISTRY.len());
        // Every fixture-backed collector works; the fixture tree has no pressure/io and that is fine.
        for (name, value) in successes {
            assert_eq!(value, 1.0, "collector {name} failed on fixtures");
        }
        let names = names(&out);
        for expected in [
            "cpu_usage_ratio",
            "memory_total_bytes",
            "network_receive_bytes_total",
            "load1",
            "uptime_seconds",
            "pressure_avg10_ratio",
            "agent_resident_bytes",
        ] {
            assert!(names.contains(&expected), "missing {expected} in {names:?}");
        }
    }

    #[test]
    fn collectors_survive_an_empty_root() {
        let empty = tempfile::tempdir().unwrap();
        let mut collectors = Collectors::new(empty.path()).unwrap();
        let mut out = Vec::new();
        collectors.collect(&mut out);
        let failed: Vec<&str> = out
            .iter()
            .filter(|sample| sample.name == "agent_collector_success" && sample.value == 0.0)
            .map(|sample| sample.labels["collector"].as_str())
            .collect();
        assert_eq!(failed, vec!["network", "load", "agent"]);
        // A failed collector leaves no partial samples behind.
        assert!(!names(&out).contains(&"load1"));
        // Collectors backed by sysinfo still work.
        assert!(names(&out).contains(&"cpu_usage_ratio"));
    }
}
