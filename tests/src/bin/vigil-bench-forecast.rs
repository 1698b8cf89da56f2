//! `vigil-bench-forecast`: the capacity-forecast accuracy and cost benchmark behind
//! BENCHMARKS.md (issue 11). In-process: it calls `vigil_collector::forecast` exactly as the
//! `forecast` command does, on real traces (`tests/fixtures/forecast/`, with their provenance)
//! and on synthetic series with known truth, at rolling origins (each forecast sees only the
//! points before its origin), and scores against baselines computed in the same run:
//! Prometheus's `predict_linear` (least squares over the last 6 h and 24 h), the last value and
//! the value 24 h before the target.
//!
//! - MASE (error / in-sample MAE of the one-step naive forecast) and sMAPE at 1 h, 6 h, 24 h,
//!   geometric mean over series;
//! - time to exhaustion on the growth series: at origins up to 48 h before the true crossing,
//!   median relative error, share within ±20 %, misses (truth within 24 h, forecast says none
//!   within 48 h) and false urgency (forecast within 24 h, truth beyond 48 h or never);
//! - CPU cost per forecast call (thread CPU time), and the projection to 10,000 hosts × 10
//!   series on one core; the cost of keeping `vigil_collector::history` per sample and per
//!   series.
//!
//! Prints Markdown on stdout.

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vigil_collector::forecast::{Options, cli::parse_csv, forecast};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const HORIZONS: [i64; 3] = [HOUR, 6 * HOUR, 24 * HOUR];
/// Exhaustion is looked for this far ahead.
const EXHAUSTION_WINDOW: i64 = 48 * HOUR;

#[derive(Parser)]
#[command(
    name = "vigil-bench-forecast",
    about = "Capacity forecast accuracy and cost benchmark"
)]
struct Cli {
    /// Directory with the real traces.
    #[arg(long, default_value = "tests/fixtures/forecast")]
    fixtures: PathBuf,
    /// Rolling origins per series for the point-error scores.
    #[arg(long, default_value_t = 40)]
    origins: usize,
    /// Origins per growth series for the time-to-exhaustion scores.
    #[arg(long, default_value_t = 40)]
    exhaustion_origins: usize,
    /// Also offer MSTL + AutoETS (off by default, as in the collector).
    #[arg(long)]
    long_models: bool,
    /// Print one line per series and method as well.
    #[arg(long)]
    verbose: bool,
}

/// One series under test.
struct Series {
    name: String,
    points: Vec<(i64, f64)>,
    /// For growth series: the capacity.
    capacity: Option<f64>,
    /// When the truth crosses the capacity (for real series the first point at or above it).
    crossing: Option<i64>,
}

/// This thread's CPU time (not wall time: the machine is shared), from a start point.
struct CpuClock(f64);

impl CpuClock {
    fn now() -> f64 {
        let mut spec = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut spec) };
        if rc != 0 {
            return 0.0;
        }
        spec.tv_sec as f64 + spec.tv_nsec as f64 * 1e-9
    }

    fn start() -> CpuClock {
        CpuClock(CpuClock::now())
    }

    fn seconds(&self) -> f64 {
        CpuClock::now() - self.0
    }
}

/// CPU seconds spent and input points, per forecast call.
type Costs = Vec<(f64, usize)>;

/// The methods compared.
const METHODS: [&str; 5] = [
    "vigil",
    "last_value",
    "value_24h_earlier",
    "predict_linear_6h",
    "predict_linear_24h",
];

#[derive(Default)]
struct PointScores {
    /// Per method and horizon: absolute errors / scale (for MASE) and sMAPE terms.
    mase: BTreeMap<(&'static str, usize), Vec<f64>>,
    smape: BTreeMap<(&'static str, usize), Vec<f64>>,
}

#[derive(Default)]
struct ExhaustionScores {
    relative_errors: Vec<f64>,
    checked: usize,
    misses: usize,
    false_urgency: usize,
    urgency_checked: usize,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut series = real_series(&cli.fixtures)?;
    series.extend(synthetic_series());
    let mut options = Options::new(vec![HOUR, 6 * HOUR, 24 * HOUR, EXHAUSTION_WINDOW]);
    options.long_models = cli.long_models;

    let mut per_series_mase: BTreeMap<(&'static str, usize), Vec<f64>> = BTreeMap::new();
    let mut per_series_smape: BTreeMap<(&'static str, usize), Vec<f64>> = BTreeMap::new();
    let mut exhaustion: BTreeMap<&'static str, ExhaustionScores> = BTreeMap::new();
    let mut models_chosen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut call_costs: Vec<(f64, usize)> = Vec::new();
    let mut rows = Vec::new();

    for s in &series {
        let (scores, costs, chosen) = point_scores(s, &options, cli.origins);
        call_costs.extend(costs);
        for (model, count) in chosen {
            *models_chosen.entry(model).or_default() += count;
        }
        let mut row = format!("| {} | {} |", s.name, s.points.len());
        for method in METHODS {
            for slot in 0..HORIZONS.len() {
                let mase = mean(scores.mase.get(&(method, slot)).map_or(&[][..], |v| v));
                let smape = mean(scores.smape.get(&(method, slot)).map_or(&[][..], |v| v));
                if mase.is_finite() {
                    per_series_mase
                        .entry((method, slot))
                        .or_default()
                        .push(mase.max(1e-9));
                    per_series_smape
                        .entry((method, slot))
                        .or_default()
                        .push(smape);
                }
                if method == "vigil" || method == "last_value" {
                    row.push_str(&format!(" {mase:.2} |"));
                }
            }
        }
        rows.push(row);
        if let Some(capacity) = s.capacity {
            let (scores, costs) = exhaustion_scores(s, capacity, &options, cli.exhaustion_origins);
            call_costs.extend(costs);
            for (method, score) in scores {
                if cli.verbose {
                    let mut errors = score.relative_errors.clone();
                    errors.sort_by(f64::total_cmp);
                    eprintln!(
                        "exhaustion {} {method}: median {:.2} within20 {}/{} misses {} false {}/{}",
                        s.name,
                        errors.get(errors.len() / 2).copied().unwrap_or(f64::NAN),
                        errors.iter().filter(|e| **e <= 0.2).count(),
                        score.checked,
                        score.misses,
                        score.false_urgency,
                        score.urgency_checked
                    );
                }
                let total = exhaustion.entry(method).or_default();
                total.relative_errors.extend(score.relative_errors);
                total.checked += score.checked;
                total.misses += score.misses;
                total.false_urgency += score.false_urgency;
                total.urgency_checked += score.urgency_checked;
            }
        }
    }

    println!(
        "Series: {} ({} real, {} synthetic); origins per series: {}; long models: {}\n",
        series.len(),
        series
            .iter()
            .filter(|s| !s.name.starts_with("synthetic"))
            .count(),
        series
            .iter()
            .filter(|s| s.name.starts_with("synthetic"))
            .count(),
        cli.origins,
        if cli.long_models { "on" } else { "off" }
    );
    println!("Point error (geometric mean over series of MASE; mean sMAPE %):\n");
    println!("| method | MASE 1h | MASE 6h | MASE 24h | sMAPE 1h | sMAPE 6h | sMAPE 24h |");
    println!("|---|---|---|---|---|---|---|");
    for method in METHODS {
        let mut line = format!("| {method} |");
        for slot in 0..HORIZONS.len() {
            line.push_str(&format!(
                " {:.3} |",
                geo_mean(per_series_mase.get(&(method, slot)).map_or(&[][..], |v| v))
            ));
        }
        for slot in 0..HORIZONS.len() {
            line.push_str(&format!(
                " {:.1} |",
                mean(per_series_smape.get(&(method, slot)).map_or(&[][..], |v| v))
            ));
        }
        println!("{line}");
    }
    let mut ratio_line = String::from("| vigil / best naive |");
    for slot in 0..HORIZONS.len() {
        let ours = geo_mean(per_series_mase.get(&("vigil", slot)).map_or(&[][..], |v| v));
        let best = ["last_value", "value_24h_earlier"]
            .iter()
            .map(|m| geo_mean(per_series_mase.get(&(*m, slot)).map_or(&[][..], |v| v)))
            .fold(f64::INFINITY, f64::min);
        ratio_line.push_str(&format!(" {:.3} |", ours / best));
    }
    println!("{ratio_line} | | |");
    println!("\nTime to exhaustion (growth series, origins 1–48 h before the true crossing):\n");
    println!("| method | median relative error | within ±20 % | misses | false urgency |");
    println!("|---|---|---|---|---|");
    for method in ["vigil", "predict_linear_6h", "predict_linear_24h"] {
        let Some(score) = exhaustion.get(method) else {
            continue;
        };
        let mut errors = score.relative_errors.clone();
        errors.sort_by(f64::total_cmp);
        let median = errors.get(errors.len() / 2).copied().unwrap_or(f64::NAN);
        let within = errors.iter().filter(|e| **e <= 0.2).count();
        println!(
            "| {method} | {:.1} % | {:.0} % ({within}/{}) | {} of {} | {} of {} |",
            100.0 * median,
            100.0 * within as f64 / score.checked.max(1) as f64,
            score.checked,
            score.misses,
            score.checked,
            score.false_urgency,
            score.urgency_checked,
        );
    }
    let total_seconds: f64 = call_costs.iter().map(|(s, _)| s).sum();
    let mut sorted: Vec<f64> = call_costs.iter().map(|(s, _)| *s).collect();
    sorted.sort_by(f64::total_cmp);
    let mean_cost = total_seconds / call_costs.len().max(1) as f64;
    let p = |q: f64| {
        sorted
            .get(((sorted.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let mean_points =
        call_costs.iter().map(|(_, n)| *n as f64).sum::<f64>() / call_costs.len().max(1) as f64;
    println!(
        "\nCost: {} forecast calls (mean {:.0} input points), mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.1} ms per call; 100,000 series (10,000 hosts × 10) at the mean: {:.1} s of one core",
        call_costs.len(),
        mean_points,
        1e3 * mean_cost,
        1e3 * p(0.5),
        1e3 * p(0.99),
        1e3 * p(1.0),
        100_000.0 * mean_cost
    );
    println!("\nModels chosen (point-error origins): {models_chosen:?}");
    history_bench();
    if cli.verbose {
        println!("\n| series | points | vigil 1h | 6h | 24h | last 1h | 6h | 24h |");
        println!("|---|---|---|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
    }
    Ok(())
}

/// The cost of keeping history: ns per pushed sample across many series (round robin, as
/// ingest does), bytes per series in memory and persisted once every tier is full.
fn history_bench() {
    use vigil_collector::history::{History, Layout};
    let t0 = 1_790_000_000_000i64;
    let n_series = 10_000usize;
    let rounds = 300i64;
    let mut histories: Vec<History> = (0..n_series)
        .map(|_| History::new(Layout::default()))
        .collect();
    // Warm up: an hour of 10 s samples so the raw rings are at their size.
    for round in 0..360i64 {
        for (i, history) in histories.iter_mut().enumerate() {
            history.push(t0 + round * 10_000, (i as i64 + round) as f64);
        }
    }
    let started = CpuClock::start();
    for round in 360..360 + rounds {
        for (i, history) in histories.iter_mut().enumerate() {
            history.push(t0 + round * 10_000, (i as i64 + round) as f64);
        }
    }
    let seconds = started.seconds();
    let samples = n_series as f64 * rounds as f64;
    // One series with every tier full: 91 days of 10 s samples.
    let mut full = History::new(Layout::default());
    for i in 0..(91 * DAY / 10_000) {
        full.push(t0 + i * 10_000, i as f64);
    }
    // The same with a noisy daily cycle on a slow fill (each chunk's range wide).
    let mut noisy = History::new(Layout::default());
    for i in 0..(91 * DAY / 10_000) {
        let day = i as f64 * 10_000.0 / DAY as f64;
        let cycle = 20.0 * (day * std::f64::consts::TAU).sin();
        noisy.push(t0 + i * 10_000, 50.0 + day * 0.1 + cycle + (i % 7) as f64);
    }
    let started = CpuClock::start();
    let points = full.points();
    let points_seconds = started.seconds();
    let last = t0 + (91 * DAY / 10_000 - 1) * 10_000;
    let started = CpuClock::start();
    let week = full.points_since(last - 7 * DAY);
    let week_seconds = started.seconds();
    let started = CpuClock::start();
    let bytes = full.to_bytes();
    let encode_seconds = started.seconds();
    println!(
        "\nHistory (raw 1 h, 5-minute buckets 7 days, 1-hour buckets 90 days; 10 s samples): push {:.1} ns per sample over {n_series} series ({:.1} M samples per CPU-second); a full series holds {} heap bytes ({} with a noisy daily cycle), {} bytes persisted (encoded in {:.0} µs), and gives the forecaster {} points in {:.0} µs (the last 7 days: {} points in {:.0} µs)",
        1e9 * seconds / samples,
        samples / seconds / 1e6,
        full.heap_bytes(),
        noisy.heap_bytes(),
        bytes.len(),
        1e6 * encode_seconds,
        points.len(),
        1e6 * points_seconds,
        week.len(),
        1e6 * week_seconds,
    );
}

/// Loads the real traces and derives the growth curves from them.
fn real_series(dir: &Path) -> Result<Vec<Series>> {
    let load = |file: &str| -> Result<Vec<(i64, f64)>> {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: run from the workspace root or pass --fixtures",
                path.display()
            )
        })?;
        let mut points = parse_csv(&text).with_context(|| path.display().to_string())?;
        // Some NAB files carry a DST jump and repeated stamps: keep the stream order, stable.
        points.sort_by_key(|(t, _)| *t);
        Ok(points)
    };
    let mut series = Vec::new();
    for name in [
        "nab_ec2_cpu_utilization_825cc2",
        "nab_ec2_cpu_utilization_ac20cd",
        "nab_rds_cpu_utilization_e47b3b",
        "nab_rds_cpu_utilization_cc0c53",
        "nab_grok_asg_anomaly",
        "ms_api-01",
        "ms_machine-01",
    ] {
        series.push(Series {
            name: name.into(),
            points: load(&format!("{name}.csv"))?,
            capacity: None,
            crossing: None,
        });
    }
    for (name, per_point) in [
        ("nab_ec2_disk_write_bytes_1ef3de", 1.0),
        ("nab_ec2_disk_write_bytes_c0d644", 1.0),
        ("ms_ingress-01", 60.0),
    ] {
        let points = load(&format!("{name}.csv"))?;
        let mut total = 0.0;
        let cumulative: Vec<(i64, f64)> = points
            .iter()
            .map(|&(t, v)| {
                total += v.max(0.0) * per_point;
                (t, total)
            })
            .collect();
        let capacity = 0.8 * total;
        let crossing = cumulative
            .iter()
            .find(|(_, v)| *v >= capacity)
            .map(|(t, _)| *t);
        series.push(Series {
            name: format!("cumsum({name})"),
            points: cumulative,
            capacity: Some(capacity),
            crossing,
        });
    }
    if series.iter().any(|s| s.points.len() < 100) {
        bail!("a fixture has fewer than 100 points");
    }
    Ok(series)
}

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

/// Synthetic series with known truth (values in GB where it matters): each is a noise-free
/// curve plus uniform noise; the true exhaustion is where the noise-free curve crosses.
fn synthetic_series() -> Vec<Series> {
    let t0 = 1_790_000_000_000;
    let day = DAY as f64;
    let make = |name: &str,
                span: i64,
                step: i64,
                capacity: Option<f64>,
                noise: f64,
                seed: u64,
                f: &dyn Fn(i64) -> f64| {
        let mut rng = Noise(seed);
        let points: Vec<(i64, f64)> = (0..=span / step)
            .map(|i| (t0 + i * step, f(i * step) + noise * rng.next()))
            .collect();
        let crossing = capacity.and_then(|c| {
            (0..=span / step)
                .find(|i| f(i * step) >= c)
                .map(|i| t0 + i * step)
        });
        Series {
            name: format!("synthetic {name}"),
            points,
            capacity,
            crossing,
        }
    };
    vec![
        make("linear fill", 10 * DAY, MINUTE, Some(400.0), 0.5, 1, &|t| {
            100.0 + 37.5 * t as f64 / day
        }),
        make(
            "daily cycle > daily growth",
            14 * DAY,
            5 * MINUTE,
            Some(400.0),
            2.0,
            2,
            &|t| {
                200.0
                    + 15.0 * t as f64 / day
                    + 40.0 * (2.0 * std::f64::consts::PI * t as f64 / day).sin()
            },
        ),
        // Steps of +60 every 3 days on top of 20 a day; 500 is crossed 2 days after the last.
        make(
            "step changes",
            12 * DAY,
            5 * MINUTE,
            Some(500.0),
            1.0,
            3,
            &|t| {
                let days = t as f64 / day;
                100.0 + 20.0 * days + 60.0 * (days / 3.0).floor()
            },
        ),
        make("noisy fill", 12 * DAY, MINUTE, Some(400.0), 5.0, 4, &|t| {
            100.0 + 30.0 * t as f64 / day
        }),
        // 50 a day, a cleanup on day 5 frees 75, then 25 a day: 320 is crossed on day 10.8.
        make(
            "cleanup reset",
            12 * DAY,
            MINUTE,
            Some(320.0),
            0.5,
            5,
            &|t| {
                let days = t as f64 / day;
                if days < 5.0 {
                    100.0 + 50.0 * days
                } else {
                    175.0 + 25.0 * (days - 5.0)
                }
            },
        ),
        // Grows 200 → 350 in 6 hours, rotated back; never reaches 380.
        make(
            "log rotation sawtooth",
            8 * DAY,
            MINUTE,
            Some(380.0),
            0.5,
            6,
            &|t| 200.0 + 150.0 * (t % (6 * HOUR)) as f64 / (6 * HOUR) as f64,
        ),
    ]
}

/// The value of the newest point at or before `t`, and its index.
fn at_or_before(points: &[(i64, f64)], t: i64) -> Option<(usize, f64)> {
    let end = points.partition_point(|(time, _)| *time <= t);
    end.checked_sub(1).map(|i| (i, points[i].1))
}

/// The value of the point nearest `t` (the truth at a target time).
fn nearest(points: &[(i64, f64)], t: i64) -> Option<f64> {
    let i = points.partition_point(|(time, _)| *time < t);
    let candidates = [i.checked_sub(1), Some(i)];
    candidates
        .iter()
        .flatten()
        .filter_map(|&j| points.get(j))
        .min_by_key(|(time, _)| (time - t).abs())
        .map(|(_, v)| *v)
}

/// `predict_linear(v[window], horizon)` at `origin`: least squares over the samples in
/// (origin - window, origin], evaluated `horizon` after `origin`.
fn predict_linear(
    points: &[(i64, f64)],
    origin: i64,
    window: i64,
    horizon: i64,
) -> Option<(f64, f64)> {
    let end = points.partition_point(|(t, _)| *t <= origin);
    let start = points.partition_point(|(t, _)| *t <= origin - window);
    let window = &points[start..end];
    if window.len() < 2 {
        return None;
    }
    let n = window.len() as f64;
    let mean_x = window.iter().map(|(t, _)| (t - origin) as f64).sum::<f64>() / n;
    let mean_y = window.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in window {
        let dx = (t - origin) as f64 - mean_x;
        sxy += dx * (v - mean_y);
        sxx += dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept = mean_y - slope * mean_x;
    Some((intercept + slope * horizon as f64, slope))
}

/// Rolling-origin point errors for every method.
fn point_scores(
    s: &Series,
    options: &Options,
    n_origins: usize,
) -> (
    PointScores,
    Vec<(f64, usize)>,
    BTreeMap<&'static str, usize>,
) {
    let points = &s.points;
    let first = points[0].0;
    let last = points[points.len() - 1].0;
    let lo = first + 3 * DAY;
    let hi = last - 24 * HOUR;
    let mut scores = PointScores::default();
    let mut costs = Vec::new();
    let mut chosen = BTreeMap::new();
    if hi <= lo {
        return (scores, costs, chosen);
    }
    // MASE scale: in-sample MAE of the one-step naive forecast before the first origin.
    let train_end = points.partition_point(|(t, _)| *t <= lo);
    let scale = points[..train_end]
        .windows(2)
        .map(|w| (w[1].1 - w[0].1).abs())
        .sum::<f64>()
        / (train_end.max(2) - 1) as f64;
    let scale = if scale > 0.0 { scale } else { 1.0 };
    for j in 0..n_origins {
        let origin = lo + (hi - lo) * j as i64 / (n_origins.max(2) - 1) as i64;
        let Some((index, last_value)) = at_or_before(points, origin) else {
            continue;
        };
        let origin = points[index].0;
        let history = &points[..=index];
        let started = CpuClock::start();
        let result = forecast(history, options);
        costs.push((started.seconds(), history.len()));
        let Ok(result) = result else {
            continue;
        };
        *chosen.entry(result.model).or_default() += 1;
        for (slot, &h) in HORIZONS.iter().enumerate() {
            let Some(truth) = nearest(points, origin + h) else {
                continue;
            };
            let day_earlier = nearest(points, origin + h - DAY).unwrap_or(last_value);
            let predictions = [
                ("vigil", Some(result.horizons[slot].value)),
                ("last_value", Some(last_value)),
                ("value_24h_earlier", Some(day_earlier)),
                (
                    "predict_linear_6h",
                    predict_linear(points, origin, 6 * HOUR, h).map(|p| p.0),
                ),
                (
                    "predict_linear_24h",
                    predict_linear(points, origin, 24 * HOUR, h).map(|p| p.0),
                ),
            ];
            for (method, prediction) in predictions {
                let prediction = prediction.unwrap_or(last_value);
                let error = (truth - prediction).abs();
                scores
                    .mase
                    .entry((method, slot))
                    .or_default()
                    .push(error / scale);
                let denominator = truth.abs() + prediction.abs();
                let smape = if denominator > 0.0 {
                    200.0 * error / denominator
                } else {
                    0.0
                };
                scores.smape.entry((method, slot)).or_default().push(smape);
            }
        }
    }
    (scores, costs, chosen)
}

/// Time-to-exhaustion errors at origins before the true crossing of `capacity`.
fn exhaustion_scores(
    s: &Series,
    capacity: f64,
    options: &Options,
    n_origins: usize,
) -> (Vec<(&'static str, ExhaustionScores)>, Costs) {
    let points = &s.points;
    let crossing = s.crossing;
    let first = points[0].0;
    let mut costs = Vec::new();
    let mut options = options.clone();
    options.capacity = Some(capacity);
    // Origins: up to 48 h before the crossing (misses, errors), and 48–96 h before it or
    // anywhere for a series that never crosses (false urgency).
    let (near, far): (Vec<i64>, Vec<i64>) = match crossing {
        Some(c) => (
            spread(c - EXHAUSTION_WINDOW, c - HOUR, n_origins),
            spread(
                c - 2 * EXHAUSTION_WINDOW,
                c - EXHAUSTION_WINDOW - 5 * MINUTE,
                n_origins / 2,
            ),
        ),
        None => (
            Vec::new(),
            spread(first + 3 * DAY, points[points.len() - 1].0, n_origins),
        ),
    };
    let mut by_method: Vec<(&'static str, ExhaustionScores)> =
        ["vigil", "predict_linear_6h", "predict_linear_24h"]
            .into_iter()
            .map(|m| (m, ExhaustionScores::default()))
            .collect();
    for (origins, is_near) in [(near, true), (far, false)] {
        for origin in origins {
            if origin < first + 2 * DAY {
                continue;
            }
            let Some((index, _)) = at_or_before(points, origin) else {
                continue;
            };
            let origin = points[index].0;
            let history = &points[..=index];
            let started = CpuClock::start();
            let result = forecast(history, &options);
            costs.push((started.seconds(), history.len()));
            let truth = crossing.map(|c| c - origin);
            let ours = result
                .ok()
                .and_then(|r| r.exhaustion_at_ms)
                .map(|at| at - origin)
                .filter(|tte| *tte <= EXHAUSTION_WINDOW);
            let linear = |window: i64| {
                let (now, slope) = predict_linear(points, origin, window, 0)?;
                if now >= capacity {
                    return Some(0);
                }
                (slope > 0.0)
                    .then(|| ((capacity - now) / slope) as i64)
                    .filter(|tte| *tte <= EXHAUSTION_WINDOW)
            };
            let predictions = [ours, linear(6 * HOUR), linear(24 * HOUR)];
            for ((_, score), predicted) in by_method.iter_mut().zip(predictions) {
                if is_near {
                    let Some(truth) = truth else { continue };
                    score.checked += 1;
                    match predicted {
                        Some(predicted) => {
                            score
                                .relative_errors
                                .push((predicted - truth).abs() as f64 / truth.max(1) as f64);
                        }
                        None => {
                            score.relative_errors.push(f64::INFINITY);
                            if truth <= 24 * HOUR {
                                score.misses += 1;
                            }
                        }
                    }
                } else {
                    score.urgency_checked += 1;
                    if predicted.is_some_and(|p| p <= 24 * HOUR) {
                        score.false_urgency += 1;
                    }
                }
            }
        }
    }
    (by_method, costs)
}

/// `count` times spread evenly over [from, to].
fn spread(from: i64, to: i64, count: usize) -> Vec<i64> {
    if count == 0 || to < from {
        return Vec::new();
    }
    (0..count)
        .map(|j| from + (to - from) * j as i64 / (count.max(2) - 1) as i64)
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

fn geo_mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp()
}
