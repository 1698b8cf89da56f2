//! After the commit: what the group did, for the observer — metrics and logs today, the
//! notification outbox next. Effects carry the incident as committed.

use crate::incidents::{Change, Effect};

/// What one commit did.
#[derive(Debug)]
pub struct CommitReport<'a> {
    /// Incident transitions made durable, each with the incident as committed.
    pub effects: &'a [Effect],
    /// Open or acknowledged incidents per priority (index 0 = priority 1) after the commit.
    pub open_by_priority: [u64; 5],
    /// Events per outcome kind ([`crate::incidents::EventOutcome::KINDS`]).
    pub event_outcomes: [u64; 8],
}

/// Called on the writer thread after each commit.
pub type Observer = Box<dyn Fn(&CommitReport<'_>) + Send>;

/// One log line per transition.
pub fn log_effect(effect: &Effect) {
    let incident = &effect.incident;
    let id = incident.id.as_str();
    let fingerprint = incident.fingerprint.as_str();
    let priority = incident.priority;
    match effect.change {
        Change::Opened => {
            tracing::info!(incident_id = %id, %fingerprint, priority, title = %incident.title, "incident opened");
        }
        Change::Reopened => {
            tracing::info!(incident_id = %id, %fingerprint, priority, "incident reopened");
        }
        Change::Acknowledged { .. } => {
            tracing::info!(incident_id = %id, by = ?incident.acknowledged_by, "incident acknowledged");
        }
        Change::Resolved { .. } => {
            tracing::info!(incident_id = %id, by = ?incident.resolved_by, "incident resolved");
        }
        Change::Closed => tracing::debug!(incident_id = %id, "incident closed"),
        Change::SlaBreached { kind } => {
            tracing::warn!(incident_id = %id, kind, priority, "incident SLA breached");
        }
        Change::Flapping { flapping } => {
            tracing::info!(incident_id = %id, flapping, "incident flapping changed");
        }
        Change::PriorityChanged { from } => {
            tracing::info!(incident_id = %id, from, priority, "incident priority changed");
        }
    }
}
