//! Stage 6: the suspected change. When an incident opens or reopens, the change record most
//! likely behind it becomes its `suspected_change`, with a timeline entry: among the changes in
//! `Surroundings::changes` that started within `Policy::change_window_ms` before now (a change
//! still to come is not suspected), those touching one of the incident's hosts rank first, then
//! those naming its service, then those naming a host one of its hosts depends on
//! (`Surroundings::depends_on`); within a rank the most recent start wins, then the greater id
//! (so every collector picks the same one). `maintenance` changes never reach this stage: they
//! silence instead. A fold leaves the suspect alone; a reopen looks again (and clears it when
//! nothing in the window touches the incident any more).

use super::{Context, Decision, Flow, Step};
use crate::incidents::context::ChangeRef;
use crate::incidents::lifecycle;
use crate::incidents::model::{Incident, SuspectedChange, TimelineEntry, TimelineKind, Touch};
use std::collections::HashMap;

/// Stage 6.
pub fn stage(context: &Context<'_>, step: &mut Step<'_>) -> Flow {
    if !matches!(step.decision, Decision::Opened | Decision::Reopened) {
        return Flow::Continue;
    }
    let Some(incident) = step.incident.as_mut() else {
        return Flow::Continue;
    };
    let surroundings = context.surroundings;
    let suspect = most_likely(
        incident,
        &surroundings.changes,
        &surroundings.depends_on,
        context.now_ms,
        context.policy.change_window_ms,
    );
    if suspect.is_none() && incident.suspected_change.is_none() {
        return Flow::Continue;
    }
    let incident = std::sync::Arc::make_mut(incident);
    if let Some(suspect) = &suspect
        && incident.suspected_change.as_ref() != Some(suspect)
    {
        lifecycle::push(
            incident,
            TimelineEntry::new(
                context.now_ms,
                TimelineKind::ChangeSuspected,
                Some(lifecycle::VIGIL),
                Some(format!(
                    "suspected change {} ({}, same {}): {}",
                    suspect.id,
                    suspect.kind,
                    suspect.touch.as_str(),
                    suspect.summary
                )),
            ),
            context.policy,
        );
    }
    incident.suspected_change = suspect;
    Flow::Continue
}

/// The change most likely behind `incident` at `now_ms` (see the module doc), if any.
pub fn most_likely(
    incident: &Incident,
    changes: &[ChangeRef],
    depends_on: &HashMap<String, Vec<String>>,
    now_ms: i64,
    window_ms: i64,
) -> Option<SuspectedChange> {
    let from_ms = now_ms.saturating_sub(window_ms);
    let hosts = || incident.hosts.iter().chain(incident.host.iter());
    changes
        .iter()
        .filter(|change| (from_ms..=now_ms).contains(&change.starts_ms))
        .filter_map(|change| {
            let touch = if hosts().any(|host| change.hosts.contains(host)) {
                Touch::Host
            } else if incident
                .service
                .as_ref()
                .is_some_and(|service| change.services.contains(service))
            {
                Touch::Service
            } else if hosts()
                .filter_map(|host| depends_on.get(host))
                .flatten()
                .any(|needed| change.hosts.contains(needed))
            {
                Touch::Dependency
            } else {
                return None;
            };
            Some((touch, change))
        })
        // Best: the lowest touch, then the latest start, then the greatest id.
        .min_by(|(a_touch, a), (b_touch, b)| {
            a_touch
                .cmp(b_touch)
                .then(b.starts_ms.cmp(&a.starts_ms))
                .then(b.id.cmp(&a.id))
        })
        .map(|(touch, change)| SuspectedChange {
            id: change.id.clone(),
            kind: change.kind.clone(),
            summary: change.summary.clone(),
            starts_ms: change.starts_ms,
            touch,
        })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::run_in;
    use super::super::{STAGES, Stage};
    use super::*;
    use crate::incidents::context::Surroundings;
    use crate::incidents::event::EventIn;
    use crate::incidents::policy::Policy;
    use crate::incidents::working::Working;
    use vigil_shared::event::{Severity, Status};

    const HOUR: i64 = 3_600_000;

    fn change(id: &str, hosts: &[&str], services: &[&str], starts_ms: i64) -> ChangeRef {
        ChangeRef {
            id: id.to_owned(),
            kind: "deploy".to_owned(),
            summary: format!("summary of {id}"),
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            starts_ms,
        }
    }

    fn stages() -> Vec<Stage> {
        STAGES.iter().map(|(_, stage)| *stage).collect()
    }

    fn firing() -> EventIn {
        EventIn::new("t", "http_5xx", Status::Firing, Severity::Critical)
            .with_host("web-1")
            .with_service("checkout")
    }

    #[test]
    fn suspect_ranks_host_over_service_over_dependency_then_nearest_in_time() {
        let now = 10 * HOUR;
        let window = Policy::default().change_window_ms;
        let depends_on: HashMap<String, Vec<String>> =
            [("web-1".to_owned(), vec!["db-1".to_owned()])].into();
        // (changes, expected id, expected touch)
        let table: Vec<(Vec<ChangeRef>, Option<&str>, Option<Touch>)> = vec![
            (vec![], None, None),
            (
                vec![change("other", &["web-9"], &["billing"], now - 60_000)],
                None,
                None,
            ),
            (
                vec![
                    change("dep", &["db-1"], &[], now - 1_000),
                    change("svc", &[], &["checkout"], now - 2_000),
                    change("host", &["web-1"], &[], now - HOUR),
                ],
                Some("host"),
                Some(Touch::Host),
            ),
            (
                vec![
                    change("dep", &["db-1"], &[], now - 1_000),
                    change("svc", &[], &["checkout"], now - HOUR),
                ],
                Some("svc"),
                Some(Touch::Service),
            ),
            (
                vec![change("dep", &["db-1"], &[], now - 1_000)],
                Some("dep"),
                Some(Touch::Dependency),
            ),
            (
                vec![
                    change("older", &["web-1"], &[], now - HOUR),
                    change("newer", &["web-1"], &[], now - 60_000),
                ],
                Some("newer"),
                Some(Touch::Host),
            ),
            (
                vec![
                    change("c-a", &["web-1"], &[], now - 60_000),
                    change("c-b", &["web-1"], &[], now - 60_000),
                ],
                Some("c-b"),
                Some(Touch::Host),
            ),
            // Window edges: exactly at its start counts, a millisecond before does not, a change
            // still to come does not.
            (
                vec![change("edge", &["web-1"], &[], now - window)],
                Some("edge"),
                Some(Touch::Host),
            ),
            (
                vec![change("early", &["web-1"], &[], now - window - 1)],
                None,
                None,
            ),
            (vec![change("future", &["web-1"], &[], now + 1)], None, None),
            (
                vec![change("now", &["web-1"], &[], now)],
                Some("now"),
                Some(Touch::Host),
            ),
        ];
        for (n, (changes, id, touch)) in table.into_iter().enumerate() {
            let surroundings = Surroundings {
                changes,
                depends_on: depends_on.clone(),
                ..Surroundings::default()
            };
            let mut working = Working::default();
            let (decision, incident, _) = run_in(
                &stages(),
                &firing(),
                &mut working,
                &Policy::default(),
                now,
                &surroundings,
            );
            assert_eq!(decision, Decision::Opened, "row {n}");
            let incident = incident.unwrap();
            let suspect = incident.suspected_change.as_ref();
            assert_eq!(suspect.map(|s| s.id.as_str()), id, "row {n}");
            assert_eq!(suspect.map(|s| s.touch), touch, "row {n}");
            let entries = incident
                .timeline
                .iter()
                .filter(|entry| entry.kind == TimelineKind::ChangeSuspected)
                .count();
            assert_eq!(entries, usize::from(id.is_some()), "row {n}");
        }
    }

    #[test]
    fn suspect_uses_dependencies_only_when_topology_knows_them() {
        let now = 10 * HOUR;
        let surroundings = Surroundings {
            changes: vec![change("dep", &["db-1"], &[], now - 1_000)],
            ..Surroundings::default()
        };
        let mut working = Working::default();
        let (_, incident, _) = run_in(
            &stages(),
            &firing(),
            &mut working,
            &Policy::default(),
            now,
            &surroundings,
        );
        assert_eq!(incident.unwrap().suspected_change, None);
    }

    #[test]
    fn suspect_is_kept_on_fold_and_looked_at_again_on_reopen() {
        let policy = Policy::default();
        let mut working = Working::default();
        let first = Surroundings {
            changes: vec![change("c1", &["web-1"], &[], 0)],
            ..Surroundings::default()
        };
        let open = |working: &mut Working, event: &EventIn, now, surroundings: &Surroundings| {
            let (decision, incident, _) =
                run_in(&stages(), event, working, &policy, now, surroundings);
            let incident = incident.unwrap();
            let copy = (*incident).clone();
            match decision {
                Decision::Opened => working.insert_new(incident),
                _ => working.put(incident),
            }
            working.commit();
            (decision, copy)
        };
        let (_, opened) = open(&mut working, &firing(), 1_000, &first);
        assert_eq!(opened.suspected_change.unwrap().id, "c1");
        // A fold with a newer change around: the suspect stays.
        let second = Surroundings {
            changes: vec![
                change("c1", &["web-1"], &[], 0),
                change("c2", &["web-1"], &[], 2_000),
            ],
            ..Surroundings::default()
        };
        let (decision, folded) = open(&mut working, &firing(), 3_000, &second);
        assert_eq!(decision, Decision::Folded);
        assert_eq!(folded.suspected_change.unwrap().id, "c1");
        let mut resolved = firing();
        resolved.status = Status::Resolved;
        open(&mut working, &resolved, 4_000, &second);
        // Reopened: the newest change now.
        let (decision, reopened) = open(&mut working, &firing(), 5_000, &second);
        assert_eq!(decision, Decision::Reopened);
        assert_eq!(reopened.suspected_change.unwrap().id, "c2");
        let suspected: Vec<_> = reopened
            .timeline
            .iter()
            .filter(|entry| entry.kind == TimelineKind::ChangeSuspected)
            .collect();
        assert_eq!(suspected.len(), 2, "{:?}", reopened.timeline);
    }
}
