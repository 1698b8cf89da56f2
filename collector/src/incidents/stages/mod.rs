//! The engine's stages, in the order they run for every event — written once, in [`STAGES`]:
//!
//! 1. **fingerprint** (`fingerprint.rs`) — the dedup key.
//! 2. **suppress** (`suppress.rs`) — why the event opens nothing (`min_severity`, then every
//!    [`super::context::Muter`]: silences and maintenance windows).
//! 3. **fold** (`fold.rs`) — into the fingerprint's open or acknowledged incident, reopen a
//!    recently resolved one, open a new one; a resolved event asks for resolution.
//! 4. **flapping** (`flapping.rs`) — records the status; too many changes mark the incident
//!    flapping and hold a source's resolve until it settles, otherwise the resolve happens here.
//! 5. **priority** (`priority.rs`) — impact × urgency and the SLA due times.
//! 6. **topology** (`topology.rs`) — attach to the outage of a host it depends on, or hold its
//!    notifications while its dependencies are not known to be down.
//! 7. **suspect** (`suspect.rs`) — on open and reopen, the recent change most likely behind
//!    the incident (same host, then service, then a host it depends on; nearest in time).
//! 8. **problem** (`problem.rs`) — joins the fingerprint's problem (a known error's workaround
//!    with it), or opens one when the fingerprint recurs or a service incident spans many hosts.
//!
//! Further correlation stages (grouping) slot in after these. Persist and
//! notify are the pipeline's (`crate::pipeline`): every incident a group changed is saved in the
//! group's transaction, and the effects are handed out after the commit.
//!
//! A stage is a plain function of the [`Context`] and the [`Step`]; it may stop the pipeline.

pub mod fingerprint;
pub mod flapping;
pub mod fold;
pub mod priority;
pub mod problem;
pub mod suppress;
pub mod suspect;
pub mod topology;

use super::context::Context;
use super::effect::Change;
use super::event::{EventIn, EventOutcome};
use super::model::Incident;
use super::problems::ProblemWrite;
use super::working::Working;
use std::sync::Arc;

/// What the stages decided for the event so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing decided yet.
    Pending,
    /// Opens nothing, and why.
    Suppressed(&'static str),
    /// A resolved event with no incident to resolve.
    NoIncident,
    /// A new incident.
    Opened,
    /// A firing repeat folded into the active incident.
    Folded,
    /// A resolved incident fired again within the reopen window.
    Reopened,
    /// A resolved event for the active incident: resolution asked (the flapping stage decides).
    Resolving,
    /// The source resolved it.
    Resolved,
    /// Resolution held: the incident is flapping.
    Held,
    /// The incident took note; nothing changed state (e.g. already resolved).
    Noted,
}

/// One event on its way through the stages.
pub struct Step<'s> {
    /// The event.
    pub event: &'s EventIn,
    /// Its fingerprint (set by the first stage).
    pub fingerprint: String,
    /// The decision so far.
    pub decision: Decision,
    /// The incident the event concerns, taken out of the working set while the stages change it
    /// (copy-on-write: `Arc::make_mut`).
    pub incident: Option<Arc<Incident>>,
    /// Transitions made so far.
    pub changes: Vec<Change>,
    /// The incidents that are not closed (to find the fingerprint's incident, issue ids).
    pub working: &'s mut Working,
    /// Problem records to store (the problem stage's).
    pub problem_writes: Vec<ProblemWrite>,
}

impl Step<'_> {
    /// What became of the event, from the decision.
    pub fn outcome(&self, noted: Option<String>) -> EventOutcome {
        let id = || {
            self.incident
                .as_ref()
                .map(|incident| incident.id.clone())
                .or_else(|| noted.clone())
                .unwrap_or_default()
        };
        match self.decision {
            Decision::Suppressed(reason) => EventOutcome::Suppressed(reason),
            Decision::NoIncident | Decision::Pending => EventOutcome::NoIncident,
            Decision::Opened => EventOutcome::Opened(id()),
            Decision::Folded => EventOutcome::Folded(id()),
            Decision::Reopened => EventOutcome::Reopened(id()),
            Decision::Resolved => EventOutcome::Resolved(id()),
            Decision::Resolving | Decision::Held | Decision::Noted => EventOutcome::Noted(id()),
        }
    }
}

/// Whether the pipeline goes on after a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Next stage.
    Continue,
    /// Done with this event.
    Stop,
}

/// A stage.
pub type Stage = fn(&Context<'_>, &mut Step<'_>) -> Flow;

/// The stages in order, with their names (logs, docs, tests).
pub const STAGES: [(&str, Stage); 8] = [
    ("fingerprint", fingerprint::stage),
    ("suppress", suppress::stage),
    ("fold", fold::stage),
    ("flapping", flapping::stage),
    ("priority", priority::stage),
    ("topology", topology::stage),
    ("suspect", suspect::stage),
    ("problem", problem::stage),
];

#[cfg(test)]
pub(crate) mod test_util {
    //! A step over a scratch working set, for the stages' table tests.
    use super::*;
    use crate::incidents::context::Surroundings;
    use crate::incidents::policy::Policy;

    /// Runs `stages` on `event` over `working`; returns the step's decision, the incident and
    /// the changes.
    pub fn run(
        stages: &[Stage],
        event: &EventIn,
        working: &mut Working,
        policy: &Policy,
        now_ms: i64,
    ) -> (Decision, Option<Arc<Incident>>, Vec<Change>) {
        run_in(
            stages,
            event,
            working,
            policy,
            now_ms,
            &Surroundings::default(),
        )
    }

    /// Like [`run`], with these surroundings.
    pub fn run_in(
        stages: &[Stage],
        event: &EventIn,
        working: &mut Working,
        policy: &Policy,
        now_ms: i64,
        surroundings: &Surroundings,
    ) -> (Decision, Option<Arc<Incident>>, Vec<Change>) {
        let context = Context {
            policy,
            now_ms,
            surroundings,
        };
        let mut step = Step {
            event,
            fingerprint: super::fingerprint::fingerprint(event),
            decision: Decision::Pending,
            incident: None,
            changes: Vec::new(),
            working,
            problem_writes: Vec::new(),
        };
        for stage in stages {
            if stage(&context, &mut step) == Flow::Stop {
                break;
            }
        }
        (step.decision, step.incident, step.changes)
    }

    /// Runs every stage on `event`, puts the incident back into `working` and commits, as the
    /// engine does; returns the decision, a copy of the incident and the changes.
    pub fn run_all_and_commit(
        event: &EventIn,
        working: &mut Working,
        policy: &Policy,
        now_ms: i64,
    ) -> (Decision, Incident, Vec<Change>) {
        let stages: Vec<Stage> = STAGES.iter().map(|(_, stage)| *stage).collect();
        let (decision, incident, changes) = run(&stages, event, working, policy, now_ms);
        let incident = incident.expect("the event concerns an incident");
        let copy = (*incident).clone();
        match decision {
            Decision::Opened => working.insert_new(incident),
            Decision::Noted => {}
            _ => working.put(incident),
        }
        working.commit();
        (decision, copy, changes)
    }
}
