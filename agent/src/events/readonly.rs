//! `fs_readonly:MOUNTPOINT`: a real filesystem that was mounted read-write is now read-only (the
//! kernel does this on I/O errors with `errors=remount-ro`). Firing, critical; resolved when it is
//! read-write again or unmounted. Filesystems already read-only when the agent starts (e.g. a
//! deliberately read-only `/boot/efi`) are the baseline, not an event. The mount point is in
//! `labels.mountpoint`.

use std::collections::BTreeMap;

use vigil_shared::wire::{Event, InventoryFilesystem};
use vigil_shared::{Labels, Severity, Status};

/// Remembers each mount point's mode and which ones fired.
#[derive(Debug, Default)]
pub struct ReadOnlyDetector {
    /// Mount point → read-only, from the last tick; `None` before the first.
    modes: Option<BTreeMap<String, bool>>,
    firing: Vec<String>,
}

impl ReadOnlyDetector {
    /// Compares this tick's modes with the last ones.
    pub fn check(
        &mut self,
        filesystems: &[InventoryFilesystem],
        read_only: &[String],
        now_ms: i64,
        out: &mut Vec<Event>,
    ) {
        let current: BTreeMap<String, bool> = filesystems
            .iter()
            .map(|fs| (fs.mountpoint.clone(), read_only.contains(&fs.mountpoint)))
            .collect();
        let Some(previous) = self.modes.replace(current) else {
            return;
        };
        let Some(current) = &self.modes else {
            return;
        };
        for (mountpoint, ro) in current {
            if *ro && previous.get(mountpoint) == Some(&false) && !self.firing.contains(mountpoint)
            {
                tracing::error!(mountpoint = %mountpoint, "filesystem remounted read-only");
                self.firing.push(mountpoint.clone());
                out.push(event(
                    mountpoint,
                    Status::Firing,
                    format!("filesystem {mountpoint} was remounted read-only"),
                    now_ms,
                ));
            }
        }
        let mut still_firing = Vec::with_capacity(self.firing.len());
        for mountpoint in std::mem::take(&mut self.firing) {
            match current.get(&mountpoint) {
                Some(true) => still_firing.push(mountpoint),
                Some(false) => out.push(event(
                    &mountpoint,
                    Status::Resolved,
                    format!("filesystem {mountpoint} is read-write again"),
                    now_ms,
                )),
                None => out.push(event(
                    &mountpoint,
                    Status::Resolved,
                    format!("filesystem {mountpoint} is no longer mounted"),
                    now_ms,
                )),
            }
        }
        self.firing = still_firing;
    }
}

fn event(mountpoint: &str, status: Status, summary: String, now_ms: i64) -> Event {
    super::event(
        format!("fs_readonly:{mountpoint}"),
        status,
        Severity::Critical,
        summary,
        Labels::from([("mountpoint".to_owned(), mountpoint.to_owned())]),
        now_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(mountpoint: &str) -> InventoryFilesystem {
        InventoryFilesystem {
            mountpoint: mountpoint.into(),
            ..InventoryFilesystem::default()
        }
    }

    #[test]
    fn readonly_fires_on_rw_to_ro_and_resolves_on_rw() {
        let mut detector = ReadOnlyDetector::default();
        let all = [fs("/"), fs("/data"), fs("/boot/efi")];
        let mut out = Vec::new();
        // Read-only at start: the baseline.
        detector.check(&all, &["/boot/efi".into()], 1, &mut out);
        detector.check(&all, &["/boot/efi".into()], 2, &mut out);
        assert!(out.is_empty());
        detector.check(&all, &["/boot/efi".into(), "/data".into()], 3, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].check, "fs_readonly:/data");
        assert_eq!(out[0].status, Status::Firing);
        assert_eq!(out[0].severity, Severity::Critical);
        assert_eq!(out[0].labels["mountpoint"], "/data");
        detector.check(&all, &["/boot/efi".into(), "/data".into()], 4, &mut out);
        assert_eq!(out.len(), 1, "no repeat");
        detector.check(&all, &["/boot/efi".into()], 5, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].status, Status::Resolved);
    }

    #[test]
    fn readonly_resolves_when_unmounted() {
        let mut detector = ReadOnlyDetector::default();
        let mut out = Vec::new();
        detector.check(&[fs("/x")], &[], 1, &mut out);
        detector.check(&[fs("/x")], &["/x".into()], 2, &mut out);
        detector.check(&[], &[], 3, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[1].summary.contains("no longer mounted"));
    }
}
