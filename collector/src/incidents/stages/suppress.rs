//! Stage 2: why an event opens nothing. A firing event less severe than `min_severity` is
//! suppressed; then each [`crate::incidents::context::Muter`] (silences, maintenance windows) is
//! asked in order. A suppressed repeat of an active incident does not fold either: suppression
//! is about the event, whatever is open. Resolved events are never suppressed (they must be able
//! to end what is open).

use super::{Context, Decision, Flow, Step};
use vigil_shared::event::Status;

/// Stage 2.
pub fn stage(context: &Context<'_>, step: &mut Step<'_>) -> Flow {
    if step.event.status != Status::Firing {
        return Flow::Continue;
    }
    let reason = (step.event.severity > context.policy.min_severity)
        .then_some("min_severity")
        .or_else(|| {
            context
                .surroundings
                .muters
                .iter()
                .find_map(|muter| muter.muted_by(step.event, &step.fingerprint, context.now_ms))
        });
    match reason {
        Some(reason) => {
            step.decision = Decision::Suppressed(reason);
            Flow::Stop
        }
        None => Flow::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::run;
    use super::*;
    use crate::incidents::event::EventIn;
    use crate::incidents::policy::Policy;
    use crate::incidents::working::Working;
    use vigil_shared::event::Severity;

    #[test]
    fn severity_below_the_minimum_is_suppressed_for_firing_events_only() {
        let policy = Policy {
            min_severity: Severity::Minor,
            ..Policy::default()
        };
        let table = [
            (Severity::Critical, Status::Firing, Decision::Pending),
            (Severity::Minor, Status::Firing, Decision::Pending),
            (
                Severity::Warning,
                Status::Firing,
                Decision::Suppressed("min_severity"),
            ),
            (
                Severity::Info,
                Status::Firing,
                Decision::Suppressed("min_severity"),
            ),
            (Severity::Info, Status::Resolved, Decision::Pending),
        ];
        for (severity, status, expected) in table {
            let event = EventIn::new("t", "c", status, severity);
            let (decision, _, _) = run(
                &[super::super::fingerprint::stage, stage],
                &event,
                &mut Working::default(),
                &policy,
                0,
            );
            assert_eq!(decision, expected, "{severity:?} {status:?}");
        }
    }
}
