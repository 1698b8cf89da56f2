//! Reset and cycle detection on a regular series. A drop much larger than the noise that
//! persists (a cleanup, a log rotation) ends a segment: trends are fitted on the current segment
//! only. Three or more resets at a regular spacing are a sawtooth: a cycle with that period, not
//! growth.

use super::stats::{mad_sigma, median, median_in_place};

/// What the series looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Indices where a new segment starts (the first value after a reset), oldest first.
    pub resets: Vec<usize>,
    /// Indices of persistent jumps up (a level shift, or a burst of growth), oldest first.
    pub shifts: Vec<usize>,
    /// The period in steps of a regular sawtooth, when the resets form one.
    pub sawtooth: Option<usize>,
    /// Robust standard deviation of one-step changes around their median.
    pub step_noise: f64,
}

impl Shape {
    /// Where the segment that contains the value at `end - 1` starts.
    pub fn segment_start(&self, end: usize) -> usize {
        self.resets
            .iter()
            .rev()
            .copied()
            .find(|&start| start < end)
            .unwrap_or(0)
    }

    /// Where the current level starts for a value at `end - 1`: after the last reset or jump
    /// up. A line fitted from here is not bent by an old step.
    pub fn level_start(&self, end: usize) -> usize {
        let shift = self
            .shifts
            .iter()
            .rev()
            .copied()
            .find(|&start| start < end)
            .unwrap_or(0);
        shift.max(self.segment_start(end))
    }
}

/// How many steps on each side of a drop must agree that the level moved.
const PERSIST: usize = 3;

/// Finds resets and a sawtooth period in `values`.
pub fn analyse(values: &[f64]) -> Shape {
    let n = values.len();
    if n < 3 {
        return Shape {
            resets: Vec::new(),
            shifts: Vec::new(),
            sawtooth: None,
            step_noise: 0.0,
        };
    }
    let diffs: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
    let typical = median(&diffs);
    let step_noise = mad_sigma(&diffs);
    let (low, high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let range = high - low;
    // A reset must be far outside the step noise and a real part of the series' range.
    let threshold = (8.0 * step_noise).max(0.1 * range);
    let mut resets = Vec::new();
    let mut shifts = Vec::new();
    let mut index = 1;
    while index < n {
        let jump = values[index] - values[index - 1] - typical;
        if range > 0.0 && -jump > threshold && persists(values, index, threshold) {
            resets.push(index);
            index += PERSIST;
        } else if range > 0.0 && jump > threshold && persists_up(values, index, threshold) {
            shifts.push(index);
            index += PERSIST;
        } else {
            index += 1;
        }
    }
    let sawtooth = sawtooth_period(&resets, n);
    Shape {
        resets,
        shifts,
        sawtooth,
        step_noise,
    }
}

/// Whether the level after `index` stays below the level before it by half the threshold.
fn persists(values: &[f64], index: usize, threshold: f64) -> bool {
    let before = &values[index.saturating_sub(PERSIST)..index];
    let after = &values[index..(index + PERSIST).min(values.len())];
    let mut before = before.to_vec();
    let mut after = after.to_vec();
    median_in_place(&mut before) - median_in_place(&mut after) > threshold / 2.0
}

/// Whether the level after `index` stays above the level before it by half the threshold.
fn persists_up(values: &[f64], index: usize, threshold: f64) -> bool {
    let mut before = values[index.saturating_sub(PERSIST)..index].to_vec();
    let mut after = values[index..(index + PERSIST).min(values.len())].to_vec();
    median_in_place(&mut after) - median_in_place(&mut before) > threshold / 2.0
}

/// The regular spacing of `resets`, when there are at least three, spaced within 20 % of their
/// median, covering most of the series.
fn sawtooth_period(resets: &[usize], n: usize) -> Option<usize> {
    if resets.len() < 3 {
        return None;
    }
    let spacings: Vec<f64> = resets.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let period = median(&spacings);
    let regular = spacings
        .iter()
        .all(|spacing| (spacing - period).abs() <= 0.2 * period);
    let covers = resets.len() as f64 * period >= 0.5 * n as f64;
    (regular && covers && period >= 2.0).then_some(period.round() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleanup_is_a_reset_and_noise_is_not() {
        let mut values: Vec<f64> = (0..200)
            .map(|i| 100.0 + i as f64 + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        for value in &mut values[120..] {
            *value -= 150.0;
        }
        let shape = analyse(&values);
        assert_eq!(shape.resets, vec![120]);
        assert_eq!(shape.sawtooth, None);
        assert_eq!(shape.segment_start(200), 120);
        assert_eq!(shape.segment_start(100), 0);
    }

    #[test]
    fn a_log_rotation_sawtooth_is_a_cycle() {
        let values: Vec<f64> = (0..500).map(|i| 10.0 + (i % 48) as f64).collect();
        let shape = analyse(&values);
        assert_eq!(
            shape.resets,
            vec![48, 96, 144, 192, 240, 288, 336, 384, 432, 480]
        );
        assert_eq!(shape.sawtooth, Some(48));
    }

    #[test]
    fn a_single_spike_down_is_not_a_reset() {
        let mut values: Vec<f64> = (0..100).map(|i| 50.0 + 0.1 * i as f64).collect();
        values[60] = 0.0;
        assert!(analyse(&values).resets.is_empty());
    }
}
