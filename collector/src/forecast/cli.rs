//! `vigil-collector forecast --horizons 1h,6h,24h [--capacity C]`: one series as CSV on stdin
//! (`timestamp,value` rows, RFC 3339 or `YYYY-MM-DD HH:MM:SS` in UTC, a header line allowed,
//! further columns ignored, quotes around fields allowed, `#` comment lines and empty lines
//! skipped), the SPEC's JSON on stdout. Parsing and
//! formatting live here; `main.rs` only reads stdin and maps the error to an exit status.

use super::{Forecast, ForecastError, Options, forecast};
use std::fmt::Write as _;
use vigil_shared::duration::parse_duration;
use vigil_shared::time::{parse_rfc3339, rfc3339};

/// The `forecast` subcommand's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ForecastArgs {
    /// Comma-separated horizons after the newest point (durations: 30m, 1h, 6h, 24h, 7d).
    #[arg(long, default_value = "1h,6h,24h")]
    pub horizons: String,
    /// The value at which the resource is exhausted; gives `exhaustion_at`.
    #[arg(long, allow_negative_numbers = true)]
    pub capacity: Option<f64>,
    /// Count horizons from this time (RFC 3339) instead of the newest point.
    #[arg(long)]
    pub now: Option<String>,
    /// Also try MSTL + AutoETS on histories of several days (tens of milliseconds more).
    #[arg(long)]
    pub long_models: bool,
}

/// Why the command could not answer. Every variant is bad input (exit status 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastCliError {
    /// `--horizons` is not a list of durations.
    #[error("invalid --horizons {text:?}: {reason}")]
    Horizons {
        /// The flag's value.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// `--capacity` or `--now` is unusable.
    #[error("invalid --{flag} {text:?}: {reason}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// Its value.
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An input line is not `timestamp,value`.
    #[error("stdin line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The series cannot be forecast.
    #[error("cannot forecast the series on stdin: {0}")]
    Forecast(#[from] ForecastError),
}

/// Parses the flags and `input`, forecasts, and returns the JSON line to print.
pub fn run(args: &ForecastArgs, input: &str) -> Result<String, ForecastCliError> {
    let labels: Vec<&str> = args
        .horizons
        .split(',')
        .map(str::trim)
        .filter(|label| !label.is_empty())
        .collect();
    let horizon_error = |reason: String| ForecastCliError::Horizons {
        text: args.horizons.clone(),
        reason,
    };
    if labels.is_empty() {
        return Err(horizon_error(
            "give at least one duration, e.g. 1h,6h,24h".into(),
        ));
    }
    let mut horizons_ms = Vec::with_capacity(labels.len());
    for label in &labels {
        let duration = parse_duration(label).map_err(|error| horizon_error(error.to_string()))?;
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        if ms <= 0 {
            return Err(horizon_error(format!("{label} is not a positive duration")));
        }
        horizons_ms.push(ms);
    }
    if let Some(capacity) = args.capacity.filter(|c| !c.is_finite()) {
        return Err(ForecastCliError::Flag {
            flag: "capacity",
            text: capacity.to_string(),
            reason: "use a finite number in the series' unit",
        });
    }
    let now_ms = match &args.now {
        None => None,
        Some(text) => Some(parse_time(text).ok_or_else(|| ForecastCliError::Flag {
            flag: "now",
            text: text.clone(),
            reason: "use RFC 3339, e.g. 2026-11-21T10:00:00Z",
        })?),
    };
    let points = parse_csv(input)?;
    let mut options = Options::new(horizons_ms);
    options.capacity = args.capacity;
    options.now_ms = now_ms;
    options.long_models = args.long_models;
    let result = forecast(&points, &options)?;
    Ok(to_json(&labels, &result))
}

/// Parses `timestamp,value` rows into (Unix ms, value); a first line that is not a row is a
/// header. Empty lines and lines starting with `#` are skipped.
pub fn parse_csv(input: &str) -> Result<Vec<(i64, f64)>, ForecastCliError> {
    let mut points = Vec::new();
    let mut first = true;
    for (index, raw) in input.lines().enumerate() {
        let line = index + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let mut fields = text.split(',').map(|f| f.trim().trim_matches('"').trim());
        let stamp = fields.next().unwrap_or("");
        let value = fields.next();
        let time = parse_time(stamp);
        let number = value.and_then(|v| v.parse::<f64>().ok());
        match (time, number) {
            (Some(time), Some(number)) => points.push((time, number)),
            (None, None) if first && header_like(stamp) => {}
            (None, _) => {
                return Err(ForecastCliError::Line {
                    line,
                    reason: format!(
                        "cannot read the timestamp {stamp:?}: use RFC 3339 (2026-11-21T10:00:00Z) or YYYY-MM-DD HH:MM:SS (UTC)"
                    ),
                });
            }
            (Some(_), None) => {
                return Err(ForecastCliError::Line {
                    line,
                    reason: match value {
                        None | Some("") => "no value: write timestamp,value".to_owned(),
                        Some(value) => format!("cannot read the value {value:?} as a number"),
                    },
                });
            }
        }
        first = false;
    }
    Ok(points)
}

/// Whether a first field looks like a column name rather than a broken timestamp.
fn header_like(field: &str) -> bool {
    !field.is_empty() && !field.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
}

/// RFC 3339, or `YYYY-MM-DD HH:MM:SS[.fff]` taken as UTC.
fn parse_time(text: &str) -> Option<i64> {
    parse_rfc3339(text).or_else(|| {
        let zoned = format!("{text}Z");
        (text.len() >= 19 && !text.ends_with(['Z', 'z'])).then(|| parse_rfc3339(&zoned))?
    })
}

/// The SPEC JSON, horizons in the order and spelling asked, plus `models` (the model per
/// horizon), `band_exhaustion_at` (when the band's upper edge crosses), `last` (the newest
/// point) and `step_seconds` (the grid the models worked on).
fn to_json(labels: &[&str], result: &Forecast) -> String {
    let number = |value: f64| serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
    let label = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let time = |ms: Option<i64>| match ms {
        Some(ms) => label(&rfc3339(ms)),
        None => "null".into(),
    };
    let mut out = String::from("{\"forecast\": {");
    for (i, (name, horizon)) in labels.iter().zip(&result.horizons).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}{}: {}", label(name), number(horizon.value));
    }
    out.push_str("}, \"band\": {");
    for (i, (name, horizon)) in labels.iter().zip(&result.horizons).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(
            out,
            "{sep}{}: [{}, {}]",
            label(name),
            number(horizon.low),
            number(horizon.high)
        );
    }
    out.push_str("}, \"models\": {");
    for (i, (name, horizon)) in labels.iter().zip(&result.horizons).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}{}: {}", label(name), label(horizon.model));
    }
    let _ = write!(
        out,
        "}}, \"exhaustion_at\": {}, \"band_exhaustion_at\": {}, \"model\": {}, \"last\": {{\"at\": {}, \"value\": {}}}, \"step_seconds\": {}}}",
        time(result.exhaustion_at_ms),
        time(result.band_exhaustion_at_ms),
        label(result.model),
        time(Some(result.last_ms)),
        number(result.last_value),
        number(result.step_ms as f64 / 1000.0),
    );
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(horizons: &str, capacity: Option<f64>) -> ForecastArgs {
        ForecastArgs {
            horizons: horizons.into(),
            capacity,
            now: None,
            long_models: false,
        }
    }

    #[test]
    fn csv_accepts_a_header_quotes_both_stamp_forms_and_extra_columns() {
        let input = "\"TimeStamp\",\"Value\",\"Label\"\n\"2026-11-21T10:00:00Z\",1.5,0\n\n2026-11-21 10:05:00,2\n";
        let points = parse_csv(input).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[1].0 - points[0].0, 300_000);
        assert_eq!(points[1].1, 2.0);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let cases = [
            (
                "timestamp,value\n2026-11-21T10:00:00Z,1\nyesterday,2\n",
                "stdin line 3: cannot read the timestamp \"yesterday\"",
            ),
            (
                "2026-11-21T10:00:00Z,abc\n",
                "stdin line 1: cannot read the value \"abc\" as a number",
            ),
            ("2026-11-21T10:00:00Z\n", "stdin line 1: no value"),
            (
                "2026-13-21T10:00:00Z,1\n",
                "stdin line 1: cannot read the timestamp",
            ),
        ];
        for (input, expected) in cases {
            let error = parse_csv(input).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{input:?}: {error}");
        }
    }

    #[test]
    fn run_prints_the_spec_shape_for_a_filling_disk() {
        let input: String = (0..120)
            .map(|i| {
                format!(
                    "{},{}\n",
                    rfc3339(1_790_000_000_000 + i * 60_000),
                    100.0 + i as f64
                )
            })
            .collect();
        let out = run(&args("1h,2h", Some(400.0)), &input).unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["model"], "theil_sen", "{out}");
        let one_hour = json["forecast"]["1h"].as_f64().unwrap();
        assert!((one_hour - 279.0).abs() < 1.0, "{out}");
        let band = json["band"]["2h"].as_array().unwrap();
        assert!(band[0].as_f64().unwrap() <= band[1].as_f64().unwrap());
        // 400 is 281 minutes after the newest point (119 min, value 219), past the 2 h horizon.
        assert!(json["exhaustion_at"].is_null(), "{out}");
        let out = run(&args("6h", Some(400.0)), &input).unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let expected = rfc3339(1_790_000_000_000 + (119 + 181) * 60_000);
        assert_eq!(json["exhaustion_at"], expected.as_str(), "{out}");
    }

    #[test]
    fn run_refuses_bad_flags_and_short_series() {
        let input = "2026-11-21T10:00:00Z,1\n2026-11-21T10:01:00Z,2\n";
        let error = run(&args("1h,soon", None), input).unwrap_err().to_string();
        assert!(
            error.starts_with("invalid --horizons \"1h,soon\""),
            "{error}"
        );
        let error = run(&args("1h", Some(f64::NAN)), input)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("invalid --capacity"), "{error}");
        let error = run(&args("1h", None), input).unwrap_err().to_string();
        assert!(error.contains("2 usable point(s)"), "{error}");
    }
}
