//! Topology with real agents and a webhook receiver: three hosts behind a switch that has no
//! agent (its outage comes in as a generic event). The hosts' agents fall silent — as they
//! would when their switch dies — and their `host_down` incidents open *before* the switch's
//! outage is reported; the topology hold keeps them off the queue until the switch's incident
//! attaches them. Exactly one page goes out, for the switch, and the three are attached to it
//! (`parent_id`). A host with no dependencies is paged at once, hold or not. The same with two
//! collectors on one PostgreSQL: the agents report to one, the switch's outage arrives at the
//! other.

use std::path::Path;
use std::time::Duration;
use vigil_e2e::hook::Hook;
use vigil_e2e::postgres::PgServer;
use vigil_e2e::{Agent, Collector, client, eventually};

/// Agents reporting as `hosts` to `url`, each depending on `switch-a`; waits (bounded) until
/// the collector lists them all (with their inventories, and so their dependencies).
async fn start_agents_behind_switch(
    dir: &Path,
    collector: &Collector,
    hosts: &[&str],
) -> Vec<Agent> {
    let agent_config = dir.join("agent.toml");
    std::fs::write(&agent_config, "[topology]\ndepends_on = [\"switch-a\"]\n").unwrap();
    let agents = hosts
        .iter()
        .map(|host| {
            Agent::start(
                &dir.join(format!("state-{host}")),
                &collector.url,
                host,
                "500ms",
                &["--config", agent_config.to_str().unwrap()],
            )
        })
        .collect();
    let want = hosts.len();
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async move {
            let (_, listed) = collector.get_json("/v1/hosts").await;
            let n = listed.as_array().map_or(0, Vec::len);
            (n == want)
                .then_some(())
                .ok_or_else(|| format!("{n} hosts"))
        },
    )
    .await;
    agents
}

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
    let mut agents =
        start_agents_behind_switch(tmp.path(), &collector, &["web-1", "web-2", "web-3"]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The switch dies: its hosts fall silent.
    for agent in &mut agents {
        agent.process.kill();
    }
    // Their host_down incidents open first (after 2 s of silence), held back.
    let children = eventually(Duration::from_secs(20), Duration::from_millis(100), || {
        let collector = &collector;
        async move {
            let down = incidents_with_check(collector, "host_down").await;
            (down.len() == 3)
                .then_some(down)
                .ok_or_else(|| "host_down incidents not open yet".to_owned())
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

async fn incidents_with_check(collector: &Collector, check: &str) -> Vec<serde_json::Value> {
    let (_, incidents) = collector.get_json("/v1/incidents").await;
    incidents
        .as_array()
        .into_iter()
        .flatten()
        .filter(|incident| incident["check"] == check)
        .cloned()
        .collect()
}

#[tokio::test]
async fn on_postgresql_an_outage_reported_to_another_collector_attaches_the_hosts_behind_it() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let url = server.database("topology");
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "default_rules = false\nleader_lease = \"2s\"\n[topology]\nhold = \"45s\"\n[[sink]]\nname = \"queue\"\nkind = \"webhook\"\nurl = \"{}\"\n",
            hook.url("/hook")
        ),
    )
    .unwrap();
    let mut collectors = Vec::new();
    for name in ["a", "b"] {
        collectors.push(
            Collector::start(
                &tmp.path().join(name),
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "--store",
                    &url,
                    "--host-down-after",
                    "2s",
                ],
            )
            .await,
        );
    }
    let mut agents =
        start_agents_behind_switch(tmp.path(), &collectors[0], &["web-1", "web-2"]).await;
    // Collector b reads the stored inventories' dependencies every 30 s.
    tokio::time::sleep(Duration::from_secs(31)).await;
    for agent in &mut agents {
        agent.process.kill();
    }
    let children = eventually(Duration::from_secs(30), Duration::from_millis(200), || {
        let collector = &collectors[1];
        async move {
            let down = incidents_with_check(collector, "host_down").await;
            (down.len() == 2)
                .then_some(down)
                .ok_or_else(|| "host_down incidents not open yet".to_owned())
        }
    })
    .await;
    assert!(hook.accepted().is_empty(), "held: nobody paged yet");
    let response = client()
        .post(format!("{}/v1/events", collectors[1].url))
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
    for child in &children {
        let id = child["id"].as_str().unwrap();
        for collector in &collectors {
            let (_, shown) = collector.get_json(&format!("/v1/incidents/{id}")).await;
            assert_eq!(shown["parent_id"], switch.as_str(), "{shown}");
        }
    }
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
    assert_eq!(hook.accepted()[0].json()["incident"]["host"], "switch-a");
    let (_, cancelled) = collectors[1]
        .get_json("/v1/notifications?state=cancelled")
        .await;
    assert_eq!(cancelled.as_array().map(Vec::len), Some(2), "{cancelled}");
}
