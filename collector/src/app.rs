//! Wiring and lifecycle: open the store, restore hosts, start the heartbeat watch and the HTTP
//! server; on shutdown stop accepting, finish in-flight requests and let the store writer commit
//! everything queued before returning.

use crate::api::{self, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, StoreLocation};
use crate::export::Metrics;
use crate::hosts::Hosts;
use crate::incidents::{Effect, Engine, EventIn};
use crate::ingest::Ingest;
use crate::rules::{self, Evaluator};
use crate::store::sqlite::{SqliteBackend, SqliteReader};
use crate::store::{Backend, Reader, Store, StoreError, Write, Writer};
use std::collections::HashSet;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

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
    /// The store writer died of a bug; the store holds everything acknowledged.
    #[error("the store writer stopped unexpectedly (see the log): restart the collector")]
    StoreWriterDied,
    /// The TLS certificate or key could not be loaded (they changed since the config check).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
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
    let mut backend = SqliteBackend::open_with(path, config.store_sync)?;
    let records = backend.load_hosts()?;
    let (incidents, last_id) = backend.load_incidents()?;
    let reader: Arc<dyn Reader> = Arc::new(SqliteReader::open(path)?);
    let down_after_ms = i64::try_from(config.host_down_after.as_millis()).unwrap_or(i64::MAX);
    let hosts = Arc::new(Hosts::new(down_after_ms));
    let n_restored = records.len();
    for record in records {
        hosts.restore(record, started_ms);
    }
    // Open rule and heartbeat incidents seed their producers, so they clear after a restart.
    let rule_names: HashSet<&str> = config.rules.iter().map(|rule| rule.name.as_str()).collect();
    let mut firing_rules = HashSet::new();
    let mut hosts_down = HashSet::new();
    for incident in incidents.iter().filter(|incident| {
        incident.state.is_active() && incident.source.as_deref() == Some(rules::SOURCE)
    }) {
        if incident.check == rules::HOST_DOWN {
            hosts_down.extend(incident.host.clone());
        } else if rule_names.contains(incident.check.as_str()) {
            firing_rules.insert(incident.fingerprint.clone());
        }
    }
    let mut evaluator = Evaluator::new(config.rules.clone());
    evaluator.seed_firing(&firing_rules);
    let n_incidents = incidents.len();
    let engine = Engine::new(config.policy.clone(), incidents, last_id);
    tracing::info!(path = %path.display(), n_hosts = n_restored, n_incidents, "store opened");
    let metrics = Arc::new(Metrics::new());
    let observed = Arc::clone(&metrics);
    let writer = Writer {
        backend: Box::new(backend),
        engine,
        clock: Arc::clone(&clock),
        observer: Box::new(move |report| {
            observed.observe_incidents(report);
            for effect in report.effects {
                log_effect(effect);
            }
        }),
        event_id_retention_ms: i64::try_from(config.event_id_retention.as_millis())
            .unwrap_or(i64::MAX),
    };
    let (store, writer) =
        Store::start(writer, config.max_pending_writes).map_err(AppError::Thread)?;
    let totals = Arc::clone(&metrics);
    let (feed, feed_rx) = mpsc::unbounded_channel();
    let ingest = Arc::new(Ingest::new(
        store.clone(),
        Arc::clone(&hosts),
        Arc::clone(&metrics),
        config.limits,
        Arc::clone(&clock),
        evaluator,
        feed.clone(),
    ));
    let state = AppState {
        ingest,
        hosts: Arc::clone(&hosts),
        metrics,
        clock: Arc::clone(&clock),
        tokens: Arc::new(config.tokens.clone()),
        reader,
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
    let heartbeat = tokio::spawn(watch_heartbeats(
        Arc::clone(&hosts),
        Arc::clone(&clock),
        hosts_down,
        started_ms,
        feed,
    ));
    let internal = tokio::spawn(forward_internal_events(store.clone(), feed_rx));
    let watched = store.clone();
    let ticker = tokio::spawn(tick(store));
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopping_tx.send(());
    };
    // Plain HTTP, or TLS with reloading certificates and the mTLS client identity (tls.rs).
    let listener = crate::tls::Incoming::new(listener, config.tls.as_ref())?;
    let server = axum::serve(
        listener,
        crate::tls::app(api::router(state), config.tls.as_ref()),
    )
    .with_graceful_shutdown(signal)
    .into_future();
    tokio::pin!(server);
    let drained = tokio::select! {
        result = &mut server => {
            result.map_err(AppError::Serve)?;
            true
        }
        () = watched.writer_died() => {
            return Err(AppError::StoreWriterDied);
        }
        () = async {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => false,
    };
    // The writer ends once every Store handle is gone: this one first.
    drop(watched);
    heartbeat.abort();
    ticker.abort();
    if drained {
        // The router and the heartbeat held the feed's senders: the forwarder writes what is
        // queued and ends.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, internal).await;
        tracing::info!("http server stopped; flushing the store");
        // The router (and with it every Store handle) is gone: the writer drains its queue and
        // ends.
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    } else {
        internal.abort();
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

/// Logs each host's up → down and down → up transition once and turns it into a `host_down`
/// event. `down` starts with the hosts that have an open host-down incident; such a host counts
/// as back only once a batch arrives after `started_ms` (restored hosts get a grace period, which
/// is not a sign of life).
async fn watch_heartbeats(
    hosts: Arc<Hosts>,
    clock: Arc<dyn Clock>,
    mut down: HashSet<String>,
    started_ms: i64,
    feed: mpsc::UnboundedSender<EventIn>,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let now_ms = clock.now_ms();
        let down_after_ms = hosts.down_after_ms();
        let events = hosts.read(|all| {
            let mut events = Vec::new();
            for host in all.values() {
                let is_up = host.is_up(now_ms, down_after_ms);
                if !is_up && down.insert(host.host_id.clone()) {
                    let last_seen = crate::clock::rfc3339(host.last_seen_ms);
                    tracing::warn!(host = %host.host_id, %last_seen, "host down: agent silent");
                    events.push(rules::host_down_event(
                        &host.host_id,
                        &host.labels,
                        true,
                        format!("no data from the agent since {last_seen}"),
                    ));
                } else if is_up && host.last_seen_ms >= started_ms && down.remove(&host.host_id) {
                    tracing::info!(host = %host.host_id, "host up again");
                    events.push(rules::host_down_event(
                        &host.host_id,
                        &host.labels,
                        false,
                        "the agent reports again".to_owned(),
                    ));
                }
            }
            events
        });
        for event in events {
            if feed.send(event).is_err() {
                return;
            }
        }
    }
}

/// Writes the collector's own events (rules, heartbeat) in order, waiting for queue space rather
/// than dropping; retries a failed commit after a pause.
async fn forward_internal_events(store: Store, mut feed: mpsc::UnboundedReceiver<EventIn>) {
    let mut batch = Vec::new();
    while feed.recv_many(&mut batch, 1_000).await > 0 {
        let events = std::mem::take(&mut batch);
        let mut attempt = 0u32;
        loop {
            match store.write_waiting(Write::Events(events.clone())).await {
                Ok(_) => break,
                Err(error) if matches!(*error, StoreError::Closed) => return,
                Err(error) => {
                    attempt += 1;
                    tracing::warn!(error = %error, attempt, n_events = events.len(), "recording internal events failed; retrying");
                    tokio::time::sleep(
                        Duration::from_secs(1).min(Duration::from_millis(100) * attempt),
                    )
                    .await;
                }
            }
        }
    }
}

/// Drives time-based incident changes (SLA breaches, settling, closing) once a second.
async fn tick(store: Store) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        if let Err(error) = store.write_waiting(Write::Tick).await {
            if matches!(*error, StoreError::Closed) {
                return;
            }
            tracing::warn!(error = %error, "incident tick failed");
        }
    }
}

fn log_effect(effect: &Effect) {
    match effect {
        Effect::Opened { id, priority } => {
            tracing::info!(incident = %id, priority, "incident opened")
        }
        Effect::Reopened { id, priority } => {
            tracing::info!(incident = %id, priority, "incident reopened");
        }
        Effect::Acknowledged { id, .. } => tracing::info!(incident = %id, "incident acknowledged"),
        Effect::Resolved { id, .. } => tracing::info!(incident = %id, "incident resolved"),
        Effect::Closed { id } => tracing::debug!(incident = %id, "incident closed"),
        Effect::SlaBreached { id, kind, .. } => {
            tracing::warn!(incident = %id, kind, "incident SLA breached");
        }
        Effect::Flapping { id, flapping } => {
            tracing::info!(incident = %id, flapping, "incident flapping changed")
        }
    }
}
