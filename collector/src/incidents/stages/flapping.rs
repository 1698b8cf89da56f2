//! Stage 4: flapping. Records the event's status in the incident's weighted history
//! ([`crate::incidents::flapping::FlapHistory`]); crossing the thresholds starts or stops
//! flapping. A source's resolve takes effect here unless the incident is flapping, in which case
//! it is held: the incident stays open until it has been quiet for the settle time (the tick),
//! then resolves once.

use super::{Context, Decision, Flow, Step};
use crate::incidents::lifecycle;
use vigil_shared::event::Status;

/// Stage 4.
pub fn stage(context: &Context<'_>, step: &mut Step<'_>) -> Flow {
    let (now_ms, policy) = (context.now_ms, context.policy);
    let Some(incident) = step.incident.as_mut() else {
        return Flow::Continue;
    };
    let firing = match step.decision {
        // The first observation was made when the incident was made.
        Decision::Opened => return Flow::Continue,
        Decision::Folded | Decision::Reopened => true,
        Decision::Resolving => false,
        _ => return Flow::Continue,
    };
    let incident = std::sync::Arc::make_mut(incident);
    incident.flap.observe(firing);
    incident.last_status = if firing {
        Status::Firing
    } else {
        Status::Resolved
    };
    incident.last_event_ms = now_ms;
    if firing {
        incident.last_firing_ms = Some(now_ms);
    }
    let flapping = incident.flap.next_state(incident.flapping, &policy.flap);
    if flapping != incident.flapping {
        lifecycle::set_flapping(incident, flapping, now_ms, policy, &mut step.changes);
    }
    if step.decision == Decision::Resolving {
        if incident.flapping {
            lifecycle::fold_entry(incident, now_ms, false, policy);
            step.decision = Decision::Held;
        } else {
            lifecycle::resolve(
                incident,
                lifecycle::SOURCE,
                None,
                now_ms,
                policy,
                &mut step.changes,
            );
            step.decision = Decision::Resolved;
        }
    }
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::super::test_util::run_all_and_commit;
    use super::*;
    use crate::incidents::effect::Change;
    use crate::incidents::event::EventIn;
    use crate::incidents::model::State;
    use crate::incidents::policy::Policy;
    use crate::incidents::working::Working;
    use vigil_shared::event::Severity;

    #[test]
    fn a_resolve_goes_through_unless_flapping_then_it_is_held() {
        let policy = Policy::default();
        let mut working = Working::default();
        let firing = EventIn::new("t", "c", Status::Firing, Severity::Major);
        let resolved = EventIn::new("t", "c", Status::Resolved, Severity::Major);
        // (event, expected decision, flapping after)
        // With the default policy the sixth alternating status (a resolve) starts flapping.
        let table = [
            (&firing, Decision::Opened, false),
            (&resolved, Decision::Resolved, false),
            (&firing, Decision::Reopened, false),
            (&resolved, Decision::Resolved, false),
            (&firing, Decision::Reopened, false),
            (&resolved, Decision::Held, true),
            (&firing, Decision::Folded, true),
            (&resolved, Decision::Held, true),
        ];
        for (n, (event, expected, flapping)) in table.into_iter().enumerate() {
            let (decision, incident, changes) =
                run_all_and_commit(event, &mut working, &policy, n as i64 * 1_000);
            assert_eq!(decision, expected, "event {n}");
            assert_eq!(incident.flapping, flapping, "event {n}");
            if decision == Decision::Held {
                assert!(incident.state.is_active());
                assert!(!changes.iter().any(|c| matches!(c, Change::Resolved { .. })));
            }
            if decision == Decision::Resolved {
                assert_eq!(incident.state, State::Resolved);
            }
        }
    }
}
