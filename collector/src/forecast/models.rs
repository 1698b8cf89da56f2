//! The candidate models. Each fits on a regular history (oldest first) and answers the value `k`
//! steps after its newest point. The cheap ones cost O(window) to fit and O(1) per step; MSTL +
//! AutoETS (in `mstl.rs`) is the expensive one, offered for long histories only.

use super::mstl;
use super::stats::{median_in_place, theil_sen};

/// A forecasting method with its parameters (periods and windows in grid steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// The newest value, flat.
    LastValue,
    /// The median of the newest `window` values of the current segment, flat: the last value
    /// without its noise.
    RecentLevel {
        /// Steps in the window.
        window: usize,
    },
    /// The value one period earlier (24 h, or a sawtooth's period).
    SeasonalNaive {
        /// Steps per period.
        period: usize,
    },
    /// The value one period earlier plus the median growth per period over the last periods.
    SeasonalDrift {
        /// Steps per period.
        period: usize,
    },
    /// A Theil–Sen line over the newest `window` steps of the current segment.
    TheilSen {
        /// Steps in the window.
        window: usize,
    },
    /// The last value plus the mean growth per step over the newest `window` steps of the
    /// current segment (naive with drift): growth that comes in bursts, which a median ignores.
    Drift {
        /// Steps in the window.
        window: usize,
    },
    /// MSTL decomposition with one seasonal period, AutoETS on the trend, on a downsampled copy.
    MstlEts {
        /// Steps per period.
        period: usize,
    },
}

impl Model {
    /// The name printed in the `model` field.
    pub fn name(&self) -> &'static str {
        match self {
            Model::LastValue => "last_value",
            Model::RecentLevel { .. } => "recent_level",
            Model::SeasonalNaive { .. } => "seasonal_naive",
            Model::SeasonalDrift { .. } => "seasonal_drift",
            Model::TheilSen { .. } => "theil_sen",
            Model::Drift { .. } => "drift",
            Model::MstlEts { .. } => "mstl_ets",
        }
    }

    /// Whether one fit costs milliseconds rather than microseconds.
    pub fn is_expensive(&self) -> bool {
        matches!(self, Model::MstlEts { .. })
    }

    /// Fits on `history`, whose current segment starts at `segment_start` (after the last reset)
    /// and current level at `level_start` (after the last reset or jump up), for forecasts up to
    /// `max_steps` ahead. `None` when the history is too short for this model.
    pub fn fit(
        &self,
        history: &[f64],
        segment_start: usize,
        level_start: usize,
        max_steps: usize,
    ) -> Option<Fitted> {
        let n = history.len();
        let last = *history.last()?;
        match *self {
            Model::LastValue => Some(Fitted::Level(last)),
            Model::RecentLevel { window } => {
                let start = segment_start
                    .min(n - 1)
                    .max(n.saturating_sub(window.max(1)));
                Some(Fitted::Level(median_in_place(
                    &mut history[start..].to_vec(),
                )))
            }
            Model::SeasonalNaive { period } => {
                (period >= 1 && n >= period).then(|| Fitted::Seasonal {
                    tail: history[n - period..].to_vec(),
                    drift: 0.0,
                })
            }
            Model::SeasonalDrift { period } => {
                if period < 1 || n < 2 * period {
                    return None;
                }
                let from = period.max(n.saturating_sub(3 * period));
                let stride = ((n - from) / 256).max(1);
                let mut growth: Vec<f64> = (from..n)
                    .step_by(stride)
                    .map(|i| history[i] - history[i - period])
                    .collect();
                Some(Fitted::Seasonal {
                    tail: history[n - period..].to_vec(),
                    drift: median_in_place(&mut growth),
                })
            }
            Model::Drift { window } => {
                let start = segment_start.min(n - 1).max(n.saturating_sub(window));
                let span = n - 1 - start;
                (span >= 2).then(|| Fitted::Line {
                    at_last: last,
                    slope: (last - history[start]) / span as f64,
                })
            }
            Model::TheilSen { window } => {
                let start = level_start.min(n - 1).max(n.saturating_sub(window));
                let window = &history[start..];
                if window.len() < 3 {
                    return None;
                }
                // Thin long windows to about 256 points; the slope is per thinned step.
                let stride = (window.len() / 256).max(1);
                let thinned: Vec<f64> =
                    window.iter().rev().step_by(stride).rev().copied().collect();
                let (intercept, slope) = theil_sen(&thinned);
                let slope = slope / stride as f64;
                let at_last = intercept + slope * ((thinned.len() - 1) * stride) as f64;
                Some(Fitted::Line { at_last, slope })
            }
            Model::MstlEts { period } => mstl::fit(history, period, max_steps).map(Fitted::Path),
        }
    }
}

/// A fitted model: the forecast `k` steps after the newest point is [`Fitted::at`].
#[derive(Debug, Clone, PartialEq)]
pub enum Fitted {
    /// Flat.
    Level(f64),
    /// A line through `at_last` at the newest point.
    Line {
        /// The line's value at the newest point.
        at_last: f64,
        /// Growth per step.
        slope: f64,
    },
    /// The last period repeated, plus `drift` per period.
    Seasonal {
        /// The newest `period` values.
        tail: Vec<f64>,
        /// Growth per period.
        drift: f64,
    },
    /// An explicit path: `path[k - 1]` is the value `k` steps ahead (held flat past its end).
    Path(Vec<f64>),
}

impl Fitted {
    /// The forecast `k` (≥ 1) steps after the newest point.
    pub fn at(&self, k: usize) -> f64 {
        let k = k.max(1);
        match self {
            Fitted::Level(level) => *level,
            Fitted::Line { at_last, slope } => at_last + slope * k as f64,
            Fitted::Seasonal { tail, drift } => {
                let period = tail.len().max(1);
                let cycles = (k - 1) / period + 1;
                tail.get((k - 1) % period).copied().unwrap_or(0.0) + drift * cycles as f64
            }
            Fitted::Path(path) => path.get(k - 1).or(path.last()).copied().unwrap_or(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_drift_repeats_the_cycle_and_adds_the_growth() {
        let history: Vec<f64> = (0..96)
            .map(|i| (i % 24) as f64 + 10.0 * (i / 24) as f64)
            .collect();
        let fitted = Model::SeasonalDrift { period: 24 }
            .fit(&history, 0, 0, 48)
            .unwrap();
        assert_eq!(fitted.at(1), 30.0 + 10.0);
        assert_eq!(fitted.at(24), 53.0 + 10.0);
        assert_eq!(fitted.at(25), 30.0 + 20.0);
    }

    #[test]
    fn theil_sen_fits_the_current_segment_only() {
        let mut history: Vec<f64> = (0..100).map(|i| i as f64).collect();
        for (offset, value) in history[60..].iter_mut().enumerate() {
            *value = 2.0 * offset as f64;
        }
        let fitted = Model::TheilSen { window: 1_000 }
            .fit(&history, 60, 60, 10)
            .unwrap();
        let Fitted::Line { at_last, slope } = fitted else {
            panic!("not a line: {fitted:?}");
        };
        assert!((slope - 2.0).abs() < 1e-9 && (at_last - 78.0).abs() < 1e-9);
        assert!(
            Model::TheilSen { window: 2 }
                .fit(&history, 60, 60, 10)
                .is_none()
        );
    }
}
