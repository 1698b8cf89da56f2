//! The `memory` collector: RAM and swap from sysinfo (`/proc/meminfo`; RAM and swap only).
//!
//! Samples: `memory_total_bytes`, `memory_used_bytes`, `memory_available_bytes`,
//! `swap_total_bytes`, `swap_used_bytes`.

use sysinfo::MemoryRefreshKind;
use vigil_shared::wire::Sample;

use super::{CollectorError, Sources, sample};

/// Appends the memory samples.
pub fn collect(sources: &mut Sources, out: &mut Vec<Sample>) -> Result<(), CollectorError> {
    let system = &mut sources.system;
    system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram().with_swap());
    if system.total_memory() == 0 {
        return Err(CollectorError::Empty("total memory"));
    }
    out.push(sample("memory_total_bytes", system.total_memory() as f64));
    out.push(sample("memory_used_bytes", system.used_memory() as f64));
    out.push(sample(
        "memory_available_bytes",
        system.available_memory() as f64,
    ));
    out.push(sample("swap_total_bytes", system.total_swap() as f64));
    out.push(sample("swap_used_bytes", system.used_swap() as f64));
    Ok(())
}
