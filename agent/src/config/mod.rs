//! The agent's configuration: command-line flags, `VIGIL_*` environment variables and the TOML
//! config file, merged with SPEC precedence (flag > environment > file > default) and validated.
//!
//! Two stages (ripgrep LowArgs → HiArgs): [`Args`] (clap, which already merges flags over their
//! `VIGIL_<NAME>` environment variables) and [`RawConfig`] (serde view of the file, every field an
//! `Option`, unknown keys refused) are merged field by field into one [`RawConfig`], then
//! [`Config::from_raw`] turns it into real types, collecting every problem into [`ConfigErrors`]
//! so that an operator sees all of them at once, on one line, each naming its key.
//!
//! The files: `args.rs` (clap flags), `file.rs` (the TOML shape and the merge), `probes.rs` (`[[probe]]`), `logs.rs` (`[[log]]`), `secret.rs` (the
//! token); this file holds [`Config`], the top-level keys and the helpers they share.

mod args;
mod file;
mod logs;
mod probes;
mod secret;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

use vigil_shared::Severity;
use vigil_shared::labels::{self, Labels};

pub use args::Args;
pub use file::{RawBytes, RawConfig, RawLog, RawProbe, RawTopology};
pub use logs::LogConfig;
pub use probes::{
    DEFAULT_FAILURES_BEFORE_DOWN, DEFAULT_PROBE_INTERVAL, DEFAULT_PROBE_TIMEOUT, ProbeConfig,
    ProbeKind,
};
pub use secret::Secret;
pub use vigil_shared::config::{ConfigError, ConfigErrors, LogFormat};

use logs::validate_log;
use probes::validate_probe;

/// Default collector address (SPEC).
pub const DEFAULT_COLLECTOR: &str = "http://127.0.0.1:9470";
/// Default sampling interval (SPEC).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default state directory (SPEC).
pub const DEFAULT_STATE_DIR: &str = "./vigil-agent-state";
/// Shortest accepted interval: sysinfo needs at least this long between two CPU refreshes.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// Default `spool_max_bytes`: 64 MiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Smallest accepted `spool_max_bytes`.
pub const MIN_SPOOL_MAX_BYTES: u64 = 16 * 1024;
/// Default `clock_skew_threshold`.
pub const DEFAULT_CLOCK_SKEW_THRESHOLD: Duration = Duration::from_secs(30);
/// Labels the collector sets itself; `[labels]` may not use them.
const RESERVED_LABELS: &[&str] = &["host"];

/// A compiled regular expression that compares by its source text (so [`Config`] stays
/// comparable in tests).
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// The validated configuration the agent runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Collector base URL, without a trailing `/`.
    pub collector: String,
    /// Bearer token, when set.
    pub token: Option<Secret>,
    /// Sampling interval.
    pub interval: Duration,
    /// Stable host id.
    pub host_id: String,
    /// The OS hostname (for `agent.hostname`); equals `host_id` when it cannot be read.
    pub hostname: String,
    /// Directory holding the sequence state.
    pub state_dir: PathBuf,
    /// `--once`: sample, print, exit.
    pub once: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// `[labels]`.
    pub labels: Labels,
    /// `[topology] depends_on`.
    pub depends_on: Vec<String>,
    /// Root under which `proc/...` is read (`/` in production; fixtures in tests). Not a flag.
    pub procfs_root: PathBuf,
    /// Size cap of the on-disk spool.
    pub spool_max_bytes: u64,
    /// Largest tolerated difference to the collector's clock.
    pub clock_skew_threshold: Duration,
    /// `[[probe]]`.
    pub probes: Vec<ProbeConfig>,
    /// `[[log]]`.
    pub logs: Vec<LogConfig>,
    /// `ca_file`, `client_cert`, `client_key` (an `https://` collector).
    pub tls: crate::transport::tls::ClientTls,
}

impl Config {
    /// Loads the configuration from parsed flags (with their env values) and the config file
    /// they name, if any. `hostname` is the OS hostname (`None` when it cannot be read).
    pub fn load(args: &Args, hostname: Option<String>) -> Result<Config, ConfigErrors> {
        let file = match &args.config {
            Some(path) => RawConfig::from_file(path)?,
            None => RawConfig::default(),
        };
        Config::from_raw(args.to_raw().or(file), hostname)
    }

    /// Validates a merged [`RawConfig`], applying defaults; reports every problem.
    pub fn from_raw(raw: RawConfig, hostname: Option<String>) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut invalid = |key: &str, message: String| {
            errors.push(ConfigError::InvalidValue {
                key: key.to_owned(),
                message,
            });
        };

        let collector = raw
            .collector
            .unwrap_or_else(|| DEFAULT_COLLECTOR.to_owned());
        if let Err(message) = check_url(&collector) {
            invalid("collector", message);
        }
        let collector = collector.trim_end_matches('/').to_owned();

        let token = match raw.token {
            None => None,
            Some(token) if token.is_empty() => {
                invalid(
                    "token",
                    "is empty: remove the key or give the token".to_owned(),
                );
                None
            }
            Some(token)
                if token
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || !c.is_ascii()) =>
            {
                invalid(
                    "token",
                    "has whitespace, control or non-ASCII characters: it must fit in an HTTP header"
                        .to_owned(),
                );
                None
            }
            Some(token) => Some(Secret::new(token)),
        };

        let interval = match raw.interval {
            None => DEFAULT_INTERVAL,
            Some(text) => match vigil_shared::parse_duration(&text) {
                Ok(interval) if interval < MIN_INTERVAL => {
                    invalid(
                        "interval",
                        format!("{text:?} is shorter than the minimum 250ms"),
                    );
                    DEFAULT_INTERVAL
                }
                Ok(interval) => interval,
                Err(error) => {
                    invalid("interval", error.to_string());
                    DEFAULT_INTERVAL
                }
            },
        };

        let hostname_known = hostname.clone().filter(|name| !name.is_empty());
        let host_id = match raw.host_id.or_else(|| hostname_known.clone()) {
            Some(host_id) => {
                if !vigil_shared::wire::is_valid_host_id(&host_id) {
                    invalid(
                        "host_id",
                        format!("{host_id:?} is invalid: use 1 to 253 printable characters"),
                    );
                }
                host_id
            }
            None => {
                invalid(
                    "host_id",
                    "not set and the hostname cannot be read: set --host-id".to_owned(),
                );
                String::new()
            }
        };
        let hostname = hostname_known.unwrap_or_else(|| host_id.clone());

        let state_dir = raw
            .state_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        if state_dir.as_os_str().is_empty() {
            invalid("state_dir", "is empty: give a directory path".to_owned());
        }

        let log_format = match raw.log_format.as_deref().map(str::parse::<LogFormat>) {
            None => LogFormat::Text,
            Some(Ok(format)) => format,
            Some(Err(error)) => {
                invalid("log_format", error.to_string());
                LogFormat::Text
            }
        };

        let mut labels = Labels::new();
        for (name, value) in raw.labels.unwrap_or_default() {
            match labels::validate_label(&name, &value, RESERVED_LABELS) {
                Ok(()) => {
                    labels.insert(name, value);
                }
                Err(error) => invalid(&format!("labels.{name}"), error.to_string()),
            }
        }

        let depends_on = raw
            .topology
            .and_then(|topology| topology.depends_on)
            .unwrap_or_default();
        for (host_idx, host) in depends_on.iter().enumerate() {
            if !vigil_shared::wire::is_valid_host_id(host) {
                invalid(
                    &format!("topology.depends_on[{host_idx}]"),
                    format!("{host:?} is not a host id: use 1 to 253 printable characters"),
                );
            }
        }

        let spool_max_bytes = match raw.spool_max_bytes {
            None => DEFAULT_SPOOL_MAX_BYTES,
            Some(value) => {
                let parsed = match &value {
                    RawBytes::Number(number) => u64::try_from(*number).ok(),
                    RawBytes::Text(text) => text.trim().parse::<u64>().ok(),
                };
                match parsed {
                    Some(bytes) if bytes >= MIN_SPOOL_MAX_BYTES => bytes,
                    Some(_) => {
                        invalid(
                            "spool_max_bytes",
                            format!("is below the minimum {MIN_SPOOL_MAX_BYTES} bytes"),
                        );
                        DEFAULT_SPOOL_MAX_BYTES
                    }
                    None => {
                        let shown = match value {
                            RawBytes::Number(number) => number.to_string(),
                            RawBytes::Text(text) => format!("{text:?}"),
                        };
                        invalid(
                            "spool_max_bytes",
                            format!("{shown} is not a byte count: use a whole number of bytes"),
                        );
                        DEFAULT_SPOOL_MAX_BYTES
                    }
                }
            }
        };

        let clock_skew_threshold = match raw.clock_skew_threshold {
            None => DEFAULT_CLOCK_SKEW_THRESHOLD,
            Some(text) => match vigil_shared::parse_duration(&text) {
                Ok(threshold) if threshold >= Duration::from_secs(2) => threshold,
                Ok(_) => {
                    invalid(
                        "clock_skew_threshold",
                        format!(
                            "{text:?} is too small: the Date header has 1 s resolution, use 2s or more"
                        ),
                    );
                    DEFAULT_CLOCK_SKEW_THRESHOLD
                }
                Err(error) => {
                    invalid("clock_skew_threshold", error.to_string());
                    DEFAULT_CLOCK_SKEW_THRESHOLD
                }
            },
        };

        let mut probes = Vec::new();
        for (probe_idx, probe) in raw.probe.unwrap_or_default().into_iter().enumerate() {
            let key = format!("probe[{probe_idx}]");
            if let Some(probe) = validate_probe(&key, probe, &mut invalid) {
                if probes
                    .iter()
                    .any(|seen: &ProbeConfig| seen.name == probe.name)
                {
                    invalid(
                        &format!("{key}.name"),
                        format!("{:?} is used twice: probe names are unique", probe.name),
                    );
                } else {
                    probes.push(probe);
                }
            }
        }

        let mut logs = Vec::new();
        for (log_idx, log) in raw.log.unwrap_or_default().into_iter().enumerate() {
            let key = format!("log[{log_idx}]");
            if let Some(log) = validate_log(&key, log, &mut invalid) {
                if logs.iter().any(|seen: &LogConfig| seen.name == log.name) {
                    invalid(
                        &format!("{key}.name"),
                        format!("{:?} is used twice: log names are unique", log.name),
                    );
                } else {
                    logs.push(log);
                }
            }
        }

        let tls = tls::validate_tls(
            &collector,
            raw.ca_file,
            raw.client_cert,
            raw.client_key,
            &mut invalid,
        );

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            collector,
            token,
            interval,
            host_id,
            hostname,
            state_dir,
            once: raw.once.unwrap_or(false),
            log_format,
            labels,
            depends_on,
            procfs_root: PathBuf::from("/"),
            spool_max_bytes,
            clock_skew_threshold,
            probes,
            logs,
            tls,
        })
    }
}

/// Longest probe or log name.
const MAX_NAME_LEN: usize = 64;

/// Checks a probe or log name: 1 to 64 of letters, digits, `_`, `-` and `.`.
fn check_name(name: Option<String>) -> Result<String, String> {
    let name = name.ok_or_else(|| "is missing: every entry needs a name".to_owned())?;
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "{name:?} is invalid: use 1 to 64 letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(name)
}

/// Parses a severity name (the shared parser; the message names the valid ones).
fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse::<Severity>().map_err(|error| error.to_string())
}

/// Compiles a regex, with a one-line message naming what is wrong.
fn compile(text: &str) -> Result<Pattern, String> {
    // Small limits: patterns here are short, and the lazy DFA's cache is the agent's largest
    // heap user otherwise.
    regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .dfa_size_limit(64 * 1024)
        .build()
        .map(Pattern)
        .map_err(|error| {
            format!(
                "{text:?} is not a valid regex: {}",
                vigil_shared::config::one_line(&error.to_string())
            )
        })
}

impl Config {
    /// The effective configuration, one `key: value` per line, for `--check-config`. The token
    /// is shown only as `<secret>`.
    pub fn describe(&self) -> String {
        let labels = self
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let token = match &self.token {
            Some(token) => token.to_string(),
            None => "(none)".to_owned(),
        };
        let log_format = self.log_format.as_str();
        format!(
            "collector: {}\ntoken: {token}\ninterval: {}\nhost_id: {}\nhostname: {}\nstate_dir: {}\n\
             log_format: {log_format}\nlabels: {labels}\ndepends_on: {}\nspool_max_bytes: {}\n\
             clock_skew_threshold: {}\nprobes: {}\nlogs: {}\nca_file: {}\nclient_cert: {}\n",
            self.collector,
            vigil_shared::format_duration(self.interval),
            self.host_id,
            self.hostname,
            self.state_dir.display(),
            self.depends_on.join(", "),
            self.spool_max_bytes,
            vigil_shared::format_duration(self.clock_skew_threshold),
            self.probes
                .iter()
                .map(|probe| format!(
                    "{} ({}, every {}, timeout {})",
                    probe.name,
                    probe.kind.as_str(),
                    vigil_shared::format_duration(probe.interval),
                    vigil_shared::format_duration(probe.timeout)
                ))
                .collect::<Vec<_>>()
                .join(", "),
            self.logs
                .iter()
                .map(|log| format!("{} ({})", log.name, log.path.display()))
                .collect::<Vec<_>>()
                .join(", "),
            shown_path(self.tls.ca_file.as_ref(), "(system roots)"),
            shown_path(self.tls.client_cert.as_ref(), "(none)"),
        )
    }
}

fn shown_path(path: Option<&PathBuf>, otherwise: &str) -> String {
    path.map_or_else(|| otherwise.to_owned(), |path| path.display().to_string())
}

/// Checks that `url` is an `http://` or `https://` URL with a host; returns what is wrong.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("{url:?} is not a URL: use http://HOST:PORT or https://HOST:PORT")
        })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{url:?} is not a URL: use http://HOST:PORT or https://HOST:PORT"
        ));
    }
    if url.contains('?') || url.contains('#') {
        return Err(format!(
            "{url:?} has a query or fragment: give only the collector's base URL"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod test_support {
    use super::{Config, ConfigErrors, RawConfig};
    use std::path::Path;

    /// Parses `text` as a config file on a host named `box-1`.
    pub(super) fn parse(text: &str) -> Result<Config, ConfigErrors> {
        let raw = RawConfig::from_toml(text, Path::new("agent.toml"))?;
        Config::from_raw(raw, Some("box-1".to_owned()))
    }

    /// The one-line error for `text`.
    pub(super) fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{message, parse};
    use super::*;

    #[test]
    fn config_applies_defaults_when_empty() {
        let config = parse("").unwrap();
        assert_eq!(config.collector, "http://127.0.0.1:9470");
        assert_eq!(config.interval, Duration::from_secs(10));
        assert_eq!(config.host_id, "box-1");
        assert_eq!(config.hostname, "box-1");
        assert_eq!(config.state_dir, PathBuf::from("./vigil-agent-state"));
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.token.is_none());
        assert!(!config.once);
        assert!(config.labels.is_empty());
        assert!(config.depends_on.is_empty());
    }

    #[test]
    fn config_reads_every_key_of_a_good_file() {
        let config = parse(
            r#"
collector = "https://collector.example:9470/"
token = "s3cret-token"
interval = "250ms"
host_id = "web-1"
state_dir = "/var/lib/vigil-agent"
log_format = "json"

[labels]
service = "checkout"
env = "prod"

[topology]
depends_on = ["db-1", "switch-a"]
"#,
        )
        .unwrap();
        assert_eq!(config.collector, "https://collector.example:9470");
        assert_eq!(
            config.token.as_ref().map(Secret::expose),
            Some("s3cret-token")
        );
        assert_eq!(config.interval, Duration::from_millis(250));
        assert_eq!(config.host_id, "web-1");
        assert_eq!(config.hostname, "box-1");
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/vigil-agent"));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(
            config.labels.get("service").map(String::as_str),
            Some("checkout")
        );
        assert_eq!(config.depends_on, vec!["db-1", "switch-a"]);
    }

    #[test]
    fn config_reports_every_bad_key_on_one_line() {
        let text = message(
            r#"
collector = "ftp://x"
interval = "10x"
log_format = "xml"
[labels]
host = "a"
"#,
        );
        assert_eq!(
            text,
            "config key collector: \"ftp://x\" is not a URL: use http://HOST:PORT or https://HOST:PORT; \
             config key interval: invalid duration \"10x\": use a number followed by ms, s, m, h or d (e.g. 10s); \
             config key log_format: unknown format \"xml\": use text or json; \
             config key labels.host: label name \"host\" is reserved"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn config_reads_probes_logs_and_spool_keys() {
        let config = parse(
            r#"
spool_max_bytes = 1048576
clock_skew_threshold = "10s"

[[probe]]
name = "web"
kind = "http"
target = "https://127.0.0.1:8443/healthz"
interval = "10s"
timeout = "2s"
expect_status = 200
body_match = "ok"
severity = "critical"
failures_before_down = 2

[[probe]]
name = "db"
kind = "tcp"
target = "127.0.0.1:5432"

[[probe]]
name = "worker"
kind = "process"
target = "^/usr/bin/worker "
interval = "1s"

[[log]]
name = "app"
path = "/var/log/app.log"
pattern = "ERROR|FATAL"
"#,
        )
        .unwrap();
        assert_eq!(config.spool_max_bytes, 1_048_576);
        assert_eq!(config.clock_skew_threshold, Duration::from_secs(10));
        assert_eq!(config.probes.len(), 3);
        let web = &config.probes[0];
        assert_eq!(web.timeout, Duration::from_secs(2));
        assert_eq!(web.severity, Severity::Critical);
        assert_eq!(web.failures_before_down, 2);
        assert!(matches!(
            &web.kind,
            ProbeKind::Http {
                expect_status: Some(200),
                body_match: Some(_),
                ..
            }
        ));
        let db = &config.probes[1];
        assert_eq!(db.interval, DEFAULT_PROBE_INTERVAL);
        assert_eq!(db.timeout, DEFAULT_PROBE_TIMEOUT);
        assert_eq!(db.severity, Severity::Major);
        assert_eq!(db.failures_before_down, 3);
        // A short interval gets a default timeout below it.
        assert_eq!(config.probes[2].timeout, Duration::from_millis(500));
        assert_eq!(config.logs[0].severity, Severity::Warning);
        assert_eq!(config.logs[0].path, PathBuf::from("/var/log/app.log"));
        let described = config.describe();
        assert!(
            described.contains("probes: web (http, every 10s, timeout 2s), db"),
            "{described}"
        );
        assert!(
            described.contains("logs: app (/var/log/app.log)"),
            "{described}"
        );
        let empty = parse("").unwrap();
        assert_eq!(empty.spool_max_bytes, DEFAULT_SPOOL_MAX_BYTES);
        assert!(empty.probes.is_empty());
    }

    #[test]
    fn config_names_bad_spool_and_clock_keys() {
        assert_eq!(
            message("spool_max_bytes = 100\n"),
            "config key spool_max_bytes: is below the minimum 16384 bytes"
        );
        assert_eq!(
            message("spool_max_bytes = \"lots\"\n"),
            "config key spool_max_bytes: \"lots\" is not a byte count: use a whole number of bytes"
        );
        assert_eq!(
            message("clock_skew_threshold = \"1s\"\n"),
            "config key clock_skew_threshold: \"1s\" is too small: the Date header has 1 s resolution, use 2s or more"
        );
    }

    #[test]
    fn config_rejects_interval_below_minimum() {
        assert_eq!(
            message("interval = \"100ms\""),
            "config key interval: \"100ms\" is shorter than the minimum 250ms"
        );
    }

    #[test]
    fn config_rejects_bad_labels_depends_on_and_token() {
        let text =
            message("token = \"a b\"\n[labels]\n\"2x\" = \"v\"\n[topology]\ndepends_on = [\"\"]\n");
        assert_eq!(
            text,
            "config key token: has whitespace, control or non-ASCII characters: it must fit in an HTTP header; \
             config key labels.2x: invalid label name \"2x\": use letters, digits and _ (not starting with a digit or __), at most 128 bytes; \
             config key topology.depends_on[0]: \"\" is not a host id: use 1 to 253 printable characters"
        );
    }

    #[test]
    fn config_needs_host_id_when_hostname_unknown() {
        let error = Config::from_raw(RawConfig::default(), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "config key host_id: not set and the hostname cannot be read: set --host-id"
        );
    }
}
