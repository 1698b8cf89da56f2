//! The wire protocol: what an agent sends to `POST /v1/ingest`.
//!
//! # Format
//!
//! One request carries one [`Batch`], encoded as MessagePack with named fields
//! (`rmp_serde::to_vec_named`, content type `application/msgpack`) or as JSON of the same shape
//! (`application/json`). Agents compress the body with zstd (`Content-Encoding: zstd`); the
//! collector also accepts gzip and identity. Field by field:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `version` | u32 | [`PROTOCOL_VERSION`] of the sender |
//! | `agent.host_id` | string | the host's stable id (`--host-id`, default the hostname) |
//! | `agent.hostname` | string | the OS hostname |
//! | `agent.version` | string | the agent's version |
//! | `agent.labels` | map string→string | `[labels]` of the agent config, copied onto everything the host sends |
//! | `stream` | u64 | identifies the agent's sequence: chosen at random when the agent's state dir is created |
//! | `seq` | u64 | per-stream sequence number; starts at 1, grows by one per batch, survives restarts |
//! | `time_ms` | i64 | when the batch was taken, Unix milliseconds |
//! | `samples[]` | [`Sample`] | `name`, `labels` (may be absent), `value` (f64), `time_ms` (absent: the batch's) |
//! | `events[]` | [`Event`] | things that happened on the host, each with a stable `check` name |
//! | `inventory` | [`Inventory`] or absent | the host's configuration record; sent at start and when it changes |
//!
//! Counters end in `_total`; every other sample is a gauge. Units are in the name (`_bytes`,
//! `_seconds`, `_ratio` for 0..1).
//!
//! # Compatibility rule
//!
//! Decoders ignore fields they do not know, and every field added after version 1 has a default,
//! so an older collector reads a newer agent's batch and the other way round. A field is never
//! renamed or given a new meaning: a breaking change bumps [`PROTOCOL_VERSION`], and a collector
//! refuses versions newer than its own with a message that says to upgrade it.
//!
//! # Exactly once
//!
//! The collector remembers the highest `seq` it accepted per `(agent.host_id, stream)`. A batch at
//! or below it is acknowledged and not counted again, so an agent may resend freely.

pub mod codec;
pub mod view;

use crate::event::{Severity, Status};
use crate::labels::{self, LabelError, Labels};
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// One agent request: identity, position in the agent's sequence, and the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The sender's [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Who sent it.
    pub agent: AgentInfo,
    /// The agent's sequence stream (random, fixed for the life of its state dir).
    pub stream: u64,
    /// Sequence number within `stream`, only ever growing.
    pub seq: u64,
    /// When the batch was taken, Unix milliseconds.
    pub time_ms: i64,
    /// Metric samples.
    #[serde(default)]
    pub samples: Vec<Sample>,
    /// Events detected on the host.
    #[serde(default)]
    pub events: Vec<Event>,
    /// The host's configuration record, when new or changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
}

/// Identity of the sending agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Stable host id (`--host-id`).
    pub host_id: String,
    /// OS hostname.
    #[serde(default)]
    pub hostname: String,
    /// Agent version.
    #[serde(default)]
    pub version: String,
    /// Labels copied onto everything the host sends.
    #[serde(default)]
    pub labels: Labels,
}

/// One metric value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Metric name without the `vigil_host_` prefix the collector adds, e.g. `cpu_usage_ratio`.
    pub name: String,
    /// Labels of this series (e.g. `mountpoint`); never `host`, which the collector sets.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// When it was taken, Unix milliseconds; absent means the batch's `time_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<i64>,
}

/// Something that happened on the host (reboot, probe down, OOM kill, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable name of what is checked, e.g. `reboot` or `probe:web`.
    pub check: String,
    /// Firing or resolved.
    pub status: Status,
    /// How bad.
    pub severity: Severity,
    /// One line for humans.
    #[serde(default)]
    pub summary: String,
    /// The service concerned, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Extra labels.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// When it happened, Unix milliseconds.
    pub time_ms: i64,
    /// An explicit dedup key; absent means the collector derives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
}

/// The host's configuration record (the CMDB's configuration item).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inventory {
    /// OS name, e.g. `Debian GNU/Linux`.
    pub os: String,
    /// OS version, e.g. `12`.
    pub os_version: String,
    /// Kernel version.
    pub kernel: String,
    /// CPU architecture, e.g. `x86_64`.
    pub arch: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPU count.
    pub cpu_cores: u32,
    /// Physical memory in bytes.
    pub memory_bytes: u64,
    /// Real filesystems.
    pub filesystems: Vec<InventoryFilesystem>,
    /// Network interfaces.
    pub interfaces: Vec<InventoryInterface>,
    /// Agent version.
    pub agent_version: String,
    /// Host ids this host depends on (`[topology] depends_on`).
    pub depends_on: Vec<String>,
}

/// A filesystem in the inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InventoryFilesystem {
    /// Mount point.
    pub mountpoint: String,
    /// Device or source.
    pub device: String,
    /// Filesystem type.
    pub fstype: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// A network interface in the inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InventoryInterface {
    /// Interface name.
    pub name: String,
    /// MAC address, when known.
    pub mac: String,
    /// IP addresses with prefix length, e.g. `10.0.0.5/24`.
    pub addresses: Vec<String>,
}

/// Bounds a receiver applies to a decoded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most samples in one batch.
    pub max_samples: usize,
    /// Most events in one batch.
    pub max_events: usize,
    /// Most labels on one sample or event.
    pub max_labels: usize,
    /// Longest free-text field (summary, ids, inventory strings), in bytes.
    pub max_text_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_samples: 100_000,
            max_events: 10_000,
            max_labels: 32,
            max_text_len: 4_096,
        }
    }
}

/// Why a decoded batch was refused. The batch is refused as a whole, with the first reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// The sender speaks a newer protocol than this receiver.
    #[error(
        "protocol version {got} is not supported (this collector speaks up to {supported}): upgrade the collector"
    )]
    UnsupportedVersion {
        /// Version in the batch.
        got: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// `agent.host_id` is empty, too long or has control characters.
    #[error("agent.host_id {0:?} is invalid: use 1 to 253 printable characters")]
    InvalidHostId(String),
    /// `seq` is zero.
    #[error("seq must start at 1")]
    ZeroSeq,
    /// Too many items of one kind.
    #[error("{what} has {count} entries, more than the {max} allowed: send smaller batches")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// How many it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A text field is too long.
    #[error("{what} is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A sample value is NaN or infinite.
    #[error("sample {name:?} has a non-finite value")]
    NonFinite {
        /// The sample's name.
        name: String,
    },
    /// A sample names one label twice.
    #[error("sample {sample:?} has a label name twice")]
    DuplicateLabel {
        /// The sample's name.
        sample: String,
    },
    /// A label or metric name is invalid.
    #[error("{context}: {source}")]
    Label {
        /// Where the label was.
        context: String,
        /// What was wrong.
        #[source]
        source: LabelError,
    },
}

/// Labels the collector sets itself; samples and events may not carry them.
pub const RESERVED_LABELS: &[&str] = &["host"];

impl Batch {
    /// Total count of values carried (samples plus events), for ingest counters.
    pub fn n_items(&self) -> usize {
        self.samples.len() + self.events.len()
    }

    /// Checks everything a receiver relies on; returns the first problem found.
    pub fn validate(&self, limits: &Limits) -> Result<(), ValidationError> {
        check_header(self.version, &self.agent, self.seq, limits)?;
        check_count("samples", self.samples.len(), limits.max_samples)?;
        for sample in &self.samples {
            let labels = sample.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            check_sample(
                &sample.name,
                sample.value,
                sample.labels.len(),
                labels,
                limits,
            )?;
        }
        check_events(&self.events, limits)?;
        check_inventory(self.inventory.as_ref(), limits)
    }
}

fn check_header(
    version: u32,
    agent: &AgentInfo,
    seq: u64,
    limits: &Limits,
) -> Result<(), ValidationError> {
    if version > PROTOCOL_VERSION || version == 0 {
        return Err(ValidationError::UnsupportedVersion {
            got: version,
            supported: PROTOCOL_VERSION,
        });
    }
    let host_id = &agent.host_id;
    if !is_valid_host_id(host_id) {
        return Err(ValidationError::InvalidHostId(truncate(host_id)));
    }
    if seq == 0 {
        return Err(ValidationError::ZeroSeq);
    }
    check_len("agent.hostname", &agent.hostname, limits)?;
    check_len("agent.version", &agent.version, limits)?;
    check_labels("agent.labels", &agent.labels, limits)
}

fn check_sample<'a>(
    name: &str,
    value: f64,
    n_labels: usize,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    limits: &Limits,
) -> Result<(), ValidationError> {
    labels::validate_metric_name(name).map_err(|source| ValidationError::Label {
        context: "sample name".into(),
        source,
    })?;
    if !value.is_finite() {
        return Err(ValidationError::NonFinite {
            name: truncate(name),
        });
    }
    check_count("sample labels", n_labels, limits.max_labels)?;
    for (label, text) in labels {
        labels::validate_label(label, text, RESERVED_LABELS).map_err(|source| {
            ValidationError::Label {
                context: "sample labels".into(),
                source,
            }
        })?;
    }
    Ok(())
}

fn check_events(events: &[Event], limits: &Limits) -> Result<(), ValidationError> {
    check_count("events", events.len(), limits.max_events)?;
    for event in events {
        check_len("event.check", &event.check, limits)?;
        check_len("event.summary", &event.summary, limits)?;
        check_labels("event labels", &event.labels, limits)?;
        if let Some(service) = &event.service {
            check_len("event.service", service, limits)?;
        }
        if let Some(key) = &event.dedup_key {
            check_len("event.dedup_key", key, limits)?;
        }
    }
    Ok(())
}

fn check_inventory(inventory: Option<&Inventory>, limits: &Limits) -> Result<(), ValidationError> {
    let Some(inventory) = inventory else {
        return Ok(());
    };
    let max_items = limits.max_labels * 32;
    check_count(
        "inventory.filesystems",
        inventory.filesystems.len(),
        max_items,
    )?;
    check_count(
        "inventory.interfaces",
        inventory.interfaces.len(),
        max_items,
    )?;
    check_count(
        "inventory.depends_on",
        inventory.depends_on.len(),
        max_items,
    )
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), ValidationError> {
    if count > max {
        return Err(ValidationError::TooMany { what, count, max });
    }
    Ok(())
}

fn check_len(what: &'static str, text: &str, limits: &Limits) -> Result<(), ValidationError> {
    if text.len() > limits.max_text_len {
        return Err(ValidationError::TooLong {
            what,
            len: text.len(),
            max: limits.max_text_len,
        });
    }
    Ok(())
}

fn check_labels(what: &'static str, set: &Labels, limits: &Limits) -> Result<(), ValidationError> {
    check_count(what, set.len(), limits.max_labels)?;
    labels::validate_labels(set, RESERVED_LABELS).map_err(|source| ValidationError::Label {
        context: what.into(),
        source,
    })
}

/// Longest host id, in bytes (a DNS name's limit).
pub const MAX_HOST_ID_LEN: usize = 253;

/// Whether `host_id` is usable as an agent's host id: 1 to [`MAX_HOST_ID_LEN`] bytes, no
/// control characters. The agent's config and every receiver check with this one rule.
pub fn is_valid_host_id(host_id: &str) -> bool {
    !host_id.is_empty()
        && host_id.len() <= MAX_HOST_ID_LEN
        && !host_id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_ids_are_1_to_253_bytes_without_control_characters() {
        assert!(is_valid_host_id("web-1"));
        assert!(is_valid_host_id("db 1.eu/rack:4"));
        assert!(is_valid_host_id(&"h".repeat(253)));
        assert!(!is_valid_host_id(&"h".repeat(254)));
        assert!(!is_valid_host_id(""));
        assert!(!is_valid_host_id("web\n1"));
        assert!(!is_valid_host_id("web\u{7f}"));
        // 253 bytes, not characters: 127 two-byte characters are too long.
        assert!(!is_valid_host_id(&"é".repeat(127)));
    }

    use super::*;

    pub(crate) fn sample_batch() -> Batch {
        Batch {
            version: PROTOCOL_VERSION,
            agent: AgentInfo {
                host_id: "web-1".into(),
                hostname: "web-1.example".into(),
                version: "0.1.0".into(),
                labels: Labels::from([("env".into(), "prod".into())]),
            },
            stream: 42,
            seq: 7,
            time_ms: 1_790_000_000_000,
            samples: vec![Sample {
                name: "filesystem_used_bytes".into(),
                labels: Labels::from([("mountpoint".into(), "/".into())]),
                value: 1.5e9,
                time_ms: None,
            }],
            events: vec![],
            inventory: None,
        }
    }

    #[test]
    fn validate_accepts_a_good_batch() {
        assert_eq!(sample_batch().validate(&Limits::default()), Ok(()));
    }

    #[test]
    fn validate_rejects_newer_version_with_advice() {
        let mut batch = sample_batch();
        batch.version = PROTOCOL_VERSION + 1;
        let error = batch.validate(&Limits::default()).unwrap_err();
        assert!(
            error.to_string().contains("upgrade the collector"),
            "{error}"
        );
    }

    #[test]
    fn validate_rejects_reserved_host_label_and_nan() {
        let mut batch = sample_batch();
        batch.samples[0].labels.insert("host".into(), "x".into());
        assert!(matches!(
            batch.validate(&Limits::default()),
            Err(ValidationError::Label { .. })
        ));
        let mut batch = sample_batch();
        batch.samples[0].value = f64::NAN;
        assert!(matches!(
            batch.validate(&Limits::default()),
            Err(ValidationError::NonFinite { .. })
        ));
    }

    #[test]
    fn validate_rejects_empty_host_zero_seq_and_too_many_samples() {
        let mut batch = sample_batch();
        batch.agent.host_id.clear();
        assert!(matches!(
            batch.validate(&Limits::default()),
            Err(ValidationError::InvalidHostId(_))
        ));
        let mut batch = sample_batch();
        batch.seq = 0;
        assert_eq!(
            batch.validate(&Limits::default()),
            Err(ValidationError::ZeroSeq)
        );
        let batch = sample_batch();
        let limits = Limits {
            max_samples: 0,
            ..Limits::default()
        };
        assert!(matches!(
            batch.validate(&limits),
            Err(ValidationError::TooMany {
                what: "samples",
                ..
            })
        ));
    }
}
