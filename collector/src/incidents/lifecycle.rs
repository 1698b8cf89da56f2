//! The ITIL lifecycle (open → acknowledged → resolved → closed) as building blocks the stages,
//! the actions and the tick share: making a new incident, timeline entries, resolve, close,
//! flapping marks, SLA due times, and the time-driven changes (SLA breaches, settling after
//! flapping, closing after retention). Pure functions of the incident, the policy and `now`.

use super::action::Action;
use super::effect::Change;
use super::event::EventIn;
use super::flapping::FlapHistory;
use super::model::{Incident, Sla, State, TimelineEntry, TimelineKind};
use super::policy::Policy;
use vigil_shared::event::Status;

/// Who the engine names when it acts by itself.
pub const VIGIL: &str = "vigil";
/// Who the engine names when the event source resolved.
pub const SOURCE: &str = "source";

/// A new open incident from its first (firing) event. Priority and SLA are left for the
/// priority stage; flapping history starts with this event.
pub fn new_incident(id: String, fingerprint: String, event: &EventIn, now_ms: i64) -> Incident {
    let mut labels = event.host_labels.clone();
    labels.extend(event.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut flap = FlapHistory::default();
    flap.observe(true);
    let mut incident = Incident {
        id,
        fingerprint,
        title: title(event),
        summary: event.summary.clone(),
        state: State::Open,
        priority: 5,
        severity: event.severity,
        host: event.host.clone(),
        // An event that names no service (an agent's, the heartbeat's) is of its host's
        // `service` label: routes, silences, grouping and change suspicion all see it.
        service: event
            .service
            .clone()
            .or_else(|| labels.get("service").cloned()),
        source: Some(event.source.clone()),
        check: event.check.clone(),
        labels,
        opened_ms: now_ms,
        updated_ms: now_ms,
        acknowledged_ms: None,
        acknowledged_by: None,
        resolved_ms: None,
        resolved_by: None,
        closed_ms: None,
        count: 1,
        flapping: false,
        flap,
        last_status: Status::Firing,
        last_event_ms: now_ms,
        last_firing_ms: (event.status == Status::Firing).then_some(now_ms),
        reopened: 0,
        sla: Sla::default(),
        hosts: event.host.iter().cloned().collect(),
        parent_id: None,
        suspected_change: None,
        silenced: false,
        silenced_ms: None,
        paged: false,
        problem_id: None,
        held_until_ms: None,
        settle_until_ms: None,
        workaround: None,
        runbook: event.runbook.clone(),
        group_key: None,
        page_due_ms: None,
        // Most incidents keep a handful of entries; start small (memory per incident).
        timeline: Vec::with_capacity(2),
        changes: 0,
    };
    let text = (!event.summary.is_empty()).then(|| event.summary.clone());
    incident.timeline.push(TimelineEntry::new(
        now_ms,
        TimelineKind::Opened,
        Some(&event.source),
        text,
    ));
    incident
}

fn title(event: &EventIn) -> String {
    match (&event.host, &event.service) {
        (Some(host), _) => format!("{} on {host}", event.check),
        (None, Some(service)) => format!("{} of {service}", event.check),
        (None, None) => event.check.clone(),
    }
}

/// Sets the SLA due times of the incident's priority, counted from `from_ms`.
pub fn set_sla(incident: &mut Incident, from_ms: i64, policy: &Policy) {
    let target = policy.priority.sla(incident.priority);
    incident.sla.ack_due_ms = from_ms.saturating_add(target.ack_ms);
    incident.sla.resolve_due_ms = from_ms.saturating_add(target.resolve_ms);
}

/// Adds a repeat to the newest timeline entry when it is an aggregate, else starts one.
pub fn fold_entry(incident: &mut Incident, now_ms: i64, firing: bool, policy: &Policy) {
    if let Some(last) = incident.timeline.last_mut()
        && last.kind == TimelineKind::EventFolded
    {
        if firing {
            last.count += 1;
        } else {
            last.resolved_count += 1;
        }
        last.last_ms = Some(now_ms);
        return;
    }
    let mut entry = TimelineEntry::new(now_ms, TimelineKind::EventFolded, None, None);
    if firing {
        entry.count = 1;
    } else {
        entry.resolved_count = 1;
    }
    entry.last_ms = Some(now_ms);
    push(incident, entry, policy);
}

/// Appends an entry, keeping the first one and the newest `max_timeline - 1`.
pub fn push(incident: &mut Incident, entry: TimelineEntry, policy: &Policy) {
    incident.timeline.push(entry);
    let max = policy.max_timeline.max(2);
    if incident.timeline.len() > max {
        incident.timeline.remove(1);
    }
}

/// Marks flapping on or off, with its timeline entry and change.
pub fn set_flapping(
    incident: &mut Incident,
    flapping: bool,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    incident.flapping = flapping;
    let (kind, text) = if flapping {
        (
            TimelineKind::FlappingStarted,
            format!("{:.0} % status changes", incident.flap.percent()),
        )
    } else {
        (TimelineKind::FlappingStopped, "settled".to_owned())
    };
    push(
        incident,
        TimelineEntry::new(now_ms, kind, Some(VIGIL), Some(text)),
        policy,
    );
    changes.push(Change::Flapping { flapping });
}

/// Resolves: state, who, timeline, change.
pub fn resolve(
    incident: &mut Incident,
    by: &str,
    text: Option<String>,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    incident.state = State::Resolved;
    incident.resolved_ms = Some(now_ms);
    incident.resolved_by = Some(by.to_owned());
    incident.updated_ms = now_ms;
    push(
        incident,
        TimelineEntry::new(now_ms, TimelineKind::Resolved, Some(by), text),
        policy,
    );
    changes.push(Change::Resolved {
        after_ms: now_ms - incident.opened_ms,
    });
}

fn close(
    incident: &mut Incident,
    by: &str,
    text: Option<String>,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    incident.state = State::Closed;
    incident.closed_ms = Some(now_ms);
    incident.updated_ms = now_ms;
    push(
        incident,
        TimelineEntry::new(now_ms, TimelineKind::Closed, Some(by), text),
        policy,
    );
    changes.push(Change::Closed);
}

/// Applies an allowed action (see [`super::action::check_action`]).
pub fn act(
    incident: &mut Incident,
    action: Action,
    by: &str,
    text: Option<&str>,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    let entry_text = text.map(str::to_owned);
    incident.updated_ms = now_ms;
    match action {
        Action::Ack => {
            incident.state = State::Acknowledged;
            incident.acknowledged_ms = Some(now_ms);
            incident.acknowledged_by = Some(by.to_owned());
            push(
                incident,
                TimelineEntry::new(now_ms, TimelineKind::Acknowledged, Some(by), entry_text),
                policy,
            );
            changes.push(Change::Acknowledged {
                after_ms: now_ms - incident.opened_ms,
            });
        }
        Action::Resolve => {
            // A person resolving ends the flapping hold.
            incident.flapping = false;
            resolve(incident, by, entry_text, now_ms, policy, changes);
        }
        Action::Close => close(incident, by, entry_text, now_ms, policy, changes),
        Action::Note => {
            push(
                incident,
                TimelineEntry::new(now_ms, TimelineKind::Note, Some(by), entry_text),
                policy,
            );
        }
    }
}

/// The acknowledgement is overdue and not yet counted as breached.
fn ack_breach_due(incident: &Incident, now_ms: i64) -> bool {
    incident.state == State::Open
        && !incident.silenced
        && !incident.sla.ack_breached
        && now_ms > incident.sla.ack_due_ms
}

/// The resolution is overdue and not yet counted as breached.
fn resolve_breach_due(incident: &Incident, now_ms: i64) -> bool {
    incident.state.is_active()
        && !incident.silenced
        && !incident.sla.resolve_breached
        && now_ms > incident.sla.resolve_due_ms
}

/// A flapping incident has been quiet long enough to settle.
fn settle_due(incident: &Incident, now_ms: i64, policy: &Policy) -> bool {
    incident.state.is_active()
        && incident.flapping
        && now_ms - incident.last_event_ms >= policy.flap.settle_after_ms
}

/// A silence began (`true`) or ended over the incident: while silenced its SLA clocks stand
/// still (on the way out the due times move on by the silenced time). Returns whether a page
/// should go out now: the silence ended over an active incident that was never paged.
pub fn set_silenced(
    incident: &mut Incident,
    silenced: bool,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    if incident.silenced == silenced {
        return;
    }
    incident.silenced = silenced;
    incident.updated_ms = now_ms;
    let page = if silenced {
        incident.silenced_ms = Some(now_ms);
        false
    } else {
        let stood = now_ms.saturating_sub(incident.silenced_ms.take().unwrap_or(now_ms));
        incident.sla.ack_due_ms = incident.sla.ack_due_ms.saturating_add(stood);
        incident.sla.resolve_due_ms = incident.sla.resolve_due_ms.saturating_add(stood);
        let page = incident.state.is_active() && !incident.paged;
        incident.paged |= page;
        page
    };
    let kind = if silenced {
        TimelineKind::Silenced
    } else {
        TimelineKind::Unsilenced
    };
    push(
        incident,
        TimelineEntry::new(now_ms, kind, Some(VIGIL), None),
        policy,
    );
    changes.push(Change::Silenced { silenced, page });
}

/// A one-shot incident has had no new event for its check's auto-resolve time (not while
/// flapping: settling decides then).
fn auto_resolve_due(incident: &Incident, now_ms: i64, policy: &Policy) -> bool {
    incident.state.is_active()
        && !incident.flapping
        && auto_resolve_after_ms(incident, policy)
            .is_some_and(|after| now_ms - incident.last_event_ms >= after)
}

/// The quiet time after which `incident` resolves by itself. With novelty paging a
/// service-level incident has none of its own (it takes its first member's check, but lives
/// while any member is active and resolves with the last).
fn auto_resolve_after_ms(incident: &Incident, policy: &Policy) -> Option<i64> {
    if policy.grouping.novelty.is_some() && super::grouping::is_group(incident) {
        return None;
    }
    policy.auto_resolve_after_ms(&incident.check)
}

/// A resolved incident has been kept long enough to close.
fn close_due(incident: &Incident, now_ms: i64, policy: &Policy) -> bool {
    incident.state == State::Resolved
        && incident
            .resolved_ms
            .is_some_and(|resolved| now_ms - resolved >= policy.close_after_ms)
}

/// Whether [`tick`] has anything to do for this incident at `now_ms`.
pub fn tick_due(incident: &Incident, now_ms: i64, policy: &Policy) -> bool {
    ack_breach_due(incident, now_ms)
        || resolve_breach_due(incident, now_ms)
        || settle_due(incident, now_ms, policy)
        || auto_resolve_due(incident, now_ms, policy)
        || close_due(incident, now_ms, policy)
}

/// The earliest time at which [`tick`] will have something to do, if ever: what a shared store
/// indexes so the leader's tick reads only the incidents that are due.
pub fn next_due_ms(incident: &Incident, policy: &Policy) -> Option<i64> {
    let mut due: Option<i64> = None;
    let mut consider = |at: i64| due = Some(due.map_or(at, |d| d.min(at)));
    if incident.state == State::Open && !incident.silenced && !incident.sla.ack_breached {
        consider(incident.sla.ack_due_ms.saturating_add(1));
    }
    if incident.state.is_active() && !incident.silenced && !incident.sla.resolve_breached {
        consider(incident.sla.resolve_due_ms.saturating_add(1));
    }
    if incident.state.is_active() && incident.flapping {
        consider(
            incident
                .last_event_ms
                .saturating_add(policy.flap.settle_after_ms),
        );
    }
    if incident.state.is_active()
        && !incident.flapping
        && let Some(after) = auto_resolve_after_ms(incident, policy)
    {
        consider(incident.last_event_ms.saturating_add(after));
    }
    if incident.state == State::Resolved
        && let Some(resolved) = incident.resolved_ms
    {
        consider(resolved.saturating_add(policy.close_after_ms));
    }
    due
}

/// Records one SLA breach: `kind` is `ack` or `resolve`, `verb` what was not done in time.
fn breach(
    incident: &mut Incident,
    kind: &'static str,
    verb: &str,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    incident.updated_ms = now_ms;
    push(
        incident,
        TimelineEntry::new(
            now_ms,
            TimelineKind::SlaBreached,
            Some(VIGIL),
            Some(format!("not {verb} by the SLA due time")),
        ),
        policy,
    );
    changes.push(Change::SlaBreached { kind });
}

/// Time-driven changes: SLA breaches, settling after flapping, closing after retention.
pub fn tick(incident: &mut Incident, now_ms: i64, policy: &Policy, changes: &mut Vec<Change>) {
    if ack_breach_due(incident, now_ms) {
        incident.sla.ack_breached = true;
        breach(incident, "ack", "acknowledged", now_ms, policy, changes);
    }
    if resolve_breach_due(incident, now_ms) {
        incident.sla.resolve_breached = true;
        breach(incident, "resolve", "resolved", now_ms, policy, changes);
    }
    if settle_due(incident, now_ms, policy) {
        set_flapping(incident, false, now_ms, policy, changes);
        if incident.last_status == Status::Resolved {
            resolve(incident, SOURCE, None, now_ms, policy, changes);
        }
    } else if auto_resolve_due(incident, now_ms, policy) {
        let quiet = auto_resolve_after_ms(incident, policy)
            .map(|after| {
                vigil_shared::format_duration(std::time::Duration::from_millis(after.max(0) as u64))
            })
            .unwrap_or_default();
        resolve(
            incident,
            VIGIL,
            Some(format!(
                "resolved automatically: a one-shot event ({}) with no new event for {quiet}",
                incident.check
            )),
            now_ms,
            policy,
            changes,
        );
    } else if close_due(incident, now_ms, policy) {
        close(
            incident,
            VIGIL,
            Some("closed after the retention period".into()),
            now_ms,
            policy,
            changes,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::event::Severity;

    fn incident() -> Incident {
        let event = EventIn::new("t", "disk", Status::Firing, Severity::Major).with_host("h");
        let mut incident = new_incident("0000000000000001".into(), "fp".into(), &event, 0);
        incident.priority = 3;
        set_sla(&mut incident, 0, &Policy::default());
        incident
    }

    #[test]
    fn next_due_is_the_first_time_tick_has_work() {
        let policy = Policy::default();
        type Setup = Box<dyn Fn(&mut Incident)>;
        let cases: Vec<(&str, Setup)> = vec![
            ("open", Box::new(|_| {})),
            ("acknowledged", Box::new(|i| i.state = State::Acknowledged)),
            (
                "flapping",
                Box::new(|i| {
                    i.flapping = true;
                    i.last_event_ms = 10;
                }),
            ),
            (
                "resolved",
                Box::new(|i| {
                    i.state = State::Resolved;
                    i.resolved_ms = Some(5);
                }),
            ),
        ];
        for (name, setup) in cases {
            let mut incident = incident();
            setup(&mut incident);
            let due = next_due_ms(&incident, &policy).expect(name);
            assert!(!tick_due(&incident, due - 1, &policy), "{name}: early");
            assert!(tick_due(&incident, due, &policy), "{name}: due");
        }
        let mut closed = incident();
        closed.state = State::Closed;
        assert_eq!(next_due_ms(&closed, &policy), None);
    }

    #[test]
    fn a_one_shot_incident_resolves_after_its_quiet_time_unless_it_fires_again() {
        let policy = Policy::default();
        let event = EventIn::new("agent", "reboot", Status::Firing, Severity::Major).with_host("h");
        let mut incident = new_incident("0000000000000002".into(), "fp2".into(), &event, 0);
        set_sla(&mut incident, 0, &policy);
        incident.sla.ack_due_ms = i64::MAX / 2;
        incident.sla.resolve_due_ms = i64::MAX / 2;
        assert_eq!(next_due_ms(&incident, &policy), Some(3_600_000));
        // A new event moves the quiet time on.
        incident.last_event_ms = 1_800_000;
        assert_eq!(next_due_ms(&incident, &policy), Some(5_400_000));
        let mut changes = Vec::new();
        tick(&mut incident, 5_399_999, &policy, &mut changes);
        assert_eq!(incident.state, State::Open);
        tick(&mut incident, 5_400_000, &policy, &mut changes);
        assert_eq!(incident.state, State::Resolved);
        assert_eq!(incident.resolved_by.as_deref(), Some(VIGIL));
        let entry = incident.timeline.last().unwrap();
        assert_eq!(entry.kind, TimelineKind::Resolved);
        assert!(
            entry
                .text
                .as_deref()
                .unwrap()
                .contains("one-shot event (reboot) with no new event for 1h"),
            "{entry:?}"
        );
        assert!(matches!(changes.as_slice(), [Change::Resolved { .. }]));
        // Checks that are not one-shot never resolve by themselves; prefixes match.
        assert_eq!(policy.auto_resolve_after_ms("disk"), None);
        assert_eq!(policy.auto_resolve_after_ms("log:app"), Some(3_600_000));
        let mut custom = policy.clone();
        custom.auto_resolve.push(super::super::policy::AutoResolve {
            check: "log:app".into(),
            after_ms: None,
        });
        assert_eq!(
            custom.auto_resolve_after_ms("log:app"),
            None,
            "the exact entry wins"
        );
        assert_eq!(custom.auto_resolve_after_ms("log:db"), Some(3_600_000));
    }
}
