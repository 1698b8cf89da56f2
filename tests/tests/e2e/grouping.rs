//! Service grouping across collectors: three collectors on one PostgreSQL, each told of a
//! different host of one service failing — one service-level incident lists the three hosts,
//! the per-host incidents are attached to it, the queue gets one page; when the last host
//! recovers (reported to yet another collector than the first) it resolves, once.

use std::time::Duration;
use vigil_e2e::hook::Hook;
use vigil_e2e::postgres::PgServer;
use vigil_e2e::{Collector, client, eventually};

async fn post_event(collector: &Collector, host: &str, status: &str) -> serde_json::Value {
    let response = client()
        .post(format!("{}/v1/events", collector.url))
        .json(&serde_json::json!({
            "source": "nagios", "host": host, "service": "checkout", "check": "http_5xx",
            "status": status, "severity": "major", "summary": "5xx above 5%"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn on_postgresql_three_collectors_group_one_service_into_one_page() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let url = server.database("grouping");
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "default_rules = false\nleader_lease = \"2s\"\n[grouping]\nwait = \"3s\"\n\
             [[sink]]\nname = \"queue\"\nkind = \"webhook\"\nurl = \"{}\"\n",
            hook.url("/hook")
        ),
    )
    .unwrap();
    let mut collectors = Vec::new();
    for name in ["a", "b", "c"] {
        collectors.push(
            Collector::start(
                &tmp.path().join(name),
                &["--config", config.to_str().unwrap(), "--store", &url],
            )
            .await,
        );
    }
    let mut members = Vec::new();
    for (collector, host) in collectors.iter().zip(["web-1", "web-2", "web-3"]) {
        let answer = post_event(collector, host, "firing").await;
        members.push(answer["incident_id"].as_str().unwrap().to_owned());
    }
    // Every collector shows the same service-level incident, with the three hosts.
    let (_, first) = collectors[2]
        .get_json(&format!("/v1/incidents/{}", members[0]))
        .await;
    let group = first["parent_id"].as_str().expect("grouped").to_owned();
    for collector in &collectors {
        for member in &members {
            let (_, shown) = collector.get_json(&format!("/v1/incidents/{member}")).await;
            assert_eq!(shown["parent_id"], group.as_str(), "{shown}");
        }
        let (_, shown) = collector.get_json(&format!("/v1/incidents/{group}")).await;
        assert_eq!(
            shown["hosts"],
            serde_json::json!(["web-1", "web-2", "web-3"]),
            "{shown}"
        );
        assert!(
            shown["fingerprint"].as_str().unwrap().starts_with("group:"),
            "{shown}"
        );
    }
    // One page, for the service, after the first host's wait.
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let pages = hook.accepted();
            (pages.len() == 1)
                .then_some(())
                .ok_or_else(|| format!("{} pages", pages.len()))
        },
    )
    .await;
    let page = hook.accepted()[0].json();
    assert_eq!(page["step"], "open", "{page}");
    assert_eq!(page["incident"]["id"], group.as_str(), "{page}");
    // The hosts recover, each reported to another collector than its failure.
    for (collector, host) in collectors.iter().rev().zip(["web-1", "web-2", "web-3"]) {
        post_event(collector, host, "resolved").await;
    }
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let pages = hook.accepted();
            (pages.len() == 2)
                .then_some(())
                .ok_or_else(|| format!("{} notifications", pages.len()))
        },
    )
    .await;
    let resolve = hook.accepted()[1].json();
    assert_eq!(resolve["step"], "resolve", "{resolve}");
    assert_eq!(resolve["incident"]["id"], group.as_str(), "{resolve}");
    // Nothing more arrives (bounded look).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.accepted().len(), 2);
    for collector in &mut collectors {
        collector.process.kill();
    }
}
