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

/// Incidents open or acknowledged, by priority.
pub const INCIDENTS_OPEN: &str = "vigil_incidents_open";
/// Incidents opened, by priority.
pub const INCIDENTS_OPENED: &str = "vigil_incidents_opened_total";
/// Incidents reopened.
pub const INCIDENTS_REOPENED: &str = "vigil_incidents_reopened_total";
/// Time to acknowledge.
pub const INCIDENT_TIME_TO_ACK: &str = "vigil_incident_time_to_acknowledge_seconds";
/// Time to resolve.
pub const INCIDENT_TIME_TO_RESOLVE: &str = "vigil_incident_time_to_resolve_seconds";
/// SLA breaches.
pub const INCIDENT_SLA_BREACHES: &str = "vigil_incident_sla_breaches_total";
/// Events through the engine, by outcome.
pub const EVENTS: &str = "vigil_events_total";

/// Prefix of the agent's probe samples, exported as `vigil_<name>` (`vigil_probe_up`, ...).
pub const PROBE_SAMPLE_PREFIX: &str = "probe_";

/// The exported family of agent sample `name`: `vigil_probe_*` for probe results,
/// `vigil_host_<name>` for everything else.
pub fn family_name(name: &str) -> String {
    if name.starts_with(PROBE_SAMPLE_PREFIX) {
        format!("vigil_{name}")
    } else {
        format!("{HOST_PREFIX}{name}")
    }
}

/// HELP text for the samples `vigil-agent` sends (exported as `vigil_host_<name>`); other names
/// get a generic text.
pub fn sample_help(name: &str) -> &'static str {
    match name {
        "cpu_usage_ratio" => "CPU busy time across all cores, 0 to 1.",
        "cpu_core_usage_ratio" => "CPU busy time of one core, 0 to 1.",
        "cpu_count" => "Logical CPUs.",
        "memory_total_bytes" => "Physical memory.",
        "memory_used_bytes" => "Memory in use (total minus available).",
        "memory_available_bytes" => "Memory available for new work without swapping.",
        "swap_total_bytes" => "Swap space.",
        "swap_used_bytes" => "Swap in use.",
        "filesystem_size_bytes" => "Filesystem size.",
        "filesystem_used_bytes" => {
            "Filesystem space in use, reserved blocks included (size minus available)."
        }
        "filesystem_avail_bytes" => "Filesystem space available to unprivileged users.",
        "filesystem_inodes_total" => "Filesystem inodes.",
        "filesystem_inodes_free" => "Free filesystem inodes.",
        "network_receive_bytes_total" => "Bytes received by the interface.",
        "network_transmit_bytes_total" => "Bytes sent by the interface.",
        "network_receive_packets_total" => "Packets received by the interface.",
        "network_transmit_packets_total" => "Packets sent by the interface.",
        "network_receive_errors_total" => "Receive errors on the interface.",
        "network_transmit_errors_total" => "Transmit errors on the interface.",
        "network_receive_drops_total" => "Received packets dropped on the interface.",
        "network_transmit_drops_total" => "Outgoing packets dropped on the interface.",
        "load1" => "Load average over 1 minute.",
        "load5" => "Load average over 5 minutes.",
        "load15" => "Load average over 15 minutes.",
        "processes_running" => "Runnable processes and threads.",
        "processes_total" => "Processes and threads.",
        "uptime_seconds" => "Time since boot.",
        "boot_time_seconds" => "Boot time, Unix seconds.",
        "pressure_avg10_ratio" => "Pressure stall information: share of time stalled over 10 s.",
        "pressure_avg60_ratio" => "Pressure stall information: share of time stalled over 60 s.",
        "pressure_avg300_ratio" => "Pressure stall information: share of time stalled over 300 s.",
        "pressure_stall_seconds_total" => "Pressure stall information: total time stalled.",
        "agent_cpu_seconds_total" => "CPU time used by vigil-agent itself.",
        "agent_resident_bytes" => "Resident memory of vigil-agent itself.",
        "agent_collector_success" => {
            "1 when the agent collector's last run succeeded, 0 when it failed."
        }
        "agent_batches_delivered_total" => "Batches the agent delivered to the collector.",
        "agent_batches_dropped_total" => "Batches the agent dropped, by reason.",
        "agent_queue_batches" => "Batches waiting in the agent's send queue.",
        "agent_spool_bytes" => "Bytes in the agent's on-disk spool.",
        "agent_spool_batches" => "Batches in the agent's on-disk spool.",
        "agent_spool_dropped_batches_total" => {
            "Batches the agent dropped from its spool at the size cap."
        }
        "probe_up" => "1 when the availability probe succeeded, 0 when it failed.",
        "probe_latency_seconds" => "Time the availability probe took (connect or response).",
        "probe_http_status" => "HTTP status the probe received.",
        "probe_tls_cert_expiry_days" => "Days until the probed TLS certificate expires.",
        "probe_process_count" => "Processes whose command line matches the probe.",
        _ => "Reported by vigil-agent.",
    }
}
