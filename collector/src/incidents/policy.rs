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
    /// One-shot checks that resolve by themselves when no new event came for a while.
    pub auto_resolve: Vec<AutoResolve>,
    /// How long the notifications of an incident whose host has dependencies wait for one of
    /// them to be found down (topology hold; 0: no wait).
    pub topology_hold_ms: i64,
    /// After a parent resolves, how long an attached incident has to resolve quietly before it
    /// stands on its own and is paged.
    pub topology_settle_ms: i64,
    /// A change that started at most this many ms before an incident opens (or reopens) may be
    /// suspected behind it.
    pub change_window_ms: i64,
    /// When problems open (`[problems]`).
    pub problems: super::problems::ProblemPolicy,
    /// Service grouping (`[grouping]`).
    pub grouping: GroupingPolicy,
}

/// Service grouping: incidents sharing a key on several hosts fold into one service-level
/// incident (see [`super::grouping`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupingPolicy {
    /// The key: incident fields (`service`, `check`, `source`) or label names; empty: off.
    pub by: Vec<String>,
    /// A lone incident of the key opened at most this long before another host's joins it
    /// into a service incident.
    pub window_ms: i64,
    /// How long the notifications of a lone incident of a key wait for another host's to
    /// join it (0: paged at once).
    pub wait_ms: i64,
    /// Per check (a name, or a prefix ending in `*`), a key of its own instead of `by` (empty:
    /// that check is never grouped).
    pub by_check: Vec<(String, Vec<String>)>,
    /// Novelty paging (`[grouping.novelty]`; `None`: off): a service-level incident forms with
    /// its first member, lives while any member is active, and pages only for new episodes.
    pub novelty: Option<NoveltyPolicy>,
}

/// `[grouping.novelty]` (see [`super::novelty`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoveltyPolicy {
    /// `W0`: the shortest quiet time after which an episode is new, ms.
    pub quiet_ms: i64,
    /// `c`: each ms of (decayed) past firing adds this many ms to the window.
    pub factor: u32,
    /// `τ`: the decay time of the past firing time, ms (> 0).
    pub decay_ms: i64,
    /// At most one page per service-level incident per this many ms (0: no limit beyond the
    /// grouping wait).
    pub interval_ms: i64,
}

impl Default for NoveltyPolicy {
    fn default() -> Self {
        NoveltyPolicy {
            quiet_ms: 5 * 60 * 60 * 1000,
            factor: 16,
            decay_ms: 7 * 24 * 60 * 60 * 1000,
            interval_ms: 5 * 60 * 1000,
        }
    }
}

impl GroupingPolicy {
    /// The key's names for incidents of `check`: the most specific `by_check` entry (an exact
    /// name over a prefix, a longer prefix over a shorter one), else `by`.
    pub fn by_for(&self, check: &str) -> &[String] {
        self.by_check
            .iter()
            .filter(|(pattern, _)| match pattern.strip_suffix('*') {
                Some(prefix) => check.starts_with(prefix),
                None => check == pattern,
            })
            .max_by_key(|(pattern, _)| (!pattern.ends_with('*'), pattern.len()))
            .map_or(self.by.as_slice(), |(_, by)| by.as_slice())
    }
}

impl Default for GroupingPolicy {
    fn default() -> Self {
        GroupingPolicy {
            by: vec!["service".to_owned()],
            window_ms: 5 * 60 * 1000,
            wait_ms: 30_000,
            by_check: Vec::new(),
            novelty: None,
        }
    }
}

/// A one-shot check (a reboot, an OOM kill, a log line) that resolves by itself `after_ms`
/// after its last event, as nobody can send its `resolved`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoResolve {
    /// The check's name, or a prefix when it ends with `*` (`log:*`).
    pub check: String,
    /// Quiet this long, ms; `None` turns a default off.
    pub after_ms: Option<i64>,
}

impl AutoResolve {
    /// True when `check` is this one's.
    pub fn matches(&self, check: &str) -> bool {
        match self.check.strip_suffix('*') {
            Some(prefix) => check.starts_with(prefix),
            None => check == self.check,
        }
    }
}

/// The agent's one-shot checks and how long each stays open without a new event: 1 h.
pub fn default_auto_resolve() -> Vec<AutoResolve> {
    ["reboot", "oom_kill", "data_loss", "log:*"]
        .into_iter()
        .map(|check| AutoResolve {
            check: check.to_owned(),
            after_ms: Some(3_600_000),
        })
        .collect()
}

impl Policy {
    /// How long `check` stays open without a new event, when it resolves by itself (the most
    /// specific entry wins: an exact name over a prefix, a longer prefix over a shorter one).
    pub fn auto_resolve_after_ms(&self, check: &str) -> Option<i64> {
        self.auto_resolve
            .iter()
            .filter(|rule| rule.matches(check))
            .max_by_key(|rule| (!rule.check.ends_with('*'), rule.check.len()))
            .and_then(|rule| rule.after_ms)
    }
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
            auto_resolve: default_auto_resolve(),
            topology_hold_ms: 30_000,
            topology_settle_ms: 120_000,
            change_window_ms: 2 * 60 * 60 * 1000,
            problems: super::problems::ProblemPolicy::default(),
            grouping: GroupingPolicy::default(),
        }
    }
}
