//! `vigil-collector replay` on the real binary: a backtest prints what each sink would have got
//! and when — deduplicated repeats, a flapping check held as one incident, an escalation at its
//! time on the events' clock and one cancelled by a resolve — with an assignment per input line;
//! the same events through a live collector reach a real webhook with the same steps in the same
//! order; the children of an outage settle and detach on the events' clock; with novelty paging
//! one service incident pages for new alerts only (exact pages and times); bad input is exit
//! status 2 naming the input line.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_e2e::hook::Hook;
use vigil_e2e::{Collector, bin, client, eventually};

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

fn event(host: &str, check: &str, status: &str, time: &str) -> String {
    serde_json::json!({
        "source": "nagios", "host": host, "service": "checkout", "check": check,
        "status": status, "severity": "critical", "summary": "5xx above 5%", "time": time
    })
    .to_string()
}

fn lines(stdout: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut all: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let summary = all.pop().expect("a summary line");
    (all, summary["summary"].clone())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn replay_prints_each_notification_at_its_time_with_escalations_and_assignments() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "replay.toml",
        r#"
        [[sink]]
        name = "pager"
        kind = "webhook"
        url = "http://127.0.0.1:1/never-called"
        [[route]]
        sinks = ["pager"]
        [[route.escalate]]
        after = "10m"
        # Each incident on its own here (grouping has its own test).
        [grouping]
        by = []
        "#,
    );
    let mut input = vec![
        event("web-1", "http_5xx", "firing", "2026-11-21T10:00:00Z"),
        event("web-1", "http_5xx", "firing", "2026-11-21T10:00:30Z"),
        String::new(),
        event("web-2", "http_5xx", "firing", "2026-11-21T10:01:00Z"),
        event("web-1", "http_5xx", "resolved", "2026-11-21T10:05:00Z"),
    ];
    // A flapping check: twenty flips in ten minutes are one incident.
    for minute in 0..20 {
        let status = if minute % 2 == 0 {
            "firing"
        } else {
            "resolved"
        };
        input.push(event(
            "db-1",
            "replication",
            status,
            &format!("2026-11-21T11:{:02}:00Z", minute * 30 / 60),
        ));
    }
    let assignments = tmp.path().join("assignments.txt");
    let (code, stdout, stderr) = replay(
        &[
            "--config",
            &config,
            "--assignments",
            assignments.to_str().unwrap(),
        ],
        &(input.join("\n") + "\n"),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let (sent, summary) = lines(&stdout);
    let web1: Vec<(&str, &str)> = sent
        .iter()
        .filter(|line| line["hosts"][0] == "web-1")
        .map(|line| (line["step"].as_str().unwrap(), line["at"].as_str().unwrap()))
        .collect();
    assert_eq!(
        web1,
        [
            ("open", "2026-11-21T10:00:00.000Z"),
            ("resolve", "2026-11-21T10:05:00.000Z")
        ],
        "one page, no escalation after the resolve"
    );
    let web2: Vec<(&str, &str)> = sent
        .iter()
        .filter(|line| line["hosts"][0] == "web-2")
        .map(|line| (line["step"].as_str().unwrap(), line["at"].as_str().unwrap()))
        .collect();
    assert_eq!(
        web2,
        [
            ("open", "2026-11-21T10:01:00.000Z"),
            ("escalate", "2026-11-21T10:11:00.000Z")
        ],
        "escalated ten minutes after its open, on the events' clock"
    );
    let db: Vec<&str> = sent
        .iter()
        .filter(|line| line["hosts"][0] == "db-1")
        .map(|line| line["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        db.iter().filter(|step| **step == "open").count(),
        1,
        "{db:?}"
    );
    for line in &sent {
        assert_eq!(line["sink"], "pager");
        for field in [
            "incident_id",
            "fingerprint",
            "title",
            "service",
            "priority",
            "count",
        ] {
            assert!(!line[field].is_null(), "{field} missing in {line}");
        }
        assert!(line["parent_id"].is_null());
    }
    assert_eq!(summary["events"], 24);
    assert_eq!(summary["incidents"], 3);
    assert_eq!(summary["top_level_incidents"], 3);
    assert_eq!(summary["notifications"]["escalate"], 2);
    assert_eq!(summary["notifications_total"], sent.len());
    let assigned = std::fs::read_to_string(&assignments).unwrap();
    let assigned: Vec<&str> = assigned.lines().collect();
    assert_eq!(assigned.len(), input.len(), "one line per input line");
    assert_eq!(
        assigned[0], assigned[1],
        "a repeat ends in the same incident"
    );
    assert_eq!(assigned[2], "", "an empty line opens nothing");
    assert_ne!(assigned[3], assigned[0]);
    assert_eq!(assigned[4], assigned[0]);
    assert_eq!(web2.len(), 2);
    assert!(sent.iter().any(|line| line["incident_id"] == assigned[3]));
}

#[tokio::test]
async fn replay_and_a_live_collector_send_the_same_steps_in_the_same_order() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Hook::start().await;
    let config = write(
        tmp.path(),
        "collector.toml",
        &format!(
            "[[sink]]\nname = \"queue\"\nkind = \"webhook\"\nurl = \"{}\"\nsteps = [\"open\", \"update\", \"reopen\", \"resolve\"]\n[grouping]\nby = []\n",
            hook.url("/hook")
        ),
    );
    // No timers involved: opens, repeats, a resolve, a reopen, a severity rise.
    let script = [
        ("web-1", "http_5xx", "firing", "major"),
        ("web-2", "http_5xx", "firing", "minor"),
        ("web-1", "http_5xx", "firing", "major"),
        ("web-1", "http_5xx", "resolved", "major"),
        ("web-1", "http_5xx", "firing", "major"),
        ("web-2", "http_5xx", "firing", "critical"),
        ("web-2", "http_5xx", "resolved", "critical"),
    ];
    let body = |(host, check, status, severity): (&str, &str, &str, &str), time: &str| {
        serde_json::json!({
            "source": "nagios", "host": host, "service": "checkout", "check": check,
            "status": status, "severity": severity, "summary": "s", "time": time
        })
    };
    let input: Vec<String> = script
        .iter()
        .enumerate()
        .map(|(index, step)| {
            body(*step, &format!("2026-11-21T10:00:{:02}Z", index * 5)).to_string()
        })
        .collect();
    let (code, stdout, stderr) = replay(&["--config", &config], &(input.join("\n") + "\n"));
    assert_eq!(code, Some(0), "{stderr}");
    let (sent, _) = lines(&stdout);
    let replayed: Vec<(String, String)> = sent
        .iter()
        .map(|line| {
            (
                line["step"].as_str().unwrap().to_owned(),
                line["hosts"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let collector = Collector::start(&tmp.path().join("data"), &["--config", &config]).await;
    for step in script {
        let response = client()
            .post(format!("{}/v1/events", collector.url))
            .json(&body(step, "2026-11-21T10:00:00Z"))
            .send()
            .await
            .unwrap();
        // One at a time, as the replay applies them.
        assert!(response.status().is_success());
    }
    let live = eventually(
        Duration::from_secs(15),
        Duration::from_millis(100),
        || async {
            let got: Vec<(String, String)> = hook
                .accepted()
                .iter()
                .map(|request| {
                    let body = request.json();
                    (
                        body["step"].as_str().unwrap_or("").to_owned(),
                        body["incident"]["hosts"][0]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                    )
                })
                .collect();
            (got.len() >= replayed.len())
                .then(|| got.clone())
                .ok_or_else(|| format!("{got:?} vs {replayed:?}"))
        },
    )
    .await;
    let per_host = |all: &[(String, String)], host: &str| -> Vec<String> {
        all.iter()
            .filter(|(_, h)| h == host)
            .map(|(step, _)| step.clone())
            .collect()
    };
    for host in ["web-1", "web-2"] {
        assert_eq!(per_host(&live, host), per_host(&replayed, host), "{host}");
    }
    assert_eq!(live.len(), replayed.len());
    assert!(replayed.iter().any(|(step, _)| step == "reopen"));
    assert!(replayed.iter().any(|(step, _)| step == "update"));
}

#[test]
fn replay_bad_input_is_exit_2_naming_the_input_line() {
    let good = event("web-1", "http_5xx", "firing", "2026-11-21T10:00:00Z");
    let cases = [
        (
            format!("{good}\n{{\"status\": \"firing\"}}\n"),
            "input line 2: not a generic event",
        ),
        (
            format!(
                "{good}\n{}\n",
                serde_json::json!({"source": "x", "check": "c", "status": "firing", "severity": "major"})
            ),
            "input line 2: time is required",
        ),
        (
            format!(
                "{}\n",
                serde_json::json!({"source": "x", "check": "c", "status": "firing", "severity": "major", "time": "yesterday"})
            ),
            "input line 1: time \"yesterday\" is not RFC 3339",
        ),
        ("not json at all\n".to_owned(), "input line 1:"),
    ];
    for (input, expected) in cases {
        let (code, _, stderr) = replay(&[], &input);
        assert_eq!(code, Some(2), "{input}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn replay_settles_the_children_of_an_outage_on_the_events_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "replay.toml",
        r#"
        [topology]
        settle = "2m"
        [topology.depends_on]
        "web-1" = ["switch-a"]
        "web-2" = ["switch-a"]
        [grouping]
        wait = "0s"
        "#,
    );
    let input = [
        event("web-1", "http_5xx", "firing", "2026-11-21T10:00:00Z"),
        event("switch-a", "host_down", "firing", "2026-11-21T10:00:10Z"),
        event("web-2", "http_5xx", "firing", "2026-11-21T10:00:20Z"),
        event("switch-a", "host_down", "resolved", "2026-11-21T10:10:00Z"),
        // Recovers within the settle time: resolves quietly.
        event("web-2", "http_5xx", "resolved", "2026-11-21T10:11:00Z"),
        // Something else, an hour later, moves the clock on.
        event("db-1", "disk", "firing", "2026-11-21T11:00:00Z"),
    ]
    .join("\n");
    let (status, stdout, stderr) = replay(&["--config", &config], &input);
    assert_eq!(status, Some(0), "{stderr}");
    let (notifications, summary) = lines(&stdout);
    let seen: Vec<(String, String, String)> = notifications
        .iter()
        .map(|n| {
            (
                n["at"].as_str().unwrap().to_owned(),
                n["title"].as_str().unwrap().to_owned(),
                n["step"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("2026-11-21T10:00:10.000Z", "host_down on switch-a", "open"),
        (
            "2026-11-21T10:10:00.000Z",
            "host_down on switch-a",
            "resolve",
        ),
        // Still failing when the settle time ran out: it stands on its own, paged then.
        ("2026-11-21T10:12:00.000Z", "http_5xx on web-1", "open"),
        ("2026-11-21T11:00:00.000Z", "disk on db-1", "open"),
    ]
    .map(|(at, title, step)| (at.to_owned(), title.to_owned(), step.to_owned()));
    assert_eq!(seen, expected, "{stdout}");
    let detached = &notifications[2];
    assert_eq!(detached["parent_id"], serde_json::Value::Null, "{detached}");
    assert_eq!(summary["incidents"], 4, "{summary}");
}

#[test]
fn replay_groups_a_service_failing_on_several_hosts_into_one_page_with_updates() {
    let tmp = tempfile::tempdir().unwrap();
    // Grouping as by default: by service, a lone incident waits 30 s for another host's.
    let service = |host: &str, service: &str, status: &str, time: &str| {
        serde_json::json!({
            "source": "nagios", "host": host, "service": service, "check": "http_5xx",
            "status": status, "severity": "major", "summary": "5xx above 5%", "time": time
        })
        .to_string()
    };
    let input = [
        service("web-1", "checkout", "firing", "2026-11-21T10:00:00Z"),
        service("web-2", "checkout", "firing", "2026-11-21T10:00:10Z"),
        service("search-1", "search", "firing", "2026-11-21T10:00:20Z"),
        service("web-3", "checkout", "firing", "2026-11-21T10:01:00Z"),
        service("web-1", "checkout", "resolved", "2026-11-21T10:05:00Z"),
        service("web-2", "checkout", "resolved", "2026-11-21T10:06:00Z"),
        service("web-3", "checkout", "resolved", "2026-11-21T10:07:00Z"),
        service("search-1", "search", "resolved", "2026-11-21T10:08:00Z"),
    ];
    // A sink that hears of updates (hosts joining) besides the default steps.
    let config = write(
        tmp.path(),
        "replay.toml",
        "[[sink]]\nname = \"default\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:1/never-called\"\n\
         steps = [\"open\", \"update\", \"acknowledge\", \"reopen\", \"resolve\"]\n",
    );
    let assignments = tmp.path().join("assignments.txt");
    let (status, stdout, stderr) = replay(
        &[
            "--config",
            &config,
            "--assignments",
            assignments.to_str().unwrap(),
        ],
        &(input.join("\n") + "\n"),
    );
    assert_eq!(status, Some(0), "{stderr}");
    let (sent, summary) = lines(&stdout);
    let seen: Vec<(&str, &str, Vec<&str>)> = sent
        .iter()
        .map(|n| {
            (
                n["at"].as_str().unwrap(),
                n["step"].as_str().unwrap(),
                n["hosts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|host| host.as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            // Paged once, when the first host's wait ended, with both hosts.
            ("2026-11-21T10:00:30.000Z", "open", vec!["web-1", "web-2"]),
            // Another service is not grouped with it: alone, after its own wait.
            ("2026-11-21T10:00:50.000Z", "open", vec!["search-1"]),
            // A host joining is an update, never hidden.
            (
                "2026-11-21T10:01:00.000Z",
                "update",
                vec!["web-1", "web-2", "web-3"]
            ),
            // Resolved with its last host.
            (
                "2026-11-21T10:07:00.000Z",
                "resolve",
                vec!["web-1", "web-2", "web-3"]
            ),
            ("2026-11-21T10:08:00.000Z", "resolve", vec!["search-1"]),
        ],
        "{stdout}"
    );
    let group = &sent[0];
    assert!(
        group["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("group:service=checkout"),
        "{group}"
    );
    assert_eq!(group["service"], "checkout");
    assert_eq!(group["title"], "http_5xx on several hosts of checkout");
    assert_eq!(summary["incidents"], 4, "3 hosts and search-1: {summary}");
    assert_eq!(summary["top_level_incidents"], 2, "{summary}");
    // Every checkout event ended in the service-level incident.
    let assigned: Vec<String> = std::fs::read_to_string(&assignments)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let group_id = group["incident_id"].as_str().unwrap();
    for (line, event) in input.iter().enumerate() {
        let expected = if event.contains("\"checkout\"") {
            group_id.to_owned()
        } else {
            sent[1]["incident_id"].as_str().unwrap().to_owned()
        };
        assert_eq!(assigned[line], expected, "line {}", line + 1);
    }
}

#[test]
fn replay_with_novelty_pages_new_alerts_only_on_one_service_incident() {
    let tmp = tempfile::tempdir().unwrap();
    // One-shot IDS-like alerts on one service: resolved after 5 min without a repeat.
    let alert = |host: &str, check: &str, time: &str| {
        serde_json::json!({
            "source": "ids", "host": host, "service": "web", "check": check,
            "status": "firing", "severity": "major", "summary": "alert", "time": time
        })
        .to_string()
    };
    let input = [
        // First ever: the service incident forms with it and pages after the 30 s wait.
        alert("a", "ids-x", "2026-11-21T00:00:00Z"),
        // First ever too, within the wait: it joins that page.
        alert("b", "ids-y", "2026-11-21T00:00:10Z"),
        // ids-x again after 1 h: recurring (quiet < 5 h), reopens it quietly.
        alert("a", "ids-x", "2026-11-21T01:00:00Z"),
        // Something new: it pages the reopened incident (its reopen), after the wait.
        alert("c", "ids-z", "2026-11-21T01:00:20Z"),
        // New again 70 s after that page: paged 5 min (the interval) after it, as `novel`.
        alert("d", "ids-w", "2026-11-21T01:02:00Z"),
        // ids-x quiet for 7 h (> 5 h, it never fired long): new, a new service incident.
        alert("a", "ids-x", "2026-11-21T08:00:00Z"),
    ];
    let config = write(
        tmp.path(),
        "replay.toml",
        "[incidents.auto_resolve]\n\"ids-*\" = \"5m\"\n\
         [grouping.novelty]\nquiet = \"5h\"\nfactor = 16\ndecay = \"7d\"\ninterval = \"5m\"\n",
    );
    let assignments = tmp.path().join("assignments.txt");
    let (status, stdout, stderr) = replay(
        &[
            "--config",
            &config,
            "--assignments",
            assignments.to_str().unwrap(),
        ],
        &(input.join("\n") + "\n"),
    );
    assert_eq!(status, Some(0), "{stderr}");
    let (sent, summary) = lines(&stdout);
    let seen: Vec<(&str, &str, &str)> = sent
        .iter()
        .map(|n| {
            (
                n["at"].as_str().unwrap(),
                n["step"].as_str().unwrap(),
                n["incident_id"].as_str().unwrap(),
            )
        })
        .collect();
    let first = seen.first().expect("a page").2;
    let second = seen.last().unwrap().2;
    assert_ne!(first, second);
    assert_eq!(
        seen,
        [
            ("2026-11-21T00:00:30.000Z", "open", first),
            ("2026-11-21T00:05:10.000Z", "resolve", first),
            ("2026-11-21T01:00:50.000Z", "reopen", first),
            ("2026-11-21T01:05:50.000Z", "novel", first),
            ("2026-11-21T01:07:00.000Z", "resolve", first),
            ("2026-11-21T08:00:30.000Z", "open", second),
            ("2026-11-21T08:05:00.000Z", "resolve", second),
        ],
        "{stdout}"
    );
    assert!(
        sent.iter().all(|n| n["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("group:service=web/")),
        "only the service incidents are notified: {stdout}"
    );
    assert_eq!(summary["top_level_incidents"], 2, "{summary}");
    let assigned: Vec<String> = std::fs::read_to_string(&assignments)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        assigned,
        [first, first, first, first, first, second],
        "every alert ended in its service incident"
    );
}
