//! ServiceNow table API (`{url}/api/now/table/{table}`, default table `incident`, basic auth
//! with `user` and the sink's secret). Stateless, so a crash between two requests repeats
//! nothing it must not: every delivery first looks the record up by its correlation id,
//!
//! `GET …?sysparm_query=correlation_id=<incident id>&sysparm_limit=1&sysparm_fields=sys_id`,
//!
//! then either creates it (`POST`, with `short_description`, `description`, `urgency` and
//! `impact` from the priority, `correlation_id`, `correlation_display` "Vigil") or updates the
//! record found (`PATCH …/{sys_id}` with `work_notes` naming the step; `state` 2 (in progress)
//! on acknowledge, 1 (new) on reopen, 6 (resolved) with `close_code` and `close_notes` on
//! resolve). An `open` that finds its record already there (a retry after a crash) sends
//! nothing more.

use super::pagerduty::cut;
use super::{Receipt, SendError, Sink, send_reading};
use crate::notify::{Message, Step};
use serde_json::{Value, json};

/// ServiceNow's `short_description` limit.
pub const SHORT_DESCRIPTION_MAX: usize = 160;
/// The `close_code` of a resolve (a choice of the stock incident table).
pub const CLOSE_CODE: &str = "Solution provided";
/// Most of an answer read (a list answer is one `sys_id`).
const ANSWER_MAX: usize = 64 * 1024;

/// ServiceNow's (impact, urgency), 1 high to 3 low, for a Vigil priority: with the stock
/// priority matrix they give back priorities 1, 2, 3, 4 and 5.
pub fn impact_urgency(priority: u8) -> (&'static str, &'static str) {
    match priority {
        0 | 1 => ("1", "1"),
        2 => ("1", "2"),
        3 => ("2", "2"),
        4 => ("2", "3"),
        _ => ("3", "3"),
    }
}

/// The body that creates the record.
pub fn create_body(message: &Message<'_>) -> Value {
    let incident = message.incident;
    let (impact, urgency) = impact_urgency(incident.priority);
    json!({
        "short_description": cut(&incident.title, SHORT_DESCRIPTION_MAX),
        "description": description(message),
        "urgency": urgency,
        "impact": impact,
        "correlation_id": incident.id,
        "correlation_display": "Vigil",
    })
}

/// The body that updates the record for a later step.
pub fn update_body(message: &Message<'_>) -> Value {
    let incident = message.incident;
    let mut note = format!(
        "Vigil: {} (priority P{}, severity {}, {} event(s), hosts: {})",
        message.step,
        incident.priority,
        incident.severity.as_str(),
        incident.count,
        super::hosts_text(message.incident)
    );
    if let Some(link) = message.link {
        note.push_str(&format!("\n{link}"));
    }
    let mut body = json!({"work_notes": note});
    let (impact, urgency) = impact_urgency(incident.priority);
    match message.step {
        Step::Acknowledge => body["state"] = json!("2"),
        Step::Reopen => body["state"] = json!("1"),
        Step::Resolve => {
            body["state"] = json!("6");
            body["close_code"] = json!(CLOSE_CODE);
            let by = incident.resolved_by.as_deref().filter(|by| !by.is_empty());
            body["close_notes"] = json!(match by {
                Some(by) => format!("Resolved in Vigil by {by}"),
                None => "Resolved in Vigil".to_owned(),
            });
        }
        Step::Open | Step::Update | Step::Escalate | Step::Novel => {}
    }
    if message.step.is_firing() {
        body["impact"] = json!(impact);
        body["urgency"] = json!(urgency);
    }
    body
}

fn description(message: &Message<'_>) -> String {
    let incident = message.incident;
    let mut text = String::new();
    if !incident.summary.is_empty() {
        text.push_str(&incident.summary);
        text.push_str("\n\n");
    }
    text.push_str(&format!(
        "Vigil incident {}, priority P{}, severity {}, check {}, hosts: {}",
        incident.id,
        incident.priority,
        incident.severity.as_str(),
        incident.check,
        super::hosts_text(message.incident)
    ));
    if let Some(service) = &incident.service {
        text.push_str(&format!(", service {service}"));
    }
    text.push_str(&super::context_text(incident));
    if let Some(link) = message.link {
        text.push_str(&format!("\n{link}"));
    }
    text
}

/// Looks the record up, then creates or updates it.
pub async fn deliver(
    client: &reqwest::Client,
    sink: &Sink,
    message: &Message<'_>,
) -> Result<Receipt, SendError> {
    let (Some(user), Some(password)) = (&sink.options.user, &sink.secret) else {
        return Err(SendError::Permanent {
            reason: "no credentials: set user and secret_env or secret_file on the sink".into(),
        });
    };
    let table = format!(
        "{}/api/now/table/{}",
        sink.url.trim_end_matches('/'),
        sink.options.table
    );
    let call = |request: reqwest::RequestBuilder| {
        request
            .timeout(sink.delivery.timeout)
            .basic_auth(user, Some(password.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .header("Idempotency-Key", message.idempotency_key)
    };
    let query = format!("correlation_id={}", message.incident.id);
    let (found, answer) = send_reading(
        call(client.get(&table)).query(&[
            ("sysparm_query", query.as_str()),
            ("sysparm_limit", "1"),
            ("sysparm_fields", "sys_id"),
        ]),
        ANSWER_MAX,
    )
    .await?;
    let sys_id = match sys_id_of_list(&answer) {
        Ok(sys_id) => sys_id,
        Err(reason) => return Err(SendError::Permanent { reason }),
    };
    let sys_id = match sys_id {
        // Created by an earlier try of this same notification.
        Some(_) if message.step == Step::Open => return Ok(found),
        Some(sys_id) => sys_id,
        None => {
            let (created, answer) = send_reading(
                call(client.post(&table)).json(&create_body(message)),
                ANSWER_MAX,
            )
            .await?;
            if message.step.is_firing() {
                return Ok(created);
            }
            // A later step for a record never created (the sink was added later): create it,
            // then apply the step to it.
            match serde_json::from_str::<Value>(&answer)
                .ok()
                .and_then(|value| value["result"]["sys_id"].as_str().map(str::to_owned))
            {
                Some(sys_id) => sys_id,
                None => {
                    return Err(SendError::Permanent {
                        reason: format!("the create answer has no result.sys_id: {}", created.body),
                    });
                }
            }
        }
    };
    if !sys_id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return Err(SendError::Permanent {
            reason: format!("the table answered a sys_id that is not one: {sys_id:?}"),
        });
    }
    let record = format!("{table}/{sys_id}");
    send_reading(call(client.patch(&record)).json(&update_body(message)), 0)
        .await
        .map(|(receipt, _)| receipt)
}

/// The `sys_id` in a list answer `{"result": [{"sys_id": "…"}]}` (`None` for an empty list).
fn sys_id_of_list(answer: &str) -> Result<Option<String>, String> {
    let value: Value = serde_json::from_str(answer).map_err(|error| {
        format!("the table answered something that is not JSON ({error}): check the url")
    })?;
    let Some(list) = value["result"].as_array() else {
        return Err("the table's answer has no result list: check the url and table".into());
    };
    Ok(list
        .first()
        .and_then(|record| record["sys_id"].as_str())
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::super::receiver::{self, Receiver, Seen};
    use super::super::{SinkKind, deliver};
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A table with at most one record, as the table API answers.
    fn table_api(created: Arc<Mutex<bool>>) -> impl Fn(&Seen, usize) -> receiver::Answer {
        move |request, _| {
            let mut exists = created.lock().unwrap();
            match request.method.as_str() {
                "GET" if *exists => (
                    200,
                    vec![],
                    r#"{"result":[{"sys_id":"9d385017c611228701d22104cc95c371"}]}"#.into(),
                ),
                "GET" => (200, vec![], r#"{"result":[]}"#.into()),
                "POST" => {
                    *exists = true;
                    (201, vec![], r#"{"result":{"sys_id":"9d385017c611228701d22104cc95c371","number":"INC0010001"}}"#.into())
                }
                _ => (
                    200,
                    vec![],
                    r#"{"result":{"sys_id":"9d385017c611228701d22104cc95c371"}}"#.into(),
                ),
            }
        }
    }

    fn servicenow_sink(url: &str) -> Sink {
        let mut sink = receiver::sink(SinkKind::ServiceNow, url, Some("pa55"));
        sink.options.user = Some("vigil".into());
        sink
    }

    #[tokio::test]
    async fn it_creates_then_patches_the_same_record() {
        let receiver = Receiver::start(table_api(Arc::default())).await;
        let sink = servicenow_sink(&receiver.url);
        let mut incident = receiver::incident();
        incident.resolved_by = Some("bob".into());
        let client = receiver::client();
        for step in [Step::Open, Step::Open, Step::Acknowledge, Step::Resolve] {
            deliver(&client, &sink, &receiver::message(step, &incident))
                .await
                .unwrap();
        }
        let seen = receiver.seen();
        let lookup = "GET /api/now/table/incident?sysparm_query=correlation_id%3D00000000000000a1&sysparm_limit=1&sysparm_fields=sys_id";
        let record = "/api/now/table/incident/9d385017c611228701d22104cc95c371";
        let lines: Vec<String> = seen.iter().map(|s| s.line()).collect();
        assert_eq!(
            lines,
            [
                lookup.to_owned(),
                "POST /api/now/table/incident".to_owned(),
                // The repeated open finds its record and sends nothing more.
                lookup.to_owned(),
                lookup.to_owned(),
                format!("PATCH {record}"),
                lookup.to_owned(),
                format!("PATCH {record}"),
            ]
        );
        for request in &seen {
            // "vigil:pa55" in base64.
            assert_eq!(request.header("authorization"), "Basic dmlnaWw6cGE1NQ==");
            assert_eq!(request.header("accept"), "application/json");
        }
        let create = seen[1].json();
        assert_eq!(create["short_description"], incident.title);
        assert_eq!(create["correlation_id"], "00000000000000a1");
        assert_eq!(create["correlation_display"], "Vigil");
        assert_eq!(
            (create["impact"].as_str(), create["urgency"].as_str()),
            (Some("1"), Some("2"))
        );
        assert!(
            create["description"]
                .as_str()
                .unwrap()
                .contains("hosts: web-1, web-2")
        );
        let ack = seen[4].json();
        assert_eq!(ack["state"], "2");
        assert!(
            ack["work_notes"]
                .as_str()
                .unwrap()
                .starts_with("Vigil: acknowledge"),
            "{ack}"
        );
        let resolve = seen[6].json();
        assert_eq!(resolve["state"], "6");
        assert_eq!(resolve["close_code"], CLOSE_CODE);
        assert_eq!(resolve["close_notes"], "Resolved in Vigil by bob");
    }

    #[tokio::test]
    async fn a_resolve_for_a_record_never_created_creates_it_then_resolves_it() {
        let receiver = Receiver::start(table_api(Arc::default())).await;
        let sink = servicenow_sink(&receiver.url);
        let incident = receiver::incident();
        deliver(
            &receiver::client(),
            &sink,
            &receiver::message(Step::Resolve, &incident),
        )
        .await
        .unwrap();
        let methods: Vec<String> = receiver.seen().iter().map(|s| s.method.clone()).collect();
        assert_eq!(methods, ["GET", "POST", "PATCH"]);
        assert_eq!(receiver.seen()[2].json()["state"], "6");
    }

    #[tokio::test]
    async fn a_wrong_answer_or_a_bad_password_is_permanent() {
        let receiver = Receiver::start(|request, _| match request.header("authorization") {
            "Basic dmlnaWw6cGE1NQ==" => (200, vec![], "<html>login</html>".into()),
            _ => (
                401,
                vec![],
                r#"{"error":{"message":"User Not Authenticated"}}"#.into(),
            ),
        })
        .await;
        let incident = receiver::incident();
        let message = receiver::message(Step::Open, &incident);
        let client = receiver::client();
        let error = deliver(&client, &servicenow_sink(&receiver.url), &message)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("not JSON"), "{error}");
        let mut wrong = servicenow_sink(&receiver.url);
        wrong.secret = Some(vigil_shared::secret::Secret::new("nope"));
        let error = deliver(&client, &wrong, &message).await.unwrap_err();
        assert!(matches!(error, SendError::Permanent { .. }), "{error:?}");
        assert!(error.to_string().starts_with("HTTP 401"), "{error}");
    }

    #[tokio::test]
    async fn every_step_gives_the_expected_requests_in_order() {
        let receiver = Receiver::start(table_api(Arc::default())).await;
        let sink = servicenow_sink(&receiver.url);
        let incident = receiver::incident();
        let client = receiver::client();
        let mut bodies = Vec::new();
        for step in Step::ALL {
            receiver::mark(&receiver);
            deliver(&client, &sink, &receiver::message(step, &incident))
                .await
                .unwrap();
            let seen = receiver::since_mark(&receiver);
            let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
            let expected = if step == Step::Open {
                ["GET", "POST"]
            } else {
                ["GET", "PATCH"]
            };
            assert_eq!(methods, expected, "{step}");
            bodies.push(seen[1].json());
        }
        let states: Vec<Option<&str>> = bodies.iter().map(|body| body["state"].as_str()).collect();
        // open (a create), update, acknowledge, escalate, reopen, resolve, novel
        assert_eq!(
            states,
            [None, None, Some("2"), None, Some("1"), Some("6"), None]
        );
        for (body, step) in bodies[1..].iter().zip(&Step::ALL[1..]) {
            let note = body["work_notes"].as_str().unwrap();
            assert!(
                note.starts_with(&format!("Vigil: {step} (priority P2")),
                "{note}"
            );
        }
        // The firing steps carry the priority again (it may have risen).
        for index in [1, 3, 4] {
            assert_eq!(bodies[index]["impact"], "1");
            assert_eq!(bodies[index]["urgency"], "2");
        }
        assert!(bodies[2].get("impact").is_none());
    }
}
