//! Stage 3 (fold or open) and the ITIL lifecycle: open → acknowledged → resolved → closed, with
//! reopen, flapping hold and time-driven changes. Pure functions of the incident, the event or
//! action, the policy and `now`; the engine decides which one applies.

use super::flapping::FlapHistory;
use super::{
    Action, ActionError, Effect, EventIn, EventOutcome, Incident, Policy, Sla, State,
    TimelineEntry, TimelineKind,
};
use vigil_shared::event::Status;

/// Who the engine names when it acts by itself.
pub const VIGIL: &str = "vigil";
/// Who the engine names when the event source resolved.
pub const SOURCE: &str = "source";

/// A new incident from its first (firing) event.
pub fn open(
    id: String,
    fingerprint: String,
    event: &EventIn,
    now_ms: i64,
    policy: &Policy,
) -> Incident {
    let mut labels = event.host_labels.clone();
    labels.extend(event.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let hosts: Vec<String> = event.host.iter().cloned().collect();
    let priority = policy
        .priority
        .priority(&labels, hosts.len(), event.severity);
    let mut flap = FlapHistory::default();
    flap.observe(true);
    let mut incident = Incident {
        id,
        fingerprint,
        title: title(event),
        summary: event.summary.clone(),
        state: State::Open,
        priority,
        severity: event.severity,
        host: event.host.clone(),
        service: event.service.clone(),
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
        reopened: 0,
        sla: Sla::default(),
        hosts,
        parent_id: None,
        suspected_change: None,
        silenced: false,
        problem_id: None,
        // Most incidents keep a handful of entries; start small (memory per incident).
        timeline: Vec::with_capacity(2),
    };
    set_sla(&mut incident, now_ms, policy);
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

fn set_sla(incident: &mut Incident, from_ms: i64, policy: &Policy) {
    let target = policy.priority.sla(incident.priority);
    incident.sla.ack_due_ms = from_ms.saturating_add(target.ack_ms);
    incident.sla.resolve_due_ms = from_ms.saturating_add(target.resolve_ms);
}

/// A firing repeat of an active incident.
pub fn fold_firing(
    incident: &mut Incident,
    event: &EventIn,
    now_ms: i64,
    policy: &Policy,
    effects: &mut Vec<Effect>,
) -> EventOutcome {
    incident.count += 1;
    absorb(incident, event, now_ms, policy);
    fold_entry(incident, now_ms, true, policy);
    observe(incident, true, now_ms, policy, effects);
    EventOutcome::Folded(incident.id.clone())
}

/// A resolved event for an active incident: resolves it, unless it is flapping.
pub fn fold_resolved(
    incident: &mut Incident,
    event: &EventIn,
    now_ms: i64,
    policy: &Policy,
    effects: &mut Vec<Effect>,
) -> EventOutcome {
    if !event.summary.is_empty() {
        incident.summary = event.summary.clone();
    }
    incident.updated_ms = now_ms;
    observe(incident, false, now_ms, policy, effects);
    if incident.flapping {
        // Held: a flapping incident resolves only once it settles.
        fold_entry(incident, now_ms, false, policy);
        return EventOutcome::Noted(incident.id.clone());
    }
    if incident.state.is_active() {
        resolve(incident, SOURCE, None, now_ms, effects, policy);
        EventOutcome::Resolved(incident.id.clone())
    } else {
        EventOutcome::Noted(incident.id.clone())
    }
}

/// A resolved incident firing again within the reopen window.
pub fn reopen(
    incident: &mut Incident,
    event: &EventIn,
    now_ms: i64,
    policy: &Policy,
    effects: &mut Vec<Effect>,
) -> EventOutcome {
    incident.state = State::Open;
    incident.resolved_ms = None;
    incident.resolved_by = None;
    incident.acknowledged_ms = None;
    incident.acknowledged_by = None;
    incident.reopened += 1;
    incident.count += 1;
    absorb(incident, event, now_ms, policy);
    incident.sla.ack_breached = false;
    incident.sla.resolve_breached = false;
    set_sla(incident, now_ms, policy);
    let text = (!event.summary.is_empty()).then(|| event.summary.clone());
    push(
        incident,
        TimelineEntry::new(now_ms, TimelineKind::Reopened, Some(&event.source), text),
        policy,
    );
    effects.push(Effect::Reopened {
        id: incident.id.clone(),
        priority: incident.priority,
    });
    observe(incident, true, now_ms, policy, effects);
    EventOutcome::Reopened(incident.id.clone())
}

/// Takes what a firing event adds: summary, worse severity, another host; re-prioritizes.
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
    let priority =
        policy
            .priority
            .priority(&incident.labels, incident.hosts.len(), incident.severity);
    if priority != incident.priority {
        let text = format!("priority {} → {priority}", incident.priority);
        incident.priority = priority;
        set_sla(incident, incident.opened_ms, policy);
        push(
            incident,
            TimelineEntry::new(
                now_ms,
                TimelineKind::PriorityChanged,
                Some(VIGIL),
                Some(text),
            ),
            policy,
        );
    }
}

/// Adds a repeat to the newest timeline entry when it is an aggregate, else starts one.
fn fold_entry(incident: &mut Incident, now_ms: i64, firing: bool, policy: &Policy) {
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

/// Stage 4: records a status for flapping detection; flapping starts or stops. When it stops
/// on a resolved status, the incident resolves (once).
fn observe(
    incident: &mut Incident,
    firing: bool,
    now_ms: i64,
    policy: &Policy,
    effects: &mut Vec<Effect>,
) {
    incident.flap.observe(firing);
    incident.last_status = if firing {
        Status::Firing
    } else {
        Status::Resolved
    };
    incident.last_event_ms = now_ms;
    let flapping = incident.flap.next_state(incident.flapping, &policy.flap);
    if flapping != incident.flapping {
        set_flapping(incident, flapping, now_ms, policy, effects);
    }
}

fn set_flapping(
    incident: &mut Incident,
    flapping: bool,
    now_ms: i64,
    policy: &Policy,
    effects: &mut Vec<Effect>,
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
    effects.push(Effect::Flapping {
        id: incident.id.clone(),
        flapping,
    });
}

fn resolve(
    incident: &mut Incident,
    by: &str,
    text: Option<String>,
    now_ms: i64,
    effects: &mut Vec<Effect>,
    policy: &Policy,
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
    effects.push(Effect::Resolved {
        id: incident.id.clone(),
        priority: incident.priority,
        after_ms: now_ms - incident.opened_ms,
    });
}

fn close(
    incident: &mut Incident,
    by: &str,
    text: Option<String>,
    now_ms: i64,
    effects: &mut Vec<Effect>,
    policy: &Policy,
) {
    incident.state = State::Closed;
    incident.closed_ms = Some(now_ms);
    incident.updated_ms = now_ms;
    push(
        incident,
        TimelineEntry::new(now_ms, TimelineKind::Closed, Some(by), text),
        policy,
    );
    effects.push(Effect::Closed {
        id: incident.id.clone(),
    });
}

/// Appends an entry, keeping the first one and the newest `max_timeline - 1`.
fn push(incident: &mut Incident, entry: TimelineEntry, policy: &Policy) {
    incident.timeline.push(entry);
    let max = policy.max_timeline.max(2);
    if incident.timeline.len() > max {
        incident.timeline.remove(1);
    }
}

/// Refuses actions that do not apply in the incident's state.
pub fn check_action(incident: &Incident, action: Action) -> Result<(), ActionError> {
    let refuse = |hint: &'static str| ActionError::InvalidTransition {
        id: incident.id.clone(),
        state: incident.state.as_str(),
        action: action.as_str(),
        hint,
    };
    match (action, incident.state) {
        (_, State::Closed) if action != Action::Close => Err(refuse("a closed incident is final")),
        (Action::Ack, State::Resolved) => Err(refuse(
            "it is already resolved; it reopens by itself if it fires again",
        )),
        (Action::Close, State::Open | State::Acknowledged) => {
            Err(refuse("resolve it first, then close it"))
        }
        _ => Ok(()),
    }
}

/// False for an action that is already in effect (ack of an acknowledged incident, resolve of a
/// resolved one, close of a closed one): answered with the incident unchanged.
pub fn would_change(incident: &Incident, action: Action) -> bool {
    !matches!(
        (action, incident.state),
        (Action::Ack, State::Acknowledged)
            | (Action::Resolve, State::Resolved)
            | (Action::Close, State::Closed)
    )
}

/// Applies an allowed action (see [`check_action`]).
pub fn act(
    incident: &mut Incident,
    action: Action,
    by: &str,
    text: Option<&str>,
    now_ms: i64,
    policy: &Policy,
    effects: &mut Vec<Effect>,
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
            effects.push(Effect::Acknowledged {
                id: incident.id.clone(),
                priority: incident.priority,
                after_ms: now_ms - incident.opened_ms,
            });
        }
        Action::Resolve => {
            // A person resolving ends the flapping hold.
            incident.flapping = false;
            resolve(incident, by, entry_text, now_ms, effects, policy);
        }
        Action::Close => close(incident, by, entry_text, now_ms, effects, policy),
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
    incident.state == State::Open && !incident.sla.ack_breached && now_ms > incident.sla.ack_due_ms
}

/// The resolution is overdue and not yet counted as breached.
fn resolve_breach_due(incident: &Incident, now_ms: i64) -> bool {
    incident.state.is_active()
        && !incident.sla.resolve_breached
        && now_ms > incident.sla.resolve_due_ms
}

/// A flapping incident has been quiet long enough to settle.
fn settle_due(incident: &Incident, now_ms: i64, policy: &Policy) -> bool {
    incident.state.is_active()
        && incident.flapping
        && now_ms - incident.last_event_ms >= policy.flap.settle_after_ms
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
        || close_due(incident, now_ms, policy)
}

/// Records one SLA breach: `kind` is `ack` or `resolve`, `verb` what was not done in time.
fn breach(
    incident: &mut Incident,
    kind: &'static str,
    verb: &str,
    now_ms: i64,
    policy: &Policy,
    effects: &mut Vec<Effect>,
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
    effects.push(Effect::SlaBreached {
        id: incident.id.clone(),
        priority: incident.priority,
        kind,
    });
}

/// Time-driven changes: SLA breaches, settling after flapping, closing after retention.
pub fn tick(incident: &mut Incident, now_ms: i64, policy: &Policy, effects: &mut Vec<Effect>) {
    if ack_breach_due(incident, now_ms) {
        incident.sla.ack_breached = true;
        breach(incident, "ack", "acknowledged", now_ms, policy, effects);
    }
    if resolve_breach_due(incident, now_ms) {
        incident.sla.resolve_breached = true;
        breach(incident, "resolve", "resolved", now_ms, policy, effects);
    }
    if settle_due(incident, now_ms, policy) {
        set_flapping(incident, false, now_ms, policy, effects);
        if incident.last_status == Status::Resolved {
            resolve(incident, SOURCE, None, now_ms, effects, policy);
        }
    } else if close_due(incident, now_ms, policy) {
        close(
            incident,
            VIGIL,
            Some("closed after the retention period".into()),
            now_ms,
            effects,
            policy,
        );
    }
}
