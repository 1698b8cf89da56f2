//! The incident engine with the real binaries: a killed agent opens one host-down incident that
//! resolves when it is back; a concurrent storm of one event is one incident with the exact
//! count; a kill -9 mid-storm loses nothing that got a 2xx and doubles nothing resent; flapping
//! input stays one incident; the CLI lists and acknowledges; a threshold rule and a real agent's
//! probe open incidents and resolve them.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use vigil_e2e::{Agent, Collector, bin, client, eventually};

async fn post_events(
    url: &str,
    body: &serde_json::Value,
) -> Result<(u16, serde_json::Value), String> {
    post_with(&client(), url, body).await
}

async fn post_with(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<(u16, serde_json::Value), String> {
    let response = client
        .post(format!("{url}/v1/events"))
        .json(body)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let json = response.json().await.map_err(|error| error.to_string())?;
    Ok((status, json))
}

async fn incidents(collector: &Collector, query: &str) -> Vec<serde_json::Value> {
    let (status, json) = collector.get_json(&format!("/v1/incidents?{query}")).await;
    assert_eq!(status, 200, "{json}");
    json.as_array().cloned().unwrap_or_default()
}

fn event(check: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "source": "nagios", "host": "web-1", "service": "checkout", "check": check,
        "status": status, "severity": "major", "summary": "5xx rate above 5%",
        "labels": {"dc": "eu-1"}
    })
}

#[tokio::test]
async fn a_killed_agent_opens_one_host_down_incident_that_resolves_when_it_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &["--host-down-after", "2s"]).await;
    let state = tmp.path().join("agent");
    let mut agent = Agent::start(&state, &collector.url, "down-host", "500ms", &[]);
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let (status, json) = collector.get_json("/v1/hosts/down-host").await;
            (status == 200 && json["up"] == true)
                .then_some(())
                .ok_or(json.to_string())
        },
    )
    .await;
    agent.process.kill();
    let opened = eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            let open = incidents(&collector, "host=down-host&state=open").await;
            match open.as_slice() {
                [one] if one["check"] == "host_down" => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(opened["severity"], "critical");
    assert_eq!(opened["source"], "vigil");
    // However long it stays down, it stays one incident.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let all = incidents(&collector, "host=down-host").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["count"], 1);

    let agent = Agent::start(&state, &collector.url, "down-host", "500ms", &[]);
    let resolved = eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            let all = incidents(&collector, "host=down-host").await;
            match all.as_slice() {
                [one] if one["state"] == "resolved" => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(resolved["id"], opened["id"]);
    assert_eq!(resolved["resolved_by"], "source");
    let (_, metrics) = collector.get_text("/metrics").await;
    assert!(
        metrics.contains("vigil_incidents_opened_total{priority=\"2\"} 1"),
        "{metrics}"
    );

    // Down again within the reopen window: the same incident reopens.
    drop(agent);
    let reopened = eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            match incidents(&collector, "host=down-host").await.as_slice() {
                [one] if one["state"] == "open" => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(reopened["id"], opened["id"]);
    assert_eq!(reopened["reopened"], 1);
    // Decommissioned: forgetting the host resolves its host-down incident.
    let response = client()
        .delete(format!("{}/v1/hosts/down-host", collector.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            match incidents(&collector, "host=down-host").await.as_slice() {
                [one] if one["state"] == "resolved" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_identical_events_at_once_are_one_incident_with_count_ten_thousand() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let accepted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // 100 concurrent clients; each sends 50 single events and 5 arrays of 10. One connection
    // pool for all, with a long timeout: a timed-out POST cannot be resent without breaking the
    // exact count.
    let shared = vigil_e2e::client_with_timeout(Duration::from_secs(60));
    for _ in 0..100 {
        let url = collector.url.clone();
        let accepted = Arc::clone(&accepted);
        let client = shared.clone();
        tasks.push(tokio::spawn(async move {
            let one = event("http_5xx", "firing");
            let ten = serde_json::Value::Array(vec![one.clone(); 10]);
            for i in 0..55 {
                let (body, n) = if i < 50 { (&one, 1) } else { (&ten, 10) };
                loop {
                    let (status, json) = post_with(&client, &url, body)
                        .await
                        .expect("POST /v1/events");
                    if status == 503 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    assert_eq!(status, 200, "{json}");
                    accepted.fetch_add(n, Ordering::Relaxed);
                    break;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(accepted.load(Ordering::Relaxed), 10_000);
    let all = incidents(&collector, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["count"], 10_000);
    assert_eq!(all[0]["state"], "open");
    let (_, detail) = collector
        .get_json(&format!("/v1/incidents/{}", all[0]["id"].as_str().unwrap()))
        .await;
    let timeline = detail["timeline"].as_array().unwrap();
    assert_eq!(
        timeline.len(),
        2,
        "one aggregated entry, not a row per repeat: {timeline:?}"
    );
    assert_eq!(timeline[1]["count"], 9_999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_storm_loses_nothing_acknowledged_and_resends_count_once() {
    const N: u64 = 3_000;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let collector = Collector::start(&data, &[]).await;
    let port = collector.port();
    let url = collector.url.clone();
    let next = Arc::new(AtomicU64::new(0));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (url, next, acknowledged) = (url.clone(), Arc::clone(&next), Arc::clone(&acknowledged));
        tasks.push(tokio::spawn(async move {
            let client = client();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= N {
                    return;
                }
                let mut body = event("storm", "firing");
                body["event_id"] = format!("storm-{i}").into();
                // Resend until answered: across the kill and the restart, as a real sender does.
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                loop {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "event {i} never accepted"
                    );
                    match post_with(&client, &url, &body).await {
                        Ok((200, _)) => {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Ok((503, _)) | Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Ok((status, json)) => panic!("{status} {json}"),
                    }
                }
            }
        }));
    }
    let mut collector = collector;
    eventually(Duration::from_secs(30), Duration::from_millis(5), || {
        let n = acknowledged.load(Ordering::Relaxed);
        async move { (n >= N / 3).then_some(()).ok_or(n.to_string()) }
    })
    .await;
    collector.process.kill();
    let at_kill = acknowledged.load(Ordering::Relaxed);
    assert!(at_kill < N, "the storm was still running at the kill");
    let collector = Collector::start_on(&data, port, &[]).await;
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(acknowledged.load(Ordering::Relaxed), N);
    let all = incidents(&collector, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        all[0]["count"], N,
        "every event answered 2xx is counted once, resends included"
    );
}

#[tokio::test]
async fn flapping_input_stays_one_incident_marked_flapping() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let mut ids = std::collections::HashSet::new();
    for i in 0..30 {
        let status = if i % 2 == 0 { "firing" } else { "resolved" };
        let (code, json) = post_events(&collector.url, &event("flappy", status))
            .await
            .unwrap();
        assert_eq!(code, 200, "{json}");
        if let Some(id) = json["incident_id"].as_str() {
            ids.insert(id.to_owned());
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let all = incidents(&collector, "").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["flapping"], true, "{}", all[0]);
    assert_eq!(all[0]["state"], "open", "held open while flapping");
}

#[tokio::test]
async fn agent_batch_events_and_the_cli_work_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let batch = vigil_shared::Batch {
        version: vigil_shared::wire::PROTOCOL_VERSION,
        agent: vigil_shared::wire::AgentInfo {
            host_id: "db-1".into(),
            hostname: "db-1".into(),
            version: "test".into(),
            labels: [("env".to_owned(), "prod".to_owned())].into(),
        },
        stream: 7,
        seq: 1,
        time_ms: now,
        samples: vec![],
        events: vec![vigil_shared::wire::Event {
            check: "oom_kill".into(),
            status: vigil_shared::event::Status::Firing,
            severity: vigil_shared::event::Severity::Major,
            summary: "1 process killed".into(),
            service: None,
            labels: Default::default(),
            time_ms: now,
            dedup_key: None,
        }],
        inventory: None,
    };
    for _ in 0..2 {
        // The resend (same seq) changes nothing.
        let (status, _, json) = collector
            .post_ingest(
                vigil_e2e::encode_zstd_msgpack(&batch),
                &[
                    ("content-type", "application/msgpack"),
                    ("content-encoding", "zstd"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{json}");
    }
    let all = incidents(&collector, "host=db-1").await;
    assert_eq!(all.len(), 1, "{all:?}");
    let incident = &all[0];
    assert_eq!(incident["source"], "agent");
    assert_eq!(incident["count"], 1);
    assert_eq!(incident["priority"], 1, "env=prod × major: priority 1");
    let id = incident["id"].as_str().unwrap().to_owned();

    let cli = |args: &[&str]| {
        let output = Command::new(bin("vigil-collector"))
            .arg("incidents")
            .args(args)
            .arg("--url")
            .arg(&collector.url)
            .output()
            .expect("run vigil-collector incidents");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["list", "--state", "open"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&id) && out.contains("oom_kill on db-1"),
        "{out}"
    );
    let (code, out, err) = cli(&["ack", &id, "--by", "alice", "--text", "looking"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("acknowledged"), "{out}");
    let (code, _, err) = cli(&["close", &id, "--by", "alice"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("409") && err.contains("resolve it first"),
        "{err}"
    );
    let (code, out, err) = cli(&["show", &id]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("acknowledged by alice"), "{out}");
    let (code, _, err) = cli(&["list", "--state", "bogus"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("bogus"), "{err}");

    let (_, detail) = collector.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(detail["acknowledged_by"], "alice");
    assert_eq!(detail["timeline"][1]["text"], "looking");
}

#[tokio::test]
async fn bad_events_get_clear_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let url = format!("{}/v1/events", collector.url);
    let cases: Vec<(&str, &str, u16, &str)> = vec![
        ("application/json", "{", 400, "invalid event JSON"),
        ("application/json", "42", 400, "one JSON event object"),
        ("text/plain", "{}", 415, "application/json"),
        (
            "application/json",
            r#"{"status":"firing"}"#,
            400,
            "severity",
        ),
        (
            "application/json",
            r#"{"status":"on","severity":"major","check":"x"}"#,
            400,
            "unknown variant",
        ),
        (
            "application/json",
            r#"{"status":"firing","severity":"major"}"#,
            422,
            "check is required",
        ),
        (
            "application/json",
            r#"[{"status":"firing","severity":"major","check":"x"},{"status":"firing","severity":"major","check":"x","time":"yesterday"}]"#,
            422,
            "event [1]",
        ),
    ];
    for (content_type, body, status, needle) in cases {
        let response = client()
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert!(
            json["error"].as_str().unwrap_or("").contains(needle),
            "{body}: {json}"
        );
    }
    assert!(
        incidents(&collector, "").await.is_empty(),
        "nothing half-written"
    );
    let (status, json) = collector.get_json("/v1/incidents?limit=0").await;
    assert_eq!(status, 400, "{json}");
    let (status, _) = collector.get_json("/v1/incidents/nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_threshold_rule_opens_an_incident_and_clears_it_past_the_clear_level() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        "default_rules = false\n\
         [[rule]]\nname = \"cpu_hot\"\nmetric = \"cpu_usage_ratio\"\nabove = 0.4\nclear = 0.2\n\
         for = \"0s\"\nseverity = \"critical\"\n",
    )
    .unwrap();
    let collector = Collector::start(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let send = |seq: u64, cpu: f64| {
        let mut batch = crate::batch("rule-host", 1, seq);
        batch.samples[0].value = cpu;
        let collector = &collector;
        async move {
            let (status, _, json) = collector
                .post_ingest(vigil_e2e::encode_zstd_msgpack(&batch), crate::ZSTD_MSGPACK)
                .await;
            assert_eq!(status, 200, "{json}");
        }
    };
    send(1, 0.5).await;
    let opened = eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            match incidents(&collector, "host=rule-host").await.as_slice() {
                [one] if one["state"] == "open" => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(opened["check"], "cpu_hot");
    assert_eq!(opened["source"], "vigil");
    assert_eq!(opened["severity"], "critical");
    // Still above the threshold, then inside the hysteresis band: nothing changes.
    send(2, 0.6).await;
    send(3, 0.3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = incidents(&collector, "host=rule-host").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["state"], "open", "{}", all[0]);
    assert_eq!(all[0]["count"], 1, "edge-triggered: one firing event");
    send(4, 0.1).await;
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            match incidents(&collector, "host=rule-host").await.as_slice() {
                [one] if one["state"] == "resolved" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_real_agent_probe_going_down_opens_an_incident_that_resolves_when_it_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let (url, status) = crate::agent_probes::http_server();
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[labels]\nenv = \"prod\"\n\n[[probe]]\nname = \"web\"\nkind = \"http\"\n\
             target = \"{url}\"\ninterval = \"500ms\"\ntimeout = \"400ms\"\nexpect_status = 200\n\
             failures_before_down = 2\n"
        ),
    )
    .unwrap();
    let _agent = Agent::start(
        &tmp.path().join("agent"),
        &collector.url,
        "probe-host",
        "500ms",
        &["--config", config.to_str().unwrap()],
    );
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let (_, text) = collector.get_text("/metrics").await;
            text.lines()
                .any(|l| {
                    l.starts_with("vigil_probe_up{")
                        && l.contains("probe-host")
                        && l.ends_with(" 1")
                })
                .then_some(())
                .ok_or_else(|| "probe not up yet".to_owned())
        },
    )
    .await;
    status.store(500, std::sync::atomic::Ordering::SeqCst);
    let opened = eventually(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            match incidents(&collector, "host=probe-host&state=open")
                .await
                .as_slice()
            {
                [one] => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert_eq!(opened["check"], "probe:web");
    assert_eq!(opened["source"], "agent");
    assert_eq!(opened["priority"], 1, "env=prod × major: {opened}");
    assert!(
        opened["summary"].as_str().unwrap().contains("500"),
        "{opened}"
    );
    status.store(200, std::sync::atomic::Ordering::SeqCst);
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            match incidents(&collector, "host=probe-host").await.as_slice() {
                [one] if one["state"] == "resolved" && one["id"] == opened["id"] => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}
