//! The engine's side of service grouping (the rules are in [`crate::incidents::grouping`]):
//! forming a service-level incident when a second host's incident of a key opens, members
//! joining it, reopening it, holding a lone incident for the grouping wait, and resolving it when
//! its last member resolves.

use super::{Engine, number};
use crate::incidents::EventIn;
use crate::incidents::context::Context;
use crate::incidents::effect::Change;
use crate::incidents::grouping;
use crate::incidents::lifecycle::{self, VIGIL};
use crate::incidents::model::{Incident, State};
use crate::incidents::problems::ProblemWrite;
use crate::incidents::stages::{self, Decision, Flow, Stage, Step};
use std::sync::Arc;

/// The stages a service-level incident goes through when it opens, reopens or a host joins it:
/// its priority rises with its hosts, a change may be suspected behind it, it may open a
/// problem. (Fingerprint, suppression and fold are the grouping's own; topology holds it through
/// its members; it has no status of its own to flap.)
const GROUP_STAGES: [Stage; 3] = [
    stages::priority::stage,
    stages::suspect::stage,
    stages::problem::stage,
];

impl Engine {
    /// Incident `id` just opened or reopened: it joins its key's active service-level incident,
    /// forms one with lone incidents of other hosts opened within the window, or — alone —
    /// waits `[grouping] wait` before it is paged.
    pub(super) fn group(&mut self, id: &str, now_ms: i64) {
        let Some(member) = self.working.get(id) else {
            return;
        };
        let Some(key) = member.group_key.clone() else {
            return;
        };
        if !member.state.is_active() || member.silenced {
            return;
        }
        // Attached to something it depends on (a topology outage), it stays there.
        let in_group = match &member.parent_id {
            None => None,
            Some(parent) => match self.working.get(parent) {
                Some(parent) if grouping::is_group(parent) => Some(parent.id.clone()),
                _ => return,
            },
        };
        if let Some(parent) = &in_group
            && self
                .working
                .get(parent)
                .is_some_and(|parent| parent.state.is_active())
        {
            // A member firing again while its service-level incident is active: nothing new.
            return;
        }
        let groups_key = grouping::fingerprint(&key);
        let window_ms = self.policy.grouping.window_ms;
        // The key's service-level incident that is still gathering hosts: active, and a host
        // joined it or one of its hosts had an event within the window. One gone quiet keeps
        // its members, but a host failing later is a new story.
        let gathering = self
            .working
            .in_group(&groups_key)
            .filter(|group| {
                group.state.is_active()
                    && self.last_heard_ms(group, now_ms.saturating_sub(window_ms))
                        >= now_ms.saturating_sub(window_ms)
            })
            .max_by(|a, b| a.id.cmp(&b.id))
            .map(|group| group.id.clone());
        // A member's own service-level incident, resolved within the reopen window, reopens
        // (before any other of the key is joined).
        let reopens = in_group.clone().filter(|parent| {
            self.working.get(parent).is_some_and(|group| {
                group.state == State::Resolved
                    && now_ms - group.resolved_ms.unwrap_or(now_ms) <= self.policy.reopen_window_ms
            })
        });
        let (decision, group_id) = match (reopens, gathering) {
            (Some(group), _) => (Decision::Reopened, Some(group)),
            (None, Some(group)) => (Decision::Folded, Some(group)),
            (None, None) => (Decision::Opened, None),
        };
        let mut members = vec![id.to_owned()];
        if decision != Decision::Folded {
            // It takes a lone incident of another host opened within the window to form one;
            // once formed it takes every lone incident of the key still active, however old
            // (a host of the service failing for an hour is part of the service's trouble).
            let since_ms = now_ms.saturating_sub(self.policy.grouping.window_ms);
            let host = member.host.clone();
            let lone: Vec<(String, bool)> = self
                .working
                .in_group(&key)
                .filter(|other| {
                    other.id != id
                        && other.state.is_active()
                        && !other.silenced
                        && other.parent_id.is_none()
                })
                .map(|other| {
                    let trigger = other.host != host && last_opened_ms(other) >= since_ms;
                    (other.id.clone(), trigger)
                })
                .collect();
            let formed = lone.iter().any(|(_, trigger)| *trigger);
            if formed || decision == Decision::Reopened {
                members.extend(lone.into_iter().map(|(other, _)| other));
            }
            if !formed && decision == Decision::Opened {
                self.hold_lone(id, now_ms);
                return;
            }
        }
        let mut snapshots: Vec<Arc<Incident>> = members
            .iter()
            .filter_map(|member| self.working.shared(member))
            .collect();
        // Hosts in the order their incidents opened.
        snapshots.sort_by(|a, b| (a.opened_ms, &a.id).cmp(&(b.opened_ms, &b.id)));
        let refs: Vec<&Incident> = snapshots.iter().map(AsRef::as_ref).collect();
        let Some(first) = refs.first().copied() else {
            return;
        };
        let event = grouping::event_for(first, &refs);
        let mut changes = Vec::new();
        let mut group = match (decision, &group_id) {
            (Decision::Folded, Some(group_id)) => {
                let Some(mut group) = self.working.take(group_id) else {
                    return;
                };
                let incident = Arc::make_mut(&mut group);
                incident.count += 1;
                incident.updated_ms = now_ms;
                incident.last_event_ms = now_ms;
                lifecycle::fold_entry(incident, now_ms, true, &self.policy);
                group
            }
            (Decision::Reopened, Some(group_id)) => {
                let Some(mut group) = self.working.take(group_id) else {
                    return;
                };
                let incident = Arc::make_mut(&mut group);
                stages::fold::reopen(incident, &event, now_ms, &self.policy);
                incident.last_event_ms = now_ms;
                changes.push(Change::Reopened);
                group
            }
            _ => {
                let group_id = self.working.issue_id(now_ms);
                let fingerprint = grouping::episode_fingerprint(&key, &group_id);
                let mut group = lifecycle::new_incident(group_id, fingerprint, &event, now_ms);
                group.title = grouping::title(&key, first);
                group.group_key = Some(groups_key.clone());
                group.count = refs.len() as u64;
                changes.push(Change::Opened);
                Arc::new(group)
            }
        };
        let joined = {
            let incident = Arc::make_mut(&mut group);
            let before = incident.hosts.len();
            grouping::add_members(incident, &refs, &self.policy);
            // A member still held (the grouping wait of the first, the topology hold of one
            // whose dependencies may yet be found down) holds the service-level incident's
            // notifications as long, unless it has been paged already.
            let held = refs
                .iter()
                .filter_map(|member| member.held_until_ms)
                .filter(|until| *until > now_ms)
                .max();
            let own = incident.held_until_ms.filter(|until| *until > now_ms);
            incident.held_until_ms = match decision {
                Decision::Folded if own.is_none() => incident.held_until_ms,
                Decision::Folded => own.max(held),
                _ => held,
            };
            incident.hosts[before..].to_vec()
        };
        let (incident, mut changes, problem_writes) =
            self.group_stages(&event, &groups_key, decision, group, changes, now_ms);
        let Some(mut group) = incident else {
            return;
        };
        if decision == Decision::Folded && !joined.is_empty() {
            grouping::note_joined(Arc::make_mut(&mut group), &joined, now_ms, &self.policy);
            if !changes
                .iter()
                .any(|change| matches!(change, Change::PriorityChanged { .. }))
            {
                changes.push(Change::HostJoined);
            }
        }
        self.note_problems(&groups_key, &group, decision, problem_writes, now_ms);
        self.cover(&mut group, decision, &mut changes, now_ms);
        let group_id = group.id.clone();
        number(&mut self.pending, &mut group, changes);
        if decision == Decision::Opened {
            self.working.insert_new(group);
        } else {
            self.working.put(group);
        }
        for member in members {
            if self
                .working
                .get(&member)
                .is_none_or(|incident| incident.parent_id.as_deref() == Some(group_id.as_str()))
            {
                continue;
            }
            let paged = self.committed_page(&member, now_ms);
            let Some(mut incident) = self.working.take(&member) else {
                continue;
            };
            let mut changes = Vec::new();
            let incident_mut = Arc::make_mut(&mut incident);
            grouping::join(incident_mut, &group_id, now_ms, &self.policy, &mut changes);
            incident_mut.paged = paged;
            number(&mut self.pending, &mut incident, changes);
            self.working.put(incident);
        }
    }

    /// Runs [`GROUP_STAGES`] over service-level incident `group` of `groups_key` (with or without
    /// novelty paging): what became of it, its changes and the problem records to store.
    pub(super) fn group_stages(
        &mut self,
        event: &EventIn,
        groups_key: &str,
        decision: Decision,
        group: Arc<Incident>,
        changes: Vec<Change>,
        now_ms: i64,
    ) -> (Option<Arc<Incident>>, Vec<Change>, Vec<ProblemWrite>) {
        let context = Context {
            policy: &self.policy,
            now_ms,
            surroundings: &self.surroundings,
        };
        let mut step = Step {
            event,
            // The key, not the episode: a service failing again and again opens a problem.
            fingerprint: groups_key.to_owned(),
            decision,
            incident: Some(group),
            changes,
            working: &mut self.working,
            problem_writes: Vec::new(),
        };
        for stage in GROUP_STAGES {
            if stage(&context, &mut step) == Flow::Stop {
                break;
            }
        }
        (step.incident, step.changes, step.problem_writes)
    }

    /// When the service-level incident `group` last heard of its trouble: a host joining, or an
    /// event of one of its members. Its own time when that is within `window` already (a storm
    /// joining host after host never walks the members).
    fn last_heard_ms(&self, group: &Incident, since_ms: i64) -> i64 {
        if group.last_event_ms >= since_ms {
            return group.last_event_ms;
        }
        self.working
            .children_of(&group.id)
            .iter()
            .filter_map(|child| self.working.get(child))
            .map(|child| child.last_event_ms)
            .fold(group.last_event_ms, i64::max)
    }

    /// A lone incident of a key: its notifications wait `[grouping] wait` for another host's.
    fn hold_lone(&mut self, id: &str, now_ms: i64) {
        let wait_ms = self.policy.grouping.wait_ms;
        if wait_ms <= 0 {
            return;
        }
        let Some(mut incident) = self.working.take(id) else {
            return;
        };
        let until = now_ms.saturating_add(wait_ms);
        let incident_mut = Arc::make_mut(&mut incident);
        incident_mut.held_until_ms = Some(
            incident_mut
                .held_until_ms
                .map_or(until, |held| held.max(until)),
        );
        self.working.put(incident);
    }

    /// Incident `id` stopped being active: when it was the last active member of its
    /// service-level incident, that one resolves too.
    pub(super) fn member_settled(&mut self, id: &str, now_ms: i64) {
        self.end_novelty_episode(id, now_ms);
        let Some(parent) = self
            .working
            .get(id)
            .filter(|member| !member.state.is_active())
            .and_then(|member| member.parent_id.clone())
        else {
            return;
        };
        if !self
            .working
            .get(&parent)
            .is_some_and(|group| grouping::is_group(group) && group.state.is_active())
        {
            return;
        }
        let active = self.working.children_of(&parent).iter().any(|child| {
            self.working
                .get(child)
                .is_some_and(|child| child.state.is_active())
        });
        if active {
            return;
        }
        let Some(mut group) = self.working.take(&parent) else {
            return;
        };
        let mut changes = Vec::new();
        lifecycle::resolve(
            Arc::make_mut(&mut group),
            VIGIL,
            Some("every host of it recovered".to_owned()),
            now_ms,
            &self.policy,
            &mut changes,
        );
        number(&mut self.pending, &mut group, changes);
        self.working.put(group);
    }
}

/// When `incident` last opened or reopened.
pub(super) fn last_opened_ms(incident: &Incident) -> i64 {
    if incident.reopened == 0 {
        return incident.opened_ms;
    }
    incident
        .timeline
        .iter()
        .rev()
        .find(|entry| entry.kind == crate::incidents::model::TimelineKind::Reopened)
        .map_or(incident.opened_ms, |entry| entry.at_ms)
}

#[cfg(test)]
mod tests {
    use crate::incidents::effect::Change;
    use crate::incidents::policy::Policy;
    use crate::incidents::{Engine, EventIn, EventOutcome};
    use std::collections::HashMap;
    use vigil_shared::event::{Severity, Status};

    const WAIT: i64 = 30_000;

    fn engine() -> Engine {
        Engine::new(Policy::default(), Vec::new(), 0)
    }

    fn error(host: &str, service: &str, status: Status) -> EventIn {
        EventIn::new("app", "http_5xx", status, Severity::Major)
            .with_host(host)
            .with_service(service)
    }

    fn id(outcome: EventOutcome) -> String {
        match outcome {
            EventOutcome::Opened(id) | EventOutcome::Reopened(id) => id,
            other => panic!("not opened: {other:?}"),
        }
    }

    /// The committed changes, per incident id.
    fn commit(engine: &mut Engine) -> HashMap<String, Vec<Change>> {
        let mut changes: HashMap<String, Vec<Change>> = HashMap::new();
        for effect in engine.commit() {
            changes
                .entry(effect.id().to_owned())
                .or_default()
                .push(effect.change);
        }
        changes
    }

    fn group_of(engine: &Engine, member: &str) -> String {
        let parent = engine.get(member).unwrap().parent_id.clone();
        let parent = parent.expect("attached to its service-level incident");
        assert!(
            engine
                .get(&parent)
                .unwrap()
                .fingerprint
                .starts_with("group:"),
            "the parent is a service-level incident"
        );
        parent
    }

    #[test]
    fn a_second_host_forms_one_service_incident_held_as_long_as_the_first_waits() {
        let mut engine = engine();
        let a = id(engine.on_event(&error("web-1", "checkout", Status::Firing), 1_000));
        assert_eq!(engine.get(&a).unwrap().held_until_ms, Some(1_000 + WAIT));
        assert_eq!(
            engine.get(&a).unwrap().group_key.as_deref(),
            Some("service=checkout")
        );
        commit(&mut engine);
        let b = id(engine.on_event(&error("web-2", "checkout", Status::Firing), 5_000));
        let changes = commit(&mut engine);
        let group = group_of(&engine, &a);
        assert_eq!(group_of(&engine, &b), group);
        assert_eq!(
            changes[&a],
            [Change::Attached],
            "its held page is cancelled"
        );
        assert_eq!(changes[&b], [Change::Opened, Change::Attached]);
        assert_eq!(changes[&group], [Change::Opened]);
        let service = engine.get(&group).unwrap();
        assert_eq!(service.hosts, ["web-1", "web-2"]);
        assert_eq!(service.host, None);
        assert_eq!(service.service.as_deref(), Some("checkout"));
        assert_eq!(service.title, "http_5xx on several hosts of checkout");
        assert_eq!(
            service.held_until_ms,
            Some(1_000 + WAIT),
            "paged when the first's wait ends"
        );
        assert!(service.paged);
        assert!(!engine.get(&a).unwrap().paged && !engine.get(&b).unwrap().paged);
        // A third host joins: an update, not a page.
        let c = id(engine.on_event(&error("web-3", "checkout", Status::Firing), 40_000));
        let changes = commit(&mut engine);
        assert_eq!(group_of(&engine, &c), group);
        assert_eq!(changes[&group].len(), 1);
        assert!(matches!(
            changes[&group][0],
            Change::HostJoined | Change::PriorityChanged { .. }
        ));
        assert_eq!(engine.get(&group).unwrap().hosts.len(), 3);
        assert_eq!(
            engine.get(&c).unwrap().held_until_ms,
            None,
            "a joiner is never held"
        );
        // It resolves with its last member, not before.
        for (n, host) in ["web-1", "web-2"].into_iter().enumerate() {
            engine.on_event(
                &error(host, "checkout", Status::Resolved),
                50_000 + n as i64,
            );
        }
        commit(&mut engine);
        assert!(engine.get(&group).unwrap().state.is_active());
        engine.on_event(&error("web-3", "checkout", Status::Resolved), 60_000);
        let changes = commit(&mut engine);
        assert!(!engine.get(&group).unwrap().state.is_active());
        assert!(matches!(changes[&group][..], [Change::Resolved { .. }]));
        engine.check_invariants().unwrap();
    }

    #[test]
    fn a_service_incident_gone_quiet_keeps_its_hosts_and_a_later_failure_starts_another() {
        let mut engine = engine();
        let window = Policy::default().grouping.window_ms;
        let a = id(engine.on_event(&error("web-1", "checkout", Status::Firing), 1_000));
        let b = id(engine.on_event(&error("web-2", "checkout", Status::Firing), 2_000));
        commit(&mut engine);
        let first = group_of(&engine, &a);
        assert_eq!(group_of(&engine, &b), first);
        // Within the window a third host joins; past it (still active, gone quiet) it does not.
        let c = id(engine.on_event(&error("web-3", "checkout", Status::Firing), 2_000 + window));
        commit(&mut engine);
        assert_eq!(group_of(&engine, &c), first);
        let late = 2_000 + 2 * window + 1;
        let d = id(engine.on_event(&error("web-4", "checkout", Status::Firing), late));
        commit(&mut engine);
        assert_eq!(engine.get(&d).unwrap().parent_id, None, "alone, waiting");
        let e = id(engine.on_event(&error("web-5", "checkout", Status::Firing), late + 1));
        let changes = commit(&mut engine);
        let second = group_of(&engine, &e);
        assert_ne!(second, first, "a new story");
        assert_eq!(group_of(&engine, &d), second);
        assert_eq!(changes[&second], [Change::Opened]);
        assert_eq!(engine.get(&second).unwrap().hosts, ["web-4", "web-5"]);
        assert_eq!(
            engine.get(&first).unwrap().hosts,
            ["web-1", "web-2", "web-3"]
        );
        // A member of the first recovering and failing again reopens nothing while it is active;
        // once every host recovered, a member firing again within the reopen window reopens it.
        for (n, host) in ["web-1", "web-2", "web-3"].into_iter().enumerate() {
            engine.on_event(
                &error(host, "checkout", Status::Resolved),
                late + 10 + n as i64,
            );
        }
        commit(&mut engine);
        assert!(!engine.get(&first).unwrap().state.is_active());
        engine.on_event(&error("web-1", "checkout", Status::Firing), late + 100);
        let changes = commit(&mut engine);
        assert_eq!(changes[&first], [Change::Reopened]);
        assert_eq!(group_of(&engine, &a), first);
        engine.check_invariants().unwrap();
    }

    #[test]
    fn other_services_later_hosts_and_grouping_off_stay_alone() {
        let mut engine = engine();
        let a = id(engine.on_event(&error("web-1", "checkout", Status::Firing), 1_000));
        let b = id(engine.on_event(&error("web-2", "search", Status::Firing), 2_000));
        commit(&mut engine);
        assert_eq!(engine.get(&a).unwrap().parent_id, None);
        assert_eq!(engine.get(&b).unwrap().parent_id, None);
        // Past the window: a lone incident of the same key is not joined.
        let window = Policy::default().grouping.window_ms;
        let c = id(engine.on_event(&error("web-3", "checkout", Status::Firing), 1_001 + window));
        commit(&mut engine);
        assert_eq!(engine.get(&c).unwrap().parent_id, None);
        // Two events of one host never form a group.
        let mut other = error("web-2", "search", Status::Firing);
        other.check = "latency".into();
        let d = id(engine.on_event(&other, 3_000));
        commit(&mut engine);
        assert_eq!(engine.get(&d).unwrap().parent_id, None);

        let mut policy = Policy::default();
        policy.grouping.by.clear();
        let mut engine = Engine::new(policy, Vec::new(), 0);
        let a = id(engine.on_event(&error("web-1", "checkout", Status::Firing), 1_000));
        let b = id(engine.on_event(&error("web-2", "checkout", Status::Firing), 2_000));
        commit(&mut engine);
        for id in [a, b] {
            let incident = engine.get(&id).unwrap();
            assert_eq!(
                (incident.parent_id.clone(), incident.held_until_ms),
                (None, None)
            );
        }
    }

    #[test]
    fn a_member_paged_before_it_joined_keeps_its_page_and_a_switch_outage_takes_the_group() {
        let mut engine = engine();
        engine.surroundings_mut().depends_on = HashMap::from([
            ("web-1".to_owned(), vec!["switch-a".to_owned()]),
            ("web-2".to_owned(), vec!["switch-a".to_owned()]),
        ]);
        let mut policy = Policy::default();
        policy.grouping.wait_ms = 0;
        policy.topology_hold_ms = 0;
        engine.policy = policy;
        let a = id(engine.on_event(&error("web-1", "checkout", Status::Firing), 1_000));
        commit(&mut engine);
        assert!(engine.get(&a).unwrap().paged);
        let b = id(engine.on_event(&error("web-2", "checkout", Status::Firing), 2_000));
        commit(&mut engine);
        let group = group_of(&engine, &a);
        assert!(
            engine.get(&a).unwrap().paged,
            "the sinks are owed its resolve"
        );
        assert!(!engine.get(&b).unwrap().paged);
        // The switch both depend on goes down: the service incident attaches to it whole.
        let mut ping = EventIn::new("netmon", "ping", Status::Firing, Severity::Critical)
            .with_host("switch-a");
        ping.summary = "no answer".into();
        let switch = id(engine.on_event(&ping, 3_000));
        let changes = commit(&mut engine);
        assert_eq!(changes[&group], [Change::Attached]);
        assert_eq!(
            engine.get(&group).unwrap().parent_id.as_deref(),
            Some(switch.as_str())
        );
        assert_eq!(group_of(&engine, &b), group);
    }

    #[test]
    fn a_silenced_incident_is_not_grouped() {
        use crate::incidents::silence::{Matcher, Silence};
        let mut engine = engine();
        let silence = Silence {
            id: "s1".into(),
            matchers: vec![Matcher::new("host", "=", "web-2").unwrap()],
            starts_ms: 0,
            ends_ms: i64::MAX,
        };
        engine.surroundings_mut().silences.upsert(silence, 0);
        let a = id(engine.on_event(&error("web-1", "checkout", Status::Firing), 1_000));
        let b = id(engine.on_event(&error("web-2", "checkout", Status::Firing), 2_000));
        commit(&mut engine);
        assert!(engine.get(&b).unwrap().silenced);
        assert_eq!(engine.get(&a).unwrap().parent_id, None);
        assert_eq!(engine.get(&b).unwrap().parent_id, None);
    }
}
