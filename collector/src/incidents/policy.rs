//! The engine's tunables ([`Policy`]), set from the collector config.

use super::flapping::FlapPolicy;
use super::priority::PriorityPolicy;
use vigil_shared::event::Severity;

/// Tunables of the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Priority and SLA.
    pub priority: PriorityPolicy,
    /// Flapping thresholds.
    pub flap: FlapPolicy,
    /// Events less severe than this open nothing.
    pub min_severity: Severity,
    /// A resolved incident that fires again within this many ms reopens.
    pub reopen_window_ms: i64,
    /// A resolved incident closes after this many ms.
    pub close_after_ms: i64,
    /// Most hosts listed on one incident.
    pub max_hosts: usize,
    /// Most timeline entries kept per incident (the first one and the newest are kept).
    pub max_timeline: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            priority: PriorityPolicy::default(),
            flap: FlapPolicy::default(),
            min_severity: Severity::Warning,
            reopen_window_ms: 60 * 60 * 1000,
            close_after_ms: 24 * 60 * 60 * 1000,
            max_hosts: 1_000,
            max_timeline: 500,
        }
    }
}
