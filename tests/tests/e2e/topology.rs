//! Topology with real agents and a webhook receiver: three hosts behind a switch that has no
//! agent (its outage comes in as a generic event). The hosts' agents fall silent — as they
//! would when their switch dies — and their `host_down` incidents open *before* the switch's
//! outage is reported; the topology hold keeps them off the queue until the switch's incident
//! attaches them. Exactly one page goes out, for the switch, and the three are attached to it
//! (`parent_id`). A host with no dependencies is paged at once, hold or not.

use std::time::Duration;
use vigil_e2e::hook::Hook;
use vigil_e2e::{Agent, Collector, client, eventually};

#[tokio::test]
async fn a_switch_outage_seen_after_its_hosts_gives_one_page_and_attaches_them() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "default_rules = false\n[topology]\nhold = \"8s\"\n[[sink]]\nname = \"queue\"\nkind = \"webhook\"\nurl = \"{}\"\n",
            hook.url("/hook")
        ),
    )
    .unwrap();
    let collector = Collector::start(
        &tmp.path().join("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--host-down-after",
            "2s",
        ],
    )
    .await;
    let agent_config = tmp.path().join("agent.toml");
    std::fs::write(&agent_config, "[topology]\ndepends_on = [\"switch-a\"]\n").unwrap();
    let mut agents: Vec<Agent> = ["web-1", "web-2", "web-3"]
        .iter()
        .map(|host| {
            Agent::start(
                &tmp.path().join(format!("state-{host}")),
                &collector.url,
                host,
                "500ms",
                &["--config", agent_config.to_str().unwrap()],
            )
        })
        .collect();
    // Every host reported (with its inventory, and so its dependencies).
    eventually(Duration::from_secs(30), Duration::from_millis(200), || {
        let collector = &collector;
        async move {
            let (_, hosts) = collector.get_json("/v1/hosts").await;
            let n = hosts.as_array().map_or(0, Vec::len);
            (n == 3).then_some(()).ok_or_else(|| format!("{n} hosts"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The switch dies: its hosts fall silent.
    for agent in &mut agents {
        agent.process.kill();
    }
    // Their host_down incidents open first (after 2 s of silence), held back.
    let children = eventually(Duration::from_secs(20), Duration::from_millis(100), || {
        let collector = &collector;
        async move {
            let (_, incidents) = collector.get_json("/v1/incidents").await;
            let down: Vec<serde_json::Value> = incidents
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["check"] == "host_down")
                .cloned()
                .collect();
            (down.len() == 3).then_some(down).ok_or_else(|| {
                format!(
                    "{} host_down incidents",
                    incidents.as_array().map_or(0, Vec::len)
                )
            })
        }
    })
    .await;
    assert!(hook.accepted().is_empty(), "held: nobody paged yet");
    // Then the switch's outage is reported by the network monitor.
    let response = client()
        .post(format!("{}/v1/events", collector.url))
        .json(&serde_json::json!({
            "source": "ping", "host": "switch-a", "check": "ping", "status": "firing",
            "severity": "critical", "summary": "switch-a does not answer ping"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let switch = body["incident_id"].as_str().unwrap().to_owned();
    // One page, for the switch; the hosts attach to it.
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            let pages = hook.accepted();
            (pages.len() == 1)
                .then_some(())
                .ok_or_else(|| format!("{} pages", pages.len()))
        },
    )
    .await;
    for child in &children {
        let id = child["id"].as_str().unwrap();
        let (_, shown) = collector.get_json(&format!("/v1/incidents/{id}")).await;
        assert_eq!(shown["parent_id"], switch.as_str(), "{shown}");
        let timeline = shown["timeline"].as_array().unwrap();
        assert!(
            timeline.iter().any(|entry| entry["kind"] == "attached"),
            "{shown}"
        );
    }
    // Well past the hold: still the one page, and its held notifications are cancelled.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pages = hook.accepted();
    assert_eq!(
        pages.len(),
        1,
        "{:?}",
        pages.iter().map(|p| p.json()).collect::<Vec<_>>()
    );
    let page = pages[0].json();
    assert_eq!(page["step"], "open");
    assert_eq!(page["incident"]["host"], "switch-a");
    let (_, outbox) = collector
        .get_json("/v1/notifications?state=cancelled")
        .await;
    assert_eq!(outbox.as_array().map(Vec::len), Some(3), "{outbox}");
    // A host with no dependencies is paged at once.
    client()
        .post(format!("{}/v1/events", collector.url))
        .json(&serde_json::json!({
            "source": "nagios", "host": "db-9", "check": "disk", "status": "firing",
            "severity": "major", "summary": "disk errors"
        }))
        .send()
        .await
        .unwrap();
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(100),
        || async {
            let pages = hook.accepted();
            (pages.len() == 2)
                .then_some(())
                .ok_or_else(|| format!("{} pages", pages.len()))
        },
    )
    .await;
}
