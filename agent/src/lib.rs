//! `vigil-agent`: samples the host and streams batches to the collector.
//!
//! The map: [`config`] (flags/env/file → [`config::Config`]), [`sampler`] (the only orchestrator:
//! tick loop, probe tasks, shutdown flush, `--once`), [`collectors`] (one file per collector,
//! values only), [`probes`] (http/tcp/process availability probes), [`events`] (host event
//! detectors), [`state`] (stream id and seq reservation in `--state-dir`), [`spool`] (the on-disk
//! store-and-forward queue), [`transport`] (sends the spool in order with the retry policy),
//! [`clock`] (time helpers). `main.rs` is a thin edge that parses, sets up
//! logging, runs and maps errors to exit codes.

pub mod clock;
pub mod collectors;
pub mod config;
pub mod events;
pub mod probes;
pub mod sampler;
pub mod spool;
pub mod state;
pub mod transport;

use std::future::Future;

pub use config::{Config, ConfigError, ConfigErrors};
pub use sampler::sample_once;
pub use vigil_shared::wire::Batch;

/// A fatal error of the agent (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The state dir could not be used.
    #[error("cannot open the agent state")]
    State(#[from] state::StateError),
    /// The transport could not be set up.
    #[error("cannot set up the transport")]
    Transport(#[from] transport::TransportError),
    /// The collectors could not be set up.
    #[error("cannot set up the collectors")]
    Collectors(#[from] collectors::CollectorError),
    /// The spool could not be opened.
    #[error("cannot open the spool")]
    Spool(#[from] spool::SpoolError),
    /// The probes could not be set up.
    #[error("cannot set up the probes")]
    Probes(#[from] probes::ProbeError),
    /// The async runtime for `--once` could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// Runs the agent until `shutdown` completes, then sends a final batch and flushes the queue
/// (bounded by [`sampler::SHUTDOWN_DEADLINE`]). Returns `Ok` after a clean shutdown.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    sampler::run(&config, shutdown).await
}
