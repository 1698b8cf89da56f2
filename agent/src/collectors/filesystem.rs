//! The `filesystem` collector: space and inodes of every real filesystem.
//!
//! The list comes from sysinfo's `Disks` (it reads `/proc/mounts`, refreshed for storage only:
//! one `statvfs` per mount). sysinfo already leaves out `rootfs`, `sysfs`, `proc`, `devtmpfs`,
//! `cgroup*`, `pstore`, `squashfs`, `rpc_pipefs`, `iso9660`, `devpts`, `hugetlbfs`, `mqueue`,
//! `tmpfs` and network filesystems (`nfs*`, `cifs`, `autofs`: `statvfs` on a hung hard mount
//! blocks), and mount points under `/sys`, `/proc` and `/run`. On top of that,
//! [`is_real_filesystem`] drops every other pseudo or virtual type it knows (see
//! [`PSEUDO_FSTYPES`]), all `fuse.*` user-space filesystems except `fuseblk` (block-device
//! backed, e.g. NTFS), and mount points under `/dev`.
//!
//! `overlay` is pseudo (container layers under `/var/lib/docker`) **except when mounted at `/`**:
//! inside a container the overlay root is the only filesystem the agent can see, and `statvfs` on
//! it reports the backing disk that actually fills up, so it is kept there.
//!
//! Entries with the same device and mount point (the same line listed twice, e.g. stacked
//! mounts) are reported once, and filesystems with zero size are skipped.
//!
//! Values come from one `statvfs` per mount (sysinfo is asked for the list only, so no mount is
//! stat'ed twice): `filesystem_size_bytes` (`f_blocks × f_frsize`), `filesystem_used_bytes`
//! (`(f_blocks − f_bfree) × f_frsize`, what `df` shows as used), `filesystem_free_bytes`
//! (`f_bfree`, root-reserved blocks included) and `filesystem_avail_bytes` (`f_bavail`, what an
//! unprivileged user may still write: the figure capacity forecasts should watch, since writes fail
//! when it reaches 0 while used/size is still below 1). Inodes: `filesystem_inodes_total`,
//! `filesystem_inodes_free`, left out when the filesystem has no inode limit (`f_files == 0`,
//! e.g. btrfs).
//!
//! Every sample has labels `mountpoint`, `device` and `fstype`. The mount points found read-only
//! (`ST_RDONLY` from the same `statvfs`) are kept in [`Sources::read_only`] for the `fs_readonly`
//! event.

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sysinfo::DiskRefreshKind;
use vigil_shared::wire::{InventoryFilesystem, Sample};

use super::{CollectorError, Sources, labeled};

/// Filesystem types that never hold user data (beyond what sysinfo filters already).
pub const PSEUDO_FSTYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
];

/// Whether a mount of `fstype` at `mountpoint` is a real filesystem worth reporting.
pub fn is_real_filesystem(fstype: &str, mountpoint: &str) -> bool {
    if fstype == "overlay" && mountpoint == "/" {
        return true;
    }
    if PSEUDO_FSTYPES.contains(&fstype) || (fstype.starts_with("fuse") && fstype != "fuseblk") {
        return false;
    }
    !["/dev", "/proc", "/sys", "/run"]
        .iter()
        .any(|prefix| mountpoint == *prefix || mountpoint.starts_with(&format!("{prefix}/")))
}

/// What `statvfs` says about one filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Total size.
    pub size: u64,
    /// Free, root-reserved blocks included.
    pub free: u64,
    /// Available to unprivileged users.
    pub avail: u64,
    /// Inodes in total (0: no inode limit).
    pub inodes_total: u64,
    /// Free inodes.
    pub inodes_free: u64,
    /// Mounted read-only (`ST_RDONLY`).
    pub read_only: bool,
}

/// `statvfs` of the filesystem at `path`; `None` when it fails.
pub fn usage(path: &Path) -> Option<Usage> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that lives across the call and `stat` points to
    // writable memory the size of `struct statvfs`; statvfs writes nothing else.
    let result = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if result != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled in the whole struct.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let (blocks, bfree, bavail, fragment) = (
        u64::from(stat.f_blocks),
        u64::from(stat.f_bfree),
        u64::from(stat.f_bavail),
        u64::from(stat.f_frsize),
    );
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let (files, ffree) = (u64::from(stat.f_files), u64::from(stat.f_ffree));
    let size = blocks.saturating_mul(fragment);
    Some(Usage {
        size,
        free: bfree.saturating_mul(fragment).min(size),
        avail: bavail.saturating_mul(fragment).min(size),
        inodes_total: files,
        inodes_free: ffree.min(files),
        read_only: (stat.f_flag & libc::ST_RDONLY) != 0,
    })
}

/// Appends the filesystem samples and records the list for the inventory.
pub fn collect(sources: &mut Sources, out: &mut Vec<Sample>) -> Result<(), CollectorError> {
    // The mount list only: sizes come from our own statvfs below.
    sources
        .disks
        .refresh_specifics(true, DiskRefreshKind::nothing());
    let mut found: Vec<InventoryFilesystem> = Vec::with_capacity(sources.filesystems.len());
    sources.read_only.clear();
    for disk in &sources.disks {
        let mountpoint = disk.mount_point().to_string_lossy();
        let fstype = disk.file_system().to_string_lossy();
        let device = disk.name().to_string_lossy();
        if !is_real_filesystem(&fstype, &mountpoint)
            || found
                .iter()
                .any(|seen| seen.mountpoint == mountpoint && seen.device == device)
        {
            continue;
        }
        let Some(usage) = usage(disk.mount_point()).filter(|usage| usage.size > 0) else {
            continue;
        };
        let labels = [
            ("mountpoint", mountpoint.as_ref()),
            ("device", device.as_ref()),
            ("fstype", fstype.as_ref()),
        ];
        out.push(labeled("filesystem_size_bytes", &labels, usage.size as f64));
        out.push(labeled(
            "filesystem_used_bytes",
            &labels,
            (usage.size - usage.free) as f64,
        ));
        out.push(labeled("filesystem_free_bytes", &labels, usage.free as f64));
        out.push(labeled(
            "filesystem_avail_bytes",
            &labels,
            usage.avail as f64,
        ));
        if usage.inodes_total > 0 {
            out.push(labeled(
                "filesystem_inodes_total",
                &labels,
                usage.inodes_total as f64,
            ));
            out.push(labeled(
                "filesystem_inodes_free",
                &labels,
                usage.inodes_free as f64,
            ));
        }
        if usage.read_only {
            sources.read_only.push(mountpoint.to_string());
        }
        found.push(InventoryFilesystem {
            mountpoint: mountpoint.into_owned(),
            device: device.into_owned(),
            fstype: fstype.into_owned(),
            size_bytes: usage.size,
        });
    }
    sources.filesystems = found;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filesystem_keeps_real_types_and_drops_pseudo_ones() {
        for (fstype, mountpoint, real) in [
            ("ext4", "/", true),
            ("xfs", "/var/lib/data", true),
            ("btrfs", "/home", true),
            ("vfat", "/boot/efi", true),
            ("fuseblk", "/mnt/windows", true),
            ("overlay", "/", true),
            ("overlay", "/var/lib/docker/overlay2/abc/merged", false),
            ("tmpfs", "/dev/shm", false),
            ("tmpfs", "/tmp", false),
            ("devtmpfs", "/dev", false),
            ("cgroup2", "/sys/fs/cgroup", false),
            ("nsfs", "/run/netns/x", false),
            ("squashfs", "/snap/core/1", false),
            ("fuse.lxcfs", "/var/lib/lxcfs", false),
            ("fuse.sshfs", "/mnt/remote", false),
            ("nfs4", "/mnt/nfs", false),
            ("ext4", "/run/foo", false),
            ("ext4", "/devices", true),
        ] {
            assert_eq!(
                is_real_filesystem(fstype, mountpoint),
                real,
                "{fstype} at {mountpoint}"
            );
        }
    }

    #[test]
    fn filesystem_usage_reads_root_and_fails_cleanly() {
        let usage = usage(Path::new("/")).unwrap();
        assert!(usage.size > 0);
        assert!(
            usage.avail <= usage.free && usage.free <= usage.size,
            "{usage:?}"
        );
        assert!(usage.inodes_free <= usage.inodes_total);
        assert_eq!(super::usage(Path::new("/nonexistent/vigil")), None);
        assert_eq!(super::usage(Path::new("bad\0path")), None);
    }
}
