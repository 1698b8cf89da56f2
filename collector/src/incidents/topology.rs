//! Topology: which host depends on which (the agents' `[topology] depends_on` and the
//! collector's `[topology.depends_on]`), which incident is an outage, and attaching and
//! detaching incidents. Pure.
//!
//! - An **outage** of a host is an active incident on it that is its `host_down`, or critical.
//! - An incident whose host depends (directly or transitively) on a host with an outage is
//!   **attached** to that outage's incident (`parent_id`): it is not notified and does not count
//!   as a separate open incident. It attaches when it opens after the outage (the topology stage)
//!   and when the outage opens after it (the engine, right after the outage's stages).
//! - An incident whose host has dependencies, none of them down, is **held**: its notifications
//!   wait `topology_hold_ms` (`held_until_ms`), so that a dependency whose failure is detected a
//!   little later (heartbeats expire at slightly different times) still attaches it before
//!   anyone is paged; attaching cancels the held notifications.
//! - When a parent is no longer active its children get `topology_settle_ms` to resolve quietly;
//!   one still active then is **detached** and paged on its own (`Change::Detached`).

use super::effect::Change;
use super::lifecycle::{self, VIGIL};
use super::model::{Incident, TimelineEntry, TimelineKind};
use super::policy::Policy;
use std::collections::{HashMap, HashSet, VecDeque};
use vigil_shared::event::Severity;

/// The check of a host's heartbeat incident.
const HOST_DOWN: &str = "host_down";
/// Dependency chains are followed this deep (a cycle or a typo never loops).
const MAX_DEPTH: usize = 32;

/// Whether `incident` is an outage of its host.
pub fn is_outage(incident: &Incident) -> bool {
    incident.state.is_active()
        && incident.host.is_some()
        && (incident.check == HOST_DOWN || incident.severity == Severity::Critical)
}

/// The hosts `host` depends on, nearest first (each once, `host` itself never).
pub fn dependencies(depends_on: &HashMap<String, Vec<String>>, host: &str) -> Vec<String> {
    let mut seen: HashSet<&str> = HashSet::from([host]);
    let mut out = Vec::new();
    let mut queue: VecDeque<(&str, usize)> = VecDeque::from([(host, 0)]);
    while let Some((at, depth)) = queue.pop_front() {
        if depth >= MAX_DEPTH {
            continue;
        }
        for next in depends_on.get(at).into_iter().flatten() {
            if seen.insert(next.as_str()) {
                out.push(next.clone());
                queue.push_back((next.as_str(), depth + 1));
            }
        }
    }
    out
}

/// The hosts that depend on `host`, directly or transitively (`host` itself never).
pub fn dependents(depends_on: &HashMap<String, Vec<String>>, host: &str) -> HashSet<String> {
    let mut reverse: HashMap<&str, Vec<&str>> = HashMap::new();
    for (child, parents) in depends_on {
        for parent in parents {
            reverse
                .entry(parent.as_str())
                .or_default()
                .push(child.as_str());
        }
    }
    let mut out = HashSet::new();
    let mut queue: VecDeque<(&str, usize)> = VecDeque::from([(host, 0)]);
    while let Some((at, depth)) = queue.pop_front() {
        if depth >= MAX_DEPTH {
            continue;
        }
        for &next in reverse.get(at).into_iter().flatten() {
            if next != host && out.insert(next.to_owned()) {
                queue.push_back((next, depth + 1));
            }
        }
    }
    out
}

/// Attaches `incident` to `parent_id` (the outage of `via_host`).
pub fn attach(
    incident: &mut Incident,
    parent_id: &str,
    via_host: &str,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    incident.parent_id = Some(parent_id.to_owned());
    incident.held_until_ms = None;
    incident.settle_until_ms = None;
    incident.updated_ms = now_ms;
    lifecycle::push(
        incident,
        TimelineEntry::new(
            now_ms,
            TimelineKind::Attached,
            Some(VIGIL),
            Some(format!(
                "{via_host}, which it depends on, is down (incident {parent_id})"
            )),
        ),
        policy,
    );
    changes.push(Change::Attached);
}

/// What the tick does with an attached incident whose parent is `parent_active` (false when the
/// parent resolved, closed or is unknown): start the settle time, detach it when the time is up,
/// or stop the clock when the parent fired again.
pub fn settle(
    incident: &mut Incident,
    parent_active: bool,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    if incident.parent_id.is_none() || !incident.state.is_active() {
        return;
    }
    match (parent_active, incident.settle_until_ms) {
        (true, Some(_)) => incident.settle_until_ms = None,
        (true, None) => {}
        (false, None) => {
            incident.settle_until_ms = Some(now_ms.saturating_add(policy.topology_settle_ms));
        }
        (false, Some(until)) if now_ms >= until => {
            let parent = incident.parent_id.take().unwrap_or_default();
            incident.settle_until_ms = None;
            incident.updated_ms = now_ms;
            lifecycle::push(
                incident,
                TimelineEntry::new(
                    now_ms,
                    TimelineKind::Detached,
                    Some(VIGIL),
                    Some(format!(
                        "still failing after its parent {parent} resolved: it stands on its own"
                    )),
                ),
                policy,
            );
            if !incident.silenced {
                incident.paged = true;
            }
            changes.push(Change::Detached);
        }
        (false, Some(_)) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::EventIn;
    use vigil_shared::event::Status;

    fn graph(edges: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(child, parents)| {
                (
                    (*child).to_owned(),
                    parents.iter().map(|p| (*p).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn dependencies_and_dependents_follow_chains_once_and_survive_cycles() {
        let depends_on = graph(&[
            ("web-1", &["switch-a", "db-1"]),
            ("db-1", &["switch-a"]),
            ("switch-a", &["core"]),
            ("core", &["switch-a"]),
        ]);
        assert_eq!(
            dependencies(&depends_on, "web-1"),
            ["switch-a", "db-1", "core"],
            "nearest first"
        );
        assert!(dependencies(&depends_on, "lonely").is_empty());
        let mut below: Vec<String> = dependents(&depends_on, "switch-a").into_iter().collect();
        below.sort();
        assert_eq!(below, ["core", "db-1", "web-1"]);
        assert!(dependents(&depends_on, "web-1").is_empty());
    }

    #[test]
    fn outages_are_host_down_or_critical_and_active() {
        let event = |check: &str, severity| {
            EventIn::new("t", check, Status::Firing, severity).with_host("switch-a")
        };
        let incident = |event: &EventIn| {
            lifecycle::new_incident("0000000000000001".into(), "f".into(), event, 0)
        };
        assert!(is_outage(&incident(&event("host_down", Severity::Major))));
        assert!(is_outage(&incident(&event("ping", Severity::Critical))));
        assert!(!is_outage(&incident(&event("disk", Severity::Major))));
        let mut resolved = incident(&event("host_down", Severity::Critical));
        resolved.state = crate::incidents::State::Resolved;
        assert!(!is_outage(&resolved));
    }

    #[test]
    fn a_child_settles_then_detaches_unless_its_parent_fires_again() {
        let policy = Policy::default();
        let event =
            EventIn::new("t", "probe:web", Status::Firing, Severity::Major).with_host("web-1");
        let mut child = lifecycle::new_incident("0000000000000002".into(), "f".into(), &event, 0);
        let mut changes = Vec::new();
        attach(
            &mut child,
            "0000000000000001",
            "switch-a",
            10,
            &policy,
            &mut changes,
        );
        assert_eq!(changes, [Change::Attached]);
        assert_eq!(child.parent_id.as_deref(), Some("0000000000000001"));
        // Parent active: nothing.
        settle(&mut child, true, 20, &policy, &mut changes);
        assert_eq!(child.settle_until_ms, None);
        // Parent resolved: the settle time starts; the parent fires again: it stops.
        settle(&mut child, false, 1_000, &policy, &mut changes);
        assert_eq!(
            child.settle_until_ms,
            Some(1_000 + policy.topology_settle_ms)
        );
        settle(&mut child, true, 2_000, &policy, &mut changes);
        assert_eq!(child.settle_until_ms, None);
        // Resolved again, and the child outlives the settle time: detached and paged.
        settle(&mut child, false, 3_000, &policy, &mut changes);
        settle(
            &mut child,
            false,
            3_000 + policy.topology_settle_ms - 1,
            &policy,
            &mut changes,
        );
        assert!(child.parent_id.is_some());
        settle(
            &mut child,
            false,
            3_000 + policy.topology_settle_ms,
            &policy,
            &mut changes,
        );
        assert_eq!(child.parent_id, None);
        assert_eq!(changes, [Change::Attached, Change::Detached]);
        assert!(child.paged);
        assert_eq!(child.timeline.last().unwrap().kind, TimelineKind::Detached);
    }
}
