//! Opsgenie Alerts API (`{url}`, default `https://api.opsgenie.com`; the EU instance is
//! `https://api.eu.opsgenie.com`), header `Authorization: GenieKey <secret>`, one request per
//! notification, every one keyed by `alias` = the incident's fingerprint:
//!
//! - `open`, `update`, `escalate`, `reopen` → create `POST /v2/alerts` (Opsgenie folds a create
//!   with the alias of an open alert into it, so a repeat only raises its count);
//! - `acknowledge` → `POST /v2/alerts/{alias}/acknowledge?identifierType=alias`;
//! - `resolve` → `POST /v2/alerts/{alias}/close?identifierType=alias`.
//!
//! Opsgenie answers 202 (the request is processed asynchronously).

use super::pagerduty::cut;
use super::{Receipt, SendError, Sink, send};
use crate::notify::{Message, Step};
use serde_json::{Value, json};

/// Opsgenie's limits: `message`, `alias`, `description`, `entity`, a tag.
pub const MESSAGE_MAX: usize = 130;
/// Longest alias.
pub const ALIAS_MAX: usize = 512;
/// Longest description.
pub const DESCRIPTION_MAX: usize = 15_000;
/// Longest entity.
pub const ENTITY_MAX: usize = 512;
/// Longest tag.
pub const TAG_MAX: usize = 50;
/// Longest `user` of an acknowledge or close.
pub const USER_MAX: usize = 100;

/// The request for `message`: (path below `/v2/alerts`, query, body).
pub fn request(message: &Message<'_>) -> (Vec<String>, Option<&'static str>, Value) {
    let incident = message.incident;
    let alias = cut(&incident.fingerprint, ALIAS_MAX);
    let note = match message.link {
        Some(link) => format!("{} in Vigil: {link}", message.step),
        None => format!("{} in Vigil", message.step),
    };
    match message.step {
        Step::Acknowledge => (
            vec![alias, "acknowledge".into()],
            Some("alias"),
            json!({
                "user": cut(incident.acknowledged_by.as_deref().filter(|by| !by.is_empty()).unwrap_or("Vigil"), USER_MAX),
                "source": "Vigil",
                "note": note,
            }),
        ),
        Step::Resolve => (
            vec![alias, "close".into()],
            Some("alias"),
            json!({
                "user": cut(incident.resolved_by.as_deref().filter(|by| !by.is_empty()).unwrap_or("Vigil"), USER_MAX),
                "source": "Vigil",
                "note": note,
            }),
        ),
        Step::Open | Step::Update | Step::Escalate | Step::Reopen | Step::Novel => {
            let mut description = String::new();
            if !incident.summary.is_empty() {
                description.push_str(&incident.summary);
                description.push_str("\n\n");
            }
            description.push_str(&format!(
                "Vigil incident {} ({}), priority P{}, severity {}, {} event(s), hosts: {}",
                incident.id,
                message.step,
                incident.priority,
                incident.severity.as_str(),
                incident.count,
                super::hosts_text(incident),
            ));
            description.push_str(&super::context_text(incident));
            if let Some(link) = message.link {
                description.push_str(&format!("\n{link}"));
            }
            let mut tags = vec![
                "vigil".to_owned(),
                format!("severity:{}", incident.severity.as_str()),
            ];
            if let Some(service) = &incident.service {
                tags.push(format!("service:{service}"));
            }
            let tags: Vec<String> = tags.iter().map(|tag| cut(tag, TAG_MAX)).collect();
            let mut details = serde_json::Map::new();
            for (name, value) in &incident.labels {
                details.insert(name.clone(), json!(value));
            }
            for (name, value) in [
                ("incident_id", incident.id.clone()),
                ("fingerprint", incident.fingerprint.clone()),
                ("severity", incident.severity.as_str().to_owned()),
                ("count", incident.count.to_string()),
                ("hosts", incident.hosts.join(",")),
                ("step", message.step.as_str().to_owned()),
                ("check", incident.check.clone()),
            ] {
                details.insert(name.to_owned(), json!(value));
            }
            for (key, value) in super::context_fields(incident) {
                details.insert(key.to_owned(), json!(value));
            }
            if let Some(link) = message.link {
                details.insert("link".into(), json!(link));
            }
            let entity = incident
                .host
                .as_deref()
                .or(incident.service.as_deref())
                .unwrap_or("vigil");
            (
                Vec::new(),
                None,
                json!({
                    "message": cut(&incident.title, MESSAGE_MAX),
                    "alias": alias,
                    "description": cut(&description, DESCRIPTION_MAX),
                    "priority": priority(incident.priority),
                    "tags": tags,
                    "details": details,
                    "entity": cut(entity, ENTITY_MAX),
                    "source": "Vigil",
                }),
            )
        }
    }
}

/// `P1` to `P5` (Vigil's priority 1 is the highest, as Opsgenie's P1).
pub fn priority(priority: u8) -> String {
    format!("P{}", priority.clamp(1, 5))
}

/// Sends the request.
pub async fn deliver(
    client: &reqwest::Client,
    sink: &Sink,
    message: &Message<'_>,
) -> Result<Receipt, SendError> {
    let key = super::require_secret(sink, "API key")?;
    let (segments, identifier, body) = request(message);
    let mut url = alerts_url(&sink.url)?;
    if let Ok(mut path) = url.path_segments_mut() {
        // Each segment is percent-encoded here, so an alias with `/` or spaces stays one segment.
        path.extend(segments.iter().map(String::as_str));
    }
    if let Some(identifier) = identifier {
        url.query_pairs_mut()
            .append_pair("identifierType", identifier);
    }
    let request = client
        .post(url)
        .timeout(sink.delivery.timeout)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("GenieKey {}", key.expose()),
        )
        .header("Idempotency-Key", message.idempotency_key)
        .json(&body);
    send(request).await
}

/// `{base}/v2/alerts` as a URL.
fn alerts_url(base: &str) -> Result<reqwest::Url, SendError> {
    let text = format!("{}/v2/alerts", base.trim_end_matches('/'));
    reqwest::Url::parse(&text).map_err(|error| SendError::Permanent {
        reason: format!("the sink's url is not a valid URL: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::receiver::{self, Receiver};
    use super::super::{SinkKind, deliver};
    use super::*;

    #[tokio::test]
    async fn every_step_creates_acknowledges_or_closes_by_alias() {
        let receiver = Receiver::start(|_, _| {
            (
                202,
                vec![],
                r#"{"result":"Request will be processed","took":0.1,"requestId":"r1"}"#.into(),
            )
        })
        .await;
        let sink = receiver::sink(
            SinkKind::Opsgenie,
            &format!("{}/", receiver.url),
            Some("g3n1e"),
        );
        let mut incident = receiver::incident();
        incident.title = "x".repeat(200);
        incident.acknowledged_by = Some("alice".into());
        let client = receiver::client();
        for step in Step::ALL {
            let receipt = deliver(&client, &sink, &receiver::message(step, &incident))
                .await
                .unwrap();
            assert_eq!(receipt.status, 202);
        }
        let seen = receiver.seen();
        let lines: Vec<String> = seen.iter().map(|s| s.line()).collect();
        assert_eq!(
            lines,
            [
                "POST /v2/alerts",
                "POST /v2/alerts",
                "POST /v2/alerts/fp%2F1%20x/acknowledge?identifierType=alias",
                "POST /v2/alerts",
                "POST /v2/alerts",
                "POST /v2/alerts/fp%2F1%20x/close?identifierType=alias",
                "POST /v2/alerts",
            ]
        );
        for request in &seen {
            assert_eq!(request.header("authorization"), "GenieKey g3n1e");
            assert_eq!(request.header("content-type"), "application/json");
            assert_eq!(request.header("idempotency-key"), "key-1");
        }
        let create = seen[0].json();
        assert_eq!(create["message"].as_str().unwrap().chars().count(), 130);
        assert_eq!(create["alias"], "fp/1 x");
        assert_eq!(create["priority"], "P2");
        assert_eq!(create["entity"], "web-1");
        assert_eq!(create["source"], "Vigil");
        assert_eq!(
            create["tags"],
            json!(["vigil", "severity:major", "service:checkout"])
        );
        assert_eq!(create["details"]["incident_id"], "00000000000000a1");
        assert_eq!(create["details"]["hosts"], "web-1,web-2");
        assert_eq!(
            create["details"]["link"],
            "https://vigil.example/v1/incidents/00000000000000a1"
        );
        let description = create["description"].as_str().unwrap();
        assert!(
            description.starts_with("5xx rate above 5%"),
            "{description}"
        );
        assert!(description.contains("priority P2"), "{description}");
        let ack = seen[2].json();
        assert_eq!(ack["user"], "alice");
        assert_eq!(ack["source"], "Vigil");
        let close = seen[5].json();
        assert_eq!(close["user"], "Vigil");
        assert!(
            close["note"]
                .as_str()
                .unwrap()
                .starts_with("resolve in Vigil")
        );
    }

    #[test]
    fn priorities_are_p1_to_p5() {
        let mapped: Vec<String> = [0, 1, 3, 5, 9].into_iter().map(priority).collect();
        assert_eq!(mapped, ["P1", "P1", "P3", "P5", "P5"]);
    }
}
