//! The sampler: the agent's only orchestrator. Each tick it runs the collectors, adds the probes'
//! latest results, runs the host-event detectors, adds pending events and the inventory (when it
//! changed), stamps the batch with the next `seq` from the state and appends it to the spool,
//! from where the transport sends it. It also owns the tick loop, the probe tasks, the shutdown
//! sequence and the `--once` sample.
//!
//! # Lifecycle of [`run`]
//!
//! 1. Open the state (stream, seq reservation) and the spool (recovering a torn tail; numbering
//!    continues above anything already spooled), build the HTTP client and the collectors (the
//!    first CPU refresh happens here), compare the boot time with the last run's (`reboot`), queue
//!    an `agent_start` event and start one task per probe.
//! 2. Wait [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`] so the first CPU usage is real, then tick on a
//!    tokio `interval` (`MissedTickBehavior::Skip`: a stalled host does not get a burst of catch-up
//!    samples) while, on the same task, the shipper sends spooled batches and probe results
//!    arrive over a channel (a probe never delays a tick).
//! 3. On shutdown: stop the probes and the ticks, take a final batch carrying an `agent_stop`
//!    event, close the spool and give the shipper [`SHUTDOWN_DEADLINE`] to deliver; whatever is
//!    left stays in the spool for the next start.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use vigil_shared::wire::{AgentInfo, Batch, Event, Inventory, PROTOCOL_VERSION, Sample};
use vigil_shared::{Labels, Severity, Status};

use crate::AgentError;
use crate::collectors::{Collectors, DisplayChain, labeled, sample};
use crate::config::Config;
use crate::events::{self, HostEvents, Observed};
use crate::probes::{self, ProbeContext, ProbeResult, Probes};
use crate::spool::{Dropped, Spool, SpoolStats};
use crate::state::State;
use crate::transport::{self, Shipper, TransportOptions};

/// How long the final flush may take after SIGTERM/SIGINT.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// The inventory is resent at least this often (ms) even when unchanged.
pub const INVENTORY_REFRESH_MS: i64 = 3_600_000;
/// The agent's version, as sent in `agent.version` and the inventory.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds batches from the collectors, probes and event detectors.
pub struct Sampler {
    agent: AgentInfo,
    collectors: Collectors,
    depends_on: Vec<String>,
    last_inventory: Option<Inventory>,
    last_inventory_ms: i64,
    pending_events: Vec<Event>,
    samples_hint: usize,
    probes: Probes,
    host_events: HostEvents,
}

impl Sampler {
    /// Creates the collectors (first CPU refresh included) and the detectors.
    pub fn new(config: &Config) -> Result<Sampler, AgentError> {
        Ok(Sampler {
            agent: AgentInfo {
                host_id: config.host_id.clone(),
                hostname: config.hostname.clone(),
                version: VERSION.to_owned(),
                labels: config.labels.clone(),
            },
            collectors: Collectors::new(&config.procfs_root)?,
            depends_on: config.depends_on.clone(),
            last_inventory: None,
            last_inventory_ms: 0,
            pending_events: Vec::new(),
            samples_hint: 64,
            probes: Probes::new(&config.probes),
            host_events: HostEvents::new(
                config.procfs_root.clone(),
                config.clock_skew_threshold,
                &config.logs,
            ),
        })
    }

    /// Queues an event for the next batch.
    pub fn push_event(&mut self, event: Event) {
        self.pending_events.push(event);
    }

    /// Takes in a probe result (its events wait for the next batch).
    pub fn absorb_probe(&mut self, result: ProbeResult) {
        self.probes.absorb(result, &mut self.pending_events);
    }

    /// Takes one sample as a batch with `stream` and `seq`. The inventory is included when it
    /// differs from the last one included (so always in the first batch). `skew_ms` is the
    /// collector's clock offset when known; with `spool` its figures are added as self-metrics.
    pub fn sample(
        &mut self,
        stream: u64,
        seq: u64,
        skew_ms: Option<i64>,
        spool: Option<&SpoolStats>,
    ) -> Batch {
        let time_ms = now_ms();
        let mut samples = Vec::with_capacity(self.samples_hint);
        self.collectors.collect(&mut samples);
        self.probes.samples(&mut samples);
        if let Some(stats) = spool {
            push_spool_samples(stats, &mut samples);
        }
        self.samples_hint = samples.len();
        self.host_events.detect(
            Observed {
                filesystems: self.collectors.filesystems(),
                read_only: self.collectors.read_only(),
                skew_ms,
                now_ms: time_ms,
            },
            &mut self.pending_events,
        );
        let inventory = self.collectors.inventory(&self.depends_on);
        // Resent when it changed, and at least every INVENTORY_REFRESH_MS even if not, so an
        // inventory lost with a dropped batch (or a collector that lost its store) comes back.
        let stale = time_ms - self.last_inventory_ms >= INVENTORY_REFRESH_MS;
        let inventory = if self.last_inventory.as_ref() == Some(&inventory) && !stale {
            None
        } else {
            self.last_inventory = Some(inventory.clone());
            self.last_inventory_ms = time_ms;
            Some(inventory)
        };
        Batch {
            version: PROTOCOL_VERSION,
            agent: self.agent.clone(),
            stream,
            seq,
            time_ms,
            samples,
            events: std::mem::take(&mut self.pending_events),
            inventory,
        }
    }
}

/// The spool's figures as self-metrics (`agent_queue_batches` and the `queue_full` reason keep
/// their names from the in-memory queue the spool replaced).
fn push_spool_samples(stats: &SpoolStats, samples: &mut Vec<Sample>) {
    samples.push(sample(
        "agent_batches_delivered_total",
        stats.delivered_total as f64,
    ));
    samples.push(labeled(
        "agent_batches_dropped_total",
        &[("reason", "queue_full")],
        stats.dropped_batches_total as f64,
    ));
    samples.push(labeled(
        "agent_batches_dropped_total",
        &[("reason", "rejected")],
        stats.rejected_total as f64,
    ));
    samples.push(sample("agent_queue_batches", stats.batches as f64));
    samples.push(sample("agent_spool_bytes", stats.bytes as f64));
    samples.push(sample("agent_spool_batches", stats.batches as f64));
    samples.push(sample(
        "agent_spool_dropped_batches_total",
        stats.dropped_batches_total as f64,
    ));
}

/// An informational event about the agent itself (`agent_start`, `agent_stop`).
pub fn agent_event(check: &str, summary: String) -> Event {
    events::event(
        check,
        Status::Firing,
        Severity::Info,
        summary,
        Labels::new(),
        now_ms(),
    )
}

/// The `data_loss` event for what the spool dropped at its cap.
pub fn data_loss_event(dropped: &Dropped, max_bytes: u64) -> Event {
    events::event(
        "data_loss",
        Status::Firing,
        Severity::Major,
        format!(
            "spool full ({max_bytes} bytes): dropped {} unsent batches (seq {}-{}) with {} samples and {} events",
            dropped.batches, dropped.first_seq, dropped.last_seq, dropped.samples, dropped.events
        ),
        Labels::from([
            ("batches".to_owned(), dropped.batches.to_string()),
            ("samples".to_owned(), dropped.samples.to_string()),
            ("events".to_owned(), dropped.events.to_string()),
        ]),
        now_ms(),
    )
}

pub use crate::clock::now_ms;

/// `--once`: one full sample (metrics, one run of every probe, inventory and the events found)
/// as a batch with stream 0 and seq 0. Touches neither the state dir nor the collector (probes do
/// reach their targets). Blocks for about 250 ms so CPU usage is real, longer if a probe is slow
/// (at most its timeout).
pub fn sample_once(config: &Config) -> Result<Batch, AgentError> {
    let mut sampler = Sampler::new(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AgentError::Runtime)?;
    let context = Arc::new(ProbeContext::new(
        &config.probes,
        config.procfs_root.clone(),
    )?);
    let results = runtime.block_on(async {
        let mut handles = Vec::new();
        for (probe_idx, probe) in config.probes.iter().enumerate() {
            let probe = probe.clone();
            let context = context.clone();
            handles.push(tokio::spawn(async move {
                let mut scratch = probes::process::Scratch::default();
                let outcome = probes::run_once(&probe, &context, &mut scratch).await;
                ProbeResult {
                    probe_idx,
                    outcome,
                    time_ms: now_ms(),
                }
            }));
        }
        tokio::time::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL + Duration::from_millis(50)).await;
        let mut results = Vec::new();
        for handle in handles {
            if let Ok(result) = handle.await {
                results.push(result);
            }
        }
        results
    });
    for result in results {
        sampler.absorb_probe(result);
    }
    Ok(sampler.sample(0, 0, None, None))
}

/// Takes a sample with the next seq and spools it. A seq that cannot be persisted is never sent.
fn take_and_spool(
    sampler: &mut Sampler,
    state: &mut State,
    spool: &Spool,
    shipper: &Shipper,
    encoder: &mut transport::Encoder,
    max_bytes: u64,
) {
    let dropped = spool.take_dropped();
    if dropped.batches > 0 {
        sampler.push_event(data_loss_event(&dropped, max_bytes));
    }
    let seq = match state.next_seq() {
        Ok(seq) => seq,
        Err(error) => {
            tracing::error!(error = %DisplayChain(&error), "cannot persist the next seq: skipping this sample");
            return;
        }
    };
    let stats = spool.stats();
    let batch = sampler.sample(
        state.stream(),
        seq,
        shipper.peer_clock().skew_ms(),
        Some(&stats),
    );
    let n_samples = batch.samples.len();
    match transport::enqueue_with(spool, encoder, &batch) {
        Ok(()) => tracing::debug!(seq, n_samples, "batch spooled"),
        Err(error) => {
            tracing::error!(seq, error = %DisplayChain(&error), "cannot spool the batch")
        }
    }
}

/// Runs the agent until `shutdown` completes, then flushes (see the module doc).
pub async fn run(config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    let mut state = State::open(&config.state_dir)?;
    let spool = Spool::open(&config.state_dir, config.spool_max_bytes)?;
    state.skip_to(spool.last_seq());
    let shipper = Shipper::new(&TransportOptions {
        tls: config.tls.clone(),
        ..TransportOptions::new(config.collector.clone(), config.token.clone())
    })?;
    let mut sampler = Sampler::new(config)?;
    sampler.push_event(agent_event(
        "agent_start",
        format!("vigil-agent {VERSION} started"),
    ));
    if let Ok(boot_time) = sysinfo::System::boot_time()
        && let Some(event) =
            events::reboot::detect(state.swap_boot_time(boot_time), boot_time, now_ms())
    {
        sampler.push_event(event);
    }
    let context = Arc::new(ProbeContext::new(
        &config.probes,
        config.procfs_root.clone(),
    )?);
    let (mut probe_results, probe_tasks) = probes::spawn_all(&config.probes, context);
    let mut probes_open = !config.probes.is_empty();
    tracing::info!(
        host_id = %config.host_id,
        collector = %config.collector,
        interval_ms = config.interval.as_millis() as u64,
        stream = state.stream(),
        last_seq = state.last_seq(),
        n_probes = config.probes.len(),
        n_logs = config.logs.len(),
        "vigil-agent started"
    );

    let mut encoder = transport::Encoder::new();
    let shipping = shipper.run(&spool);
    tokio::pin!(shipping, shutdown);
    let mut shipping_done = false;

    let warm_up = tokio::time::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    tokio::pin!(warm_up);
    let mut stopping = false;
    let mut warm = false;
    while !stopping && !warm {
        tokio::select! {
            () = &mut shutdown => stopping = true,
            () = &mut warm_up => warm = true,
            result = probe_results.recv(), if probes_open => match result {
                Some(result) => sampler.absorb_probe(result),
                None => probes_open = false,
            },
            () = &mut shipping, if !shipping_done => shipping_done = true,
        }
    }

    let mut interval = tokio::time::interval(config.interval);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    while !stopping {
        tokio::select! {
            () = &mut shutdown => stopping = true,
            _ = interval.tick() => take_and_spool(&mut sampler, &mut state, &spool, &shipper, &mut encoder, config.spool_max_bytes),
            result = probe_results.recv(), if probes_open => match result {
                Some(result) => sampler.absorb_probe(result),
                None => probes_open = false,
            },
            () = &mut shipping, if !shipping_done => shipping_done = true,
        }
    }

    for task in &probe_tasks {
        task.abort();
    }
    tracing::info!("shutting down: sending the final batch");
    sampler.push_event(agent_event(
        "agent_stop",
        format!("vigil-agent {VERSION} stopped"),
    ));
    take_and_spool(
        &mut sampler,
        &mut state,
        &spool,
        &shipper,
        &mut encoder,
        config.spool_max_bytes,
    );
    spool.close();
    if !shipping_done
        && tokio::time::timeout(SHUTDOWN_DEADLINE, &mut shipping)
            .await
            .is_err()
    {
        tracing::warn!(
            unsent = spool.stats().batches,
            deadline_ms = SHUTDOWN_DEADLINE.as_millis() as u64,
            "shutdown deadline passed: unsent batches stay in the spool for the next start"
        );
    } else {
        tracing::info!(
            delivered_total = spool.stats().delivered_total,
            "all batches sent"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    fn config() -> Config {
        Config::from_raw(RawConfig::default(), Some("test-host".into())).unwrap()
    }

    #[test]
    fn sampler_sends_inventory_first_then_only_when_changed() {
        let mut sampler = Sampler::new(&config()).unwrap();
        let first = sampler.sample(9, 1, None, None);
        assert!(first.inventory.is_some());
        assert_eq!(first.stream, 9);
        assert_eq!(first.seq, 1);
        assert_eq!(first.version, PROTOCOL_VERSION);
        assert_eq!(first.agent.host_id, "test-host");
        let second = sampler.sample(9, 2, None, None);
        assert!(second.inventory.is_none());
        sampler.depends_on.push("db-1".into());
        let third = sampler.sample(9, 3, None, None);
        assert_eq!(third.inventory.unwrap().depends_on, vec!["db-1"]);
        // Unchanged but stale: resent.
        sampler.last_inventory_ms -= INVENTORY_REFRESH_MS;
        assert!(sampler.sample(9, 4, None, None).inventory.is_some());
        assert!(sampler.sample(9, 5, None, None).inventory.is_none());
    }

    #[test]
    fn sampler_drains_pending_events_once() {
        let mut sampler = Sampler::new(&config()).unwrap();
        sampler.push_event(agent_event("agent_start", "x".into()));
        assert_eq!(sampler.sample(1, 1, None, None).events.len(), 1);
        assert!(sampler.sample(1, 2, None, None).events.is_empty());
    }

    #[test]
    fn sample_once_has_the_required_samples_and_a_valid_shape() {
        let batch = sample_once(&config()).unwrap();
        let names: Vec<&str> = batch.samples.iter().map(|s| s.name.as_str()).collect();
        for expected in [
            "cpu_usage_ratio",
            "memory_total_bytes",
            "memory_used_bytes",
            "filesystem_size_bytes",
            "load1",
        ] {
            assert!(names.contains(&expected), "missing {expected}");
        }
        assert!(batch.inventory.is_some());
        // Apart from seq 0 (never sent), the batch passes the collector's validation.
        let mut sendable = batch.clone();
        sendable.seq = 1;
        sendable
            .validate(&vigil_shared::wire::Limits::default())
            .unwrap();
    }
}
