//! The collector's configuration in two stages: [`Args`] (flags and `VIGIL_*` environment, through
//! clap) and [`RawFile`] (the TOML file) are merged into a [`Config`] with real types. Precedence:
//! flag > environment > file > default. Every problem is collected and reported on one line that
//! names the key (exit status 2).

use crate::auth::{Role, Token, Tokens, parse_sha256_hex, sha256};
use crate::incidents::Policy;
use crate::incidents::priority::LabelMatch;
use crate::ingest::limits::IngestLimits;
use crate::rules::{Op, Rule, default_rules};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_shared::event::Severity;

/// Default listen address (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9470";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./vigil-data";
/// Default heartbeat timeout.
pub const DEFAULT_HOST_DOWN_AFTER: Duration = Duration::from_secs(60);

/// Command-line flags; each also reads `VIGIL_<NAME>` from the environment.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// TOML config file.
    #[arg(long, env = "VIGIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to serve the API and /metrics on [default: 127.0.0.1:9470].
    #[arg(long, env = "VIGIL_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory of the embedded store [default: ./vigil-data].
    #[arg(long, env = "VIGIL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Store URL: a SQLite file path (`sqlite:PATH` or a plain path). Default: vigil.db in the data dir.
    #[arg(long, env = "VIGIL_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// A host silent for this long is down [default: 60s].
    #[arg(long, env = "VIGIL_HOST_DOWN_AFTER", value_name = "DURATION")]
    pub host_down_after: Option<String>,
    /// Log format on stderr: text or json [default: text].
    #[arg(long, env = "VIGIL_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Serve a non-loopback address without tokens.
    #[arg(long, env = "VIGIL_INSECURE")]
    pub insecure: bool,
    /// Validate the configuration, print it, and exit (0 when valid, 2 when not).
    #[arg(long)]
    pub check_config: bool,
}

/// The TOML config file; keys equal the flags with `-` → `_`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    host_down_after: Option<String>,
    log_format: Option<String>,
    insecure: Option<bool>,
    max_body_bytes: Option<usize>,
    max_decompressed_bytes: Option<usize>,
    max_samples_per_batch: Option<usize>,
    max_events_per_batch: Option<usize>,
    max_pending_writes: Option<usize>,
    store_sync: Option<String>,
    store_pool_size: Option<usize>,
    store_timeout: Option<String>,
    leader_lease: Option<String>,
    token: Option<Vec<RawToken>>,
    incidents: Option<RawIncidents>,
    default_rules: Option<bool>,
    rule: Option<Vec<RawRule>>,
}

/// The `[incidents]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIncidents {
    min_severity: Option<String>,
    reopen_window: Option<String>,
    close_after: Option<String>,
    event_id_retention: Option<String>,
    high_impact: Option<Vec<String>>,
    low_impact: Option<Vec<String>>,
    breadth_high: Option<usize>,
    flapping_high: Option<f64>,
    flapping_low: Option<f64>,
    flapping_settle: Option<String>,
    sla: Option<std::collections::BTreeMap<String, RawSla>>,
}

/// One `[incidents.sla.pN]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSla {
    ack: Option<String>,
    resolve: Option<String>,
}

/// One `[[rule]]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    name: Option<String>,
    metric: Option<String>,
    divide_by: Option<String>,
    above: Option<f64>,
    below: Option<f64>,
    clear: Option<f64>,
    #[serde(rename = "for")]
    for_: Option<String>,
    severity: Option<String>,
}

/// One `[[token]]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    name: Option<String>,
    role: Option<String>,
    sha256: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    hosts: Option<String>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

pub use crate::store::StoreLocation;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The store.
    pub store: StoreLocation,
    /// Heartbeat timeout.
    pub host_down_after: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Allow a non-loopback listen address without tokens.
    pub insecure: bool,
    /// Ingest limits.
    pub limits: IngestLimits,
    /// Most store writes queued before ingest answers 503.
    pub max_pending_writes: usize,
    /// When a commit reaches the disk.
    pub store_sync: crate::store::sqlite::SyncMode,
    /// PostgreSQL: most connections per collector.
    pub store_pool_size: usize,
    /// PostgreSQL: longest a statement, a lock wait or a pool checkout may take.
    pub store_timeout: Duration,
    /// How long a leader's lease on the sweeps lasts without renewal (failover time).
    pub leader_lease: Duration,
    /// Bearer tokens; empty means no authentication (loopback only unless `insecure`).
    pub tokens: Tokens,
    /// Incident engine policy.
    pub policy: Policy,
    /// How long a generic event's `event_id` is remembered.
    pub event_id_retention: Duration,
    /// Threshold rules (defaults merged with `[[rule]]`).
    pub rules: Vec<Rule>,
}

/// Every problem found in the configuration, reported together on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ConfigErrors(pub Vec<String>);

impl Config {
    /// Merges flags, environment (already in `args`), the config file and defaults.
    pub fn load(args: &Args) -> Result<Config, ConfigErrors> {
        let file = match &args.config {
            Some(path) => read_file(path).map_err(|error| ConfigErrors(vec![error]))?,
            None => RawFile::default(),
        };
        Config::from_parts(args, file, &|name| std::env::var(name).ok())
    }

    /// Validates the merged view; collects every problem. `env` looks up environment variables
    /// named by `secret_env`.
    pub fn from_parts(
        args: &Args,
        file: RawFile,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let tokens = Tokens::new(
            file.token
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .filter_map(|(index, raw)| parse_token(index, raw, env, &mut errors))
                .collect(),
        );
        let listen_text = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
            errors.push(format!(
                "config key listen: invalid address {listen_text:?}: use IP:PORT, e.g. 127.0.0.1:9470"
            ))
        });
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let store = match args.store.clone().or(file.store) {
            None => Ok(StoreLocation::Sqlite(data_dir.join("vigil.db"))),
            Some(url) => parse_store(&url).map_err(|error| errors.push(error)),
        };
        let host_down_after = match args.host_down_after.clone().or(file.host_down_after) {
            None => Ok(DEFAULT_HOST_DOWN_AFTER),
            Some(text) => match vigil_shared::parse_duration(&text) {
                Ok(duration) if duration >= Duration::from_secs(1) => Ok(duration),
                Ok(_) => Err(format!(
                    "config key host_down_after: {text:?} is too short: use at least 1s"
                )),
                Err(error) => Err(format!("config key host_down_after: {error}")),
            },
        }
        .map_err(|error| errors.push(error));
        let log_format = match args.log_format.clone().or(file.log_format).as_deref() {
            None | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(other) => Err(format!(
                "config key log_format: unknown format {other:?}: use text or json"
            )),
        }
        .map_err(|error| errors.push(error));
        let insecure = args.insecure || file.insecure.unwrap_or(false);
        let defaults = IngestLimits::default();
        let limits = IngestLimits {
            max_body_bytes: file.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            max_decompressed_bytes: file
                .max_decompressed_bytes
                .unwrap_or(defaults.max_decompressed_bytes),
            wire: vigil_shared::wire::Limits {
                max_samples: file
                    .max_samples_per_batch
                    .unwrap_or(defaults.wire.max_samples),
                max_events: file
                    .max_events_per_batch
                    .unwrap_or(defaults.wire.max_events),
                ..defaults.wire
            },
        };
        for (key, value) in [
            ("max_body_bytes", limits.max_body_bytes),
            ("max_decompressed_bytes", limits.max_decompressed_bytes),
            ("max_samples_per_batch", limits.wire.max_samples),
        ] {
            if value == 0 {
                errors.push(format!("config key {key}: must be greater than 0"));
            }
        }
        let (policy, event_id_retention) =
            parse_incidents(file.incidents.unwrap_or_default(), &mut errors);
        let rules = parse_rules(
            file.default_rules.unwrap_or(true),
            file.rule.unwrap_or_default(),
            &mut errors,
        );
        let store_sync = match file.store_sync.as_deref() {
            None | Some("full") => crate::store::sqlite::SyncMode::Full,
            Some("normal") => crate::store::sqlite::SyncMode::Normal,
            Some(other) => {
                errors.push(format!(
                    "config key store_sync: unknown mode {other:?}: use full (fsync per commit) or normal (survives a collector crash, not a power cut)"
                ));
                crate::store::sqlite::SyncMode::Full
            }
        };
        let store_pool_size = file.store_pool_size.unwrap_or(8);
        if !(2..=1_000).contains(&store_pool_size) {
            errors.push("config key store_pool_size: use 2 to 1000 connections".to_owned());
        }
        let store_timeout = file
            .store_timeout
            .as_deref()
            .and_then(|text| parse_duration_key("store_timeout", text, &mut errors))
            .unwrap_or(Duration::from_secs(5));
        let leader_lease = file
            .leader_lease
            .as_deref()
            .and_then(|text| parse_duration_key("leader_lease", text, &mut errors))
            .unwrap_or(Duration::from_secs(10));
        if leader_lease < Duration::from_secs(1) {
            errors.push("config key leader_lease: use at least 1s".to_owned());
        }
        let max_pending_writes = file.max_pending_writes.unwrap_or(4_096);
        if max_pending_writes == 0 {
            errors.push("config key max_pending_writes: must be greater than 0".to_owned());
        }
        if let Ok(address) = listen
            && !address.ip().is_loopback()
            && !insecure
            && tokens.is_empty()
        {
            errors.push(format!(
                "config key listen: {address} is not a loopback address and no [[token]] is configured: \
                 add tokens, listen on 127.0.0.1, or pass --insecure to serve the network without authentication"
            ));
        }
        match (listen, store, host_down_after, log_format) {
            (Ok(listen), Ok(store), Ok(host_down_after), Ok(log_format)) if errors.is_empty() => {
                Ok(Config {
                    listen,
                    data_dir,
                    store,
                    host_down_after,
                    log_format,
                    insecure,
                    limits,
                    max_pending_writes,
                    store_sync,
                    store_pool_size,
                    store_timeout,
                    leader_lease,
                    tokens,
                    policy,
                    event_id_retention,
                    rules,
                })
            }
            _ => Err(ConfigErrors(errors)),
        }
    }
}

fn parse_duration_key(key: &str, text: &str, errors: &mut Vec<String>) -> Option<Duration> {
    vigil_shared::parse_duration(text)
        .map_err(|error| errors.push(format!("config key {key}: {error}")))
        .ok()
}

fn parse_severity(key: &str, text: &str, errors: &mut Vec<String>) -> Option<Severity> {
    let severity = serde_json::from_value(serde_json::Value::String(text.to_owned())).ok();
    if severity.is_none() {
        errors.push(format!(
            "config key {key}: unknown severity {text:?}: use critical, major, minor, warning or info"
        ));
    }
    severity
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Validates `[incidents]`; defaults for what is absent.
fn parse_incidents(raw: RawIncidents, errors: &mut Vec<String>) -> (Policy, Duration) {
    let mut policy = Policy::default();
    if let Some(text) = &raw.min_severity
        && let Some(severity) = parse_severity("incidents.min_severity", text, errors)
    {
        policy.min_severity = severity;
    }
    for (key, text, target) in [
        (
            "incidents.reopen_window",
            &raw.reopen_window,
            &mut policy.reopen_window_ms,
        ),
        (
            "incidents.close_after",
            &raw.close_after,
            &mut policy.close_after_ms,
        ),
        (
            "incidents.flapping_settle",
            &raw.flapping_settle,
            &mut policy.flap.settle_after_ms,
        ),
    ] {
        if let Some(text) = text
            && let Some(duration) = parse_duration_key(key, text, errors)
        {
            *target = millis(duration);
        }
    }
    let retention = raw
        .event_id_retention
        .as_deref()
        .and_then(|text| parse_duration_key("incidents.event_id_retention", text, errors))
        .unwrap_or(Duration::from_secs(24 * 3600));
    for (key, list, target) in [
        (
            "incidents.high_impact",
            raw.high_impact,
            &mut policy.priority.high_impact,
        ),
        (
            "incidents.low_impact",
            raw.low_impact,
            &mut policy.priority.low_impact,
        ),
    ] {
        if let Some(list) = list {
            target.clear();
            for text in list {
                match LabelMatch::parse(&text) {
                    Some(matcher) => target.push(matcher),
                    None => errors.push(format!(
                        "config key {key}: {text:?} is not label=value, e.g. \"env=prod\""
                    )),
                }
            }
        }
    }
    if let Some(breadth) = raw.breadth_high {
        policy.priority.breadth_high = breadth;
    }
    if let Some(high) = raw.flapping_high {
        policy.flap.high = high;
    }
    if let Some(low) = raw.flapping_low {
        policy.flap.low = low;
    }
    if !(0.0..=100.0).contains(&policy.flap.high)
        || !(0.0..=100.0).contains(&policy.flap.low)
        || policy.flap.low > policy.flap.high
    {
        errors.push(
            "config key incidents.flapping_low: flapping_low and flapping_high are percentages \
             with flapping_low <= flapping_high"
                .to_owned(),
        );
    }
    for (name, raw_sla) in raw.sla.unwrap_or_default() {
        let priority = name
            .strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=5).contains(n));
        let Some(priority) = priority else {
            errors.push(format!(
                "config key incidents.sla.{name}: unknown priority: use p1 to p5"
            ));
            continue;
        };
        let target = &mut policy.priority.sla[priority - 1];
        if let Some(text) = &raw_sla.ack
            && let Some(duration) =
                parse_duration_key(&format!("incidents.sla.{name}.ack"), text, errors)
        {
            target.ack_ms = millis(duration);
        }
        if let Some(text) = &raw_sla.resolve
            && let Some(duration) =
                parse_duration_key(&format!("incidents.sla.{name}.resolve"), text, errors)
        {
            target.resolve_ms = millis(duration);
        }
    }
    (policy, retention)
}

/// Validates `[[rule]]`s and merges them over the defaults (same name replaces).
fn parse_rules(defaults: bool, raw: Vec<RawRule>, errors: &mut Vec<String>) -> Vec<Rule> {
    let mut rules = if defaults {
        default_rules()
    } else {
        Vec::new()
    };
    for (index, raw) in raw.into_iter().enumerate() {
        let key = |name: &str| format!("config key rule[{index}].{name}");
        let before = errors.len();
        let name = raw.name.filter(|name| !name.trim().is_empty());
        if name.is_none() {
            errors.push(format!("{}: every rule needs a name", key("name")));
        }
        let metric = raw.metric.filter(|metric| !metric.trim().is_empty());
        if metric.is_none() {
            errors.push(format!(
                "{}: missing: the agent sample name, e.g. filesystem_avail_bytes",
                key("metric")
            ));
        }
        let (op, threshold) = match (raw.above, raw.below) {
            (Some(value), None) => (Op::Above, value),
            (None, Some(value)) => (Op::Below, value),
            _ => {
                errors.push(format!(
                    "{}: give exactly one of above or below",
                    key("above")
                ));
                (Op::Above, 0.0)
            }
        };
        let clear = raw.clear.unwrap_or(threshold);
        let wrong_side = match op {
            Op::Above => clear > threshold,
            Op::Below => clear < threshold,
        };
        if wrong_side {
            errors.push(format!(
                "{}: {clear} is on the firing side of the threshold {threshold}",
                key("clear")
            ));
        }
        let for_ms = match &raw.for_ {
            Some(text) => parse_duration_key(&key("for")[11..], text, errors).map_or(0, millis),
            None => 0,
        };
        let severity = match &raw.severity {
            Some(text) => {
                parse_severity(&key("severity")[11..], text, errors).unwrap_or(Severity::Warning)
            }
            None => Severity::Warning,
        };
        if errors.len() > before {
            continue;
        }
        let (Some(name), Some(metric)) = (name, metric) else {
            continue;
        };
        let rule = Rule {
            name,
            metric,
            divide_by: raw.divide_by.filter(|divisor| !divisor.trim().is_empty()),
            op,
            threshold,
            clear,
            for_ms,
            severity,
        };
        rules.retain(|existing| existing.name != rule.name);
        rules.push(rule);
    }
    rules
}

/// Validates one `[[token]]`; pushes its problems (named `token[<index>].<key>`).
fn parse_token(
    index: usize,
    raw: RawToken,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> Option<Token> {
    let key = |name: &str| format!("config key token[{index}].{name}");
    let before = errors.len();
    let name = raw.name.filter(|name| !name.trim().is_empty());
    if name.is_none() {
        errors.push(format!("{}: every token needs a name", key("name")));
    }
    let role = match raw.role.as_deref().map(|text| (text, Role::parse(text))) {
        Some((_, Some(role))) => Some(role),
        Some((text, None)) => {
            errors.push(format!(
                "{}: unknown role {text:?}: use agent, read, operate or admin",
                key("role")
            ));
            None
        }
        None => {
            errors.push(format!(
                "{}: missing: use agent, read, operate or admin",
                key("role")
            ));
            None
        }
    };
    let digest = match (raw.sha256, raw.secret_env, raw.secret_file) {
        (Some(hex), None, None) => parse_sha256_hex(&hex).or_else(|| {
            errors.push(format!(
                "{}: not 64 hex digits: give the SHA-256 of the token (e.g. printf %s TOKEN | sha256sum)",
                key("sha256")
            ));
            None
        }),
        (None, Some(variable), None) => match env(&variable).filter(|value| !value.is_empty()) {
            Some(secret) => Some(sha256(secret.trim().as_bytes())),
            None => {
                errors.push(format!(
                    "{}: environment variable {variable} is not set or empty",
                    key("secret_env")
                ));
                None
            }
        },
        (None, None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(secret) if !secret.trim().is_empty() => Some(sha256(secret.trim().as_bytes())),
            Ok(_) => {
                errors.push(format!("{}: {} is empty", key("secret_file"), path.display()));
                None
            }
            Err(error) => {
                errors.push(format!("{}: cannot read {}: {error}", key("secret_file"), path.display()));
                None
            }
        },
        _ => {
            errors.push(format!(
                "{}: give exactly one of sha256, secret_env or secret_file",
                key("sha256")
            ));
            None
        }
    };
    let hosts = match raw.hosts {
        None => None,
        Some(_) if role.is_some_and(|role| role != Role::Agent) => {
            errors.push(format!(
                "{}: only agent tokens are limited to hosts",
                key("hosts")
            ));
            None
        }
        // Anchored at both ends, as every pattern in Vigil's config.
        Some(pattern) => match regex::Regex::new(&format!("^(?:{pattern})$")) {
            Ok(regex) => Some(regex),
            Err(error) => {
                let first_line = error
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid")
                    .trim()
                    .to_owned();
                errors.push(format!(
                    "{}: invalid regular expression {pattern:?}: {first_line}",
                    key("hosts")
                ));
                None
            }
        },
    };
    if errors.len() > before {
        return None;
    }
    Some(Token::new(name?, role?, digest?, hosts))
}

fn parse_store(url: &str) -> Result<StoreLocation, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StoreLocation::Postgres(crate::store::PostgresUrl::new(url)));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || url.contains("://") && !url.starts_with("sqlite://") {
        return Err(format!(
            "config key store: unsupported store URL {url:?}: use a SQLite path (sqlite:PATH) or postgres://USER@HOST/DB"
        ));
    }
    Ok(StoreLocation::Sqlite(PathBuf::from(path)))
}

fn read_file(path: &Path) -> Result<RawFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("config file {}: cannot read it: {error}", path.display()))?;
    toml::from_str(&text).map_err(|error| {
        let line = error.span().map(|span| {
            text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1
        });
        let message = error.message().replace('\n', " ");
        match line {
            Some(line) => format!("config file {} line {line}: {message}", path.display()),
            None => format!("config file {}: {message}", path.display()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> RawFile {
        toml::from_str(text).unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn tokens_are_parsed_from_hash_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("t");
        std::fs::write(&secret_file, "file-secret\n").unwrap();
        let text = format!(
            r#"
            listen = "0.0.0.0:9470"
            [[token]]
            name = "agents"
            role = "agent"
            sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
            hosts = "eu-.*"
            [[token]]
            name = "grafana"
            role = "read"
            secret_env = "GRAFANA_TOKEN"
            [[token]]
            name = "root"
            role = "admin"
            secret_file = "{}"
            "#,
            secret_file.display()
        );
        let env = |name: &str| (name == "GRAFANA_TOKEN").then(|| "env-secret".to_owned());
        let config = Config::from_parts(&Args::default(), file(&text), &env).unwrap();
        assert_eq!(config.tokens.len(), 3);
        use crate::auth::Access;
        let agent = config
            .tokens
            .authorize(Some("Bearer secret"), Access::Ingest)
            .unwrap();
        assert!(agent.may_report_as("eu-1") && !agent.may_report_as("us-1"));
        assert!(
            config
                .tokens
                .authorize(Some("Bearer env-secret"), Access::Read)
                .is_ok()
        );
        assert!(
            config
                .tokens
                .authorize(Some("Bearer file-secret"), Access::Admin)
                .is_ok()
        );
        assert!(!format!("{config:?}").contains("secret"), "{config:?}");
    }

    #[test]
    fn bad_tokens_name_their_keys() {
        let text = r#"
            [[token]]
            role = "boss"
            sha256 = "abc"
            [[token]]
            name = "x"
            role = "read"
            secret_env = "MISSING"
            hosts = "a"
            [[token]]
            name = "y"
            role = "agent"
            sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
            secret_env = "ALSO"
            hosts = "("
        "#;
        let error = Config::from_parts(&Args::default(), file(text), &no_env).unwrap_err();
        let line = error.to_string();
        for part in [
            "config key token[0].name: every token needs a name",
            "config key token[0].role: unknown role \"boss\"",
            "config key token[0].sha256: not 64 hex digits",
            "config key token[1].secret_env: environment variable MISSING is not set",
            "config key token[1].hosts: only agent tokens",
            "config key token[2].sha256: give exactly one of",
            "config key token[2].hosts: invalid regular expression",
        ] {
            assert!(line.contains(part), "missing {part:?} in {line}");
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = Config::from_parts(&Args::default(), RawFile::default(), &no_env).unwrap();
        assert_eq!(config.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(config.host_down_after, Duration::from_secs(60));
        assert_eq!(
            config.store,
            StoreLocation::Sqlite(PathBuf::from("./vigil-data/vigil.db"))
        );
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn flags_override_the_file() {
        let args = Args {
            host_down_after: Some("5s".into()),
            ..Args::default()
        };
        let config = Config::from_parts(
            &args,
            file("host_down_after = \"2m\"\nlisten = \"127.0.0.1:1\""),
            &no_env,
        )
        .unwrap();
        assert_eq!(config.host_down_after, Duration::from_secs(5));
        assert_eq!(config.listen, "127.0.0.1:1".parse().unwrap());
    }

    #[test]
    fn every_problem_is_reported_on_one_line_with_its_key() {
        let args = Args {
            listen: Some("nowhere".into()),
            host_down_after: Some("10x".into()),
            log_format: Some("xml".into()),
            ..Args::default()
        };
        let error = Config::from_parts(&args, RawFile::default(), &no_env).unwrap_err();
        assert_eq!(error.0.len(), 3, "{error}");
        let line = error.to_string();
        assert!(!line.contains('\n'));
        assert!(
            line.contains("config key listen: invalid address \"nowhere\""),
            "{line}"
        );
        assert!(
            line.contains("config key host_down_after: invalid duration \"10x\""),
            "{line}"
        );
        assert!(
            line.contains("config key log_format: unknown format \"xml\""),
            "{line}"
        );
    }

    #[test]
    fn non_loopback_listen_needs_insecure() {
        let args = Args {
            listen: Some("0.0.0.0:9470".into()),
            ..Args::default()
        };
        let error = Config::from_parts(&args, RawFile::default(), &no_env).unwrap_err();
        assert!(error.to_string().contains("--insecure"), "{error}");
        let args = Args {
            insecure: true,
            ..args
        };
        assert!(Config::from_parts(&args, RawFile::default(), &no_env).is_ok());
    }

    #[test]
    fn store_urls_are_checked() {
        assert_eq!(
            parse_store("sqlite:/tmp/x.db"),
            Ok(StoreLocation::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!(
            parse_store("/var/lib/vigil/v.db"),
            Ok(StoreLocation::Sqlite("/var/lib/vigil/v.db".into()))
        );
        assert_eq!(
            parse_store("postgres://u@h/db"),
            Ok(StoreLocation::Postgres(crate::store::PostgresUrl::new(
                "postgres://u@h/db"
            )))
        );
        assert!(
            parse_store("redis://x")
                .unwrap_err()
                .contains("unsupported store URL")
        );
    }

    #[test]
    fn unknown_file_keys_are_named_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisen = 3\n").unwrap();
        let error = read_file(&path).unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("lisen"), "{error}");
        assert!(!error.contains('\n'));
    }

    #[test]
    fn incident_policy_rules_and_store_sync_are_parsed_and_checked() {
        let config = Config::from_parts(
            &Args::default(),
            file(
                r#"
                store_sync = "normal"
                default_rules = true
                [incidents]
                min_severity = "minor"
                reopen_window = "10m"
                high_impact = ["tier=0"]
                [incidents.sla.p1]
                ack = "5m"
                [[rule]]
                name = "cpu_saturated"
                metric = "cpu_usage_ratio"
                above = 0.8
                clear = 0.7
                for = "1m"
                "#,
            ),
            &no_env,
        )
        .unwrap();
        assert_eq!(config.store_sync, crate::store::sqlite::SyncMode::Normal);
        assert_eq!(config.policy.min_severity, Severity::Minor);
        assert_eq!(config.policy.reopen_window_ms, 600_000);
        assert_eq!(config.policy.priority.high_impact.len(), 1);
        assert_eq!(config.policy.priority.sla[0].ack_ms, 300_000);
        assert_eq!(
            config.rules.len(),
            default_rules().len(),
            "same name replaces"
        );
        let cpu = config
            .rules
            .iter()
            .find(|rule| rule.name == "cpu_saturated")
            .unwrap();
        assert_eq!((cpu.threshold, cpu.clear, cpu.for_ms), (0.8, 0.7, 60_000));

        let errors = Config::from_parts(
            &Args::default(),
            file(
                r#"
                store_sync = "sometimes"
                [incidents]
                high_impact = ["prod"]
                [incidents.sla.p9]
                ack = "5m"
                [[rule]]
                name = "x"
                metric = "load1"
                above = 1.0
                below = 2.0
                "#,
            ),
            &no_env,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "config key store_sync: unknown mode \"sometimes\"",
            "config key incidents.high_impact: \"prod\" is not label=value",
            "config key incidents.sla.p9: unknown priority",
            "config key rule[0].above: give exactly one of above or below",
        ] {
            assert!(errors.contains(needle), "{needle} not in {errors}");
        }
    }
}
