//! What enters the engine ([`EventIn`]) and what became of it ([`EventOutcome`]).

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
    /// A runbook URL (a rule's or the event's own `runbook`), carried by the incident.
    pub runbook: Option<String>,
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
            runbook: None,
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

/// Longest runbook URL, bytes.
pub const MAX_RUNBOOK_LEN: usize = 2_048;

/// Checks a runbook URL (a rule's or an event's `runbook`): `http://` or `https://`, at most
/// [`MAX_RUNBOOK_LEN`] bytes, no spaces or control characters.
pub fn check_runbook(url: &str) -> Result<(), String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("runbook {url:?} is not an http:// or https:// URL"));
    }
    if url.len() > MAX_RUNBOOK_LEN {
        return Err(format!(
            "runbook is {} bytes; the limit is {MAX_RUNBOOK_LEN}",
            url.len()
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("runbook contains spaces or control characters: encode them".to_owned());
    }
    Ok(())
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
