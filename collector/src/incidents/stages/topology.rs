//! Stage 6: topology. A new or reopened incident on a host that depends (directly or
//! transitively) on a host with an outage attaches to that outage's incident — the top of its
//! chain — and is not notified. One whose host has dependencies, none of them down, is held for
//! `topology_hold_ms` (its notifications wait; see `crate::incidents::topology`). The reverse
//! order — the outage found after its dependants — is the engine's, right after the stages.

use super::{Context, Decision, Flow, Step};
use crate::incidents::topology;

/// Stage 6.
pub fn stage(context: &Context<'_>, step: &mut Step<'_>) -> Flow {
    if !matches!(step.decision, Decision::Opened | Decision::Reopened) {
        return Flow::Continue;
    }
    let depends_on = &context.surroundings.depends_on;
    if depends_on.is_empty() {
        return Flow::Continue;
    }
    let Some(incident) = step.incident.as_mut() else {
        return Flow::Continue;
    };
    let Some(host) = incident.host.clone() else {
        return Flow::Continue;
    };
    let dependencies = topology::dependencies(depends_on, &host);
    if dependencies.is_empty() {
        return Flow::Continue;
    }
    let own_id = incident.id.clone();
    let outage = dependencies.iter().find_map(|dependency| {
        step.working
            .on_host(dependency)
            .filter(|other| other.id != own_id)
            .find(|other| topology::is_outage(other))
            .map(|other| {
                (
                    other.parent_id.clone().unwrap_or_else(|| other.id.clone()),
                    dependency.clone(),
                )
            })
    });
    let incident = std::sync::Arc::make_mut(incident);
    match outage {
        Some((parent, via)) => topology::attach(
            incident,
            &parent,
            &via,
            context.now_ms,
            context.policy,
            &mut step.changes,
        ),
        None if context.policy.topology_hold_ms > 0 => {
            incident.held_until_ms = Some(
                context
                    .now_ms
                    .saturating_add(context.policy.topology_hold_ms),
            );
        }
        None => {}
    }
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use crate::incidents::effect::Change;
    use crate::incidents::policy::Policy;
    use crate::incidents::{Engine, EventIn, EventOutcome};
    use std::collections::HashMap;
    use vigil_shared::event::{Severity, Status};

    fn engine() -> Engine {
        let mut engine = Engine::new(Policy::default(), Vec::new(), 0);
        engine.surroundings_mut().depends_on = HashMap::from([
            ("web-1".to_owned(), vec!["switch-a".to_owned()]),
            ("web-2".to_owned(), vec!["switch-a".to_owned()]),
            ("switch-a".to_owned(), vec!["core".to_owned()]),
        ]);
        engine
    }

    fn down(host: &str, status: Status) -> EventIn {
        EventIn::new("vigil", "host_down", status, Severity::Critical).with_host(host)
    }

    fn probe(host: &str, status: Status) -> EventIn {
        EventIn::new("agent", "probe:web", status, Severity::Major).with_host(host)
    }

    fn opened(outcome: EventOutcome) -> String {
        match outcome {
            EventOutcome::Opened(id) => id,
            other => panic!("not opened: {other:?}"),
        }
    }

    fn changes(engine: &mut Engine, id: &str) -> Vec<Change> {
        engine
            .commit()
            .into_iter()
            .filter(|effect| effect.id() == id)
            .map(|effect| effect.change)
            .collect()
    }

    #[test]
    fn a_child_seen_after_its_parent_attaches_to_the_top_of_the_chain() {
        let mut engine = engine();
        let core = opened(engine.on_event(&down("core", Status::Firing), 1_000));
        let switch = opened(engine.on_event(&down("switch-a", Status::Firing), 1_100));
        let web = opened(engine.on_event(&probe("web-1", Status::Firing), 1_200));
        engine.commit();
        assert_eq!(
            engine.get(&switch).unwrap().parent_id.as_deref(),
            Some(core.as_str())
        );
        assert_eq!(
            engine.get(&web).unwrap().parent_id.as_deref(),
            Some(core.as_str())
        );
        assert_eq!(engine.get(&web).unwrap().held_until_ms, None);
        assert!(
            !engine.get(&web).unwrap().paged,
            "an attached incident is not paged"
        );
        assert_eq!(engine.get(&core).unwrap().parent_id, None);
    }

    #[test]
    fn a_child_seen_before_its_parent_is_held_then_attached() {
        let mut engine = engine();
        let web = opened(engine.on_event(&probe("web-1", Status::Firing), 1_000));
        let hold = Policy::default().topology_hold_ms;
        assert_eq!(engine.get(&web).unwrap().held_until_ms, Some(1_000 + hold));
        engine.commit();
        // A host with no dependencies is never held.
        let lonely = opened(engine.on_event(&probe("db-9", Status::Firing), 1_000));
        assert_eq!(engine.get(&lonely).unwrap().held_until_ms, None);
        engine.commit();
        let switch = opened(engine.on_event(&down("switch-a", Status::Firing), 3_000));
        assert_eq!(changes(&mut engine, &web), [Change::Attached]);
        let child = engine.get(&web).unwrap();
        assert_eq!(child.parent_id.as_deref(), Some(switch.as_str()));
        assert_eq!(child.held_until_ms, None);
        assert_eq!(
            engine.get(&lonely).unwrap().parent_id,
            None,
            "unrelated hosts stay on their own"
        );
    }

    #[test]
    fn after_the_parent_resolves_children_resolve_quietly_or_detach_after_the_settle_time() {
        let mut engine = engine();
        let switch = opened(engine.on_event(&down("switch-a", Status::Firing), 1_000));
        let web1 = opened(engine.on_event(&probe("web-1", Status::Firing), 1_100));
        let web2 = opened(engine.on_event(&probe("web-2", Status::Firing), 1_200));
        engine.commit();
        engine.on_event(&down("switch-a", Status::Resolved), 10_000);
        engine.commit();
        let settle = Policy::default().topology_settle_ms;
        assert_eq!(
            engine.get(&web1).unwrap().settle_until_ms,
            Some(10_000 + settle)
        );
        // web-1 recovers within the settle time: resolved, still attached (not notified).
        engine.on_event(&probe("web-1", Status::Resolved), 11_000);
        engine.commit();
        assert!(!engine.get(&web1).unwrap().state.is_active());
        assert!(engine.get(&web1).unwrap().parent_id.is_some());
        // web-2 keeps failing: detached at the end of the settle time, and paged then.
        engine.tick(10_000 + settle - 1);
        assert!(changes(&mut engine, &web2).is_empty());
        engine.tick(10_000 + settle);
        assert_eq!(changes(&mut engine, &web2), [Change::Detached]);
        let web2 = engine.get(&web2).unwrap();
        assert_eq!(web2.parent_id, None);
        assert!(web2.paged);
        assert!(!engine.get(&switch).unwrap().state.is_active());
    }
}
