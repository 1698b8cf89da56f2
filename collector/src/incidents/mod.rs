//! The incident engine: events in, at most one open incident per fingerprint out.
//!
//! - `model.rs` — the [`Incident`] record, [`State`], timeline, SLA, ids.
//! - `event.rs` — [`EventIn`] (what enters) and [`EventOutcome`] (what became of it).
//! - `action.rs` — [`Action`]s people take and which apply in which state.
//! - `context.rs` — what a stage sees: policy, `now`, topology, changes, suppressors.
//! - `stages/` — the ordered stages every event goes through (fingerprint → suppress → fold →
//!   flapping → priority → topology → suspect → problem), one file each; the order is
//!   written once, in
//!   [`stages::STAGES`].
//! - `lifecycle.rs` — the ITIL building blocks the stages, actions and tick share, and the
//!   time-driven changes.
//! - `working.rs` — the incidents that are not closed, with the undo journal of a group.
//! - `engine.rs` — the [`Engine`] that drives them; `effect.rs` — the [`Effect`]s it hands out
//!   after a commit, each with a snapshot of the incident as committed.
//! - `flapping.rs`, `priority.rs` — the flapping history and the impact × urgency policy.
//! - `silence.rs` — silences and maintenance windows: which incidents they cover, and when.
//! - `topology.rs` — what depends on what, outages, attaching, holding and settling.
//! - `novelty.rs` — novelty paging: whether an episode of a fingerprint is new or recurring.
//! - `problems.rs` — problem records: recurrence and service-wide rules, states, what the
//!   problem stage asks the pipeline to store.
//!
//! The engine is synchronous and takes `now` as an argument; it does no I/O. Persisting and
//! notifying are the pipeline's (`crate::pipeline`).
//!
//! **Invariant:** at most one incident per fingerprint is open or acknowledged (in memory, and
//! in every store by a unique partial index).

pub mod action;
pub mod context;
pub mod effect;
pub mod engine;
pub mod event;
pub mod flapping;
pub mod grouping;
pub mod lifecycle;
pub mod model;
pub mod novelty;
pub mod policy;
pub mod priority;
pub mod problems;
pub mod silence;
pub mod stages;
pub mod topology;
pub mod working;

pub use action::{Action, ActionError};
pub use effect::{Change, Effect};
pub use engine::Engine;
pub use event::{EventIn, EventOutcome};
pub use model::{Incident, Sla, State, TimelineEntry, TimelineKind, parse_id};
pub use policy::Policy;
pub use stages::fingerprint;

#[cfg(test)]
mod tests;
