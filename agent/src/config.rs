//! The agent's configuration: command-line flags, `VIGIL_*` environment variables and the TOML
//! config file, merged with SPEC precedence (flag > environment > file > default) and validated.
//!
//! Two stages (ripgrep LowArgs → HiArgs): [`Args`] (clap, which already merges flags over their
//! `VIGIL_<NAME>` environment variables) and [`RawConfig`] (serde view of the file, every field an
//! `Option`, unknown keys refused) are merged field by field into one [`RawConfig`], then
//! [`Config::from_raw`] turns it into real types, collecting every problem into [`ConfigErrors`]
//! so that an operator sees all of them at once, on one line, each naming its key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use vigil_shared::Severity;
use vigil_shared::labels::{self, Labels};

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
/// Default probe `interval`.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// Default probe `timeout`.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default probe `failures_before_down`.
pub const DEFAULT_FAILURES_BEFORE_DOWN: u32 = 3;
/// Labels the collector sets itself; `[labels]` may not use them.
const RESERVED_LABELS: &[&str] = &["host"];

/// Command-line flags; each also reads `VIGIL_<NAME>` from the environment (clap `env`).
#[derive(Debug, Default, Parser)]
#[command(
    name = "vigil-agent",
    version,
    about = "Vigil's host agent: samples the host and streams batches to the collector"
)]
pub struct Args {
    /// TOML config file.
    #[arg(long, env = "VIGIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Collector base URL [default: http://127.0.0.1:9470].
    #[arg(long, env = "VIGIL_COLLECTOR", value_name = "URL")]
    pub collector: Option<String>,
    /// Bearer token sent to the collector.
    #[arg(
        long,
        env = "VIGIL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Sampling interval, e.g. 10s [default: 10s].
    #[arg(long, env = "VIGIL_INTERVAL", value_name = "DURATION")]
    pub interval: Option<String>,
    /// Stable host id [default: the hostname].
    #[arg(long, env = "VIGIL_HOST_ID", value_name = "ID")]
    pub host_id: Option<String>,
    /// Directory for the agent's sequence state [default: ./vigil-agent-state].
    #[arg(long, env = "VIGIL_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Take one sample, print it as JSON on stdout and exit; sends nothing.
    #[arg(long, env = "VIGIL_ONCE")]
    pub once: bool,
    /// Log format on stderr: text or json [default: text].
    #[arg(long, env = "VIGIL_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Size cap of the on-disk spool in bytes [default: 67108864 (64 MiB)].
    #[arg(long, env = "VIGIL_SPOOL_MAX_BYTES", value_name = "BYTES")]
    pub spool_max_bytes: Option<String>,
    /// Largest tolerated difference to the collector's clock, e.g. 30s [default: 30s].
    #[arg(long, env = "VIGIL_CLOCK_SKEW_THRESHOLD", value_name = "DURATION")]
    pub clock_skew_threshold: Option<String>,
    /// Validate the configuration, print the effective values (token hidden) and exit.
    #[arg(long)]
    pub check_config: bool,
}

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

/// A secret string (the token): `Debug` and `Display` print `<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself; only the transport's `Authorization` header uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("<secret>")
    }
}

/// A compiled regular expression that compares by its source text (so [`Config`] stays
/// comparable in tests).
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// What a probe checks.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeKind {
    /// An HTTP(S) GET.
    Http {
        /// The URL.
        url: String,
        /// The expected status; any 2xx when `None`.
        expect_status: Option<u16>,
        /// A regex the body must match.
        body_match: Option<Pattern>,
    },
    /// A TCP connect.
    Tcp {
        /// `HOST:PORT`.
        address: String,
    },
    /// Processes whose command line matches.
    Process {
        /// The regex on the command line (arguments joined by spaces).
        pattern: Pattern,
    },
}

impl ProbeKind {
    /// `http`, `tcp` or `process`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProbeKind::Http { .. } => "http",
            ProbeKind::Tcp { .. } => "tcp",
            ProbeKind::Process { .. } => "process",
        }
    }
}

/// A validated `[[probe]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// Unique name.
    pub name: String,
    /// What it checks.
    pub kind: ProbeKind,
    /// How often it runs.
    pub interval: Duration,
    /// How long one run may take (less than `interval`).
    pub timeout: Duration,
    /// Severity of its `probe:NAME` event.
    pub severity: Severity,
    /// Consecutive failures before it is down (at least 1).
    pub failures_before_down: u32,
}

/// A validated `[[log]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Unique name.
    pub name: String,
    /// The followed file.
    pub path: PathBuf,
    /// The regex matched against each line.
    pub pattern: Pattern,
    /// Severity of its `log:NAME` events.
    pub severity: Severity,
}

/// Log output format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
}

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value that cannot be used.
    #[error("config key {key}: {message}")]
    InvalidValue {
        /// The key (TOML name; flags and env use the same name).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The config file could not be read.
    #[error("config key config: cannot read {}: {message}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error's text.
        message: String,
    },
    /// The config file is not valid TOML or has an unknown key.
    #[error("config file {}{}: {message}", path.display(), line.map(|line| format!(" line {line}")).unwrap_or_default())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// The parser's message (names the key for unknown keys).
        message: String,
    },
}

/// Every problem found, printed on one line joined with `; `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (error_idx, error) in self.0.iter().enumerate() {
            if error_idx > 0 {
                formatter.write_str("; ")?;
            }
            write!(formatter, "{error}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

impl RawConfig {
    /// Parses the TOML text of a config file; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                message: one_line(error.message()),
            }
        })
    }

    /// Reads and parses a config file.
    pub fn from_file(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
        RawConfig::from_toml(&text, path)
    }

    /// Fills every unset field of `self` from `lower` (`self` wins).
    fn or(self, lower: RawConfig) -> RawConfig {
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
        }
    }
}

impl Args {
    /// The flag and environment values as a [`RawConfig`] (tables only come from the file).
    fn to_raw(&self) -> RawConfig {
        RawConfig {
            collector: self.collector.clone(),
            token: self.token.clone(),
            interval: self.interval.clone(),
            host_id: self.host_id.clone(),
            state_dir: self.state_dir.clone(),
            once: self.once.then_some(true),
            log_format: self.log_format.clone(),
            labels: None,
            topology: None,
            spool_max_bytes: self.spool_max_bytes.clone().map(RawBytes::Text),
            clock_skew_threshold: self.clock_skew_threshold.clone(),
            probe: None,
            log: None,
        }
    }
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
            Some(token) => Some(Secret(token)),
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
                if host_id.is_empty()
                    || host_id.len() > 253
                    || host_id.chars().any(char::is_control)
                {
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

        let log_format = match raw.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                invalid(
                    "log_format",
                    format!("{other:?} is invalid: use text or json"),
                );
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
            if host.is_empty() || host.len() > 253 || host.chars().any(char::is_control) {
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

/// Parses a severity name.
fn parse_severity(text: &str) -> Result<Severity, String> {
    match text {
        "critical" => Ok(Severity::Critical),
        "major" => Ok(Severity::Major),
        "minor" => Ok(Severity::Minor),
        "warning" => Ok(Severity::Warning),
        "info" => Ok(Severity::Info),
        other => Err(format!(
            "{other:?} is invalid: use critical, major, minor, warning or info"
        )),
    }
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
                one_line(&error.to_string())
            )
        })
}

/// Validates one `[[probe]]` named `key` (`probe[N]`); reports problems through `invalid`.
fn validate_probe(
    key: &str,
    raw: RawProbe,
    invalid: &mut impl FnMut(&str, String),
) -> Option<ProbeConfig> {
    let mut ok = true;
    let mut bad = |field: &str, message: String| {
        invalid(&format!("{key}.{field}"), message);
        ok = false;
    };
    let name = check_name(raw.name)
        .map_err(|message| bad("name", message))
        .unwrap_or_default();
    let duration = |field: &str,
                    text: Option<String>,
                    default: Duration,
                    bad: &mut dyn FnMut(&str, String)| {
        match text {
            None => default,
            Some(text) => match vigil_shared::parse_duration(&text) {
                Ok(value) if value.is_zero() => {
                    bad(field, format!("{text:?} must be longer than 0"));
                    default
                }
                Ok(value) => value,
                Err(error) => {
                    bad(field, error.to_string());
                    default
                }
            },
        }
    };
    let interval = duration("interval", raw.interval, DEFAULT_PROBE_INTERVAL, &mut bad);
    let default_timeout = if DEFAULT_PROBE_TIMEOUT < interval {
        DEFAULT_PROBE_TIMEOUT
    } else {
        interval / 2
    };
    let explicit_timeout = raw.timeout.is_some();
    let timeout = duration("timeout", raw.timeout, default_timeout, &mut bad);
    if explicit_timeout && timeout >= interval {
        bad(
            "timeout",
            format!(
                "{} must be shorter than the interval {}",
                vigil_shared::format_duration(timeout),
                vigil_shared::format_duration(interval)
            ),
        );
    }
    let severity = match raw.severity.as_deref() {
        None => Severity::Major,
        Some(text) => parse_severity(text).unwrap_or_else(|message| {
            bad("severity", message);
            Severity::Major
        }),
    };
    let failures_before_down = match raw.failures_before_down {
        None => DEFAULT_FAILURES_BEFORE_DOWN,
        Some(count) if (1..=1_000).contains(&count) => count as u32,
        Some(count) => {
            bad(
                "failures_before_down",
                format!("{count} is out of range: use 1 to 1000"),
            );
            DEFAULT_FAILURES_BEFORE_DOWN
        }
    };
    let http_only = |bad: &mut dyn FnMut(&str, String), kind: &str| {
        if raw.expect_status.is_some() {
            bad(
                "expect_status",
                format!("applies to http probes only, not {kind}"),
            );
        }
        if raw.body_match.is_some() {
            bad(
                "body_match",
                format!("applies to http probes only, not {kind}"),
            );
        }
    };
    let target = raw.target.clone().unwrap_or_default();
    let kind = match raw.kind.as_deref() {
        None => {
            bad("kind", "is missing: use http, tcp or process".to_owned());
            None
        }
        Some("http") => {
            if raw.target.is_none() {
                bad(
                    "target",
                    "is missing: give an http:// or https:// URL".to_owned(),
                );
            } else if let Err(message) = check_probe_url(&target) {
                bad("target", message);
            }
            let expect_status = match raw.expect_status {
                None => None,
                Some(status) if (100..=599).contains(&status) => Some(status as u16),
                Some(status) => {
                    bad(
                        "expect_status",
                        format!("{status} is not an HTTP status: use 100 to 599"),
                    );
                    None
                }
            };
            let body_match = match raw.body_match.as_deref() {
                None => None,
                Some(text) => compile(text)
                    .map_err(|message| bad("body_match", message))
                    .ok(),
            };
            Some(ProbeKind::Http {
                url: target,
                expect_status,
                body_match,
            })
        }
        Some("tcp") => {
            http_only(&mut bad, "tcp");
            match target.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty()
                        && port.parse::<u16>().is_ok_and(|port| port > 0)
                        && !host.chars().any(|c| c.is_whitespace() || c == '/') =>
                {
                    Some(ProbeKind::Tcp { address: target })
                }
                _ => {
                    bad("target", format!("{target:?} is not HOST:PORT"));
                    None
                }
            }
        }
        Some("process") => {
            http_only(&mut bad, "process");
            if raw.target.is_none() || target.is_empty() {
                bad(
                    "target",
                    "is missing: give a regex on the command line".to_owned(),
                );
                None
            } else {
                compile(&target)
                    .map_err(|message| bad("target", message))
                    .ok()
                    .map(|pattern| ProbeKind::Process { pattern })
            }
        }
        Some(other) => {
            bad(
                "kind",
                format!("{other:?} is invalid: use http, tcp or process"),
            );
            None
        }
    };
    let kind = kind?;
    ok.then_some(ProbeConfig {
        name,
        kind,
        interval,
        timeout,
        severity,
        failures_before_down,
    })
}

/// Validates one `[[log]]` named `key` (`log[N]`).
fn validate_log(
    key: &str,
    raw: RawLog,
    invalid: &mut impl FnMut(&str, String),
) -> Option<LogConfig> {
    let mut ok = true;
    let mut bad = |field: &str, message: String| {
        invalid(&format!("{key}.{field}"), message);
        ok = false;
    };
    let name = check_name(raw.name)
        .map_err(|message| bad("name", message))
        .unwrap_or_default();
    let path = match raw.path {
        Some(path) if path.is_absolute() => path,
        Some(path) => {
            bad(
                "path",
                format!("{:?} is not an absolute path", path.display().to_string()),
            );
            PathBuf::new()
        }
        None => {
            bad("path", "is missing: give the file to follow".to_owned());
            PathBuf::new()
        }
    };
    let pattern = match raw.pattern.as_deref() {
        Some(text) => compile(text)
            .map_err(|message| bad("pattern", message))
            .ok(),
        None => {
            bad("pattern", "is missing: give a regex".to_owned());
            None
        }
    };
    let severity = match raw.severity.as_deref() {
        None => Severity::Warning,
        Some(text) => parse_severity(text).unwrap_or_else(|message| {
            bad("severity", message);
            Severity::Warning
        }),
    };
    let pattern = pattern?;
    ok.then_some(LogConfig {
        name,
        path,
        pattern,
        severity,
    })
}

/// Checks a probe URL: `http://` or `https://` with a host.
fn check_probe_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    Ok(())
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
        let log_format = match self.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        format!(
            "collector: {}\ntoken: {token}\ninterval: {}\nhost_id: {}\nhostname: {}\nstate_dir: {}\n\
             log_format: {log_format}\nlabels: {labels}\ndepends_on: {}\nspool_max_bytes: {}\n\
             clock_skew_threshold: {}\nprobes: {}\nlogs: {}\n",
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
        )
    }
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

/// Joins a possibly multi-line message into one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        let raw = RawConfig::from_toml(text, Path::new("agent.toml"))?;
        Config::from_raw(raw, Some("box-1".to_owned()))
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

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
             config key log_format: \"xml\" is invalid: use text or json; \
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
    fn config_names_each_bad_probe_and_log_key() {
        assert_eq!(
            message("[[probe]]\nname = \"web\"\nkind = \"http\"\ntarget = \"ftp://x\"\n"),
            "config key probe[0].target: \"ftp://x\" is not an http:// or https:// URL"
        );
        assert_eq!(
            message(
                "[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:1\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
            ),
            "config key probe[0].timeout: 2s must be shorter than the interval 1s"
        );
        assert_eq!(
            message("[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"nope\"\n"),
            "config key probe[0].target: \"nope\" is not HOST:PORT"
        );
        assert_eq!(
            message("[[probe]]\nname = \"a\"\nkind = \"process\"\ntarget = \"(\"\n")
                .split(':')
                .next(),
            Some("config key probe[0].target")
        );
        assert_eq!(
            message("[[probe]]\nname = \"a b\"\nkind = \"ping\"\n"),
            "config key probe[0].name: \"a b\" is invalid: use 1 to 64 letters, digits, '_', '-' or '.'; \
             config key probe[0].kind: \"ping\" is invalid: use http, tcp or process"
        );
        assert_eq!(
            message(
                "[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:1\"\nexpect_status = 200\nseverity = \"fatal\"\nfailures_before_down = 0\n"
            ),
            "config key probe[0].severity: \"fatal\" is invalid: use critical, major, minor, warning or info; \
             config key probe[0].failures_before_down: 0 is out of range: use 1 to 1000; \
             config key probe[0].expect_status: applies to http probes only, not tcp"
        );
        assert_eq!(
            message(
                "[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:1\"\n[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:2\"\n"
            ),
            "config key probe[1].name: \"a\" is used twice: probe names are unique"
        );
        assert_eq!(
            message("[[log]]\nname = \"app\"\npath = \"relative.log\"\npattern = \"x\"\n"),
            "config key log[0].path: \"relative.log\" is not an absolute path"
        );
        assert_eq!(
            message("[[log]]\nname = \"app\"\npath = \"/x.log\"\n"),
            "config key log[0].pattern: is missing: give a regex"
        );
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
        assert!(message("[[probe]]\nnam = \"x\"\n").contains("unknown field `nam`"));
    }

    #[test]
    fn config_rejects_interval_below_minimum() {
        assert_eq!(
            message("interval = \"100ms\""),
            "config key interval: \"100ms\" is shorter than the minimum 250ms"
        );
    }

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

    #[test]
    fn config_flags_win_over_file() {
        let args = Args {
            interval: Some("5s".into()),
            once: true,
            ..Args::default()
        };
        let file = RawConfig::from_toml(
            "interval = \"20s\"\nhost_id = \"from-file\"\n",
            Path::new("f.toml"),
        )
        .unwrap();
        let config = Config::from_raw(args.to_raw().or(file), Some("box-1".into())).unwrap();
        assert_eq!(config.interval, Duration::from_secs(5));
        assert_eq!(config.host_id, "from-file");
        assert!(config.once);
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

    #[test]
    fn secret_never_appears_in_debug_output_or_the_effective_config() {
        let config = parse("token = \"hunter2-token\"\n[labels]\nservice = \"checkout\"").unwrap();
        let dumped = format!("{config:?}");
        assert!(!dumped.contains("hunter2"), "{dumped}");
        assert!(dumped.contains("<secret>"), "{dumped}");
        let described = config.describe();
        assert!(!described.contains("hunter2"), "{described}");
        assert!(described.contains("token: <secret>\n"), "{described}");
        assert!(
            described.contains("labels: service=\"checkout\"\n"),
            "{described}"
        );
        assert!(described.contains("interval: 10s\n"), "{described}");
        assert_eq!(Secret::new("x").to_string(), "<secret>");
    }

    #[test]
    fn args_parse_every_flag() {
        let args = Args::try_parse_from([
            "vigil-agent",
            "--collector",
            "http://c:1",
            "--token",
            "t",
            "--interval",
            "1s",
            "--host-id",
            "h",
            "--state-dir",
            "/tmp/s",
            "--once",
            "--log-format",
            "json",
            "--spool-max-bytes",
            "65536",
            "--clock-skew-threshold",
            "1m",
        ])
        .unwrap();
        let config = Config::from_raw(args.to_raw(), None).unwrap();
        assert_eq!(config.collector, "http://c:1");
        assert_eq!(config.interval, Duration::from_secs(1));
        assert_eq!(config.host_id, "h");
        assert_eq!(config.hostname, "h");
        assert!(config.once);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.spool_max_bytes, 65_536);
        assert_eq!(config.clock_skew_threshold, Duration::from_secs(60));
    }
}
