//! The `load` collector: load averages and process counts from `/proc/loadavg` (one read).
//!
//! Samples: `load1`, `load5`, `load15`, `processes_running`, `processes_total` (the fourth
//! field, `running/total`, counts scheduling entities: threads included).

use vigil_shared::wire::Sample;

use super::{CollectorError, ParseError, Sources, sample};

/// Parsed `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAvg {
    /// 1-minute load average.
    pub load1: f64,
    /// 5-minute load average.
    pub load5: f64,
    /// 15-minute load average.
    pub load15: f64,
    /// Runnable entities now.
    pub running: u64,
    /// All entities.
    pub total: u64,
}

/// Parses the text of `/proc/loadavg`, e.g. `0.24 0.38 0.23 1/81 11023`.
pub fn parse(text: &str) -> Result<LoadAvg, ParseError> {
    let mut fields = text.split_whitespace();
    let mut load = |what: &str| -> Result<f64, ParseError> {
        let field = fields
            .next()
            .ok_or_else(|| ParseError::new(1, format!("missing {what}")))?;
        field
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .ok_or_else(|| ParseError::new(1, format!("{what} {field:?} is not a number")))
    };
    let load1 = load("load1")?;
    let load5 = load("load5")?;
    let load15 = load("load15")?;
    let processes = fields
        .next()
        .ok_or_else(|| ParseError::new(1, "missing running/total"))?;
    let (running, total) = processes
        .split_once('/')
        .and_then(|(running, total)| Some((running.parse().ok()?, total.parse().ok()?)))
        .ok_or_else(|| ParseError::new(1, format!("{processes:?} is not running/total")))?;
    Ok(LoadAvg {
        load1,
        load5,
        load15,
        running,
        total,
    })
}

/// Appends the load samples.
pub fn collect(sources: &mut Sources, out: &mut Vec<Sample>) -> Result<(), CollectorError> {
    let text = sources.procfs.read("loadavg")?;
    let load = parse(&text).map_err(|error| error.at(sources.procfs.path("loadavg")))?;
    out.push(sample("load1", load.load1));
    out.push(sample("load5", load.load5));
    out.push(sample("load15", load.load15));
    out.push(sample("processes_running", load.running as f64));
    out.push(sample("processes_total", load.total as f64));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfs::Procfs;
    use crate::collectors::tests::fixture_root;

    #[test]
    fn load_parse_reads_all_fields() {
        assert_eq!(
            parse("1.50 0.75 0.10 3/412 9876\n"),
            Ok(LoadAvg {
                load1: 1.5,
                load5: 0.75,
                load15: 0.1,
                running: 3,
                total: 412,
            })
        );
    }

    #[test]
    fn load_parse_rejects_bad_text() {
        assert_eq!(parse("").unwrap_err().message, "missing load1");
        assert_eq!(
            parse("1.0 x 0.1 1/2 3").unwrap_err().message,
            "load5 \"x\" is not a number"
        );
        assert_eq!(
            parse("1.0 1.0 0.1 12 3").unwrap_err().message,
            "\"12\" is not running/total"
        );
        assert_eq!(parse("1 2 3").unwrap_err().message, "missing running/total");
    }

    #[test]
    fn load_parse_reads_fixture() {
        let text = Procfs::new(fixture_root()).read("loadavg").unwrap();
        let load = parse(&text).unwrap();
        assert_eq!(load.load1, 0.24);
        assert_eq!((load.running, load.total), (1, 81));
    }
}
