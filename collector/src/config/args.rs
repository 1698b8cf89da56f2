//! Command-line flags ([`Args`], clap, flattened into the binary's parser): each flag also
//! reads `VIGIL_<NAME>` from the environment and wins over the file.

use std::path::PathBuf;

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
    /// PEM certificate chain to serve HTTPS with (reloaded when the file changes).
    #[arg(long, env = "VIGIL_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (reloaded when the file changes).
    #[arg(long, env = "VIGIL_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA of agents' client certificates: turns on mTLS (a certificate must name the batch's host id).
    #[arg(long, env = "VIGIL_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Validate the configuration, print it, and exit (0 when valid, 2 when not).
    #[arg(long)]
    pub check_config: bool,
}
