//! `vigil-collector notify test SINK`: the real binary sends a test notification to a loopback
//! receiver standing in for the vendor and reports its answer: exit 0 when accepted (PagerDuty
//! trigger, then resolve of the same dedup key; Slack to the secret webhook URL, never
//! printed), 1 when the receiver refuses or cannot be reached, 2 for an unknown sink or a bad
//! config.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_e2e::bin;

/// One request: the request line, the lower-cased header block and the body.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: String,
    body: serde_json::Value,
}

/// A loopback HTTP/1.1 receiver: `POST /refuse` gets 400, anything else 202.
async fn receiver() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, mut body) = loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
                        break (head, buffer[end + 4..].to_vec());
                    }
                };
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                while body.len() < length {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                let line = head.lines().next().unwrap_or("").to_owned();
                let refused = line.contains(" /refuse ");
                record.lock().unwrap().push(Seen {
                    line,
                    headers: head,
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                });
                let answer = if refused {
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 26\r\nconnection: close\r\n\r\n{\"status\":\"invalid event\"}"
                } else {
                    "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 22\r\nconnection: close\r\n\r\n{\"status\":\"success\"}  "
                };
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, seen)
}

/// Runs `vigil-collector notify test ARGS…`: (exit code, stdout, stderr).
async fn notify_test(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(bin("vigil-collector"));
    command
        .arg("notify")
        .arg("test")
        .args(args)
        .envs(env.iter().copied())
        .env_remove("VIGIL_CONFIG")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("notify test did not finish within 60 s")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn notify_test_sends_to_the_named_sink_and_reports_the_answer() {
    let (url, seen) = receiver().await;
    let tmp = tempfile::tempdir().unwrap();
    let hook = tmp.path().join("slack.url");
    std::fs::write(&hook, format!("{url}/services/T0/B0/SECRETPART\n")).unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            r#"
public_url = "https://vigil.example"

[[sink]]
name = "pd"
kind = "pagerduty"
url = "{url}/v2/enqueue"
secret_env = "E2E_ROUTING_KEY"

[[sink]]
name = "chat"
kind = "slack"
secret_file = "{}"

[[sink]]
name = "strict"
kind = "pagerduty"
url = "{url}/refuse"
secret_env = "E2E_ROUTING_KEY"

[[sink]]
name = "down"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
"#,
            hook.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let env = [("E2E_ROUTING_KEY", "R0UTINGKEY")];

    let (code, out, err) = notify_test(&["pd", "--config", config], &env).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("accepted: HTTP 202: {\"status\":\"success\"}"),
        "{out}"
    );
    assert!(out.contains("open of test incident"), "{out}");
    let (code, out, err) =
        notify_test(&["pd", "--config", config, "--step", "resolve"], &env).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = notify_test(&["chat", "--config", config], &env).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("SECRETPART") && !err.contains("SECRETPART"),
        "{out}{err}"
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0].line, "post /v2/enqueue http/1.1");
        assert_eq!(seen[0].body["event_action"], "trigger");
        assert_eq!(seen[0].body["routing_key"], "R0UTINGKEY");
        assert_eq!(seen[0].body["dedup_key"], "vigil-notify-test");
        assert_eq!(seen[0].body["payload"]["severity"], "warning");
        let link = seen[0].body["links"][0]["href"].as_str().unwrap();
        assert!(
            link.starts_with("https://vigil.example/v1/incidents/"),
            "{link}"
        );
        assert!(seen[0].headers.contains("idempotency-key: notify-test-pd-"));
        assert_eq!(seen[1].body["event_action"], "resolve");
        assert_eq!(seen[1].body["dedup_key"], "vigil-notify-test");
        assert_eq!(seen[2].line, "post /services/t0/b0/secretpart http/1.1");
        assert_eq!(
            seen[2].body["blocks"][0]["text"]["text"],
            "Vigil test notification"
        );
    }

    // Refused: exit 1 with the receiver's answer; unreachable: exit 1, would be retried.
    let (code, _, err) = notify_test(&["strict", "--config", config], &env).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("sink strict did not accept the test notification: HTTP 400: {\"status\":\"invalid event\"}"), "{err}");
    assert!(!err.contains("R0UTINGKEY"), "{err}");
    let (code, _, err) = notify_test(&["down", "--config", config], &env).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("(the delivery workers would retry): cannot connect"),
        "{err}"
    );

    // Unknown sink or bad config: exit 2 with one line naming it.
    let (code, _, err) = notify_test(&["nope", "--config", config], &env).await;
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim(),
        "vigil-collector: no sink named \"nope\" in the config: it has pd, chat, strict, down"
    );
    let (code, _, err) = notify_test(&["pd", "--config", config], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("sink[0].secret_env: environment variable E2E_ROUTING_KEY is not set"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn a_collector_with_a_bad_sink_exits_2_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "kind = \"pager\"\nurl = \"http://127.0.0.1:9/\"",
            "sink[0].kind: unknown kind \"pager\"",
        ),
        ("kind = \"webhook\"", "sink[0].url: missing"),
        (
            "kind = \"pagerduty\"",
            "sink[0].secret_env: missing: a pagerduty sink needs the Events API v2 routing key",
        ),
        (
            "kind = \"jira\"\nurl = \"https://x.atlassian.net\"\nuser = \"u\"\nsecret_env = \"E2E_KEY\"",
            "sink[0].project: missing",
        ),
        (
            "kind = \"servicenow\"\nurl = \"https://x.service-now.com\"\nsecret_env = \"E2E_KEY\"",
            "sink[0].user: missing",
        ),
    ];
    for (index, (table, expected)) in cases.into_iter().enumerate() {
        let config = tmp.path().join(format!("bad-{index}.toml"));
        std::fs::write(&config, format!("[[sink]]\nname = \"q\"\n{table}\n")).unwrap();
        let mut command = tokio::process::Command::new(bin("vigil-collector"));
        command
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("E2E_KEY", "k3y")
            .env_remove("VIGIL_CONFIG")
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("the collector did not exit within 60 s")
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{table}: {err}");
        assert!(err.contains(expected), "{table}: {err}");
    }
}
