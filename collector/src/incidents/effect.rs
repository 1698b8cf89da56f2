//! What the engine hands out after a commit: one [`Effect`] per transition, carrying the
//! [`Change`] and a snapshot of the incident as it was committed (so a notification, a log line
//! or a metric never has to look the incident up again, and never sees a later state).

use super::model::Incident;
use std::sync::Arc;

/// One transition of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Opened by its first event.
    Opened,
    /// Acknowledged `after_ms` after opening.
    Acknowledged {
        /// Time to acknowledge.
        after_ms: i64,
    },
    /// Resolved `after_ms` after opening.
    Resolved {
        /// Time to resolve.
        after_ms: i64,
    },
    /// Fired again within the reopen window.
    Reopened,
    /// Closed.
    Closed,
    /// An SLA due time passed: `ack` or `resolve`.
    SlaBreached {
        /// Which due time.
        kind: &'static str,
    },
    /// Flapping started (`true`) or stopped.
    Flapping {
        /// Now flapping.
        flapping: bool,
    },
    /// The priority changed (from `from`; the snapshot has the new one).
    PriorityChanged {
        /// The priority before.
        from: u8,
    },
    /// Attached to a parent (topology): not notified from now on.
    Attached,
    /// Detached from a parent that resolved while it kept failing: paged now.
    Detached,
    /// Another host's incident joined this service-level incident (the snapshot lists its
    /// hosts).
    HostJoined,
    /// Novelty paging: a service-level incident opened (or reopened) for a recurring member:
    /// recorded, not paged.
    Quiet {
        /// It reopened.
        reopened: bool,
    },
    /// Novelty paging: a new episode of a member pages the service-level incident.
    Novel {
        /// Its first page since it opened or reopened (the sinks hear `open` / `reopen`).
        first: bool,
        /// It has reopened before.
        reopened: bool,
    },
    /// A silence began or ended over the incident.
    Silenced {
        /// Now silenced.
        silenced: bool,
        /// The silence ended over an active incident never paged: page it now.
        page: bool,
    },
}

impl Change {
    /// A stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Opened => "opened",
            Change::Acknowledged { .. } => "acknowledged",
            Change::Resolved { .. } => "resolved",
            Change::Reopened => "reopened",
            Change::Closed => "closed",
            Change::SlaBreached { .. } => "sla_breached",
            Change::Flapping { .. } => "flapping",
            Change::PriorityChanged { .. } => "priority_changed",
            Change::Attached => "attached",
            Change::Detached => "detached",
            Change::HostJoined => "host_joined",
            Change::Quiet { reopened: false } => "opened_quietly",
            Change::Quiet { reopened: true } => "reopened_quietly",
            Change::Novel { .. } => "novel",
            Change::Silenced { silenced: true, .. } => "silenced",
            Change::Silenced {
                silenced: false, ..
            } => "unsilenced",
        }
    }
}

/// A committed transition with the incident as committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// What happened.
    pub change: Change,
    /// The change's number among the incident's changes (1 = its first): with the incident id
    /// it names the change for good (idempotency keys).
    pub number: u64,
    /// The incident after the commit that made the change durable (shared by every effect of
    /// that incident in one commit).
    pub incident: Arc<Incident>,
}

impl Effect {
    /// The incident's id.
    pub fn id(&self) -> &str {
        &self.incident.id
    }

    /// The incident's priority as committed.
    pub fn priority(&self) -> u8 {
        self.incident.priority
    }
}
