//! Callbacks from incident queues with the real collector: a webhook sink's signed
//! acknowledge and a PagerDuty v3 `incident.resolved` act on the Vigil incident with no bearer
//! token (the signature is the authentication, even with `[[token]]`s configured); unsigned or
//! badly signed calls get 401 and change nothing, an unknown sink 404, and a repeat is harmless.

use serde_json::{Value, json};
use vigil_collector::api::callbacks::pagerduty_signature;
use vigil_collector::notify::sinks::webhook::signature;
use vigil_e2e::{Collector, client};

const ADMIN_TOKEN: &str = "admin-token-cb17";
const WEBHOOK_SECRET: &str = "webhook-callback-secret";
const PAGERDUTY_SECRET: &str = "pagerduty-webhook-secret";

async fn call(
    collector: &Collector,
    sink: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Value) {
    let mut request = client()
        .post(format!("{}/v1/callbacks/{sink}", collector.url))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn incident(collector: &Collector, id: &str) -> Value {
    let response = client()
        .get(format!("{}/v1/incidents/{id}", collector.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

fn now_s() -> i64 {
    vigil_shared::time::now_ms() / 1_000
}

#[tokio::test]
async fn callbacks_acknowledge_and_resolve_when_signed_and_repeat_harmlessly() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("collector.toml");
    // The sinks' own URLs are a closed loopback port: this test is about what comes back.
    std::fs::write(
        &config,
        r#"
[[token]]
name = "root"
role = "admin"
secret_env = "E2E_ADMIN_TOKEN"

[[sink]]
name = "queue"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
callback_secret_env = "E2E_WEBHOOK_CALLBACK"

[[sink]]
name = "pd"
kind = "pagerduty"
url = "http://127.0.0.1:9/v2/enqueue"
secret_env = "E2E_ROUTING_KEY"
callback_secret_env = "E2E_PAGERDUTY_CALLBACK"

[[sink]]
name = "chat"
kind = "slack"
url = "http://127.0.0.1:9/services/T/B/X"
"#,
    )
    .unwrap();
    let collector = Collector::start_with_env(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
        &[
            ("E2E_ADMIN_TOKEN", ADMIN_TOKEN),
            ("E2E_WEBHOOK_CALLBACK", WEBHOOK_SECRET),
            ("E2E_PAGERDUTY_CALLBACK", PAGERDUTY_SECRET),
            ("E2E_ROUTING_KEY", "routing-key"),
        ],
    )
    .await;
    let response = client()
        .post(format!("{}/v1/events", collector.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(
            &json!({"source": "nagios", "host": "web-1", "check": "http_5xx",
            "status": "firing", "severity": "major", "summary": "5xx above 5%"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let opened: Value = response.json().await.unwrap();
    let id = opened["incident_id"].as_str().unwrap().to_owned();
    let fingerprint = incident(&collector, &id).await["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();

    // The generic webhook's callback.
    let body =
        serde_json::to_vec(&json!({"incident_id": id, "action": "acknowledge", "by": "alice"}))
            .unwrap();
    let (status, answer) = call(&collector, "queue", &[], &body).await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("missing X-Vigil-Signature"),
        "{answer}"
    );
    let forged = signature(b"not-the-secret", now_s(), &body);
    let (status, answer) = call(&collector, "queue", &[("x-vigil-signature", forged)], &body).await;
    assert_eq!(status, 401, "{answer}");
    let stale = signature(WEBHOOK_SECRET.as_bytes(), now_s() - 3_600, &body);
    let (status, _) = call(&collector, "queue", &[("x-vigil-signature", stale)], &body).await;
    assert_eq!(status, 401);
    assert_eq!(incident(&collector, &id).await["state"], "open");

    let signed = signature(WEBHOOK_SECRET.as_bytes(), now_s(), &body);
    let (status, answer) = call(
        &collector,
        "queue",
        &[("x-vigil-signature", signed.clone())],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"incident_id": id, "state": "acknowledged", "changed": true})
    );
    let acked = incident(&collector, &id).await;
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], "alice (via queue)");
    let entries = acked["timeline"].as_array().unwrap().len();
    // The same call again (a queue's retry) changes nothing.
    let (status, answer) = call(&collector, "queue", &[("x-vigil-signature", signed)], &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["changed"], false);
    assert_eq!(
        incident(&collector, &id).await["timeline"]
            .as_array()
            .unwrap()
            .len(),
        entries
    );

    // PagerDuty's v3 webhook resolves it by the incident key (= the fingerprint).
    let body = serde_json::to_vec(&json!({"event": {
        "id": "01DRF6BV90GHIJK12345ABC", "event_type": "incident.resolved", "resource_type": "incident",
        "occurred_at": "2026-12-02T03:00:00Z",
        "agent": {"id": "P123ABC", "type": "user_reference", "summary": "Jane Doe"},
        "data": {"id": "Q2KURS8RXYZ123", "type": "incident", "number": 42, "status": "resolved",
                 "incident_key": fingerprint, "title": "x"}}}))
    .unwrap();
    let forged = pagerduty_signature(b"not-the-secret", &body);
    let (status, answer) = call(
        &collector,
        "pd",
        &[("x-pagerduty-signature", forged)],
        &body,
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(incident(&collector, &id).await["state"], "acknowledged");
    // Several signatures while PagerDuty rotates its secret: one matching is enough.
    let signed = format!(
        "v1=00ff, {}",
        pagerduty_signature(PAGERDUTY_SECRET.as_bytes(), &body)
    );
    let (status, answer) = call(
        &collector,
        "pd",
        &[("x-pagerduty-signature", signed.clone())],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"incident_id": id, "state": "resolved", "changed": true})
    );
    let resolved = incident(&collector, &id).await;
    assert_eq!(resolved["state"], "resolved");
    let (status, answer) = call(
        &collector,
        "pd",
        &[("x-pagerduty-signature", signed)],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["changed"], false);
    assert_eq!(
        incident(&collector, &id).await["resolved_at"],
        resolved["resolved_at"]
    );
    // An event type Vigil does not act on is taken (so PagerDuty does not retry it).
    let other =
        br#"{"event":{"event_type":"incident.priority_updated","data":{"incident_key":"x"}}}"#;
    let signed = pagerduty_signature(PAGERDUTY_SECRET.as_bytes(), other);
    let (status, answer) = call(
        &collector,
        "pd",
        &[("x-pagerduty-signature", signed)],
        other,
    )
    .await;
    assert_eq!((status, answer), (200, json!({"ignored": true})));

    // Unknown sinks and sinks without a callback secret.
    let (status, answer) = call(&collector, "nope", &[], b"{}").await;
    assert_eq!(status, 404);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no sink \"nope\""),
        "{answer}"
    );
    let (status, answer) = call(&collector, "chat", &[], b"{}").await;
    assert_eq!(status, 404);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("takes no callbacks"),
        "{answer}"
    );
    let log = collector.process.log();
    for secret in [WEBHOOK_SECRET, PAGERDUTY_SECRET, "routing-key"] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
