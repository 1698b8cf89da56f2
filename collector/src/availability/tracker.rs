//! [`Tracker`]: the last known up/down state of every probe and the hosts ever recorded, kept in
//! memory by the ingest path so that a batch costs no store round trip: only a batch whose
//! probe changed state (or a host's first batch) carries [`StateChange`]s, which ride on the
//! batch's own write (`pipeline::HostWrite::states`). Seeded from the store at start.

use crate::store::StateChange;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// `kind` of a host's rows.
pub const HOST: &str = "host";
/// `kind` of a probe's rows.
pub const PROBE: &str = "probe";

#[derive(Default)]
struct Known {
    /// (host, probe) → up.
    probes: HashMap<(String, String), bool>,
    /// Hosts with a recorded row.
    hosts: HashSet<String>,
}

/// The last recorded state per probe, and which hosts have a history.
#[derive(Default)]
pub struct Tracker {
    known: Mutex<Known>,
}

impl Tracker {
    /// A tracker that knows what the store recorded (each subject's latest change).
    pub fn seeded(changes: &[StateChange]) -> Tracker {
        let tracker = Tracker::default();
        let mut latest: Vec<&StateChange> = changes.iter().collect();
        latest.sort_by_key(|change| change.at_ms);
        tracker.apply(latest.into_iter());
        tracker
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        // Every update is a plain insert: a panic elsewhere cannot leave it half-done.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What a batch from `host` with these `probe_up` values (probe name, up) changes, at
    /// `now_ms`: the host's first row ("up") when it has none, and one row per probe whose
    /// state differs from the last recorded one (or that was never recorded). Changes nothing
    /// here: call [`Tracker::apply`] once they are committed.
    pub fn changes<'a>(
        &self,
        host: &str,
        service: &str,
        probes: impl Iterator<Item = (&'a str, bool)>,
        now_ms: i64,
    ) -> Vec<StateChange> {
        let known = self.lock();
        let mut changes = Vec::new();
        if !known.hosts.contains(host) {
            changes.push(StateChange {
                kind: HOST.to_owned(),
                host: host.to_owned(),
                probe: String::new(),
                service: service.to_owned(),
                at_ms: now_ms,
                up: true,
            });
        }
        for (probe, up) in probes {
            let unchanged = known.probes.get(&(host.to_owned(), probe.to_owned())) == Some(&up);
            if !unchanged && !changes.iter().any(|change| change.probe == probe) {
                changes.push(StateChange {
                    kind: PROBE.to_owned(),
                    host: host.to_owned(),
                    probe: probe.to_owned(),
                    service: service.to_owned(),
                    at_ms: now_ms,
                    up,
                });
            }
        }
        changes
    }

    /// Forgets what is known of `host`, so its next batch records its state afresh: for a host
    /// that was silent or reported to another collector (with a shared store another collector
    /// may have recorded changes since), a repeated state is harmless, a missed one is not.
    pub fn forget(&self, host: &str) {
        let mut known = self.lock();
        if known.hosts.remove(host) {
            known.probes.retain(|(probe_host, _), _| probe_host != host);
        }
    }

    /// Takes committed changes (in time order) as the last known states.
    pub fn apply<'a>(&self, changes: impl Iterator<Item = &'a StateChange>) {
        let mut known = self.lock();
        for change in changes {
            known.hosts.insert(change.host.clone());
            if change.kind == PROBE {
                known
                    .probes
                    .insert((change.host.clone(), change.probe.clone()), change.up);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_records_the_first_host_row_and_only_probes_that_changed() {
        let tracker = Tracker::default();
        let first = tracker.changes(
            "web-1",
            "checkout",
            [("http", true), ("tcp", false)].into_iter(),
            10,
        );
        assert_eq!(
            first
                .iter()
                .map(|c| (c.kind.as_str(), c.probe.as_str(), c.up))
                .collect::<Vec<_>>(),
            vec![
                ("host", "", true),
                ("probe", "http", true),
                ("probe", "tcp", false)
            ]
        );
        assert!(
            first
                .iter()
                .all(|c| c.service == "checkout" && c.at_ms == 10)
        );
        // Not applied (the write failed): the same changes again.
        assert_eq!(
            tracker
                .changes(
                    "web-1",
                    "checkout",
                    [("http", true), ("tcp", false)].into_iter(),
                    11
                )
                .len(),
            3
        );
        tracker.apply(first.iter());
        assert!(
            tracker
                .changes(
                    "web-1",
                    "checkout",
                    [("http", true), ("tcp", false)].into_iter(),
                    12
                )
                .is_empty()
        );
        let flipped = tracker.changes(
            "web-1",
            "checkout",
            [("http", false), ("tcp", false)].into_iter(),
            13,
        );
        assert_eq!(flipped.len(), 1);
        assert_eq!((flipped[0].probe.as_str(), flipped[0].up), ("http", false));
        // Forgotten (silent, or back from another collector): everything is recorded again.
        tracker.forget("web-1");
        assert_eq!(
            tracker
                .changes(
                    "web-1",
                    "checkout",
                    [("http", true), ("tcp", false)].into_iter(),
                    14
                )
                .len(),
            3
        );
    }

    #[test]
    fn a_seeded_tracker_continues_from_the_latest_stored_state() {
        let row = |kind: &str, probe: &str, at_ms, up| StateChange {
            kind: kind.into(),
            host: "web-1".into(),
            probe: probe.into(),
            service: String::new(),
            at_ms,
            up,
        };
        let tracker = Tracker::seeded(&[
            row("probe", "http", 20, false),
            row("host", "", 5, true),
            row("probe", "http", 10, true),
        ]);
        assert!(
            tracker
                .changes("web-1", "", [("http", false)].into_iter(), 30)
                .is_empty()
        );
        assert_eq!(
            tracker
                .changes("web-1", "", [("http", true)].into_iter(), 30)
                .len(),
            1
        );
    }
}
