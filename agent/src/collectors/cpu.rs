//! The `cpu` collector: total and per-core CPU usage (0..1) and the logical CPU count, from
//! sysinfo (`/proc/stat`; usage only, never frequency).
//!
//! Usage is the change between two refreshes at least
//! [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`] apart (a refresh within 200 ms is skipped by
//! sysinfo); [`super::Collectors::new`] does the first refresh, each call here does the next.
//!
//! Samples: `cpu_usage_ratio`, `cpu_core_usage_ratio{cpu="<index>"}`, `cpu_count`.

use sysinfo::CpuRefreshKind;
use vigil_shared::wire::Sample;

use super::{CollectorError, Sources, labeled, percent_to_ratio, sample};

/// Appends the CPU samples.
pub fn collect(sources: &mut Sources, out: &mut Vec<Sample>) -> Result<(), CollectorError> {
    sources
        .system
        .refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
    let cpus = sources.system.cpus();
    if cpus.is_empty() {
        return Err(CollectorError::Empty("cpu list"));
    }
    out.push(sample(
        "cpu_usage_ratio",
        percent_to_ratio(sources.system.global_cpu_usage()),
    ));
    for (cpu_idx, cpu) in cpus.iter().enumerate() {
        let index = cpu_idx.to_string();
        out.push(labeled(
            "cpu_core_usage_ratio",
            &[("cpu", &index)],
            percent_to_ratio(cpu.usage()),
        ));
    }
    out.push(sample("cpu_count", cpus.len() as f64));
    Ok(())
}
