//! When a forecast becomes a capacity incident. Pure.
//!
//! Levels are `(within, severity)` pairs (default: 24 h → major, 7 d → warning; with the
//! default impact × urgency matrix that is priority 2 and 4 for a medium-impact host). A series
//! fires the most urgent level whose `within` its forecast exhaustion is inside; it keeps firing
//! a level until the exhaustion moves past `within × 1.25` (hysteresis, so a forecast wobbling
//! around a threshold does not open and resolve again and again), and resolves when no level
//! holds. The incident keeps the worst severity it reached (the engine never lowers one).

use vigil_shared::event::Severity;

/// One alert level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertLevel {
    /// Exhaustion forecast within this many ms.
    pub within_ms: i64,
    /// The incident's severity.
    pub severity: Severity,
}

/// The default levels: 24 h → major, 7 d → warning.
pub fn default_levels() -> Vec<AlertLevel> {
    vec![
        AlertLevel {
            within_ms: 24 * 3_600_000,
            severity: Severity::Major,
        },
        AlertLevel {
            within_ms: 7 * 24 * 3_600_000,
            severity: Severity::Warning,
        },
    ]
}

/// How far past a level's `within` a firing series keeps firing it, as a factor.
const HYSTERESIS: f64 = 1.25;

/// The level a series should fire now: `levels` most urgent (shortest `within`) first,
/// `exhaustion_in_ms` the forecast time left (`None`: no exhaustion forecast), `firing` the
/// severity it fires now.
pub fn decide(
    levels: &[AlertLevel],
    exhaustion_in_ms: Option<i64>,
    firing: Option<Severity>,
) -> Option<Severity> {
    let left = exhaustion_in_ms?.max(0) as f64;
    levels.iter().find_map(|level| {
        let factor = if firing == Some(level.severity) {
            HYSTERESIS
        } else {
            1.0
        };
        (left <= level.within_ms as f64 * factor).then_some(level.severity)
    })
}

/// "1 h 30 m"-style text for a span of ms (summaries).
pub fn span_text(ms: i64) -> String {
    if ms < 60_000 {
        return format!("{} s", ms.max(0) / 1_000);
    }
    let minutes = ms / 60_000;
    let (days, hours, minutes) = (minutes / 1_440, minutes / 60 % 24, minutes % 60);
    match (days, hours, minutes) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn levels_fire_by_time_left_with_hysteresis() {
        let levels = default_levels();
        let (major, warning) = (Some(Severity::Major), Some(Severity::Warning));
        // (time left, firing now, expected)
        let table = [
            (None, None, None),
            (None, major, None),
            (Some(0), None, major),
            (Some(-5), None, major),
            (Some(24 * HOUR), None, major),
            (Some(25 * HOUR), None, warning),
            (Some(25 * HOUR), major, major),
            (Some(30 * HOUR), major, major),
            (Some(31 * HOUR), major, warning),
            (Some(7 * 24 * HOUR), None, warning),
            (Some(8 * 24 * HOUR), None, None),
            (Some(8 * 24 * HOUR), warning, warning),
            (Some(9 * 24 * HOUR), warning, None),
        ];
        for (left, firing, expected) in table {
            assert_eq!(
                decide(&levels, left, firing),
                expected,
                "left {left:?}, firing {firing:?}"
            );
        }
        assert_eq!(decide(&[], Some(0), None), None, "no levels, no incident");
    }

    #[test]
    fn spans_read_like_a_person_wrote_them() {
        assert_eq!(span_text(0), "0 s");
        assert_eq!(span_text(41_500), "41 s");
        assert_eq!(span_text(59 * 60_000), "59 min");
        assert_eq!(span_text(HOUR), "1 h");
        assert_eq!(span_text(HOUR + 30 * 60_000), "1 h 30 min");
        assert_eq!(span_text(26 * HOUR), "1 d 2 h");
        assert_eq!(span_text(7 * 24 * HOUR), "7 d");
    }
}
