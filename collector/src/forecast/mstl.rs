//! MSTL + AutoETS (Grafana's `augurs`): the seasonal model for long histories. One fit costs
//! milliseconds, so the history is averaged down to at most [`MAX_POINTS`] points first and the
//! caller offers this model only when the series spans several periods. The augurs code runs
//! behind `catch_unwind`: whatever it does with odd input, a forecast never panics.

use augurs_core::{Fit, Predict};
use augurs_ets::AutoETS;
use augurs_ets::trend::AutoETSTrendModel;
use augurs_mstl::MSTLModel;

/// The most points one fit sees.
pub const MAX_POINTS: usize = 480;

/// The fewest periods of history a fit needs.
pub const MIN_PERIODS: usize = 3;

/// Fits on `history` with a season of `period` steps and returns the path for `max_steps` steps
/// (`path[k - 1]` is `k` steps ahead), or `None` when the history is too short or the fit fails.
pub fn fit(history: &[f64], period: usize, max_steps: usize) -> Option<Vec<f64>> {
    let n = history.len();
    if period < 2 || n < MIN_PERIODS * period || max_steps == 0 {
        return None;
    }
    let factor = n.div_ceil(MAX_POINTS).max(1);
    let coarse = average_down(history, factor);
    let coarse_period = ((period as f64 / factor as f64).round() as usize).max(2);
    if coarse.len() < MIN_PERIODS * coarse_period {
        return None;
    }
    let coarse_steps = max_steps.div_ceil(factor);
    let outcome = std::panic::catch_unwind(|| {
        let trend = AutoETSTrendModel::from(AutoETS::non_seasonal());
        let model = MSTLModel::new(vec![coarse_period], trend);
        let fitted = model.fit(&coarse).ok()?;
        fitted
            .predict(coarse_steps, None)
            .ok()
            .map(|forecast| forecast.point)
    });
    let coarse_path = outcome.ok().flatten()?;
    if coarse_path.len() < coarse_steps || coarse_path.iter().any(|v| !v.is_finite()) {
        return None;
    }
    // Expand to the fine grid: the coarse value j (1-based) sits at fine step j * factor.
    let last_coarse = *coarse.last()?;
    let path = (1..=max_steps)
        .map(|k| {
            let position = k as f64 / factor as f64;
            let below = position.floor() as usize;
            let fraction = position - below as f64;
            let value_below = if below == 0 {
                last_coarse
            } else {
                coarse_path[below - 1]
            };
            let value_above = coarse_path.get(below).copied().unwrap_or(value_below);
            value_below + (value_above - value_below) * fraction
        })
        .collect();
    Some(path)
}

/// Means of consecutive groups of `factor` values, the groups aligned to the newest value.
fn average_down(values: &[f64], factor: usize) -> Vec<f64> {
    if factor <= 1 {
        return values.to_vec();
    }
    let skip = values.len() % factor;
    values[skip..]
        .chunks(factor)
        .map(|chunk| chunk.iter().sum::<f64>() / chunk.len() as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mstl_follows_a_daily_cycle_on_a_trend() {
        let period = 48;
        let value = |i: usize| {
            0.5 * i as f64 + 20.0 * (2.0 * std::f64::consts::PI * i as f64 / period as f64).sin()
        };
        let history: Vec<f64> = (0..period * 8).map(value).collect();
        let path = fit(&history, period, period).unwrap();
        for k in [1, 12, 24, 48] {
            let truth = value(history.len() - 1 + k);
            assert!(
                (path[k - 1] - truth).abs() < 3.0,
                "k {k}: {} vs {truth}",
                path[k - 1]
            );
        }
        assert!(fit(&history[..100], period, period).is_none());
    }
}
