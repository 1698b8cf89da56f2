//! Vigil as Prometheus sees it: `/metrics` for a fixed input (hosts, probes, incidents acked and
//! resolved) matches the golden file and passes `promtool check metrics`; `/metrics` of a
//! collector fed by the real agent (probes and incidents too) matches the golden schema
//! (families, types and label names) and passes promtool; the shipped rules and scrape config pass
//! promtool; and the real Prometheus server scrapes the collector and answers a query.

use crate::dashboards::Live;
use crate::promstack::{tool, workspace_root};
use crate::{ZSTD_MSGPACK, batch};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_e2e::{Collector, Process, client, encode_zstd_msgpack, eventually, free_port};
use vigil_shared::labels::Labels;
use vigil_shared::wire::Sample;

/// Series whose values change from run to run.
const VOLATILE: &[&str] = &[
    "vigil_host_last_seen_timestamp_seconds",
    "vigil_ingest_request_duration_seconds",
    "vigil_ingest_received_bytes_total",
    "vigil_incident_time_to_acknowledge_seconds_sum",
    "vigil_incident_time_to_resolve_seconds_sum",
    // Refreshed from the store every 30 s: present or not depending on the moment.
    "vigil_availability_",
];

/// Passes `exposition` through `promtool check metrics`; panics with its findings.
fn promtool_check_metrics(exposition: &str) {
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
        "promtool check metrics failed:\n{}{}\n{exposition}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect::<Labels>(),
        value,
        time_ms: None,
    }
}

#[tokio::test]
async fn metrics_match_the_golden_file_and_pass_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let mut golden_batch = batch("golden-1", 1, 1);
    golden_batch.samples.extend([
        sample("cpu_count", &[], 4.0),
        sample("processes_total", &[], 300.0),
        sample(
            "filesystem_inodes_total",
            &[("mountpoint", "/data")],
            1000.0,
        ),
        sample("network_receive_bytes_total", &[("interface", "eth0")], 5.0),
        sample("probe_up", &[("kind", "http"), ("probe", "web")], 1.0),
        sample("probe_latency_seconds", &[("probe", "web")], 0.25),
        sample("probe_http_status", &[("probe", "web")], 200.0),
        sample("probe_tls_cert_expiry_days", &[("probe", "web")], 30.0),
        sample("probe_process_count", &[("probe", "worker")], 2.0),
    ]);
    let (status, _, json) = collector
        .post_ingest(encode_zstd_msgpack(&golden_batch), ZSTD_MSGPACK)
        .await;
    assert_eq!(status, 200, "{json}");
    // Incidents: one left open, one acknowledged and resolved (histograms get a sample).
    let http = client();
    let mut ids = Vec::new();
    for check in ["left_open", "handled"] {
        let answer: serde_json::Value = http
            .post(format!("{}/v1/events", collector.url))
            .json(
                &serde_json::json!({"source": "golden", "host": "golden-1", "check": check,
                "status": "firing", "severity": "major"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(answer["incident_id"].as_str().unwrap().to_owned());
    }
    for action in ["ack", "resolve"] {
        let response = http
            .post(format!(
                "{}/v1/incidents/{}/{action}",
                collector.url, ids[1]
            ))
            .json(&serde_json::json!({"by": "golden"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
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
    promtool_check_metrics(&exposition);
}

/// The label names of one exposition sample line (`name{a="x",b="y\"z"} 1` → `[a, b]`).
fn label_names(labels: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = labels.chars();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let name = name.trim_start_matches(',').trim().to_owned();
        if name.is_empty() {
            break;
        }
        names.push(name);
        if chars.next() != Some('"') {
            break;
        }
        let mut escaped = false;
        for c in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                _ => escaped = false,
            }
        }
    }
    names.sort();
    names
}

/// The shape of an exposition: per family its `# TYPE` line, then every distinct sample name
/// with its label names (`vigil_host_up{host}`), values and label values left out.
fn schema(exposition: &str) -> Vec<String> {
    let mut families: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut current = String::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            current = rest.split(' ').next().unwrap_or_default().to_owned();
            families.entry(current.clone()).or_default().0 = line.to_owned();
        } else if !line.starts_with('#') && !line.is_empty() {
            let (name, labels) = match line.split_once('{') {
                Some((name, rest)) => (name, rest.rsplit_once('}').map_or("", |(l, _)| l)),
                None => (line.split(' ').next().unwrap_or_default(), ""),
            };
            let shape = format!("{name}{{{}}}", label_names(labels).join(","));
            families.entry(current.clone()).or_default().1.insert(shape);
        }
    }
    families
        .into_values()
        .flat_map(|(kind, samples)| std::iter::once(kind).chain(samples))
        .collect()
}

/// Lines of the real-agent golden schema that ending in ` ?` may be missing (they depend on the
/// machine's kernel, e.g. pressure stall information).
const OPTIONAL: &str = " ?";

#[tokio::test]
async fn real_agent_metrics_match_the_golden_schema_and_pass_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let live = Live::start(tmp.path()).await;
    live.stir().await;
    let exposition = live
        .wait_for_metrics(&["vigil_host_network_receive_bytes_total{host=\"live-1\""])
        .await;
    promtool_check_metrics(&exposition);
    for renamed in [
        "_cpu_count",
        "vigil_host_processes_total",
        "_days",
        "inodes_total",
    ] {
        assert!(
            !exposition.contains(renamed),
            "{renamed} is exported:\n{exposition}"
        );
    }

    let observed = schema(&exposition);
    let path = workspace_root().join("tests/golden/metrics-agent.schema");
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    let optional: BTreeSet<&str> = golden
        .lines()
        .filter_map(|line| line.strip_suffix(OPTIONAL))
        .collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let mut lines: BTreeSet<String> = observed.iter().cloned().collect();
        lines.extend(optional.iter().map(|line| line.to_string()));
        // Keep the order of `schema` (family, then its samples) for the lines observed now.
        let mut text = String::new();
        for line in observed.iter().chain(
            optional
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .iter(),
        ) {
            if lines.remove(line) {
                let mark = if optional.contains(line.as_str()) {
                    OPTIONAL
                } else {
                    ""
                };
                text.push_str(&format!("{line}{mark}\n"));
            }
        }
        std::fs::write(&path, text).unwrap();
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error} (UPDATE_GOLDEN=1 writes it)", path.display()));
    let expected: BTreeSet<&str> = golden
        .lines()
        .map(|line| line.strip_suffix(OPTIONAL).unwrap_or(line))
        .collect();
    let observed_set: BTreeSet<&str> = observed.iter().map(String::as_str).collect();
    let unexpected: Vec<&&str> = observed_set.difference(&expected).collect();
    let missing: Vec<&&str> = expected
        .difference(&observed_set)
        .filter(|line| !optional.contains(**line))
        .collect();
    assert!(
        unexpected.is_empty() && missing.is_empty(),
        "/metrics of a real agent differs from tests/golden/metrics-agent.schema \
         (UPDATE_GOLDEN=1 rewrites it; mark machine-dependent lines with a trailing \" ?\"):\n\
         not in the golden file: {unexpected:#?}\nmissing: {missing:#?}"
    );
}

#[test]
fn shipped_prometheus_config_and_rules_pass_promtool() {
    let root = workspace_root();
    let mut checks = vec![(
        "config".to_owned(),
        vec![
            "check".to_owned(),
            "config".to_owned(),
            "deploy/prometheus/prometheus.yml".to_owned(),
        ],
    )];
    for entry in std::fs::read_dir(root.join("deploy/prometheus"))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".rules.yml") {
            checks.push((
                format!("rules {name}"),
                vec![
                    "check".to_owned(),
                    "rules".to_owned(),
                    format!("deploy/prometheus/{name}"),
                ],
            ));
        }
    }
    assert!(checks.len() >= 2, "no rule files in deploy/prometheus");
    for (what, args) in checks {
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
