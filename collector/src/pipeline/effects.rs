//! After the commit: what the group did, for the observer — metrics and logs (the outbox rows
//! themselves were written in the transaction, see `writer.rs`). Effects carry the incident as
//! committed.

use crate::incidents::{Change, Effect};

/// What one commit did.
#[derive(Debug)]
pub struct CommitReport<'a> {
    /// Incident transitions made durable, each with the incident as committed.
    pub effects: &'a [Effect],
    /// Notifications queued in the outbox by the commit.
    pub notifications: &'a [crate::store::NewNotification],
    /// Open or acknowledged incidents per priority (index 0 = priority 1) after the commit.
    pub open_by_priority: [u64; 5],
    /// Events per outcome kind ([`crate::incidents::EventOutcome::KINDS`]).
    pub event_outcomes: [u64; 8],
}

/// Called on the writer thread after each commit.
pub type Observer = Box<dyn Fn(&CommitReport<'_>) + Send>;

/// Transitions of one commit logged one line each; past this many, the rest are counted in one
/// line per kind of change (a storm's commits open hundreds of incidents, and a line each
/// would cost more than the incidents).
pub const LOGGED_ONE_BY_ONE: usize = 16;

/// Logs a commit's transitions: the first [`LOGGED_ONE_BY_ONE`] one line each, then one line per
/// kind of change for the rest, with their number and the first and last incident id.
pub fn log_effects(effects: &[Effect]) {
    let (each, rest) = effects.split_at(effects.len().min(LOGGED_ONE_BY_ONE));
    each.iter().for_each(log_effect);
    if rest.is_empty() {
        return;
    }
    for (change, count, first_id, last_id) in summary(rest) {
        tracing::info!(
            change,
            count,
            first_id,
            last_id,
            "more incident changes in this commit"
        );
    }
}

/// Per kind of change, in order of first appearance: how many, the first and the last incident
/// id.
fn summary(effects: &[Effect]) -> Vec<(&'static str, usize, &str, &str)> {
    let mut kinds: Vec<(&'static str, usize, &str, &str)> = Vec::new();
    for effect in effects {
        let kind = effect.change.as_str();
        let id = effect.incident.id.as_str();
        match kinds.iter_mut().find(|(known, ..)| *known == kind) {
            Some((_, count, _, last)) => {
                *count += 1;
                *last = id;
            }
            None => kinds.push((kind, 1, id, id)),
        }
    }
    kinds
}

/// One log line per transition.
pub fn log_effect(effect: &Effect) {
    let incident = &effect.incident;
    let id = incident.id.as_str();
    let fingerprint = incident.fingerprint.as_str();
    let priority = incident.priority;
    match effect.change {
        Change::Opened => {
            // No title: it is the sender's text, of any length, and this line is written once per
            // new incident — in a storm, on the hot path. The API has it.
            tracing::info!(incident_id = %id, %fingerprint, priority, "incident opened");
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
        Change::Attached => {
            tracing::info!(incident_id = %id, parent_id = ?incident.parent_id, "incident attached to its parent");
        }
        Change::HostJoined => {
            tracing::info!(incident_id = %id, hosts = incident.hosts.len(), priority, "a host joined the service-level incident");
        }
        Change::Quiet { reopened } => {
            tracing::info!(incident_id = %id, %fingerprint, reopened, "service-level incident opened for a recurring member: not paged");
        }
        Change::Novel { first, .. } => {
            tracing::info!(incident_id = %id, %fingerprint, first, hosts = incident.hosts.len(), "a new episode of a member pages the service-level incident");
        }
        Change::Detached => {
            tracing::info!(incident_id = %id, priority, "incident detached: it outlived its parent");
        }
        Change::Silenced { silenced, page } => {
            tracing::info!(incident_id = %id, silenced, page, "incident silence changed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::{EventIn, lifecycle};
    use std::sync::Arc;
    use vigil_shared::event::{Severity, Status};

    fn effect(id: &str, change: Change) -> Effect {
        let event = EventIn::new("t", "c", Status::Firing, Severity::Major);
        Effect {
            change,
            number: 1,
            incident: Arc::new(lifecycle::new_incident(id.into(), "f".into(), &event, 0)),
        }
    }

    #[test]
    fn the_rest_of_a_storm_is_counted_per_kind_with_its_first_and_last_id() {
        let effects = [
            effect("a", Change::Opened),
            effect("b", Change::Opened),
            effect("b", Change::PriorityChanged { from: 3 }),
            effect("c", Change::Opened),
        ];
        assert_eq!(
            summary(&effects),
            vec![("opened", 3, "a", "c"), ("priority_changed", 1, "b", "b")]
        );
        assert!(summary(&[]).is_empty());
    }
}
