//! Stage 7: problems. An incident that opens (or reopens) while its fingerprint has a problem
//! that is not resolved joins it: `problem_id`, and for a `known_error` its `workaround`, with a
//! timeline entry. Otherwise a new incident whose fingerprint opened `recur_count` incidents in
//! no problem yet within `recur_window` (this one included; `Surroundings::openings`) opens a
//! problem linking them all, and an incident of a service that comes to span `service_hosts`
//! hosts (on open or on a fold) opens one for itself. What to store is left in `Step::problem_writes` for the
//! pipeline; the incidents linked earlier keep their stored documents (the link rows say they
//! belong to it).

use super::{Context, Decision, Flow, Step};
use crate::incidents::lifecycle;
use crate::incidents::model::{TimelineEntry, TimelineKind};
use crate::incidents::problems::{
    self, Opening, ProblemReason, ProblemState, ProblemWrite, problem_id_for,
};

/// Stage 7.
pub fn stage(context: &Context<'_>, step: &mut Step<'_>) -> Flow {
    if !matches!(
        step.decision,
        Decision::Opened | Decision::Reopened | Decision::Folded
    ) {
        return Flow::Continue;
    }
    let Some(current) = step.incident.as_ref() else {
        return Flow::Continue;
    };
    if current.problem_id.is_some() {
        return Flow::Continue;
    }
    let policy = &context.policy.problems;
    let surroundings = context.surroundings;
    let now_ms = context.now_ms;
    let joins = surroundings.problems.get(&step.fingerprint).cloned();
    let opens = if joins.is_some() {
        None
    } else if step.decision == Decision::Opened
        && let Some(ids) = {
            let mut openings = surroundings
                .openings
                .get(&step.fingerprint)
                .cloned()
                .unwrap_or_default();
            openings.push(Opening {
                incident_id: current.id.clone(),
                opened_ms: now_ms,
            });
            problems::recurrence(&openings, now_ms, policy)
        }
    {
        Some((ProblemReason::Recurrence, ids))
    } else if problems::service_wide(current.service.as_deref(), current.hosts.len(), policy) {
        Some((ProblemReason::ServiceWide, vec![current.id.clone()]))
    } else {
        None
    };
    if joins.is_none() && opens.is_none() {
        return Flow::Continue;
    }
    // A fold joins only a problem it opens itself (service-wide); recurrence is for new incidents
    // and joining for new or reopened ones.
    if joins.is_some() && step.decision == Decision::Folded {
        return Flow::Continue;
    }
    let Some(incident) = step.incident.as_mut() else {
        return Flow::Continue;
    };
    let incident = std::sync::Arc::make_mut(incident);
    let text = match (joins, opens) {
        (Some(problem), _) => {
            incident.problem_id = Some(problem.id.clone());
            if problem.state == ProblemState::KnownError {
                incident.workaround.clone_from(&problem.workaround);
            }
            step.problem_writes.push(ProblemWrite::Link {
                problem_id: problem.id.clone(),
                incident_id: incident.id.clone(),
            });
            match (&problem.workaround, problem.state) {
                (Some(workaround), ProblemState::KnownError) => {
                    format!("known error {}; workaround: {workaround}", problem.id)
                }
                _ => format!("problem {} ({})", problem.id, problem.state.as_str()),
            }
        }
        (None, Some((reason, incident_ids))) => {
            let id = problem_id_for(&incident.id);
            incident.problem_id = Some(id.clone());
            let n = incident_ids.len();
            step.problem_writes.push(ProblemWrite::Open {
                id: id.clone(),
                fingerprint: step.fingerprint.clone(),
                title: incident.title.clone(),
                reason,
                incident_ids,
                at_ms: now_ms,
            });
            match reason {
                ProblemReason::Recurrence => {
                    format!("problem {id} opened: {n} incidents of this fingerprint")
                }
                ProblemReason::ServiceWide => format!(
                    "problem {id} opened: {} hosts of service {}",
                    incident.hosts.len(),
                    incident.service.as_deref().unwrap_or("-")
                ),
            }
        }
        (None, None) => return Flow::Continue,
    };
    lifecycle::push(
        incident,
        TimelineEntry::new(
            now_ms,
            TimelineKind::ProblemLinked,
            Some(lifecycle::VIGIL),
            Some(text),
        ),
        context.policy,
    );
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::super::test_util::run_in;
    use super::super::{STAGES, Stage};
    use super::*;
    use crate::incidents::context::Surroundings;
    use crate::incidents::event::EventIn;
    use crate::incidents::fingerprint;
    use crate::incidents::policy::Policy;
    use crate::incidents::problems::ProblemRef;
    use crate::incidents::working::Working;
    use vigil_shared::event::{Severity, Status};

    const HOUR: i64 = 3_600_000;

    fn stages() -> Vec<Stage> {
        STAGES.iter().map(|(_, stage)| *stage).collect()
    }

    fn disk() -> EventIn {
        EventIn::new("agent", "disk_full", Status::Firing, Severity::Major).with_host("db-1")
    }

    fn opening(id: &str, opened_ms: i64) -> Opening {
        Opening {
            incident_id: id.to_owned(),
            opened_ms,
        }
    }

    #[test]
    fn the_third_opening_in_the_window_opens_a_problem_linking_all_three() {
        let now = 100 * HOUR;
        let key = fingerprint::fingerprint(&disk());
        let surroundings = Surroundings {
            openings: [(
                key.clone(),
                vec![opening("a", now - 20 * HOUR), opening("b", now - 10 * HOUR)],
            )]
            .into(),
            ..Surroundings::default()
        };
        let mut working = Working::default();
        let (decision, incident, _) = run_in(
            &stages(),
            &disk(),
            &mut working,
            &Policy::default(),
            now,
            &surroundings,
        );
        assert_eq!(decision, Decision::Opened);
        let incident = incident.unwrap();
        let id = problem_id_for(&incident.id);
        assert_eq!(incident.problem_id.as_deref(), Some(id.as_str()));
        assert!(
            incident
                .timeline
                .iter()
                .any(|entry| entry.kind == TimelineKind::ProblemLinked)
        );

        // Only two inside the window: nothing.
        let surroundings = Surroundings {
            openings: [(
                key,
                vec![opening("a", now - 30 * HOUR), opening("b", now - 10 * HOUR)],
            )]
            .into(),
            ..Surroundings::default()
        };
        let mut working = Working::default();
        let (_, incident, _) = run_in(
            &stages(),
            &disk(),
            &mut working,
            &Policy::default(),
            now,
            &surroundings,
        );
        assert_eq!(incident.unwrap().problem_id, None);
    }

    #[test]
    fn a_new_incident_of_a_known_error_carries_its_problem_and_workaround() {
        let key = fingerprint::fingerprint(&disk());
        for (state, workaround) in [
            (ProblemState::KnownError, Some("rotate /var/log")),
            (ProblemState::Open, None),
        ] {
            let surroundings = Surroundings {
                problems: [(
                    key.clone(),
                    ProblemRef {
                        id: "p1".into(),
                        state,
                        workaround: Some("rotate /var/log".into()),
                    },
                )]
                .into(),
                ..Surroundings::default()
            };
            let mut working = Working::default();
            let (_, incident, _) = run_in(
                &stages(),
                &disk(),
                &mut working,
                &Policy::default(),
                HOUR,
                &surroundings,
            );
            let incident = incident.unwrap();
            assert_eq!(incident.problem_id.as_deref(), Some("p1"), "{state:?}");
            assert_eq!(incident.workaround.as_deref(), workaround, "{state:?}");
        }
    }

    #[test]
    fn a_service_incident_spanning_enough_hosts_opens_a_problem_on_the_fold_that_reaches_them() {
        let mut policy = Policy::default();
        policy.problems.service_hosts = 3;
        let surroundings = Surroundings::default();
        let mut working = Working::default();
        let mut problem = None;
        for (n, host) in ["web-1", "web-2", "web-3"].iter().enumerate() {
            let mut event = EventIn::new("t", "http_5xx", Status::Firing, Severity::Major)
                .with_host(host)
                .with_service("checkout");
            event.dedup_key = Some("checkout-5xx".into());
            let (decision, incident, _) = run_in(
                &stages(),
                &event,
                &mut working,
                &policy,
                n as i64,
                &surroundings,
            );
            let incident = incident.unwrap();
            problem.clone_from(&incident.problem_id);
            assert_eq!(incident.problem_id.is_some(), n == 2, "event {n}");
            match decision {
                Decision::Opened => working.insert_new(incident),
                _ => working.put(incident),
            }
            working.commit();
        }
        assert!(problem.unwrap().starts_with('p'));
    }
}
