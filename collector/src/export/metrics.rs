//! Every metric name the collector exports, in one place (SPEC.md fixes the `vigil_host_*`,
//! `vigil_ingest_*` names), and how each agent sample is exported ([`AGENT_SAMPLES`]).

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
/// 1 while this collector leads the sweeps (heartbeat, tick, retention), else 0.
pub const LEADER: &str = "vigil_leader";
/// The fencing epoch of the leadership this collector holds or last held.
pub const LEADER_EPOCH: &str = "vigil_leader_epoch";
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
/// Notifications queued in the outbox, by sink.
pub const NOTIFICATIONS_QUEUED: &str = "vigil_notifications_queued_total";
/// Notifications a sink accepted, by sink.
pub const NOTIFICATIONS_SENT: &str = "vigil_notifications_sent_total";
/// Delivery attempts that failed (to be retried), by sink.
pub const NOTIFICATIONS_FAILED: &str = "vigil_notifications_failed_total";
/// Notifications dead-lettered, by sink.
pub const NOTIFICATIONS_DEAD: &str = "vigil_notifications_dead_total";
/// Time from a notification's due time to the sink accepting it, by sink.
pub const NOTIFICATION_DELIVERY: &str = "vigil_notification_delivery_seconds";

/// Seconds until a series' forecast crosses its capacity, by host and resource (absent when
/// none is forecast within the longest horizon).
pub const CAPACITY_EXHAUSTION: &str = "vigil_capacity_exhaustion_seconds";
/// The central forecast, by host, resource and horizon.
pub const CAPACITY_FORECAST: &str = "vigil_capacity_forecast";
/// The forecast band's lower edge, by host, resource and horizon.
pub const CAPACITY_FORECAST_LOWER: &str = "vigil_capacity_forecast_lower";
/// The forecast band's upper edge, by host, resource and horizon.
pub const CAPACITY_FORECAST_UPPER: &str = "vigil_capacity_forecast_upper";
/// Current use of a forecast resource, by host and resource.
pub const CAPACITY_USED: &str = "vigil_capacity_used";
/// What exhausts a resource, by host and resource.
pub const CAPACITY_LIMIT: &str = "vigil_capacity_limit";
/// Series this collector keeps history of.
pub const CAPACITY_SERIES: &str = "vigil_capacity_series";
/// Up time ÷ known time per `kind` (host, probe, service), `subject` and `window` (1d, 7d, 30d).
pub const AVAILABILITY_RATIO: &str = "vigil_availability_ratio";
/// Down time per `kind`, `subject` and `window`.
pub const AVAILABILITY_DOWN: &str = "vigil_availability_down_seconds";
/// Share of an SLO's error budget left, per `slo`.
pub const SLO_BUDGET_REMAINING: &str = "vigil_slo_error_budget_remaining_ratio";
/// An SLO's target as a ratio, per `slo`.
pub const SLO_TARGET: &str = "vigil_slo_target_ratio";
/// An SLO's burn rate per `slo` and alerting `window`.
pub const SLO_BURN_RATE: &str = "vigil_slo_burn_rate";

/// Prefix of the agent's probe samples, exported as `vigil_<name>` (`vigil_probe_up`, ...).
pub const PROBE_SAMPLE_PREFIX: &str = "probe_";

/// The Prometheus type an exported family gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (name ends in `_total`).
    Counter,
    /// Any value.
    Gauge,
}

/// An agent sample the collector knows: how it is exported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownSample {
    /// The name the agent sends (the wire name; rules and the hosts API use it).
    pub sample: &'static str,
    /// The exported family (Prometheus naming: base units, `_total` only on counters).
    pub family: &'static str,
    /// Its type.
    pub kind: Kind,
    /// HELP text.
    pub help: &'static str,
    /// Factor from the agent's unit to the family's base unit (1 for most).
    pub scale: f64,
}

const fn gauge(sample: &'static str, family: &'static str, help: &'static str) -> KnownSample {
    KnownSample {
        sample,
        family,
        kind: Kind::Gauge,
        help,
        scale: 1.0,
    }
}

const fn counter(sample: &'static str, family: &'static str, help: &'static str) -> KnownSample {
    KnownSample {
        sample,
        family,
        kind: Kind::Counter,
        help,
        scale: 1.0,
    }
}

/// Every sample `vigil-agent` sends, with its exported family. Most are `vigil_host_<sample>`
/// (probe results `vigil_<sample>`); the exceptions follow Prometheus naming where the agent's
/// name does not (CHANGELOG lists them): `cpu_count` → `vigil_host_cpus` (a gauge may not end in
/// `_count`), `processes_total` → `vigil_host_processes` and `filesystem_inodes_total` →
/// `vigil_host_filesystem_inodes` (gauges may not end in `_total`), `probe_process_count` →
/// `vigil_probe_processes`, `probe_tls_cert_expiry_days` → `vigil_probe_tls_cert_expiry_seconds`
/// (base unit: seconds).
pub const AGENT_SAMPLES: &[KnownSample] = &[
    gauge(
        "cpu_usage_ratio",
        "vigil_host_cpu_usage_ratio",
        "CPU busy time across all cores, 0 to 1.",
    ),
    gauge(
        "cpu_core_usage_ratio",
        "vigil_host_cpu_core_usage_ratio",
        "CPU busy time of one core, 0 to 1.",
    ),
    gauge("cpu_count", "vigil_host_cpus", "Logical CPUs."),
    gauge(
        "memory_total_bytes",
        "vigil_host_memory_total_bytes",
        "Physical memory.",
    ),
    gauge(
        "memory_used_bytes",
        "vigil_host_memory_used_bytes",
        "Memory in use (total minus available).",
    ),
    gauge(
        "memory_available_bytes",
        "vigil_host_memory_available_bytes",
        "Memory available for new work without swapping.",
    ),
    gauge(
        "swap_total_bytes",
        "vigil_host_swap_total_bytes",
        "Swap space.",
    ),
    gauge(
        "swap_used_bytes",
        "vigil_host_swap_used_bytes",
        "Swap in use.",
    ),
    gauge(
        "filesystem_size_bytes",
        "vigil_host_filesystem_size_bytes",
        "Filesystem size.",
    ),
    gauge(
        "filesystem_used_bytes",
        "vigil_host_filesystem_used_bytes",
        "Filesystem space in use, reserved blocks included (size minus available).",
    ),
    gauge(
        "filesystem_avail_bytes",
        "vigil_host_filesystem_avail_bytes",
        "Filesystem space available to unprivileged users.",
    ),
    gauge(
        "filesystem_free_bytes",
        "vigil_host_filesystem_free_bytes",
        "Free filesystem space, reserved blocks included.",
    ),
    gauge(
        "filesystem_inodes_total",
        "vigil_host_filesystem_inodes",
        "Filesystem inodes.",
    ),
    gauge(
        "filesystem_inodes_free",
        "vigil_host_filesystem_inodes_free",
        "Free filesystem inodes.",
    ),
    counter(
        "network_receive_bytes_total",
        "vigil_host_network_receive_bytes_total",
        "Bytes received by the interface.",
    ),
    counter(
        "network_transmit_bytes_total",
        "vigil_host_network_transmit_bytes_total",
        "Bytes sent by the interface.",
    ),
    counter(
        "network_receive_packets_total",
        "vigil_host_network_receive_packets_total",
        "Packets received by the interface.",
    ),
    counter(
        "network_transmit_packets_total",
        "vigil_host_network_transmit_packets_total",
        "Packets sent by the interface.",
    ),
    counter(
        "network_receive_errors_total",
        "vigil_host_network_receive_errors_total",
        "Receive errors on the interface.",
    ),
    counter(
        "network_transmit_errors_total",
        "vigil_host_network_transmit_errors_total",
        "Transmit errors on the interface.",
    ),
    counter(
        "network_receive_drops_total",
        "vigil_host_network_receive_drops_total",
        "Received packets dropped on the interface.",
    ),
    counter(
        "network_transmit_drops_total",
        "vigil_host_network_transmit_drops_total",
        "Outgoing packets dropped on the interface.",
    ),
    gauge("load1", "vigil_host_load1", "Load average over 1 minute."),
    gauge("load5", "vigil_host_load5", "Load average over 5 minutes."),
    gauge(
        "load15",
        "vigil_host_load15",
        "Load average over 15 minutes.",
    ),
    gauge(
        "processes_running",
        "vigil_host_processes_running",
        "Runnable processes and threads.",
    ),
    gauge(
        "processes_total",
        "vigil_host_processes",
        "Processes and threads.",
    ),
    gauge(
        "uptime_seconds",
        "vigil_host_uptime_seconds",
        "Time since boot.",
    ),
    gauge(
        "boot_time_seconds",
        "vigil_host_boot_time_seconds",
        "Boot time, Unix seconds.",
    ),
    gauge(
        "pressure_avg10_ratio",
        "vigil_host_pressure_avg10_ratio",
        "Pressure stall information: share of time stalled over 10 s.",
    ),
    gauge(
        "pressure_avg60_ratio",
        "vigil_host_pressure_avg60_ratio",
        "Pressure stall information: share of time stalled over 60 s.",
    ),
    gauge(
        "pressure_avg300_ratio",
        "vigil_host_pressure_avg300_ratio",
        "Pressure stall information: share of time stalled over 300 s.",
    ),
    counter(
        "pressure_stall_seconds_total",
        "vigil_host_pressure_stall_seconds_total",
        "Pressure stall information: total time stalled.",
    ),
    counter(
        "agent_cpu_seconds_total",
        "vigil_host_agent_cpu_seconds_total",
        "CPU time used by vigil-agent itself.",
    ),
    gauge(
        "agent_resident_bytes",
        "vigil_host_agent_resident_bytes",
        "Resident memory of vigil-agent itself.",
    ),
    gauge(
        "agent_collector_success",
        "vigil_host_agent_collector_success",
        "1 when the agent collector's last run succeeded, 0 when it failed.",
    ),
    counter(
        "agent_batches_delivered_total",
        "vigil_host_agent_batches_delivered_total",
        "Batches the agent delivered to the collector.",
    ),
    counter(
        "agent_batches_dropped_total",
        "vigil_host_agent_batches_dropped_total",
        "Batches the agent dropped, by reason.",
    ),
    gauge(
        "agent_queue_batches",
        "vigil_host_agent_queue_batches",
        "Batches waiting in the agent's send queue.",
    ),
    gauge(
        "agent_spool_bytes",
        "vigil_host_agent_spool_bytes",
        "Bytes in the agent's on-disk spool.",
    ),
    gauge(
        "agent_spool_batches",
        "vigil_host_agent_spool_batches",
        "Batches in the agent's on-disk spool.",
    ),
    counter(
        "agent_spool_dropped_batches_total",
        "vigil_host_agent_spool_dropped_batches_total",
        "Batches the agent dropped from its spool at the size cap.",
    ),
    gauge(
        "probe_up",
        "vigil_probe_up",
        "1 when the availability probe succeeded, 0 when it failed.",
    ),
    gauge(
        "probe_latency_seconds",
        "vigil_probe_latency_seconds",
        "Time the availability probe took (connect or response).",
    ),
    gauge(
        "probe_http_status",
        "vigil_probe_http_status",
        "HTTP status the probe received.",
    ),
    KnownSample {
        sample: "probe_tls_cert_expiry_days",
        family: "vigil_probe_tls_cert_expiry_seconds",
        kind: Kind::Gauge,
        help: "Time until the probed TLS certificate expires.",
        scale: 86_400.0,
    },
    gauge(
        "probe_process_count",
        "vigil_probe_processes",
        "Processes whose command line matches the probe.",
    ),
];

/// How one agent sample name is exported.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleExport {
    /// The family name.
    pub family: String,
    /// Its type.
    pub kind: Kind,
    /// HELP text.
    pub help: &'static str,
    /// Factor applied to every value.
    pub scale: f64,
}

/// The known sample `name`, if the agent sends it.
pub fn known_sample(name: &str) -> Option<&'static KnownSample> {
    AGENT_SAMPLES.iter().find(|known| known.sample == name)
}

/// The export of agent sample `name`: from [`AGENT_SAMPLES`] when known; otherwise
/// `vigil_probe_*` for `probe_*` names and `vigil_host_<name>` for the rest, a counter when it
/// ends in `_total`, a gauge otherwise; a gauge ending in `_count`, `_sum` or `_bucket` gets
/// `_value` appended (Prometheus reserves those suffixes for histograms and summaries).
pub fn sample_export(name: &str) -> SampleExport {
    if let Some(known) = known_sample(name) {
        return SampleExport {
            family: known.family.to_owned(),
            kind: known.kind,
            help: known.help,
            scale: known.scale,
        };
    }
    let mut family = if name.starts_with(PROBE_SAMPLE_PREFIX) {
        format!("vigil_{name}")
    } else {
        format!("{HOST_PREFIX}{name}")
    };
    let kind = if name.ends_with("_total") {
        Kind::Counter
    } else {
        Kind::Gauge
    };
    if ["_count", "_sum", "_bucket"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
    {
        family.push_str("_value");
    }
    SampleExport {
        family,
        kind,
        help: "Reported by vigil-agent.",
        scale: 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_samples_follow_prometheus_naming() {
        let mut families = std::collections::BTreeSet::new();
        for known in AGENT_SAMPLES {
            assert!(
                families.insert(known.family),
                "{} exported twice",
                known.family
            );
            assert!(known.family.starts_with("vigil_"), "{}", known.family);
            assert_eq!(
                known.kind == Kind::Counter,
                known.family.ends_with("_total"),
                "{}: _total exactly on counters",
                known.family
            );
            for suffix in ["_count", "_sum", "_bucket", "_days", "_info"] {
                assert!(
                    !known.family.ends_with(suffix),
                    "{} ends in {suffix}",
                    known.family
                );
            }
            assert!(known.scale > 0.0);
        }
    }

    #[test]
    fn renamed_samples_map_to_their_families_and_unknown_names_keep_the_prefix_rule() {
        assert_eq!(sample_export("cpu_count").family, "vigil_host_cpus");
        assert_eq!(sample_export("processes_total").kind, Kind::Gauge);
        assert_eq!(
            sample_export("processes_total").family,
            "vigil_host_processes"
        );
        let expiry = sample_export("probe_tls_cert_expiry_days");
        assert_eq!(expiry.family, "vigil_probe_tls_cert_expiry_seconds");
        assert_eq!(expiry.scale, 86_400.0);
        assert_eq!(sample_export("custom_total").kind, Kind::Counter);
        assert_eq!(
            sample_export("custom_total").family,
            "vigil_host_custom_total"
        );
        assert_eq!(
            sample_export("queue_count").family,
            "vigil_host_queue_count_value"
        );
        assert_eq!(sample_export("probe_custom").family, "vigil_probe_custom");
        assert_eq!(sample_export("temperature_celsius").kind, Kind::Gauge);
    }
}
