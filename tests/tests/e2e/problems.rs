//! Suspected changes, problems and runbooks with the real collector and a webhook receiver: a
//! change posted before an event on its host is the incident's `suspected_change` in the API,
//! the timeline and the webhook's snapshot; a runbook on the event is carried the same way; a
//! fingerprint that opens and resolves three times opens one problem linking the three
//! incidents, which made a known error hands its workaround to the next incident (API and
//! webhook); a replay of a disk filling again and again across days opens one problem; two
//! collectors on one PostgreSQL decide the same from what the other committed.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_e2e::hook::Hook;
use vigil_e2e::postgres::PgServer;
use vigil_e2e::{Collector, bin, client, eventually};

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
            "{extra}\n[[sink]]\nname = \"queue\"\nkind = \"webhook\"\nurl = \"{}\"\n[grouping]\nwait = \"0s\"\n",
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

/// Fires and resolves `check` on `host`; returns the incident id.
async fn open_and_resolve(collector: &Collector, host: &str, check: &str) -> String {
    let (status, opened) = post(collector, "/v1/events", &event(host, check, "firing")).await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["outcome"], "opened", "{opened}");
    let id = opened["incident_id"].as_str().unwrap().to_owned();
    let (status, resolved) = post(collector, "/v1/events", &event(host, check, "resolved")).await;
    assert_eq!(status, 200, "{resolved}");
    // The reopen window is 0 s: the next firing must come at least a millisecond after the
    // resolve to open a new incident (not a timed assertion: only the order matters).
    std::thread::sleep(Duration::from_millis(5));
    id
}

#[tokio::test]
async fn a_recurring_fingerprint_opens_one_problem_and_a_known_error_hands_out_its_workaround() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let collector = with_hook(
        tmp.path(),
        &hook,
        "[incidents]\nreopen_window = \"0s\"\n[problems]\nrecur_count = 3\nrecur_window = \"24h\"\n",
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(open_and_resolve(&collector, "db-1", "disk_full").await);
    }
    // Another fingerprint opened once: no problem.
    let lone = open_and_resolve(&collector, "db-2", "disk_full").await;

    let (status, problems) = collector.get_json("/v1/problems").await;
    assert_eq!(status, 200, "{problems}");
    let problems = problems.as_array().unwrap().clone();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem_id = problems[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(problems[0]["state"], "open");
    assert_eq!(problems[0]["reason"], "recurrence");
    let (status, problem) = collector
        .get_json(&format!("/v1/problems/{problem_id}"))
        .await;
    assert_eq!(status, 200, "{problem}");
    assert_eq!(problem["incidents"], serde_json::json!(ids), "{problem}");
    for id in &ids {
        let (_, incident) = collector.get_json(&format!("/v1/incidents/{id}")).await;
        assert_eq!(incident["problem_id"], problem_id.as_str(), "{incident}");
    }
    let (_, lone) = collector.get_json(&format!("/v1/incidents/{lone}")).await;
    assert!(lone["problem_id"].is_null(), "{lone}");
    let listed = collector.get_json("/v1/incidents?host=db-1").await.1;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|incident| incident["problem_id"] == problem_id.as_str()),
        "{listed}"
    );

    // Bad updates name the field; a good one makes it a known error.
    let path = format!("/v1/problems/{problem_id}");
    let (status, answer) = post(&collector, &path, &serde_json::json!({"state": "fixed"})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("state"),
        "{answer}"
    );
    let (status, answer) = post(&collector, &path, &serde_json::json!({"workaround": 7})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("workaround")
            || answer["error"].as_str().unwrap().contains("invalid type"),
        "{answer}"
    );
    let (status, answer) = post(
        &collector,
        "/v1/problems/p-none",
        &serde_json::json!({"state": "resolved"}),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    let (status, known) = post(
        &collector,
        &path,
        &serde_json::json!({"state": "known_error", "workaround": "rotate /var/log/app",
                            "root_cause": "logrotate disabled", "by": "alice"}),
    )
    .await;
    assert_eq!(status, 200, "{known}");
    assert_eq!(known["state"], "known_error");
    assert_eq!(known["workaround"], "rotate /var/log/app");
    assert_eq!(known["updated_by"], "alice");
    let (_, listed) = collector.get_json("/v1/problems?state=known_error").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let (status, _) = collector.get_json("/v1/problems?state=closed").await;
    assert_eq!(status, 400);

    // The next incident of the fingerprint carries the problem and its workaround.
    let (_, next) = post(
        &collector,
        "/v1/events",
        &event("db-1", "disk_full", "firing"),
    )
    .await;
    let next = next["incident_id"].as_str().unwrap().to_owned();
    assert!(!ids.contains(&next));
    let (_, incident) = collector.get_json(&format!("/v1/incidents/{next}")).await;
    assert_eq!(incident["problem_id"], problem_id.as_str(), "{incident}");
    assert_eq!(incident["workaround"], "rotate /var/log/app", "{incident}");
    let opened = eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            hook.accepted()
                .into_iter()
                .map(|request| request.json())
                .find(|body| body["step"] == "open" && body["incident"]["id"] == next.as_str())
                .ok_or_else(|| format!("{} requests", hook.received().len()))
        },
    )
    .await;
    assert_eq!(opened["incident"]["problem_id"], problem_id.as_str());
    assert_eq!(opened["incident"]["workaround"], "rotate /var/log/app");
    let (_, problem) = collector.get_json(&path).await;
    assert_eq!(
        problem["incidents"].as_array().unwrap().len(),
        4,
        "{problem}"
    );

    // Resolved: its incidents do not count again; the next one is on its own.
    let (_, resolved) = post(
        &collector,
        "/v1/events",
        &event("db-1", "disk_full", "resolved"),
    )
    .await;
    assert_eq!(resolved["outcome"], "resolved", "{resolved}");
    std::thread::sleep(Duration::from_millis(5));
    let (status, answer) = post(&collector, &path, &serde_json::json!({"state": "resolved"})).await;
    assert_eq!(status, 200, "{answer}");
    let after = open_and_resolve(&collector, "db-1", "disk_full").await;
    let (_, incident) = collector.get_json(&format!("/v1/incidents/{after}")).await;
    assert!(incident["problem_id"].is_null(), "{incident}");
    assert!(incident["workaround"].is_null(), "{incident}");
    let (_, problems) = collector.get_json("/v1/problems").await;
    assert_eq!(problems.as_array().unwrap().len(), 1, "{problems}");
}

/// Runs `vigil-collector replay ARGS` with `input` on stdin: (status, stdout, stderr).
fn replay(args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin("vigil-collector"))
        .arg("replay")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start vigil-collector replay");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("replay did not finish");
    writer.join().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_replay_of_a_disk_filling_again_and_again_across_days_opens_one_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        "[problems]\nrecur_count = 3\nrecur_window = \"7d\"\n",
    )
    .unwrap();
    // Five days: the disk fills at 03:00 and is cleaned up at 04:00, every day.
    let mut input = String::new();
    for day in 1..=5 {
        for (hour, status) in [("03", "firing"), ("04", "resolved")] {
            input.push_str(
                &serde_json::json!({
                    "source": "agent", "host": "db-1", "check": "filesystem_almost_full",
                    "status": status, "severity": "major", "summary": "/var 95% full",
                    "labels": {"mountpoint": "/var"},
                    "time": format!("2026-11-{day:02}T{hour}:00:00Z")
                })
                .to_string(),
            );
            input.push('\n');
        }
    }
    let (status, stdout, stderr) = replay(&["--config", config.to_str().unwrap()], &input);
    assert_eq!(status, Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["incidents"], 5, "{stdout}");
    assert_eq!(summary["problems"], 1, "{stdout}");
    let opens: Vec<&serde_json::Value> =
        lines.iter().filter(|line| line["step"] == "open").collect();
    assert_eq!(opens.len(), 5, "{stdout}");
    // Days 1 and 2 before the recurrence; from day 3 on every open names the one problem.
    assert!(opens[0]["problem_id"].is_null() && opens[1]["problem_id"].is_null());
    let problem = opens[2]["problem_id"]
        .as_str()
        .expect("day 3 opens the problem");
    for open in &opens[3..] {
        assert_eq!(open["problem_id"], problem, "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_collectors_on_one_postgres_share_changes_problems_and_known_errors() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.database("problems");
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        "leader_lease = \"2s\"\nstore_timeout = \"3s\"\n[incidents]\nreopen_window = \"0s\"\n",
    )
    .unwrap();
    let mut collectors = Vec::new();
    for index in 0..2 {
        collectors.push(
            Collector::start(
                &tmp.path().join(format!("c{index}")),
                &["--store", &url, "--config", config.to_str().unwrap()],
            )
            .await,
        );
    }
    let (a, b) = (&collectors[0], &collectors[1]);
    // A change recorded on one collector is suspected by an incident opened on the other.
    let (status, change) = post(
        a,
        "/v1/changes",
        &serde_json::json!({"kind": "config", "summary": "pool size 8 → 4", "by": "ops",
                            "hosts": ["db-1"]}),
    )
    .await;
    assert_eq!(status, 200, "{change}");
    // Three openings spread over both collectors: one problem linking the three.
    let mut ids = Vec::new();
    for collector in [b, a, b] {
        ids.push(open_and_resolve(collector, "db-1", "disk_full").await);
    }
    let (_, first) = a.get_json(&format!("/v1/incidents/{}", ids[0])).await;
    assert_eq!(first["suspected_change"]["id"], change["id"], "{first}");
    let (_, problems) = a.get_json("/v1/problems").await;
    let problems = problems.as_array().unwrap().clone();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem_id = problems[0]["id"].as_str().unwrap().to_owned();
    let (_, problem) = b.get_json(&format!("/v1/problems/{problem_id}")).await;
    assert_eq!(problem["incidents"], serde_json::json!(ids), "{problem}");
    // Made a known error on one collector, its workaround reaches an incident opened on the
    // other.
    let (status, known) = post(
        b,
        &format!("/v1/problems/{problem_id}"),
        &serde_json::json!({"state": "known_error", "workaround": "vacuum the queue table"}),
    )
    .await;
    assert_eq!(status, 200, "{known}");
    let next = open_and_resolve(a, "db-1", "disk_full").await;
    let (_, incident) = b.get_json(&format!("/v1/incidents/{next}")).await;
    assert_eq!(incident["problem_id"], problem_id.as_str(), "{incident}");
    assert_eq!(
        incident["workaround"], "vacuum the queue table",
        "{incident}"
    );
    let (_, problems) = b.get_json("/v1/problems").await;
    assert_eq!(
        problems.as_array().unwrap().len(),
        1,
        "still one: {problems}"
    );
}
