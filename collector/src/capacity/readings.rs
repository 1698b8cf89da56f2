//! Which agent samples are capacity and what exhausts them: one batch's samples → one
//! [`Reading`] per resource. Pure.
//!
//! | resource | used | capacity | unit |
//! |---|---|---|---|
//! | `filesystem:<mountpoint>` | `size − avail` (what `df` counts as used, plus the blocks reserved for root) | `size` | bytes |
//! | `inodes:<mountpoint>` | `inodes_total − inodes_free` | `inodes_total` | inodes |
//! | `memory` | `total − available` | `total` | bytes |
//! | `swap` | `used` | `total` (none when 0) | bytes |
//! | `cpu` | `cpu_usage_ratio` | 1 | ratio |
//! | `load` | `load1` | none (the CPU count is no limit: a load over it queues, it does not fail) | load |
//! | `probe_latency:<probe>` | `probe_latency_seconds` | none | seconds |
//!
//! A filesystem is full for its users when `avail` reaches 0 (writes fail then, while `used /
//! size` is still below 1), so `size − avail` is what crosses `size` at exhaustion.

use std::borrow::Cow;
use vigil_shared::wire::view::SampleView;

/// One resource's value in one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// `filesystem:/data`, `memory`, ... (the fixed names are not allocated).
    pub resource: Cow<'static, str>,
    /// The unit of `used` and `capacity`.
    pub unit: &'static str,
    /// The value.
    pub used: f64,
    /// What exhausts it, when something does.
    pub capacity: Option<f64>,
}

impl Reading {
    /// The same reading, borrowed.
    pub fn as_view(&self) -> ReadingView<'_> {
        ReadingView {
            prefix: "",
            suffix: &self.resource,
            unit: self.unit,
            used: self.used,
            capacity: self.capacity,
        }
    }
}

/// A [`Reading`] that borrows its name from the batch: the resource is `prefix` + `suffix`
/// (`memory` + nothing, `filesystem:` + the mountpoint), so that a batch's readings are made on
/// the ingest path without allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadingView<'a> {
    /// A fixed resource name, or a kind with its colon (`filesystem:`).
    pub prefix: &'static str,
    /// What follows `prefix`: the mountpoint or probe (empty for a fixed name).
    pub suffix: &'a str,
    /// The unit of `used` and `capacity`.
    pub unit: &'static str,
    /// The value.
    pub used: f64,
    /// What exhausts it, when something does.
    pub capacity: Option<f64>,
}

impl ReadingView<'_> {
    /// The resource name, written at the end of `out`.
    pub fn write_resource(&self, out: &mut String) {
        out.push_str(self.prefix);
        out.push_str(self.suffix);
    }

    /// The owned reading.
    pub fn to_reading(&self) -> Reading {
        let resource = match (self.prefix, self.suffix) {
            (fixed, "") => Cow::Borrowed(fixed),
            ("", name) => Cow::Owned(name.to_owned()),
            (prefix, suffix) => Cow::Owned(format!("{prefix}{suffix}")),
        };
        Reading {
            resource,
            unit: self.unit,
            used: self.used,
            capacity: self.capacity,
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Filesystem {
    size: Option<f64>,
    avail: Option<f64>,
    inodes_total: Option<f64>,
    inodes_free: Option<f64>,
}

/// The capacity readings of one batch's samples, sorted by resource.
pub fn readings(samples: &[SampleView<'_>]) -> Vec<Reading> {
    let mut out = Vec::with_capacity(8);
    each_reading(samples, |reading| out.push(reading.to_reading()));
    out.sort_by(|a, b| a.resource.cmp(&b.resource));
    out
}

/// Hands each capacity reading of one batch's samples to `emit` (probe latencies in the
/// samples' order, then filesystems and inodes by mountpoint in order of first sight, then
/// memory, swap, cpu and load); allocates nothing for a host with at most 8 filesystems.
pub fn each_reading<'a>(samples: &'a [SampleView<'_>], mut emit: impl FnMut(ReadingView<'a>)) {
    // Few per host: a list, not a map, kept on the stack while it fits.
    const INLINE: usize = 8;
    let mut inline: [(&str, Filesystem); INLINE] = [("", Filesystem::default()); INLINE];
    let mut n_inline = 0;
    let mut spilled: Vec<(&str, Filesystem)> = Vec::new();
    let (mut memory_total, mut memory_available) = (None, None);
    let (mut swap_total, mut swap_used) = (None, None);
    let (mut cpu, mut load) = (None, None);
    for sample in samples {
        let label = |name: &str| {
            sample
                .labels
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value)
        };
        let value = Some(sample.value).filter(|value| value.is_finite());
        match sample.name.as_ref() {
            name @ ("filesystem_size_bytes"
            | "filesystem_avail_bytes"
            | "filesystem_inodes_total"
            | "filesystem_inodes_free") => {
                let Some(mountpoint) = label("mountpoint") else {
                    continue;
                };
                let filesystem = match inline[..n_inline]
                    .iter()
                    .position(|(seen, _)| *seen == mountpoint)
                {
                    Some(idx) => &mut inline[idx].1,
                    None => match spilled.iter().position(|(seen, _)| *seen == mountpoint) {
                        Some(idx) => &mut spilled[idx].1,
                        None if n_inline < INLINE => {
                            inline[n_inline] = (mountpoint, Filesystem::default());
                            n_inline += 1;
                            &mut inline[n_inline - 1].1
                        }
                        None => {
                            spilled.push((mountpoint, Filesystem::default()));
                            let last = spilled.len() - 1;
                            &mut spilled[last].1
                        }
                    },
                };
                let slot = match name {
                    "filesystem_size_bytes" => &mut filesystem.size,
                    "filesystem_avail_bytes" => &mut filesystem.avail,
                    "filesystem_inodes_total" => &mut filesystem.inodes_total,
                    _ => &mut filesystem.inodes_free,
                };
                *slot = value;
            }
            "memory_total_bytes" => memory_total = value,
            "memory_available_bytes" => memory_available = value,
            "swap_total_bytes" => swap_total = value,
            "swap_used_bytes" => swap_used = value,
            "cpu_usage_ratio" => cpu = value,
            "load1" => load = value,
            "probe_latency_seconds" => {
                if let (Some(probe), Some(latency)) = (label("probe"), value) {
                    emit(ReadingView {
                        prefix: "probe_latency:",
                        suffix: probe,
                        unit: "seconds",
                        used: latency,
                        capacity: None,
                    });
                }
            }
            _ => {}
        }
    }
    for &(mountpoint, filesystem) in inline[..n_inline].iter().chain(&spilled) {
        if let (Some(size), Some(avail)) = (filesystem.size, filesystem.avail)
            && size > 0.0
        {
            emit(ReadingView {
                prefix: "filesystem:",
                suffix: mountpoint,
                unit: "bytes",
                used: (size - avail).max(0.0),
                capacity: Some(size),
            });
        }
        if let (Some(total), Some(free)) = (filesystem.inodes_total, filesystem.inodes_free)
            && total > 0.0
        {
            emit(ReadingView {
                prefix: "inodes:",
                suffix: mountpoint,
                unit: "inodes",
                used: (total - free).max(0.0),
                capacity: Some(total),
            });
        }
    }
    let fixed =
        |name: &'static str, unit: &'static str, used: f64, capacity: Option<f64>| ReadingView {
            prefix: name,
            suffix: "",
            unit,
            used,
            capacity,
        };
    if let (Some(total), Some(available)) = (memory_total, memory_available)
        && total > 0.0
    {
        emit(fixed(
            "memory",
            "bytes",
            (total - available).max(0.0),
            Some(total),
        ));
    }
    if let (Some(total), Some(used)) = (swap_total, swap_used)
        && total > 0.0
    {
        emit(fixed("swap", "bytes", used, Some(total)));
    }
    if let Some(ratio) = cpu {
        emit(fixed("cpu", "ratio", ratio, Some(1.0)));
    }
    if let Some(load) = load {
        emit(fixed("load", "load", load, None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::wire::view::LabelsView;

    fn sample<'a>(name: &'a str, labels: &[(&'a str, &'a str)], value: f64) -> SampleView<'a> {
        SampleView {
            name: Cow::Borrowed(name),
            labels: LabelsView(
                labels
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v)))
                    .collect(),
            ),
            value,
            time_ms: None,
        }
    }

    #[test]
    fn every_resource_is_derived_from_its_samples() {
        let root = [("device", "/dev/vda1"), ("mountpoint", "/")];
        let data = [("mountpoint", "/data")];
        let samples = [
            sample("filesystem_size_bytes", &root, 100.0),
            sample("filesystem_used_bytes", &root, 40.0),
            sample("filesystem_avail_bytes", &root, 55.0),
            sample("filesystem_inodes_total", &root, 1000.0),
            sample("filesystem_inodes_free", &root, 900.0),
            // Only a size: no reading for /data.
            sample("filesystem_size_bytes", &data, 10.0),
            sample("memory_total_bytes", &[], 8.0),
            sample("memory_used_bytes", &[], 6.0),
            sample("memory_available_bytes", &[], 3.0),
            sample("swap_total_bytes", &[], 0.0),
            sample("swap_used_bytes", &[], 0.0),
            sample("cpu_usage_ratio", &[], 0.25),
            sample("load1", &[], 3.0),
            sample("cpu_count", &[], 2.0),
            sample("probe_latency_seconds", &[("probe", "web")], 0.012),
            sample("probe_latency_seconds", &[("probe", "nan")], f64::NAN),
            sample("uptime_seconds", &[], 5.0),
        ];
        let got: Vec<(String, f64, Option<f64>)> = readings(&samples)
            .into_iter()
            .map(|r| (r.resource.into_owned(), r.used, r.capacity))
            .collect();
        assert_eq!(
            got,
            [
                ("cpu".to_owned(), 0.25, Some(1.0)),
                ("filesystem:/".to_owned(), 45.0, Some(100.0)),
                ("inodes:/".to_owned(), 100.0, Some(1000.0)),
                ("load".to_owned(), 3.0, None),
                ("memory".to_owned(), 5.0, Some(8.0)),
                ("probe_latency:web".to_owned(), 0.012, None),
            ]
        );
    }

    #[test]
    fn a_host_with_more_filesystems_than_fit_on_the_stack_gets_them_all() {
        let mountpoints: Vec<String> = (0..12).map(|i| format!("/m{i:02}")).collect();
        let mut samples = Vec::new();
        for (i, mountpoint) in mountpoints.iter().enumerate() {
            let labels = [("mountpoint", mountpoint.as_str())];
            samples.push(sample("filesystem_size_bytes", &labels, 100.0));
            samples.push(sample("filesystem_inodes_total", &labels, 10.0));
            samples.push(sample("filesystem_inodes_free", &labels, 4.0));
            samples.push(sample("filesystem_avail_bytes", &labels, i as f64));
        }
        // The same mountpoint again later in the batch: its latest values count.
        samples.push(sample(
            "filesystem_avail_bytes",
            &[("mountpoint", "/m11")],
            50.0,
        ));
        let got = readings(&samples);
        assert_eq!(got.len(), 24);
        for (i, mountpoint) in mountpoints.iter().enumerate() {
            let used = |resource: String| {
                got.iter()
                    .find(|reading| reading.resource == resource)
                    .map(|reading| reading.used)
            };
            let expected = if i == 11 { 50.0 } else { 100.0 - i as f64 };
            assert_eq!(used(format!("filesystem:{mountpoint}")), Some(expected));
            assert_eq!(used(format!("inodes:{mountpoint}")), Some(6.0));
        }
    }

    #[test]
    fn a_batch_without_capacity_samples_gives_nothing() {
        assert!(readings(&[sample("uptime_seconds", &[], 5.0)]).is_empty());
        assert!(readings(&[]).is_empty());
    }
}
