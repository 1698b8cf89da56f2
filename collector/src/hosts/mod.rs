//! The host inventory in memory: each host's identity, labels, liveness and latest samples.
//!
//! Written by ingest after the store commit, read by the API and the exporter. Liveness is derived,
//! never stored: a host is up while `now - last_seen <= host_down_after`, where a host loaded from
//! the store at start counts as seen at start (a restart must not declare the fleet down).
//!
//! **Invariant:** a series whose last sample is older than `host_down_after` is not exported, and
//! is dropped from memory on the host's next batch.

use std::collections::HashMap;
use std::sync::RwLock;
use vigil_shared::labels::Labels;
use vigil_shared::wire::{Batch, Inventory, Sample};

/// Identity of one series of a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Sample name (without `vigil_host_`).
    pub name: String,
    /// Sample labels.
    pub labels: Labels,
}

/// Latest value of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesValue {
    /// The value.
    pub value: f64,
    /// When it was taken, Unix ms (agent clock).
    pub time_ms: i64,
    /// When the collector received it, Unix ms.
    pub received_ms: i64,
}

/// One host.
#[derive(Debug, Clone)]
pub struct Host {
    /// Host id.
    pub host_id: String,
    /// OS hostname.
    pub hostname: String,
    /// Agent version.
    pub agent_version: String,
    /// Host labels.
    pub labels: Labels,
    /// First accepted batch, Unix ms.
    pub first_seen_ms: i64,
    /// Last accepted batch, Unix ms.
    pub last_seen_ms: i64,
    /// Liveness counts from here: `max(last_seen, collector start)` for hosts loaded at start.
    pub heartbeat_ms: i64,
    /// Last applied (stream, seq).
    pub position: (u64, u64),
    /// Latest inventory.
    pub inventory: Option<Inventory>,
    /// Latest value per series.
    pub series: HashMap<SeriesKey, SeriesValue>,
    /// When stale series were last pruned, Unix ms.
    last_prune_ms: i64,
}

impl Host {
    /// Whether the host counts as up at `now_ms`.
    pub fn is_up(&self, now_ms: i64, down_after_ms: i64) -> bool {
        now_ms.saturating_sub(self.heartbeat_ms) <= down_after_ms
    }
}

/// All hosts, keyed by host id.
#[derive(Debug)]
pub struct Hosts {
    hosts: RwLock<HashMap<String, Host>>,
    down_after_ms: i64,
}

impl Hosts {
    /// An empty registry with the heartbeat timeout `down_after_ms`.
    pub fn new(down_after_ms: i64) -> Hosts {
        Hosts {
            hosts: RwLock::new(HashMap::new()),
            down_after_ms,
        }
    }

    /// The heartbeat timeout in ms.
    pub fn down_after_ms(&self) -> i64 {
        self.down_after_ms
    }

    /// Adds a host loaded from the store; its heartbeat restarts at `started_ms`.
    pub fn restore(&self, record: crate::store::HostRecord, started_ms: i64) {
        let inventory = record
            .inventory_json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok());
        let host = Host {
            heartbeat_ms: record.last_seen_ms.max(started_ms),
            host_id: record.host_id.clone(),
            hostname: record.hostname,
            agent_version: record.agent_version,
            labels: record.labels,
            first_seen_ms: record.first_seen_ms,
            last_seen_ms: record.last_seen_ms,
            position: (record.stream, record.seq),
            inventory,
            series: HashMap::new(),
            last_prune_ms: started_ms,
        };
        self.write().insert(record.host_id, host);
    }

    /// Applies an accepted batch received at `now_ms`. Samples older than what is held for a
    /// series (a batch overtaken by a later one) do not replace it.
    pub fn apply(&self, batch: Batch, now_ms: i64) {
        let Batch {
            agent,
            stream,
            seq,
            time_ms,
            samples,
            inventory,
            ..
        } = batch;
        let mut hosts = self.write();
        let host = hosts.entry(agent.host_id.clone()).or_insert_with(|| Host {
            host_id: agent.host_id.clone(),
            hostname: String::new(),
            agent_version: String::new(),
            labels: Labels::new(),
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            heartbeat_ms: now_ms,
            position: (stream, 0),
            inventory: None,
            series: HashMap::new(),
            last_prune_ms: now_ms,
        });
        host.last_seen_ms = host.last_seen_ms.max(now_ms);
        host.heartbeat_ms = host.heartbeat_ms.max(now_ms);
        let newer = host.position.0 != stream || seq >= host.position.1;
        if !newer {
            return;
        }
        host.position = (stream, seq);
        host.hostname = agent.hostname;
        host.agent_version = agent.version;
        host.labels = agent.labels;
        if inventory.is_some() {
            host.inventory = inventory;
        }
        for Sample {
            name,
            labels,
            value,
            time_ms: sample_time,
        } in samples
        {
            let value = SeriesValue {
                value,
                time_ms: sample_time.unwrap_or(time_ms),
                received_ms: now_ms,
            };
            host.series.insert(SeriesKey { name, labels }, value);
        }
        if now_ms - host.last_prune_ms > self.down_after_ms {
            let horizon = now_ms - self.down_after_ms;
            host.series.retain(|_, value| value.received_ms >= horizon);
            host.last_prune_ms = now_ms;
        }
    }

    /// Marks a host as heard from (a duplicate batch still proves the agent is alive).
    pub fn touch(&self, host_id: &str, now_ms: i64) {
        if let Some(host) = self.write().get_mut(host_id) {
            host.heartbeat_ms = host.heartbeat_ms.max(now_ms);
        }
    }

    /// Calls `f` with a read view of all hosts.
    pub fn read<R>(&self, f: impl FnOnce(&HashMap<String, Host>) -> R) -> R {
        let hosts = self
            .hosts
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        f(&hosts)
    }

    /// Number of known hosts.
    pub fn len(&self) -> usize {
        self.read(HashMap::len)
    }

    /// True when no host is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Host>> {
        self.hosts
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::wire::{AgentInfo, PROTOCOL_VERSION};

    fn batch(seq: u64, value: f64) -> Batch {
        Batch {
            version: PROTOCOL_VERSION,
            agent: AgentInfo {
                host_id: "h".into(),
                hostname: "h.local".into(),
                version: "1".into(),
                labels: Labels::new(),
            },
            stream: 1,
            seq,
            time_ms: 5,
            samples: vec![Sample {
                name: "load1".into(),
                labels: Labels::new(),
                value,
                time_ms: None,
            }],
            events: vec![],
            inventory: None,
        }
    }

    fn load1(hosts: &Hosts) -> Option<f64> {
        hosts.read(|all| {
            all.get("h").and_then(|host| {
                host.series
                    .get(&SeriesKey {
                        name: "load1".into(),
                        labels: Labels::new(),
                    })
                    .map(|value| value.value)
            })
        })
    }

    #[test]
    fn later_batches_win_and_overtaken_ones_do_not() {
        let hosts = Hosts::new(60_000);
        hosts.apply(batch(2, 2.0), 100);
        hosts.apply(batch(1, 1.0), 101);
        assert_eq!(load1(&hosts), Some(2.0));
        hosts.apply(batch(3, 3.0), 102);
        assert_eq!(load1(&hosts), Some(3.0));
    }

    #[test]
    fn host_goes_down_after_the_timeout_and_restored_hosts_get_grace() {
        let hosts = Hosts::new(1_000);
        hosts.apply(batch(1, 1.0), 10_000);
        hosts.read(|all| {
            let host = &all["h"];
            assert!(host.is_up(11_000, 1_000));
            assert!(!host.is_up(11_001, 1_000));
        });
        let restored = Hosts::new(1_000);
        restored.restore(
            crate::store::HostRecord {
                host_id: "old".into(),
                hostname: String::new(),
                agent_version: String::new(),
                labels: Labels::new(),
                stream: 1,
                seq: 9,
                first_seen_ms: 0,
                last_seen_ms: 500,
                inventory_json: None,
            },
            50_000,
        );
        restored.read(|all| {
            let host = &all["old"];
            assert_eq!(host.last_seen_ms, 500);
            assert!(host.is_up(50_500, 1_000));
            assert!(!host.is_up(51_001, 1_000));
        });
    }

    #[test]
    fn stale_series_are_pruned() {
        let hosts = Hosts::new(1_000);
        hosts.apply(batch(1, 1.0), 0);
        let mut other = batch(2, 2.0);
        other.samples[0].name = "load5".into();
        hosts.apply(other, 1_500);
        assert_eq!(load1(&hosts), None);
        assert_eq!(hosts.read(|all| all["h"].series.len()), 1);
    }
}
