//! Vigil as Prometheus sees it: `/metrics` for a fixed input matches the golden file and passes
//! `promtool check metrics`; the shipped rules and scrape config pass promtool; and the real
//! Prometheus server scrapes the collector and answers a query for `vigil_host_up`.

use crate::{ZSTD_MSGPACK, batch};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_e2e::{Collector, Process, client, encode_zstd_msgpack, eventually, free_port};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tool(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{} not found: apt-get install prometheus (.ci/run does this)",
        path.display()
    );
    path
}

/// Series whose values change from run to run.
const VOLATILE: &[&str] = &[
    "vigil_host_last_seen_timestamp_seconds",
    "vigil_ingest_request_duration_seconds",
    "vigil_ingest_received_bytes_total",
];

#[tokio::test]
async fn metrics_match_the_golden_file_and_pass_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let (status, _, json) = collector
        .post_ingest(encode_zstd_msgpack(&batch("golden-1", 1, 1)), ZSTD_MSGPACK)
        .await;
    assert_eq!(status, 200, "{json}");
    let (status, exposition) = collector.get_text("/metrics").await;
    assert_eq!(status, 200);

    let stable: String = exposition
        .lines()
        .filter(|line| !VOLATILE.iter().any(|name| line.contains(name)))
        .map(|line| format!("{line}\n"))
        .collect();
    let golden = workspace_root().join("tests/golden/metrics.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &stable).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_else(|error| {
        panic!("{}: {error} (UPDATE_GOLDEN=1 writes it)", golden.display())
    });
    assert_eq!(
        stable, expected,
        "/metrics differs from tests/golden/metrics.prom (UPDATE_GOLDEN=1 rewrites it)"
    );

    let mut promtool = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn shipped_prometheus_config_and_rules_pass_promtool() {
    let root = workspace_root();
    for (what, args) in [
        (
            "rules",
            vec!["check", "rules", "deploy/prometheus/vigil.rules.yml"],
        ),
        (
            "config",
            vec!["check", "config", "deploy/prometheus/prometheus.yml"],
        ),
    ] {
        let output = Command::new(tool("promtool"))
            .args(&args)
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "promtool {what}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn real_prometheus_scrapes_the_collector() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let (status, _, _) = collector
        .post_ingest(encode_zstd_msgpack(&batch("scraped-1", 1, 1)), ZSTD_MSGPACK)
        .await;
    assert_eq!(status, 200);

    let port = free_port();
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: vigil\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            collector.port()
        ),
    )
    .unwrap();
    let mut command = Command::new(tool("prometheus"));
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn");
    let _prometheus = Process::spawn("prometheus", command, tmp.path().join("prometheus.log"));

    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=vigil_host_up%7Bhost%3D%22scraped-1%22%7D"
    );
    let http = client();
    let value = eventually(Duration::from_secs(60), Duration::from_millis(500), || {
        let request = http.get(&query).send();
        async move {
            let response = request.await.map_err(|error| error.to_string())?;
            let text = response.text().await.map_err(|error| error.to_string())?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| text.clone())?;
            json["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned)
                .ok_or(text)
        }
    })
    .await;
    assert_eq!(value, "1");
    let fs_query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=vigil_host_filesystem_used_bytes%7Bhost%3D%22scraped-1%22%7D"
    );
    let text = http
        .get(&fs_query)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"mountpoint\":\"/data\"") && text.contains("\"42\""),
        "{text}"
    );
}
