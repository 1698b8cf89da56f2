//! Availability and service levels end to end: a real agent probes an HTTP server the test
//! starts, breaks and repairs; `GET /v1/availability` shows the probe's down time and an
//! availability below 1, an SLO with short burn windows opens a burn-rate incident and
//! resolves it, a silent agent gives its host a down interval, `/metrics` carries the families,
//! a restart of the collector keeps the history, and a forgotten host is unknown from then on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use vigil_e2e::{Agent, Collector, eventually};

use crate::agent_probes::http_server;

const SLO_CONFIG: &str = r#"
[[slo]]
name = "web-probe"
host = "web-1"
probe = "web"
target = 99.0
window = "1h"
[[slo.burn]]
long = "20s"
short = "4s"
factor = 2
severity = "major"

[[slo]]
name = "checkout"
service = "checkout"
target = 99.9
"#;

fn agent_config(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[labels]
service = "checkout"

[[probe]]
name = "web"
kind = "http"
target = "{url}"
interval = "500ms"
timeout = "400ms"
expect_status = 200
"#
        ),
    )
    .unwrap();
    path
}

async fn availability(collector: &Collector, query: &str) -> serde_json::Value {
    let (status, json) = collector
        .get_json(&format!("/v1/availability?{query}"))
        .await;
    assert_eq!(status, 200, "{json}");
    json
}

/// The one subject of `kind` named `name`, if present.
fn subject<'a>(
    json: &'a serde_json::Value,
    kind: &str,
    name: &str,
) -> Option<&'a serde_json::Value> {
    json["subjects"]
        .as_array()?
        .iter()
        .find(|subject| subject["kind"] == kind && subject["subject"] == name)
}

async fn burn_incidents(collector: &Collector) -> Vec<serde_json::Value> {
    let (status, json) = collector.get_json("/v1/incidents").await;
    assert_eq!(status, 200, "{json}");
    json.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        // The probe's SLO (the service's SLO burns too, on an incident without a host).
        .filter(|incident| incident["check"] == "slo_burn" && incident["host"] == "web-1")
        .collect()
}

#[tokio::test]
async fn probe_and_host_down_time_show_in_availability_and_an_slo_burn_opens_and_resolves() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, status) = http_server();
    let config = tmp.path().join("collector.toml");
    std::fs::write(&config, SLO_CONFIG).unwrap();
    let config_arg = config.to_str().unwrap().to_owned();
    let data = tmp.path().join("data");
    let flags = ["--config", config_arg.as_str(), "--host-down-after", "3s"];
    let collector = Collector::start(&data, &flags).await;
    let agent_file = agent_config(tmp.path(), &url);
    let agent_arg = agent_file.to_str().unwrap().to_owned();
    let state = tmp.path().join("agent");
    let mut agent = Agent::start(
        &state,
        &collector.url,
        "web-1",
        "500ms",
        &["--config", &agent_arg],
    );

    // Up first.
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let json = availability(&collector, "").await;
            match subject(&json, "probe", "web-1/web") {
                Some(probe) if probe["up"] == true => Ok(()),
                _ => Err(json.to_string()),
            }
        },
    )
    .await;
    let json = availability(&collector, "kind=host,service").await;
    let host = subject(&json, "host", "web-1").expect("the host is listed");
    assert_eq!(host["service"], "checkout");
    assert_eq!(host["slos"], serde_json::json!([]));
    assert!(subject(&json, "service", "checkout").is_some(), "{json}");
    assert!(
        subject(&json, "probe", "web-1/web").is_none(),
        "filtered by kind: {json}"
    );

    // Broken: the probe goes down and the SLO's budget burns fast enough to page.
    status.store(500, Ordering::SeqCst);
    let opened = eventually(
        Duration::from_secs(40),
        Duration::from_millis(300),
        || async {
            let incidents = burn_incidents(&collector).await;
            match incidents.as_slice() {
                [one] if one["state"] == "open" => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(opened["host"], "web-1");
    assert_eq!(opened["severity"], "major");
    assert!(
        opened["summary"]
            .as_str()
            .unwrap_or("")
            .contains("SLO web-probe"),
        "{opened}"
    );
    let json = availability(&collector, "host=web-1").await;
    let probe = subject(&json, "probe", "web-1/web").expect("the probe is listed");
    assert_eq!(probe["up"], false, "{probe}");
    assert_eq!(probe["slos"], serde_json::json!(["web-probe"]));
    let slo = json["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|slo| slo["name"] == "web-probe")
        .cloned()
        .expect("the probe's slo is listed");
    assert_eq!(slo["burning"], true, "{slo}");
    assert!(slo["burn_rates"]["4s"].as_f64().unwrap() > 2.0, "{slo}");
    assert!(
        slo["error_budget_remaining"].as_f64().unwrap() < 1.0,
        "{slo}"
    );

    // Repaired: the burn stops once the short window is clean, and the incident resolves.
    status.store(200, Ordering::SeqCst);
    eventually(
        Duration::from_secs(40),
        Duration::from_millis(300),
        || async {
            match burn_incidents(&collector).await.as_slice() {
                [one] if one["state"] == "resolved" && one["id"] == opened["id"] => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let json = availability(&collector, "kind=probe").await;
    let probe = subject(&json, "probe", "web-1/web").expect("the probe is listed");
    assert_eq!(probe["up"], true, "{probe}");
    let day = &probe["windows"]["1d"];
    assert!(day["down_seconds"].as_f64().unwrap() > 0.0, "{day}");
    assert!(day["availability"].as_f64().unwrap() < 1.0, "{day}");
    assert_eq!(day["failures"], 1, "{day}");
    assert!(day["mttr_seconds"].as_f64().unwrap() > 0.0, "{day}");
    assert!(day["mtbf_seconds"].as_f64().is_some(), "{day}");
    let service = subject(&json, "service", "checkout");
    assert!(service.is_none(), "filtered by kind");
    let json = availability(&collector, "service=checkout&kind=service").await;
    let service = subject(&json, "service", "checkout").expect("the service is listed");
    assert!(
        service["windows"]["1d"]["down_seconds"].as_f64().unwrap() > 0.0,
        "the probe's down time is the service's: {service}"
    );

    // The metrics carry the families.
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(300),
        || async {
            let (_, metrics) = collector.get_text("/metrics").await;
            let wanted = [
                "vigil_availability_ratio{kind=\"probe\",subject=\"web-1/web\",window=\"1d\"}",
                "vigil_slo_burn_rate{slo=\"web-probe\",window=\"20s\"}",
                "vigil_slo_error_budget_remaining_ratio{slo=\"checkout\"}",
            ];
            wanted
                .iter()
                .all(|line| metrics.contains(line))
                .then_some(())
                .ok_or(metrics)
        },
    )
    .await;

    // The agent goes silent: the host gets a down interval and its probe is unknown.
    agent.process.kill();
    let host_down = eventually(
        Duration::from_secs(30),
        Duration::from_millis(300),
        || async {
            let json = availability(&collector, "host=web-1").await;
            match (
                subject(&json, "host", "web-1"),
                subject(&json, "probe", "web-1/web"),
            ) {
                (Some(host), Some(probe))
                    if host["up"] == false
                        && probe["up"].is_null()
                        && host["windows"]["1d"]["down_seconds"]
                            .as_f64()
                            .unwrap_or(0.0)
                            > 0.0 =>
                {
                    Ok(host["windows"]["1d"].clone())
                }
                _ => Err(json.to_string()),
            }
        },
    )
    .await;
    assert_eq!(host_down["failures"], 1, "{host_down}");

    // A restart keeps the history.
    let port = collector.port();
    let mut collector = collector;
    collector.process.terminate(Duration::from_secs(20));
    let collector = Collector::start_on(&data, port, &flags).await;
    let json = availability(&collector, "host=web-1").await;
    let host = subject(&json, "host", "web-1").expect("the host is still listed");
    assert_eq!(host["up"], false, "{host}");
    assert!(
        host["windows"]["1d"]["down_seconds"].as_f64().unwrap() > 0.0,
        "{host}"
    );
    let probe = subject(&json, "probe", "web-1/web").expect("the probe is still listed");
    assert!(
        probe["windows"]["1d"]["down_seconds"].as_f64().unwrap() > 0.0,
        "{probe}"
    );
    assert_eq!(probe["windows"]["1d"]["failures"], 1, "{probe}");

    // Decommissioned: the host and its probe are unknown from now on, their past kept.
    let response = vigil_e2e::client()
        .delete(format!("{}/v1/hosts/web-1", collector.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let json = availability(&collector, "host=web-1").await;
    let host = subject(&json, "host", "web-1").expect("the host's past is still listed");
    assert!(host["up"].is_null(), "{host}");
    assert!(
        host["windows"]["1d"]["down_seconds"].as_f64().unwrap() > 0.0,
        "{host}"
    );
    let probe = subject(&json, "probe", "web-1/web").expect("the probe's past is still listed");
    assert!(probe["up"].is_null(), "{probe}");
}

#[tokio::test]
async fn bad_availability_filters_get_a_400_naming_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let (status, json) = collector.get_json("/v1/availability?kind=router").await;
    assert_eq!(status, 400);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("kind \"router\" is unknown"),
        "{json}"
    );
    let (status, json) = collector.get_json("/v1/availability?window=1d").await;
    assert_eq!(status, 400);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("unknown parameter"),
        "{json}"
    );
    let (status, json) = collector.get_json("/v1/availability").await;
    assert_eq!(status, 200);
    assert_eq!(json["subjects"], serde_json::json!([]));
}
