//! The time-driven producers of writes, each run only while this collector leads (see
//! `leader.rs`) and each writing under its leadership's epoch:
//!
//! - the heartbeat: hosts whose agent went silent for `--host-down-after` get a `host_down`
//!   event, and a resolving one when they report again. With an embedded store the hosts are the
//!   in-memory [`Hosts`]; with a shared store they are the store's host rows, which every
//!   collector updates with each batch it accepts;
//! - the incident tick (SLA breaches, settling, closing, event-id retention), once a second.
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
                newly_down.push(host.host_id);
            } else if host.up && host.fresh && down.contains(&host.host_id) {
                tracing::info!(host = %host.host_id, "host up again");
                events.push(rules::host_down_event(
                    &host.host_id,
                    &host.labels,
                    false,
                    "the agent reports again".to_owned(),
                ));
                back.push(host.host_id);
            }
        }
        if events.is_empty() {
            continue;
        }
        match write_as_leader(&pipeline, epoch, Write::Events(events)).await {
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
