//! `clock_skew`: the local clock differs from the collector's (its `Date` header, kept by the
//! transport) by more than `clock_skew_threshold`. Firing, warning; resolved when back under.
//! `labels.skew_seconds` and the summary give the skew (positive: the local clock is ahead).

use std::time::Duration;

use vigil_shared::wire::Event;
use vigil_shared::{Labels, Severity, Status};

/// Remembers whether it fired.
#[derive(Debug)]
pub struct SkewDetector {
    threshold_ms: i64,
    firing: bool,
}

impl SkewDetector {
    /// A detector with the configured threshold.
    pub fn new(threshold: Duration) -> SkewDetector {
        SkewDetector {
            threshold_ms: i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX),
            firing: false,
        }
    }

    /// Takes the latest skew (`None` before any answer with a `Date` header).
    pub fn check(&mut self, skew_ms: Option<i64>, now_ms: i64, out: &mut Vec<Event>) {
        let Some(skew_ms) = skew_ms else {
            return;
        };
        let over = skew_ms.saturating_abs() > self.threshold_ms;
        if over == self.firing {
            return;
        }
        self.firing = over;
        let seconds = skew_ms as f64 / 1_000.0;
        let direction = if skew_ms >= 0 { "ahead of" } else { "behind" };
        let (status, summary) = if over {
            tracing::warn!(skew_ms, "local clock is off against the collector");
            (
                Status::Firing,
                format!(
                    "local clock is {:.1} s {direction} the collector (threshold {} s)",
                    seconds.abs(),
                    self.threshold_ms / 1_000
                ),
            )
        } else {
            (
                Status::Resolved,
                format!(
                    "local clock is back within {} s of the collector ({seconds:+.1} s)",
                    self.threshold_ms / 1_000
                ),
            )
        };
        out.push(super::event(
            "clock_skew",
            status,
            Severity::Warning,
            summary,
            Labels::from([("skew_seconds".to_owned(), format!("{seconds:.1}"))]),
            now_ms,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_fires_over_threshold_and_resolves_under() {
        let mut detector = SkewDetector::new(Duration::from_secs(30));
        let mut out = Vec::new();
        detector.check(None, 1, &mut out);
        detector.check(Some(1_200), 1, &mut out);
        assert!(out.is_empty());
        detector.check(Some(-45_000), 2, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].check, "clock_skew");
        assert_eq!(out[0].status, Status::Firing);
        assert_eq!(out[0].labels["skew_seconds"], "-45.0");
        assert!(
            out[0].summary.contains("45.0 s behind"),
            "{}",
            out[0].summary
        );
        detector.check(Some(-50_000), 3, &mut out);
        assert_eq!(out.len(), 1);
        detector.check(Some(500), 4, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].status, Status::Resolved);
        detector.check(Some(i64::MIN), 5, &mut out);
        assert_eq!(out.len(), 3);
    }
}
