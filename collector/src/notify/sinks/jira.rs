//! Jira REST API v2 (`{url}`, basic auth with `user` and the API token in the sink's secret),
//! stateless like the ServiceNow sink: every delivery first finds the issue by its label
//! `vigil-<incident id>`,
//!
//! `GET /rest/api/2/search?jql=labels = "vigil-<id>"&maxResults=1&fields=status`
//! (on Jira Cloud, which answers that path 410 Gone, `GET /rest/api/2/search/jql` with the same
//! parameters),
//!
//! then either creates it (`POST /rest/api/2/issue` in `project` with `issue_type`, summary,
//! description, the labels `vigil` and `vigil-<id>`, and a priority name when `priorities` is
//! configured) or comments on the issue found (`POST /rest/api/2/issue/{key}/comment`). On
//! resolve, on acknowledge when `acknowledge_transition` is set and on reopen of a done issue
//! when `reopen_transition` is set, it then moves the issue:
//! `GET /rest/api/2/issue/{key}/transitions`, picks the one the step's setting names
//! (`resolve_transition`, default `Done`; names compared without case), and
//! `POST /rest/api/2/issue/{key}/transitions`. An issue already in a done status is not moved
//! again, and an `open` that finds its issue (a retry after a crash) sends nothing more.

use super::pagerduty::cut;
use super::{Receipt, SendError, Sink, classify, exchange, send_reading};
use crate::notify::{Message, Step};
use serde_json::{Value, json};

/// Jira's summary limit.
pub const SUMMARY_MAX: usize = 255;
/// Most of an answer read (a transition list with its screens can be long).
const ANSWER_MAX: usize = 1024 * 1024;

/// The label that finds the issue of an incident again.
pub fn label(incident_id: &str) -> String {
    format!("vigil-{incident_id}")
}

/// The JQL that finds it.
pub fn jql(incident_id: &str) -> String {
    format!("labels = \"{}\"", label(incident_id))
}

/// The body that creates the issue.
pub fn create_body(sink: &Sink, message: &Message<'_>) -> Value {
    let incident = message.incident;
    let mut fields = json!({
        "project": {"key": sink.options.project.clone().unwrap_or_default()},
        "issuetype": {"name": sink.options.issue_type},
        "summary": cut(&format!("[P{}] {}", incident.priority, incident.title), SUMMARY_MAX),
        "description": description(message),
        "labels": ["vigil", label(&incident.id)],
    });
    if let Some(names) = &sink.options.priorities {
        let index = usize::from(incident.priority.clamp(1, 5)) - 1;
        if let Some(name) = names.get(index) {
            fields["priority"] = json!({"name": name});
        }
    }
    json!({"fields": fields})
}

fn description(message: &Message<'_>) -> String {
    let incident = message.incident;
    let mut text = String::new();
    if !incident.summary.is_empty() {
        text.push_str(&incident.summary);
        text.push_str("\n\n");
    }
    text.push_str(&format!(
        "Vigil incident {}: priority P{}, severity {}, check {}, hosts: {}",
        incident.id,
        incident.priority,
        incident.severity.as_str(),
        incident.check,
        super::hosts_text(message.incident)
    ));
    text.push_str(&super::context_text(incident));
    if let Some(link) = message.link {
        text.push_str(&format!("\n{link}"));
    }
    text
}

/// The comment for a later step.
pub fn comment_body(message: &Message<'_>) -> Value {
    let incident = message.incident;
    let who = match message.step {
        Step::Acknowledge => incident.acknowledged_by.as_deref(),
        Step::Resolve => incident.resolved_by.as_deref(),
        _ => None,
    }
    .filter(|by| !by.is_empty());
    let mut text = format!("Vigil: {}", message.step);
    if let Some(by) = who {
        text.push_str(&format!(" by {by}"));
    }
    if message.step == Step::Escalate {
        text.push_str(&format!(" (level {})", message.level));
    }
    text.push_str(&format!(
        " — priority P{}, severity {}, {} event(s), hosts: {}",
        incident.priority,
        incident.severity.as_str(),
        incident.count,
        super::hosts_text(message.incident)
    ));
    if let Some(link) = message.link {
        text.push_str(&format!("\n{link}"));
    }
    json!({"body": text})
}

/// Finds or creates the issue, comments, and moves it.
pub async fn deliver(
    client: &reqwest::Client,
    sink: &Sink,
    message: &Message<'_>,
) -> Result<Receipt, SendError> {
    let (Some(user), Some(token)) = (&sink.options.user, &sink.secret) else {
        return Err(SendError::Permanent {
            reason: "no credentials: set user and secret_env or secret_file on the sink".into(),
        });
    };
    let base = format!("{}/rest/api/2", sink.url.trim_end_matches('/'));
    let call = |request: reqwest::RequestBuilder| {
        request
            .timeout(sink.delivery.timeout)
            .basic_auth(user, Some(token.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .header("Idempotency-Key", message.idempotency_key)
    };
    // Jira Data Center and Server search at /search; Jira Cloud removed it (410) for
    // /search/jql, which answers the same `issues` list.
    let search = |path: &str| {
        call(client.get(format!("{base}/{path}"))).query(&[
            ("jql", jql(&message.incident.id).as_str()),
            ("maxResults", "1"),
            ("fields", "status"),
        ])
    };
    let mut answer = exchange(search("search"), ANSWER_MAX).await?;
    if matches!(answer.status, 404 | 410) {
        answer = exchange(search("search/jql"), ANSWER_MAX).await?;
    }
    let (found, answer) = classify(answer)?;
    let search: Value = parse(&answer, "the search")?;
    let Some(issues) = search["issues"].as_array() else {
        return Err(SendError::Permanent {
            reason: "the search answer has no issues list: check the url".into(),
        });
    };
    let (key, done, mut receipt) = match issues.first() {
        // Created by an earlier try of this same notification.
        Some(_) if message.step == Step::Open => return Ok(found),
        Some(issue) => {
            let key = issue_key(issue)?;
            let done = issue["fields"]["status"]["statusCategory"]["key"] == "done";
            let (receipt, _) = send_reading(
                call(client.post(format!("{base}/issue/{key}/comment")))
                    .json(&comment_body(message)),
                0,
            )
            .await?;
            (key, done, receipt)
        }
        None => {
            let (created, answer) = send_reading(
                call(client.post(format!("{base}/issue"))).json(&create_body(sink, message)),
                ANSWER_MAX,
            )
            .await?;
            let key = issue_key(&parse(&answer, "the create")?)?;
            (key, false, created)
        }
    };
    let transition = match message.step {
        Step::Resolve if !done => Some(&sink.options.resolve_transition),
        Step::Acknowledge if !done => sink.options.acknowledge_transition.as_ref(),
        Step::Reopen if done => sink.options.reopen_transition.as_ref(),
        _ => None,
    };
    let Some(name) = transition else {
        return Ok(receipt);
    };
    let (_, answer) = send_reading(
        call(client.get(format!("{base}/issue/{key}/transitions"))),
        ANSWER_MAX,
    )
    .await?;
    let transitions: Value = parse(&answer, "the transitions")?;
    let listed = transitions["transitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(id) = listed
        .iter()
        .find(|transition| {
            transition["name"]
                .as_str()
                .is_some_and(|text| text.eq_ignore_ascii_case(name))
        })
        .and_then(|transition| transition["id"].as_str())
    else {
        if message.step == Step::Acknowledge {
            // Acknowledging an issue someone already moved on is no error.
            return Ok(receipt);
        }
        let names: Vec<&str> = listed.iter().filter_map(|t| t["name"].as_str()).collect();
        let setting = if message.step == Step::Reopen {
            "reopen_transition"
        } else {
            "resolve_transition"
        };
        return Err(SendError::Permanent {
            reason: format!(
                "issue {key} has no transition named {name:?} (it has: {}): set {setting}",
                names.join(", ")
            ),
        });
    };
    receipt = send_reading(
        call(client.post(format!("{base}/issue/{key}/transitions")))
            .json(&json!({"transition": {"id": id}})),
        0,
    )
    .await?
    .0;
    Ok(receipt)
}

fn parse(answer: &str, what: &str) -> Result<Value, SendError> {
    serde_json::from_str(answer).map_err(|error| SendError::Permanent {
        reason: format!("{what} answered something that is not JSON ({error}): check the url"),
    })
}

/// An issue's key (`OPS-12`), checked so it is safe in a path.
fn issue_key(issue: &Value) -> Result<String, SendError> {
    match issue["key"].as_str() {
        Some(key)
            if !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(key.to_owned())
        }
        _ => Err(SendError::Permanent {
            reason: format!(
                "Jira answered no usable issue key: {}",
                super::truncate(&issue.to_string(), 200)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::receiver::{self, Receiver, Seen};
    use super::super::{SinkKind, deliver};
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A project with at most one issue: its status category key, once created.
    fn jira_api(
        issue: Arc<Mutex<Option<&'static str>>>,
    ) -> impl Fn(&Seen, usize) -> receiver::Answer {
        move |request, _| {
            let mut issue = issue.lock().unwrap();
            let path = request.target.split('?').next().unwrap_or("");
            match (request.method.as_str(), path) {
                ("GET", "/rest/api/2/search") => match *issue {
                    Some(category) => (200, vec![], json!({"startAt": 0, "maxResults": 1, "total": 1, "issues": [
                        {"id": "10001", "key": "OPS-7", "fields": {"status": {"name": "x", "statusCategory": {"key": category}}}}
                    ]}).to_string()),
                    None => (200, vec![], r#"{"startAt":0,"maxResults":1,"total":0,"issues":[]}"#.into()),
                },
                ("POST", "/rest/api/2/issue") => {
                    *issue = Some("new");
                    (201, vec![], r#"{"id":"10001","key":"OPS-7","self":"x"}"#.into())
                }
                ("POST", "/rest/api/2/issue/OPS-7/comment") => (201, vec![], r#"{"id":"1"}"#.into()),
                ("GET", "/rest/api/2/issue/OPS-7/transitions") => (200, vec![], r#"{"transitions":[{"id":"11","name":"To Do"},{"id":"21","name":"In Progress"},{"id":"31","name":"Done"},{"id":"41","name":"Reopen"}]}"#.into()),
                ("POST", "/rest/api/2/issue/OPS-7/transitions") => {
                    let id = request.json()["transition"]["id"].as_str().unwrap_or("").to_owned();
                    *issue = Some(match id.as_str() {
                        "31" => "done",
                        "41" => "new",
                        _ => "indeterminate",
                    });
                    (204, vec![], String::new())
                }
                _ => (404, vec![], r#"{"errorMessages":["no such path"]}"#.into()),
            }
        }
    }

    fn jira_sink(url: &str) -> Sink {
        let mut sink = receiver::sink(SinkKind::Jira, url, Some("t0ken"));
        sink.options.user = Some("ops@example.com".into());
        sink.options.project = Some("OPS".into());
        sink
    }

    #[tokio::test]
    async fn it_creates_comments_and_transitions_the_issue() {
        let receiver = Receiver::start(jira_api(Arc::default())).await;
        let mut sink = jira_sink(&receiver.url);
        sink.options.acknowledge_transition = Some("in progress".into());
        sink.options.priorities =
            Some(["Highest", "High", "Medium", "Low", "Lowest"].map(String::from));
        let mut incident = receiver::incident();
        incident.acknowledged_by = Some("alice".into());
        let client = receiver::client();
        for step in [
            Step::Open,
            Step::Open,
            Step::Acknowledge,
            Step::Resolve,
            Step::Resolve,
        ] {
            deliver(&client, &sink, &receiver::message(step, &incident))
                .await
                .unwrap();
        }
        let seen = receiver.seen();
        let search = "GET /rest/api/2/search?jql=labels+%3D+%22vigil-00000000000000a1%22&maxResults=1&fields=status";
        let lines: Vec<String> = seen.iter().map(|s| s.line()).collect();
        assert_eq!(
            lines,
            [
                search,
                "POST /rest/api/2/issue",
                search,
                search,
                "POST /rest/api/2/issue/OPS-7/comment",
                "GET /rest/api/2/issue/OPS-7/transitions",
                "POST /rest/api/2/issue/OPS-7/transitions",
                search,
                "POST /rest/api/2/issue/OPS-7/comment",
                "GET /rest/api/2/issue/OPS-7/transitions",
                "POST /rest/api/2/issue/OPS-7/transitions",
                // The repeated resolve finds the issue done: a comment, no second move.
                search,
                "POST /rest/api/2/issue/OPS-7/comment",
            ]
        );
        for request in &seen {
            // "ops@example.com:t0ken" in base64.
            assert_eq!(
                request.header("authorization"),
                "Basic b3BzQGV4YW1wbGUuY29tOnQwa2Vu"
            );
        }
        let fields = seen[1].json()["fields"].clone();
        assert_eq!(fields["project"]["key"], "OPS");
        assert_eq!(fields["issuetype"]["name"], "Task");
        assert_eq!(fields["summary"], format!("[P2] {}", incident.title));
        assert_eq!(fields["labels"], json!(["vigil", "vigil-00000000000000a1"]));
        assert_eq!(fields["priority"]["name"], "High");
        assert!(
            fields["description"]
                .as_str()
                .unwrap()
                .starts_with("5xx rate above 5%")
        );
        let comment = seen[4].json()["body"].as_str().unwrap().to_owned();
        assert!(
            comment.starts_with("Vigil: acknowledge by alice"),
            "{comment}"
        );
        assert_eq!(seen[6].json(), json!({"transition": {"id": "21"}}));
        assert_eq!(seen[10].json(), json!({"transition": {"id": "31"}}));
    }

    #[tokio::test]
    async fn a_missing_resolve_transition_is_permanent_and_names_the_ones_there() {
        let receiver = Receiver::start(jira_api(Arc::new(Mutex::new(Some("new"))))).await;
        let mut sink = jira_sink(&receiver.url);
        sink.options.resolve_transition = "Closed".into();
        let incident = receiver::incident();
        let error = deliver(
            &receiver::client(),
            &sink,
            &receiver::message(Step::Resolve, &incident),
        )
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "issue OPS-7 has no transition named \"Closed\" (it has: To Do, In Progress, Done, Reopen): set resolve_transition"
        );
    }

    #[tokio::test]
    async fn on_jira_cloud_the_search_falls_back_to_search_jql() {
        let receiver = Receiver::start(|request, _| {
            let path = request.target.split('?').next().unwrap_or("");
            match (request.method.as_str(), path) {
                ("GET", "/rest/api/2/search") => (410, vec![], r#"{"errorMessages":["The requested API has been removed."]}"#.into()),
                ("GET", "/rest/api/2/search/jql") => (200, vec![], r#"{"issues":[{"id":"10001","key":"OPS-7","fields":{"status":{"statusCategory":{"key":"new"}}}}],"isLast":true}"#.into()),
                ("POST", "/rest/api/2/issue/OPS-7/comment") => (201, vec![], r#"{"id":"1"}"#.into()),
                _ => (404, vec![], "{}".into()),
            }
        })
        .await;
        let incident = receiver::incident();
        let receipt = deliver(
            &receiver::client(),
            &jira_sink(&receiver.url),
            &receiver::message(Step::Update, &incident),
        )
        .await
        .unwrap();
        assert_eq!(receipt.status, 201);
        let lines: Vec<String> = receiver.seen().iter().map(|s| s.line()).collect();
        assert_eq!(
            lines,
            [
                "GET /rest/api/2/search?jql=labels+%3D+%22vigil-00000000000000a1%22&maxResults=1&fields=status",
                "GET /rest/api/2/search/jql?jql=labels+%3D+%22vigil-00000000000000a1%22&maxResults=1&fields=status",
                "POST /rest/api/2/issue/OPS-7/comment",
            ]
        );
    }

    #[tokio::test]
    async fn every_step_gives_the_expected_requests_in_order() {
        let receiver = Receiver::start(jira_api(Arc::default())).await;
        let mut sink = jira_sink(&receiver.url);
        sink.options.acknowledge_transition = Some("In Progress".into());
        sink.options.reopen_transition = Some("Reopen".into());
        let incident = receiver::incident();
        let client = receiver::client();
        let steps = [
            Step::Open,
            Step::Update,
            Step::Acknowledge,
            Step::Escalate,
            Step::Resolve,
            Step::Reopen,
            Step::Resolve,
        ];
        let mut per_step = Vec::new();
        for step in steps {
            receiver::mark(&receiver);
            deliver(&client, &sink, &receiver::message(step, &incident))
                .await
                .unwrap();
            per_step.push(receiver::since_mark(&receiver));
        }
        let search = "GET /rest/api/2/search?jql=labels+%3D+%22vigil-00000000000000a1%22&maxResults=1&fields=status";
        let comment = "POST /rest/api/2/issue/OPS-7/comment";
        let list = "GET /rest/api/2/issue/OPS-7/transitions";
        let transition = "POST /rest/api/2/issue/OPS-7/transitions";
        let lines: Vec<Vec<String>> = per_step
            .iter()
            .map(|seen| seen.iter().map(|s| s.line()).collect())
            .collect();
        assert_eq!(lines[0], [search, "POST /rest/api/2/issue"]);
        assert_eq!(lines[1], [search, comment]);
        assert_eq!(lines[2], [search, comment, list, transition]);
        assert_eq!(lines[3], [search, comment]);
        assert_eq!(lines[4], [search, comment, list, transition]);
        assert_eq!(lines[5], [search, comment, list, transition]);
        assert_eq!(lines[6], [search, comment, list, transition]);
        let moved: Vec<Value> = per_step
            .iter()
            .filter_map(|seen| seen.get(3))
            .map(|s| s.json()["transition"]["id"].clone())
            .collect();
        assert_eq!(moved, [json!("21"), json!("31"), json!("41"), json!("31")]);
        let comments: Vec<String> = per_step[1..]
            .iter()
            .map(|seen| seen[1].json()["body"].as_str().unwrap().to_owned())
            .collect();
        for (comment, step) in comments.iter().zip([
            "update",
            "acknowledge",
            "escalate (level 1)",
            "resolve",
            "reopen",
            "resolve",
        ]) {
            assert!(comment.starts_with(&format!("Vigil: {step}")), "{comment}");
            assert!(
                comment.contains("https://vigil.example/v1/incidents/00000000000000a1"),
                "{comment}"
            );
        }
    }
}
