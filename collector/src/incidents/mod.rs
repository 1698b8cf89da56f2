//! The incident engine: events in, at most one open incident per fingerprint out.
//!
//! # Pipeline
//!
//! Every event goes through the same stages, in this order (written once, in
//! [`Engine::on_event`]):
//!
//! 1. **fingerprint** ([`fingerprint`]) — the dedup key.
//! 2. **suppress** ([`Engine::suppressed_by`]) — events below `min_severity` open nothing (silences
//!    and maintenance windows slot in here).
//! 3. **fold or open** ([`lifecycle`]) — fold into the fingerprint's open or acknowledged
//!    incident, reopen a recently resolved one, resolve on a resolved event, or open a new one.
//! 4. **flapping** ([`flapping`]) — too many status changes keep the incident open and marked
//!    `flapping` until it settles, then it resolves exactly once.
//! 5. **priority and SLA** ([`priority`]) — impact × urgency, due times.
//! 6. **persist** — every incident changed in a group of writes is saved in the same store
//!    transaction as the writes (the store writer thread drives this; see `store`).
//! 7. **notify** — each transition is an [`Effect`] handed out after the commit (metrics and logs
//!    today; notification sinks later).
//!
//! The engine is synchronous and takes `now` as an argument; it does no I/O. It keeps every
//! incident that is not closed in memory. Changes made during one store transaction can be undone
//! ([`Engine::rollback`]) when the commit fails, so memory never runs ahead of the disk.
//!
//! **Invariant:** at most one incident per fingerprint is open or acknowledged.

pub mod fingerprint;
pub mod flapping;
pub mod lifecycle;
pub mod priority;

use flapping::{FlapHistory, FlapPolicy};
use priority::PriorityPolicy;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;

/// An event entering the engine, from any source (agent batch, `POST /v1/events`, rules, the
/// heartbeat), already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct EventIn {
    /// Who sent it (`agent`, `vigil`, `nagios`, ...).
    pub source: String,
    /// The host concerned.
    pub host: Option<String>,
    /// The service concerned.
    pub service: Option<String>,
    /// What is checked.
    pub check: String,
    /// Firing or resolved.
    pub status: Status,
    /// How bad.
    pub severity: Severity,
    /// One line for humans.
    pub summary: String,
    /// The event's own labels (part of the fingerprint).
    pub labels: Labels,
    /// Labels of the host it came from (impact only, not identity).
    pub host_labels: Labels,
    /// Explicit dedup key.
    pub dedup_key: Option<String>,
    /// Sender's id of this event: a resend with the same id changes nothing.
    pub event_id: Option<String>,
}

impl EventIn {
    /// An event with the required fields; the rest empty.
    pub fn new(source: &str, check: &str, status: Status, severity: Severity) -> EventIn {
        EventIn {
            source: source.to_owned(),
            host: None,
            service: None,
            check: check.to_owned(),
            status,
            severity,
            summary: String::new(),
            labels: Labels::new(),
            host_labels: Labels::new(),
            dedup_key: None,
            event_id: None,
        }
    }

    /// With a host.
    pub fn with_host(mut self, host: &str) -> EventIn {
        self.host = Some(host.to_owned());
        self
    }

    /// With a service.
    pub fn with_service(mut self, service: &str) -> EventIn {
        self.service = Some(service.to_owned());
        self
    }

    /// With a summary.
    pub fn with_summary(mut self, summary: impl Into<String>) -> EventIn {
        self.summary = summary.into();
        self
    }
}

/// Lifecycle state (ITIL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Needs attention.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Fixed; may reopen within the reopen window.
    Resolved,
    /// Final.
    Closed,
}

impl State {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
            State::Closed => "closed",
        }
    }

    /// Parses an API name.
    pub fn parse(text: &str) -> Option<State> {
        match text {
            "open" => Some(State::Open),
            "acknowledged" => Some(State::Acknowledged),
            "resolved" => Some(State::Resolved),
            "closed" => Some(State::Closed),
            _ => None,
        }
    }

    /// Open or acknowledged: the one incident of its fingerprint.
    pub fn is_active(self) -> bool {
        matches!(self, State::Open | State::Acknowledged)
    }
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// The incident was opened by its first event.
    Opened,
    /// Repeats folded in (one entry aggregates consecutive repeats).
    EventFolded,
    /// Acknowledged by someone.
    Acknowledged,
    /// A note.
    Note,
    /// Resolved (by the source, a person, or settling after flapping).
    Resolved,
    /// Fired again within the reopen window.
    Reopened,
    /// Closed.
    Closed,
    /// Flapping detected.
    FlappingStarted,
    /// Flapping over.
    FlappingStopped,
    /// An SLA due time passed.
    SlaBreached,
    /// The priority changed (severity escalated or more hosts).
    PriorityChanged,
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When, Unix ms (for an aggregate: the first event).
    pub at_ms: i64,
    /// What.
    pub kind: TimelineKind,
    /// Who acted (person, `source`, `vigil`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Free text (note text, summary, reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Firing events aggregated in this entry.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: u64,
    /// Resolved events aggregated in this entry (while flapping).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resolved_count: u64,
    /// Last event aggregated, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ms: Option<i64>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl TimelineEntry {
    fn new(at_ms: i64, kind: TimelineKind, by: Option<&str>, text: Option<String>) -> Self {
        TimelineEntry {
            at_ms,
            kind,
            by: by.map(str::to_owned),
            text,
            count: 0,
            resolved_count: 0,
            last_ms: None,
        }
    }
}

/// SLA due times and whether they were missed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sla {
    /// Acknowledge by, Unix ms.
    pub ack_due_ms: i64,
    /// Resolve by, Unix ms.
    pub resolve_due_ms: i64,
    /// Not acknowledged in time.
    pub ack_breached: bool,
    /// Not resolved in time.
    pub resolve_breached: bool,
}

impl Sla {
    /// Either due time missed.
    pub fn breached(&self) -> bool {
        self.ack_breached || self.resolve_breached
    }
}

/// One incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id: 16 hex digits, time-ordered.
    pub id: String,
    /// The dedup key.
    pub fingerprint: String,
    /// Short title.
    pub title: String,
    /// Latest summary.
    pub summary: String,
    /// Lifecycle state.
    pub state: State,
    /// 1 (highest) to 5.
    pub priority: u8,
    /// Worst severity seen while active.
    pub severity: Severity,
    /// Host of the first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Check name.
    pub check: String,
    /// Event labels merged with host labels.
    pub labels: Labels,
    /// Opened, Unix ms.
    pub opened_ms: i64,
    /// Last change, Unix ms.
    pub updated_ms: i64,
    /// Acknowledged, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_ms: Option<i64>,
    /// Who acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// Resolved, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_ms: Option<i64>,
    /// Who or what resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// Closed, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_ms: Option<i64>,
    /// Firing events folded in (the first included).
    pub count: u64,
    /// Marked flapping.
    pub flapping: bool,
    /// Recent statuses for flapping detection.
    pub flap: FlapHistory,
    /// The last status an event reported.
    pub last_status: Status,
    /// The last event, Unix ms.
    pub last_event_ms: i64,
    /// Times reopened.
    pub reopened: u32,
    /// SLA.
    pub sla: Sla,
    /// Every host whose events folded in.
    pub hosts: Vec<String>,
    /// Parent incident (correlation), when attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Suspected change record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspected_change: Option<String>,
    /// Covered by a silence.
    pub silenced: bool,
    /// Problem record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_id: Option<String>,
    /// Ordered history.
    pub timeline: Vec<TimelineEntry>,
}

/// Tunables of the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Priority and SLA.
    pub priority: PriorityPolicy,
    /// Flapping thresholds.
    pub flap: FlapPolicy,
    /// Events less severe than this open nothing.
    pub min_severity: Severity,
    /// A resolved incident that fires again within this many ms reopens.
    pub reopen_window_ms: i64,
    /// A resolved incident closes after this many ms.
    pub close_after_ms: i64,
    /// Most hosts listed on one incident.
    pub max_hosts: usize,
    /// Most timeline entries kept per incident (the first one and the newest are kept).
    pub max_timeline: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            priority: PriorityPolicy::default(),
            flap: FlapPolicy::default(),
            min_severity: Severity::Warning,
            reopen_window_ms: 60 * 60 * 1000,
            close_after_ms: 24 * 60 * 60 * 1000,
            max_hosts: 1_000,
            max_timeline: 500,
        }
    }
}

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// A new incident.
    Opened(String),
    /// Folded into an active incident.
    Folded(String),
    /// A resolved incident fired again and reopened.
    Reopened(String),
    /// The event resolved its incident.
    Resolved(String),
    /// The incident took note, nothing changed state (e.g. resolved while flapping, or already
    /// resolved).
    Noted(String),
    /// A resolved event with no incident to resolve.
    NoIncident,
    /// The `event_id` was accepted before: nothing changed.
    Duplicate,
    /// Not turned into an incident, and why.
    Suppressed(&'static str),
}

impl EventOutcome {
    /// Names of the outcome kinds, indexed by [`EventOutcome::kind_index`].
    pub const KINDS: [&'static str; 8] = [
        "opened",
        "folded",
        "reopened",
        "resolved",
        "noted",
        "no_incident",
        "duplicate",
        "suppressed",
    ];

    /// Index of this outcome's kind in [`EventOutcome::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            EventOutcome::Opened(_) => 0,
            EventOutcome::Folded(_) => 1,
            EventOutcome::Reopened(_) => 2,
            EventOutcome::Resolved(_) => 3,
            EventOutcome::Noted(_) => 4,
            EventOutcome::NoIncident => 5,
            EventOutcome::Duplicate => 6,
            EventOutcome::Suppressed(_) => 7,
        }
    }

    /// The incident concerned, if any.
    pub fn incident_id(&self) -> Option<&str> {
        match self {
            EventOutcome::Opened(id)
            | EventOutcome::Folded(id)
            | EventOutcome::Reopened(id)
            | EventOutcome::Resolved(id)
            | EventOutcome::Noted(id) => Some(id),
            EventOutcome::NoIncident | EventOutcome::Duplicate | EventOutcome::Suppressed(_) => {
                None
            }
        }
    }
}

/// An action on an incident through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Acknowledge.
    Ack,
    /// Resolve.
    Resolve,
    /// Close (after resolve).
    Close,
    /// Add a note.
    Note,
}

impl Action {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Resolve => "resolve",
            Action::Close => "close",
            Action::Note => "note",
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// No such incident.
    #[error("no incident with id {0:?}")]
    NotFound(String),
    /// The action does not apply in this state.
    #[error("cannot {action} incident {id} while it is {state}: {hint}")]
    InvalidTransition {
        /// The incident.
        id: String,
        /// Its state.
        state: &'static str,
        /// The action.
        action: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// The request is incomplete.
    #[error("{0}")]
    Invalid(&'static str),
}

/// A transition, handed out after the commit for metrics, logs and notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Opened.
    Opened {
        /// Incident id.
        id: String,
        /// Priority.
        priority: u8,
    },
    /// Acknowledged after `after_ms`.
    Acknowledged {
        /// Incident id.
        id: String,
        /// Priority.
        priority: u8,
        /// Time to acknowledge.
        after_ms: i64,
    },
    /// Resolved after `after_ms` from opening.
    Resolved {
        /// Incident id.
        id: String,
        /// Priority.
        priority: u8,
        /// Time to resolve.
        after_ms: i64,
    },
    /// Reopened.
    Reopened {
        /// Incident id.
        id: String,
        /// Priority.
        priority: u8,
    },
    /// Closed.
    Closed {
        /// Incident id.
        id: String,
    },
    /// An SLA due time passed.
    SlaBreached {
        /// Incident id.
        id: String,
        /// Priority.
        priority: u8,
        /// `ack` or `resolve`.
        kind: &'static str,
    },
    /// Flapping started (`true`) or stopped.
    Flapping {
        /// Incident id.
        id: String,
        /// Now flapping.
        flapping: bool,
    },
}

/// The engine's state: every incident that is not closed, by id and by fingerprint.
#[derive(Debug, Default)]
pub struct Engine {
    policy: Policy,
    /// Boxed: the map moves 8-byte pointers when it grows, not whole incidents.
    incidents: HashMap<String, Box<Incident>>,
    /// Fingerprint → the newest incident with it that is not closed.
    by_fingerprint: HashMap<String, String>,
    last_id: u64,
    /// Incidents changed since the last commit, with their value before the first change
    /// (`None`: created in this group). Also the dirty set.
    undo: HashMap<String, Option<Incident>>,
    /// Ids in `undo`, in the order first changed.
    dirty: Vec<String>,
    /// `by_fingerprint` entries changed since the last commit, with their value before.
    index_undo: HashMap<String, Option<String>>,
    /// Committed open or acknowledged incidents per priority (index 0 = priority 1).
    active_counts: [u64; 5],
    effects: Vec<Effect>,
}

impl Engine {
    /// An engine over `incidents` (as loaded from the store; closed ones are ignored).
    /// `last_id` is the highest id ever issued (0 if none).
    pub fn new(policy: Policy, incidents: Vec<Incident>, last_id: u64) -> Engine {
        let mut engine = Engine {
            policy,
            last_id,
            ..Engine::default()
        };
        let mut incidents: Vec<Incident> = incidents
            .into_iter()
            .filter(|incident| incident.state != State::Closed)
            .collect();
        incidents.sort_by(|a, b| a.id.cmp(&b.id));
        for incident in incidents {
            if let Some(n) = parse_id(&incident.id) {
                engine.last_id = engine.last_id.max(n);
            }
            engine
                .by_fingerprint
                .insert(incident.fingerprint.clone(), incident.id.clone());
            if incident.state.is_active() {
                engine.active_counts[priority_index(incident.priority)] += 1;
            }
            engine
                .incidents
                .insert(incident.id.clone(), Box::new(incident));
        }
        engine
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// An incident that is not closed.
    pub fn get(&self, id: &str) -> Option<&Incident> {
        self.incidents.get(id).map(AsRef::as_ref)
    }

    /// Every incident that is not closed.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.values().map(AsRef::as_ref)
    }

    /// Committed open or acknowledged incidents per priority (index 0 = priority 1).
    pub fn active_by_priority(&self) -> [u64; 5] {
        self.active_counts
    }

    /// Stage 2: why this event opens nothing, if it does not.
    pub fn suppressed_by(&self, event: &EventIn) -> Option<&'static str> {
        (event.status == Status::Firing && event.severity > self.policy.min_severity)
            .then_some("min_severity")
    }

    /// Runs one event through the pipeline. The caller has already checked `event_id` against
    /// the store (a repeat never reaches the engine).
    pub fn on_event(&mut self, event: &EventIn, now_ms: i64) -> EventOutcome {
        let fingerprint = fingerprint::fingerprint(event);
        let current = self.by_fingerprint.get(&fingerprint).cloned();
        if let Some(reason) = self.suppressed_by(event) {
            // A suppressed repeat of an active incident still does not fold: suppression is
            // about the event, whatever is open.
            return EventOutcome::Suppressed(reason);
        }
        let current = current.filter(|id| self.incidents.contains_key(id));
        match (current, event.status) {
            (None, Status::Resolved) => EventOutcome::NoIncident,
            (None, Status::Firing) => self.open(fingerprint, event, now_ms),
            (Some(id), status) => {
                let state = self.incidents[&id].state;
                match (state, status) {
                    (State::Resolved, Status::Firing) => {
                        let resolved_ms = self.incidents[&id].resolved_ms.unwrap_or(now_ms);
                        if now_ms - resolved_ms <= self.policy.reopen_window_ms {
                            self.with(&id, |incident, policy, effects| {
                                lifecycle::reopen(incident, event, now_ms, policy, effects)
                            })
                        } else {
                            self.open(fingerprint, event, now_ms)
                        }
                    }
                    (State::Resolved | State::Closed, Status::Resolved) => EventOutcome::Noted(id),
                    (State::Closed, Status::Firing) => self.open(fingerprint, event, now_ms),
                    (_, Status::Firing) => self.with(&id, |incident, policy, effects| {
                        lifecycle::fold_firing(incident, event, now_ms, policy, effects)
                    }),
                    (_, Status::Resolved) => self.with(&id, |incident, policy, effects| {
                        lifecycle::fold_resolved(incident, event, now_ms, policy, effects)
                    }),
                }
            }
        }
    }

    fn open(&mut self, fingerprint: String, event: &EventIn, now_ms: i64) -> EventOutcome {
        let id = self.next_id(now_ms);
        let incident = lifecycle::open(id.clone(), fingerprint, event, now_ms, &self.policy);
        self.effects.push(Effect::Opened {
            id: id.clone(),
            priority: incident.priority,
        });
        let before = self
            .by_fingerprint
            .insert(incident.fingerprint.clone(), id.clone());
        self.index_undo
            .entry(incident.fingerprint.clone())
            .or_insert(before);
        self.incidents.insert(id.clone(), Box::new(incident));
        self.undo.insert(id.clone(), None);
        self.dirty.push(id.clone());
        EventOutcome::Opened(id)
    }

    /// Applies `change` to incident `id` (which must exist), recording its undo value first.
    fn with<R>(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Incident, &Policy, &mut Vec<Effect>) -> R,
    ) -> R {
        self.touch(id);
        let incident = self
            .incidents
            .get_mut(id)
            .expect("with() is called for existing incidents only");
        change(incident, &self.policy, &mut self.effects)
    }

    fn touch(&mut self, id: &str) {
        if !self.undo.contains_key(id) {
            self.undo.insert(
                id.to_owned(),
                self.incidents.get(id).map(|incident| (**incident).clone()),
            );
            self.dirty.push(id.to_owned());
        }
    }

    /// Issues a new id: 16 hex digits, `(ms << 12) | n`, always above every id issued before.
    fn next_id(&mut self, now_ms: i64) -> String {
        let floor = (now_ms.max(0) as u64) << 12;
        self.last_id = (self.last_id + 1).max(floor);
        format!("{:016x}", self.last_id)
    }

    /// An API action on an in-memory incident. `Err(NotFound)` means it is closed or unknown:
    /// the caller looks in the store.
    pub fn act(
        &mut self,
        id: &str,
        action: Action,
        by: &str,
        text: Option<&str>,
        now_ms: i64,
    ) -> Result<Incident, ActionError> {
        if !self.incidents.contains_key(id) {
            return Err(ActionError::NotFound(id.to_owned()));
        }
        if by.trim().is_empty() {
            return Err(ActionError::Invalid(
                "\"by\" is required: say who acts (or send a token, whose name is used)",
            ));
        }
        if action == Action::Note && text.is_none_or(|text| text.trim().is_empty()) {
            return Err(ActionError::Invalid("a note needs a non-empty \"text\""));
        }
        let snapshot = (*self.incidents[id]).clone();
        lifecycle::check_action(&snapshot, action)?;
        let changed = lifecycle::would_change(&snapshot, action);
        if !changed {
            return Ok(snapshot);
        }
        Ok(self.with(id, |incident, policy, effects| {
            lifecycle::act(incident, action, by, text, now_ms, policy, effects);
            incident.clone()
        }))
    }

    /// Time-driven changes: SLA breaches, flapping that settled, resolved incidents closing.
    pub fn tick(&mut self, now_ms: i64) {
        let due: Vec<String> = self
            .incidents
            .values()
            .filter(|incident| lifecycle::tick_due(incident, now_ms, &self.policy))
            .map(|incident| incident.id.clone())
            .collect();
        for id in due {
            self.with(&id, |incident, policy, effects| {
                lifecycle::tick(incident, now_ms, policy, effects)
            });
        }
    }

    /// Incidents changed since the last commit, in the order first changed.
    pub fn dirty(&self) -> impl Iterator<Item = &Incident> {
        self.dirty
            .iter()
            .filter_map(|id| self.incidents.get(id).map(AsRef::as_ref))
    }

    /// The store committed: forget the undo log, drop closed incidents from memory, hand out
    /// the effects.
    pub fn commit(&mut self) -> Vec<Effect> {
        for (id, before) in &self.undo {
            if let Some(before) = before
                && before.state.is_active()
            {
                self.active_counts[priority_index(before.priority)] -= 1;
            }
            if let Some(after) = self.incidents.get(id)
                && after.state.is_active()
            {
                self.active_counts[priority_index(after.priority)] += 1;
            }
        }
        for id in self.dirty.drain(..) {
            if self
                .incidents
                .get(&id)
                .is_some_and(|incident| incident.state == State::Closed)
                && let Some(incident) = self.incidents.remove(&id)
                && self.by_fingerprint.get(&incident.fingerprint) == Some(&id)
            {
                self.by_fingerprint.remove(&incident.fingerprint);
            }
        }
        self.undo.clear();
        self.index_undo.clear();
        std::mem::take(&mut self.effects)
    }

    /// The store did not commit: put every changed incident back as it was.
    pub fn rollback(&mut self) {
        for (id, before) in std::mem::take(&mut self.undo) {
            match before {
                Some(before) => self.incidents.insert(id, Box::new(before)),
                None => self.incidents.remove(&id),
            };
        }
        for (fingerprint, before) in std::mem::take(&mut self.index_undo) {
            match before {
                Some(id) => self.by_fingerprint.insert(fingerprint, id),
                None => self.by_fingerprint.remove(&fingerprint),
            };
        }
        self.dirty.clear();
        self.effects.clear();
    }

    /// Checks the invariant: at most one active incident per fingerprint, and the fingerprint
    /// index points at an incident that exists; with nothing pending, the active counts match.
    /// For tests and debug assertions.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.undo.is_empty() {
            let mut counts = [0u64; 5];
            for incident in self.incidents.values().filter(|i| i.state.is_active()) {
                counts[priority_index(incident.priority)] += 1;
            }
            if counts != self.active_counts {
                return Err(format!(
                    "active counts {:?} but {counts:?} active incidents",
                    self.active_counts
                ));
            }
        }
        let mut active: HashMap<&str, &str> = HashMap::new();
        for incident in self.incidents.values() {
            if incident.state.is_active()
                && let Some(other) = active.insert(&incident.fingerprint, &incident.id)
            {
                return Err(format!(
                    "fingerprint {} has two active incidents: {other} and {}",
                    incident.fingerprint, incident.id
                ));
            }
        }
        for (fingerprint, id) in &active {
            if self.by_fingerprint.get(*fingerprint).map(String::as_str) != Some(*id) {
                return Err(format!(
                    "active incident {id} is not the indexed one for {fingerprint}"
                ));
            }
        }
        Ok(())
    }
}

fn priority_index(priority: u8) -> usize {
    usize::from(priority.clamp(1, 5) - 1)
}

/// The number behind an incident id.
pub fn parse_id(id: &str) -> Option<u64> {
    (id.len() == 16)
        .then(|| u64::from_str_radix(id, 16).ok())
        .flatten()
}

#[cfg(test)]
mod tests;
