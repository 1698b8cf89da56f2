//! Stage 3: fold the event into its fingerprint's incident, or open one.
//!
//! | current incident | firing event | resolved event |
//! |---|---|---|
//! | none | open | nothing to resolve |
//! | open / acknowledged | fold (count, hosts, severity, summary) | ask to resolve (stage 4 decides) |
//! | resolved, within the reopen window | reopen | noted |
//! | resolved, past the window / closed | open a new one | noted |

use super::{Context, Decision, Flow, Step};
use crate::incidents::effect::Change;
use crate::incidents::event::EventIn;
use crate::incidents::lifecycle;
use crate::incidents::model::{Incident, State, TimelineEntry, TimelineKind};
use crate::incidents::policy::Policy;
use std::sync::Arc;
use vigil_shared::event::Status;

/// Stage 3.
pub fn stage(context: &Context<'_>, step: &mut Step<'_>) -> Flow {
    let now_ms = context.now_ms;
    let policy = context.policy;
    let current = step
        .working
        .current(&step.fingerprint)
        .map(|incident| (incident.id.clone(), incident.state, incident.resolved_ms));
    let decision = match (current.as_ref(), step.event.status) {
        (None, Status::Resolved) => Decision::NoIncident,
        (None, Status::Firing) => Decision::Opened,
        (Some((_, State::Resolved, resolved_ms)), Status::Firing) => {
            if now_ms - resolved_ms.unwrap_or(now_ms) <= policy.reopen_window_ms {
                Decision::Reopened
            } else {
                Decision::Opened
            }
        }
        (Some((_, State::Closed, _)), Status::Firing) => Decision::Opened,
        (Some((_, State::Resolved | State::Closed, _)), Status::Resolved) => Decision::Noted,
        (Some(_), Status::Firing) => Decision::Folded,
        (Some(_), Status::Resolved) => Decision::Resolving,
    };
    step.decision = decision;
    match decision {
        Decision::NoIncident => return Flow::Stop,
        Decision::Noted => {
            // Nothing changes: the id is reported, the incident stays where it is.
            step.incident = current
                .as_ref()
                .and_then(|(id, _, _)| step.working.shared(id));
            return Flow::Stop;
        }
        Decision::Opened => {
            let id = step.working.issue_id(now_ms);
            step.incident = Some(Arc::new(lifecycle::new_incident(
                id,
                step.fingerprint.clone(),
                step.event,
                now_ms,
            )));
            step.changes.push(Change::Opened);
            return Flow::Continue;
        }
        _ => {}
    }
    let Some((id, _, _)) = current else {
        return Flow::Stop;
    };
    let Some(mut shared) = step.working.take(&id) else {
        return Flow::Stop;
    };
    let incident = Arc::make_mut(&mut shared);
    match decision {
        Decision::Folded => {
            incident.count += 1;
            absorb(incident, step.event, now_ms, policy);
            lifecycle::fold_entry(incident, now_ms, true, policy);
        }
        Decision::Reopened => {
            reopen(incident, step.event, now_ms, policy);
            step.changes.push(Change::Reopened);
        }
        Decision::Resolving => {
            if !step.event.summary.is_empty() {
                incident.summary.clone_from(&step.event.summary);
            }
            incident.updated_ms = now_ms;
        }
        _ => {}
    }
    step.incident = Some(shared);
    Flow::Continue
}

/// A resolved incident firing again: back to open, SLA breaches forgotten (stage 5 sets new due
/// times from now).
pub(crate) fn reopen(incident: &mut Incident, event: &EventIn, now_ms: i64, policy: &Policy) {
    incident.state = State::Open;
    incident.resolved_ms = None;
    incident.resolved_by = None;
    incident.acknowledged_ms = None;
    incident.acknowledged_by = None;
    incident.reopened += 1;
    incident.count += 1;
    incident.sla.ack_breached = false;
    incident.sla.resolve_breached = false;
    absorb(incident, event, now_ms, policy);
    let text = (!event.summary.is_empty()).then(|| event.summary.clone());
    lifecycle::push(
        incident,
        TimelineEntry::new(now_ms, TimelineKind::Reopened, Some(&event.source), text),
        policy,
    );
}

/// Takes what a firing event adds: summary, worse severity, another host.
fn absorb(incident: &mut Incident, event: &EventIn, now_ms: i64, policy: &Policy) {
    incident.updated_ms = now_ms;
    if !event.summary.is_empty() && incident.summary != event.summary {
        incident.summary.clone_from(&event.summary);
    }
    if event.severity < incident.severity {
        incident.severity = event.severity;
    }
    if let Some(host) = &event.host
        && incident.hosts.len() < policy.max_hosts
        && !incident.hosts.iter().any(|known| known == host)
    {
        incident.hosts.push(host.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::run;
    use super::super::{Stage, fingerprint};
    use super::*;
    use crate::incidents::working::Working;
    use vigil_shared::event::Severity;

    const STAGES: [Stage; 2] = [fingerprint::stage, stage];
    const HOUR: i64 = 3_600_000;

    fn event(status: Status) -> EventIn {
        EventIn::new("t", "disk", status, Severity::Major).with_host("web-1")
    }

    /// A working set whose incident for `event(Firing)` is in `state`, resolved at 0.
    fn with_state(state: Option<State>) -> Working {
        let mut working = Working::default();
        if let Some(state) = state {
            let firing = event(Status::Firing);
            let mut incident = lifecycle::new_incident(
                working.issue_id(0),
                fingerprint::fingerprint(&firing),
                &firing,
                0,
            );
            incident.state = state;
            if state == State::Resolved || state == State::Closed {
                incident.resolved_ms = Some(0);
            }
            working.insert_new(Arc::new(incident));
            working.commit();
        }
        working
    }

    #[test]
    fn the_fold_table() {
        let policy = Policy::default();
        let table = [
            (None, Status::Firing, 0, Decision::Opened),
            (None, Status::Resolved, 0, Decision::NoIncident),
            (Some(State::Open), Status::Firing, 1, Decision::Folded),
            (
                Some(State::Acknowledged),
                Status::Firing,
                1,
                Decision::Folded,
            ),
            (Some(State::Open), Status::Resolved, 1, Decision::Resolving),
            (
                Some(State::Resolved),
                Status::Firing,
                HOUR,
                Decision::Reopened,
            ),
            (
                Some(State::Resolved),
                Status::Firing,
                HOUR + 1,
                Decision::Opened,
            ),
            (Some(State::Resolved), Status::Resolved, 1, Decision::Noted),
        ];
        for (state, status, now_ms, expected) in table {
            let mut working = with_state(state);
            let (decision, incident, changes) =
                run(&STAGES, &event(status), &mut working, &policy, now_ms);
            assert_eq!(decision, expected, "{state:?} {status:?} at {now_ms}");
            match expected {
                Decision::Opened => {
                    assert_eq!(changes, vec![Change::Opened]);
                    assert_eq!(incident.unwrap().count, 1);
                }
                Decision::Folded => assert_eq!(incident.unwrap().count, 2),
                Decision::Reopened => {
                    let incident = incident.unwrap();
                    assert_eq!((incident.state, incident.reopened), (State::Open, 1));
                    assert_eq!(changes, vec![Change::Reopened]);
                }
                Decision::NoIncident => assert!(incident.is_none()),
                _ => assert!(changes.is_empty()),
            }
        }
    }

    #[test]
    fn a_fold_adds_new_hosts_once_and_keeps_the_worst_severity() {
        let policy = Policy::default();
        let mut working = with_state(Some(State::Open));
        let mut other = event(Status::Firing);
        other.dedup_key = None;
        let (_, incident, _) = run(&STAGES, &event(Status::Firing), &mut working, &policy, 1);
        working.put(incident.unwrap());
        let mut critical = event(Status::Firing);
        critical.severity = Severity::Critical;
        let (_, incident, _) = run(&STAGES, &critical, &mut working, &policy, 2);
        let incident = incident.unwrap();
        assert_eq!(incident.hosts, vec!["web-1".to_owned()]);
        assert_eq!(incident.severity, Severity::Critical);
        assert_eq!(incident.count, 3);
    }
}
