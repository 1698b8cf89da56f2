//! What a stage sees besides the event: the [`Context`] — the policy, `now`, and the
//! surroundings the pipeline gathered for this group of writes (topology, recent changes, extra
//! suppressors). Correlation stages read these; none of them does I/O.

use super::event::EventIn;
use super::policy::Policy;
use std::collections::HashMap;

/// Everything a stage may read.
pub struct Context<'a> {
    /// The tunables.
    pub policy: &'a Policy,
    /// Now, Unix ms (the pipeline's clock: wall time live, event time in a replay).
    pub now_ms: i64,
    /// Topology, changes and suppressors.
    pub surroundings: &'a Surroundings,
}

/// A suppressor beside `min_severity`: silences and maintenance windows implement it.
pub trait Muter: Send + Sync {
    /// Why `event` (with this fingerprint) opens nothing at `now_ms`, if it does not.
    fn muted_by(&self, event: &EventIn, fingerprint: &str, now_ms: i64) -> Option<&'static str>;
}

/// A change record as the stages see it (the store keeps the full record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRef {
    /// The change's id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its summary.
    pub summary: String,
    /// Hosts it touched.
    pub hosts: Vec<String>,
    /// Services it touched.
    pub services: Vec<String>,
    /// When it started, Unix ms.
    pub starts_ms: i64,
}

/// What the pipeline knows around the events of one group. Empty by default; the topology and
/// change stages fill it as they land.
#[derive(Default)]
pub struct Surroundings {
    /// Host id → the host ids it depends on (the agents' `[topology] depends_on`, with the
    /// collector's `[topology.depends_on]` added).
    pub depends_on: HashMap<String, Vec<String>>,
    /// The collector's own `[topology.depends_on]` (things with no agent: switches, databases
    /// as a service, upstream APIs).
    pub configured_depends_on: HashMap<String, Vec<String>>,
    /// When `depends_on` was last read from the stored inventories, Unix ms.
    pub topology_loaded_ms: Option<i64>,
    /// Recent change records (not `maintenance`: those silence instead), any order; the
    /// suspect stage looks at those within `Policy::change_window_ms` before `now`.
    pub changes: Vec<ChangeRef>,
    /// When a shared store's changes were last read (`None`: never, or to be read again).
    pub changes_loaded_ms: Option<i64>,
    /// Suppressors consulted after `min_severity`, in order.
    pub muters: Vec<Box<dyn Muter>>,
    /// Silences and maintenance windows (they mark incidents `silenced`, they do not drop
    /// events).
    pub silences: super::silence::Silences,
    /// Fingerprint → its incidents opened within `[problems] recur_window` (the problem stage
    /// counts them).
    pub openings: HashMap<String, Vec<super::problems::Opening>>,
    /// Fingerprint → its problem that is not resolved.
    pub problems: HashMap<String, super::problems::ProblemRef>,
    /// When an embedded store's openings and problems were loaded (`None`: load them before
    /// the next group that may open an incident).
    pub problems_loaded_ms: Option<i64>,
    /// Novelty paging: fingerprint → its record (an embedded store's all, loaded once; a
    /// shared store's those of the group's fingerprints, under their locks).
    pub novelty: HashMap<String, super::novelty::Record>,
    /// When an embedded store's novelty records were loaded (`None`: load them before the next
    /// group).
    pub novelty_loaded_ms: Option<i64>,
}

impl std::fmt::Debug for Surroundings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Surroundings")
            .field("depends_on", &self.depends_on.len())
            .field("changes", &self.changes.len())
            .field("changes_loaded_ms", &self.changes_loaded_ms)
            .field("muters", &self.muters.len())
            .field("silences", &self.silences.len())
            .field("openings", &self.openings.len())
            .field("problems", &self.problems.len())
            .field("novelty", &self.novelty.len())
            .finish()
    }
}
