//! The time-driven producers of writes, each run only while this collector leads (see
//! `leader.rs`) and each writing under its leadership's epoch:
//!
//! - the heartbeat: hosts whose agent went silent for `--host-down-after` get a `host_down`
//!   event, and a resolving one when they report again. With an embedded store the hosts are the
//!   in-memory [`Hosts`]; with a shared store they are the store's host rows, which every
//!   collector updates with each batch it accepts;
//! - the incident tick (SLA breaches, settling, closing, event-id retention), once a second;
//! - the service levels: the availability report for `/metrics` (on every collector) and, while
//!   leading, the SLOs' burn-rate events (every 30 s, more often for burn windows under 1 min).
//!
//! The heartbeat also records each host's down and up changes in the availability history
//! (`Write::States`, with its events in one fenced transaction).
//!
//! Also the forwarder of the collector's own rule events (from its agents' batches), which runs on
//! every collector: rule events are about the agents that report here.

use super::leader::Leadership;
use super::{Pipeline, Write, WriteError};
use crate::clock::Clock;
use crate::hosts::Hosts;
use crate::incidents::{EventIn, State};
use crate::rules;
use crate::store::{IncidentFilter, Reader};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use vigil_shared::labels::Labels;

/// Where the heartbeat reads liveness from.
pub enum HeartbeatSource {
    /// The collector's own hosts (embedded store). `down` holds the hosts with an open host-down
    /// incident at start; such a host counts as back only once a batch arrives after
    /// `started_ms` (restored hosts get a grace period, which is not a sign of life).
    Memory {
        /// The hosts.
        hosts: Arc<Hosts>,
        /// Hosts down at start.
        down: HashSet<String>,
        /// When the collector started, Unix ms.
        started_ms: i64,
    },
    /// A shared store's host rows.
    Store {
        /// The store's reader.
        reader: Arc<dyn Reader>,
        /// The heartbeat timeout, ms.
        down_after_ms: i64,
    },
}

/// One host's liveness at a sweep.
struct Seen {
    host_id: String,
    labels: Labels,
    last_seen_ms: i64,
    up: bool,
    /// A batch arrived since the sweeper started watching (so "up" is a sign of life).
    fresh: bool,
}

/// Turns up → down and down → up transitions into `host_down` events, written as the leader.
pub async fn heartbeat(
    pipeline: Pipeline,
    clock: Arc<dyn Clock>,
    mut leadership: Leadership,
    source: HeartbeatSource,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut down, memory_started_ms) = match &source {
        HeartbeatSource::Memory {
            down, started_ms, ..
        } => (down.clone(), *started_ms),
        HeartbeatSource::Store { .. } => (HashSet::new(), 0),
    };
    // For a shared store: the epoch whose view `down` is, and when it started leading.
    let mut view: Option<(i64, i64)> = None;
    loop {
        ticker.tick().await;
        let Some(epoch) = *leadership.borrow_and_update() else {
            view = None;
            continue;
        };
        let now_ms = clock.now_ms();
        let seen = match &source {
            HeartbeatSource::Memory { hosts, .. } => {
                let down_after_ms = hosts.down_after_ms();
                hosts.read(|all| {
                    all.values()
                        .map(|host| Seen {
                            host_id: host.host_id.clone(),
                            labels: host.labels.clone(),
                            last_seen_ms: host.last_seen_ms,
                            up: host.is_up(now_ms, down_after_ms),
                            fresh: host.last_seen_ms >= memory_started_ms,
                        })
                        .collect::<Vec<_>>()
                })
            }
            HeartbeatSource::Store {
                reader,
                down_after_ms,
            } => {
                if view.is_none_or(|(seen_epoch, _)| seen_epoch != epoch) {
                    // A new leadership: who is down is what the store's incidents say.
                    match hosts_down(Arc::clone(reader)).await {
                        Ok(hosts) => {
                            down = hosts;
                            view = Some((epoch, now_ms));
                        }
                        Err(error) => {
                            tracing::warn!(error = %error, "cannot read open host-down incidents");
                            continue;
                        }
                    }
                }
                let lead_start_ms = view.map_or(now_ms, |(_, since)| since);
                let reader = Arc::clone(reader);
                let rows = match tokio::task::spawn_blocking(move || reader.heartbeats()).await {
                    Ok(Ok(rows)) => rows,
                    Ok(Err(error)) => {
                        tracing::warn!(error = %error, "cannot read host heartbeats");
                        continue;
                    }
                    Err(_) => continue,
                };
                // When nothing at all was received lately, the collectors were down, not the
                // fleet: every host gets the timeout again from now.
                let newest = rows.iter().map(|row| row.last_seen_ms).max().unwrap_or(0);
                let grace_ms = if now_ms.saturating_sub(newest) > *down_after_ms {
                    lead_start_ms
                } else {
                    0
                };
                rows.into_iter()
                    .map(|row| Seen {
                        up: now_ms.saturating_sub(row.last_seen_ms.max(grace_ms)) <= *down_after_ms,
                        fresh: row.last_seen_ms >= lead_start_ms,
                        host_id: row.host_id,
                        labels: row.labels,
                        last_seen_ms: row.last_seen_ms,
                    })
                    .collect()
            }
        };
        let mut events = Vec::new();
        let mut states = Vec::new();
        let mut newly_down = Vec::new();
        let mut back = Vec::new();
        for host in seen {
            if !host.up && !down.contains(&host.host_id) {
                let last_seen = crate::clock::rfc3339(host.last_seen_ms);
                tracing::warn!(host = %host.host_id, %last_seen, "host down: agent silent");
                events.push(rules::host_down_event(
                    &host.host_id,
                    &host.labels,
                    true,
                    format!("no data from the agent since {last_seen}"),
                ));
                states.push(host_state(&host, now_ms, false));
                newly_down.push(host.host_id);
            } else if host.up && host.fresh && down.contains(&host.host_id) {
                tracing::info!(host = %host.host_id, "host up again");
                events.push(rules::host_down_event(
                    &host.host_id,
                    &host.labels,
                    false,
                    "the agent reports again".to_owned(),
                ));
                // Up again from the batch that brought it back.
                states.push(host_state(&host, host.last_seen_ms.max(0), true));
                back.push(host.host_id);
            }
        }
        if events.is_empty() {
            continue;
        }
        // The history and the incidents in one transaction.
        let write = Write::States {
            changes: states,
            events,
        };
        match write_as_leader(&pipeline, epoch, write).await {
            Ok(()) => {
                down.extend(newly_down);
                for host in back {
                    down.remove(&host);
                }
            }
            Err(WriteError::Closed) => return,
            // Not written: the same transitions are found again at the next sweep (or by the
            // next leader).
            Err(error) => tracing::warn!(error = %error, "host-down events not recorded"),
        }
    }
}

/// A host's up/down change for the availability history.
fn host_state(host: &Seen, at_ms: i64, up: bool) -> crate::store::StateChange {
    crate::store::StateChange {
        kind: crate::availability::tracker::HOST.to_owned(),
        host: host.host_id.clone(),
        probe: String::new(),
        service: host.labels.get("service").cloned().unwrap_or_default(),
        at_ms,
        up: Some(up),
    }
}

/// The hosts with an open or acknowledged host-down incident.
async fn hosts_down(reader: Arc<dyn Reader>) -> Result<HashSet<String>, crate::store::StoreError> {
    let incidents = tokio::task::spawn_blocking(move || {
        reader.list_incidents(&IncidentFilter {
            states: vec![State::Open, State::Acknowledged],
            limit: 1_000_000,
            ..IncidentFilter::default()
        })
    })
    .await
    .map_err(|_| crate::store::StoreError::Unavailable {
        reason: "the reader task failed".to_owned(),
    })??;
    Ok(incidents
        .into_iter()
        .filter(|incident| {
            incident.source.as_deref() == Some(rules::SOURCE) && incident.check == rules::HOST_DOWN
        })
        .filter_map(|incident| incident.host)
        .collect())
}

/// Writes `write` under `epoch`, retrying while the store is unreachable and the epoch leads.
async fn write_as_leader(pipeline: &Pipeline, epoch: i64, write: Write) -> Result<(), WriteError> {
    let fenced = Write::Fenced {
        epoch,
        write: Box::new(write),
    };
    let mut attempt = 0u32;
    loop {
        match pipeline.write_waiting(fenced.clone()).await {
            Ok(_) => return Ok(()),
            Err(WriteError::Store(error))
                if matches!(*error, crate::store::StoreError::Fenced { .. }) =>
            {
                return Err(WriteError::Store(error));
            }
            Err(WriteError::Closed) => return Err(WriteError::Closed),
            Err(error) if attempt >= 5 => return Err(error),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200) * attempt).await;
            }
        }
    }
}

/// Drives time-based incident changes once a second while leading.
pub async fn tick(pipeline: Pipeline, mut leadership: Leadership) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let Some(epoch) = *leadership.borrow_and_update() else {
            continue;
        };
        let fenced = Write::Fenced {
            epoch,
            write: Box::new(Write::Tick),
        };
        match pipeline.write_waiting(fenced).await {
            Ok(_) => {}
            Err(WriteError::Closed) => return,
            Err(error) => tracing::warn!(error = %error, "incident tick failed"),
        }
    }
}

/// Writes the collector's own rule events in order, waiting for queue space rather than
/// dropping; retries a failed commit after a pause.
pub async fn forward_internal_events(
    pipeline: Pipeline,
    mut feed: mpsc::UnboundedReceiver<EventIn>,
) {
    let mut batch = Vec::new();
    while feed.recv_many(&mut batch, 1_000).await > 0 {
        let events = std::mem::take(&mut batch);
        let mut attempt = 0u32;
        loop {
            match pipeline.write_waiting(Write::Events(events.clone())).await {
                Ok(_) => break,
                Err(WriteError::Closed) => return,
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

/// How often [`service_levels`] runs: every 30 s, or twice per shortest burn-rate window when
/// one is shorter than a minute (tests, short SLOs), at least once a second.
pub fn service_level_interval(slos: &[crate::availability::slo::Slo]) -> Duration {
    let shortest_ms = slos
        .iter()
        .flat_map(|slo| slo.burn.iter().map(|alert| alert.short_ms))
        .min()
        .unwrap_or(i64::MAX);
    Duration::from_millis((shortest_ms / 2).clamp(1_000, 30_000) as u64)
}

/// Computes the availability report from the store's history on every collector (for
/// `/metrics`), and while leading turns each SLO's burn-rate alerts into events: firing when an
/// alert starts (or its severity changes), resolved when none fires. After taking the lead it
/// sends each SLO's current state once (a resolve with nothing open changes nothing).
pub async fn service_levels(
    pipeline: Pipeline,
    clock: Arc<dyn Clock>,
    mut leadership: Leadership,
    reader: Arc<dyn Reader>,
    slos: Arc<Vec<crate::availability::slo::Slo>>,
    metrics: Arc<crate::export::Metrics>,
) {
    let mut ticker = tokio::time::interval(service_level_interval(&slos));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Per SLO: the severity last written while firing, `None` when resolved; empty after a
    // change of leadership.
    let mut sent: std::collections::HashMap<String, Option<vigil_shared::event::Severity>> =
        std::collections::HashMap::new();
    let mut sent_epoch = None;
    loop {
        ticker.tick().await;
        let now_ms = clock.now_ms();
        let since_ms = now_ms.saturating_sub(crate::availability::history_ms(&slos));
        let history_reader = Arc::clone(&reader);
        let changes =
            match tokio::task::spawn_blocking(move || history_reader.state_changes(since_ms)).await
            {
                Ok(Ok(changes)) => changes,
                Ok(Err(error)) => {
                    tracing::warn!(error = %error, "cannot read the availability history");
                    continue;
                }
                Err(_) => continue,
            };
        let report = Arc::new(crate::availability::report(&changes, &slos, now_ms));
        metrics.set_availability(Arc::clone(&report));
        let epoch = *leadership.borrow_and_update();
        let Some(epoch) = epoch else {
            sent_epoch = None;
            continue;
        };
        if sent_epoch != Some(epoch) {
            sent.clear();
            sent_epoch = Some(epoch);
        }
        let mut events = Vec::new();
        let mut now_sent = Vec::new();
        for slo_report in &report.slos {
            let event = crate::availability::slo::burn_event(&slo_report.slo, &slo_report.status);
            let state =
                (event.status == vigil_shared::event::Status::Firing).then_some(event.severity);
            if sent.get(&slo_report.slo.name) == Some(&state) {
                continue;
            }
            if state.is_some() {
                tracing::warn!(slo = %slo_report.slo.name, summary = %event.summary, "slo burning");
            } else if sent.contains_key(&slo_report.slo.name) {
                tracing::info!(slo = %slo_report.slo.name, "slo no longer burning");
            }
            events.push(event);
            now_sent.push((slo_report.slo.name.clone(), state));
        }
        if events.is_empty() {
            continue;
        }
        match write_as_leader(&pipeline, epoch, Write::Events(events)).await {
            Ok(()) => sent.extend(now_sent),
            Err(WriteError::Closed) => return,
            Err(error) => tracing::warn!(error = %error, "slo burn events not recorded"),
        }
    }
}
