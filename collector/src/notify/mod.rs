//! Feeding incident queues: what a sink is told ([`Step`], [`Message`]), the sinks that speak
//! each vendor's API (`sinks/`), routing and escalation (`route.rs`), the outbox rows the
//! pipeline writes in the incident's own transaction (`outbox.rs`) and the delivery workers that
//! send them after the commit (`dispatch.rs`).
//!
//! **Invariant:** a notification exists only as an outbox row committed with the incident change
//! it reports; delivery is at least once, and the idempotency key (a pure function of incident,
//! change number and sink) makes a repeat harmless at the receiver.

pub mod cli;
pub mod dispatch;
pub mod outbox;
pub mod route;
pub mod sinks;

use crate::incidents::Incident;

/// A lifecycle step a sink is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// The incident opened.
    Open,
    /// Something a person should see changed (priority, hosts), the incident still active.
    Update,
    /// Someone acknowledged it.
    Acknowledge,
    /// Still unacknowledged after a route's delay: told again, or told to a further sink.
    Escalate,
    /// It fired again within the reopen window.
    Reopen,
    /// It resolved.
    Resolve,
    /// Novelty paging: a member not seen lately joined a service-level incident already paged:
    /// a page again (the incident stays the same).
    Novel,
}

impl Step {
    /// Every step, in lifecycle order.
    pub const ALL: [Step; 7] = [
        Step::Open,
        Step::Update,
        Step::Acknowledge,
        Step::Escalate,
        Step::Reopen,
        Step::Resolve,
        Step::Novel,
    ];

    /// The steps a sink gets when its config names none (SPEC: open, acknowledge, reopen,
    /// resolve; escalate when a route escalates to it; novel, which only novelty paging sends).
    pub const DEFAULT: [Step; 6] = [
        Step::Open,
        Step::Acknowledge,
        Step::Escalate,
        Step::Reopen,
        Step::Resolve,
        Step::Novel,
    ];

    /// The name in config, the API and replay output.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::Update => "update",
            Step::Acknowledge => "acknowledge",
            Step::Escalate => "escalate",
            Step::Reopen => "reopen",
            Step::Resolve => "resolve",
            Step::Novel => "novel",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.as_str() == text)
    }

    /// True for the steps after which the incident is active (a page stands).
    pub fn is_firing(self) -> bool {
        matches!(
            self,
            Step::Open | Step::Update | Step::Escalate | Step::Reopen | Step::Novel
        )
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one delivery carries to a sink.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The lifecycle step.
    pub step: Step,
    /// The incident as committed with the change this step reports.
    pub incident: &'a Incident,
    /// The same on every retry of this notification (header `Idempotency-Key`).
    pub idempotency_key: &'a str,
    /// When the change happened, Unix ms.
    pub at_ms: i64,
    /// For [`Step::Escalate`]: the escalation level (1 = first); 0 otherwise.
    pub level: u32,
    /// The incident in the collector's API (`public_url` + `/v1/incidents/ID`), when
    /// `public_url` is configured.
    pub link: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_round_trip() {
        for step in Step::ALL {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
        assert_eq!(Step::parse("trigger"), None);
    }
}
