//! Service-level objectives, pure: an [`Slo`] (from `[[slo]]`), its error budget left over its
//! window and its burn rates over the alerting windows (the SRE workbook's multiwindow,
//! multi-burn-rate alerts: page when both a long and a short window burn faster than a
//! factor), and the event that opens or resolves its burn-rate incident.

use super::timeline::Timeline;
use crate::incidents::EventIn;
use vigil_shared::event::{Severity, Status};

/// The `check` of burn-rate incidents' events (the SLO's name is the `slo` label).
pub const SLO_BURN: &str = "slo_burn";

/// What an SLO is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SloSubject {
    /// A service (hosts with that `service` label and their probes).
    Service(String),
    /// A host.
    Host(String),
    /// One probe of a host.
    Probe {
        /// Host id.
        host: String,
        /// Probe name.
        probe: String,
    },
}

impl SloSubject {
    /// `service`, `host` or `probe`.
    pub fn kind(&self) -> &'static str {
        match self {
            SloSubject::Service(_) => "service",
            SloSubject::Host(_) => "host",
            SloSubject::Probe { .. } => "probe",
        }
    }

    /// The subject's name as reported (`host/probe` for a probe).
    pub fn name(&self) -> String {
        match self {
            SloSubject::Service(name) | SloSubject::Host(name) => name.clone(),
            SloSubject::Probe { host, probe } => format!("{host}/{probe}"),
        }
    }
}

/// One alerting rule: fire while both windows burn faster than `factor`.
#[derive(Debug, Clone, PartialEq)]
pub struct BurnAlert {
    /// The long window, ms.
    pub long_ms: i64,
    /// The short window, ms (it makes the alert stop soon after the burn does).
    pub short_ms: i64,
    /// Burn rate threshold (1 = the budget lasts exactly the SLO window).
    pub factor: f64,
    /// Severity of the incident while this rule fires.
    pub severity: Severity,
}

/// The SRE workbook's page rules for a 30-day 99.9 % SLO: 2 % of the budget in 1 h, 5 % in 6 h.
pub fn default_burn_alerts() -> Vec<BurnAlert> {
    vec![
        BurnAlert {
            long_ms: 3_600_000,
            short_ms: 300_000,
            factor: 14.4,
            severity: Severity::Critical,
        },
        BurnAlert {
            long_ms: 6 * 3_600_000,
            short_ms: 1_800_000,
            factor: 6.0,
            severity: Severity::Major,
        },
    ]
}

/// One `[[slo]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// Unique name.
    pub name: String,
    /// What it is about.
    pub subject: SloSubject,
    /// Target availability in percent, 0 < target < 100.
    pub target: f64,
    /// The window the budget is counted over, ms.
    pub window_ms: i64,
    /// Alerting rules.
    pub burn: Vec<BurnAlert>,
}

impl Slo {
    /// The allowed error rate, 1 − target.
    pub fn budget_rate(&self) -> f64 {
        (1.0 - self.target / 100.0).max(f64::MIN_POSITIVE)
    }

    /// Every window a burn rate is reported for, shortest first, without repeats.
    pub fn burn_windows(&self) -> Vec<i64> {
        let mut windows: Vec<i64> = self
            .burn
            .iter()
            .flat_map(|alert| [alert.long_ms, alert.short_ms])
            .collect();
        windows.sort_unstable();
        windows.dedup();
        windows
    }
}

/// An SLO evaluated at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SloStatus {
    /// Availability over the SLO window (`None` when nothing is known).
    pub availability: Option<f64>,
    /// Share of the window's error budget left: 1 untouched, 0 spent, below 0 overspent.
    pub budget_remaining: f64,
    /// Burn rate per window (ms), shortest first: the error rate ÷ the allowed error rate.
    pub burn_rates: Vec<(i64, f64)>,
    /// The alerting rules that fire (indexes into [`Slo::burn`]).
    pub firing: Vec<usize>,
}

/// Burn rate of `timeline` over the `window_ms` before `now_ms`: its error rate (down ÷ known
/// time) ÷ the SLO's allowed error rate; 0 while nothing is known.
pub fn burn_rate(slo: &Slo, timeline: &Timeline, now_ms: i64, window_ms: i64) -> f64 {
    timeline
        .totals(now_ms.saturating_sub(window_ms), now_ms)
        .error_rate()
        / slo.budget_rate()
}

/// Evaluates `slo` on its subject's timeline at `now_ms`.
pub fn evaluate(slo: &Slo, timeline: &Timeline, now_ms: i64) -> SloStatus {
    let totals = timeline.totals(now_ms.saturating_sub(slo.window_ms), now_ms);
    let budget_ms = slo.budget_rate() * totals.known_ms() as f64;
    let budget_remaining = if budget_ms > 0.0 {
        1.0 - totals.down_ms as f64 / budget_ms
    } else {
        1.0
    };
    let burn_rates: Vec<(i64, f64)> = slo
        .burn_windows()
        .into_iter()
        .map(|window_ms| (window_ms, burn_rate(slo, timeline, now_ms, window_ms)))
        .collect();
    let rate_of = |window_ms: i64| {
        burn_rates
            .iter()
            .find(|(window, _)| *window == window_ms)
            .map_or(0.0, |(_, rate)| *rate)
    };
    let firing = slo
        .burn
        .iter()
        .enumerate()
        .filter(|(_, alert)| {
            rate_of(alert.long_ms) > alert.factor && rate_of(alert.short_ms) > alert.factor
        })
        .map(|(idx, _)| idx)
        .collect();
    SloStatus {
        availability: totals.ratio(),
        budget_remaining,
        burn_rates,
        firing,
    }
}

/// The burn-rate incident's event for `status`: firing (with the worst firing rule's severity
/// and the numbers) or resolved.
pub fn burn_event(slo: &Slo, status: &SloStatus) -> EventIn {
    let duration =
        |ms: i64| vigil_shared::format_duration(std::time::Duration::from_millis(ms as u64));
    let rate_of = |window_ms: i64| {
        status
            .burn_rates
            .iter()
            .find(|(window, _)| *window == window_ms)
            .map_or(0.0, |(_, rate)| *rate)
    };
    let worst = status
        .firing
        .iter()
        .filter_map(|&idx| slo.burn.get(idx))
        .max_by(|a, b| a.factor.total_cmp(&b.factor));
    let (state, severity, summary) = match worst {
        Some(alert) => (
            Status::Firing,
            status
                .firing
                .iter()
                .filter_map(|&idx| slo.burn.get(idx))
                .map(|alert| alert.severity)
                .max_by_key(|severity| severity_rank(*severity))
                .unwrap_or(alert.severity),
            format!(
                "SLO {} ({} {} over {}) burns its error budget {:.1}x over {} and {:.1}x over {} (threshold {}x); {:.0}% of the budget left",
                slo.name,
                slo.subject.kind(),
                slo.subject.name(),
                duration(slo.window_ms),
                rate_of(alert.long_ms),
                duration(alert.long_ms),
                rate_of(alert.short_ms),
                duration(alert.short_ms),
                alert.factor,
                status.budget_remaining * 100.0,
            ),
        ),
        None => (
            Status::Resolved,
            Severity::Critical,
            format!(
                "SLO {}: the error budget no longer burns too fast",
                slo.name
            ),
        ),
    };
    let mut event =
        EventIn::new(crate::rules::SOURCE, SLO_BURN, state, severity).with_summary(summary);
    event.labels.insert("slo".to_owned(), slo.name.clone());
    match &slo.subject {
        SloSubject::Service(service) => event.service = Some(service.clone()),
        SloSubject::Host(host) => event.host = Some(host.clone()),
        SloSubject::Probe { host, probe } => {
            event.host = Some(host.clone());
            event.labels.insert("probe".to_owned(), probe.clone());
        }
    }
    event
}

/// Higher is worse.
fn severity_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => 4,
        Severity::Major => 3,
        Severity::Minor => 2,
        Severity::Warning => 1,
        Severity::Info => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::timeline::State::{Down, Up};
    use super::*;

    fn slo(burn: Vec<BurnAlert>) -> Slo {
        Slo {
            name: "checkout".into(),
            subject: SloSubject::Service("checkout".into()),
            target: 99.0,
            window_ms: 100_000,
            burn,
        }
    }

    fn alert(long_ms: i64, short_ms: i64, factor: f64) -> BurnAlert {
        BurnAlert {
            long_ms,
            short_ms,
            factor,
            severity: Severity::Critical,
        }
    }

    #[test]
    fn burn_rate_is_the_error_rate_over_the_allowed_one() {
        let slo = slo(vec![alert(10_000, 1_000, 14.4)]);
        // Up from 0, down for the last 1 s of 100 s.
        let line = Timeline::from_changes([(0, Up), (99_000, Down)]);
        let now = 100_000;
        // Last 10 s: 10 % down ÷ 1 % allowed = 10×; last 1 s: 100×.
        assert!((burn_rate(&slo, &line, now, 10_000) - 10.0).abs() < 1e-9);
        assert!((burn_rate(&slo, &line, now, 1_000) - 100.0).abs() < 1e-9);
        let status = evaluate(&slo, &line, now);
        assert!(status.firing.is_empty(), "the long window is under 14.4x");
        // 1 s down of 100 s known = a 1 % error rate = the whole budget spent.
        assert!(status.budget_remaining.abs() < 1e-9, "{status:?}");
        assert_eq!(status.availability, Some(0.99));
        assert_eq!(
            status
                .burn_rates
                .iter()
                .map(|(w, _)| *w)
                .collect::<Vec<_>>(),
            vec![1_000, 10_000]
        );
    }

    #[test]
    fn an_alert_fires_only_while_both_windows_burn_and_stops_with_the_short_one() {
        let slo = slo(vec![alert(10_000, 2_000, 5.0)]);
        // Down 90..95 s, then up again.
        let line = Timeline::from_changes([(0, Up), (90_000, Down), (95_000, Up)]);
        let at = |now| evaluate(&slo, &line, now).firing.len();
        assert_eq!(at(91_000), 1, "both windows burn");
        assert_eq!(at(95_500), 1, "short window still 75 % down");
        assert_eq!(at(97_500), 0, "the short window recovered");
        let event = burn_event(&slo, &evaluate(&slo, &line, 91_000));
        assert_eq!(event.status, Status::Firing);
        assert_eq!(event.check, SLO_BURN);
        assert_eq!(event.service.as_deref(), Some("checkout"));
        assert_eq!(
            event.labels.get("slo").map(String::as_str),
            Some("checkout")
        );
        assert!(event.summary.contains("SLO checkout"), "{}", event.summary);
        let resolved = burn_event(&slo, &evaluate(&slo, &line, 99_000));
        assert_eq!(resolved.status, Status::Resolved);
    }

    #[test]
    fn nothing_known_burns_nothing_and_keeps_the_whole_budget() {
        let slo = slo(default_burn_alerts());
        let status = evaluate(&slo, &Timeline::default(), 1_000_000);
        assert_eq!(status.budget_remaining, 1.0);
        assert!(status.firing.is_empty());
        assert!(status.burn_rates.iter().all(|(_, rate)| *rate == 0.0));
        assert_eq!(status.availability, None);
    }
}
