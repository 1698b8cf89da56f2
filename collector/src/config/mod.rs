//! The collector's configuration in two stages: [`Args`] (flags and `VIGIL_*` environment, through
//! clap) and [`RawFile`] (the TOML file) are merged into a [`Config`] with real types. Precedence:
//! flag > environment > file > default. Every problem is collected and reported on one line that
//! names the key (exit status 2).
//!
//! The files: `args.rs` (clap flags), `file.rs` (the TOML shape), `store.rs` (`store`,
//! `store_sync`), `tokens.rs` (`[[token]]`), `sinks.rs` (`[[sink]]`), `routes.rs` (`[[route]]`, `[default_route]`), `tls.rs` (`tls_cert`, `tls_key`, `client_ca`), `policy.rs` (`[incidents]`), `grouping.rs` (`[grouping]`), `topology.rs` (`[topology]`), `rules.rs`
//! (`[[rule]]`), `slo.rs` (`[[slo]]`); this file holds [`Config`], the top-level keys and the merge.

mod args;
mod capacity;
mod file;
mod grouping;
mod policy;
mod routes;
mod rules;
mod sinks;
mod slo;
mod store;
mod tls;
mod tokens;
mod topology;

use crate::auth::Tokens;
use crate::incidents::Policy;
use crate::ingest::limits::IngestLimits;
use crate::rules::Rule;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use vigil_shared::event::Severity;
use vigil_shared::secret::Secret;

pub use args::Args;
pub use file::{RawFile, RawIncidents, RawRule, RawSink, RawSla, RawToken};
pub use store::StoreLocation;
pub use vigil_shared::config::{ConfigError, ConfigErrors, LogFormat};

/// Default listen address (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9470";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./vigil-data";
/// Default heartbeat timeout.
pub const DEFAULT_HOST_DOWN_AFTER: Duration = Duration::from_secs(60);

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
    pub store_sync: crate::store::Durability,
    /// PostgreSQL: most connections per collector.
    pub store_pool_size: usize,
    /// PostgreSQL: longest a statement, a lock wait or a pool checkout may take.
    pub store_timeout: Duration,
    /// PostgreSQL with `sslmode=require`: CA certificates for the server's (system roots if
    /// unset).
    pub store_ca_file: Option<std::path::PathBuf>,
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
    /// Service-level objectives (`[[slo]]`).
    pub slos: Vec<crate::availability::slo::Slo>,
    /// HTTPS (and mTLS with a client CA); `None` serves plain HTTP.
    pub tls: Option<crate::tls::TlsSettings>,
    /// The collector's address as people reach it, for links in notifications.
    pub public_url: Option<String>,
    /// Incident queues.
    pub sinks: Vec<crate::notify::sinks::Sink>,
    /// Which sinks hear of which incidents, and escalation.
    pub routing: crate::notify::route::Routing,
    /// Live capacity forecasts.
    pub capacity: crate::capacity::CapacityConfig,
    /// `[topology.depends_on]`: dependencies of things with no agent (added to the agents').
    pub topology: std::collections::HashMap<String, Vec<String>>,
}

impl Config {
    /// Merges flags, environment (already in `args`), the config file and defaults.
    pub fn load(args: &Args) -> Result<Config, ConfigErrors> {
        let file = match &args.config {
            Some(path) => file::read_file(path)?,
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
        let mut errors = ConfigErrors::new();
        let tokens = Tokens::new(
            file.token
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .filter_map(|(index, raw)| tokens::parse_token(index, raw, env, &mut errors))
                .collect(),
        );
        let listen_text = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
            errors.invalid(
                "listen",
                format!("invalid address {listen_text:?}: use IP:PORT, e.g. 127.0.0.1:9470"),
            )
        });
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let store = match args.store.clone().or(file.store) {
            None => Ok(StoreLocation::Sqlite(data_dir.join("vigil.db"))),
            Some(url) => store::parse_store(&url).map_err(|error| errors.push(error)),
        };
        let host_down_after = match args.host_down_after.clone().or(file.host_down_after) {
            None => Ok(DEFAULT_HOST_DOWN_AFTER),
            Some(text) => match vigil_shared::parse_duration(&text) {
                Ok(duration) if duration >= Duration::from_secs(1) => Ok(duration),
                Ok(_) => Err(ConfigError::invalid(
                    "host_down_after",
                    format!("{text:?} is too short: use at least 1s"),
                )),
                Err(error) => Err(ConfigError::invalid("host_down_after", error.to_string())),
            },
        }
        .map_err(|error| errors.push(error));
        let log_format = match args.log_format.clone().or(file.log_format).as_deref() {
            None => Ok(LogFormat::Text),
            Some(text) => text
                .parse::<LogFormat>()
                .map_err(|error| ConfigError::invalid("log_format", error.to_string())),
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
                errors.invalid(key, "must be greater than 0");
            }
        }
        let (mut policy, event_id_retention) =
            policy::parse_incidents(file.incidents.unwrap_or_default(), &mut errors);
        let topology =
            topology::parse_topology(file.topology.unwrap_or_default(), &mut policy, &mut errors);
        policy::parse_problems(file.problems.unwrap_or_default(), &mut policy, &mut errors);
        grouping::parse_grouping(file.grouping.unwrap_or_default(), &mut policy, &mut errors);
        let rules = rules::parse_rules(
            file.default_rules.unwrap_or(true),
            file.rule.unwrap_or_default(),
            &mut errors,
        );
        let slos = slo::parse_slos(file.slo.unwrap_or_default(), &mut errors);
        let store_sync = store::parse_store_sync(file.store_sync.as_deref(), &mut errors);
        let store_pool_size = file.store_pool_size.unwrap_or(8);
        if !(2..=1_000).contains(&store_pool_size) {
            errors.invalid("store_pool_size", "use 2 to 1000 connections");
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
            errors.invalid("leader_lease", "use at least 1s");
        }
        let max_pending_writes = file.max_pending_writes.unwrap_or(4_096);
        if max_pending_writes == 0 {
            errors.invalid("max_pending_writes", "must be greater than 0");
        }
        if let Ok(address) = listen
            && !address.ip().is_loopback()
            && !insecure
            && tokens.is_empty()
        {
            errors.invalid("listen", format!(
                "{address} is not a loopback address and no [[token]] is configured: \
                 add tokens, listen on 127.0.0.1, or pass --insecure to serve the network without authentication"
            ));
        }
        let tls = tls::parse_tls(
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
            args.client_ca.clone().or(file.client_ca),
            &mut errors,
        );
        let sinks = sinks::parse_sinks(file.sink.unwrap_or_default(), env, &mut errors);
        let routing = routes::parse_routing(
            file.route.unwrap_or_default(),
            file.default_route,
            &sinks,
            &mut errors,
        );
        let capacity = capacity::parse_capacity(file.capacity.unwrap_or_default(), &mut errors);
        let public_url = file
            .public_url
            .map(|url| url.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.invalid(
                "public_url",
                format!("{url:?} is not an http:// or https:// URL"),
            );
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
                    store_ca_file: file.store_ca_file,
                    leader_lease,
                    tokens,
                    policy,
                    event_id_retention,
                    rules,
                    slos,
                    tls,
                    public_url,
                    sinks,
                    routing,
                    capacity,
                    topology,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Parses a duration; records the problem under `key`.
fn parse_duration_key(key: &str, text: &str, errors: &mut ConfigErrors) -> Option<Duration> {
    vigil_shared::parse_duration(text)
        .map_err(|error| errors.invalid(key, error.to_string()))
        .ok()
}

/// A secret from an environment variable or a file (trimmed, never empty); each key is the
/// full key (`sink[N].secret_env`, `token[N].secret_file`, ...) and the value given for it.
/// Tokens and sinks read their secrets here.
pub(super) fn read_secret(
    (env_key, variable): (&str, Option<String>),
    (file_key, path): (&str, Option<PathBuf>),
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
) -> Option<Secret> {
    match (variable, path) {
        (None, None) => None,
        (Some(variable), None) => match env(&variable).filter(|value| !value.trim().is_empty()) {
            Some(value) => Some(Secret::new(value.trim())),
            None => {
                errors.invalid(
                    env_key,
                    format!("environment variable {variable} is not set or empty"),
                );
                None
            }
        },
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(value) if !value.trim().is_empty() => Some(Secret::new(value.trim())),
            Ok(_) => {
                errors.invalid(file_key, format!("{} is empty", path.display()));
                None
            }
            Err(error) => {
                errors.invalid(file_key, format!("cannot read {}: {error}", path.display()));
                None
            }
        },
        (Some(_), Some(_)) => {
            let name = env_key.rsplit('.').next().unwrap_or(env_key);
            let file_name = file_key.rsplit('.').next().unwrap_or(file_key);
            errors.invalid(env_key, format!("give {name} or {file_name}, not both"));
            None
        }
    }
}

/// Parses a severity with the shared parser; records the problem under `key`.
fn parse_severity(key: &str, text: &str, errors: &mut ConfigErrors) -> Option<Severity> {
    text.parse::<Severity>()
        .map_err(|error| errors.invalid(key, error.to_string()))
        .ok()
}

#[cfg(test)]
mod test_support {
    use super::RawFile;

    pub(super) fn file(text: &str) -> RawFile {
        toml::from_str(text).unwrap()
    }

    pub(super) fn no_env(_: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{file, no_env};
    use super::*;

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
}
