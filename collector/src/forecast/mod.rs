//! Capacity forecasting (issue 11), pure: no I/O, no clock, no async. [`forecast`] takes one
//! series of `(time_ms, value)` points and answers the value at each horizon with an uncertainty
//! band, when the forecast crosses a capacity, and which model said so.
//!
//! The steps, one file each: `clean` (sort, merge repeated stamps, fill gaps, resample to a
//! regular step, coarsen long series), `segment` (resets: a persistent drop much larger than the
//! noise starts a new segment; regular resets are a sawtooth cycle), `models` (last value, the
//! median of the last 1 h or 6 h, seasonal naive and seasonal naive with drift for 24 h or the sawtooth's period, Theil–Sen on
//! the current segment over 6 h and 48 h windows, and `mstl` = MSTL + AutoETS for histories of
//! several days), `backtest` (rolling origin on the series' own past: at each horizon the model
//! with the lowest error relative to the last value wins), then the band (empirical quantiles of the winner's
//! backtest residuals per horizon) and `exhaustion` (first crossing of the central path, and of
//! the band's upper edge; up to each horizon the path follows the model chosen for it). For a
//! cumulative series written in bursts, `burst` also reads exhaustion at a busy day's pace of
//! the last week, and the earlier crossing is the answer (the point forecasts are unchanged).

mod backtest;
mod burst;
mod clean;
pub mod cli;
mod exhaustion;
mod models;
mod mstl;
mod segment;
mod stats;
#[cfg(test)]
mod tests;

pub use clean::MIN_POINTS;
pub use models::Model;

use stats::quantile_sorted;

const HOUR_MS: i64 = 3_600_000;

/// What to forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Horizons after `now`, in milliseconds (each > 0).
    pub horizons_ms: Vec<i64>,
    /// The value at which the resource is exhausted (filesystem size, memory total, …).
    pub capacity: Option<f64>,
    /// The time horizons count from (default and minimum: the newest point).
    pub now_ms: Option<i64>,
    /// Offer MSTL + AutoETS for histories of several days. Off by default: on the benchmark's
    /// traces it cost ~75 times as much per forecast and did not improve the accuracy
    /// (BENCHMARKS.md).
    pub long_models: bool,
    /// The most grid points the cheap models see (older history is averaged down).
    pub max_points: usize,
}

impl Options {
    /// Options for `horizons_ms` with the defaults: no capacity, long models off, 2,048 points.
    pub fn new(horizons_ms: Vec<i64>) -> Self {
        Options {
            horizons_ms,
            capacity: None,
            now_ms: None,
            long_models: false,
            max_points: 2_048,
        }
    }
}

/// The forecast at one horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct HorizonForecast {
    /// The horizon as asked.
    pub horizon_ms: i64,
    /// The central forecast.
    pub value: f64,
    /// The band's lower edge (5 % quantile of the backtest errors at this horizon).
    pub low: f64,
    /// The band's upper edge (95 % quantile).
    pub high: f64,
    /// The model that won the backtest at this horizon.
    pub model: &'static str,
}

/// A series' forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The name of the model chosen for the longest horizon (`last_value`, `recent_level`,
    /// `seasonal_naive`, `seasonal_drift`, `theil_sen`, `drift`, `mstl_ets`); up to each
    /// horizon, the exhaustion path follows the model chosen for that horizon.
    pub model: &'static str,
    /// One entry per requested horizon, in the order asked.
    pub horizons: Vec<HorizonForecast>,
    /// When the central path first reaches the capacity, if it does within the longest horizon
    /// (the newest point's time when it already has). For bursty cumulative growth (a series
    /// that only grows, with daily volumes that vary widely) the earlier of that and the
    /// crossing at the pace of a busy day of the last week.
    pub exhaustion_at_ms: Option<i64>,
    /// When the band's upper edge first reaches the capacity within the longest horizon: the
    /// earliest time exhaustion is plausible.
    pub band_exhaustion_at_ms: Option<i64>,
    /// The newest point's time.
    pub last_ms: i64,
    /// The newest value (after merging repeated stamps).
    pub last_value: f64,
    /// The grid step the models worked on.
    pub step_ms: i64,
    /// The backtest score of `model` (mean over the horizon grid of its error relative to the
    /// last value's; lower is better, 1 is as good as the last value).
    pub score: f64,
}

/// Why no forecast could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// Fewer usable points than a forecast needs.
    #[error(
        "the series has {have} usable point(s) (distinct stamps with finite values); a forecast needs at least {need}"
    )]
    TooFewPoints {
        /// Distinct finite points.
        have: usize,
        /// The minimum.
        need: usize,
    },
    /// No horizon was asked for.
    #[error("no horizon given: ask for at least one, e.g. 1h,6h,24h")]
    NoHorizons,
    /// A horizon is zero or negative.
    #[error("horizon {horizon_ms} ms is not positive: horizons count forward from now")]
    BadHorizon {
        /// The horizon.
        horizon_ms: i64,
    },
    /// The capacity is NaN or infinite.
    #[error("capacity {capacity} is not a finite number")]
    BadCapacity {
        /// The capacity.
        capacity: f64,
    },
}

/// How much better than the last value (error ratio) a model must be to be chosen instead.
const MARGIN: f64 = 0.9;

/// The longest forecast path scanned for exhaustion, in grid steps.
const MAX_PATH_STEPS: usize = 1 << 20;

/// Forecasts `points` (any order, repeats and non-finite values allowed) for `options`.
pub fn forecast(points: &[(i64, f64)], options: &Options) -> Result<Forecast, ForecastError> {
    if options.horizons_ms.is_empty() {
        return Err(ForecastError::NoHorizons);
    }
    if let Some(&horizon_ms) = options.horizons_ms.iter().find(|&&h| h <= 0) {
        return Err(ForecastError::BadHorizon { horizon_ms });
    }
    if let Some(capacity) = options.capacity.filter(|c| !c.is_finite()) {
        return Err(ForecastError::BadCapacity { capacity });
    }
    let regular = clean::regularize(points, options.max_points)?;
    let values = &regular.values;
    let n = values.len();
    let step = regular.step_ms;
    let last_value = values[n - 1];
    let now = options
        .now_ms
        .unwrap_or(regular.last_ms)
        .max(regular.last_ms);
    let lead_ms = now.saturating_sub(regular.last_ms);
    let steps_for = |horizon_ms: i64| -> usize {
        let ahead = lead_ms.saturating_add(horizon_ms) as f64 / step as f64;
        (ahead.round() as usize).clamp(1, MAX_PATH_STEPS)
    };
    let steps: Vec<usize> = options.horizons_ms.iter().map(|&h| steps_for(h)).collect();
    let max_steps = steps.iter().copied().max().unwrap_or(1);
    let shape = segment::analyse(values);
    let grid = backtest::grid(&steps, max_steps);
    let candidates = candidates(&regular, &shape, options);
    let cheap_origins = backtest::origins(n, max_steps, backtest::ORIGINS);
    let expensive_origins = backtest::origins(n, max_steps, backtest::EXPENSIVE_ORIGINS + 1);
    let scored: Vec<backtest::Scored> = candidates
        .into_iter()
        .map(|model| {
            let origins = if model.is_expensive() {
                &expensive_origins[..expensive_origins.len().min(backtest::EXPENSIVE_ORIGINS)]
            } else {
                &cheap_origins[..]
            };
            backtest::score(model, values, &shape, &grid, origins)
        })
        .collect();
    let (segment_start, level_start) = (shape.segment_start(n), shape.level_start(n));
    // Each horizon gets the candidate with the lowest error at that horizon (the last value
    // when nothing could be checked); each chosen model is fitted once on the whole series.
    let mut fits: Vec<(usize, models::Fitted, Band)> = Vec::new();
    let mut choice_for = |k: usize| -> usize {
        let slot = grid.iter().position(|&g| g == k).unwrap_or(0);
        let mut ranked: Vec<(usize, f64)> = scored
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.ratio_at(slot).map(|r| (i, r)))
            .collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
        // The last value keeps its place unless a model beats it clearly: a small edge on a
        // dozen origins is mostly luck (the winner's curse).
        if ranked.first().is_some_and(|&(_, best)| best > MARGIN) {
            ranked.retain(|&(i, _)| scored[i].model == Model::LastValue);
        }
        for (index, _) in ranked {
            if let Some(position) = fits.iter().position(|(i, _, _)| *i == index) {
                return position;
            }
            let candidate = &scored[index];
            if let Some(fitted) = candidate
                .model
                .fit(values, segment_start, level_start, max_steps)
            {
                let band = Band::new(&grid, &candidate.residuals, shape.step_noise);
                fits.push((index, fitted, band));
                return fits.len() - 1;
            }
        }
        // Nothing could be checked (or fitted): the last value, with the noise as its band.
        if let Some(position) = fits.iter().position(|(i, _, _)| *i == usize::MAX) {
            return position;
        }
        fits.push((
            usize::MAX,
            models::Fitted::Level(last_value),
            Band::new(&[], &[], shape.step_noise),
        ));
        fits.len() - 1
    };
    let chosen: Vec<usize> = steps.iter().map(|&k| choice_for(k)).collect();
    let name_of = |fit: usize| {
        let index = fits[fit].0;
        scored.get(index).map_or("last_value", |s| s.model.name())
    };
    let horizons = options
        .horizons_ms
        .iter()
        .zip(&steps)
        .zip(&chosen)
        .map(|((&horizon_ms, &k), &fit)| {
            let (_, fitted, band) = &fits[fit];
            let value = fitted.at(k);
            let (low, high) = band.offsets(k);
            HorizonForecast {
                horizon_ms,
                value,
                low: (value + low).min(value),
                high: (value + high).max(value),
                model: name_of(fit),
            }
        })
        .collect();
    // The longest horizon's model draws the path that exhaustion is read from.
    let longest = steps
        .iter()
        .enumerate()
        .max_by_key(|(_, k)| **k)
        .map_or(0, |(i, _)| chosen[i]);
    // Up to each horizon, the path follows the model chosen for it.
    let mut legs: Vec<(usize, usize)> = steps.iter().copied().zip(chosen.iter().copied()).collect();
    legs.sort_unstable();
    let leg = |k: usize| {
        legs.iter()
            .find(|(limit, _)| k <= *limit)
            .map_or(longest, |(_, fit)| *fit)
    };
    let (exhaustion_at_ms, band_exhaustion_at_ms) = match options.capacity {
        None => (None, None),
        Some(capacity) => {
            let central = |k: usize| {
                if k == 0 {
                    last_value
                } else {
                    fits[leg(k)].1.at(k)
                }
            };
            let upper = |k: usize| {
                if k == 0 {
                    last_value
                } else {
                    let (_, fitted, band) = &fits[leg(k)];
                    fitted.at(k) + band.offsets(k).1.max(0.0)
                }
            };
            let at = |k: Option<f64>| {
                k.map(|k| {
                    regular
                        .last_ms
                        .saturating_add((k * step as f64).round() as i64)
                })
            };
            // Bursty cumulative growth: also at a busy day's pace (`burst`), the earlier
            // crossing wins; the band's crossing is never later than the central one.
            let day = usize::try_from(24 * HOUR_MS / step.max(1)).unwrap_or(usize::MAX);
            let busy = burst::busy_pace(values, segment_start, day)
                .map(|pace| ((capacity - last_value) / pace).max(0.0))
                .filter(|&k| k <= max_steps as f64);
            let earlier = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let central_k = earlier(
                exhaustion::first_crossing(central, capacity, max_steps),
                busy,
            );
            let upper_k = earlier(
                exhaustion::first_crossing(upper, capacity, max_steps),
                central_k,
            );
            (at(central_k), at(upper_k))
        }
    };
    let score = scored
        .get(fits[longest].0)
        .map_or(f64::INFINITY, |s| s.score);
    Ok(Forecast {
        model: name_of(longest),
        horizons,
        exhaustion_at_ms,
        band_exhaustion_at_ms,
        last_ms: regular.last_ms,
        last_value,
        step_ms: step,
        score,
    })
}

/// The models worth trying on this series.
fn candidates(regular: &clean::Regular, shape: &segment::Shape, options: &Options) -> Vec<Model> {
    let n = regular.values.len();
    let step = regular.step_ms.max(1);
    let steps_of = |ms: i64| usize::try_from(ms / step).unwrap_or(usize::MAX);
    let mut models = vec![Model::LastValue];
    for window in [steps_of(HOUR_MS).max(3), steps_of(6 * HOUR_MS).max(6)] {
        let model = Model::RecentLevel { window };
        if !models.contains(&model) {
            models.push(model);
        }
    }
    let day = steps_of(24 * HOUR_MS);
    if let Some(period) = shape.sawtooth {
        // A sawtooth is a cycle: its growth within a tooth is not a trend.
        models.push(Model::SeasonalNaive { period });
        models.push(Model::SeasonalDrift { period });
    } else {
        for window in [steps_of(6 * HOUR_MS).max(8), steps_of(48 * HOUR_MS).max(16)] {
            for model in [Model::TheilSen { window }, Model::Drift { window }] {
                if !models.contains(&model) {
                    models.push(model);
                }
            }
        }
    }
    if day >= 2 && n >= day + 3 {
        models.push(Model::SeasonalNaive { period: day });
        if n >= 2 * day + 3 {
            models.push(Model::SeasonalDrift { period: day });
        }
    }
    if options.long_models && day >= 2 && n >= (mstl::MIN_PERIODS + 1) * day {
        models.push(Model::MstlEts { period: day });
    }
    models
}

/// Band offsets from backtest residuals, per grid horizon, interpolated between them.
struct Band {
    /// (steps, 5 % quantile, 95 % quantile) for each grid horizon that has residuals.
    points: Vec<(usize, f64, f64)>,
    /// The smallest half-width: the noise of one step.
    floor: f64,
}

impl Band {
    fn new(grid: &[usize], residuals: &[Vec<f64>], step_noise: f64) -> Band {
        let points = grid
            .iter()
            .zip(residuals)
            .filter(|(_, r)| !r.is_empty())
            .map(|(&k, r)| {
                let mut sorted = r.clone();
                sorted.sort_by(f64::total_cmp);
                (
                    k,
                    quantile_sorted(&sorted, 0.05),
                    quantile_sorted(&sorted, 0.95),
                )
            })
            .collect();
        Band {
            points,
            floor: step_noise,
        }
    }

    /// (low, high) offsets from the central value `k` steps ahead. Past the last checked
    /// horizon the offsets grow in proportion to `k`.
    fn offsets(&self, k: usize) -> (f64, f64) {
        let (low, high) = match self.points.iter().position(|&(g, _, _)| g >= k) {
            Some(0) => {
                let (g, low, high) = self.points[0];
                let t = k as f64 / g as f64;
                (low * t, high * t)
            }
            Some(i) => {
                let (g0, low0, high0) = self.points[i - 1];
                let (g1, low1, high1) = self.points[i];
                let t = (k - g0) as f64 / (g1 - g0) as f64;
                (low0 + (low1 - low0) * t, high0 + (high1 - high0) * t)
            }
            None => match self.points.last() {
                Some(&(g, low, high)) => {
                    let t = k as f64 / g as f64;
                    (low * t, high * t)
                }
                None => (0.0, 0.0),
            },
        };
        let floor = self.floor * (k as f64).sqrt();
        (low.min(-floor), high.max(floor))
    }
}
