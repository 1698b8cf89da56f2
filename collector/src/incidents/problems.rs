//! Problem records, the engine's part: when incidents of one fingerprint recur often enough, or
//! one incident of a service spans enough hosts, a problem groups them; people then give it a
//! root cause, a workaround and a state (`open` → `known_error` → `resolved`). Pure rules of
//! [`ProblemPolicy`] over what the pipeline gathered ([`super::context::Surroundings`]'s
//! `openings` and `problems`); the problem stage (`stages/problem.rs`) applies them, the
//! pipeline stores what it decides ([`ProblemWrite`]).

use serde::{Deserialize, Serialize};

/// A problem's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemState {
    /// Found, cause not known yet.
    Open,
    /// Cause known, a workaround documented: new incidents carry it.
    KnownError,
    /// Fixed: a new recurrence opens a new problem.
    Resolved,
}

impl ProblemState {
    /// Every state, in order.
    pub const ALL: [ProblemState; 3] = [
        ProblemState::Open,
        ProblemState::KnownError,
        ProblemState::Resolved,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemState::Open => "open",
            ProblemState::KnownError => "known_error",
            ProblemState::Resolved => "resolved",
        }
    }

    /// Parses an API name.
    pub fn parse(text: &str) -> Option<ProblemState> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Open or a known error: new incidents of its fingerprint join it.
    pub fn is_active(self) -> bool {
        !matches!(self, ProblemState::Resolved)
    }
}

/// When a problem opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemPolicy {
    /// A fingerprint that opens this many incidents within `recur_window_ms` opens a problem
    /// (`[problems] recur_count`, at least 2).
    pub recur_count: usize,
    /// The recurrence window, ms (`[problems] recur_window`).
    pub recur_window_ms: i64,
    /// One incident of a service whose events come from this many hosts opens a problem
    /// (`[problems] service_hosts`; 0 turns it off).
    pub service_hosts: usize,
}

impl Default for ProblemPolicy {
    fn default() -> Self {
        ProblemPolicy {
            recur_count: 3,
            recur_window_ms: 24 * 60 * 60 * 1000,
            service_hosts: 10,
        }
    }
}

/// Why a problem opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemReason {
    /// The fingerprint recurred `recur_count` times within the window.
    Recurrence,
    /// A service-level incident spanned `service_hosts` hosts.
    ServiceWide,
}

impl ProblemReason {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemReason::Recurrence => "recurrence",
            ProblemReason::ServiceWide => "service_wide",
        }
    }
}

/// An incident of a fingerprint opened at some time (what recurrence counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// The incident.
    pub incident_id: String,
    /// When it opened, Unix ms.
    pub opened_ms: i64,
}

/// A fingerprint's problem that is not resolved, as the stages see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemRef {
    /// The problem's id.
    pub id: String,
    /// Open or known error.
    pub state: ProblemState,
    /// Its workaround, when it has one.
    pub workaround: Option<String>,
}

/// What the engine asks the pipeline to store about problems (in the group's transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemWrite {
    /// A new problem, linking these incidents.
    Open {
        /// Its id (derived from the incident that opened it: `p` + that id, so unique).
        id: String,
        /// The fingerprint it groups.
        fingerprint: String,
        /// Its title (the incident's).
        title: String,
        /// Why.
        reason: ProblemReason,
        /// The incidents it links, oldest first.
        incident_ids: Vec<String>,
        /// When, Unix ms.
        at_ms: i64,
    },
    /// An incident joined an existing problem.
    Link {
        /// The problem.
        problem_id: String,
        /// The incident.
        incident_id: String,
    },
}

/// The id of the problem `incident_id` opens.
pub fn problem_id_for(incident_id: &str) -> String {
    format!("p{incident_id}")
}

/// The incidents that make the fingerprint recur at `now_ms`: its openings within the window
/// (the window's start included), oldest first, when there are at least `recur_count` of
/// them; `None` otherwise. `openings` includes the incident just opened and only incidents in
/// no problem yet (after a problem is resolved, its incidents do not count again).
pub fn recurrence(
    openings: &[Opening],
    now_ms: i64,
    policy: &ProblemPolicy,
) -> Option<Vec<String>> {
    let from_ms = now_ms.saturating_sub(policy.recur_window_ms);
    let mut within: Vec<&Opening> = openings
        .iter()
        .filter(|opening| (from_ms..=now_ms).contains(&opening.opened_ms))
        .collect();
    within.sort_by(|a, b| {
        a.opened_ms
            .cmp(&b.opened_ms)
            .then(a.incident_id.cmp(&b.incident_id))
    });
    within.dedup_by(|a, b| a.incident_id == b.incident_id);
    (policy.recur_count >= 2 && within.len() >= policy.recur_count)
        .then(|| within.iter().map(|o| o.incident_id.clone()).collect())
}

/// True when an incident of `service` with `n_hosts` hosts is service-wide.
pub fn service_wide(service: Option<&str>, n_hosts: usize, policy: &ProblemPolicy) -> bool {
    service.is_some() && policy.service_hosts > 0 && n_hosts >= policy.service_hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn openings(times: &[i64]) -> Vec<Opening> {
        times
            .iter()
            .enumerate()
            .map(|(n, at)| Opening {
                incident_id: format!("i{n}"),
                opened_ms: *at,
            })
            .collect()
    }

    #[test]
    fn a_fingerprint_recurs_with_enough_openings_inside_the_window() {
        let policy = ProblemPolicy::default();
        let now = 100 * HOUR;
        // (opening times, linked incidents)
        let table: Vec<(Vec<i64>, Option<Vec<&str>>)> = vec![
            (vec![], None),
            (vec![now], None),
            (vec![now - HOUR, now], None),
            (
                vec![now - 2 * HOUR, now - HOUR, now],
                Some(vec!["i0", "i1", "i2"]),
            ),
            // The window's start counts, a millisecond earlier does not.
            (
                vec![now - 24 * HOUR, now - HOUR, now],
                Some(vec!["i0", "i1", "i2"]),
            ),
            (vec![now - 24 * HOUR - 1, now - HOUR, now], None),
            // Only those inside are linked.
            (
                vec![now - 30 * HOUR, now - 3 * HOUR, now - HOUR, now],
                Some(vec!["i1", "i2", "i3"]),
            ),
        ];
        for (n, (times, expected)) in table.into_iter().enumerate() {
            let got = recurrence(&openings(&times), now, &policy);
            let expected = expected.map(|ids| ids.iter().map(|id| (*id).to_owned()).collect());
            assert_eq!(got, expected, "row {n}");
        }
        let twice = ProblemPolicy {
            recur_count: 2,
            ..ProblemPolicy::default()
        };
        assert!(recurrence(&openings(&[now - HOUR, now]), now, &twice).is_some());
        let off = ProblemPolicy {
            recur_count: 1,
            ..ProblemPolicy::default()
        };
        assert_eq!(recurrence(&openings(&[now]), now, &off), None);
    }

    #[test]
    fn a_service_incident_is_service_wide_from_the_configured_number_of_hosts() {
        let policy = ProblemPolicy {
            service_hosts: 3,
            ..ProblemPolicy::default()
        };
        assert!(!service_wide(Some("checkout"), 2, &policy));
        assert!(service_wide(Some("checkout"), 3, &policy));
        assert!(!service_wide(None, 30, &policy));
        let off = ProblemPolicy {
            service_hosts: 0,
            ..ProblemPolicy::default()
        };
        assert!(!service_wide(Some("checkout"), 30, &off));
    }

    #[test]
    fn problem_states_round_trip() {
        for state in ProblemState::ALL {
            assert_eq!(ProblemState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ProblemState::parse("closed"), None);
        assert!(!ProblemState::Resolved.is_active());
    }
}
