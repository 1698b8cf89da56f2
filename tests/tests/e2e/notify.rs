//! Feeding incident queues with the real collector and a local receiver: every lifecycle step
//! reaches a signed webhook once and in order; a receiver failing for a while (500s, a hang past
//! the timeout, refused connections, 429 with `Retry-After`) gets every notification exactly
//! once, in order, afterwards; a kill -9 with notifications pending delivers them after the
//! restart with the same idempotency keys; an unacknowledged incident escalates to a further
//! sink and an acknowledged one does not; a dead letter is listed and retried on request.

use std::path::Path;
use std::time::Duration;
use vigil_e2e::hook::{Answer, Hook, Received};
use vigil_e2e::{Collector, client, eventually};

const SECRET: &str = "hook-signing-secret";

fn event(check: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "source": "nagios", "host": "web-1", "service": "checkout", "check": check,
        "status": status, "severity": "critical", "summary": "5xx rate above 5%"
    })
}

async fn post(collector: &Collector, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let response = client()
        .post(format!("{}{path}", collector.url))
        .json(body)
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {path}: {error}"));
    assert!(
        response.status().is_success(),
        "POST {path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn open_incident(collector: &Collector, check: &str) -> String {
    let answer = post(collector, "/v1/events", &event(check, "firing")).await;
    answer["incident_id"]
        .as_str()
        .expect("an incident")
        .to_owned()
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn webhook_config(hook: &Hook, extra: &str) -> String {
    format!(
        r#"
        [[sink]]
        name = "queue"
        kind = "webhook"
        url = "{}"
        secret_env = "HOOK_SECRET"
        timeout = "500ms"
        {extra}
        [grouping]
        wait = "0s"
        "#,
        hook.url("/hook")
    )
}

async fn start(dir: &Path, config: &str) -> Collector {
    let config = write_config(dir, config);
    Collector::start_with_env(
        &dir.join("data"),
        &["--config", &config],
        &[("HOOK_SECRET", SECRET)],
    )
    .await
}

/// The accepted requests' (step, incident id, idempotency key), in arrival order.
fn steps(accepted: &[Received]) -> Vec<(String, String, String)> {
    accepted
        .iter()
        .map(|request| {
            let body = request.json();
            (
                body["step"].as_str().unwrap_or("").to_owned(),
                body["incident"]["id"].as_str().unwrap_or("").to_owned(),
                request.header("idempotency-key").unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn wait_for_accepted(hook: &Hook, n: usize, timeout: Duration) -> Vec<Received> {
    eventually(timeout, Duration::from_millis(50), || async {
        let accepted = hook.accepted();
        (accepted.len() >= n)
            .then(|| accepted.clone())
            .ok_or_else(|| format!("{} of {n}: {:?}", accepted.len(), steps(&accepted)))
    })
    .await
}

#[tokio::test]
async fn every_lifecycle_step_reaches_a_signed_webhook_once_and_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let collector = start(tmp.path(), &webhook_config(&hook, "")).await;
    let id = open_incident(&collector, "http_5xx").await;
    // Every step is queued with its change: the open is already in the outbox.
    let (status, queued) = collector
        .get_json(&format!("/v1/notifications?incident={id}"))
        .await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued.as_array().map(Vec::len), Some(1), "{queued}");
    wait_for_accepted(&hook, 1, Duration::from_secs(10)).await;
    post(
        &collector,
        &format!("/v1/incidents/{id}/ack"),
        &serde_json::json!({"by": "alice"}),
    )
    .await;
    wait_for_accepted(&hook, 2, Duration::from_secs(10)).await;
    post(&collector, "/v1/events", &event("http_5xx", "resolved")).await;
    wait_for_accepted(&hook, 3, Duration::from_secs(10)).await;
    // Fires again within the reopen window.
    assert_eq!(open_incident(&collector, "http_5xx").await, id);
    let accepted = wait_for_accepted(&hook, 4, Duration::from_secs(10)).await;
    let seen = steps(&accepted);
    let names: Vec<&str> = seen.iter().map(|(step, ..)| step.as_str()).collect();
    assert_eq!(names, ["open", "acknowledge", "resolve", "reopen"]);
    assert!(
        seen.iter().all(|(_, incident, _)| *incident == id),
        "{seen:?}"
    );
    let mut keys: Vec<&str> = seen.iter().map(|(.., key)| key.as_str()).collect();
    assert!(
        keys.iter()
            .all(|key| key.starts_with(&id) && key.ends_with(".queue")),
        "{keys:?}"
    );
    keys.dedup();
    assert_eq!(keys.len(), 4, "one key per change");
    for request in &accepted {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/hook");
        assert_eq!(request.header("content-type"), Some("application/json"));
        let signature = request.header("x-vigil-signature").expect("signed");
        let now = vigil_shared::time::now_ms() / 1_000;
        assert!(
            vigil_collector::notify::sinks::webhook::verify(
                SECRET.as_bytes(),
                signature,
                &request.body,
                now,
                300
            ),
            "signature {signature} does not verify"
        );
        let body = request.json();
        assert_eq!(body["version"], 1);
        assert_eq!(body["incident"]["host"], "web-1");
        assert_eq!(body["incident"]["severity"], "critical");
        assert_eq!(
            body["idempotency_key"],
            request.header("idempotency-key").unwrap()
        );
    }
    assert_eq!(accepted[1].json()["incident"]["state"], "acknowledged");
    assert_eq!(accepted[2].json()["incident"]["state"], "resolved");
    // Nothing more arrives, and the outbox says all four were sent once.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(hook.received().len(), 4);
    let (_, listed) = collector
        .get_json(&format!("/v1/notifications?incident={id}&state=sent"))
        .await;
    let listed = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|row| row["attempts"] == 1 && row["sink"] == "queue")
    );
    let (_, metrics) = collector.get_text("/metrics").await;
    assert!(
        metrics.contains("vigil_notifications_sent_total{sink=\"queue\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("vigil_notifications_queued_total{sink=\"queue\"} 4"));
}

#[tokio::test]
async fn a_failing_receiver_gets_every_notification_once_and_in_order_afterwards() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hook = Hook::start().await;
    hook.script([
        Answer::Status(500),
        Answer::Hang(Duration::from_millis(1_500)),
        Answer::Status(503),
        Answer::RetryAfter(1),
    ]);
    let collector = start(tmp.path(), &webhook_config(&hook, "")).await;
    let first = open_incident(&collector, "disk_full").await;
    let second = open_incident(&collector, "mem_full").await;
    post(&collector, "/v1/events", &event("disk_full", "resolved")).await;
    // Refused connections for a while, too.
    hook.pause();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    hook.resume().await;
    let accepted = wait_for_accepted(&hook, 3, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let accepted_now = hook.accepted();
    assert_eq!(accepted_now.len(), 3, "{:?}", steps(&accepted_now));
    let seen = steps(&accepted);
    let of = |id: &str| -> Vec<String> {
        seen.iter()
            .filter(|(_, incident, _)| incident == id)
            .map(|(step, ..)| step.clone())
            .collect()
    };
    assert_eq!(
        of(&first),
        ["open", "resolve"],
        "the resolve never overtakes the open"
    );
    assert_eq!(of(&second), ["open"]);
    // The failed attempts carried the same key as the one that went through.
    let first_open_key = &seen
        .iter()
        .find(|(step, incident, _)| step == "open" && *incident == first)
        .unwrap()
        .2;
    let attempts = hook
        .received()
        .iter()
        .filter(|request| request.header("idempotency-key") == Some(first_open_key))
        .count();
    assert!(attempts >= 2, "retried with the same key ({attempts})");
    let (_, listed) = collector.get_json("/v1/notifications?state=sent").await;
    let listed = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().any(|row| row["attempts"].as_u64() > Some(1)));
    let (_, metrics) = collector.get_text("/metrics").await;
    let failed = metrics
        .lines()
        .find(|line| line.starts_with("vigil_notifications_failed_total{sink=\"queue\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(failed >= 4, "{failed} failed attempts counted");
}

#[tokio::test]
async fn a_kill_9_with_notifications_pending_delivers_them_after_the_restart_once() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    // Everything fails until the restart.
    hook.script(std::iter::repeat_n(Answer::Status(500), 1_000));
    let config = webhook_config(&hook, "");
    let mut collector = start(tmp.path(), &config).await;
    let id = open_incident(&collector, "disk_full").await;
    post(&collector, "/v1/events", &event("disk_full", "resolved")).await;
    eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            (!hook.received().is_empty())
                .then_some(())
                .ok_or_else(|| "no attempt yet".to_owned())
        },
    )
    .await;
    let failed_key = hook.received()[0]
        .header("idempotency-key")
        .unwrap()
        .to_owned();
    collector.process.kill();
    // A request the dead process had already written may still reach the receiver: wait until
    // nothing more arrives, so the recovered receiver sees only the restarted collector.
    let mut n_failed = hook.received().len();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = hook.received().len();
        if now == n_failed {
            break;
        }
        n_failed = now;
    }
    // The receiver recovers while the collector is down.
    hook.clear_script();
    let collector = Collector::start_with_env(
        &tmp.path().join("data"),
        &[
            "--config",
            &tmp.path().join("collector.toml").display().to_string(),
        ],
        &[("HOOK_SECRET", SECRET)],
    )
    .await;
    let accepted = wait_for_accepted(&hook, 2, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(hook.accepted().len(), 2, "nothing doubled");
    let seen = steps(&accepted);
    assert_eq!(
        seen.iter()
            .map(|(step, ..)| step.as_str())
            .collect::<Vec<_>>(),
        ["open", "resolve"]
    );
    assert!(seen.iter().all(|(_, incident, _)| *incident == id));
    assert_eq!(
        seen[0].2, failed_key,
        "the same idempotency key after the restart"
    );
    assert!(n_failed >= 1);
    let (_, listed) = collector.get_json("/v1/notifications?state=sent").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
}

#[tokio::test]
async fn an_unacknowledged_incident_escalates_and_an_acknowledged_one_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let pager = Hook::start().await;
    let manager = Hook::start().await;
    let config = format!(
        r#"
        [[sink]]
        name = "pager"
        kind = "webhook"
        url = "{}"
        [[sink]]
        name = "manager"
        kind = "webhook"
        url = "{}"
        [[route]]
        service = "checkout"
        sinks = ["pager"]
        [[route.escalate]]
        after = "2s"
        sinks = ["manager"]
        [grouping]
        wait = "0s"
        "#,
        pager.url("/p"),
        manager.url("/m")
    );
    let collector = start(tmp.path(), &config).await;
    let ignored = open_incident(&collector, "ignored").await;
    let handled = open_incident(&collector, "handled").await;
    wait_for_accepted(&pager, 2, Duration::from_secs(10)).await;
    post(
        &collector,
        &format!("/v1/incidents/{handled}/ack"),
        &serde_json::json!({"by": "bob"}),
    )
    .await;
    let escalated = wait_for_accepted(&manager, 1, Duration::from_secs(15)).await;
    let body = escalated[0].json();
    assert_eq!(body["step"], "escalate");
    assert_eq!(body["level"], 1);
    assert_eq!(body["incident"]["id"], ignored.as_str());
    // The escalated incident's resolve reaches the manager too; the handled one never did.
    post(&collector, "/v1/events", &event("ignored", "resolved")).await;
    let manager_seen = wait_for_accepted(&manager, 2, Duration::from_secs(10)).await;
    assert_eq!(manager_seen[1].json()["step"], "resolve");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let manager_steps = steps(&manager.accepted());
    assert_eq!(manager_steps.len(), 2, "{manager_steps:?}");
    assert!(
        manager_steps
            .iter()
            .all(|(_, incident, _)| *incident == ignored)
    );
    let (_, cancelled) = collector
        .get_json(&format!(
            "/v1/notifications?incident={handled}&state=cancelled"
        ))
        .await;
    assert_eq!(cancelled.as_array().map(Vec::len), Some(1), "{cancelled}");
    let pager_steps: Vec<String> = steps(&pager.accepted())
        .into_iter()
        .map(|(step, ..)| step)
        .collect();
    assert_eq!(pager_steps, ["open", "open", "acknowledge", "resolve"]);
}

#[tokio::test]
async fn a_refused_notification_is_dead_lettered_listed_and_retried_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    hook.script([Answer::Status(400)]);
    let collector = start(tmp.path(), &webhook_config(&hook, "")).await;
    let id = open_incident(&collector, "bad_payload").await;
    let dead = eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            let (_, listed) = collector.get_json("/v1/notifications?state=dead").await;
            match listed.as_array().map(Vec::as_slice) {
                Some([one]) => Ok(one.clone()),
                _ => Err(listed.to_string()),
            }
        },
    )
    .await;
    assert_eq!(dead["incident_id"], id.as_str());
    assert!(
        dead["last_error"].as_str().unwrap().contains("HTTP 400"),
        "{dead}"
    );
    let row = dead["id"].as_i64().unwrap();
    let answer = post(
        &collector,
        &format!("/v1/notifications/{row}/retry"),
        &serde_json::json!({}),
    )
    .await;
    assert_eq!(answer["state"], "pending");
    let accepted = wait_for_accepted(&hook, 1, Duration::from_secs(10)).await;
    assert_eq!(accepted[0].json()["step"], "open");
    let response = client()
        .post(format!("{}/v1/notifications/{row}/retry", collector.url))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        404,
        "a sent notification is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_collectors_on_one_postgresql_send_each_notification_once_in_order() {
    let Some(server) = vigil_e2e::postgres::PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.database("notify_fleet");
    let hook = Hook::start().await;
    // Failing at first: rows are handed back, claimed again by any collector, in order.
    hook.script(std::iter::repeat_n(Answer::Status(500), 15));
    let config = write_config(
        tmp.path(),
        &format!(
            "leader_lease = \"2s\"\nstore_timeout = \"3s\"\n{}",
            webhook_config(&hook, "")
        ),
    );
    let mut collectors = Vec::new();
    for index in 0..3 {
        collectors.push(
            Collector::start_with_env(
                &tmp.path().join(format!("c{index}")),
                &["--store", &url, "--config", &config],
                &[("HOOK_SECRET", SECRET)],
            )
            .await,
        );
    }
    const INCIDENTS: usize = 30;
    let mut ids = Vec::new();
    for index in 0..INCIDENTS {
        // Opened through one collector, resolved through the next.
        let check = format!("check_{index}");
        ids.push(open_incident(&collectors[index % 3], &check).await);
        post(
            &collectors[(index + 1) % 3],
            "/v1/events",
            &event(&check, "resolved"),
        )
        .await;
    }
    let accepted = wait_for_accepted(&hook, 2 * INCIDENTS, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let accepted = {
        let now = hook.accepted();
        assert!(now.len() >= accepted.len());
        now
    };
    let seen = steps(&accepted);
    let mut keys: Vec<&str> = seen.iter().map(|(.., key)| key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(
        keys.len(),
        seen.len(),
        "a notification accepted twice: {seen:?}"
    );
    assert_eq!(seen.len(), 2 * INCIDENTS);
    for id in &ids {
        let order: Vec<&str> = seen
            .iter()
            .filter(|(_, incident, _)| incident == id)
            .map(|(step, ..)| step.as_str())
            .collect();
        assert_eq!(order, ["open", "resolve"], "incident {id}");
    }
    let (_, listed) = collectors[1]
        .get_json("/v1/notifications?state=sent&limit=1000")
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2 * INCIDENTS));
    // Who sent them: more than one collector took part.
    let mut senders = 0;
    for collector in &collectors {
        let (_, metrics) = collector.get_text("/metrics").await;
        if !metrics.contains("vigil_notifications_sent_total{sink=\"queue\"} 0") {
            senders += 1;
        }
    }
    assert!(senders >= 2, "only {senders} collector(s) delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_a_dead_collector_held_are_delivered_by_another_after_its_lease() {
    let Some(server) = vigil_e2e::postgres::PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.database("notify_failover");
    let hook = Hook::start().await;
    let common = "leader_lease = \"1s\"\nstore_timeout = \"3s\"\n";
    // The first collector claims what it queues but starts one request per 1,000 s: it holds
    // the rows (renewing its claim) until it dies.
    let slow = tmp.path().join("slow");
    std::fs::create_dir_all(&slow).unwrap();
    let slow_config = write_config(
        &slow,
        &format!("{common}{}", webhook_config(&hook, "rate_limit = 0.001")),
    );
    let fast = tmp.path().join("fast");
    std::fs::create_dir_all(&fast).unwrap();
    let fast_config = write_config(&fast, &format!("{common}{}", webhook_config(&hook, "")));
    let mut holder = Collector::start_with_env(
        &slow.join("data"),
        &["--store", &url, "--config", &slow_config],
        &[("HOOK_SECRET", SECRET)],
    )
    .await;
    let other = Collector::start_with_env(
        &fast.join("data"),
        &["--store", &url, "--config", &fast_config],
        &[("HOOK_SECRET", SECRET)],
    )
    .await;
    // The bucket's one burst token goes to a first incident; the next ones wait.
    let mut ids = Vec::new();
    for index in 0..4 {
        ids.push(open_incident(&holder, &format!("held_{index}")).await);
    }
    wait_for_accepted(&hook, 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    assert_eq!(
        hook.accepted().len(),
        1,
        "the others are held (and renewed) by their claimer"
    );
    holder.process.kill();
    let accepted = wait_for_accepted(&hook, 4, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(hook.accepted().len(), 4, "each once");
    let mut delivered: Vec<String> = steps(&accepted).into_iter().map(|(_, id, _)| id).collect();
    delivered.sort();
    ids.sort();
    assert_eq!(delivered, ids);
    let (_, metrics) = other.get_text("/metrics").await;
    assert!(
        metrics.contains("vigil_notifications_sent_total{sink=\"queue\"} 3"),
        "{metrics}"
    );
}
