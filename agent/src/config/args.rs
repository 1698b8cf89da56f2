//! Command-line flags ([`Args`], clap): each flag also reads `VIGIL_<NAME>` from the
//! environment, and [`Args::to_raw`] turns them into the top of the [`RawConfig`] merge.

use std::path::PathBuf;

use clap::Parser;

use super::file::{RawBytes, RawConfig};

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
    /// PEM CA certificates to trust for an https:// collector, instead of the system's roots.
    #[arg(long, env = "VIGIL_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate shown to the collector (mTLS; its CN or a DNS SAN is the host id).
    #[arg(long, env = "VIGIL_CLIENT_CERT", value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, env = "VIGIL_CLIENT_KEY", value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    #[arg(long)]
    pub check_config: bool,
}

impl Args {
    /// The flag and environment values as a [`RawConfig`] (tables only come from the file).
    pub(super) fn to_raw(&self) -> RawConfig {
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
            ca_file: self.ca_file.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, LogFormat};
    use super::*;
    use std::path::Path;
    use std::time::Duration;

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
