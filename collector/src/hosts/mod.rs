//! The host inventory in memory: each host's identity, labels, liveness and latest samples.
//!
//! Written by ingest after the store commit, read by the API and the exporter. Liveness is derived,
//! never stored: a host is up while `now - last_seen <= host_down_after`, where a host loaded from
//! the store at start counts as seen at start (a restart must not declare the fleet down).
//!
//! **Invariant:** a series whose last sample is older than `host_down_after` is not exported, and
//! is dropped from memory on the host's next batch.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::RwLock;
use vigil_shared::labels::Labels;
use vigil_shared::wire::view::BatchView;
use vigil_shared::wire::{AgentInfo, Batch, Inventory};

/// The latest value of one series of a host, with its identity stored once.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Sample name (without `vigil_host_`).
    pub name: Box<str>,
    /// Labels, sorted by name.
    pub labels: Box<[(Box<str>, Box<str>)]>,
    /// The value.
    pub value: f64,
    /// When it was taken, Unix ms (agent clock).
    pub time_ms: i64,
    /// When the collector received it, Unix ms.
    pub received_ms: i64,
}

impl Series {
    fn is<'a>(&self, name: &str, mut labels: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
        *self.name == *name
            && self.labels.iter().all(|(k, v)| {
                labels
                    .next()
                    .is_some_and(|(name, value)| **k == *name && **v == *value)
            })
            && labels.next().is_none()
    }

    /// The labels as a map (API views).
    pub fn label_map(&self) -> Labels {
        self.labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// A hasher for keys that are already 64-bit hashes.
#[derive(Debug, Default)]
pub struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A host's series, keyed by a keyed 64-bit hash of (name, labels). Lookups of an existing series
/// allocate nothing; the rare hash collision is kept in a side list and still found exactly.
///
/// An agent sends its samples in the same order batch after batch, so the map also keeps the key
/// each position of the last batch landed on (`by_position`): a sample is first checked, exactly,
/// against the series at its position's key, and only hashed when that is not the one (a new
/// series, a changed order, a collision). Hashing every sample was most of applying a batch.
#[derive(Debug, Clone, Default)]
pub struct SeriesMap {
    by_hash: HashMap<u64, Series, BuildHasherDefault<PrehashedHasher>>,
    collided: Vec<Series>,
    by_position: Vec<u64>,
}

impl SeriesMap {
    /// Number of series.
    pub fn len(&self) -> usize {
        self.by_hash.len() + self.collided.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every series, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Series> {
        self.by_hash.values().chain(self.collided.iter())
    }

    /// The series named `name` with exactly `labels` (sorted by name).
    pub fn get(
        &self,
        hasher: &RandomState,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<&Series> {
        let hash = series_hash(hasher, name, labels.iter().copied());
        self.by_hash
            .get(&hash)
            .filter(|series| series.is(name, labels.iter().copied()))
            .or_else(|| {
                self.collided
                    .iter()
                    .find(|series| series.is(name, labels.iter().copied()))
            })
    }

    /// Sets the series of the batch's sample at `position` (see the type's doc).
    #[allow(clippy::too_many_arguments)]
    fn upsert_at<'a, L>(
        &mut self,
        hasher: &RandomState,
        position: usize,
        name: &str,
        labels: L,
        value: f64,
        time_ms: i64,
        received_ms: i64,
    ) where
        L: Iterator<Item = (&'a str, &'a str)> + Clone,
    {
        if let Some(series) = self
            .by_position
            .get(position)
            .and_then(|hash| self.by_hash.get_mut(hash))
            .filter(|series| series.is(name, labels.clone()))
        {
            series.value = value;
            series.time_ms = time_ms;
            series.received_ms = received_ms;
            return;
        }
        let hash = self.upsert(hasher, name, labels, value, time_ms, received_ms);
        if let Some(slot) = self.by_position.get_mut(position) {
            *slot = hash;
        } else if self.by_position.len() == position {
            self.by_position.push(hash);
        }
    }

    /// Sets the series `name` with `labels`; answers its hash.
    fn upsert<'a, L>(
        &mut self,
        hasher: &RandomState,
        name: &str,
        labels: L,
        value: f64,
        time_ms: i64,
        received_ms: i64,
    ) -> u64
    where
        L: Iterator<Item = (&'a str, &'a str)> + Clone,
    {
        let hash = series_hash(hasher, name, labels.clone());
        let found = match self.by_hash.get_mut(&hash) {
            Some(series) if series.is(name, labels.clone()) => Some(series),
            Some(_) => self
                .collided
                .iter_mut()
                .find(|series| series.is(name, labels.clone())),
            None => None,
        };
        if let Some(series) = found {
            series.value = value;
            series.time_ms = time_ms;
            series.received_ms = received_ms;
            return hash;
        }
        let series = Series {
            name: name.into(),
            labels: labels.map(|(k, v)| (Box::from(k), Box::from(v))).collect(),
            value,
            time_ms,
            received_ms,
        };
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => self.collided.push(series),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(series);
            }
        }
        hash
    }

    /// Forgets the positions past the batch's last sample (a shorter batch than the one before).
    fn truncate_positions(&mut self, n_samples: usize) {
        self.by_position.truncate(n_samples);
    }

    fn retain_received_since(&mut self, horizon_ms: i64) {
        self.by_hash
            .retain(|_, series| series.received_ms >= horizon_ms);
        self.collided
            .retain(|series| series.received_ms >= horizon_ms);
    }
}

/// Keyed hash of a series identity. 0xFF and 0xFE never occur in UTF-8, so they separate the
/// parts unambiguously.
fn series_hash<'a>(
    hasher: &RandomState,
    name: &str,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
) -> u64 {
    let mut state = hasher.build_hasher();
    state.write(name.as_bytes());
    for (label, value) in labels {
        state.write_u8(0xFF);
        state.write(label.as_bytes());
        state.write_u8(0xFE);
        state.write(value.as_bytes());
    }
    state.finish()
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
    /// Last applied (stream, seq); `None` until a batch's samples are applied.
    pub position: Option<(u64, u64)>,
    /// Latest inventory.
    pub inventory: Option<Inventory>,
    /// Latest value per series.
    pub series: SeriesMap,
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
    hasher: RandomState,
}

impl Hosts {
    /// An empty registry with the heartbeat timeout `down_after_ms`.
    pub fn new(down_after_ms: i64) -> Hosts {
        Hosts {
            hosts: RwLock::new(HashMap::new()),
            down_after_ms,
            hasher: RandomState::new(),
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
            position: Some((record.stream, record.seq)),
            inventory,
            series: SeriesMap::default(),
            last_prune_ms: started_ms,
        };
        self.write().insert(record.host_id, host);
    }

    /// Applies an accepted batch (decoded as a view) received at `now_ms`.
    pub fn apply_view(&self, batch: BatchView<'_>, now_ms: i64) {
        let BatchView {
            agent,
            stream,
            seq,
            time_ms,
            samples,
            inventory,
            ..
        } = batch;
        self.apply_with(agent, stream, seq, inventory, now_ms, |series, hasher| {
            for (position, sample) in samples.iter().enumerate() {
                let time = sample.time_ms.unwrap_or(time_ms);
                series.upsert_at(
                    hasher,
                    position,
                    &sample.name,
                    sample.labels.iter(),
                    sample.value,
                    time,
                    now_ms,
                );
            }
            series.truncate_positions(samples.len());
        });
    }

    /// Applies an accepted owned batch received at `now_ms` (tests and in-process producers).
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
        self.apply_with(agent, stream, seq, inventory, now_ms, |series, hasher| {
            for (position, sample) in samples.iter().enumerate() {
                let labels = sample.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                let time = sample.time_ms.unwrap_or(time_ms);
                let (name, value) = (&sample.name, sample.value);
                series.upsert_at(hasher, position, name, labels, value, time, now_ms);
            }
            series.truncate_positions(samples.len());
        });
    }

    /// The shared part of applying a batch: identity, liveness, ordering and pruning. Samples of
    /// a batch overtaken by a later one (lower seq of the same stream) are not applied.
    fn apply_with(
        &self,
        agent: AgentInfo,
        stream: u64,
        seq: u64,
        inventory: Option<Inventory>,
        now_ms: i64,
        upsert_samples: impl FnOnce(&mut SeriesMap, &RandomState),
    ) {
        let mut hosts = self.write();
        // A known host is found without copying its id.
        if !hosts.contains_key(&agent.host_id) {
            tracing::info!(host = %agent.host_id, hostname = %agent.hostname, agent_version = %agent.version, "new host");
            let host = Host {
                host_id: agent.host_id.clone(),
                hostname: String::new(),
                agent_version: String::new(),
                labels: Labels::new(),
                first_seen_ms: now_ms,
                last_seen_ms: now_ms,
                heartbeat_ms: now_ms,
                position: None,
                inventory: None,
                series: SeriesMap::default(),
                last_prune_ms: now_ms,
            };
            hosts.insert(agent.host_id.clone(), host);
        }
        let Some(host) = hosts.get_mut(&agent.host_id) else {
            return;
        };
        host.last_seen_ms = host.last_seen_ms.max(now_ms);
        host.heartbeat_ms = host.heartbeat_ms.max(now_ms);
        // The store accepted it, so it is new there; here it may have been overtaken by a later
        // batch of the same stream applied first.
        if !crate::store::is_newer(host.position, stream, seq) {
            return;
        }
        host.position = Some((stream, seq));
        if host.hostname != agent.hostname {
            host.hostname = agent.hostname;
        }
        if host.agent_version != agent.version {
            host.agent_version = agent.version;
        }
        if host.labels != agent.labels {
            host.labels = agent.labels;
        }
        if inventory.is_some() {
            host.inventory = inventory;
        }
        upsert_samples(&mut host.series, &self.hasher);
        if now_ms - host.last_prune_ms > self.down_after_ms {
            host.series
                .retain_received_since(now_ms - self.down_after_ms);
            host.last_prune_ms = now_ms;
        }
    }

    /// The series hasher (to look series up with [`SeriesMap::get`]).
    pub fn hasher(&self) -> &RandomState {
        &self.hasher
    }

    /// Marks a host as heard from (a duplicate batch still proves the agent is alive).
    pub fn touch(&self, host_id: &str, now_ms: i64) {
        if let Some(host) = self.write().get_mut(host_id) {
            host.heartbeat_ms = host.heartbeat_ms.max(now_ms);
        }
    }

    /// Removes a host; returns whether it was there.
    pub fn remove(&self, host_id: &str) -> bool {
        self.write().remove(host_id).is_some()
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
    use vigil_shared::wire::{PROTOCOL_VERSION, Sample};

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
                    .get(hosts.hasher(), "load1", &[])
                    .map(|series| series.value)
            })
        })
    }

    #[test]
    fn views_and_owned_batches_land_in_the_same_series() {
        use vigil_shared::wire::codec::{Format, decode_view, encode};
        let hosts = Hosts::new(60_000);
        let mut owned = batch(1, 1.0);
        owned.samples[0].labels =
            Labels::from([("b".into(), "2".into()), ("a".into(), "1".into())]);
        hosts.apply(owned.clone(), 100);
        owned.seq = 2;
        owned.samples[0].value = 5.0;
        let bytes = encode(&owned, Format::Msgpack).unwrap();
        let mut view = decode_view(&bytes, Format::Msgpack).unwrap();
        view.prepare(&vigil_shared::wire::Limits::default())
            .unwrap();
        hosts.apply_view(view, 101);
        hosts.read(|all| {
            let host = &all["h"];
            assert_eq!(host.series.len(), 1);
            let series = host
                .series
                .get(hosts.hasher(), "load1", &[("a", "1"), ("b", "2")])
                .unwrap();
            assert_eq!(series.value, 5.0);
            assert!(
                host.series
                    .get(hosts.hasher(), "load1", &[("a", "1")])
                    .is_none()
            );
        });
    }

    /// Plants a series named "other" (value 1) under the hash of the unlabelled series `name`,
    /// so `name` collides with it; returns that hash.
    fn plant_collision(hasher: &RandomState, map: &mut SeriesMap, name: &str) -> u64 {
        let hash = series_hash(hasher, name, std::iter::empty());
        map.by_hash.insert(
            hash,
            Series {
                name: "other".into(),
                labels: Box::new([]),
                value: 1.0,
                time_ms: 0,
                received_ms: 0,
            },
        );
        hash
    }

    #[test]
    fn colliding_hashes_still_keep_series_apart() {
        let hasher = RandomState::new();
        let mut map = SeriesMap::default();
        // Force a collision by planting a different series under the hash of "x".
        let hash = plant_collision(&hasher, &mut map, "x");
        map.upsert(&hasher, "x", std::iter::empty(), 2.0, 0, 0);
        map.upsert(&hasher, "x", std::iter::empty(), 3.0, 0, 0);
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&hasher, "x", &[]).map(|s| s.value), Some(3.0));
        assert_eq!(map.by_hash[&hash].value, 1.0);
    }

    #[test]
    fn samples_land_in_their_series_whatever_their_position() {
        let hosts = Hosts::new(60_000);
        let sample = |name: &str, mountpoint: &str, value: f64| Sample {
            name: name.into(),
            labels: Labels::from([("mountpoint".into(), mountpoint.into())]),
            value,
            time_ms: None,
        };
        let value = |name: &str, mountpoint: &str| {
            hosts.read(|all| {
                all["h"]
                    .series
                    .get(hosts.hasher(), name, &[("mountpoint", mountpoint)])
                    .map(|series| series.value)
            })
        };
        let mut next = batch(1, 0.0);
        next.samples = vec![sample("a", "/", 1.0), sample("b", "/", 2.0)];
        hosts.apply(next.clone(), 100);
        // Swapped, then one more, then a shorter batch, then one with a new series first.
        next.seq = 2;
        next.samples = vec![sample("b", "/", 3.0), sample("a", "/", 4.0)];
        hosts.apply(next.clone(), 101);
        assert_eq!((value("a", "/"), value("b", "/")), (Some(4.0), Some(3.0)));
        next.seq = 3;
        next.samples.push(sample("a", "/data", 5.0));
        hosts.apply(next.clone(), 102);
        next.seq = 4;
        next.samples = vec![sample("a", "/data", 6.0)];
        hosts.apply(next.clone(), 103);
        next.seq = 5;
        next.samples = vec![
            sample("c", "/", 7.0),
            sample("a", "/data", 8.0),
            sample("a", "/", 9.0),
        ];
        hosts.apply(next, 104);
        assert_eq!(value("a", "/"), Some(9.0));
        assert_eq!(value("b", "/"), Some(3.0));
        assert_eq!(value("a", "/data"), Some(8.0));
        assert_eq!(value("c", "/"), Some(7.0));
        assert_eq!(hosts.read(|all| all["h"].series.len()), 4);
    }

    #[test]
    fn a_position_on_a_colliding_hash_still_finds_the_series_exactly() {
        let hasher = RandomState::new();
        let mut map = SeriesMap::default();
        // "x" collides with a planted "other" under the same hash; the position of "x" points
        // at that hash, which holds "other".
        let hash = plant_collision(&hasher, &mut map, "x");
        for value in [2.0, 3.0] {
            map.upsert_at(&hasher, 0, "x", std::iter::empty(), value, 0, 0);
        }
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&hasher, "x", &[]).map(|s| s.value), Some(3.0));
        assert_eq!(map.by_hash[&hash].value, 1.0);
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
