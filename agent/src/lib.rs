//! `vigil-agent`: samples the host and streams batches to the collector.
//!
//! The map: [`config`] (flags/env/file → [`config::Config`]), [`sampler`] (the only orchestrator:
//! tick loop, shutdown flush, `--once`), [`collectors`] (one file per collector, values only),
//! [`state`] (stream id and last seq in `--state-dir`), [`transport`] (the only user of reqwest:
//! bounded queue, ordered delivery, retry policy). `main.rs` is a thin edge that parses, sets up
//! logging, runs and maps errors to exit codes.

pub mod collectors;
pub mod config;
pub mod sampler;
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
}

/// Runs the agent until `shutdown` completes, then sends a final batch and flushes the queue
/// (bounded by [`sampler::SHUTDOWN_DEADLINE`]). Returns `Ok` after a clean shutdown.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    sampler::run(&config, shutdown).await
}
