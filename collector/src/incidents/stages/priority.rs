//! Stage 5: priority (impact × urgency, [`crate::incidents::priority::PriorityPolicy`]) and SLA
//! due times. A new incident gets its priority and due times from now; a reopened one is
//! re-prioritized with due times from now; a fold that raises (or lowers) the priority — a worse
//! severity, more hosts — records it and moves the due times, still counted from opening.

use super::{Context, Decision, Flow, Step};
use crate::incidents::effect::Change;
use crate::incidents::lifecycle::{self, VIGIL};
use crate::incidents::model::{TimelineEntry, TimelineKind};

/// Stage 5.
pub fn stage(context: &Context<'_>, step: &mut Step<'_>) -> Flow {
    let (now_ms, policy) = (context.now_ms, context.policy);
    let Some(incident) = step.incident.as_mut() else {
        return Flow::Continue;
    };
    if !matches!(
        step.decision,
        Decision::Opened | Decision::Folded | Decision::Reopened
    ) {
        return Flow::Continue;
    }
    let incident = std::sync::Arc::make_mut(incident);
    let priority =
        policy
            .priority
            .priority(&incident.labels, incident.hosts.len(), incident.severity);
    if step.decision == Decision::Opened {
        incident.priority = priority;
        lifecycle::set_sla(incident, now_ms, policy);
        return Flow::Continue;
    }
    if priority != incident.priority {
        let from = incident.priority;
        incident.priority = priority;
        lifecycle::set_sla(incident, incident.opened_ms, policy);
        lifecycle::push(
            incident,
            TimelineEntry::new(
                now_ms,
                TimelineKind::PriorityChanged,
                Some(VIGIL),
                Some(format!("priority {from} → {priority}")),
            ),
            policy,
        );
        step.changes.push(Change::PriorityChanged { from });
    }
    if step.decision == Decision::Reopened {
        lifecycle::set_sla(incident, now_ms, policy);
    }
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::super::test_util::run_all_and_commit;
    use super::*;
    use crate::incidents::event::EventIn;
    use crate::incidents::policy::Policy;
    use crate::incidents::working::Working;
    use vigil_shared::event::{Severity, Status};

    #[test]
    fn priority_follows_severity_and_breadth_and_due_times_follow_priority() {
        let policy = Policy::default();
        let mut working = Working::default();
        // (severity, host, expected priority, priority changed)
        let table = [
            (Severity::Warning, "h0", 4, false),
            (Severity::Warning, "h0", 4, false),
            (Severity::Critical, "h0", 2, true),
            (Severity::Warning, "h1", 2, false),
            (Severity::Warning, "h2", 2, false),
            (Severity::Warning, "h3", 2, false),
            (Severity::Warning, "h4", 1, true),
        ];
        for (n, (severity, host, expected, changed)) in table.into_iter().enumerate() {
            let mut event = EventIn::new("t", "c", Status::Firing, severity).with_host(host);
            event.dedup_key = Some("one".into());
            let (_, incident, changes) =
                run_all_and_commit(&event, &mut working, &policy, n as i64);
            assert_eq!(incident.priority, expected, "event {n}");
            assert_eq!(
                changes
                    .iter()
                    .any(|c| matches!(c, Change::PriorityChanged { .. })),
                changed,
                "event {n}: {changes:?}"
            );
            let target = policy.priority.sla(expected);
            assert_eq!(
                incident.sla.ack_due_ms,
                incident.opened_ms + target.ack_ms,
                "event {n}"
            );
        }
    }
}
