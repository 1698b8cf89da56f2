//! The incident record and its parts: lifecycle [`State`], [`TimelineEntry`], [`Sla`], and the
//! incident id format. Plain data; the stages and the lifecycle change it.

use super::flapping::FlapHistory;
use serde::{Deserialize, Serialize};
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;

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
    /// A silence or maintenance window began to cover it.
    Silenced,
    /// No silence covers it any more.
    Unsilenced,
    /// Attached to the incident of something it depends on (topology).
    Attached,
    /// Detached: its parent resolved and it was still failing after the settle time.
    Detached,
    /// Another host's incident joined this service-level incident.
    HostJoined,
    /// A recent change is suspected behind it.
    ChangeSuspected,
    /// It joined a problem record.
    ProblemLinked,
    /// Novelty paging judged a member's episode new (paged) or recurring (not paged), and why.
    Novelty,
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
    pub(crate) fn new(
        at_ms: i64,
        kind: TimelineKind,
        by: Option<&str>,
        text: Option<String>,
    ) -> Self {
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

/// Why a change is suspected: how it touches the incident (best first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Touch {
    /// The change names one of the incident's hosts.
    Host,
    /// The change names the incident's service.
    Service,
    /// The change names a host one of the incident's hosts depends on.
    Dependency,
}

impl Touch {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Touch::Host => "host",
            Touch::Service => "service",
            Touch::Dependency => "dependency",
        }
    }
}

/// The change record most likely behind an incident (a copy of what people need to see; the
/// full record is `GET /v1/changes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectedChange {
    /// The change's id.
    pub id: String,
    /// Its kind (`deploy`, `config`, `inventory`, `other`).
    pub kind: String,
    /// Its summary.
    pub summary: String,
    /// When it started, Unix ms.
    pub starts_ms: i64,
    /// How it touches the incident.
    pub touch: Touch,
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
    /// The last firing event, Unix ms (novelty paging: an episode's span ends there; absent in
    /// documents stored before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_firing_ms: Option<i64>,
    /// Times reopened.
    pub reopened: u32,
    /// SLA.
    pub sla: Sla,
    /// Every host whose events folded in.
    pub hosts: Vec<String>,
    /// Parent incident (correlation), when attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The change record most likely behind it (set on open and reopen by the suspect stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspected_change: Option<SuspectedChange>,
    /// Covered by a silence.
    pub silenced: bool,
    /// Since when it is silenced, Unix ms (its SLA clocks stand still meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_ms: Option<i64>,
    /// A page went out for it (opened or reopened while not silenced): its acknowledge and
    /// resolve are notified even during a later silence.
    #[serde(default)]
    pub paged: bool,
    /// Problem record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_id: Option<String>,
    /// Its host depends on others not known to be down: its notifications wait until then (the
    /// topology hold), so a dependency found down meanwhile attaches it before anyone is paged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until_ms: Option<i64>,
    /// Attached to a parent that resolved: it stands on its own (and is paged) if still active
    /// then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_until_ms: Option<i64>,
    /// The workaround of its problem when that is a known error (copied when it joined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workaround: Option<String>,
    /// A runbook URL from its rule or event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// Novelty paging, on a service-level incident: when its last page was (or is) due, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_due_ms: Option<i64>,
    /// Its service-grouping key (`[grouping] by`) when it has one: incidents of one key on
    /// several hosts attach to one service-level incident, whose fingerprint is `group:<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
    /// Ordered history.
    pub timeline: Vec<TimelineEntry>,
    /// Transitions so far: each [`super::Effect`] is numbered by it (the notification outbox's
    /// idempotency keys are built from it).
    #[serde(default)]
    pub changes: u64,
}

/// The number behind an incident id.
pub fn parse_id(id: &str) -> Option<u64> {
    (id.len() == 16)
        .then(|| u64::from_str_radix(id, 16).ok())
        .flatten()
}

/// Formats an incident id: 16 hex digits.
pub fn format_id(n: u64) -> String {
    format!("{n:016x}")
}

/// The next id after `last`: `(ms << 12) | n`, always above every id issued before, so ids are
/// time-ordered and unique as long as one issuer (or one counter row) hands them out.
pub fn next_id(last: u64, now_ms: i64) -> u64 {
    let floor = (now_ms.max(0) as u64) << 12;
    (last + 1).max(floor)
}
