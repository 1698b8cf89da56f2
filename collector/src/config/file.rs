//! The TOML file's shape: [`RawFile`] and its tables (unknown keys refused; keys equal the
//! flags with `-` → `_`), read with the line of a problem in the message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vigil_shared::config::ConfigError;

/// The TOML config file; keys equal the flags with `-` → `_`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub(super) listen: Option<String>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) store: Option<String>,
    pub(super) host_down_after: Option<String>,
    pub(super) log_format: Option<String>,
    pub(super) insecure: Option<bool>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) max_decompressed_bytes: Option<usize>,
    pub(super) max_samples_per_batch: Option<usize>,
    pub(super) max_events_per_batch: Option<usize>,
    pub(super) max_pending_writes: Option<usize>,
    pub(super) store_sync: Option<String>,
    pub(super) store_pool_size: Option<usize>,
    pub(super) store_timeout: Option<String>,
    pub(super) store_ca_file: Option<std::path::PathBuf>,
    pub(super) leader_lease: Option<String>,
    pub(super) token: Option<Vec<RawToken>>,
    pub(super) incidents: Option<RawIncidents>,
    pub(super) problems: Option<RawProblems>,
    pub(super) default_rules: Option<bool>,
    pub(super) rule: Option<Vec<RawRule>>,
    pub(super) slo: Option<Vec<RawSlo>>,
    pub(super) tls_cert: Option<PathBuf>,
    pub(super) tls_key: Option<PathBuf>,
    pub(super) client_ca: Option<PathBuf>,
    pub(super) public_url: Option<String>,
    pub(super) sink: Option<Vec<RawSink>>,
    pub(super) route: Option<Vec<RawRoute>>,
    pub(super) default_route: Option<RawRoute>,
    pub(super) capacity: Option<RawCapacity>,
    pub(super) topology: Option<RawTopology>,
    pub(super) grouping: Option<RawGrouping>,
}

/// The `[grouping]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrouping {
    pub(super) by: Option<Vec<String>>,
    pub(super) window: Option<String>,
    pub(super) wait: Option<String>,
    pub(super) by_check: Option<BTreeMap<String, Vec<String>>>,
    pub(super) novelty: Option<RawNovelty>,
}

/// The `[grouping.novelty]` table (its presence turns novelty paging on).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNovelty {
    pub(super) quiet: Option<String>,
    pub(super) factor: Option<i64>,
    pub(super) decay: Option<String>,
    pub(super) interval: Option<String>,
}

/// The `[topology]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    pub(super) hold: Option<String>,
    pub(super) settle: Option<String>,
    pub(super) depends_on: Option<BTreeMap<String, Vec<String>>>,
}

/// The `[capacity]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    pub(super) enabled: Option<bool>,
    pub(super) forecast_every: Option<String>,
    pub(super) persist_every: Option<String>,
    pub(super) min_history: Option<String>,
    pub(super) idle_after: Option<String>,
    pub(super) horizons: Option<Vec<String>>,
    pub(super) alert: Option<Vec<RawCapacityAlert>>,
    pub(super) alert_on: Option<Vec<String>>,
}

/// One `[[capacity.alert]]` level.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapacityAlert {
    pub(super) within: Option<String>,
    pub(super) severity: Option<String>,
}

/// One `[[route]]` (or the `[default_route]`, which takes no matchers).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub(super) name: Option<String>,
    pub(super) service: Option<String>,
    pub(super) host: Option<String>,
    pub(super) check: Option<String>,
    pub(super) source: Option<String>,
    pub(super) severity: Option<Vec<String>>,
    pub(super) priority: Option<Vec<u8>>,
    pub(super) labels: Option<BTreeMap<String, String>>,
    pub(super) sinks: Option<Vec<String>>,
    #[serde(rename = "continue")]
    pub(super) continue_: Option<bool>,
    pub(super) escalate: Option<Vec<RawEscalation>>,
}

/// One `[[route.escalate]]` level.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEscalation {
    pub(super) after: Option<String>,
    pub(super) sinks: Option<Vec<String>>,
}

/// The `[problems]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProblems {
    pub(super) recur_count: Option<usize>,
    pub(super) recur_window: Option<String>,
    pub(super) service_hosts: Option<usize>,
}

/// The `[incidents]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIncidents {
    pub(super) min_severity: Option<String>,
    pub(super) reopen_window: Option<String>,
    pub(super) close_after: Option<String>,
    pub(super) event_id_retention: Option<String>,
    pub(super) high_impact: Option<Vec<String>>,
    pub(super) low_impact: Option<Vec<String>>,
    pub(super) breadth_high: Option<usize>,
    pub(super) flapping_high: Option<f64>,
    pub(super) flapping_low: Option<f64>,
    pub(super) flapping_settle: Option<String>,
    pub(super) sla: Option<BTreeMap<String, RawSla>>,
    pub(super) auto_resolve: Option<BTreeMap<String, String>>,
    pub(super) change_window: Option<String>,
}

/// One `[incidents.sla.pN]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSla {
    pub(super) ack: Option<String>,
    pub(super) resolve: Option<String>,
}

/// One `[[rule]]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub(super) name: Option<String>,
    pub(super) metric: Option<String>,
    pub(super) divide_by: Option<String>,
    pub(super) above: Option<f64>,
    pub(super) below: Option<f64>,
    pub(super) clear: Option<f64>,
    #[serde(rename = "for")]
    pub(super) for_: Option<String>,
    pub(super) severity: Option<String>,
    pub(super) runbook: Option<String>,
}

/// One `[[slo]]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    pub(super) name: Option<String>,
    pub(super) service: Option<String>,
    pub(super) host: Option<String>,
    pub(super) probe: Option<String>,
    pub(super) target: Option<f64>,
    pub(super) window: Option<String>,
    pub(super) burn: Option<Vec<RawBurn>>,
}

/// One `[[slo.burn]]` table: a multiwindow burn-rate alert.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBurn {
    pub(super) long: Option<String>,
    pub(super) short: Option<String>,
    pub(super) factor: Option<f64>,
    pub(super) severity: Option<String>,
}

/// One `[[token]]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub(super) name: Option<String>,
    pub(super) role: Option<String>,
    pub(super) sha256: Option<String>,
    pub(super) secret_env: Option<String>,
    pub(super) secret_file: Option<PathBuf>,
    pub(super) hosts: Option<String>,
}

/// One `[[sink]]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub(super) name: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) url: Option<String>,
    pub(super) secret_env: Option<String>,
    pub(super) secret_file: Option<PathBuf>,
    pub(super) steps: Option<Vec<String>>,
    pub(super) timeout: Option<String>,
    pub(super) concurrency: Option<usize>,
    pub(super) rate_limit: Option<f64>,
    pub(super) dead_after: Option<String>,
    // Vendor keys (`config/sinks.rs` says which kind takes which).
    pub(super) user: Option<String>,
    pub(super) table: Option<String>,
    pub(super) project: Option<String>,
    pub(super) issue_type: Option<String>,
    pub(super) priorities: Option<Vec<String>>,
    pub(super) resolve_transition: Option<String>,
    pub(super) acknowledge_transition: Option<String>,
    pub(super) reopen_transition: Option<String>,
    pub(super) callback_secret_env: Option<String>,
    pub(super) callback_secret_file: Option<PathBuf>,
}

/// Reads and parses the config file at `path`; the error is one line naming the file.
pub(super) fn read_file(path: &Path) -> Result<RawFile, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| ConfigError::unreadable(path, &error))?;
    toml::from_str(&text).map_err(|error| {
        ConfigError::syntax(
            path,
            &text,
            error.span().map(|span| span.start),
            error.message(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_file_keys_are_named_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisen = 3\n").unwrap();
        let error = read_file(&path).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("lisen"), "{error}");
        assert!(!error.contains('\n'));
        let missing = dir.path().join("missing.toml");
        let error = read_file(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "config key config: cannot read {}: ",
                missing.display()
            )),
            "{error}"
        );
    }
}
