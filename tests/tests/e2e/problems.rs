//! Suspected changes, problems and runbooks with the real collector and a webhook receiver: a
//! change posted before an event on its host is the incident's `suspected_change` in the API,
//! the timeline and the webhook's snapshot; a runbook on the event is carried the same way.

use std::time::Duration;
use vigil_e2e::hook::Hook;
use vigil_e2e::{Collector, client, eventually};

async fn post(
    collector: &Collector,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = client()
        .post(format!("{}{path}", collector.url))
        .json(body)
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {path}: {error}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// A collector with one webhook sink pointing at `hook`.
async fn with_hook(tmp: &std::path::Path, hook: &Hook, extra: &str) -> Collector {
    let config = tmp.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "{extra}\n[[sink]]\nname = \"queue\"\nkind = \"webhook\"\nurl = \"{}\"\n",
            hook.url("/hook")
        ),
    )
    .unwrap();
    Collector::start(&tmp.join("data"), &["--config", config.to_str().unwrap()]).await
}

fn event(host: &str, check: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "source": "nagios", "host": host, "service": "checkout", "check": check,
        "status": status, "severity": "critical", "summary": "5xx above 5%"
    })
}

#[tokio::test]
async fn a_change_on_the_host_is_the_suspected_change_in_the_api_and_the_webhook() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let collector = with_hook(tmp.path(), &hook, "").await;
    // A deploy on web-1, and an unrelated one on another host and service.
    let (status, deploy) = post(
        &collector,
        "/v1/changes",
        &serde_json::json!({"kind": "deploy", "summary": "checkout v2.3.1", "by": "ci",
                            "hosts": ["web-1"], "services": ["checkout"]}),
    )
    .await;
    assert_eq!(status, 200, "{deploy}");
    let deploy_id = deploy["id"].as_str().unwrap().to_owned();
    let (status, _) = post(
        &collector,
        "/v1/changes",
        &serde_json::json!({"kind": "config", "summary": "billing flags", "by": "alice",
                            "hosts": ["db-9"], "services": ["billing"]}),
    )
    .await;
    assert_eq!(status, 200);
    let mut firing = event("web-1", "http_5xx", "firing");
    firing["runbook"] = serde_json::json!("https://runbooks.example/http_5xx");
    let (status, opened) = post(&collector, "/v1/events", &firing).await;
    assert_eq!(status, 200, "{opened}");
    let id = opened["incident_id"].as_str().unwrap().to_owned();

    let (status, incident) = collector.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(status, 200, "{incident}");
    let suspect = &incident["suspected_change"];
    assert_eq!(suspect["id"], deploy_id.as_str(), "{incident}");
    assert_eq!(suspect["kind"], "deploy");
    assert_eq!(suspect["summary"], "checkout v2.3.1");
    assert_eq!(suspect["touch"], "host");
    assert_eq!(incident["runbook"], "https://runbooks.example/http_5xx");
    let timeline = incident["timeline"].as_array().unwrap();
    assert!(
        timeline
            .iter()
            .any(|entry| entry["kind"] == "change_suspected"
                && entry["text"].as_str().unwrap_or("").contains(&deploy_id)),
        "{timeline:?}"
    );

    // An event on a host no change touched has none.
    let (_, other) = post(&collector, "/v1/events", &{
        let mut other = event("web-7", "disk_full", "firing");
        other["service"] = serde_json::json!("search");
        other
    })
    .await;
    let other = other["incident_id"].as_str().unwrap().to_owned();
    let (_, other) = collector.get_json(&format!("/v1/incidents/{other}")).await;
    assert!(other["suspected_change"].is_null(), "{other}");

    let opened = eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            hook.accepted()
                .into_iter()
                .map(|request| request.json())
                .find(|body| body["step"] == "open" && body["incident"]["id"] == id.as_str())
                .ok_or_else(|| format!("{} requests", hook.received().len()))
        },
    )
    .await;
    assert_eq!(
        opened["incident"]["suspected_change"]["id"],
        deploy_id.as_str(),
        "{opened}"
    );
    assert_eq!(
        opened["incident"]["runbook"],
        "https://runbooks.example/http_5xx"
    );
}

#[tokio::test]
async fn a_bad_runbook_is_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let mut firing = event("web-1", "http_5xx", "firing");
    firing["runbook"] = serde_json::json!("javascript:alert(1)");
    let (status, answer) = post(&collector, "/v1/events", &firing).await;
    assert!((400..500).contains(&status), "{status} {answer}");
    assert!(
        answer["error"].as_str().unwrap_or("").contains("runbook"),
        "{answer}"
    );
}
