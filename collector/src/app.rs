//! Wiring and lifecycle: open the store, restore hosts, start the heartbeat watch and the HTTP
//! server; on shutdown stop accepting, finish in-flight requests and let the store writer commit
//! everything queued before returning.

use crate::api::{self, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::export::Metrics;
use crate::hosts::Hosts;
use crate::incidents::Engine;
use crate::ingest::Ingest;
use crate::pipeline::sweeps::{self, HeartbeatSource};
use crate::pipeline::{Pipeline, Write, WriteOutcome, Writer, effects, leader};
use crate::rules::{self, Evaluator};
use crate::store::{self, StoreError, StoreOptions};
use std::collections::HashSet;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a finished notification (sent, dead-lettered, cancelled) stays listed: 7 days.
const NOTIFICATION_RETENTION_MS: i64 = 7 * 24 * 3_600_000;

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
    let location = config.store.clone();
    let options = StoreOptions {
        durability: config.store_sync,
        pool_size: config.store_pool_size,
        statement_timeout: config.store_timeout,
        idle_in_transaction_timeout: config.store_timeout,
        ca_file: config.store_ca_file.clone(),
    };
    // Opening may block (PostgreSQL connects and migrates on the runtime): off the async threads.
    let opened = tokio::task::spawn_blocking(move || {
        let mut opened = store::open(&location, &options)?;
        let records = opened.backend.load_hosts()?;
        let (incidents, last_id) = opened.backend.load_incidents()?;
        // Each subject's latest recorded state, for the ingest path's tracker.
        let latest_states = opened.reader.state_changes(i64::MAX)?;
        Ok::<_, StoreError>((opened, records, incidents, last_id, latest_states))
    })
    .await
    .map_err(|_| AppError::Thread(std::io::Error::other("the store opener panicked")))?;
    let (opened, records, incidents, last_id, latest_states) = opened?;
    let tracker = Arc::new(crate::availability::tracker::Tracker::seeded(
        &latest_states,
        started_ms,
    ));
    let shared = opened.backend.is_shared();
    let reader = opened.reader;
    let down_after_ms = i64::try_from(config.host_down_after.as_millis()).unwrap_or(i64::MAX);
    let hosts = Arc::new(Hosts::new(down_after_ms));
    let n_restored = records.len();
    if !shared {
        // With a shared store the hosts that report here arrive with their next batch; the
        // others belong to other collectors.
        for record in records {
            hosts.restore(record, started_ms);
        }
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
    // A shared store's engine loads what each group decides on; an embedded one keeps all.
    let mut engine = if shared {
        Engine::new(config.policy.clone(), Vec::new(), last_id)
    } else {
        Engine::new(config.policy.clone(), incidents, last_id)
    };
    engine.surroundings_mut().configured_depends_on = config.topology.clone();
    engine.set_shared(shared);
    let mut backend = opened.backend;
    if !shared {
        // A shared store's silences are read by the writer (other collectors add them too).
        crate::pipeline::apply::load_silences(backend.as_mut(), &mut engine, started_ms)?;
    }
    tracing::info!(store = %config.store, shared, n_hosts = n_restored, n_incidents, "store opened");
    let metrics = Arc::new(Metrics::new());
    metrics.register_sinks(&config.sinks);
    let observed = Arc::clone(&metrics);
    // Sinks configured: the writer queues notifications with the changes they report and hands
    // the rows it claimed to the dispatcher after each commit.
    let notify_holder = format!(
        "{}:{}:{}:{}",
        hostname(),
        std::process::id(),
        config.listen,
        started_ms
    );
    let notifier = (!config.sinks.is_empty()).then(|| crate::notify::outbox::Notifier {
        sinks: Arc::new(config.sinks.clone()),
        routing: config.routing.clone(),
        holder: notify_holder,
        lease_ms: i64::try_from(config.leader_lease.as_millis().saturating_mul(3))
            .unwrap_or(i64::MAX)
            .max(3_000),
    });
    let (outbox_tx, outbox_rx) = mpsc::unbounded_channel();
    let writer = Writer {
        backend,
        engine,
        clock: Arc::clone(&clock),
        observer: Box::new(move |report| {
            observed.observe_incidents(report);
            effects::log_effects(report.effects);
        }),
        event_id_retention_ms: i64::try_from(config.event_id_retention.as_millis())
            .unwrap_or(i64::MAX),
        notify: notifier.clone().map(|notifier| (notifier, outbox_tx)),
        notification_retention_ms: NOTIFICATION_RETENTION_MS,
    };
    let (pipeline, writer) =
        Pipeline::start(writer, config.max_pending_writes).map_err(AppError::Thread)?;
    let totals = Arc::clone(&metrics);
    let (feed, feed_rx) = mpsc::unbounded_channel();
    // Live capacity forecasts on a thread of their own: ingest hands it each batch's readings.
    let (capacity, capacity_thread) = crate::capacity::start(crate::capacity::Wiring {
        config: config.capacity.clone(),
        reader: Arc::clone(&reader),
        pipeline: pipeline.clone(),
        feed: feed.clone(),
        clock: Arc::clone(&clock),
        runtime: tokio::runtime::Handle::current(),
    })
    .map_err(AppError::Thread)?;
    let ingest = Arc::new(
        Ingest::new(
            pipeline.clone(),
            Arc::clone(&hosts),
            Arc::clone(&metrics),
            config.limits,
            Arc::clone(&clock),
            evaluator,
            feed.clone(),
        )
        .with_capacity(capacity.clone())
        .with_tracker(tracker),
    );
    // Leadership is settled once before serving, so /readyz and /metrics tell it from the start.
    let holder = format!("{}:{}:{}", hostname(), std::process::id(), config.listen);
    let first = leader::acquire(&pipeline, &holder, config.leader_lease)
        .await
        .unwrap_or(None);
    metrics.set_leadership(first);
    if let Some(epoch) = first {
        tracing::info!(epoch, %holder, "leading the sweeps");
    }
    let (leading_tx, leadership) = tokio::sync::watch::channel(first);
    let state = AppState {
        ingest,
        hosts: Arc::clone(&hosts),
        metrics,
        clock: Arc::clone(&clock),
        tokens: Arc::new(config.tokens.clone()),
        pipeline: pipeline.clone(),
        reader: Arc::clone(&reader),
        leadership: leadership.clone(),
        sinks: Arc::new(config.sinks.clone()),
        capacity,
        slos: Arc::new(config.slos.clone()),
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
    let lease = tokio::spawn(leader::hold(
        pipeline.clone(),
        holder,
        config.leader_lease,
        leading_tx,
    ));
    let watched_leadership = tokio::spawn({
        let metrics = Arc::clone(&totals);
        let mut leadership = leadership.clone();
        async move {
            while leadership.changed().await.is_ok() {
                let epoch = *leadership.borrow_and_update();
                metrics.set_leadership(epoch);
            }
        }
    });
    let source = if shared {
        HeartbeatSource::Store {
            reader: Arc::clone(&reader),
            down_after_ms,
        }
    } else {
        HeartbeatSource::Memory {
            hosts: Arc::clone(&hosts),
            down: hosts_down,
            started_ms,
        }
    };
    let heartbeat = tokio::spawn(sweeps::heartbeat(
        pipeline.clone(),
        Arc::clone(&clock),
        leadership.clone(),
        source,
    ));
    let internal = tokio::spawn(sweeps::forward_internal_events(pipeline.clone(), feed_rx));
    drop(feed);
    let service_levels = tokio::spawn(sweeps::service_levels(
        pipeline.clone(),
        Arc::clone(&clock),
        leadership.clone(),
        Arc::clone(&reader),
        Arc::new(config.slos.clone()),
        Arc::clone(&totals),
    ));
    let ticker = tokio::spawn(sweeps::tick(pipeline.clone(), leadership));
    let recovery = tokio::spawn(recover(pipeline.clone()));
    let (stop_dispatch, dispatch_stopped) = tokio::sync::watch::channel(false);
    let dispatcher = match notifier {
        Some(notifier) => {
            let client = crate::notify::sinks::http_client().map_err(|error| {
                AppError::Thread(std::io::Error::other(format!(
                    "cannot build the sinks' HTTP client: {error}"
                )))
            })?;
            tracing::info!(
                n_sinks = notifier.sinks.len(),
                "notification sinks configured"
            );
            let dispatcher = crate::notify::dispatch::Dispatcher {
                pipeline: pipeline.clone(),
                notifier,
                client,
                metrics: totals.notifications.clone(),
                clock: Arc::clone(&clock),
                public_url: config.public_url.clone(),
                take_foreign: !shared,
            };
            Some(tokio::spawn(dispatcher.run(outbox_rx, dispatch_stopped)))
        }
        None => None,
    };
    let watched = pipeline;
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
    // The writer ends once every Pipeline handle is gone: this one first.
    drop(watched);
    heartbeat.abort();
    service_levels.abort();
    ticker.abort();
    lease.abort();
    watched_leadership.abort();
    recovery.abort();
    // The dispatcher records what it sent and hands the rest back, then lets go of its handle.
    let _ = stop_dispatch.send(true);
    if let Some(dispatcher) = dispatcher {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, dispatcher).await;
    }
    if drained {
        // The router held the capacity handles: the capacity thread saves the histories with
        // news and ends (it holds a feed sender and a Pipeline handle until then).
        if let Some(thread) = capacity_thread {
            let _ = tokio::time::timeout(
                SHUTDOWN_GRACE,
                tokio::task::spawn_blocking(move || thread.join()),
            )
            .await;
        }
        // The router held the feed's senders: the forwarder writes what is queued and ends.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, internal).await;
        tracing::info!("http server stopped; flushing the store");
        // The router (and with it every Pipeline handle) is gone: the writer drains its queue
        // and ends.
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    } else {
        internal.abort();
        // Requests still running keep Pipeline handles; they end with the runtime. Whatever
        // they had committed is durable, and their clients, unanswered, resend (deduplicated).
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

/// While the last commit failed, checks every second whether the store answers again, so
/// readiness comes back without waiting for a client's write.
async fn recover(pipeline: Pipeline) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        if pipeline.is_healthy() {
            continue;
        }
        match pipeline.write_waiting(Write::Ping).await {
            Ok(WriteOutcome::Pong) => tracing::info!("the store answers again"),
            Ok(_) => {}
            Err(crate::pipeline::WriteError::Closed) => return,
            Err(error) => tracing::debug!(error = %error, "the store still fails"),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "collector".to_owned())
}
