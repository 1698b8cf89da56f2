//! The `network` collector: per-interface traffic counters from `/proc/net/dev`.
//!
//! One read of `/proc/net/dev` costs far less than sysinfo's networks refresh (about ten sysfs
//! files per interface) and also has the drop counters. The loopback interface `lo` is skipped.
//!
//! Samples, each with label `interface`: `network_receive_bytes_total`,
//! `network_transmit_bytes_total`, `network_receive_packets_total`,
//! `network_transmit_packets_total`, `network_receive_errors_total`,
//! `network_transmit_errors_total`, `network_receive_drops_total`,
//! `network_transmit_drops_total`.

use vigil_shared::wire::Sample;

use super::{CollectorError, ParseError, Sources, labeled};

/// Counters of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// Interface name.
    pub name: String,
    /// Received bytes.
    pub receive_bytes: u64,
    /// Received packets.
    pub receive_packets: u64,
    /// Receive errors.
    pub receive_errors: u64,
    /// Dropped on receive.
    pub receive_drops: u64,
    /// Transmitted bytes.
    pub transmit_bytes: u64,
    /// Transmitted packets.
    pub transmit_packets: u64,
    /// Transmit errors.
    pub transmit_errors: u64,
    /// Dropped on transmit.
    pub transmit_drops: u64,
}

/// Parses `/proc/net/dev`: two header lines, then `name: 8 receive fields 8 transmit fields`.
/// `lo` is left out.
pub fn parse(text: &str) -> Result<Vec<InterfaceCounters>, ParseError> {
    let mut interfaces = Vec::new();
    for (line_idx, line) in text.lines().enumerate().skip(2) {
        let line_number = line_idx + 1;
        if line.trim().is_empty() {
            continue;
        }
        let (name, counters) = line
            .split_once(':')
            .ok_or_else(|| ParseError::new(line_number, "missing ':' after the interface name"))?;
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let mut values = [0u64; 16];
        let mut n_values = 0;
        for field in counters.split_whitespace() {
            let slot = values.get_mut(n_values).ok_or_else(|| {
                ParseError::new(
                    line_number,
                    format!("interface {name}: more than 16 counters"),
                )
            })?;
            *slot = field.parse().map_err(|_| {
                ParseError::new(
                    line_number,
                    format!("interface {name}: counter {field:?} is not a number"),
                )
            })?;
            n_values += 1;
        }
        if n_values != 16 {
            return Err(ParseError::new(
                line_number,
                format!("interface {name}: expected 16 counters, found {n_values}"),
            ));
        }
        interfaces.push(InterfaceCounters {
            name: name.to_owned(),
            receive_bytes: values[0],
            receive_packets: values[1],
            receive_errors: values[2],
            receive_drops: values[3],
            transmit_bytes: values[8],
            transmit_packets: values[9],
            transmit_errors: values[10],
            transmit_drops: values[11],
        });
    }
    Ok(interfaces)
}

/// Appends the network samples and records the interface names for the inventory.
pub fn collect(sources: &mut Sources, out: &mut Vec<Sample>) -> Result<(), CollectorError> {
    let text = sources.procfs.read("net/dev")?;
    let interfaces = parse(&text).map_err(|error| error.at(sources.procfs.path("net/dev")))?;
    sources.interfaces.clear();
    for interface in &interfaces {
        let labels = [("interface", interface.name.as_str())];
        for (name, value) in [
            ("network_receive_bytes_total", interface.receive_bytes),
            ("network_transmit_bytes_total", interface.transmit_bytes),
            ("network_receive_packets_total", interface.receive_packets),
            ("network_transmit_packets_total", interface.transmit_packets),
            ("network_receive_errors_total", interface.receive_errors),
            ("network_transmit_errors_total", interface.transmit_errors),
            ("network_receive_drops_total", interface.receive_drops),
            ("network_transmit_drops_total", interface.transmit_drops),
        ] {
            out.push(labeled(name, &labels, value as f64));
        }
        sources.interfaces.push(interface.name.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfs::Procfs;
    use crate::collectors::tests::fixture_root;

    const HEADER: &str = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    #[test]
    fn network_parse_reads_counters_and_skips_lo() {
        let text = format!(
            "{HEADER}    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0\n\
             eth0: 61835494    3113    2    5    0     0          0         0   171179    1659    1    7    0     0       0          0\n"
        );
        assert_eq!(
            parse(&text),
            Ok(vec![InterfaceCounters {
                name: "eth0".into(),
                receive_bytes: 61_835_494,
                receive_packets: 3_113,
                receive_errors: 2,
                receive_drops: 5,
                transmit_bytes: 171_179,
                transmit_packets: 1_659,
                transmit_errors: 1,
                transmit_drops: 7,
            }])
        );
    }

    #[test]
    fn network_parse_handles_names_glued_to_counters() {
        // Large counters leave no space after the colon.
        let text = format!("{HEADER}veth1a2b:12345678901 1 0 0 0 0 0 0 2 3 0 0 0 0 0 0\n");
        let interfaces = parse(&text).unwrap();
        assert_eq!(interfaces[0].name, "veth1a2b");
        assert_eq!(interfaces[0].receive_bytes, 12_345_678_901);
        assert_eq!(interfaces[0].transmit_packets, 3);
    }

    #[test]
    fn network_parse_rejects_short_and_bad_lines() {
        let error = parse(&format!("{HEADER}eth0: 1 2 3\n")).unwrap_err();
        assert_eq!(
            error,
            ParseError::new(3, "interface eth0: expected 16 counters, found 3")
        );
        let error = parse(&format!("{HEADER}eth0 1 2 3\n")).unwrap_err();
        assert_eq!(error.message, "missing ':' after the interface name");
        let error = parse(&format!(
            "{HEADER}eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n"
        ))
        .unwrap_err();
        assert_eq!(
            error.message,
            "interface eth0: counter \"x\" is not a number"
        );
    }

    #[test]
    fn network_parse_reads_fixture() {
        let text = Procfs::new(fixture_root()).read("net/dev").unwrap();
        let names: Vec<String> = parse(&text).unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(names, vec!["ifb0", "ifb1", "eth0"]);
    }
}
