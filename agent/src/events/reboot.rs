//! `reboot`: the host's boot time differs from the one the last run recorded in `--state-dir`
//! ([`crate::state::State::swap_boot_time`]). Firing, warning, one-shot. The kernel derives boot
//! time from the clock and uptime, so it may wobble by a second; differences up to
//! [`TOLERANCE_SECONDS`] are not a reboot.

use vigil_shared::wire::Event;
use vigil_shared::{Labels, Severity, Status};

/// Boot-time differences up to this are noise.
pub const TOLERANCE_SECONDS: u64 = 5;

/// The `reboot` event, when `boot_time` (Unix s) is not the `previous` one.
pub fn detect(previous: Option<u64>, boot_time: u64, now_ms: i64) -> Option<Event> {
    let previous = previous?;
    if previous.abs_diff(boot_time) <= TOLERANCE_SECONDS {
        return None;
    }
    tracing::warn!(boot_time, previous, "the host rebooted since the last run");
    Some(super::event(
        "reboot",
        Status::Firing,
        Severity::Warning,
        format!("host rebooted (boot time {boot_time}, previously {previous}, Unix seconds)"),
        Labels::from([("boot_time".to_owned(), boot_time.to_string())]),
        now_ms,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_needs_a_previous_and_a_real_difference() {
        assert!(detect(None, 1_000, 1).is_none());
        assert!(detect(Some(1_000), 1_003, 1).is_none());
        let event = detect(Some(1_000), 5_000, 1).unwrap();
        assert_eq!(event.check, "reboot");
        assert_eq!(event.severity, Severity::Warning);
        assert_eq!(event.status, Status::Firing);
    }
}
