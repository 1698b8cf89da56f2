//! Agent probes against real local peers: an HTTP server and a TCP listener started by the test,
//! and a spawned `sleep` with a unique argument. The agent reports to the test receiver; the test
//! breaks each peer and checks the `probe_*` samples and the `probe:NAME` /
//! `process_restart:NAME` events, then repairs them and checks the resolutions. Also `--once`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use vigil_e2e::{Agent, bin, eventually};

use crate::receiver;

/// A loopback HTTP server answering every request with `status` (and body `ok`).
pub fn http_server() -> (String, Arc<AtomicU16>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let status = Arc::new(AtomicU16::new(200));
    let answer = status.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let code = answer.load(Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    (url, status)
}

/// A `sleep` whose argument is unique to this test run; killed on drop.
pub struct Sleeper {
    child: Child,
}

impl Sleeper {
    /// Starts `sleep <seconds>`.
    pub fn start(seconds: &str) -> Sleeper {
        let child = Command::new("sleep").arg(seconds).spawn().unwrap();
        Sleeper { child }
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `sleep` argument no other process has: 300–399 s with a fraction from the PID and time.
pub fn unique_seconds() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}.{:06}",
        300 + std::process::id() % 100,
        nanos % 1_000_000
    )
}

pub fn write_config(dir: &Path, http: &str, tcp: &str, seconds: &str) -> std::path::PathBuf {
    let path = dir.join("agent.toml");
    let text = format!(
        r#"
[[probe]]
name = "web"
kind = "http"
target = "{http}"
interval = "500ms"
timeout = "400ms"
expect_status = 200
body_match = "^ok$"
failures_before_down = 2
severity = "critical"

[[probe]]
name = "db"
kind = "tcp"
target = "{tcp}"
interval = "500ms"
timeout = "400ms"
failures_before_down = 2

[[probe]]
name = "worker"
kind = "process"
target = '^sleep {}$'
interval = "500ms"
timeout = "400ms"
failures_before_down = 2
"#,
        seconds.replace('.', r"\.")
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn has_event(shared: &receiver::Shared, check: &str, status: &str) -> Result<String, String> {
    let events = shared.events();
    events
        .iter()
        .find(|(c, s, _)| c == check && s == status)
        .map(|(_, _, summary)| summary.clone())
        .ok_or_else(|| format!("no {check} {status} in {events:?}"))
}

#[tokio::test]
async fn agent_probes_report_up_then_down_then_up_against_real_peers() {
    let tmp = tempfile::tempdir().unwrap();
    let (http_url, http_status) = http_server();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_address = tcp.local_addr().unwrap().to_string();
    let seconds = unique_seconds();
    let sleeper = Sleeper::start(&seconds);
    let config = write_config(tmp.path(), &http_url, &tcp_address, &seconds);
    let (url, shared) = receiver::start();
    let agent = Agent::start(
        &tmp.path().join("state"),
        &url,
        "probe-host",
        "500ms",
        &["--config", config.to_str().unwrap()],
    );

    // All three up, with their details.
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let up: Vec<Option<f64>> = ["web", "db", "worker"]
                .iter()
                .map(|probe| shared.latest("probe_up", Some(probe)))
                .collect();
            let details = (
                shared.latest("probe_http_status", Some("web")),
                shared.latest("probe_latency_seconds", Some("web")),
                shared.latest("probe_latency_seconds", Some("db")),
                shared.latest("probe_process_count", Some("worker")),
            );
            if up.iter().all(|value| *value == Some(1.0))
                && details.0 == Some(200.0)
                && details.1.is_some()
                && details.2.is_some()
                && details.3 == Some(1.0)
            {
                Ok(())
            } else {
                Err(format!("up {up:?} details {details:?}"))
            }
        },
    )
    .await;
    assert_eq!(shared.latest("probe_latency_seconds", Some("worker")), None);
    assert_eq!(
        shared.latest("probe_tls_cert_expiry_days", Some("web")),
        None
    );
    assert!(
        shared
            .events()
            .iter()
            .all(|(check, _, _)| !check.starts_with("probe:")),
        "no probe event while everything is up: {:?}",
        shared.events()
    );

    // Break all three: each fires once, with its reason.
    http_status.store(500, Ordering::SeqCst);
    drop(tcp);
    let old_pid = sleeper.pid();
    drop(sleeper);
    let summaries = eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            Ok((
                has_event(&shared, "probe:web", "firing")?,
                has_event(&shared, "probe:db", "firing")?,
                has_event(&shared, "probe:worker", "firing")?,
            ))
        },
    )
    .await;
    assert!(
        summaries.0.contains("status 500, expected 200"),
        "{summaries:?}"
    );
    assert!(summaries.1.contains("connect refused"), "{summaries:?}");
    assert!(summaries.2.contains("0 processes match"), "{summaries:?}");
    assert_eq!(shared.latest("probe_up", Some("web")), Some(0.0));
    let batch_labels = shared
        .accepted
        .lock()
        .unwrap()
        .iter()
        .flat_map(|batch| batch.events.clone())
        .find(|event| event.check == "probe:web")
        .map(|event| (event.severity.as_str(), event.labels["probe"].clone()));
    assert_eq!(batch_labels, Some(("critical", "web".to_owned())));

    // Repair the HTTP server and the process: resolved, and the new PID counts as a restart.
    http_status.store(200, Ordering::SeqCst);
    let sleeper = Sleeper::start(&seconds);
    assert_ne!(sleeper.pid(), old_pid);
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            has_event(&shared, "probe:web", "resolved")?;
            has_event(&shared, "probe:worker", "resolved")?;
            has_event(&shared, "process_restart:worker", "firing")
        },
    )
    .await;
    let firing = shared
        .events()
        .iter()
        .filter(|(check, status, _)| check == "probe:db" && status == "firing")
        .count();
    assert_eq!(firing, 1, "one event per state change, not per failure");
    drop(agent);
}

#[test]
fn agent_once_includes_probe_results() {
    let tmp = tempfile::tempdir().unwrap();
    let (http_url, _status) = http_server();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let seconds = unique_seconds();
    let _sleeper = Sleeper::start(&seconds);
    let config = write_config(
        tmp.path(),
        &http_url,
        &tcp.local_addr().unwrap().to_string(),
        &seconds,
    );
    let output = Command::new(bin("vigil-agent"))
        .args(["--once", "--host-id", "once-host", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let batch: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let samples = batch["samples"].as_array().unwrap();
    for probe in ["web", "db", "worker"] {
        let up = samples
            .iter()
            .find(|s| s["name"] == "probe_up" && s["labels"]["probe"] == probe)
            .unwrap_or_else(|| panic!("no probe_up for {probe} in {batch}"));
        assert_eq!(up["value"], 1.0, "{probe}: {up}");
    }
}
