//! PagerDuty Events API v2 (`POST {url}`, default `https://events.pagerduty.com/v2/enqueue`):
//! one event per notification. `routing_key` is the sink's secret (the integration key of an
//! Events API v2 integration), `dedup_key` the incident's fingerprint, so PagerDuty folds every
//! step of one Vigil incident into one PagerDuty incident and a repeat changes nothing.
//!
//! `open`, `update`, `escalate` and `reopen` send `trigger` with the full `payload` (summary,
//! source, mapped severity, timestamp, component, group, class, custom details), `links` and
//! `client`; `acknowledge` and `resolve` send just the action and the keys, as the API
//! documents. PagerDuty answers 202; its 400 (an invalid event) is permanent, 429 and 5xx are
//! retried (by [`super::send`]).

use super::{Receipt, SendError, Sink, send};
use crate::notify::{Message, Step};
use serde_json::{Value, json};
use vigil_shared::event::Severity;

/// PagerDuty's `summary` limit.
pub const SUMMARY_MAX: usize = 1_024;

/// PagerDuty's `event_action` for a step.
pub fn event_action(step: Step) -> &'static str {
    match step {
        // Novel: a trigger under the same `dedup_key`; PagerDuty folds it into the incident it
        // already has open (no new PagerDuty incident), as it does an escalation.
        Step::Open | Step::Update | Step::Escalate | Step::Reopen | Step::Novel => "trigger",
        Step::Acknowledge => "acknowledge",
        Step::Resolve => "resolve",
    }
}

/// PagerDuty's severity for Vigil's (it has critical, error, warning and info).
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Major => "error",
        Severity::Minor | Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// The event for `message` (the routing key left to the caller, so this never holds it).
pub fn event(message: &Message<'_>) -> Value {
    let incident = message.incident;
    let action = event_action(message.step);
    let mut event = json!({
        "event_action": action,
        "dedup_key": incident.fingerprint,
    });
    if action != "trigger" {
        return event;
    }
    let summary = if incident.summary.is_empty() || incident.summary == incident.title {
        incident.title.clone()
    } else {
        format!("{}: {}", incident.title, incident.summary)
    };
    let source = incident
        .host
        .as_deref()
        .or(incident.service.as_deref())
        .or(incident.source.as_deref())
        .unwrap_or("vigil");
    let mut payload = json!({
        "summary": cut(&summary, SUMMARY_MAX),
        "source": source,
        "severity": severity(incident.severity),
        "timestamp": vigil_shared::time::rfc3339(message.at_ms),
        "class": incident.check,
        "custom_details": {
            "incident_id": incident.id,
            "priority": format!("P{}", incident.priority),
            "count": incident.count,
            "hosts": incident.hosts,
            "step": message.step.as_str(),
            "escalation_level": message.level,
            "state": incident.state.as_str(),
            "labels": incident.labels,
        },
    });
    for (key, value) in super::context_fields(incident) {
        payload["custom_details"][key] = json!(value);
    }
    if let Some(service) = &incident.service {
        payload["component"] = json!(service);
    }
    if let Some(origin) = &incident.source {
        payload["group"] = json!(origin);
    }
    event["payload"] = payload;
    event["client"] = json!("Vigil");
    if let Some(link) = message.link {
        event["client_url"] = json!(link);
        event["links"] = json!([{"href": link, "text": format!("Vigil incident {}", incident.id)}]);
    }
    event
}

/// At most `max` characters of `text`.
pub(super) fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Posts the event.
pub async fn deliver(
    client: &reqwest::Client,
    sink: &Sink,
    message: &Message<'_>,
) -> Result<Receipt, SendError> {
    let key = super::require_secret(sink, "routing key")?;
    let mut event = event(message);
    event["routing_key"] = json!(key.expose());
    let request = client
        .post(&sink.url)
        .timeout(sink.delivery.timeout)
        .header("Idempotency-Key", message.idempotency_key)
        .json(&event);
    send(request).await
}

#[cfg(test)]
mod tests {
    use super::super::receiver::{self, Receiver};
    use super::super::{SinkKind, deliver};
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_step_sends_the_documented_event() {
        let receiver = Receiver::start(|_, _| {
            (
                202,
                vec![],
                r#"{"status":"success","message":"Event processed","dedup_key":"fp/1 x"}"#.into(),
            )
        })
        .await;
        let sink = receiver::sink(
            SinkKind::PagerDuty,
            &format!("{}/v2/enqueue", receiver.url),
            Some("R0UTING"),
        );
        let incident = receiver::incident();
        let client = receiver::client();
        for step in Step::ALL {
            let receipt = deliver(&client, &sink, &receiver::message(step, &incident))
                .await
                .unwrap();
            assert_eq!(receipt.status, 202);
            assert!(receipt.body.contains("Event processed"));
        }
        let seen = receiver.seen();
        let actions: Vec<String> = seen
            .iter()
            .map(|s| s.json()["event_action"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            actions,
            [
                "trigger",
                "trigger",
                "acknowledge",
                "trigger",
                "trigger",
                "resolve",
                "trigger"
            ]
        );
        for request in &seen {
            assert_eq!(request.line(), "POST /v2/enqueue");
            assert_eq!(request.header("content-type"), "application/json");
            assert_eq!(request.header("idempotency-key"), "key-1");
            let body = request.json();
            assert_eq!(body["routing_key"], "R0UTING");
            assert_eq!(body["dedup_key"], "fp/1 x");
        }
        let trigger = seen[0].json();
        let payload = &trigger["payload"];
        assert_eq!(
            payload["summary"],
            format!("{}: 5xx rate above 5%", incident.title)
        );
        assert_eq!(payload["source"], "web-1");
        assert_eq!(payload["severity"], "error");
        assert_eq!(payload["timestamp"], "2023-11-14T22:14:20.000Z");
        assert_eq!(payload["component"], "checkout");
        assert_eq!(payload["group"], "nagios");
        assert_eq!(payload["class"], "http_5xx");
        assert_eq!(payload["custom_details"]["priority"], "P2");
        assert_eq!(payload["custom_details"]["count"], 3);
        assert_eq!(
            payload["custom_details"]["hosts"],
            json!(["web-1", "web-2"])
        );
        assert_eq!(payload["custom_details"]["incident_id"], "00000000000000a1");
        assert_eq!(trigger["client"], "Vigil");
        assert_eq!(
            trigger["links"][0]["href"],
            "https://vigil.example/v1/incidents/00000000000000a1"
        );
        let escalate = seen[3].json();
        assert_eq!(escalate["payload"]["custom_details"]["escalation_level"], 1);
        let resolve = seen[5].json();
        assert!(resolve.get("payload").is_none(), "{resolve}");
    }

    #[test]
    fn severities_map_to_pagerduty_names() {
        let mapped: Vec<&str> = Severity::ALL.into_iter().map(severity).collect();
        assert_eq!(mapped, ["critical", "error", "warning", "warning", "info"]);
    }

    #[tokio::test]
    async fn answers_are_classified_and_retry_after_is_kept() {
        let receiver = Receiver::start(|_, index| match index {
            0 => (429, vec![("retry-after", "7".into())], "slow down".into()),
            1 => (400, vec![], r#"{"status":"invalid event"}"#.into()),
            _ => (503, vec![], "unavailable".into()),
        })
        .await;
        let sink = receiver::sink(SinkKind::PagerDuty, &receiver.url, Some("R0UTING"));
        let incident = receiver::incident();
        let client = receiver::client();
        let message = receiver::message(Step::Open, &incident);
        match deliver(&client, &sink, &message).await {
            Err(SendError::Retry { after, reason }) => {
                assert_eq!(after, Some(Duration::from_secs(7)));
                assert!(reason.contains("429"), "{reason}");
                assert!(!reason.contains("R0UTING"));
            }
            other => panic!("429 gave {other:?}"),
        }
        assert!(matches!(
            deliver(&client, &sink, &message).await,
            Err(SendError::Permanent { .. })
        ));
        assert!(matches!(
            deliver(&client, &sink, &message).await,
            Err(SendError::Retry { after: None, .. })
        ));
    }
}
