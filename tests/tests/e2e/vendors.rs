//! The vendor sinks on the real collector's delivery path: one incident opened by an event,
//! acknowledged and resolved through the API reaches a PagerDuty, an Opsgenie and a Slack
//! stand-in (one local receiver, a path each) as exactly each vendor's requests, in order, with
//! the secrets where the vendor wants them and nowhere in the log.

use std::time::Duration;
use vigil_e2e::hook::{Hook, Received};
use vigil_e2e::{Collector, client, eventually};

async fn post(collector: &Collector, path: &str, body: serde_json::Value) -> serde_json::Value {
    let response = client()
        .post(format!("{}{path}", collector.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "POST {path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

fn to(requests: &[Received], prefix: &str) -> Vec<Received> {
    requests
        .iter()
        .filter(|request| request.path.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test]
async fn pagerduty_opsgenie_and_slack_get_their_own_requests_for_each_step() {
    let hook = Hook::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let slack_url = tmp.path().join("slack.url");
    std::fs::write(&slack_url, hook.url("/services/T0/B0/SLACKSECRET")).unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            r#"
public_url = "https://vigil.example"

[[sink]]
name = "pd"
kind = "pagerduty"
url = "{}"
secret_env = "E2E_PD_KEY"

[[sink]]
name = "og"
kind = "opsgenie"
url = "{}"
secret_env = "E2E_OG_KEY"

[[sink]]
name = "chat"
kind = "slack"
secret_file = "{}"

[grouping]
wait = "0s"
"#,
            hook.url("/v2/enqueue"),
            hook.url("/og"),
            slack_url.display()
        ),
    )
    .unwrap();
    let collector = Collector::start_with_env(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
        &[
            ("E2E_PD_KEY", "PDROUTINGKEY"),
            ("E2E_OG_KEY", "OPSGENIEKEY"),
        ],
    )
    .await;
    let opened = post(
        &collector,
        "/v1/events",
        serde_json::json!({"source": "nagios", "host": "web-1", "service": "checkout",
            "check": "http_5xx", "status": "firing", "severity": "critical",
            "summary": "5xx rate above 5%"}),
    )
    .await;
    let id = opened["incident_id"].as_str().unwrap().to_owned();
    // Each step waits for the one before at every sink, so the order below is the sinks' order.
    let wait_for = |count: usize| {
        let hook = &hook;
        async move {
            eventually(
                Duration::from_secs(30),
                Duration::from_millis(50),
                || async {
                    let n_accepted = hook.accepted().len();
                    if n_accepted >= count {
                        Ok(())
                    } else {
                        Err(format!("{n_accepted} of {count} requests accepted"))
                    }
                },
            )
            .await
        }
    };
    wait_for(3).await;
    post(
        &collector,
        &format!("/v1/incidents/{id}/ack"),
        serde_json::json!({"by": "alice"}),
    )
    .await;
    wait_for(6).await;
    post(
        &collector,
        &format!("/v1/incidents/{id}/resolve"),
        serde_json::json!({"by": "bob"}),
    )
    .await;
    wait_for(9).await;
    let (status, incident) = collector.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(status, 200);
    let fingerprint = incident["fingerprint"].as_str().unwrap().to_owned();
    let accepted = hook.accepted();
    assert_eq!(accepted.len(), 9, "{accepted:#?}");

    let pd = to(&accepted, "/v2/enqueue");
    let actions: Vec<String> = pd
        .iter()
        .map(|r| r.json()["event_action"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(actions, ["trigger", "acknowledge", "resolve"]);
    for request in &pd {
        assert_eq!(request.method, "POST");
        assert_eq!(request.json()["routing_key"], "PDROUTINGKEY");
        assert_eq!(request.json()["dedup_key"], fingerprint.as_str());
        assert!(
            request
                .header("idempotency-key")
                .is_some_and(|key| key.starts_with(&id))
        );
    }
    assert_eq!(pd[0].json()["payload"]["severity"], "critical");
    assert_eq!(pd[0].json()["payload"]["source"], "web-1");
    assert_eq!(
        pd[0].json()["links"][0]["href"],
        format!("https://vigil.example/v1/incidents/{id}")
    );

    let og = to(&accepted, "/og/");
    let lines: Vec<String> = og
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        lines,
        [
            "POST /og/v2/alerts".to_owned(),
            format!("POST /og/v2/alerts/{fingerprint}/acknowledge?identifierType=alias"),
            format!("POST /og/v2/alerts/{fingerprint}/close?identifierType=alias"),
        ]
    );
    for request in &og {
        assert_eq!(
            request.header("authorization"),
            Some("GenieKey OPSGENIEKEY")
        );
    }
    assert_eq!(og[0].json()["alias"], fingerprint.as_str());
    assert_eq!(
        og[0].json()["priority"],
        format!("P{}", incident["priority"])
    );
    assert_eq!(og[1].json()["user"], "alice");

    let slack = to(&accepted, "/services/T0/B0/SLACKSECRET");
    let texts: Vec<String> = slack
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    for (text, verb) in texts
        .iter()
        .zip(["[Opened]", "[Acknowledged]", "[Resolved]"])
    {
        assert!(text.starts_with(verb), "{text}");
    }

    let log = collector.process.log();
    for secret in ["PDROUTINGKEY", "OPSGENIEKEY", "SLACKSECRET"] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
