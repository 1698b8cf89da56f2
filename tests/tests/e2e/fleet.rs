//! Several collectors on one real PostgreSQL server (started by the harness, see
//! `vigil_e2e::postgres`): the store conformance suite against PostgreSQL, a duplicate storm
//! sprayed across three collectors, failover of the sweeps' leader after kill -9, a frozen leader
//! fenced after SIGCONT, and the database stopped for 20 s under load.

use crate::{ZSTD_MSGPACK, batch};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use vigil_e2e::postgres::PgServer;
use vigil_e2e::{Agent, Collector, client, encode_zstd_msgpack, eventually};

/// Lease and heartbeat timeout short enough for tests.
const CONFIG: &str = "leader_lease = \"2s\"\nstore_timeout = \"3s\"\n";

async fn fleet(tmp: &Path, url: &str, n: usize) -> Vec<Collector> {
    let config = tmp.join("collector.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut collectors = Vec::new();
    for index in 0..n {
        collectors.push(
            Collector::start(
                &tmp.join(format!("c{index}")),
                &[
                    "--store",
                    url,
                    "--host-down-after",
                    "3s",
                    "--config",
                    config.to_str().unwrap(),
                ],
            )
            .await,
        );
    }
    collectors
}

async fn readyz(collector: &Collector) -> Option<serde_json::Value> {
    let response = client()
        .get(format!("{}/readyz", collector.url))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

/// The index of the one collector that leads, once exactly one does, and its epoch.
async fn leader_of(collectors: &[&Collector]) -> (usize, i64) {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            let mut leaders = Vec::new();
            for (index, collector) in collectors.iter().enumerate() {
                if let Some(ready) = readyz(collector).await
                    && ready["leader"] == true
                {
                    leaders.push((index, ready["epoch"].as_i64().unwrap_or(0)));
                }
            }
            match leaders.as_slice() {
                [one] => Ok(*one),
                other => Err(format!("leaders: {other:?}")),
            }
        },
    )
    .await
}

async fn incidents(collector: &Collector, query: &str) -> Vec<serde_json::Value> {
    let (status, body) = collector.get_json(&format!("/v1/incidents?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

async fn post_batch(collector: &Collector, host: &str, seq: u64) -> u16 {
    let body = encode_zstd_msgpack(&batch(host, 1, seq));
    collector.post_ingest(body, ZSTD_MSGPACK).await.0
}

/// Sends batches for `host` to `collector` every 300 ms until `stop` is set.
fn keep_reporting(
    url: String,
    host: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client();
        let mut seq = 1;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let body = encode_zstd_msgpack(&batch(host, 1, seq));
            let mut request = client.post(format!("{url}/v1/ingest")).body(body);
            for (name, value) in ZSTD_MSGPACK {
                request = request.header(*name, *value);
            }
            if request
                .send()
                .await
                .is_ok_and(|response| response.status().is_success())
            {
                seq += 1;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

#[test]
fn postgres_passes_the_store_conformance_suite() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    vigil_collector::store::conformance::run_all(&mut |name| {
        let url = server.database(&name.replace('-', "_"));
        vigil_collector::store::open(
            &vigil_collector::store::StoreLocation::Postgres(
                vigil_collector::store::PostgresUrl::new(url),
            ),
            &vigil_collector::store::StoreOptions::default(),
        )
        .unwrap_or_else(|error| panic!("open {name}: {error}"))
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_storm_across_three_collectors_is_one_incident_with_the_exact_count() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.database("storm");
    let collectors = fleet(tmp.path(), &url, 3).await;
    // Real agents spread across the collectors.
    let agents: Vec<Agent> = (0..3)
        .map(|index| {
            Agent::start(
                &tmp.path().join(format!("agent{index}")),
                &collectors[index].url,
                &format!("agent-{index}"),
                "1s",
                &[],
            )
        })
        .collect();
    const REQUESTS: usize = 300;
    const PER_REQUEST: usize = 10;
    let event = serde_json::json!({
        "source": "nagios", "host": "web-1", "check": "http_5xx", "status": "firing",
        "severity": "major", "summary": "5xx above 5%"
    });
    let body = serde_json::Value::Array(vec![event; PER_REQUEST]);
    let client = client();
    let mut tasks = Vec::new();
    for index in 0..REQUESTS {
        let url = format!("{}/v1/events", collectors[index % 3].url);
        let client = client.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            // A 503 (e.g. a lock wait timed out) is retried, as a sender would.
            for _ in 0..20 {
                let response = client.post(&url).json(&body).send().await;
                if let Ok(response) = response {
                    if response.status().is_success() {
                        return response.json::<serde_json::Value>().await.unwrap();
                    }
                    assert_eq!(response.status().as_u16(), 503, "only 503 may be retried");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("an event request never succeeded");
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        for answer in task.await.unwrap().as_array().unwrap() {
            ids.insert(answer["incident_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(ids.len(), 1, "one incident for one fingerprint: {ids:?}");
    let id = ids.into_iter().next().unwrap();
    let mut seen = Vec::new();
    for collector in &collectors {
        let (status, incident) = collector.get_json(&format!("/v1/incidents/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(
            incident["count"],
            (REQUESTS * PER_REQUEST) as u64,
            "{incident}"
        );
        assert_eq!(incident["state"], "open");
        seen.push((incident["count"].clone(), incident["updated_at"].clone()));
        let open = incidents(collector, "state=open").await;
        let storm: Vec<_> = open
            .iter()
            .filter(|incident| incident["fingerprint"] == open[0]["fingerprint"])
            .collect();
        assert_eq!(storm.len(), 1, "one open incident per fingerprint");
    }
    assert!(
        seen.windows(2).all(|pair| pair[0] == pair[1]),
        "the same from each: {seen:?}"
    );
    // Each agent's host is known to the collector it reports to.
    for (index, collector) in collectors.iter().enumerate() {
        let host = format!("agent-{index}");
        eventually(
            Duration::from_secs(20),
            Duration::from_millis(200),
            || async {
                let (status, body) = collector.get_json(&format!("/v1/hosts/{host}")).await;
                if status == 200 && body["up"] == true {
                    Ok(())
                } else {
                    Err(format!("{status} {body}"))
                }
            },
        )
        .await;
    }
    drop(agents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_kill_9_of_the_leader_another_takes_over_and_a_silent_host_gets_one_host_down_incident()
 {
    let Some(server) = PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.database("failover");
    let mut collectors = fleet(tmp.path(), &url, 3).await;
    let (leader, epoch) = leader_of(&collectors.iter().collect::<Vec<_>>()).await;
    let followers: Vec<usize> = (0..3).filter(|index| *index != leader).collect();
    // A host that keeps reporting (to one follower) and one that will fall silent (to the other).
    let stop_live = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let live = keep_reporting(
        collectors[followers[0]].url.clone(),
        "live-1",
        std::sync::Arc::clone(&stop_live),
    );
    for seq in 1..=3 {
        assert_eq!(
            post_batch(&collectors[followers[1]], "silent-1", seq).await,
            200
        );
    }
    let killed_at = Instant::now();
    collectors[leader].process.kill();
    let survivors: Vec<&Collector> = followers.iter().map(|index| &collectors[*index]).collect();
    let (_, new_epoch) = leader_of(&survivors).await;
    let takeover = killed_at.elapsed();
    assert!(new_epoch > epoch, "a new leader has a higher epoch");
    let incident = eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let found = incidents(survivors[0], "host=silent-1").await;
            match found.as_slice() {
                [one] if one["check"] == "host_down" => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert!(
        takeover < Duration::from_secs(15),
        "takeover took {takeover:?} with a 2 s lease"
    );
    // Some more sweeps: still exactly one, with one event; the live host never went down.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for survivor in &survivors {
        let found = incidents(survivor, "host=silent-1").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["id"], incident["id"]);
        assert_eq!(found[0]["count"], 1, "{found:?}");
        assert!(incidents(survivor, "host=live-1").await.is_empty());
    }
    // The shared availability history, as every collector reads it: the silent host went down
    // once (recorded by the new leader's heartbeat), the live one never did.
    for survivor in &survivors {
        let (status, json) = survivor.get_json("/v1/availability?kind=host").await;
        assert_eq!(status, 200, "{json}");
        let host = |name: &str| {
            json["subjects"]
                .as_array()
                .unwrap()
                .iter()
                .find(|subject| subject["subject"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} is not listed: {json}"))
        };
        let silent = host("silent-1");
        assert_eq!(silent["up"], false, "{silent}");
        assert_eq!(silent["windows"]["1d"]["failures"], 1, "{silent}");
        let live = host("live-1");
        assert_eq!(live["up"], true, "{live}");
        assert_eq!(live["windows"]["1d"]["failures"], 0, "{live}");
    }
    stop_live.store(true, std::sync::atomic::Ordering::Relaxed);
    live.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_frozen_past_its_lease_is_fenced_and_doubles_nothing_when_resumed() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.database("fencing");
    let collectors = fleet(tmp.path(), &url, 3).await;
    let all: Vec<&Collector> = collectors.iter().collect();
    let (leader, epoch) = leader_of(&all).await;
    let others: Vec<&Collector> = (0..3)
        .filter(|index| *index != leader)
        .map(|index| &collectors[index])
        .collect();
    for seq in 1..=2 {
        assert_eq!(post_batch(others[0], "silent-2", seq).await, 200);
    }
    collectors[leader].process.signal(libc::SIGSTOP);
    let (_, new_epoch) = leader_of(&others).await;
    assert!(new_epoch > epoch);
    let incident = eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let found = incidents(others[0], "host=silent-2").await;
            match found.as_slice() {
                [one] => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    // The frozen leader wakes up believing it leads, with the host not marked down in its
    // memory: whatever it tries under its old epoch is refused.
    collectors[leader].process.signal(libc::SIGCONT);
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            match readyz(&collectors[leader]).await {
                Some(ready) if ready["leader"] == false => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, still) = leader_of(&all).await;
    assert_eq!(still, new_epoch, "the new leader keeps leading");
    for collector in &all {
        let found = incidents(collector, "host=silent-2").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["id"], incident["id"]);
        assert_eq!(found[0]["count"], 1, "nothing doubled: {found:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_20s_under_load_answers_503_then_every_acknowledged_event_is_there_once() {
    let Some(mut server) = PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.database("outage");
    let collectors = fleet(tmp.path(), &url, 2).await;
    let client = client();
    // Event id → acknowledged; every event has its own id and the same fingerprint.
    let mut acked: BTreeMap<u32, bool> = BTreeMap::new();
    let mut n_503 = 0;
    let mut retry_after_seen = false;
    let mut readyz_failed = false;
    let mut next_id = 0u32;
    let started = Instant::now();
    let mut stopped_at: Option<Instant> = None;
    let mut resumed = false;
    let send = |id: u32, target: &Collector| {
        let body = serde_json::json!({
            "source": "load", "check": "outage", "dedup_key": "pg-outage", "status": "firing",
            "severity": "major", "event_id": format!("e-{id}")
        });
        client
            .post(format!("{}/v1/events", target.url))
            .json(&body)
            .timeout(Duration::from_secs(15))
            .send()
    };
    loop {
        let elapsed = started.elapsed();
        if stopped_at.is_none() && elapsed > Duration::from_secs(4) {
            server.stop();
            stopped_at = Some(Instant::now());
        }
        if let Some(at) = stopped_at
            && !resumed
            && at.elapsed() > Duration::from_secs(20)
        {
            server.resume();
            resumed = true;
        }
        if resumed
            && acked.values().all(|ok| *ok)
            && next_id > 0
            && elapsed > Duration::from_secs(30)
        {
            break;
        }
        assert!(elapsed < Duration::from_secs(120), "the load did not drain");
        // One new event per round while the test runs, plus a resend of every unacknowledged one.
        if elapsed < Duration::from_secs(30) {
            acked.insert(next_id, false);
            next_id += 1;
        }
        let pending: Vec<u32> = acked
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(id, _)| *id)
            .take(20)
            .collect();
        for id in pending {
            let target = &collectors[id as usize % collectors.len()];
            match send(id, target).await {
                Ok(response) if response.status().is_success() => {
                    acked.insert(id, true);
                }
                Ok(response) => {
                    assert_eq!(response.status().as_u16(), 503, "an outage is a 503");
                    retry_after_seen |= response.headers().contains_key("retry-after");
                    n_503 += 1;
                }
                Err(_) => {}
            }
        }
        if stopped_at.is_some() && !resumed && !readyz_failed {
            readyz_failed = client
                .get(format!("{}/readyz", collectors[0].url))
                .send()
                .await
                .is_ok_and(|response| response.status().as_u16() == 503);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(n_503 > 0, "writes during the outage answered 503");
    assert!(retry_after_seen, "503s carry Retry-After");
    assert!(
        readyz_failed,
        "/readyz turned false while the database was down"
    );
    // Readiness comes back by itself.
    for collector in &collectors {
        collector.wait_ready().await;
    }
    let found = incidents(&collectors[1], "").await;
    let outage: Vec<_> = found
        .iter()
        .filter(|incident| incident["fingerprint"] == "pg-outage")
        .collect();
    assert_eq!(outage.len(), 1, "{outage:?}");
    assert_eq!(
        outage[0]["count"],
        u64::from(next_id),
        "every acknowledged event exactly once"
    );
}
