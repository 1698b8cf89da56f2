//! The sampler: the agent's only orchestrator. Each tick it runs the collectors, adds pending
//! events and the inventory (when it changed), stamps the batch with the next `seq` from the
//! state and hands it to the transport queue. It also owns the tick loop, the shutdown sequence
//! and the `--once` sample.
//!
//! # Lifecycle of [`run`]
//!
//! 1. Open the state (stream, last seq), build the HTTP client and the collectors (the first CPU
//!    refresh happens here), queue an `agent_start` event.
//! 2. Wait [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`] so the first CPU usage is real, then tick on a
//!    tokio `interval` (`MissedTickBehavior::Skip`: a stalled host does not get a burst of catch-up
//!    samples) while the shipper sends queued batches concurrently, on the same task.
//! 3. On shutdown: stop ticking, take a final batch carrying an `agent_stop` event, close the queue
//!    and give the shipper [`SHUTDOWN_DEADLINE`] to deliver everything; log what is left.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use vigil_shared::wire::{AgentInfo, Batch, Event, Inventory, PROTOCOL_VERSION, Sample};
use vigil_shared::{Labels, Severity, Status};

use crate::AgentError;
use crate::collectors::{Collectors, DisplayChain, labeled, sample};
use crate::config::Config;
use crate::state::State;
use crate::transport::{Queue, QueueLimits, Shipper, TransportOptions};

/// How long the final flush may take after SIGTERM/SIGINT.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// The inventory is resent at least this often (ms) even when unchanged.
pub const INVENTORY_REFRESH_MS: i64 = 3_600_000;
/// The agent's version, as sent in `agent.version` and the inventory.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds batches from the collectors.
pub struct Sampler {
    agent: AgentInfo,
    collectors: Collectors,
    depends_on: Vec<String>,
    last_inventory: Option<Inventory>,
    last_inventory_ms: i64,
    pending_events: Vec<Event>,
    samples_hint: usize,
}

impl Sampler {
    /// Creates the collectors (first CPU refresh included).
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
        })
    }

    /// Queues an event for the next batch.
    pub fn push_event(&mut self, event: Event) {
        self.pending_events.push(event);
    }

    /// Takes one sample as a batch with `stream` and `seq`. The inventory is included when it
    /// differs from the last one included (so always in the first batch). With a `queue`, the
    /// transport's counters are added as samples.
    pub fn sample(&mut self, stream: u64, seq: u64, queue: Option<&Queue>) -> Batch {
        let time_ms = now_ms();
        let mut samples = Vec::with_capacity(self.samples_hint);
        self.collectors.collect(&mut samples);
        if let Some(queue) = queue {
            push_queue_samples(queue, &mut samples);
        }
        self.samples_hint = samples.len();
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

/// The transport's counters as samples.
fn push_queue_samples(queue: &Queue, samples: &mut Vec<Sample>) {
    let stats = queue.stats();
    samples.push(sample(
        "agent_batches_delivered_total",
        stats.delivered.load(Ordering::Relaxed) as f64,
    ));
    samples.push(labeled(
        "agent_batches_dropped_total",
        &[("reason", "queue_full")],
        stats.dropped_full.load(Ordering::Relaxed) as f64,
    ));
    samples.push(labeled(
        "agent_batches_dropped_total",
        &[("reason", "rejected")],
        stats.rejected.load(Ordering::Relaxed) as f64,
    ));
    samples.push(sample("agent_queue_batches", queue.len() as f64));
}

/// An informational event about the agent itself (`agent_start`, `agent_stop`).
pub fn agent_event(check: &str, summary: String) -> Event {
    Event {
        check: check.to_owned(),
        status: Status::Firing,
        severity: Severity::Info,
        summary,
        service: None,
        labels: Labels::new(),
        time_ms: now_ms(),
        dedup_key: None,
    }
}

/// Now, in Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `--once`: one full sample (metrics and inventory) as a batch with stream 0 and seq 0. Touches
/// neither the state dir nor the network. Blocks for about 250 ms so CPU usage is real.
pub fn sample_once(config: &Config) -> Result<Batch, AgentError> {
    let mut sampler = Sampler::new(config)?;
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL + Duration::from_millis(50));
    Ok(sampler.sample(0, 0, None))
}

/// Takes a sample with the next seq and queues it. A seq that cannot be persisted is never sent.
fn take_and_queue(sampler: &mut Sampler, state: &mut State, queue: &Queue) {
    let seq = match state.next_seq() {
        Ok(seq) => seq,
        Err(error) => {
            tracing::error!(error = %DisplayChain(&error), "cannot persist the next seq: skipping this sample");
            return;
        }
    };
    let batch = sampler.sample(state.stream(), seq, Some(queue));
    let n_samples = batch.samples.len();
    match queue.push(&batch) {
        Ok(()) => tracing::debug!(seq, n_samples, "batch queued"),
        Err(error) => {
            tracing::error!(seq, error = %DisplayChain(&error), "cannot queue the batch")
        }
    }
}

/// Runs the agent until `shutdown` completes, then flushes (see the module doc).
pub async fn run(config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    let mut state = State::open(&config.state_dir)?;
    let shipper = Shipper::new(&TransportOptions::new(
        config.collector.clone(),
        config.token.clone(),
    ))?;
    let queue = Queue::new(QueueLimits::default());
    let mut sampler = Sampler::new(config)?;
    sampler.push_event(agent_event(
        "agent_start",
        format!("vigil-agent {VERSION} started"),
    ));
    tracing::info!(
        host_id = %config.host_id,
        collector = %config.collector,
        interval_ms = config.interval.as_millis() as u64,
        stream = state.stream(),
        last_seq = state.last_seq(),
        "vigil-agent started"
    );

    let shipping = shipper.run(&queue);
    tokio::pin!(shipping, shutdown);
    let mut shipping_done = false;

    let warm_up = tokio::time::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    tokio::pin!(warm_up);
    let mut stopping = tokio::select! {
        () = &mut shutdown => true,
        () = &mut warm_up => false,
    };

    let mut interval = tokio::time::interval(config.interval);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    while !stopping {
        tokio::select! {
            () = &mut shutdown => stopping = true,
            _ = interval.tick() => take_and_queue(&mut sampler, &mut state, &queue),
            () = &mut shipping, if !shipping_done => shipping_done = true,
        }
    }

    tracing::info!("shutting down: sending the final batch");
    sampler.push_event(agent_event(
        "agent_stop",
        format!("vigil-agent {VERSION} stopped"),
    ));
    take_and_queue(&mut sampler, &mut state, &queue);
    queue.close();
    if !shipping_done
        && tokio::time::timeout(SHUTDOWN_DEADLINE, &mut shipping)
            .await
            .is_err()
    {
        tracing::warn!(
            undelivered = queue.len(),
            deadline_ms = SHUTDOWN_DEADLINE.as_millis() as u64,
            "shutdown deadline passed: batches left undelivered"
        );
    } else {
        tracing::info!(
            delivered_total = queue.stats().delivered.load(Ordering::Relaxed),
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
        let first = sampler.sample(9, 1, None);
        assert!(first.inventory.is_some());
        assert_eq!(first.stream, 9);
        assert_eq!(first.seq, 1);
        assert_eq!(first.version, PROTOCOL_VERSION);
        assert_eq!(first.agent.host_id, "test-host");
        let second = sampler.sample(9, 2, None);
        assert!(second.inventory.is_none());
        sampler.depends_on.push("db-1".into());
        let third = sampler.sample(9, 3, None);
        assert_eq!(third.inventory.unwrap().depends_on, vec!["db-1"]);
        // Unchanged but stale: resent.
        sampler.last_inventory_ms -= INVENTORY_REFRESH_MS;
        assert!(sampler.sample(9, 4, None).inventory.is_some());
        assert!(sampler.sample(9, 5, None).inventory.is_none());
    }

    #[test]
    fn sampler_drains_pending_events_once() {
        let mut sampler = Sampler::new(&config()).unwrap();
        sampler.push_event(agent_event("agent_start", "x".into()));
        assert_eq!(sampler.sample(1, 1, None).events.len(), 1);
        assert!(sampler.sample(1, 2, None).events.is_empty());
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
