//! Host events end to end, against the test receiver: `agent_start`, `reboot` (a boot time in the
//! state dir from "another boot"), `clock_skew` (the receiver's `Date` header an hour off), a
//! watched log file across rotation, the inventory with addresses, and `agent_stop` on SIGTERM.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use vigil_e2e::{Agent, eventually};

use crate::receiver;

fn append(path: &std::path::Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

#[tokio::test]
async fn agent_events_report_reboot_skew_logs_and_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    // The last run saw another boot.
    std::fs::write(state.join("boot_time"), "1000\n").unwrap();
    let log = tmp.path().join("app.log");
    append(&log, "ERROR from before the agent started\n");
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "clock_skew_threshold = \"30s\"\n[[log]]\nname = \"app\"\npath = \"{}\"\npattern = \"ERROR|FATAL\"\nseverity = \"minor\"\n",
            log.display()
        ),
    )
    .unwrap();
    let (url, shared) = receiver::start();
    shared.date_offset_s.store(-3_600, Ordering::SeqCst);
    let mut agent = Agent::start(
        &state,
        &url,
        "events-host",
        "300ms",
        &["--config", config.to_str().unwrap()],
    );

    let find = |check: &str, status: &str| {
        shared
            .events()
            .into_iter()
            .find(|(c, s, _)| c == check && s == status)
            .map(|(_, _, summary)| summary)
    };
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            match (
                find("agent_start", "firing"),
                find("reboot", "firing"),
                find("clock_skew", "firing"),
            ) {
                (Some(_), Some(_), Some(skew)) => Ok(skew),
                other => Err(format!("{other:?} in {:?}", shared.events())),
            }
        },
    )
    .await;
    let skew = find("clock_skew", "firing").unwrap();
    assert!(skew.contains("ahead of the collector"), "{skew}");
    assert_eq!(
        std::fs::read_to_string(state.join("boot_time"))
            .unwrap()
            .trim(),
        std::fs::read_to_string("/proc/stat")
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("btime "))
            .unwrap()
            .trim()
    );

    // The inventory arrived with the first batch, with addresses for some interface when the
    // host has a non-loopback one.
    let inventory = shared.accepted.lock().unwrap()[0]
        .inventory
        .clone()
        .unwrap();
    assert!(inventory.cpu_cores >= 1);
    if !inventory.interfaces.is_empty() {
        assert!(
            inventory.interfaces.iter().any(|i| !i.addresses.is_empty()),
            "{:?}",
            inventory.interfaces
        );
    }
    assert_eq!(
        shared
            .accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|batch| batch.inventory.is_some())
            .count(),
        1,
        "the inventory is not in every batch"
    );

    // The clock is back: resolved.
    shared.date_offset_s.store(0, Ordering::SeqCst);
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async { find("clock_skew", "resolved").ok_or_else(|| format!("{:?}", shared.events())) },
    )
    .await;

    // Log lines: old ones are not news; new ones are, across a rotation.
    append(&log, "INFO all good\nERROR disk on fire\n");
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async { find("log:app", "firing").ok_or_else(|| format!("{:?}", shared.events())) },
    )
    .await;
    std::fs::rename(&log, tmp.path().join("app.log.1")).unwrap();
    append(&log, "FATAL after rotation\n");
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let logs: Vec<String> = shared
                .events()
                .into_iter()
                .filter(|(check, _, _)| check == "log:app")
                .map(|(_, _, summary)| summary)
                .collect();
            if logs == ["ERROR disk on fire", "FATAL after rotation"] {
                Ok(())
            } else {
                Err(format!("{logs:?}"))
            }
        },
    )
    .await;

    // SIGTERM: agent_stop arrives, exit 0.
    let status = agent.process.terminate(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(
        find("agent_stop", "firing").is_some(),
        "{:?}",
        shared.events()
    );
    assert!(find("reboot", "firing").is_some());
    let reboots = shared
        .events()
        .iter()
        .filter(|(check, _, _)| check == "reboot")
        .count();
    assert_eq!(reboots, 1);
}
