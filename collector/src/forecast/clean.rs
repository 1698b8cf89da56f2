//! Series cleaning: drop non-finite points, sort, merge repeated stamps, and resample onto a
//! regular grid anchored at the newest point (bucket means, except the newest slot, which is the
//! newest point; empty buckets filled by linear interpolation across the gap). Long series are put on a coarser step so that no more than
//! `max_points` remain, which bounds the cost of everything downstream.

use super::ForecastError;
use super::stats::median_in_place;

/// A series on a regular grid: `values[i]` is the value at `last_ms - (len - 1 - i) * step_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Regular {
    /// Time of the newest value (the newest input stamp).
    pub last_ms: i64,
    /// Grid step.
    pub step_ms: i64,
    /// The values, oldest first.
    pub values: Vec<f64>,
    /// How many grid slots had no input point and were interpolated.
    pub filled: usize,
    /// How many input points were left out (NaN or infinite values).
    pub dropped: usize,
}

/// The fewest distinct stamps a forecast needs.
pub const MIN_POINTS: usize = 3;

/// Cleans `points` onto a regular grid of at most `max_points` values.
pub fn regularize(points: &[(i64, f64)], max_points: usize) -> Result<Regular, ForecastError> {
    let max_points = max_points.max(MIN_POINTS);
    let mut finite: Vec<(i64, f64)> = points
        .iter()
        .copied()
        .filter(|(_, value)| value.is_finite())
        .collect();
    let dropped = points.len() - finite.len();
    finite.sort_by_key(|(time, _)| *time);
    // Merge repeated stamps into their mean.
    let mut merged: Vec<(i64, f64)> = Vec::with_capacity(finite.len());
    let mut run = 0usize;
    for (time, value) in finite {
        match merged.last_mut() {
            Some((last_time, sum)) if *last_time == time => {
                *sum += value;
                run += 1;
            }
            _ => {
                if let Some((_, sum)) = merged.last_mut() {
                    *sum /= run as f64;
                }
                merged.push((time, value));
                run = 1;
            }
        }
    }
    if let Some((_, sum)) = merged.last_mut() {
        *sum /= run as f64;
    }
    if merged.len() < MIN_POINTS {
        return Err(ForecastError::TooFewPoints {
            have: merged.len(),
            need: MIN_POINTS,
        });
    }
    let first_ms = merged[0].0;
    let last_ms = merged[merged.len() - 1].0;
    let span = i128::from(last_ms) - i128::from(first_ms);
    let mut gaps: Vec<f64> = merged
        .windows(2)
        .map(|w| (i128::from(w[1].0) - i128::from(w[0].0)) as f64)
        .collect();
    let base = (median_in_place(&mut gaps).round() as i128).max(1);
    // Coarsen to a multiple of the base step when the grid would be too long.
    let mut step = base;
    let slots_needed = span / step + 1;
    if slots_needed > max_points as i128 {
        let factor = (span + (max_points as i128 - 2)) / (max_points as i128 - 1) / base + 1;
        step = base * factor;
    }
    let slots = (span + step / 2) / step + 1;
    let slots = usize::try_from(slots.min(max_points as i128 + 1)).unwrap_or(max_points);
    let step_ms = i64::try_from(step).unwrap_or(i64::MAX);
    let mut sums = vec![0.0; slots];
    let mut counts = vec![0u32; slots];
    for (time, value) in &merged {
        let back = (i128::from(last_ms) - i128::from(*time) + step / 2) / step;
        let back = usize::try_from(back).unwrap_or(usize::MAX);
        if back < slots {
            let index = slots - 1 - back;
            sums[index] += value;
            counts[index] += 1;
        }
    }
    let mut values = vec![f64::NAN; slots];
    for index in 0..slots {
        if counts[index] > 0 {
            values[index] = sums[index] / f64::from(counts[index]);
        }
    }
    // The newest slot is the newest point itself, not a bucket mean that lags it by up to half
    // a step: the last value is what short horizons start from.
    if let Some(newest) = values.last_mut() {
        *newest = merged[merged.len() - 1].1;
    }
    let filled = fill_gaps(&mut values);
    if values.len() < MIN_POINTS {
        return Err(ForecastError::TooFewPoints {
            have: values.len(),
            need: MIN_POINTS,
        });
    }
    Ok(Regular {
        last_ms,
        step_ms,
        values,
        filled,
        dropped,
    })
}

/// Replaces NaN slots by linear interpolation between their known neighbours (or the nearest
/// known value at the ends). Returns how many slots were filled.
fn fill_gaps(values: &mut [f64]) -> usize {
    let known: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    let Some((&first, &last)) = known.first().zip(known.last()) else {
        return 0;
    };
    let mut filled = 0;
    for i in 0..first {
        values[i] = values[first];
        filled += 1;
    }
    for i in last + 1..values.len() {
        values[i] = values[last];
        filled += 1;
    }
    for pair in known.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        for i in a + 1..b {
            let t = (i - a) as f64 / (b - a) as f64;
            values[i] = values[a] + (values[b] - values[a]) * t;
            filled += 1;
        }
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regularize_sorts_merges_and_fills_gaps() {
        let points = [
            (3_000, 3.0),
            (0, 0.0),
            (1_000, 1.0),
            (1_000, 3.0),
            (6_000, 6.0),
            (2_000, f64::NAN),
            (2_000, 2.0),
        ];
        let regular = regularize(&points, 100).unwrap();
        assert_eq!(regular.step_ms, 1_000);
        assert_eq!(regular.last_ms, 6_000);
        assert_eq!(regular.values, vec![0.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(regular.filled, 2);
        assert_eq!(regular.dropped, 1);
    }

    #[test]
    fn regularize_coarsens_long_series_to_the_point_budget() {
        let points: Vec<(i64, f64)> = (0..10_000).map(|i| (i * 1_000, i as f64)).collect();
        let regular = regularize(&points, 1_000).unwrap();
        assert!(regular.values.len() <= 1_001, "{}", regular.values.len());
        assert_eq!(regular.step_ms % 1_000, 0);
        assert_eq!(*regular.values.last().unwrap(), 9_999.0);
    }

    #[test]
    fn regularize_refuses_fewer_than_three_stamps() {
        let error = regularize(&[(0, 1.0), (0, 2.0), (5, f64::INFINITY)], 100).unwrap_err();
        assert!(matches!(error, ForecastError::TooFewPoints { have: 1, .. }));
    }
}
