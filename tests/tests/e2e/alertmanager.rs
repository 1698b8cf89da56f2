//! Alertmanager in: the real chain Prometheus rule → Alertmanager (Debian's
//! `prometheus-alertmanager`) → `POST /v1/alertmanager` → an incident, resolved when the rule's
//! condition goes away (Alertmanager runs the shipped `deploy/alertmanager/alertmanager.yml`,
//! pointed at the test's collector); bad webhook bodies get a 4xx with a JSON error; the shipped
//! `deploy/alertmanager/alertmanager.yml` passes `amtool check-config`.

use crate::promstack::{Alertmanager, Prometheus, tool, workspace_root};
use crate::{ZSTD_MSGPACK, batch};
use std::process::Command;
use std::time::Duration;
use vigil_e2e::{Collector, client, encode_zstd_msgpack, eventually};
use vigil_shared::labels::Labels;
use vigil_shared::wire::Sample;

/// A batch from `am-1` whose http probe `web` is up (1) or down (0).
fn probe_batch(seq: u64, up: f64) -> vigil_shared::Batch {
    let mut batch = batch("am-1", 1, seq);
    batch.samples.push(Sample {
        name: "probe_up".into(),
        labels: Labels::from([
            ("kind".into(), "http".into()),
            ("probe".into(), "web".into()),
        ]),
        value: up,
        time_ms: None,
    });
    batch
}

const RULES: &str = r#"groups:
  - name: e2e
    rules:
      - alert: CheckoutProbeDown
        expr: vigil_probe_up{host="am-1"} == 0
        labels:
          severity: page
          service: checkout
        annotations:
          summary: "probe {{ $labels.probe }} on {{ $labels.host }} fails"
          runbook_url: "https://runbooks.example/checkout"
"#;

async fn alertmanager_incident(
    collector: &Collector,
    state: &str,
) -> Result<serde_json::Value, String> {
    let (status, list) = collector
        .get_json(&format!("/v1/incidents?state={state}"))
        .await;
    if status != 200 {
        return Err(format!("GET /v1/incidents answered {status}: {list}"));
    }
    list.as_array()
        .and_then(|all| {
            all.iter()
                .find(|incident| incident["source"] == "alertmanager")
        })
        .cloned()
        .ok_or_else(|| format!("no {state} alertmanager incident in {list}"))
}

#[tokio::test]
async fn prometheus_alert_through_real_alertmanager_opens_and_resolves_an_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let (status, _, json) = collector
        .post_ingest(encode_zstd_msgpack(&probe_batch(1, 0.0)), ZSTD_MSGPACK)
        .await;
    assert_eq!(status, 200, "{json}");

    // The shipped example, pointed at this collector and with short group timers.
    let shipped =
        std::fs::read_to_string(workspace_root().join("deploy/alertmanager/alertmanager.yml"))
            .unwrap();
    let mut config = shipped.clone();
    for (from, to) in [
        ("http://127.0.0.1:9470", collector.url.as_str()),
        ("group_wait: 30s", "group_wait: 1s"),
        ("group_interval: 5m", "group_interval: 1s"),
    ] {
        assert!(
            config.contains(from),
            "deploy/alertmanager/alertmanager.yml has no {from:?}"
        );
        config = config.replace(from, to);
    }
    let alertmanager = Alertmanager::start(&tmp.path().join("alertmanager"), &config).await;
    let prometheus_dir = tmp.path().join("prometheus");
    std::fs::create_dir_all(&prometheus_dir).unwrap();
    std::fs::write(prometheus_dir.join("rules.yml"), RULES).unwrap();
    let _prometheus = Prometheus::start(
        &prometheus_dir,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n\
             scrape_configs:\n  - job_name: vigil\n    honor_labels: true\n    static_configs:\n      \
             - targets: ['127.0.0.1:{}']\n",
            alertmanager.address,
            collector.port()
        ),
    )
    .await;

    let incident = eventually(Duration::from_secs(60), Duration::from_millis(250), || {
        alertmanager_incident(&collector, "open")
    })
    .await;
    assert_eq!(incident["check"], "CheckoutProbeDown", "{incident}");
    assert_eq!(incident["host"], "am-1", "{incident}");
    assert_eq!(incident["service"], "checkout", "{incident}");
    assert_eq!(
        incident["severity"], "critical",
        "severity=page maps to critical: {incident}"
    );
    assert_eq!(incident["labels"]["probe"], "web", "{incident}");
    let summary = incident["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("probe web on am-1 fails")
            && summary.contains("[source: http")
            && summary.contains("/graph?g0.expr=")
            && summary.contains("[runbook: https://runbooks.example/checkout]"),
        "{incident}"
    );
    let id = incident["id"].as_str().unwrap().to_owned();

    // The probe recovers: the rule stops firing, Alertmanager sends the resolution.
    let (status, _, json) = collector
        .post_ingest(encode_zstd_msgpack(&probe_batch(2, 1.0)), ZSTD_MSGPACK)
        .await;
    assert_eq!(status, 200, "{json}");
    let resolved = eventually(Duration::from_secs(60), Duration::from_millis(250), || {
        let collector = &collector;
        let id = id.clone();
        async move {
            let (_, incident) = collector.get_json(&format!("/v1/incidents/{id}")).await;
            if incident["state"] == "resolved" {
                Ok(incident)
            } else {
                Err(incident.to_string())
            }
        }
    })
    .await;
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    let (_, open) = collector
        .get_json("/v1/incidents?state=open,acknowledged")
        .await;
    assert!(
        !open.to_string().contains("\"alertmanager\""),
        "only one alertmanager incident, now resolved: {open}"
    );
}

#[tokio::test]
async fn alertmanager_endpoint_refuses_bad_payloads_with_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let url = format!("{}/v1/alertmanager", collector.url);
    let alert = r#"{"status": "firing", "labels": {"alertname": "A"}}"#;
    let many = vec![alert; 1_001].join(",");
    for (content_type, body, expected, mention) in [
        (
            "application/json",
            "not json".to_owned(),
            400,
            "invalid Alertmanager webhook JSON",
        ),
        (
            "application/json",
            format!(r#"{{"version": "3", "alerts": [{alert}]}}"#),
            422,
            "version \"3\" is not supported",
        ),
        (
            "application/json",
            r#"{"version": "4", "alerts": [{"status": "firing", "labels": {"bad-name": "x"}}]}"#
                .to_owned(),
            422,
            "alert [0]:",
        ),
        (
            "application/json",
            format!(r#"{{"version": "4", "alerts": [{many}]}}"#),
            413,
            "at most 1000",
        ),
        ("text/plain", "{}".to_owned(), 415, "application/json"),
    ] {
        let response = client()
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().await.unwrap();
        let message = json["error"].as_str().unwrap_or_default();
        assert_eq!(status, expected, "{json}");
        assert!(message.contains(mention), "{mention:?} not in {message:?}");
    }
    let (_, incidents) = collector.get_json("/v1/incidents").await;
    assert_eq!(incidents, serde_json::json!([]), "nothing was recorded");
}

#[test]
fn shipped_alertmanager_config_passes_amtool() {
    let output = Command::new(tool("amtool"))
        .args(["check-config", "deploy/alertmanager/alertmanager.yml"])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "amtool check-config: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
