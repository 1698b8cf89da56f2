//! The TOML file's shape: [`RawConfig`] (every field an `Option`, unknown keys refused) and its
//! tables, parsed with line numbers in messages, and the field-by-field merge (`self` wins).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use vigil_shared::config::ConfigError;

/// The merged, not yet validated configuration; also the exact shape of the TOML file.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `collector`.
    pub collector: Option<String>,
    /// `token`.
    pub token: Option<String>,
    /// `interval`, a duration string.
    pub interval: Option<String>,
    /// `host_id`.
    pub host_id: Option<String>,
    /// `state_dir`.
    pub state_dir: Option<PathBuf>,
    /// `once`.
    pub once: Option<bool>,
    /// `log_format`.
    pub log_format: Option<String>,
    /// `[labels]`.
    pub labels: Option<BTreeMap<String, String>>,
    /// `[topology]`.
    pub topology: Option<RawTopology>,
    /// `spool_max_bytes`: an integer in the file, a string from flags and env.
    pub spool_max_bytes: Option<RawBytes>,
    /// `clock_skew_threshold`, a duration string.
    pub clock_skew_threshold: Option<String>,
    /// `[[probe]]` entries.
    pub probe: Option<Vec<RawProbe>>,
    /// `[[log]]` entries.
    pub log: Option<Vec<RawLog>>,
    /// `ca_file`: PEM CAs to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `client_cert`: PEM client certificate (mTLS).
    pub client_cert: Option<PathBuf>,
    /// `client_key`: its PEM private key.
    pub client_key: Option<PathBuf>,
}

/// A byte count as written in the file (`67108864`) or given as a flag/env string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RawBytes {
    /// A TOML integer.
    Number(i64),
    /// A string (flags, environment, or a quoted number in the file).
    Text(String),
}

/// One `[[probe]]` of the file.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// `name`: unique on this host.
    pub name: Option<String>,
    /// `kind`: `http`, `tcp` or `process`.
    pub kind: Option<String>,
    /// `target`: a URL, `HOST:PORT`, or a regex on the command line.
    pub target: Option<String>,
    /// `interval`, a duration string.
    pub interval: Option<String>,
    /// `timeout`, a duration string.
    pub timeout: Option<String>,
    /// `expect_status` (http).
    pub expect_status: Option<i64>,
    /// `body_match` (http): a regex the body must match.
    pub body_match: Option<String>,
    /// `severity` of the `probe:NAME` event.
    pub severity: Option<String>,
    /// `failures_before_down`: consecutive failures before the probe counts as down.
    pub failures_before_down: Option<i64>,
}

/// One `[[log]]` of the file.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `name`: unique on this host; the event's check is `log:NAME`.
    pub name: Option<String>,
    /// `path` of the file to follow.
    pub path: Option<PathBuf>,
    /// `pattern`: a regex matched against each line.
    pub pattern: Option<String>,
    /// `severity` of the events [default: warning].
    pub severity: Option<String>,
}

/// `[topology]` of the file.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    /// `depends_on`: host ids this host needs.
    pub depends_on: Option<Vec<String>>,
}

impl RawConfig {
    /// Parses the TOML text of a config file; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|error| {
            ConfigError::syntax(
                path,
                text,
                error.span().map(|span| span.start),
                error.message(),
            )
        })
    }

    /// Reads and parses a config file.
    pub fn from_file(path: &Path) -> Result<RawConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| ConfigError::unreadable(path, &error))?;
        RawConfig::from_toml(&text, path)
    }

    /// Fills every unset field of `self` from `lower` (`self` wins).
    pub(super) fn or(self, lower: RawConfig) -> RawConfig {
        RawConfig {
            collector: self.collector.or(lower.collector),
            token: self.token.or(lower.token),
            interval: self.interval.or(lower.interval),
            host_id: self.host_id.or(lower.host_id),
            state_dir: self.state_dir.or(lower.state_dir),
            once: self.once.or(lower.once),
            log_format: self.log_format.or(lower.log_format),
            labels: self.labels.or(lower.labels),
            topology: self.topology.or(lower.topology),
            spool_max_bytes: self.spool_max_bytes.or(lower.spool_max_bytes),
            clock_skew_threshold: self.clock_skew_threshold.or(lower.clock_skew_threshold),
            probe: self.probe.or(lower.probe),
            log: self.log.or(lower.log),
            ca_file: self.ca_file.or(lower.ca_file),
            client_cert: self.client_cert.or(lower.client_cert),
            client_key: self.client_key.or(lower.client_key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::message;
    use super::super::{Args, Config};
    use std::path::PathBuf;

    #[test]
    fn config_rejects_unknown_key_naming_it() {
        let text = message("colector = \"http://x\"\n");
        assert!(
            text.starts_with("config file agent.toml line 1: unknown field `colector`"),
            "{text}"
        );
        assert!(!text.contains('\n'));
        let text = message("[topology]\ndepend_on = []\n");
        assert!(text.contains("unknown field `depend_on`"), "{text}");
    }

    #[test]
    fn config_file_unreadable_names_the_path() {
        let args = Args {
            config: Some(PathBuf::from("/nonexistent/vigil/agent.toml")),
            ..Args::default()
        };
        let text = Config::load(&args, Some("box-1".into()))
            .unwrap_err()
            .to_string();
        assert!(
            text.starts_with("config key config: cannot read /nonexistent/vigil/agent.toml: "),
            "{text}"
        );
    }
}
