//! The `pressure` collector: Linux pressure stall information from `/proc/pressure/{cpu,memory,io}`.
//!
//! A missing file (kernel without PSI, or `psi=0`, or `full` absent for cpu on old kernels) is not
//! an error: the resource is simply not reported.
//!
//! Samples, each with labels `resource` (`cpu`, `memory`, `io`) and `kind` (`some`, `full`):
//! `pressure_avg10_ratio`, `pressure_avg60_ratio`, `pressure_avg300_ratio` (the file's percent
//! divided by 100) and `pressure_stall_seconds_total` (the file's `total` microseconds / 1e6).

use vigil_shared::wire::Sample;

use super::{CollectorError, ParseError, Sources, labeled};

/// The resources read, in order.
pub const RESOURCES: [&str; 3] = ["cpu", "memory", "io"];

/// One line of a pressure file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pressure {
    /// `some` or `full`.
    pub kind: &'static str,
    /// 10 s average, 0..1.
    pub avg10: f64,
    /// 60 s average, 0..1.
    pub avg60: f64,
    /// 300 s average, 0..1.
    pub avg300: f64,
    /// Total stall time in seconds.
    pub stall_seconds: f64,
}

/// Parses a pressure file: lines `some|full avg10=P avg60=P avg300=P total=MICROS`.
pub fn parse(text: &str) -> Result<Vec<Pressure>, ParseError> {
    let mut lines = Vec::with_capacity(2);
    for (line_idx, line) in text.lines().enumerate() {
        let line_number = line_idx + 1;
        let mut fields = line.split_whitespace();
        let kind = match fields.next() {
            None => continue,
            Some("some") => "some",
            Some("full") => "full",
            Some(other) => {
                return Err(ParseError::new(
                    line_number,
                    format!("{other:?} is not some or full"),
                ));
            }
        };
        let (mut avg10, mut avg60, mut avg300, mut total) = (None, None, None, None);
        for field in fields {
            let (key, value) = field.split_once('=').ok_or_else(|| {
                ParseError::new(line_number, format!("{field:?} is not key=value"))
            })?;
            let number = || -> Result<f64, ParseError> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|number| number.is_finite())
                    .ok_or_else(|| {
                        ParseError::new(line_number, format!("{key} {value:?} is not a number"))
                    })
            };
            match key {
                "avg10" => avg10 = Some(number()? / 100.0),
                "avg60" => avg60 = Some(number()? / 100.0),
                "avg300" => avg300 = Some(number()? / 100.0),
                "total" => {
                    let micros: u64 = value.parse().map_err(|_| {
                        ParseError::new(line_number, format!("total {value:?} is not a number"))
                    })?;
                    total = Some(micros as f64 / 1e6);
                }
                _ => {}
            }
        }
        let missing = |what: &str| ParseError::new(line_number, format!("{kind}: missing {what}"));
        lines.push(Pressure {
            kind,
            avg10: avg10.ok_or_else(|| missing("avg10"))?,
            avg60: avg60.ok_or_else(|| missing("avg60"))?,
            avg300: avg300.ok_or_else(|| missing("avg300"))?,
            stall_seconds: total.ok_or_else(|| missing("total"))?,
        });
    }
    Ok(lines)
}

/// Appends the pressure samples of every resource whose file exists.
pub fn collect(sources: &mut Sources, out: &mut Vec<Sample>) -> Result<(), CollectorError> {
    for resource in RESOURCES {
        let relative = format!("pressure/{resource}");
        let Some(text) = sources.procfs.read_optional(&relative)? else {
            continue;
        };
        let lines = parse(&text).map_err(|error| error.at(sources.procfs.path(&relative)))?;
        for line in lines {
            let labels = [("resource", resource), ("kind", line.kind)];
            out.push(labeled("pressure_avg10_ratio", &labels, line.avg10));
            out.push(labeled("pressure_avg60_ratio", &labels, line.avg60));
            out.push(labeled("pressure_avg300_ratio", &labels, line.avg300));
            out.push(labeled(
                "pressure_stall_seconds_total",
                &labels,
                line.stall_seconds,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfs::Procfs;
    use crate::collectors::tests::fixture_root;

    #[test]
    fn pressure_parse_converts_percent_and_micros() {
        let lines = parse(
            "some avg10=12.50 avg60=1.34 avg300=1.85 total=22353039\n\
             full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        )
        .unwrap();
        let expected = [
            ("some", 0.125, 0.0134, 0.0185, 22.353039),
            ("full", 0.0, 0.0, 0.0, 0.0),
        ];
        assert_eq!(lines.len(), expected.len());
        for (line, (kind, avg10, avg60, avg300, stall)) in lines.iter().zip(expected) {
            assert_eq!(line.kind, kind);
            for (got, want) in [
                (line.avg10, avg10),
                (line.avg60, avg60),
                (line.avg300, avg300),
                (line.stall_seconds, stall),
            ] {
                assert!((got - want).abs() < 1e-12, "{kind}: {got} != {want}");
            }
        }
    }

    #[test]
    fn pressure_parse_rejects_bad_lines() {
        assert_eq!(
            parse("most avg10=1").unwrap_err().message,
            "\"most\" is not some or full"
        );
        assert_eq!(
            parse("some avg10=1.0 avg60=1.0 avg300=1.0")
                .unwrap_err()
                .message,
            "some: missing total"
        );
        assert_eq!(
            parse("some avg10=x avg60=1 avg300=1 total=1")
                .unwrap_err()
                .message,
            "avg10 \"x\" is not a number"
        );
    }

    #[test]
    fn pressure_collect_skips_missing_resources() {
        let mut out = Vec::new();
        let mut sources = crate::collectors::tests::sources(&fixture_root());
        collect(&mut sources, &mut out).unwrap();
        // cpu and memory fixtures have some + full lines, io is absent: 2 × 2 × 4 samples.
        assert_eq!(out.len(), 16);
        assert!(out.iter().all(|sample| sample.labels["resource"] != "io"));
        let stall = out
            .iter()
            .find(|sample| {
                sample.name == "pressure_stall_seconds_total"
                    && sample.labels["resource"] == "cpu"
                    && sample.labels["kind"] == "some"
            })
            .unwrap();
        assert_eq!(stall.value, 22.353039);
        assert!(
            Procfs::new(fixture_root())
                .read_optional("pressure/io")
                .unwrap()
                .is_none()
        );
    }
}
