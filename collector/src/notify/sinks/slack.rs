//! Slack incoming webhook: one message per step, `POST` to the webhook URL with `text` (the
//! notification fallback) and `blocks` (a header with the title, then the step, priority,
//! severity, hosts and the link to the incident).
//!
//! The webhook URL is itself the credential, so config keeps it as the sink's secret (from
//! `secret_env`, `secret_file` or `url`); [`Sink::url`] shows only its origin and nothing here
//! puts the URL in a log or an error. Slack answers 200 `ok`; its 4xx answers
//! (`invalid_payload`, `no_service`, `channel_is_archived`) are permanent.

use super::pagerduty::cut;
use super::{Receipt, SendError, Sink, send};
use crate::notify::{Message, Step};
use serde_json::{Value, json};

/// Slack's limit on a header block's text.
pub const HEADER_MAX: usize = 150;
/// Slack's limit on a section field's text.
pub const FIELD_MAX: usize = 2_000;

/// How a step reads in the message.
fn verb(step: Step) -> &'static str {
    match step {
        Step::Open => "Opened",
        Step::Update => "Updated",
        Step::Acknowledge => "Acknowledged",
        Step::Escalate => "Escalated",
        Step::Reopen => "Reopened",
        Step::Resolve => "Resolved",
        Step::Novel => "New trouble in",
    }
}

/// `&`, `<` and `>` escaped as Slack's mrkdwn wants.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message for `message`.
pub fn body(message: &Message<'_>) -> Value {
    let incident = message.incident;
    let hosts = if incident.hosts.is_empty() {
        incident.host.clone().unwrap_or_else(|| "-".into())
    } else {
        incident.hosts.join(", ")
    };
    let mut step = verb(message.step).to_owned();
    if message.step == Step::Escalate {
        step.push_str(&format!(" (level {})", message.level));
    }
    if message.step == Step::Acknowledge
        && let Some(by) = incident
            .acknowledged_by
            .as_deref()
            .filter(|by| !by.is_empty())
    {
        step.push_str(&format!(" by {by}"));
    }
    let mut text = format!(
        "[{}] P{} {}: {}",
        verb(message.step),
        incident.priority,
        incident.title,
        hosts
    );
    let context_fields = super::context_fields(incident);
    if let Some((_, change)) = context_fields
        .iter()
        .find(|(key, _)| *key == "suspected_change")
    {
        text.push_str(&format!(" (suspected change: {change})"));
    }
    let field = |name: &str, value: &str| json!({"type": "mrkdwn", "text": cut(&format!("*{name}*\n{}", escape(value)), FIELD_MAX)});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&incident.title, HEADER_MAX), "emoji": false}}),
        json!({"type": "section", "fields": [
            field("Step", &step),
            field("Priority", &format!("P{}", incident.priority)),
            field("Severity", incident.severity.as_str()),
            field("Hosts", &hosts),
        ]}),
    ];
    if !incident.summary.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&escape(&incident.summary), 3_000)}}));
    }
    let extra = super::context_text(incident);
    if !extra.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&escape(extra.trim_start()), 3_000)}}));
    }
    let mut context = format!(
        "Vigil incident `{}` · {} event(s)",
        incident.id, incident.count
    );
    if let Some(link) = message.link {
        context.push_str(&format!(" · <{link}|open in Vigil>"));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}));
    json!({"text": escape(&text), "blocks": blocks})
}

/// Posts the message to the webhook URL (the sink's secret).
pub async fn deliver(
    client: &reqwest::Client,
    sink: &Sink,
    message: &Message<'_>,
) -> Result<Receipt, SendError> {
    let url = super::require_secret(sink, "webhook URL")?;
    let request = client
        .post(url.expose())
        .timeout(sink.delivery.timeout)
        .header("Idempotency-Key", message.idempotency_key)
        .json(&body(message));
    send(request).await
}

#[cfg(test)]
mod tests {
    use super::super::receiver::{self, Receiver};
    use super::super::{SinkKind, deliver};
    use super::*;

    #[tokio::test]
    async fn every_step_posts_one_message_to_the_secret_url() {
        let receiver = Receiver::start(|_, _| (200, vec![], "ok".into())).await;
        let hook = format!("{}/services/T000/B000/XXXX", receiver.url);
        let mut sink = receiver::sink(SinkKind::Slack, &receiver.url, Some(&hook));
        sink.url = receiver.url.clone();
        let mut incident = receiver::incident();
        incident.title = "disk <full> & more".into();
        incident.acknowledged_by = Some("alice".into());
        let client = receiver::client();
        for step in Step::ALL {
            let receipt = deliver(&client, &sink, &receiver::message(step, &incident))
                .await
                .unwrap();
            assert_eq!((receipt.status, receipt.body.as_str()), (200, "ok"));
        }
        let seen = receiver.seen();
        assert_eq!(seen.len(), 7);
        let texts: Vec<String> = seen
            .iter()
            .map(|s| s.json()["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            texts[0],
            "[Opened] P2 disk &lt;full&gt; &amp; more: web-1, web-2"
        );
        assert!(texts[5].starts_with("[Resolved] P2"), "{}", texts[5]);
        assert!(texts[6].starts_with("[New trouble in] P2"), "{}", texts[6]);
        for request in &seen {
            assert_eq!(request.line(), "POST /services/T000/B000/XXXX");
            assert_eq!(request.header("content-type"), "application/json");
        }
        let blocks = seen[2].json()["blocks"].clone();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["text"], "disk <full> & more");
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "*Step*\nAcknowledged by alice",
                "*Priority*\nP2",
                "*Severity*\nmajor",
                "*Hosts*\nweb-1, web-2"
            ]
        );
        assert_eq!(blocks[2]["text"]["text"], "5xx rate above 5%");
        let context = blocks[3]["elements"][0]["text"].as_str().unwrap();
        assert!(
            context.contains("<https://vigil.example/v1/incidents/00000000000000a1|open in Vigil>"),
            "{context}"
        );
        let escalate = seen[3].json();
        assert_eq!(
            escalate["blocks"][1]["fields"][0]["text"],
            "*Step*\nEscalated (level 1)"
        );
    }

    #[tokio::test]
    async fn a_refused_message_names_the_answer_but_never_the_url() {
        let receiver = Receiver::start(|_, _| (404, vec![], "no_service".into())).await;
        let hook = format!("{}/services/T000/B000/SECRETPATH", receiver.url);
        let sink = receiver::sink(SinkKind::Slack, &receiver.url, Some(&hook));
        let incident = receiver::incident();
        let error = deliver(
            &receiver::client(),
            &sink,
            &receiver::message(Step::Open, &incident),
        )
        .await
        .unwrap_err();
        assert_eq!(
            error,
            SendError::Permanent {
                reason: "HTTP 404: no_service".into()
            }
        );
        // A refused connection says why, without the URL either.
        drop(receiver);
        let error = deliver(
            &receiver::client(),
            &sink,
            &receiver::message(Step::Open, &incident),
        )
        .await
        .unwrap_err();
        assert!(matches!(&error, SendError::Retry { .. }), "{error:?}");
        assert!(!error.to_string().contains("SECRETPATH"), "{error}");
    }
}
