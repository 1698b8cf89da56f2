//! The host inventory (the CMDB configuration item): OS, kernel, architecture, CPU model and
//! count, memory, real filesystems, network interfaces, agent version and `[topology]`.
//!
//! The parts that cannot change while the agent runs (OS, kernel, arch, CPU model) are read once
//! at start ([`StaticInventory`]); the rest is taken from what the collectors saw on their last
//! run, so building the inventory costs no extra refresh. MAC addresses are read once per
//! interface name from `sys/class/net/<name>/address` under the same root as procfs. IP addresses
//! (`10.0.0.5/24`, `fe80::1/64`) come from `getifaddrs(3)` ([`read_addresses`]), re-read at most
//! once a minute ([`ADDRESS_REFRESH`]) so an address change still reaches the inventory.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

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

/// How often interface addresses are re-read.
pub const ADDRESS_REFRESH: Duration = Duration::from_secs(60);

/// The prefix length of a netmask given as bytes (contiguous ones; `None` otherwise).
pub fn prefix_len(mask: &[u8]) -> Option<u32> {
    let ones: u32 = mask.iter().map(|byte| byte.count_ones()).sum();
    let contiguous = mask
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |bit| byte >> bit & 1 == 1))
        .skip(ones as usize)
        .all(|bit| !bit);
    contiguous.then_some(ones)
}

/// `IP/prefix` per interface name, from `getifaddrs(3)`; empty when it fails.
pub fn read_addresses() -> HashMap<String, Vec<String>> {
    let mut addresses: HashMap<String, Vec<String>> = HashMap::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a pointer to a list it allocates into `head`; we free it below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return addresses;
    }
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a non-null node of the list getifaddrs returned, alive until
        // freeifaddrs; its fields are valid per getifaddrs(3).
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and points to a sockaddr whose family says its real type;
        // the netmask, when non-null, has the same family.
        let parsed = unsafe {
            match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let addr = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    let ip = Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
                    let prefix = (!entry.ifa_netmask.is_null())
                        .then(|| {
                            let mask = &*(entry.ifa_netmask as *const libc::sockaddr_in);
                            prefix_len(&mask.sin_addr.s_addr.to_ne_bytes())
                        })
                        .flatten();
                    Some((IpAddr::V4(ip), prefix.unwrap_or(32)))
                }
                libc::AF_INET6 => {
                    let addr = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    let ip = Ipv6Addr::from(addr.sin6_addr.s6_addr);
                    let prefix = (!entry.ifa_netmask.is_null())
                        .then(|| {
                            let mask = &*(entry.ifa_netmask as *const libc::sockaddr_in6);
                            prefix_len(&mask.sin6_addr.s6_addr)
                        })
                        .flatten();
                    Some((IpAddr::V6(ip), prefix.unwrap_or(128)))
                }
                _ => None,
            }
        };
        if let Some((ip, prefix)) = parsed {
            addresses
                .entry(name)
                .or_default()
                .push(format!("{ip}/{prefix}"));
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    for list in addresses.values_mut() {
        list.sort();
        list.dedup();
    }
    addresses
}

/// Builds the inventory from the static facts and the collectors' last view.
pub fn build(
    static_inventory: &StaticInventory,
    sources: &Sources,
    macs: &mut HashMap<String, String>,
    addresses: &HashMap<String, Vec<String>>,
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
                addresses: addresses.get(name).cloned().unwrap_or_default(),
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
    fn inventory_prefix_len_counts_contiguous_ones() {
        assert_eq!(prefix_len(&[255, 255, 255, 0]), Some(24));
        assert_eq!(prefix_len(&[255, 255, 240, 0]), Some(20));
        assert_eq!(prefix_len(&[0, 0, 0, 0]), Some(0));
        assert_eq!(prefix_len(&[255, 0, 255, 0]), None);
        assert_eq!(prefix_len(&[0xff; 16]), Some(128));
    }

    #[test]
    fn inventory_reads_loopback_addresses() {
        let addresses = read_addresses();
        let lo = addresses.get("lo").expect("lo has addresses");
        assert!(lo.contains(&"127.0.0.1/8".to_owned()), "{lo:?}");
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
