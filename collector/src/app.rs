//! Wiring and lifecycle: open the store, restore hosts, start the heartbeat watch and the HTTP
//! server; on shutdown stop accepting, finish in-flight requests and let the store writer commit
//! everything queued before returning.

use crate::api::{self, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, StoreLocation};
use crate::export::Metrics;
use crate::hosts::Hosts;
use crate::ingest::Ingest;
use crate::store::sqlite::SqliteBackend;
use crate::store::{Backend, Store, StoreError};
use std::collections::HashSet;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the collector could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server failed.
    #[error("http server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// A thread could not be started.
    #[error("cannot start the store writer thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Runs the collector until `shutdown` resolves; `on_listening` receives the bound address.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), AppError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let started_ms = clock.now_ms();
    let StoreLocation::Sqlite(path) = &config.store;
    let mut backend = SqliteBackend::open(path)?;
    let records = backend.load_hosts()?;
    let down_after_ms = i64::try_from(config.host_down_after.as_millis()).unwrap_or(i64::MAX);
    let hosts = Arc::new(Hosts::new(down_after_ms));
    let n_restored = records.len();
    for record in records {
        hosts.restore(record, started_ms);
    }
    tracing::info!(path = %path.display(), n_hosts = n_restored, "store opened");
    let (store, writer) =
        Store::start(Box::new(backend), config.max_pending_writes).map_err(AppError::Thread)?;
    let metrics = Arc::new(Metrics::new());
    let totals = Arc::clone(&metrics);
    let ingest = Arc::new(Ingest::new(
        store,
        Arc::clone(&hosts),
        Arc::clone(&metrics),
        config.limits,
        Arc::clone(&clock),
    ));
    let state = AppState {
        ingest,
        hosts: Arc::clone(&hosts),
        metrics,
        clock: Arc::clone(&clock),
        tokens: Arc::new(config.tokens.clone()),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| AppError::Bind {
            address: config.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(AppError::Serve)?;
    if !config.tokens.is_empty() {
        tracing::info!(n_tokens = config.tokens.len(), "bearer tokens required");
    } else if !address.ip().is_loopback() {
        tracing::warn!(%address, "serving a non-loopback address without authentication (--insecure)");
    } else {
        tracing::info!("no tokens configured: serving loopback only");
    }
    tracing::info!(%address, host_down_after = %vigil_shared::format_duration(config.host_down_after), "vigil-collector listening");
    on_listening(address);
    let heartbeat = tokio::spawn(watch_heartbeats(Arc::clone(&hosts), clock));
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopping_tx.send(());
    };
    let server = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(signal)
        .into_future();
    tokio::pin!(server);
    let drained = tokio::select! {
        result = &mut server => {
            result.map_err(AppError::Serve)?;
            true
        }
        () = async {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => false,
    };
    heartbeat.abort();
    if drained {
        tracing::info!("http server stopped; flushing the store");
        // The router (and with it every Store handle) is gone: the writer drains its queue and
        // ends.
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    } else {
        // Requests still running keep Store handles; they end with the runtime. Whatever they had
        // committed is durable, and their clients, unanswered, resend (deduplicated).
        tracing::warn!(
            grace_ms = SHUTDOWN_GRACE.as_millis() as u64,
            "requests still in flight after the shutdown grace period: closing them"
        );
    }
    tracing::info!(
        batches = totals.batches.get(),
        samples = totals.samples.get(),
        duplicates = totals.duplicates.get(),
        "vigil-collector stopped"
    );
    Ok(())
}

/// Logs each host's up → down and down → up transition once.
async fn watch_heartbeats(hosts: Arc<Hosts>, clock: Arc<dyn Clock>) {
    let mut down: HashSet<String> = HashSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let now_ms = clock.now_ms();
        let down_after_ms = hosts.down_after_ms();
        hosts.read(|all| {
            for host in all.values() {
                let is_up = host.is_up(now_ms, down_after_ms);
                if !is_up && down.insert(host.host_id.clone()) {
                    tracing::warn!(host = %host.host_id, last_seen = %crate::clock::rfc3339(host.last_seen_ms), "host down: agent silent");
                } else if is_up && down.remove(&host.host_id) {
                    tracing::info!(host = %host.host_id, "host up again");
                }
            }
        });
    }
}
