//! The notification outbox as the store keeps it: plain rows, written by the pipeline in the
//! transaction of the incident change they report ([`NewNotification`]), claimed for delivery
//! with a lease ([`QueuedNotification`]), finished ([`Finish`]) and listed for the API
//! ([`NotificationRecord`]).
//!
//! The rules both backends apply (the conformance suite checks them):
//! - a row is claimable when it is `pending` or `failed`, due, its next attempt is due, and
//!   nobody holds a live lease on it;
//! - **order per incident and sink**: a row is not claimable while an earlier row of the same
//!   incident and sink is unfinished (`pending` or `failed`) and due — a resolve never
//!   overtakes its open;
//! - a new row is claimed by its writer at once when it is due and every earlier unfinished row
//!   of its incident and sink is held by that same writer (so the writer's dispatcher, which
//!   delivers in order, gets it after the commit without a round trip).

/// States of a notification (SPEC `GET /v1/notifications`: `pending` · `sent` · `failed` ·
/// `dead`; `cancelled` for an escalation the incident no longer needs).
pub const STATES: [&str; 5] = ["pending", "sent", "failed", "dead", "cancelled"];

/// A notification to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// The incident.
    pub incident_id: String,
    /// The sink's name.
    pub sink: String,
    /// The lifecycle step (`open`, `resolve`, ...).
    pub step: &'static str,
    /// Escalation level (0 unless an escalation).
    pub level: u32,
    /// The number of the incident change it reports.
    pub change_no: u64,
    /// The same on every delivery attempt, from every collector.
    pub key: String,
    /// The incident as committed with the change (its JSON document).
    pub payload: std::sync::Arc<str>,
    /// Queued, Unix ms.
    pub created_ms: i64,
    /// Not sent before, Unix ms (an escalation's delay; otherwise `created_ms`).
    pub due_ms: i64,
    /// Dead-lettered if still failing after this, Unix ms.
    pub give_up_ms: i64,
}

/// A row claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedNotification {
    /// Row id.
    pub id: i64,
    /// The incident.
    pub incident_id: String,
    /// The sink's name.
    pub sink: String,
    /// The lifecycle step.
    pub step: String,
    /// Escalation level.
    pub level: u32,
    /// Idempotency key.
    pub key: String,
    /// The incident's JSON document.
    pub payload: String,
    /// Queued, Unix ms.
    pub created_ms: i64,
    /// Due, Unix ms.
    pub due_ms: i64,
    /// Dead-lettered if still failing after this, Unix ms.
    pub give_up_ms: i64,
    /// Attempts made so far.
    pub attempts: u32,
}

/// What became of a claimed row.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// The receiver accepted it.
    Sent {
        /// Row id.
        id: i64,
        /// When, Unix ms.
        at_ms: i64,
    },
    /// It failed; try again at `next_attempt_ms` (the lease is released).
    Retry {
        /// Row id.
        id: i64,
        /// What went wrong.
        error: String,
        /// When to try again, Unix ms.
        next_attempt_ms: i64,
    },
    /// It failed for good (a permanent refusal, or failing past its give-up time).
    Dead {
        /// Row id.
        id: i64,
        /// What went wrong.
        error: String,
    },
    /// Not attempted: handed back (its lease released) so it is claimed again in order.
    Release {
        /// Row id.
        id: i64,
    },
}

/// A notification as `GET /v1/notifications` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    /// Row id.
    pub id: i64,
    /// The incident.
    pub incident_id: String,
    /// The sink's name.
    pub sink: String,
    /// The lifecycle step.
    pub step: String,
    /// Escalation level.
    pub level: u32,
    /// Idempotency key.
    pub key: String,
    /// One of [`STATES`].
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// Queued, Unix ms.
    pub created_ms: i64,
    /// Due, Unix ms.
    pub due_ms: i64,
    /// Next attempt (pending or failed), Unix ms.
    pub next_attempt_ms: i64,
    /// Sent, Unix ms.
    pub sent_ms: Option<i64>,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// Filters of `GET /v1/notifications`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotificationFilter {
    /// Only this incident.
    pub incident: Option<String>,
    /// Only this sink.
    pub sink: Option<String>,
    /// Any of these states (empty: all).
    pub states: Vec<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// Who claims and until when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Claim<'a> {
    /// This collector's run (a new one per start).
    pub holder: &'a str,
    /// Now, Unix ms.
    pub now_ms: i64,
    /// The lease ends, Unix ms.
    pub until_ms: i64,
    /// An embedded store has one writer: rows held by an earlier run of it are free at once.
    pub take_foreign: bool,
}
