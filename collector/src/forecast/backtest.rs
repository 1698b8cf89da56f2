//! Rolling-origin backtest on the series' own past: each candidate is fitted at several origins
//! on the values before it and scored on what followed, at a grid of horizons. The winner is the
//! candidate with the lowest error relative to the last value on the same origins (per horizon);
//! its residuals become the uncertainty band. A target past a reset (a cleanup) is not scored:
//! no model can see one coming, so it would only add noise to the choice.

use super::models::Model;
use super::segment::Shape;

/// How many origins the cheap models are scored on.
pub const ORIGINS: usize = 12;
/// How many origins an expensive model is scored on.
pub const EXPENSIVE_ORIGINS: usize = 2;

/// One candidate's backtest.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The model.
    pub model: Model,
    /// Per grid horizon: truth minus forecast at each origin that could be checked.
    pub residuals: Vec<Vec<f64>>,
    /// Per grid horizon: MAE / MAE of the last value on the same origins (lower is better; 1 is
    /// as good as the last value), `None` where nothing could be checked.
    pub ratios: Vec<Option<f64>>,
    /// The mean of `ratios`. Infinite when nothing could be checked.
    pub score: f64,
}

impl Scored {
    /// The ratio at grid slot `slot`, or at the nearest shorter slot that was checked.
    pub fn ratio_at(&self, slot: usize) -> Option<f64> {
        self.ratios.get(..=slot)?.iter().rev().find_map(|r| *r)
    }
}

/// The grid of horizons (in steps) the backtest checks: powers of two below `max_steps` plus
/// the requested `steps`, ascending.
pub fn grid(steps: &[usize], max_steps: usize) -> Vec<usize> {
    let mut grid: Vec<usize> = std::iter::successors(Some(1usize), |g| g.checked_mul(2))
        .take_while(|&g| g < max_steps)
        .chain(steps.iter().copied())
        .collect();
    grid.sort_unstable();
    grid.dedup();
    grid
}

/// Up to `count` origins (lengths of the history seen) spread over the newest part of a series
/// of `n` values, so that the longest horizon `max_steps` is checked at about half of them.
pub fn origins(n: usize, max_steps: usize, count: usize) -> Vec<usize> {
    let low = (n / 3).max(3).max(n.saturating_sub(2 * max_steps));
    let high = n.saturating_sub(1);
    if low > high || count == 0 {
        return Vec::new();
    }
    let span = high - low;
    let mut origins: Vec<usize> = (0..count)
        .map(|j| low + span * j / (count - 1).max(1))
        .collect();
    origins.dedup();
    origins
}

/// Scores `model` on `values` at `origins` for every horizon of `grid`.
pub fn score(
    model: Model,
    values: &[f64],
    shape: &Shape,
    grid: &[usize],
    origins: &[usize],
) -> Scored {
    let max_steps = grid.last().copied().unwrap_or(1);
    let mut residuals = vec![Vec::new(); grid.len()];
    let mut naive_errors = vec![0.0; grid.len()];
    for &origin in origins {
        let history = &values[..origin];
        let Some(fitted) = model.fit(
            history,
            shape.segment_start(origin),
            shape.level_start(origin),
            max_steps,
        ) else {
            continue;
        };
        let last = history[origin - 1];
        for (slot, &h) in grid.iter().enumerate() {
            let Some(&truth) = values.get(origin - 1 + h) else {
                break;
            };
            // A cleanup between origin and target says nothing about the models (nobody can
            // forecast it), except in a sawtooth, whose resets are the cycle being scored.
            if shape.sawtooth.is_none()
                && shape
                    .resets
                    .iter()
                    .any(|&reset| reset >= origin && reset < origin + h)
            {
                break;
            }
            residuals[slot].push(truth - fitted.at(h));
            naive_errors[slot] += (truth - last).abs();
        }
    }
    let mut ratios = vec![None; grid.len()];
    for (slot, errors) in residuals.iter().enumerate() {
        if errors.is_empty() {
            continue;
        }
        let mae: f64 = errors.iter().map(|e| e.abs()).sum::<f64>() / errors.len() as f64;
        let naive = naive_errors[slot] / errors.len() as f64;
        let scale = naive.max(1e-12 * (1.0 + mae));
        ratios[slot] = Some(if naive == 0.0 && mae == 0.0 {
            1.0
        } else {
            mae / scale
        });
    }
    let checked: Vec<f64> = ratios.iter().flatten().copied().collect();
    let score = if checked.is_empty() {
        f64::INFINITY
    } else {
        checked.iter().sum::<f64>() / checked.len() as f64
    };
    Scored {
        model,
        residuals,
        ratios,
        score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_origins_cover_the_longest_horizon() {
        assert_eq!(
            grid(&[6, 36, 144], 144),
            vec![1, 2, 4, 6, 8, 16, 32, 36, 64, 128, 144]
        );
        let origins = origins(1_000, 144, 12);
        assert_eq!(origins.len(), 12);
        assert_eq!(*origins.first().unwrap(), 712);
        assert_eq!(*origins.last().unwrap(), 999);
        assert!(origins.iter().filter(|&&o| o + 144 <= 1_000).count() >= 5);
    }
}
