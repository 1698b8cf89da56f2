//! Silences and maintenance with the real collector and a webhook receiver: a silence over a
//! service keeps its new incidents (`silenced: true`) off the queue; the resolve of an incident
//! paged before the silence still goes out; ending the silence pages what it was hiding; a
//! `maintenance` change silences its hosts; bad silences are refused with a message.

use std::time::Duration;
use vigil_e2e::hook::{Hook, Received};
use vigil_e2e::{Collector, client, eventually};

fn event(host: &str, service: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "source": "nagios", "host": host, "service": service, "check": "http_5xx",
        "status": status, "severity": "critical", "summary": "5xx above 5%"
    })
}

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

async fn incident(collector: &Collector, id: &str) -> serde_json::Value {
    collector.get_json(&format!("/v1/incidents/{id}")).await.1
}

fn steps(received: &[Received]) -> Vec<(String, String)> {
    received
        .iter()
        .map(|request| {
            let body = request.json();
            (
                body["step"].as_str().unwrap_or("").to_owned(),
                body["incident"]["host"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_silence_keeps_new_incidents_off_the_queue_and_still_sends_a_paged_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[[sink]]\nname = \"queue\"\nkind = \"webhook\"\nurl = \"{}\"\n[grouping]\nwait = \"0s\"\n",
            hook.url("/hook")
        ),
    )
    .unwrap();
    let collector = Collector::start(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    // Paged before the silence.
    let (_, paged) = post(
        &collector,
        "/v1/events",
        &event("web-1", "billing", "firing"),
    )
    .await;
    let paged = paged["incident_id"].as_str().unwrap().to_owned();
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            (hook.accepted().len() == 1)
                .then_some(())
                .ok_or_else(|| "no page yet".to_owned())
        },
    )
    .await;
    let (status, silence) = post(
        &collector,
        "/v1/silences",
        &serde_json::json!({
            "matchers": [{"name": "service", "op": "=", "value": "billing"}],
            "ends_at": vigil_shared::time::rfc3339(vigil_shared::time::now_ms() + 3_600_000),
            "created_by": "alice", "comment": "db migration"
        }),
    )
    .await;
    assert_eq!(status, 200, "{silence}");
    let silence_id = silence["id"].as_str().unwrap().to_owned();
    assert_eq!(incident(&collector, &paged).await["silenced"], true);
    // New incidents of the service: recorded, silenced, not paged.
    let (_, hidden) = post(
        &collector,
        "/v1/events",
        &event("web-2", "billing", "firing"),
    )
    .await;
    let hidden = hidden["incident_id"].as_str().expect("recorded").to_owned();
    let shown = incident(&collector, &hidden).await;
    assert_eq!(shown["silenced"], true, "{shown}");
    assert_eq!(shown["state"], "open");
    // Another service is not silenced.
    post(
        &collector,
        "/v1/events",
        &event("web-3", "checkout", "firing"),
    )
    .await;
    // The paged one resolves during the silence: its resolve goes out.
    post(
        &collector,
        "/v1/events",
        &event("web-1", "billing", "resolved"),
    )
    .await;
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let seen = steps(&hook.accepted());
            (seen.len() >= 3)
                .then_some(())
                .ok_or_else(|| format!("{seen:?}"))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let seen = steps(&hook.accepted());
    assert_eq!(
        seen,
        [
            ("open".to_owned(), "web-1".to_owned()),
            ("open".to_owned(), "web-3".to_owned()),
            ("resolve".to_owned(), "web-1".to_owned()),
        ],
        "nothing for the silenced web-2"
    );
    let (_, listed) = collector.get_json("/v1/silences").await;
    let listed = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["created_by"], "alice");
    // Ending the silence pages what it hid.
    let response = client()
        .delete(format!("{}/v1/silences/{silence_id}", collector.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let seen = steps(&hook.accepted());
            (seen.len() >= 4)
                .then(|| seen.clone())
                .ok_or_else(|| format!("{seen:?}"))
        },
    )
    .await;
    assert_eq!(seen[3], ("open".to_owned(), "web-2".to_owned()));
    assert_eq!(incident(&collector, &hidden).await["silenced"], false);
    let (_, all) = collector.get_json("/v1/silences?state=all").await;
    assert_eq!(all[0]["state"], "expired");
    let response = client()
        .delete(format!("{}/v1/silences/{silence_id}", collector.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404, "already ended");
}

#[tokio::test]
async fn a_maintenance_change_silences_its_hosts_and_bad_silences_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let now = vigil_shared::time::now_ms();
    let (status, change) = post(
        &collector,
        "/v1/changes",
        &serde_json::json!({
            "kind": "maintenance", "summary": "kernel upgrade", "by": "ops",
            "hosts": ["db-1"], "services": [],
            "starts_at": vigil_shared::time::rfc3339(now - 1_000),
            "ends_at": vigil_shared::time::rfc3339(now + 3_600_000)
        }),
    )
    .await;
    assert_eq!(status, 200, "{change}");
    let change_id = change["id"].as_str().unwrap().to_owned();
    let (_, opened) = post(&collector, "/v1/events", &event("db-1", "db", "firing")).await;
    let id = opened["incident_id"].as_str().unwrap().to_owned();
    assert_eq!(incident(&collector, &id).await["silenced"], true);
    let (_, other) = post(&collector, "/v1/events", &event("db-10", "db", "firing")).await;
    let other = other["incident_id"].as_str().unwrap().to_owned();
    assert_eq!(
        incident(&collector, &other).await["silenced"],
        false,
        "db-10 is not db-1"
    );
    let (_, changes) = collector.get_json("/v1/changes?kind=maintenance").await;
    assert_eq!(changes[0]["id"], change_id.as_str());
    assert_eq!(changes[0]["hosts"][0], "db-1");
    let (_, silences) = collector.get_json("/v1/silences").await;
    assert_eq!(silences[0]["change_id"], change_id.as_str());
    let future = vigil_shared::time::rfc3339(now + 60_000);
    let cases = [
        (
            serde_json::json!({"matchers": [], "ends_at": future, "created_by": "a"}),
            "at least one matcher",
        ),
        (
            serde_json::json!({"matchers": [{"name": "service", "op": "==", "value": "x"}], "ends_at": future, "created_by": "a"}),
            "matcher [0]: unknown op \"==\"",
        ),
        (
            serde_json::json!({"matchers": [{"name": "service", "op": "=~", "value": "("}], "ends_at": future, "created_by": "a"}),
            "matcher [0]: invalid regular expression",
        ),
        (
            serde_json::json!({"matchers": [{"name": "service", "op": "=", "value": "x"}], "ends_at": "tomorrow", "created_by": "a"}),
            "ends_at \"tomorrow\" is not RFC 3339",
        ),
        (
            serde_json::json!({"matchers": [{"name": "service", "op": "=", "value": "x"}], "ends_at": future, "created_by": " "}),
            "created_by is required",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = post(&collector, "/v1/silences", &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or("").contains(expected),
            "{answer}"
        );
    }
    let (status, answer) = post(
        &collector,
        "/v1/changes",
        &serde_json::json!({"kind": "maintenance", "summary": "s", "by": "ops", "hosts": ["x"]}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        answer["error"].as_str().unwrap().contains("needs ends_at"),
        "{answer}"
    );
}
