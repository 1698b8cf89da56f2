//! The host inventory (the CMDB configuration item): OS, kernel, architecture, CPU model and
//! count, memory, real filesystems, network interfaces, agent version and `[topology]`.
//!
//! The parts that cannot change while the agent runs (OS, kernel, arch, CPU model) are read once
//! at start ([`StaticInventory`]); the rest is taken from what the collectors saw on their last
//! run, so building the inventory costs no extra refresh. MAC addresses are read once per
//! interface name from `sys/class/net/<name>/address` under the same root as procfs. IP addresses
//! are left empty for now (reading them needs `getifaddrs` or netlink, not worth it yet).

use std::collections::HashMap;

use sysinfo::System;
use vigil_shared::wire::{Inventory, InventoryInterface};

use super::Sources;
use super::procfs::Procfs;

/// What does not change while the agent runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticInventory {
    /// OS name.
    pub os: String,
    /// OS version.
    pub os_version: String,
    /// Kernel version.
    pub kernel: String,
    /// CPU architecture.
    pub arch: String,
    /// CPU model.
    pub cpu_model: String,
}

impl StaticInventory {
    /// Reads the static facts; anything unreadable is left empty (logged at debug).
    pub fn read(system: &System, procfs: &Procfs) -> StaticInventory {
        let text_or_empty = |what: &str, value: Result<String, sysinfo::Error>| {
            value.unwrap_or_else(|error| {
                tracing::debug!(collector = "inventory", error = %error, "{what} is unavailable");
                String::new()
            })
        };
        let mut cpu_model = system
            .cpus()
            .first()
            .map(|cpu| cpu.brand().trim().to_owned())
            .unwrap_or_default();
        if cpu_model.is_empty()
            && let Ok(Some(text)) = procfs.read_optional("cpuinfo")
        {
            cpu_model = parse_cpu_model(&text).unwrap_or_default();
        }
        StaticInventory {
            os: text_or_empty("os name", System::name()),
            os_version: text_or_empty("os version", System::os_version()),
            kernel: text_or_empty("kernel version", System::kernel_version()),
            arch: System::cpu_arch(),
            cpu_model,
        }
    }
}

/// The CPU model from `/proc/cpuinfo` (`model name` on x86, `Hardware`/`Processor` elsewhere).
pub fn parse_cpu_model(text: &str) -> Option<String> {
    ["model name", "Hardware", "Processor", "cpu model"]
        .iter()
        .find_map(|key| {
            text.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == *key && !value.trim().is_empty()).then(|| value.trim().to_owned())
            })
        })
}

/// Builds the inventory from the static facts and the collectors' last view.
pub fn build(
    static_inventory: &StaticInventory,
    sources: &Sources,
    macs: &mut HashMap<String, String>,
    depends_on: &[String],
) -> Inventory {
    let interfaces = sources
        .interfaces
        .iter()
        .map(|name| {
            let mac = macs
                .entry(name.clone())
                .or_insert_with(|| read_mac(sources.procfs.root(), name))
                .clone();
            InventoryInterface {
                name: name.clone(),
                mac,
                addresses: Vec::new(),
            }
        })
        .collect();
    Inventory {
        os: static_inventory.os.clone(),
        os_version: static_inventory.os_version.clone(),
        kernel: static_inventory.kernel.clone(),
        arch: static_inventory.arch.clone(),
        cpu_model: static_inventory.cpu_model.clone(),
        cpu_cores: u32::try_from(sources.system.cpus().len()).unwrap_or(u32::MAX),
        memory_bytes: sources.system.total_memory(),
        filesystems: sources.filesystems.clone(),
        interfaces,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        depends_on: depends_on.to_vec(),
    }
}

/// The MAC address of an interface, or empty when unknown (or all zeros, as on tunnels).
fn read_mac(root: &std::path::Path, name: &str) -> String {
    if name.contains('/') || name.starts_with('.') {
        return String::new();
    }
    let path = root.join("sys/class/net").join(name).join("address");
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mac = text.trim();
            if mac.chars().all(|c| c == '0' || c == ':') {
                String::new()
            } else {
                mac.to_owned()
            }
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_parse_cpu_model_prefers_model_name() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(
            parse_cpu_model(text).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(
            parse_cpu_model("processor : 0\nHardware : BCM2835\n").as_deref(),
            Some("BCM2835")
        );
        assert_eq!(parse_cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn inventory_read_mac_ignores_missing_and_zero() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("sys/class/net");
        std::fs::create_dir_all(net.join("eth0")).unwrap();
        std::fs::create_dir_all(net.join("tun0")).unwrap();
        std::fs::write(net.join("eth0/address"), "52:54:00:12:34:56\n").unwrap();
        std::fs::write(net.join("tun0/address"), "00:00:00:00:00:00\n").unwrap();
        assert_eq!(read_mac(dir.path(), "eth0"), "52:54:00:12:34:56");
        assert_eq!(read_mac(dir.path(), "tun0"), "");
        assert_eq!(read_mac(dir.path(), "wlan0"), "");
        assert_eq!(read_mac(dir.path(), "../x"), "");
    }
}
