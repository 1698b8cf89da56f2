//! The one end-to-end test binary: real `vigil-collector` and `vigil-agent` processes on random
//! loopback ports with temporary directories. One module per journey.

#[path = "e2e/agent_events.rs"]
mod agent_events;
#[path = "e2e/agent_probes.rs"]
mod agent_probes;
#[path = "e2e/agent_spool.rs"]
mod agent_spool;
#[path = "e2e/alertmanager.rs"]
mod alertmanager;
#[path = "e2e/auth.rs"]
mod auth;
#[path = "e2e/availability.rs"]
mod availability;
#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/callbacks.rs"]
mod callbacks;
#[path = "e2e/capacity.rs"]
mod capacity;
#[path = "e2e/cli.rs"]
mod cli;
#[path = "e2e/cli_lines.rs"]
mod cli_lines;
#[path = "e2e/dashboards.rs"]
mod dashboards;
#[path = "e2e/dedup.rs"]
mod dedup;
#[path = "e2e/deploy.rs"]
mod deploy;
#[path = "e2e/fleet.rs"]
mod fleet;
#[path = "e2e/forecast.rs"]
mod forecast;
#[path = "e2e/grouping.rs"]
mod grouping;
#[path = "e2e/incidents.rs"]
mod incidents;
#[path = "e2e/inventory.rs"]
mod inventory;
#[path = "e2e/notify.rs"]
mod notify;
#[path = "e2e/notify_cli.rs"]
mod notify_cli;
#[path = "e2e/pipeline.rs"]
mod pipeline;
#[path = "e2e/problems.rs"]
mod problems;
#[path = "e2e/prometheus.rs"]
mod prometheus;
#[path = "e2e/promstack.rs"]
mod promstack;
#[path = "e2e/receiver.rs"]
mod receiver;
#[path = "e2e/replay.rs"]
mod replay;
#[path = "e2e/scenarios.rs"]
mod scenarios;
#[path = "e2e/silences.rs"]
mod silences;
#[path = "e2e/tidy.rs"]
mod tidy;
#[path = "e2e/tls.rs"]
mod tls;
#[path = "e2e/topology.rs"]
mod topology;
#[path = "e2e/vendors.rs"]
mod vendors;

use vigil_shared::labels::Labels;
use vigil_shared::wire::{AgentInfo, Batch, PROTOCOL_VERSION, Sample};

/// A small valid batch from `host_id` with `seq`.
pub fn batch(host_id: &str, stream: u64, seq: u64) -> Batch {
    Batch {
        version: PROTOCOL_VERSION,
        agent: AgentInfo {
            host_id: host_id.into(),
            hostname: format!("{host_id}.test"),
            version: "e2e".into(),
            labels: Labels::from([("env".into(), "test".into())]),
        },
        stream,
        seq,
        time_ms: 1_790_000_000_000,
        samples: vec![
            Sample {
                name: "cpu_usage_ratio".into(),
                labels: Labels::new(),
                value: 0.5,
                time_ms: None,
            },
            Sample {
                name: "filesystem_used_bytes".into(),
                labels: Labels::from([("mountpoint".into(), "/data".into())]),
                value: 42.0,
                time_ms: None,
            },
        ],
        events: vec![],
        inventory: None,
    }
}

/// Headers the agent sends.
pub const ZSTD_MSGPACK: &[(&str, &str)] = &[
    ("content-type", "application/msgpack"),
    ("content-encoding", "zstd"),
];

/// The value of an exposition line that starts with `series` (exact series text, then a space).
pub fn metric_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
    })
}
