//! The `agent` collector: the agent's own cost, from `/proc/self/stat` (CPU time) and
//! `/proc/self/status` (`VmRSS`).
//!
//! Samples: `agent_cpu_seconds_total` (user + system), `agent_resident_bytes`.

use std::sync::OnceLock;

use vigil_shared::wire::Sample;

use super::{CollectorError, ParseError, Sources, sample};

/// Parses `/proc/self/stat`; returns user + system CPU time in clock ticks.
///
/// The command name (field 2) may contain spaces and `)`, so fields are counted after the last
/// `)`: the first one there is field 3 (state); utime and stime are fields 14 and 15.
pub fn parse_stat(text: &str) -> Result<u64, ParseError> {
    let (_, rest) = text
        .rsplit_once(')')
        .ok_or_else(|| ParseError::new(1, "missing ')' after the command name"))?;
    let mut fields = rest.split_whitespace().skip(11);
    let mut ticks = |what: &str| -> Result<u64, ParseError> {
        let field = fields
            .next()
            .ok_or_else(|| ParseError::new(1, format!("missing {what}")))?;
        field
            .parse::<u64>()
            .map_err(|_| ParseError::new(1, format!("{what} {field:?} is not a number")))
    };
    let utime = ticks("utime")?;
    let stime = ticks("stime")?;
    Ok(utime.saturating_add(stime))
}

/// Parses `/proc/self/status`; returns `VmRSS` in bytes.
pub fn parse_status_rss(text: &str) -> Result<u64, ParseError> {
    for (line_idx, line) in text.lines().enumerate() {
        let Some(value) = line.strip_prefix("VmRSS:") else {
            continue;
        };
        let kib = value
            .trim()
            .strip_suffix("kB")
            .map(str::trim)
            .and_then(|number| number.parse::<u64>().ok())
            .ok_or_else(|| {
                ParseError::new(
                    line_idx + 1,
                    format!("VmRSS {:?} is not N kB", value.trim()),
                )
            })?;
        return Ok(kib.saturating_mul(1024));
    }
    Err(ParseError::new(1, "missing VmRSS"))
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on every common Linux).
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        // SAFETY: sysconf only reads a configuration value; it has no pointer arguments and no
        // memory-safety preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks > 0 { ticks as f64 } else { 100.0 }
    })
}

/// Appends the agent's self-metrics.
pub fn collect(sources: &mut Sources, out: &mut Vec<Sample>) -> Result<(), CollectorError> {
    let stat = sources.procfs.read("self/stat")?;
    let ticks = parse_stat(&stat).map_err(|error| error.at(sources.procfs.path("self/stat")))?;
    let status = sources.procfs.read("self/status")?;
    let rss =
        parse_status_rss(&status).map_err(|error| error.at(sources.procfs.path("self/status")))?;
    out.push(sample(
        "agent_cpu_seconds_total",
        ticks as f64 / clock_ticks_per_second(),
    ));
    out.push(sample("agent_resident_bytes", rss as f64));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfs::Procfs;
    use crate::collectors::tests::fixture_root;

    #[test]
    fn agent_parse_stat_counts_fields_after_the_last_paren() {
        let procfs = Procfs::new(fixture_root());
        // The fixture's command name is "vigil) agent": utime 250 + stime 150.
        assert_eq!(parse_stat(&procfs.read("self/stat").unwrap()), Ok(400));
        assert_eq!(
            parse_stat("1 (x) S 1 2").unwrap_err().message,
            "missing utime"
        );
        assert_eq!(
            parse_stat("no paren here").unwrap_err().message,
            "missing ')' after the command name"
        );
    }

    #[test]
    fn agent_parse_status_reads_vm_rss() {
        let procfs = Procfs::new(fixture_root());
        assert_eq!(
            parse_status_rss(&procfs.read("self/status").unwrap()),
            Ok(4096 * 1024)
        );
        assert_eq!(
            parse_status_rss("Name:\tx\n").unwrap_err().message,
            "missing VmRSS"
        );
        assert_eq!(
            parse_status_rss("VmRSS:\tlots\n").unwrap_err(),
            ParseError::new(1, "VmRSS \"lots\" is not N kB")
        );
    }

    #[test]
    fn agent_collect_reads_the_real_process() {
        let mut sources = crate::collectors::tests::sources(std::path::Path::new("/"));
        let mut out = Vec::new();
        collect(&mut sources, &mut out).unwrap();
        assert_eq!(out[0].name, "agent_cpu_seconds_total");
        assert!(out[1].value > 0.0);
    }
}
