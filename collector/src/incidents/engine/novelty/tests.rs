//! Novelty paging in the engine: the service-level incident forms with its first member, new
//! episodes page it (after the wait, joining a page already due), recurring ones are recorded
//! and page nobody, and each episode end updates its fingerprint's record.

use crate::incidents::effect::Change;
use crate::incidents::model::TimelineKind;
use crate::incidents::policy::{NoveltyPolicy, Policy};
use crate::incidents::{Engine, EventIn, EventOutcome};
use std::collections::HashMap;
use vigil_shared::event::{Severity, Status};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const WAIT: i64 = 30_000;

fn engine(interval_ms: i64) -> Engine {
    let mut policy = Policy::default();
    policy.grouping.novelty = Some(NoveltyPolicy {
        interval_ms,
        ..NoveltyPolicy::default()
    });
    Engine::new(policy, Vec::new(), 0)
}

fn event(host: &str, check: &str, status: Status) -> EventIn {
    EventIn::new("app", check, status, Severity::Major)
        .with_host(host)
        .with_service("checkout")
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

fn unit_of(engine: &Engine, member: &str) -> String {
    let parent = engine.get(member).unwrap().parent_id.clone();
    let parent = parent.expect("attached to its service-level incident");
    assert!(
        engine
            .get(&parent)
            .unwrap()
            .fingerprint
            .starts_with("group:")
    );
    parent
}

/// The unit's latest novelty entry.
fn last_reason(engine: &Engine, unit: &str) -> String {
    let unit = engine.get(unit).unwrap();
    let entry = unit
        .timeline
        .iter()
        .rev()
        .find(|entry| entry.kind == TimelineKind::Novelty)
        .expect("a novelty entry");
    entry.text.clone().unwrap_or_default()
}

/// Whether a change pages (the notify planner's rule: open, reopen, novel).
fn pages(changes: &[Change]) -> usize {
    changes
        .iter()
        .filter(|change| {
            matches!(
                change,
                Change::Opened | Change::Reopened | Change::Novel { .. }
            )
        })
        .count()
}

#[test]
fn a_unit_forms_with_its_first_member_and_pages_new_episodes_only() {
    let mut engine = engine(0);
    // The first member: first ever, so new; the unit forms at once and pages after the wait.
    let a = id(engine.on_event(&event("web-1", "http_5xx", Status::Firing), 1_000));
    let changes = commit(&mut engine);
    let unit = unit_of(&engine, &a);
    assert_eq!(changes[&unit], [Change::Opened]);
    assert_eq!(changes[&a], [Change::Opened, Change::Attached]);
    let service = engine.get(&unit).unwrap();
    assert_eq!(service.held_until_ms, Some(1_000 + WAIT));
    assert_eq!(service.page_due_ms, Some(1_000 + WAIT));
    assert_eq!(service.hosts, ["web-1"]);
    assert!(last_reason(&engine, &unit).contains("new: never seen before"));
    // A new check on another host within the wait joins the page already due.
    let b = id(engine.on_event(&event("web-2", "latency", Status::Firing), 5_000));
    let changes = commit(&mut engine);
    assert_eq!(unit_of(&engine, &b), unit);
    assert_eq!(pages(&changes[&unit]), 0, "{:?}", changes[&unit]);
    assert!(last_reason(&engine, &unit).ends_with("joins the page already due"));
    assert_eq!(engine.get(&unit).unwrap().hosts, ["web-1", "web-2"]);
    // web-1 recovers and fails again an hour later: recurring (quiet 1 h < 5 h), not paged,
    // but recorded on the unit.
    engine.on_event(&event("web-1", "http_5xx", Status::Resolved), 60_000);
    commit(&mut engine);
    assert!(
        engine.get(&unit).unwrap().state.is_active(),
        "web-2 still fails"
    );
    engine.on_event(&event("web-1", "http_5xx", Status::Firing), HOUR);
    let changes = commit(&mut engine);
    assert_eq!(changes.get(&unit).map_or(0, |c| pages(c)), 0);
    let reason = last_reason(&engine, &unit);
    assert!(
        reason.starts_with("http_5xx on web-1: recurring") && reason.ends_with("not paged"),
        "{reason}"
    );
    assert_eq!(engine.get(&unit).unwrap().count, 3);
    // A third check, first ever, while the unit is active and paged: a page of its own.
    let c = id(engine.on_event(&event("web-3", "disk", Status::Firing), 2 * HOUR));
    let changes = commit(&mut engine);
    assert_eq!(unit_of(&engine, &c), unit);
    assert_eq!(
        changes[&unit][0],
        Change::Novel {
            first: false,
            reopened: false
        }
    );
    assert_eq!(pages(&changes[&unit]), 1);
    assert_eq!(
        engine.get(&unit).unwrap().held_until_ms,
        Some(2 * HOUR + WAIT)
    );
    // Every member recovers: the unit resolves with the last.
    for (host, check) in [
        ("web-1", "http_5xx"),
        ("web-2", "latency"),
        ("web-3", "disk"),
    ] {
        engine.on_event(&event(host, check, Status::Resolved), 3 * HOUR);
    }
    let changes = commit(&mut engine);
    assert!(matches!(changes[&unit][..], [Change::Resolved { .. }]));
    // Within the reopen window a recurring member reopens it quietly; past it, a member quiet
    // for longer than its window opens a new one that pages.
    engine.on_event(
        &event("web-2", "latency", Status::Firing),
        3 * HOUR + 10 * MIN,
    );
    let changes = commit(&mut engine);
    assert_eq!(changes[&unit], [Change::Quiet { reopened: true }]);
    engine.on_event(
        &event("web-2", "latency", Status::Resolved),
        3 * HOUR + 11 * MIN,
    );
    commit(&mut engine);
    let later = 3 * HOUR + 11 * MIN + 6 * HOUR;
    let d = id(engine.on_event(&event("web-3", "disk", Status::Firing), later));
    let changes = commit(&mut engine);
    let second = unit_of(&engine, &d);
    assert_ne!(second, unit);
    assert_eq!(changes[&second], [Change::Opened]);
    engine.check_invariants().unwrap();
}

#[test]
fn a_recurring_first_member_opens_the_unit_quietly_and_a_new_one_pages_it_as_its_open() {
    let mut engine = engine(0);
    engine.on_event(&event("web-1", "http_5xx", Status::Firing), 0);
    engine.on_event(&event("web-1", "http_5xx", Status::Resolved), MIN);
    commit(&mut engine);
    // Two hours later (past the reopen window of the first unit): a new unit for a recurring
    // member is opened quietly; a new member then gives it its first page, as an open.
    let a = id(engine.on_event(&event("web-1", "http_5xx", Status::Firing), 2 * HOUR + MIN));
    let changes = commit(&mut engine);
    let unit = unit_of(&engine, &a);
    assert_eq!(changes[&unit], [Change::Quiet { reopened: false }]);
    assert!(!engine.get(&unit).unwrap().paged);
    assert_eq!(engine.get(&unit).unwrap().page_due_ms, None);
    engine.on_event(
        &event("web-2", "latency", Status::Firing),
        2 * HOUR + 2 * MIN,
    );
    let changes = commit(&mut engine);
    assert_eq!(
        changes[&unit][0],
        Change::Novel {
            first: true,
            reopened: false
        },
        "its first page: the sinks hear `open`"
    );
    assert!(!changes[&unit].contains(&Change::HostJoined));
    assert!(engine.get(&unit).unwrap().paged);
}

#[test]
fn pages_of_one_unit_are_an_interval_apart() {
    let mut engine = engine(5 * MIN);
    let a = id(engine.on_event(&event("web-1", "a", Status::Firing), 0));
    commit(&mut engine);
    let unit = unit_of(&engine, &a);
    engine.on_event(&event("web-1", "b", Status::Firing), 2 * MIN);
    let changes = commit(&mut engine);
    assert_eq!(pages(&changes[&unit]), 1);
    assert_eq!(
        engine.get(&unit).unwrap().page_due_ms,
        Some(WAIT + 5 * MIN),
        "the last page's due time + interval, not now + wait"
    );
}

#[test]
fn an_episode_end_keeps_the_record_and_a_long_past_widens_the_window() {
    let mut engine = engine(0);
    // An hour of firing (events every 10 minutes), then resolved.
    for n in 0..=6 {
        engine.on_event(&event("web-1", "http_5xx", Status::Firing), n * 10 * MIN);
    }
    engine.on_event(&event("web-1", "http_5xx", Status::Resolved), HOUR + MIN);
    // The pipeline takes the group's records before the commit, to store them with it.
    let writes = engine.take_novelty_writes();
    commit(&mut engine);
    assert_eq!(writes.len(), 1);
    let record = &writes[0];
    assert_eq!(
        (record.last_firing_ms, record.past_ms, record.past_at_ms),
        (HOUR, HOUR as f64, HOUR + MIN)
    );
    // 10 h of quiet is past W0 (5 h) but inside W0 + 16 × 1 h: recurring.
    let a = id(engine.on_event(&event("web-1", "http_5xx", Status::Firing), 11 * HOUR));
    let changes = commit(&mut engine);
    let unit = unit_of(&engine, &a);
    assert_eq!(changes[&unit], [Change::Quiet { reopened: false }]);
    // 60 min decayed over 7 d for 9 h 59 m: 56 min.
    let reason = last_reason(&engine, &unit);
    assert!(reason.contains("recurring: fired 56m"), "{reason}");
    // Closing a resolved incident is not a second episode end.
    engine.on_event(
        &event("web-1", "http_5xx", Status::Resolved),
        11 * HOUR + MIN,
    );
    assert_eq!(engine.take_novelty_writes().len(), 1);
    commit(&mut engine);
    engine.tick(11 * HOUR + MIN + Policy::default().close_after_ms);
    assert!(engine.take_novelty_writes().is_empty());
    commit(&mut engine);
}

#[test]
fn without_novelty_a_lone_incident_still_waits_and_stands_alone() {
    let mut engine = Engine::new(Policy::default(), Vec::new(), 0);
    let a = id(engine.on_event(&event("web-1", "http_5xx", Status::Firing), 1_000));
    commit(&mut engine);
    let incident = engine.get(&a).unwrap();
    assert_eq!(incident.parent_id, None);
    assert_eq!(incident.held_until_ms, Some(1_000 + WAIT));
    assert!(engine.take_novelty_writes().is_empty());
}
