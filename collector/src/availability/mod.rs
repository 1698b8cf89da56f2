//! Availability and service levels, pure (no I/O, no clock): from the recorded up/down history
//! (`store::StateChange` rows: hosts from the heartbeat, probes from the agents' `probe_up`
//! samples) to per-subject availability over 1 d / 7 d / 30 d, MTBF and MTTR, and the SLOs'
//! error budgets and burn rates ([`report`]).
//!
//! - `timeline.rs` — the interval math: step functions, totals over a window, down intervals,
//!   the probe and service combinations.
//! - `slo.rs` — `[[slo]]` as [`slo::Slo`], budgets, burn rates, the burn-rate event.
//! - `tracker.rs` — the ingest path's memory of the last recorded probe states.
//!
//! **Definitions** (README "Availability" says the same for users):
//! - a *host* is up from its first accepted batch, down from the moment the heartbeat declares
//!   it down (`--host-down-after` without a batch) until the batch that brings it back;
//! - a *probe* is up or down as its latest `probe_up` sample says, and *unknown* while its host
//!   is down (its agent is not heard from, so neither up nor down time is counted); unknown too
//!   once its agent stopped reporting it for 5 min (`tracker::PROBE_GONE_AFTER_MS`) and while
//!   its host is unknown (forgotten with `DELETE /v1/hosts/{id}`);
//! - a *service* is the hosts whose `service` label names it, with their probes: down while any
//!   of those hosts or probes is down (a user of a load-balanced service hits the failing member),
//!   up while none is down and one is up;
//! - availability = up time ÷ known time in the window; time before a subject was first
//!   recorded is not known, so a subject seen mid-window is not penalised;
//! - MTBF and MTTR come from the recorded down intervals (not from incidents, which can be
//!   acknowledged, grouped or silenced): MTBF = up time in the window ÷ the down intervals that
//!   began in it; MTTR = the mean whole length of the down intervals that ended in it.

pub mod slo;
pub mod timeline;
pub mod tracker;

use crate::store::StateChange;
use slo::{Slo, SloStatus, SloSubject};
use std::collections::BTreeMap;
use timeline::{Reliability, State, Timeline, Totals};

const DAY_MS: i64 = 86_400_000;

/// The reported windows: label and length.
pub const WINDOWS: [(&str, i64); 3] = [("1d", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS)];

/// How long the availability history is kept (the longest `[[slo]]` window allowed); each
/// subject's last change before it is kept too, as the state the history starts in.
pub const RETENTION_MS: i64 = 90 * DAY_MS;

/// How far back the history must be read for the windows and these SLOs.
pub fn history_ms(slos: &[Slo]) -> i64 {
    slos.iter()
        .map(|slo| slo.window_ms)
        .chain(WINDOWS.iter().map(|(_, ms)| *ms))
        .max()
        .unwrap_or(30 * DAY_MS)
}

/// One host, probe or service with its timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// `host`, `probe` or `service`.
    pub kind: &'static str,
    /// The host (hosts and probes).
    pub host: Option<String>,
    /// The probe (probes).
    pub probe: Option<String>,
    /// The service (a host's or probe's `service` label; a service's name).
    pub service: Option<String>,
    /// Its state over time (a probe's is the effective one).
    pub timeline: Timeline,
}

impl Subject {
    /// The name reported as `subject`: the host id, `host/probe`, or the service.
    pub fn name(&self) -> String {
        match (self.kind, &self.host, &self.probe, &self.service) {
            ("probe", Some(host), Some(probe), _) => format!("{host}/{probe}"),
            ("service", _, _, Some(service)) => service.clone(),
            (_, Some(host), _, _) => host.clone(),
            _ => String::new(),
        }
    }

    fn is(&self, target: &SloSubject) -> bool {
        self.kind == target.kind() && self.name() == target.name()
    }
}

/// Every subject of the history: hosts, their probes (unknown while the host is down), and
/// the services their `service` labels name. Sorted by kind, then name.
pub fn subjects(changes: &[StateChange]) -> Vec<Subject> {
    let mut hosts: BTreeMap<&str, Vec<(i64, State)>> = BTreeMap::new();
    let mut probes: BTreeMap<(&str, &str), Vec<(i64, State)>> = BTreeMap::new();
    // A host's service: the label on its newest row.
    let mut service_of: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
    for change in changes {
        let state = match change.up {
            Some(true) => State::Up,
            Some(false) => State::Down,
            None => State::Unknown,
        };
        match change.kind.as_str() {
            tracker::HOST => hosts
                .entry(change.host.as_str())
                .or_default()
                .push((change.at_ms, state)),
            tracker::PROBE => probes
                .entry((change.host.as_str(), change.probe.as_str()))
                .or_default()
                .push((change.at_ms, state)),
            _ => continue,
        }
        // An end-of-history row (a forgotten host) does not take the host out of its service.
        if change.up.is_none() {
            continue;
        }
        let entry = service_of
            .entry(change.host.as_str())
            .or_insert((change.at_ms, change.service.as_str()));
        if change.at_ms >= entry.0 {
            *entry = (change.at_ms, change.service.as_str());
        }
    }
    let service = |host: &str| {
        service_of
            .get(host)
            .map(|(_, service)| *service)
            .filter(|service| !service.is_empty())
            .map(str::to_owned)
    };
    let host_lines: BTreeMap<&str, Timeline> = hosts
        .into_iter()
        .map(|(host, changes)| (host, Timeline::from_changes(changes)))
        .collect();
    let empty = Timeline::default();
    let mut subjects = Vec::new();
    for (host, timeline) in &host_lines {
        subjects.push(Subject {
            kind: "host",
            host: Some((*host).to_owned()),
            probe: None,
            service: service(host),
            timeline: timeline.clone(),
        });
    }
    for ((host, probe), changes) in probes {
        let own = Timeline::from_changes(changes);
        let host_line = host_lines.get(host).unwrap_or(&empty);
        subjects.push(Subject {
            kind: "probe",
            host: Some(host.to_owned()),
            probe: Some(probe.to_owned()),
            service: service(host),
            timeline: Timeline::probe_effective(&own, host_line),
        });
    }
    let mut services: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (idx, subject) in subjects.iter().enumerate() {
        if let Some(service) = &subject.service {
            services.entry(service.clone()).or_default().push(idx);
        }
    }
    for (service, members) in services {
        let lines: Vec<&Timeline> = members.iter().map(|&idx| &subjects[idx].timeline).collect();
        let timeline = Timeline::service(&lines);
        subjects.push(Subject {
            kind: "service",
            host: None,
            probe: None,
            service: Some(service),
            timeline,
        });
    }
    subjects
}

/// One window of a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStats {
    /// `1d`, `7d` or `30d`.
    pub window: &'static str,
    /// Up and down time.
    pub totals: Totals,
    /// Failures, MTBF, MTTR.
    pub reliability: Reliability,
}

/// A subject at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectReport {
    /// The subject.
    pub subject: Subject,
    /// Its state now.
    pub state: State,
    /// Per window in [`WINDOWS`].
    pub windows: Vec<WindowStats>,
    /// The SLOs about it (indexes into [`Report::slos`]).
    pub slos: Vec<usize>,
}

/// An SLO at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SloReport {
    /// The objective.
    pub slo: Slo,
    /// Budget and burn.
    pub status: SloStatus,
}

/// Everything at an instant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// When, Unix ms.
    pub at_ms: i64,
    /// Every subject.
    pub subjects: Vec<SubjectReport>,
    /// Every SLO (in config order).
    pub slos: Vec<SloReport>,
}

/// The report at `now_ms` from the history (read with `history_ms(slos)` of look-back).
pub fn report(changes: &[StateChange], slos: &[Slo], now_ms: i64) -> Report {
    let subjects = subjects(changes);
    let empty = Timeline::default();
    let slo_reports: Vec<SloReport> = slos
        .iter()
        .map(|slo| {
            let timeline = subjects
                .iter()
                .find(|subject| subject.is(&slo.subject))
                .map_or(&empty, |subject| &subject.timeline);
            SloReport {
                slo: slo.clone(),
                status: slo::evaluate(slo, timeline, now_ms),
            }
        })
        .collect();
    let subjects = subjects
        .into_iter()
        .map(|subject| {
            let windows = WINDOWS
                .iter()
                .map(|&(window, length_ms)| {
                    let from_ms = now_ms.saturating_sub(length_ms);
                    WindowStats {
                        window,
                        totals: subject.timeline.totals(from_ms, now_ms),
                        reliability: timeline::reliability(&subject.timeline, from_ms, now_ms),
                    }
                })
                .collect();
            SubjectReport {
                state: subject.timeline.state_at(now_ms),
                windows,
                slos: slos
                    .iter()
                    .enumerate()
                    .filter(|(_, slo)| subject.is(&slo.subject))
                    .map(|(idx, _)| idx)
                    .collect(),
                subject,
            }
        })
        .collect();
    Report {
        at_ms: now_ms,
        subjects,
        slos: slo_reports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        kind: &str,
        host: &str,
        probe: &str,
        service: &str,
        at_ms: i64,
        up: bool,
    ) -> StateChange {
        StateChange {
            kind: kind.into(),
            host: host.into(),
            probe: probe.into(),
            service: service.into(),
            at_ms,
            up: Some(up),
        }
    }

    #[test]
    fn report_derives_probes_and_services_from_the_history() {
        let now = 10 * 60_000;
        let history = [
            row("host", "web-1", "", "checkout", 0, true),
            row("probe", "web-1", "http", "checkout", 0, true),
            row("probe", "web-1", "http", "checkout", 60_000, false),
            row("probe", "web-1", "http", "checkout", 120_000, true),
            row("host", "web-2", "", "checkout", 0, true),
            row("host", "web-2", "", "checkout", 300_000, false),
            row("host", "db-1", "", "", 0, true),
        ];
        let report = report(&history, &[], now);
        let names: Vec<(&str, String)> = report
            .subjects
            .iter()
            .map(|s| (s.subject.kind, s.subject.name()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("host", "db-1".to_owned()),
                ("host", "web-1".to_owned()),
                ("host", "web-2".to_owned()),
                ("probe", "web-1/http".to_owned()),
                ("service", "checkout".to_owned()),
            ]
        );
        let probe = &report.subjects[3];
        assert_eq!(
            probe.windows[0].totals,
            Totals {
                up_ms: 540_000,
                down_ms: 60_000
            }
        );
        assert_eq!(probe.windows[0].reliability.mttr_ms, Some(60_000));
        let service = &report.subjects[4];
        // Down 1..2 min (the probe) and from 5 min on (web-2 down).
        assert_eq!(
            service.windows[0].totals,
            Totals {
                up_ms: 240_000,
                down_ms: 360_000
            }
        );
        assert_eq!(service.state, State::Down);
        assert_eq!(report.subjects[2].state, State::Down);

        // web-2 forgotten at 8 min: unknown from then on, still part of checkout's past.
        let mut forgotten = history.to_vec();
        forgotten.push(StateChange {
            up: None,
            ..row("host", "web-2", "", "", 480_000, true)
        });
        let after = super::report(&forgotten, &[], now);
        let service = &after.subjects[4];
        assert_eq!(service.subject.name(), "checkout");
        assert_eq!(
            service.state,
            State::Up,
            "the forgotten member no longer counts"
        );
        assert_eq!(
            service.windows[0].totals,
            Totals {
                up_ms: 360_000,
                down_ms: 240_000
            }
        );
        assert_eq!(after.subjects[2].state, State::Unknown);
    }
}
