//! Stage 5: priority from an ITIL impact × urgency matrix, and the SLA due times it implies.
//!
//! Impact: `high` when a label matches one of the high-impact matchers (e.g. `env=prod`) or the
//! incident spans at least `breadth_high` hosts, `low` when a low-impact matcher matches (and no
//! high one), else `medium`. Urgency from severity: critical and major are high, minor medium,
//! warning and info low. Info is always priority 5. Pure: no clock, no I/O.
//!
//! | impact \ urgency | high | medium | low |
//! |---|---|---|---|
//! | high   | 1 | 2 | 3 |
//! | medium | 2 | 3 | 4 |
//! | low    | 3 | 4 | 5 |

use vigil_shared::event::Severity;
use vigil_shared::labels::Labels;

/// Three-level scale of impact and urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Widest / most pressing.
    High,
    /// In between.
    Medium,
    /// Narrow / can wait.
    Low,
}

/// `label=value`: matches when the incident's labels have that value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMatch {
    /// Label name.
    pub name: String,
    /// Required value.
    pub value: String,
}

impl LabelMatch {
    /// Parses `name=value`.
    pub fn parse(text: &str) -> Option<LabelMatch> {
        let (name, value) = text.split_once('=')?;
        let name = name.trim();
        (!name.is_empty()).then(|| LabelMatch {
            name: name.to_owned(),
            value: value.trim().to_owned(),
        })
    }

    fn matches(&self, labels: &Labels) -> bool {
        labels.get(&self.name) == Some(&self.value)
    }
}

/// Time to acknowledge and to resolve for one priority, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaTarget {
    /// Acknowledge within.
    pub ack_ms: i64,
    /// Resolve within.
    pub resolve_ms: i64,
}

/// How priority and SLA are decided.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorityPolicy {
    /// Any of these makes impact high.
    pub high_impact: Vec<LabelMatch>,
    /// Any of these (and none of the high ones) makes impact low.
    pub low_impact: Vec<LabelMatch>,
    /// An incident over at least this many hosts has high impact.
    pub breadth_high: usize,
    /// SLA targets for priorities 1..=5 (index 0 is priority 1).
    pub sla: [SlaTarget; 5],
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

impl Default for PriorityPolicy {
    fn default() -> Self {
        PriorityPolicy {
            high_impact: vec![
                LabelMatch::parse("env=prod").expect("valid"),
                LabelMatch::parse("env=production").expect("valid"),
                LabelMatch::parse("tier=1").expect("valid"),
            ],
            low_impact: vec![
                LabelMatch::parse("env=dev").expect("valid"),
                LabelMatch::parse("env=test").expect("valid"),
            ],
            breadth_high: 5,
            sla: [
                SlaTarget {
                    ack_ms: 15 * MINUTE,
                    resolve_ms: 4 * HOUR,
                },
                SlaTarget {
                    ack_ms: 30 * MINUTE,
                    resolve_ms: 8 * HOUR,
                },
                SlaTarget {
                    ack_ms: 4 * HOUR,
                    resolve_ms: 24 * HOUR,
                },
                SlaTarget {
                    ack_ms: 24 * HOUR,
                    resolve_ms: 72 * HOUR,
                },
                SlaTarget {
                    ack_ms: 72 * HOUR,
                    resolve_ms: 168 * HOUR,
                },
            ],
        }
    }
}

impl PriorityPolicy {
    /// Impact of an incident with these labels over `n_hosts` hosts.
    pub fn impact(&self, labels: &Labels, n_hosts: usize) -> Level {
        if n_hosts >= self.breadth_high.max(1) && self.breadth_high > 0
            || self.high_impact.iter().any(|m| m.matches(labels))
        {
            Level::High
        } else if self.low_impact.iter().any(|m| m.matches(labels)) {
            Level::Low
        } else {
            Level::Medium
        }
    }

    /// Priority 1..=5.
    pub fn priority(&self, labels: &Labels, n_hosts: usize, severity: Severity) -> u8 {
        if severity == Severity::Info {
            return 5;
        }
        matrix(self.impact(labels, n_hosts), urgency(severity))
    }

    /// The SLA target of `priority` (clamped to 1..=5).
    pub fn sla(&self, priority: u8) -> SlaTarget {
        self.sla[usize::from(priority.clamp(1, 5) - 1)]
    }
}

/// Urgency from severity.
pub fn urgency(severity: Severity) -> Level {
    match severity {
        Severity::Critical | Severity::Major => Level::High,
        Severity::Minor => Level::Medium,
        Severity::Warning | Severity::Info => Level::Low,
    }
}

/// The ITIL matrix: 1 for high × high down to 5 for low × low.
pub fn matrix(impact: Level, urgency: Level) -> u8 {
    let rank = |level: Level| match level {
        Level::High => 0u8,
        Level::Medium => 1,
        Level::Low => 2,
    };
    1 + rank(impact) + rank(urgency)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_matrix_runs_from_one_to_five() {
        assert_eq!(matrix(Level::High, Level::High), 1);
        assert_eq!(matrix(Level::High, Level::Low), 3);
        assert_eq!(matrix(Level::Medium, Level::Medium), 3);
        assert_eq!(matrix(Level::Low, Level::Medium), 4);
        assert_eq!(matrix(Level::Low, Level::Low), 5);
    }

    #[test]
    fn impact_comes_from_labels_and_breadth() {
        let policy = PriorityPolicy::default();
        let prod = labels(&[("env", "prod")]);
        let dev = labels(&[("env", "dev")]);
        assert_eq!(policy.priority(&prod, 1, Severity::Critical), 1);
        assert_eq!(policy.priority(&Labels::new(), 1, Severity::Critical), 2);
        assert_eq!(policy.priority(&dev, 1, Severity::Warning), 5);
        assert_eq!(policy.priority(&dev, 1, Severity::Minor), 4);
        assert_eq!(policy.priority(&Labels::new(), 5, Severity::Minor), 2);
        assert_eq!(policy.priority(&prod, 1, Severity::Info), 5);
    }

    #[test]
    fn sla_targets_tighten_with_priority() {
        let policy = PriorityPolicy::default();
        for p in 1..5u8 {
            assert!(policy.sla(p).ack_ms < policy.sla(p + 1).ack_ms);
            assert!(policy.sla(p).resolve_ms < policy.sla(p + 1).resolve_ms);
        }
        assert_eq!(policy.sla(0), policy.sla(1));
        assert_eq!(policy.sla(9), policy.sla(5));
    }

    #[test]
    fn label_matchers_parse_name_equals_value() {
        assert_eq!(
            LabelMatch::parse(" tier = 1 "),
            Some(LabelMatch {
                name: "tier".into(),
                value: "1".into()
            })
        );
        assert_eq!(LabelMatch::parse("tier"), None);
        assert_eq!(LabelMatch::parse("=1"), None);
    }
}
