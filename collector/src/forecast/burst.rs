//! Bursty cumulative growth: a series that only grows (bytes written with nothing deleted) but
//! whose volume per day varies several-fold from one day to the next. The point models are
//! chosen for their error at each horizon, and on such a series the last value or a recent drift
//! wins there, because no model can time the next burst; the path they draw then crosses the
//! capacity at the pace of the last hours, which after a quiet spell says "not within the
//! horizon" a day before the disk is full. For these series exhaustion is also read at the
//! pace of a busy day of the last week (the busiest 24 hours apart from the single busiest, so
//! that a burst seen once does not set it), and the earlier crossing is the answer.
//!
//! Detection, on the current segment (after the last reset) over up to the last
//! [`LOOKBACK_DAYS`] days: the series is monotone (its one-step decreases add up to at most
//! [`MAX_DECREASE`] of its increases: a counter, not a gauge with noise), it has at least
//! [`MIN_DAYS`] whole days, and the growth of those days (non-overlapping, ending at the newest
//! point) has a coefficient of variation of at least [`MIN_DAILY_CV`]. A steady writer with a
//! daily or weekly rhythm has whole days that differ by well under that (the Microsoft
//! `ingress-01` curve: 0.13); a series with noise on top of its growth is not monotone, and
//! keeps the point models' crossing alone.

/// How many days back the detection and the busy pace look.
pub const LOOKBACK_DAYS: usize = 7;
/// The fewest whole days of growth in the current segment before a series can be called bursty.
pub const MIN_DAYS: usize = 3;
/// The least day-to-day coefficient of variation of the daily growth that counts as bursty.
pub const MIN_DAILY_CV: f64 = 0.3;
/// The most the one-step decreases may add up to, as a share of the increases, for a monotone
/// series.
pub const MAX_DECREASE: f64 = 0.01;

/// The busy pace, in value per grid step, of a bursty cumulative series: the growth of the
/// second-busiest 24 hours of the last week (windows one hour apart, the newest ending at the
/// newest point; the second is the busiest window that does not overlap the busiest one),
/// divided by the steps in a day. `None` when the series is not bursty cumulative growth (see
/// the module doc) or does not grow.
///
/// `values` is the regular series (oldest first), `segment_start` where its current segment
/// starts and `day` the number of grid steps in 24 hours.
pub fn busy_pace(values: &[f64], segment_start: usize, day: usize) -> Option<f64> {
    let n = values.len();
    if day < 2 || n < 2 {
        return None;
    }
    let newest = n - 1;
    let from = segment_start
        .min(newest)
        .max(newest.saturating_sub(day.saturating_mul(LOOKBACK_DAYS)));
    let days = (newest - from) / day;
    if days < MIN_DAYS {
        return None;
    }
    let window = &values[from..];
    let (rise, fall) =
        window
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold((0.0, 0.0), |(rise, fall), change| {
                if change > 0.0 {
                    (rise + change, fall)
                } else {
                    (rise, fall - change)
                }
            });
    if rise <= 0.0 || fall > MAX_DECREASE * rise {
        return None;
    }
    let daily: Vec<f64> = (0..days)
        .map(|d| values[newest - d * day] - values[newest - (d + 1) * day])
        .collect();
    let mean = daily.iter().sum::<f64>() / days as f64;
    let variance = daily.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / days as f64;
    if !(mean > 0.0 && mean.is_finite() && variance.sqrt() >= MIN_DAILY_CV * mean) {
        return None;
    }
    // 24-hour windows an hour apart, the newest ending at the newest point: (end, growth).
    let stride = (day / 24).max(1);
    let windows: Vec<(usize, f64)> = (from + day..=newest)
        .rev()
        .step_by(stride)
        .map(|end| (end, values[end] - values[end - day]))
        .collect();
    let (busiest_end, _) =
        windows
            .iter()
            .copied()
            .fold((newest, f64::NEG_INFINITY), |best, window| {
                if window.1 > best.1 { window } else { best }
            });
    // A burst seen once (a one-off copy, a backup restored) does not set the pace: the pace is
    // the busiest 24 hours that do not overlap the busiest.
    let pace = windows
        .iter()
        .filter(|(end, _)| end.abs_diff(busiest_end) >= day)
        .map(|(_, growth)| *growth)
        .fold(0.0, f64::max);
    (pace > 0.0 && pace.is_finite()).then(|| pace / day as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cumulative series on a 1-hour grid (24 steps a day) from per-day volumes, each day's
    /// volume written in its first two hours.
    fn bursts(daily: &[f64]) -> Vec<f64> {
        let mut total = 0.0;
        let mut values = vec![0.0];
        for volume in daily {
            for hour in 0..24 {
                if hour < 2 {
                    total += volume / 2.0;
                }
                values.push(total);
            }
        }
        values
    }

    #[test]
    fn busy_pace_is_the_second_busiest_day_of_the_last_week() {
        let values = bursts(&[1.0, 9.0, 2.0, 1.0, 12.0, 3.0, 1.0, 2.0, 6.0]);
        // The last 7 days are 2, 1, 12, 3, 1, 2, 6: the busiest 24 hours wrote 12, the busiest
        // 24 hours apart from those wrote 6 (the older 9 is more than a week back).
        let pace = busy_pace(&values, 0, 24).unwrap();
        assert!((pace - 6.0 / 24.0).abs() < 1e-12, "{pace}");
        // Busy days that recur: 12 twice.
        let values = bursts(&[1.0, 12.0, 2.0, 1.0, 12.0, 3.0, 1.0]);
        let pace = busy_pace(&values, 0, 24).unwrap();
        assert!((pace - 12.0 / 24.0).abs() < 1e-12, "{pace}");
    }

    #[test]
    fn busy_pace_is_not_set_by_a_one_off_burst() {
        // A steady 1 a day (written in bursts) and one day that copied 40.
        let values = bursts(&[1.0, 1.0, 1.0, 40.0, 1.0, 1.0, 1.0]);
        let pace = busy_pace(&values, 0, 24).unwrap();
        assert!((pace - 1.0 / 24.0).abs() < 1e-12, "{pace}");
    }

    #[test]
    fn busy_pace_is_none_for_steady_noisy_or_short_growth() {
        let steady = bursts(&[5.0, 5.5, 4.5, 5.0, 5.2, 4.8, 5.0]);
        assert_eq!(busy_pace(&steady, 0, 24), None);
        let mut noisy = bursts(&[1.0, 9.0, 2.0, 1.0, 12.0, 3.0, 1.0]);
        for (i, value) in noisy.iter_mut().enumerate() {
            *value += if i % 2 == 0 { 0.3 } else { -0.3 };
        }
        assert_eq!(busy_pace(&noisy, 0, 24), None);
        let short = bursts(&[1.0, 9.0]);
        assert_eq!(busy_pace(&short, 0, 24), None);
        // Only the current segment counts: after a reset two days ago, too short again.
        let values = bursts(&[1.0, 9.0, 2.0, 1.0, 12.0, 3.0, 1.0]);
        assert_eq!(busy_pace(&values, values.len() - 48, 24), None);
    }
}
