//! Engine tests: lifecycle scenarios and a property test of the state machine.

use super::*;
use proptest::prelude::*;
use vigil_shared::event::{Severity, Status};

const MIN: i64 = 60_000;

fn firing(check: &str) -> EventIn {
    EventIn::new("test", check, Status::Firing, Severity::Major).with_host("web-1")
}

fn resolved(check: &str) -> EventIn {
    EventIn::new("test", check, Status::Resolved, Severity::Major).with_host("web-1")
}

fn engine() -> Engine {
    Engine::new(Policy::default(), Vec::new(), 0)
}

fn committed(engine: &mut Engine) -> Vec<Effect> {
    let effects = engine.commit();
    engine.check_invariants().unwrap();
    effects
}

#[test]
fn repeats_fold_into_one_incident_with_one_aggregated_timeline_entry() {
    let mut engine = engine();
    let first = engine.on_event(&firing("disk"), 1_000);
    let EventOutcome::Opened(id) = first else {
        panic!("{first:?}")
    };
    for i in 0..9_999 {
        assert_eq!(
            engine.on_event(&firing("disk"), 2_000 + i),
            EventOutcome::Folded(id.clone())
        );
    }
    committed(&mut engine);
    let incident = engine.get(&id).unwrap();
    assert_eq!(incident.count, 10_000);
    assert_eq!(incident.timeline.len(), 2, "{:?}", incident.timeline);
    assert_eq!(incident.timeline[1].kind, TimelineKind::EventFolded);
    assert_eq!(incident.timeline[1].count, 9_999);
    assert_eq!(incident.timeline[1].last_ms, Some(2_000 + 9_998));
}

#[test]
fn resolved_event_resolves_and_a_new_firing_reopens_within_the_window_only() {
    let mut engine = engine();
    let id = engine
        .on_event(&firing("disk"), 0)
        .incident_id()
        .unwrap()
        .to_owned();
    assert_eq!(
        engine.on_event(&resolved("disk"), MIN),
        EventOutcome::Resolved(id.clone())
    );
    assert_eq!(
        engine.on_event(&resolved("disk"), MIN + 1),
        EventOutcome::Noted(id.clone()),
        "a resend of resolved changes nothing"
    );
    assert_eq!(
        engine.on_event(&firing("disk"), 2 * MIN),
        EventOutcome::Reopened(id.clone())
    );
    let incident = engine.get(&id).unwrap();
    assert_eq!(incident.state, State::Open);
    assert_eq!(incident.reopened, 1);
    engine.on_event(&resolved("disk"), 3 * MIN);
    let later = 3 * MIN + engine.policy().reopen_window_ms + 1;
    let EventOutcome::Opened(new_id) = engine.on_event(&firing("disk"), later) else {
        panic!("a firing after the reopen window opens a new incident")
    };
    assert_ne!(new_id, id);
    assert!(new_id > id, "ids are time-ordered");
    committed(&mut engine);
}

#[test]
fn resolved_without_incident_and_low_severity_open_nothing() {
    let mut engine = engine();
    assert_eq!(engine.on_event(&resolved("x"), 0), EventOutcome::NoIncident);
    let mut info = firing("x");
    info.severity = Severity::Info;
    assert_eq!(
        engine.on_event(&info, 0),
        EventOutcome::Suppressed("min_severity")
    );
    assert_eq!(engine.incidents().count(), 0);
}

#[test]
fn flapping_holds_one_incident_and_it_resolves_exactly_once_when_settled() {
    let mut engine = engine();
    let id = engine
        .on_event(&firing("web"), 0)
        .incident_id()
        .unwrap()
        .to_owned();
    let mut resolved_count = 0;
    let mut now = 0;
    for i in 0..40 {
        now = (i + 1) * 1_000;
        let event = if i % 2 == 0 {
            resolved("web")
        } else {
            firing("web")
        };
        let outcome = engine.on_event(&event, now);
        assert_eq!(outcome.incident_id(), Some(id.as_str()), "{outcome:?}");
        if matches!(outcome, EventOutcome::Resolved(_)) {
            resolved_count += 1;
        }
    }
    let effects = committed(&mut engine);
    let incident = engine.get(&id).unwrap();
    assert!(incident.flapping, "alternating input marks flapping");
    assert_eq!(incident.state, State::Open);
    assert_eq!(engine.incidents().count(), 1, "still one incident");
    assert!(resolved_count <= 3, "flapping stops the churn early");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e.change, Change::Flapping { flapping: true }))
    );
    // The last event was firing; it ends resolved and then goes quiet.
    engine.on_event(&resolved("web"), now + 1_000);
    engine.tick(now + 1_000 + engine.policy().flap.settle_after_ms);
    let effects = committed(&mut engine);
    let incident = engine.get(&id).unwrap();
    assert!(!incident.flapping);
    assert_eq!(incident.state, State::Resolved);
    assert_eq!(
        effects
            .iter()
            .filter(|e| matches!(e.change, Change::Resolved { .. }))
            .count(),
        1
    );
    engine.tick(now + 2 * engine.policy().flap.settle_after_ms);
    assert!(
        committed(&mut engine)
            .iter()
            .all(|e| !matches!(e.change, Change::Resolved { .. })),
        "resolves once"
    );
}

#[test]
fn actions_follow_the_lifecycle_and_record_who_acted() {
    let mut engine = engine();
    let id = engine
        .on_event(&firing("cpu"), 0)
        .incident_id()
        .unwrap()
        .to_owned();
    assert!(matches!(
        engine.act(&id, Action::Close, "alice", None, 1),
        Err(ActionError::InvalidTransition { .. })
    ));
    assert!(matches!(
        engine.act(&id, Action::Ack, " ", None, 1),
        Err(ActionError::Invalid(_))
    ));
    let acked = engine
        .act(&id, Action::Ack, "alice", None, 5 * MIN)
        .unwrap();
    assert_eq!(acked.state, State::Acknowledged);
    assert_eq!(acked.acknowledged_by.as_deref(), Some("alice"));
    let again = engine.act(&id, Action::Ack, "bob", None, 6 * MIN).unwrap();
    assert_eq!(
        again.acknowledged_by.as_deref(),
        Some("alice"),
        "idempotent"
    );
    engine
        .act(&id, Action::Note, "alice", Some("disk swapped"), 7 * MIN)
        .unwrap();
    assert!(matches!(
        engine.act(&id, Action::Note, "alice", None, 7 * MIN),
        Err(ActionError::Invalid(_))
    ));
    let resolved = engine
        .act(&id, Action::Resolve, "alice", None, 8 * MIN)
        .unwrap();
    assert_eq!(resolved.state, State::Resolved);
    assert!(matches!(
        engine.act(&id, Action::Ack, "alice", None, 9 * MIN),
        Err(ActionError::InvalidTransition { .. })
    ));
    let closed = engine
        .act(&id, Action::Close, "alice", None, 9 * MIN)
        .unwrap();
    assert_eq!(closed.state, State::Closed);
    let effects = committed(&mut engine);
    assert!(effects.iter().any(|effect| effect.id() == id
        && effect.priority() == 2
        && effect.change == Change::Acknowledged { after_ms: 5 * MIN }));
    assert!(engine.get(&id).is_none(), "closed incidents leave memory");
    let kinds: Vec<TimelineKind> = closed.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            TimelineKind::Opened,
            TimelineKind::Acknowledged,
            TimelineKind::Note,
            TimelineKind::Resolved,
            TimelineKind::Closed
        ]
    );
    assert_eq!(
        engine.act(&id, Action::Ack, "x", None, 0),
        Err(ActionError::NotFound(id))
    );
}

#[test]
fn sla_breaches_are_detected_once_and_resolved_incidents_close_after_retention() {
    let mut engine = engine();
    let id = engine
        .on_event(&firing("cpu"), 0)
        .incident_id()
        .unwrap()
        .to_owned();
    committed(&mut engine);
    let ack_due = engine.get(&id).unwrap().sla.ack_due_ms;
    assert_eq!(ack_due, 30 * MIN, "priority 2: 30 minutes to acknowledge");
    engine.tick(ack_due);
    assert!(committed(&mut engine).is_empty());
    engine.tick(ack_due + 1);
    let effects = committed(&mut engine);
    assert_eq!(effects.len(), 1, "{effects:?}");
    assert_eq!(effects[0].change, Change::SlaBreached { kind: "ack" });
    assert_eq!((effects[0].id(), effects[0].priority()), (id.as_str(), 2));
    assert!(
        effects[0].incident.sla.ack_breached,
        "the snapshot is as committed"
    );
    assert!(engine.get(&id).unwrap().sla.breached());
    engine.tick(ack_due + 2);
    assert!(committed(&mut engine).is_empty(), "breach counted once");
    engine.on_event(&resolved("cpu"), ack_due + 3);
    committed(&mut engine);
    engine.tick(ack_due + 3 + engine.policy().close_after_ms);
    let effects = committed(&mut engine);
    assert_eq!(effects.len(), 1);
    assert_eq!(effects[0].change, Change::Closed);
    assert_eq!(effects[0].incident.state, State::Closed);
    assert!(engine.get(&id).is_none());
}

#[test]
fn priority_escalates_with_severity_and_breadth() {
    let mut engine = engine();
    let mut event = firing("latency");
    event.dedup_key = Some("checkout-latency".into());
    event.severity = Severity::Warning;
    let id = engine.on_event(&event, 0).incident_id().unwrap().to_owned();
    assert_eq!(engine.get(&id).unwrap().priority, 4);
    event.severity = Severity::Critical;
    engine.on_event(&event, 1);
    assert_eq!(engine.get(&id).unwrap().priority, 2);
    for host in ["web-2", "web-3", "web-4", "web-5"] {
        event.host = Some(host.into());
        engine.on_event(&event, 2);
    }
    let incident = engine.get(&id).unwrap();
    assert_eq!(incident.hosts.len(), 5);
    assert_eq!(incident.priority, 1, "five hosts: high impact");
    assert!(
        incident
            .timeline
            .iter()
            .any(|e| e.kind == TimelineKind::PriorityChanged)
    );
}

#[test]
fn rollback_restores_memory_exactly() {
    let mut engine = engine();
    let id = engine
        .on_event(&firing("a"), 0)
        .incident_id()
        .unwrap()
        .to_owned();
    committed(&mut engine);
    let before = engine.get(&id).unwrap().clone();
    engine.on_event(&firing("a"), 1);
    engine.on_event(&resolved("a"), 2);
    let opened = engine.on_event(&firing("b"), 3);
    engine.act(&id, Action::Close, "x", None, 4).unwrap();
    engine.rollback();
    engine.check_invariants().unwrap();
    assert_eq!(engine.get(&id), Some(&before));
    assert!(engine.get(opened.incident_id().unwrap()).is_none());
    assert_eq!(engine.dirty().count(), 0);
    // The fingerprint index still finds the restored incident.
    assert_eq!(
        engine.on_event(&firing("a"), 5),
        EventOutcome::Folded(id.clone())
    );
}

#[test]
fn restored_engine_continues_where_it_stopped() {
    let mut engine = engine();
    let id = engine
        .on_event(&firing("a"), 0)
        .incident_id()
        .unwrap()
        .to_owned();
    committed(&mut engine);
    let saved: Vec<Incident> = engine.incidents().cloned().collect();
    let mut restored = Engine::new(Policy::default(), saved, 0);
    assert_eq!(
        restored.on_event(&firing("a"), 10),
        EventOutcome::Folded(id.clone())
    );
    let EventOutcome::Opened(other) = restored.on_event(&firing("b"), 0) else {
        panic!()
    };
    assert!(other > id, "ids keep growing after a restart");
}

#[derive(Debug, Clone)]
enum Step {
    Event { check: u8, firing: bool, host: u8 },
    Act { pick: u8, action: u8 },
    Tick,
    Rollback,
    Commit,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..3, any::<bool>(), 0u8..3).prop_map(|(check, firing, host)| Step::Event { check, firing, host }),
        2 => (any::<u8>(), 0u8..4).prop_map(|(pick, action)| Step::Act { pick, action }),
        1 => Just(Step::Tick),
        1 => Just(Step::Rollback),
        2 => Just(Step::Commit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No sequence of events, actions, ticks, commits and rollbacks leads to two active
    /// incidents with one fingerprint, and every firing event lands in an incident.
    #[test]
    fn never_two_active_incidents_per_fingerprint(
        steps in proptest::collection::vec(step(), 1..200),
        gaps in proptest::collection::vec(0i64..(30 * MIN), 200),
    ) {
        let policy = Policy {
            reopen_window_ms: 10 * MIN,
            close_after_ms: 20 * MIN,
            ..Policy::default()
        };
        let mut engine = Engine::new(policy, Vec::new(), 0);
        let mut now = 0;
        for (step, gap) in steps.iter().zip(&gaps) {
            now += gap;
            match step {
                Step::Event { check, firing: true, host } => {
                    let mut event = firing(&format!("c{check}"));
                    event.host = Some(format!("h{host}"));
                    let outcome = engine.on_event(&event, now);
                    prop_assert!(
                        matches!(outcome, EventOutcome::Opened(_) | EventOutcome::Folded(_) | EventOutcome::Reopened(_)),
                        "{outcome:?}"
                    );
                    let incident = engine.get(outcome.incident_id().unwrap()).unwrap();
                    prop_assert!(incident.state.is_active());
                }
                Step::Event { check, firing: false, host } => {
                    let mut event = resolved(&format!("c{check}"));
                    event.host = Some(format!("h{host}"));
                    engine.on_event(&event, now);
                }
                Step::Act { pick, action } => {
                    let ids: Vec<String> = engine.incidents().map(|i| i.id.clone()).collect();
                    if !ids.is_empty() {
                        let id = &ids[usize::from(*pick) % ids.len()];
                        let action = [Action::Ack, Action::Resolve, Action::Close, Action::Note][usize::from(*action)];
                        let _ = engine.act(id, action, "p", Some("n"), now);
                    }
                }
                Step::Tick => engine.tick(now),
                Step::Rollback => engine.rollback(),
                Step::Commit => { engine.commit(); }
            }
            prop_assert_eq!(engine.check_invariants(), Ok(()));
        }
    }
}

/// A repeat folded in is checked against the silences again whenever something its coverage
/// depends on moved: the set, a boundary, a rolled-back group.
#[test]
fn repeats_are_checked_against_the_silences_again_when_the_set_or_the_group_changes() {
    use super::silence::Silence;
    let mut engine = Engine::new(Policy::default(), Vec::new(), 0);
    let event = EventIn::new("nagios", "http_5xx", Status::Firing, Severity::Major)
        .with_host("web-1")
        .with_service("billing");
    let id = match engine.on_event(&event, 1_000) {
        EventOutcome::Opened(id) => id,
        other => panic!("{other:?}"),
    };
    engine.commit();
    assert!(!engine.get(&id).unwrap().silenced);
    // A silence made now covers the next repeat (the set changed).
    let silence = |id: &str, starts_ms: i64, ends_ms: i64| {
        Silence::compile(id, [("service", "=", "billing")], starts_ms, ends_ms).unwrap()
    };
    engine
        .surroundings_mut()
        .silences
        .upsert(silence("s1", 0, 5_000), 1_500);
    engine.on_event(&event, 2_000);
    engine.commit();
    assert!(engine.get(&id).unwrap().silenced, "a new silence is seen");
    // Its end is a boundary: the first repeat after it is checked again.
    engine.on_event(&event, 5_000);
    engine.commit();
    assert!(
        !engine.get(&id).unwrap().silenced,
        "an ended silence is seen"
    );
    // A silence that starts later: not yet, then yes.
    engine
        .surroundings_mut()
        .silences
        .upsert(silence("s2", 7_000, 9_000), 5_500);
    engine.on_event(&event, 6_000);
    engine.commit();
    assert!(!engine.get(&id).unwrap().silenced);
    engine.on_event(&event, 7_000);
    // The group does not commit: the check it made is forgotten with it.
    engine.rollback();
    assert!(!engine.get(&id).unwrap().silenced);
    engine.on_event(&event, 7_500);
    engine.commit();
    assert!(
        engine.get(&id).unwrap().silenced,
        "after a rollback the repeat is checked again"
    );
}
