//! [`Tracker`]: the last recorded up/down state of every probe and the hosts with a history,
//! kept in memory by the ingest path so that a batch costs no store round trip: only a batch
//! whose probe changed state (or a host's first batch) carries [`StateChange`]s, which ride on
//! the batch's own write (`pipeline::HostWrite::states`). Seeded from the store at start.
//!
//! A probe its agent stopped reporting for [`PROBE_GONE_AFTER_MS`] (removed from the agent's
//! config) gets an unknown row, so a probe removed while down does not count as down forever.

use crate::store::StateChange;
use std::collections::HashMap;
use std::sync::Mutex;

/// `kind` of a host's rows.
pub const HOST: &str = "host";
/// `kind` of a probe's rows.
pub const PROBE: &str = "probe";

/// How long a probe missing from its host's batches keeps its last state before it is recorded
/// as unknown. An agent reports every probe that has run in every batch, and runs them at
/// start, so only a probe taken out of its config stays missing this long.
pub const PROBE_GONE_AFTER_MS: i64 = 5 * 60_000;

/// One probe as last recorded.
struct ProbeEntry {
    /// The recorded state (`None`: recorded as no longer reported).
    up: Option<bool>,
    /// When a batch last carried it, Unix ms.
    reported_ms: i64,
}

/// Per host with a recorded row: its probes.
#[derive(Default)]
struct Known {
    hosts: HashMap<String, HashMap<String, ProbeEntry>>,
}

/// The last recorded state per probe, and which hosts have a history.
#[derive(Default)]
pub struct Tracker {
    known: Mutex<Known>,
}

/// A row of the history.
fn row(
    kind: &str,
    host: &str,
    probe: &str,
    service: &str,
    at_ms: i64,
    up: Option<bool>,
) -> StateChange {
    StateChange {
        kind: kind.to_owned(),
        host: host.to_owned(),
        probe: probe.to_owned(),
        service: service.to_owned(),
        at_ms,
        up,
    }
}

impl Tracker {
    /// A tracker that knows what the store recorded (each subject's latest change), at
    /// `now_ms` (every known probe counts as just reported).
    pub fn seeded(changes: &[StateChange], now_ms: i64) -> Tracker {
        let tracker = Tracker::default();
        let mut latest: Vec<&StateChange> = changes.iter().collect();
        latest.sort_by_key(|change| change.at_ms);
        tracker.apply(latest.into_iter(), now_ms);
        tracker
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        // Every update is a plain insert or removal: a panic elsewhere cannot leave it half-done.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What a batch from `host` with these `probe_up` values (probe name, up) changes, at
    /// `now_ms`: the host's first row ("up") when it has none, one row per probe whose state
    /// differs from the last recorded one (or that was never recorded), and an unknown row per
    /// probe missing for [`PROBE_GONE_AFTER_MS`]. Changes nothing here: call
    /// [`Tracker::apply`] and [`Tracker::reported`] once they are committed.
    pub fn changes<'a>(
        &self,
        host: &str,
        service: &str,
        probes: impl Iterator<Item = (&'a str, bool)> + Clone,
        now_ms: i64,
    ) -> Vec<StateChange> {
        let known = self.lock();
        let entries = known.hosts.get(host);
        let mut changes = Vec::new();
        if entries.is_none() {
            changes.push(row(HOST, host, "", service, now_ms, Some(true)));
        }
        for (probe, up) in probes.clone() {
            let recorded = entries
                .and_then(|entries| entries.get(probe))
                .and_then(|entry| entry.up);
            if recorded != Some(up) && !changes.iter().any(|change| change.probe == probe) {
                changes.push(row(PROBE, host, probe, service, now_ms, Some(up)));
            }
        }
        for (probe, entry) in entries.into_iter().flatten() {
            if entry.up.is_some()
                && now_ms.saturating_sub(entry.reported_ms) > PROBE_GONE_AFTER_MS
                && !probes.clone().any(|(reported, _)| reported == probe)
            {
                changes.push(row(PROBE, host, probe, service, now_ms, None));
            }
        }
        changes
    }

    /// Notes that a committed batch from `host` carried these probes at `now_ms`.
    pub fn reported<'a>(
        &self,
        host: &str,
        probes: impl Iterator<Item = (&'a str, bool)>,
        now_ms: i64,
    ) {
        let mut known = self.lock();
        if let Some(entries) = known.hosts.get_mut(host) {
            for (probe, _) in probes {
                if let Some(entry) = entries.get_mut(probe) {
                    entry.reported_ms = now_ms;
                }
            }
        }
    }

    /// Forgets what is known of `host`, so its next batch records its state afresh: for a host
    /// that was silent or reported to another collector (with a shared store another collector
    /// may have recorded changes since), a repeated state is harmless, a missed one is not.
    pub fn forget(&self, host: &str) {
        self.lock().hosts.remove(host);
    }

    /// Takes committed changes (in time order) as the last recorded states, at `now_ms`.
    pub fn apply<'a>(&self, changes: impl Iterator<Item = &'a StateChange>, now_ms: i64) {
        let mut known = self.lock();
        for change in changes {
            let entries = known.hosts.entry(change.host.clone()).or_default();
            if change.kind == PROBE {
                entries.insert(
                    change.probe.clone(),
                    ProbeEntry {
                        up: change.up,
                        reported_ms: now_ms,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(http: bool) -> impl Iterator<Item = (&'static str, bool)> + Clone {
        [("http", http), ("tcp", false)].into_iter()
    }

    #[test]
    fn a_batch_records_the_first_host_row_and_only_probes_that_changed() {
        let tracker = Tracker::default();
        let first = tracker.changes("web-1", "checkout", both(true), 10);
        assert_eq!(
            first
                .iter()
                .map(|c| (c.kind.as_str(), c.probe.as_str(), c.up))
                .collect::<Vec<_>>(),
            vec![
                ("host", "", Some(true)),
                ("probe", "http", Some(true)),
                ("probe", "tcp", Some(false))
            ]
        );
        assert!(
            first
                .iter()
                .all(|c| c.service == "checkout" && c.at_ms == 10)
        );
        // Not applied (the write failed): the same changes again.
        assert_eq!(
            tracker.changes("web-1", "checkout", both(true), 11).len(),
            3
        );
        tracker.apply(first.iter(), 10);
        assert!(
            tracker
                .changes("web-1", "checkout", both(true), 12)
                .is_empty()
        );
        let flipped = tracker.changes("web-1", "checkout", both(false), 13);
        assert_eq!(flipped.len(), 1);
        assert_eq!(
            (flipped[0].probe.as_str(), flipped[0].up),
            ("http", Some(false))
        );
        // Forgotten (silent, or back from another collector): everything is recorded again.
        tracker.forget("web-1");
        assert_eq!(
            tracker.changes("web-1", "checkout", both(true), 14).len(),
            3
        );
    }

    #[test]
    fn a_probe_missing_from_its_batches_becomes_unknown_after_a_while() {
        let tracker = Tracker::default();
        let first = tracker.changes("web-1", "", both(false), 0);
        tracker.apply(first.iter(), 0);
        // `http` taken out of the agent's config: `tcp` alone is reported from now on.
        let tcp_only = || [("tcp", false)].into_iter();
        let minute = 60_000;
        for at in [minute, 4 * minute] {
            assert!(
                tracker.changes("web-1", "", tcp_only(), at).is_empty(),
                "at {at}"
            );
            tracker.reported("web-1", tcp_only(), at);
        }
        let gone = tracker.changes("web-1", "", tcp_only(), 6 * minute);
        assert_eq!(
            gone.iter()
                .map(|c| (c.probe.as_str(), c.up))
                .collect::<Vec<_>>(),
            vec![("http", None)]
        );
        tracker.apply(gone.iter(), 6 * minute);
        assert!(
            tracker
                .changes("web-1", "", tcp_only(), 7 * minute)
                .is_empty(),
            "recorded once"
        );
        // Back in the config: recorded at once.
        assert_eq!(
            tracker.changes("web-1", "", both(true), 8 * minute).len(),
            1
        );
    }

    #[test]
    fn a_seeded_tracker_continues_from_the_latest_stored_state() {
        let stored =
            |kind: &str, probe: &str, at_ms, up| row(kind, "web-1", probe, "", at_ms, Some(up));
        let tracker = Tracker::seeded(
            &[
                stored("probe", "http", 20, false),
                stored("host", "", 5, true),
                stored("probe", "http", 10, true),
            ],
            30,
        );
        let http = |up| [("http", up)].into_iter();
        assert!(tracker.changes("web-1", "", http(false), 30).is_empty());
        assert_eq!(tracker.changes("web-1", "", http(true), 30).len(), 1);
    }
}
