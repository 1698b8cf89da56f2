//! `oom_kill`: the kernel's OOM-kill counter (`oom_kill` in `/proc/vmstat`, Linux 4.13+) grew
//! since the last tick. The first reading is the baseline; a counter that goes down (it cannot,
//! short of a reboot) only resets the baseline.

use std::path::Path;

use vigil_shared::wire::Event;
use vigil_shared::{Labels, Severity, Status};

/// The `oom_kill` value of `/proc/vmstat`, when present.
pub fn parse_vmstat_oom_kill(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == "oom_kill").then(|| value.trim().parse().ok())?
    })
}

/// Remembers the last counter value.
#[derive(Debug, Default)]
pub struct OomDetector {
    last: Option<u64>,
    unreadable_logged: bool,
}

impl OomDetector {
    /// Reads `<root>/proc/vmstat` and appends an event when the counter grew.
    pub fn check(&mut self, root: &Path, now_ms: i64, out: &mut Vec<Event>) {
        let path = root.join("proc/vmstat");
        let current = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| parse_vmstat_oom_kill(&text));
        let Some(current) = current else {
            if !self.unreadable_logged {
                tracing::debug!(path = %path.display(), "no oom_kill counter: OOM kills are not reported");
                self.unreadable_logged = true;
            }
            return;
        };
        if let Some(event) = self.observe(current, now_ms) {
            out.push(event);
        }
    }

    /// Takes one counter value; an event when it grew.
    pub fn observe(&mut self, current: u64, now_ms: i64) -> Option<Event> {
        let previous = self.last.replace(current)?;
        let kills = current.checked_sub(previous).filter(|kills| *kills > 0)?;
        tracing::warn!(kills, "the kernel OOM killer ran");
        let summary = if kills == 1 {
            "the kernel OOM killer killed 1 process since the last sample".to_owned()
        } else {
            format!("the kernel OOM killer killed {kills} processes since the last sample")
        };
        Some(super::event(
            "oom_kill",
            Status::Firing,
            Severity::Major,
            summary,
            Labels::from([("kills".to_owned(), kills.to_string())]),
            now_ms,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_parses_the_counter() {
        let text = "nr_free_pages 1000\noom_kill 7\nnr_foo 3\n";
        assert_eq!(parse_vmstat_oom_kill(text), Some(7));
        assert_eq!(parse_vmstat_oom_kill("oom_kill_x 1\n"), None);
        assert_eq!(parse_vmstat_oom_kill("oom_kill lots\n"), None);
        assert_eq!(parse_vmstat_oom_kill(""), None);
    }

    #[test]
    fn oom_fires_once_per_increase_after_the_baseline() {
        let mut detector = OomDetector::default();
        assert!(detector.observe(5, 1).is_none());
        assert!(detector.observe(5, 2).is_none());
        let event = detector.observe(8, 3).unwrap();
        assert_eq!(event.check, "oom_kill");
        assert_eq!(event.severity, Severity::Major);
        assert!(event.summary.contains("3 processes"), "{}", event.summary);
        assert!(detector.observe(2, 4).is_none());
        assert!(
            detector
                .observe(3, 5)
                .unwrap()
                .summary
                .contains("1 process ")
        );
    }

    #[test]
    fn oom_reads_the_real_vmstat_without_an_event() {
        let mut detector = OomDetector::default();
        let mut out = Vec::new();
        detector.check(Path::new("/"), 1, &mut out);
        detector.check(Path::new("/nonexistent"), 2, &mut out);
        assert!(out.is_empty());
    }
}
