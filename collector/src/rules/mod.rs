//! Threshold rules over incoming host metrics: samples → events. A rule fires after its
//! condition held for `for`, and clears only once the value is back past its `clear` level
//! (hysteresis), so a value hovering at the threshold does not churn. Edge-triggered: one
//! `firing` event when it starts, one `resolved` event when it clears.
//!
//! Pure: no I/O, `now` is an argument. The rule state is keyed by the event fingerprint, so after a
//! restart the open rule incidents seed it ([`Evaluator::seed_firing`]) and still clear.

use crate::hosts::Host;
use crate::incidents::EventIn;
use crate::incidents::fingerprint::fingerprint;
use std::collections::{HashMap, HashSet};
use std::hash::RandomState;
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;

/// The `source` of rule and heartbeat events.
pub const SOURCE: &str = "vigil";
/// The `check` of heartbeat incidents.
pub const HOST_DOWN: &str = "host_down";

/// Which side of the threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Fires when the value is above the threshold.
    Above,
    /// Fires when the value is below the threshold.
    Below,
}

/// One threshold rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name; the `check` of its events.
    pub name: String,
    /// Agent sample name, e.g. `filesystem_avail_bytes`.
    pub metric: String,
    /// Divide by this sample (same labels, else the host-level one), e.g.
    /// `filesystem_size_bytes`.
    pub divide_by: Option<String>,
    /// Bad side.
    pub op: Op,
    /// Fires past this value.
    pub threshold: f64,
    /// Clears once back past this value.
    pub clear: f64,
    /// Condition must hold this long, ms.
    pub for_ms: i64,
    /// Severity of its events.
    pub severity: Severity,
    /// A runbook URL its incidents carry.
    pub runbook: Option<String>,
}

impl Rule {
    fn breached(&self, value: f64) -> bool {
        match self.op {
            Op::Above => value > self.threshold,
            Op::Below => value < self.threshold,
        }
    }

    fn cleared(&self, value: f64) -> bool {
        match self.op {
            Op::Above => value < self.clear,
            Op::Below => value > self.clear,
        }
    }

    fn describe(&self, value: f64) -> String {
        let expression = match &self.divide_by {
            Some(divisor) => format!("{}/{divisor}", self.metric),
            None => self.metric.clone(),
        };
        let side = match self.op {
            Op::Above => "above",
            Op::Below => "below",
        };
        format!(
            "{expression} = {value:.3}, {side} {} for {}",
            self.threshold,
            vigil_shared::format_duration(std::time::Duration::from_millis(
                self.for_ms.max(0) as u64
            ))
        )
    }
}

/// The rules shipped by default (a `[[rule]]` with the same name replaces one).
pub fn default_rules() -> Vec<Rule> {
    let rule = |name: &str,
                metric: &str,
                divide_by: Option<&str>,
                op: Op,
                threshold: f64,
                clear: f64,
                minutes: i64,
                severity: Severity| Rule {
        name: name.to_owned(),
        metric: metric.to_owned(),
        divide_by: divide_by.map(str::to_owned),
        op,
        threshold,
        clear,
        for_ms: minutes * 60_000,
        severity,
        runbook: None,
    };
    vec![
        rule(
            "cpu_saturated",
            "cpu_usage_ratio",
            None,
            Op::Above,
            0.95,
            0.85,
            10,
            Severity::Warning,
        ),
        rule(
            "memory_pressure",
            "memory_available_bytes",
            Some("memory_total_bytes"),
            Op::Below,
            0.05,
            0.10,
            5,
            Severity::Major,
        ),
        rule(
            "filesystem_almost_full",
            "filesystem_avail_bytes",
            Some("filesystem_size_bytes"),
            Op::Below,
            0.10,
            0.15,
            5,
            Severity::Major,
        ),
        rule(
            "filesystem_inodes_low",
            "filesystem_inodes_free",
            Some("filesystem_inodes_total"),
            Op::Below,
            0.10,
            0.15,
            5,
            Severity::Major,
        ),
        rule(
            "swap_heavy",
            "swap_used_bytes",
            Some("swap_total_bytes"),
            Op::Above,
            0.80,
            0.60,
            10,
            Severity::Warning,
        ),
        rule(
            "load_per_core_high",
            "load5",
            Some("cpu_count"),
            Op::Above,
            2.0,
            1.5,
            10,
            Severity::Warning,
        ),
    ]
}

#[derive(Debug, Clone, Copy, Default)]
struct RuleState {
    pending_since_ms: Option<i64>,
    firing: bool,
}

/// Rule state for every (rule, host, series); evaluates hosts as their batches arrive.
#[derive(Debug, Default)]
pub struct Evaluator {
    rules: Vec<Rule>,
    /// Keyed by the fingerprint of the event the series would produce.
    state: HashMap<String, RuleState>,
}

impl Evaluator {
    /// An evaluator of `rules`.
    pub fn new(rules: Vec<Rule>) -> Evaluator {
        Evaluator {
            rules,
            state: HashMap::new(),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Marks these fingerprints (of open rule incidents, at start) as firing, so they clear.
    pub fn seed_firing(&mut self, fingerprints: &HashSet<String>) {
        for fingerprint in fingerprints {
            self.state.insert(
                fingerprint.clone(),
                RuleState {
                    pending_since_ms: None,
                    firing: true,
                },
            );
        }
    }

    /// Evaluates every rule on `host`'s latest series; returns the events of rules that started
    /// firing or cleared.
    pub fn evaluate(&mut self, host: &Host, hasher: &RandomState, now_ms: i64) -> Vec<EventIn> {
        let mut events = Vec::new();
        let Evaluator { rules, state } = self;
        for series in host.series.iter() {
            // A handful of rules: comparing names (lengths first) is cheaper than hashing every
            // series name of every batch.
            for rule in rules.iter().filter(|rule| rule.metric == *series.name) {
                let value = match &rule.divide_by {
                    None => series.value,
                    Some(divisor) => {
                        let labels: Vec<(&str, &str)> = series
                            .labels
                            .iter()
                            .map(|(k, v)| (k.as_ref(), v.as_ref()))
                            .collect();
                        let Some(divisor) = host
                            .series
                            .get(hasher, divisor, &labels)
                            .or_else(|| host.series.get(hasher, divisor, &[]))
                        else {
                            continue;
                        };
                        if divisor.value <= 0.0 || !divisor.value.is_finite() {
                            continue;
                        }
                        series.value / divisor.value
                    }
                };
                if !value.is_finite() {
                    continue;
                }
                let mut event = EventIn::new(SOURCE, &rule.name, Status::Firing, rule.severity)
                    .with_host(&host.host_id);
                event.runbook.clone_from(&rule.runbook);
                event.labels = series.label_map();
                event.host_labels.clone_from(&host.labels);
                let key = fingerprint(&event);
                let state = state.entry(key).or_default();
                if state.firing {
                    if rule.cleared(value) {
                        state.firing = false;
                        state.pending_since_ms = None;
                        event.status = Status::Resolved;
                        event.summary = format!("cleared: {}", rule.describe(value));
                        events.push(event);
                    }
                } else if rule.breached(value) {
                    let since = *state.pending_since_ms.get_or_insert(now_ms);
                    if now_ms - since >= rule.for_ms {
                        state.firing = true;
                        event.summary = rule.describe(value);
                        events.push(event);
                    }
                } else {
                    state.pending_since_ms = None;
                }
            }
        }
        events
    }

    /// Forgets the state of a host (forgotten or decommissioned).
    pub fn forget(&mut self, fingerprints: impl Iterator<Item = String>) {
        for fingerprint in fingerprints {
            self.state.remove(&fingerprint);
        }
    }
}

/// The heartbeat event of `host`: firing when it went silent, resolved when it is back.
pub fn host_down_event(
    host_id: &str,
    host_labels: &Labels,
    down: bool,
    summary: String,
) -> EventIn {
    let status = if down {
        Status::Firing
    } else {
        Status::Resolved
    };
    let mut event = EventIn::new(SOURCE, HOST_DOWN, status, Severity::Critical)
        .with_host(host_id)
        .with_summary(summary);
    event.host_labels = host_labels.clone();
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::Hosts;
    use vigil_shared::wire::{AgentInfo, Batch, PROTOCOL_VERSION, Sample};

    type SampleSpec<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

    fn batch(seq: u64, samples: &[SampleSpec<'_>]) -> Batch {
        Batch {
            version: PROTOCOL_VERSION,
            agent: AgentInfo {
                host_id: "db-1".into(),
                hostname: "db-1".into(),
                version: "t".into(),
                labels: Labels::from([("env".into(), "prod".into())]),
            },
            stream: 1,
            seq,
            time_ms: 0,
            samples: samples
                .iter()
                .map(|(name, labels, value)| Sample {
                    name: (*name).into(),
                    labels: labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    value: *value,
                    time_ms: None,
                })
                .collect(),
            events: vec![],
            inventory: None,
        }
    }

    fn run(hosts: &Hosts, evaluator: &mut Evaluator, now_ms: i64, avail: f64) -> Vec<EventIn> {
        let mount: &[(&str, &str)] = &[("mountpoint", "/var")];
        hosts.apply(
            batch(
                now_ms as u64 + 1,
                &[
                    ("filesystem_avail_bytes", mount, avail),
                    ("filesystem_size_bytes", mount, 100.0),
                ],
            ),
            now_ms,
        );
        hosts.read(|all| evaluator.evaluate(&all["db-1"], hosts.hasher(), now_ms))
    }

    #[test]
    fn fires_after_for_and_clears_only_past_the_clear_level() {
        let hosts = Hosts::new(i64::MAX / 2);
        let mut evaluator = Evaluator::new(default_rules());
        let minute = 60_000;
        assert!(run(&hosts, &mut evaluator, 0, 5.0).is_empty(), "pending");
        assert!(run(&hosts, &mut evaluator, 4 * minute, 5.0).is_empty());
        let events = run(&hosts, &mut evaluator, 5 * minute, 5.0);
        assert_eq!(events.len(), 1, "{events:?}");
        let event = &events[0];
        assert_eq!(event.check, "filesystem_almost_full");
        assert_eq!(event.status, Status::Firing);
        assert_eq!(
            event.labels.get("mountpoint").map(String::as_str),
            Some("/var")
        );
        assert_eq!(
            event.host_labels.get("env").map(String::as_str),
            Some("prod")
        );
        assert!(event.summary.contains("0.050"), "{}", event.summary);
        assert!(
            run(&hosts, &mut evaluator, 6 * minute, 5.0).is_empty(),
            "edge-triggered"
        );
        assert!(
            run(&hosts, &mut evaluator, 7 * minute, 12.0).is_empty(),
            "inside the hysteresis band"
        );
        let events = run(&hosts, &mut evaluator, 8 * minute, 20.0);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, Status::Resolved);
        assert_eq!(fingerprint(&events[0]), fingerprint(event));
    }

    #[test]
    fn a_rule_with_a_runbook_hands_it_to_its_events() {
        let hosts = Hosts::new(i64::MAX / 2);
        let mut rules = default_rules();
        for rule in &mut rules {
            if rule.name == "filesystem_almost_full" {
                rule.runbook = Some("https://runbooks.example/disk".into());
            }
        }
        let mut evaluator = Evaluator::new(rules);
        run(&hosts, &mut evaluator, 0, 5.0);
        let fired = run(&hosts, &mut evaluator, 5 * 60_000, 5.0);
        assert_eq!(
            fired[0].runbook.as_deref(),
            Some("https://runbooks.example/disk")
        );
        let cleared = run(&hosts, &mut evaluator, 6 * 60_000, 50.0);
        assert_eq!(cleared[0].status, Status::Resolved);
        assert_eq!(
            cleared[0].runbook.as_deref(),
            Some("https://runbooks.example/disk")
        );
    }

    #[test]
    fn a_dip_shorter_than_for_does_not_fire() {
        let hosts = Hosts::new(i64::MAX / 2);
        let mut evaluator = Evaluator::new(default_rules());
        assert!(run(&hosts, &mut evaluator, 0, 5.0).is_empty());
        assert!(run(&hosts, &mut evaluator, 60_000, 50.0).is_empty());
        assert!(run(&hosts, &mut evaluator, 10 * 60_000, 5.0).is_empty());
    }

    #[test]
    fn seeded_fingerprints_clear_after_a_restart() {
        let hosts = Hosts::new(i64::MAX / 2);
        let mut first = Evaluator::new(default_rules());
        run(&hosts, &mut first, 0, 5.0);
        let fired = run(&hosts, &mut first, 5 * 60_000, 5.0);
        let mut restarted = Evaluator::new(default_rules());
        restarted.seed_firing(&HashSet::from([fingerprint(&fired[0])]));
        let events = run(&hosts, &mut restarted, 6 * 60_000, 50.0);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, Status::Resolved);
    }
}
