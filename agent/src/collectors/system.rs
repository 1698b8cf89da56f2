//! The `system` collector: uptime and boot time from sysinfo (`/proc/uptime`, `/proc/stat`).
//!
//! Samples: `uptime_seconds`, `boot_time_seconds` (Unix seconds).

use sysinfo::System;
use vigil_shared::wire::Sample;

use super::{CollectorError, Sources, sample};

/// Appends the system samples.
pub fn collect(_sources: &mut Sources, out: &mut Vec<Sample>) -> Result<(), CollectorError> {
    let uptime = System::uptime().map_err(|source| CollectorError::Unavailable {
        what: "uptime",
        source,
    })?;
    let boot_time = System::boot_time().map_err(|source| CollectorError::Unavailable {
        what: "boot time",
        source,
    })?;
    out.push(sample("uptime_seconds", uptime as f64));
    out.push(sample("boot_time_seconds", boot_time as f64));
    Ok(())
}
