//! Every metric name the collector exports, in one place (SPEC.md fixes the `vigil_host_*`,
//! `vigil_ingest_*` names).

/// Prefix of every per-host series; the agent's sample name follows it.
pub const HOST_PREFIX: &str = "vigil_host_";
/// 1 while the host's agent reports, 0 once it is overdue.
pub const HOST_UP: &str = "vigil_host_up";
/// Host identity and labels as an info series (value 1).
pub const HOST_INFO: &str = "vigil_host_info";
/// When the collector last accepted a batch from the host.
pub const HOST_LAST_SEEN: &str = "vigil_host_last_seen_timestamp_seconds";
/// Sample names an agent may not use, because the collector derives these series itself.
pub const RESERVED_SAMPLE_NAMES: &[&str] = &["up", "info", "last_seen_timestamp_seconds"];

/// Samples accepted.
pub const INGEST_SAMPLES: &str = "vigil_ingest_samples_total";
/// Batches accepted (duplicates excluded).
pub const INGEST_BATCHES: &str = "vigil_ingest_batches_total";
/// Events accepted.
pub const INGEST_EVENTS: &str = "vigil_ingest_events_total";
/// Batches refused, by reason.
pub const INGEST_REJECTED: &str = "vigil_ingest_rejected_total";
/// Batches acknowledged as already accepted.
pub const INGEST_DUPLICATES: &str = "vigil_ingest_duplicate_batches_total";
/// Request body bytes received on ingest, as sent (compressed).
pub const INGEST_BYTES: &str = "vigil_ingest_received_bytes_total";
/// Ingest request latency.
pub const INGEST_DURATION: &str = "vigil_ingest_request_duration_seconds";
/// Known hosts.
pub const HOSTS: &str = "vigil_hosts";
