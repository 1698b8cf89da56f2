//! Known-answer tests of [`forecast`] on synthetic series (linear fill, a daily cycle larger than
//! a day's growth, a step change, noise, a cleanup reset, a log-rotation sawtooth, gaps, a
//! constant, too few points, a fill written in bursts), and a property: no input makes it panic.

use super::*;
use proptest::prelude::*;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_790_000_000_000;

/// Deterministic noise in [-1, 1).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// Samples `value(t)` (t in ms since T0) every `step` for `span`.
fn series(span: i64, step: i64, mut value: impl FnMut(i64) -> f64) -> Vec<(i64, f64)> {
    (0..=span / step)
        .map(|i| (T0 + i * step, value(i * step)))
        .collect()
}

fn options(horizons: &[i64], capacity: Option<f64>) -> Options {
    let mut options = Options::new(horizons.to_vec());
    options.capacity = capacity;
    options.long_models = true;
    options
}

fn assert_close(what: &str, actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} is not within {tolerance} of {expected}"
    );
}

#[test]
fn forecast_linear_fill_extrapolates_and_finds_exhaustion() {
    // 1 GB/h on top of 100 GB, 2 days of 1-minute samples; capacity 200 GB is 52 h ahead.
    let rate = 1.0 / HOUR as f64;
    let points = series(2 * DAY, MINUTE, |t| 100.0 + rate * t as f64);
    let last = 100.0 + 48.0;
    let result = forecast(
        &points,
        &options(&[HOUR, 6 * HOUR, 24 * HOUR, 3 * DAY], Some(200.0)),
    )
    .unwrap();
    assert_eq!(result.model, "theil_sen");
    for (horizon, hours) in result.horizons.iter().zip([1.0, 6.0, 24.0, 72.0]) {
        assert_close("fill", horizon.value, last + hours, 0.01 * hours + 0.01);
        assert!(horizon.low <= horizon.value && horizon.value <= horizon.high);
    }
    let exhaustion = result.exhaustion_at_ms.unwrap();
    assert_close(
        "exhaustion (h)",
        (exhaustion - result.last_ms) as f64 / HOUR as f64,
        52.0,
        0.5,
    );
    assert!(result.band_exhaustion_at_ms.unwrap() <= exhaustion);
}

#[test]
fn forecast_minutes_of_one_second_samples_give_a_sane_exhaustion() {
    // 5 minutes of 1 s samples, 1 MB/s, 1 GB of room left: exhausted in about 1,000 s.
    let mut noise = Noise(7);
    let points = series(300_000, 1_000, |t| {
        1e9 + 1e6 * (t / 1_000) as f64 + 2e5 * noise.next()
    });
    let result = forecast(&points, &options(&[HOUR], Some(1e9 + 3e8 + 1e9))).unwrap();
    let seconds = (result.exhaustion_at_ms.unwrap() - result.last_ms) as f64 / 1_000.0;
    assert_close("seconds to exhaustion", seconds, 1_000.0, 100.0);
}

#[test]
fn forecast_daily_cycle_larger_than_growth_is_not_a_trend() {
    // ±50 daily swing, +20 a day, 5-minute samples for 7 days.
    let day = DAY as f64;
    let value = |t: i64| {
        1_000.0 + 20.0 * t as f64 / day + 50.0 * (2.0 * std::f64::consts::PI * t as f64 / day).sin()
    };
    // End on the steep rising part of the cycle, where a short trend would cry wolf.
    let end = 7 * DAY - 6 * HOUR;
    let points = series(end, 5 * MINUTE, value);
    let peak_next_day = (1..=288)
        .map(|i| value(end + i * 5 * MINUTE))
        .fold(f64::MIN, f64::max);
    let result = forecast(
        &points,
        &options(&[HOUR, 6 * HOUR, 24 * HOUR], Some(peak_next_day + 10.0)),
    )
    .unwrap();
    assert!(
        ["seasonal_drift", "seasonal_naive", "mstl_ets", "theil_sen"].contains(&result.model),
        "{}",
        result.model
    );
    for (horizon, offset) in result.horizons.iter().zip([HOUR, 6 * HOUR, 24 * HOUR]) {
        assert_close("cycle", horizon.value, value(end + offset), 6.0);
    }
    assert_eq!(result.exhaustion_at_ms, None, "{result:?}");
}

#[test]
fn forecast_step_change_follows_the_new_level() {
    let mut noise = Noise(3);
    let points = series(4 * DAY, 5 * MINUTE, |t| {
        (if t < 3 * DAY { 50.0 } else { 80.0 }) + noise.next()
    });
    let result = forecast(&points, &options(&[HOUR, 6 * HOUR], Some(100.0))).unwrap();
    for horizon in &result.horizons {
        assert_close("step", horizon.value, 80.0, 3.0);
    }
    assert_eq!(result.exhaustion_at_ms, None, "{result:?}");
}

#[test]
fn forecast_noise_stays_level_with_a_band_that_covers_it() {
    let mut noise = Noise(11);
    let points = series(2 * DAY, MINUTE, |_| 50.0 + 5.0 * noise.next());
    let result = forecast(&points, &options(&[HOUR, 6 * HOUR, 24 * HOUR], Some(70.0))).unwrap();
    for horizon in &result.horizons {
        assert_close("noise", horizon.value, 50.0, 2.5);
        assert!(horizon.low < 47.0 && horizon.high > 53.0, "{horizon:?}");
    }
    assert_eq!(result.exhaustion_at_ms, None);
}

#[test]
fn forecast_after_a_cleanup_uses_the_new_segment_only() {
    // 3 GB/h for 2 days, a cleanup frees 100 GB, then 0.5 GB/h for 6 hours.
    let points = series(54 * HOUR, MINUTE, |t| {
        let hours = t as f64 / HOUR as f64;
        if hours < 48.0 {
            10.0 + 3.0 * hours
        } else {
            10.0 + 3.0 * 48.0 - 100.0 + 0.5 * (hours - 48.0)
        }
    });
    let last = 10.0 + 144.0 - 100.0 + 3.0;
    let result = forecast(&points, &options(&[HOUR, 6 * HOUR], Some(100.0))).unwrap();
    assert_close("cleanup 1h", result.horizons[0].value, last + 0.5, 0.1);
    assert_close("cleanup 6h", result.horizons[1].value, last + 3.0, 0.5);
    assert_eq!(result.exhaustion_at_ms, None, "{result:?}");
}

#[test]
fn forecast_log_rotation_sawtooth_is_a_cycle_not_growth() {
    // Grows 0 → 90 over 6 hours, rotated to 0; 4 days of 1-minute samples.
    let points = series(4 * DAY - 3 * HOUR, MINUTE, |t| {
        90.0 * (t % (6 * HOUR)) as f64 / (6 * HOUR) as f64
    });
    let result = forecast(&points, &options(&[HOUR, 6 * HOUR, 24 * HOUR], Some(100.0))).unwrap();
    // Within the tooth a seasonal model wins; a whole number of teeth ahead the last value is
    // as good.
    assert!(
        result.horizons[0].model.starts_with("seasonal"),
        "{result:?}"
    );
    assert_eq!(result.exhaustion_at_ms, None, "{result:?}");
    // 3 hours into a tooth: 45 now, 60 in an hour; 6 h and 24 h later the same phase.
    assert_close("tooth 1h", result.horizons[0].value, 60.0, 1.0);
    assert_close("tooth 6h", result.horizons[1].value, 45.0, 1.0);
    assert_close("tooth 24h", result.horizons[2].value, 45.0, 1.0);
}

#[test]
fn forecast_handles_gaps_and_unsorted_repeated_stamps() {
    let rate = 2.0 / HOUR as f64;
    let mut points: Vec<(i64, f64)> = series(DAY, MINUTE, |t| rate * t as f64)
        .into_iter()
        .filter(|(t, _)| !(T0 + 10 * HOUR..T0 + 13 * HOUR).contains(t) && (t / MINUTE) % 7 != 3)
        .collect();
    points.reverse();
    let copies: Vec<(i64, f64)> = points.iter().step_by(5).copied().collect();
    points.extend(copies);
    points.push((T0 + HOUR, f64::NAN));
    let result = forecast(&points, &options(&[HOUR, 6 * HOUR], Some(1_000.0))).unwrap();
    assert_close("gaps 1h", result.horizons[0].value, 50.0, 0.2);
    assert_close("gaps 6h", result.horizons[1].value, 60.0, 0.5);
}

#[test]
fn forecast_constant_series_is_flat_and_exhausted_only_at_capacity() {
    let points = series(DAY, MINUTE, |_| 42.0);
    let result = forecast(&points, &options(&[HOUR, 24 * HOUR], Some(50.0))).unwrap();
    for horizon in &result.horizons {
        assert_eq!(
            (horizon.low, horizon.value, horizon.high),
            (42.0, 42.0, 42.0)
        );
    }
    assert_eq!(result.exhaustion_at_ms, None);
    let full = forecast(&points, &options(&[HOUR], Some(42.0))).unwrap();
    assert_eq!(full.exhaustion_at_ms, Some(full.last_ms));
}

/// Cumulative bytes written in bursts: `daily[d]` spread evenly over hours 8–20 of day `d`,
/// nothing at night; 5-minute samples.
fn bursty_fill(daily: &[f64], end: i64) -> Vec<(i64, f64)> {
    series(end, 5 * MINUTE, |t| {
        let day = (t / DAY) as usize;
        let written: f64 = daily[..day.min(daily.len())].iter().sum();
        let hours = (t % DAY) as f64 / HOUR as f64;
        written + daily.get(day).copied().unwrap_or(0.0) * ((hours - 8.0) / 12.0).clamp(0.0, 1.0)
    })
}

#[test]
fn forecast_bursty_fill_finds_exhaustion_at_the_busy_pace() {
    // Daily volumes that vary 24-fold; the origin is 2 a.m. after a quiet day, so the last
    // hours show no growth at all. Then a busy day like the two of the last week (12) comes:
    // the capacity, 9 above the last value, is reached at 17:00, 15 h ahead.
    let daily = [2.0, 1.0, 12.0, 2.0, 1.0, 12.0, 1.0, 0.5, 12.0];
    let origin = 8 * DAY + 2 * HOUR;
    let history = bursty_fill(&daily, origin);
    let last = history.last().unwrap().1;
    let capacity = last + 9.0;
    let truth = bursty_fill(&daily, 9 * DAY)
        .into_iter()
        .find(|&(_, v)| v >= capacity)
        .map(|(t, _)| t - (T0 + origin))
        .unwrap();
    assert_eq!(truth, 15 * HOUR);
    let mut options = options(&[HOUR, 6 * HOUR, 24 * HOUR, 48 * HOUR], Some(capacity));
    options.long_models = false;
    let result = forecast(&history, &options).unwrap();
    let hours = (result.exhaustion_at_ms.unwrap() - result.last_ms) as f64 / HOUR as f64;
    // At 12 a day the 9 left take 18 h: 20 % after the truth, and within the horizon.
    assert_close("bursty exhaustion (h)", hours, 18.0, 0.2);
    assert!(result.band_exhaustion_at_ms.unwrap() <= result.exhaustion_at_ms.unwrap());
    // The point forecasts are the point models' own: the busy pace only moves exhaustion.
    assert!(result.horizons[0].value < capacity, "{result:?}");
}

#[test]
fn forecast_steady_fill_in_daily_bursts_keeps_the_point_models_crossing() {
    // The same shape with the same volume every day (10 a day, written 8–20 h): not bursty,
    // so exhaustion stays where the chosen model's path crosses, not at the busiest hours.
    let daily = [10.0; 9];
    let origin = 8 * DAY + 2 * HOUR;
    let history = bursty_fill(&daily, origin);
    let capacity = history.last().unwrap().1 + 15.0;
    let mut options = options(&[HOUR, 6 * HOUR, 24 * HOUR, 48 * HOUR], Some(capacity));
    options.long_models = false;
    let result = forecast(&history, &options).unwrap();
    let pace_of_the_path = result.horizons[3].value - result.horizons[2].value;
    assert!(pace_of_the_path > 5.0, "{result:?}");
    // At 10 a day, 15 more is 1.5 days ahead (the path may put it a few hours either side).
    let hours = (result.exhaustion_at_ms.unwrap() - result.last_ms) as f64 / HOUR as f64;
    assert_close("steady exhaustion (h)", hours, 36.0, 8.0);
}

#[test]
fn forecast_refuses_too_few_points_and_bad_options() {
    let error = forecast(&[(T0, 1.0), (T0 + 1, 2.0)], &options(&[HOUR], None)).unwrap_err();
    assert_eq!(error, ForecastError::TooFewPoints { have: 2, need: 3 });
    let points = series(HOUR, MINUTE, |_| 1.0);
    assert_eq!(
        forecast(&points, &options(&[], None)).unwrap_err(),
        ForecastError::NoHorizons
    );
    assert_eq!(
        forecast(&points, &options(&[0], None)).unwrap_err(),
        ForecastError::BadHorizon { horizon_ms: 0 }
    );
    assert!(matches!(
        forecast(&points, &options(&[HOUR], Some(f64::INFINITY))).unwrap_err(),
        ForecastError::BadCapacity { .. }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn forecast_never_panics_on_any_input(
        points in prop::collection::vec((any::<i64>(), any::<f64>()), 0..80),
        dense in prop::collection::vec((0i64..10_000, -1e6f64..1e6), 0..300),
        horizons in prop::collection::vec(any::<i64>(), 0..4),
        capacity in prop::option::of(any::<f64>()),
        now in prop::option::of(any::<i64>()),
    ) {
        for (input, moderate) in [(&points, false), (&dense, true)] {
            let mut options = options(&horizons, capacity);
            options.now_ms = now;
            if let Ok(result) = forecast(input, &options) {
                for horizon in &result.horizons {
                    let edges = [horizon.low, horizon.value, horizon.high];
                    let finite = edges.iter().all(|v| v.is_finite());
                    // Moderate values (|v| < 1e6) always give a finite, ordered answer.
                    prop_assert!(finite || !moderate, "{horizon:?}");
                    prop_assert!(!finite || (edges[0] <= edges[1] && edges[1] <= edges[2]), "{horizon:?}");
                }
            }
        }
    }
}
