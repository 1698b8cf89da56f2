//! The sinks: one file per vendor, each turning a [`Message`] into that vendor's requests and
//! the answer into a [`Receipt`] or a [`SendError`] that says whether to retry.
//!
//! `webhook.rs` (generic JSON, HMAC-SHA256 signed), `pagerduty.rs` (Events API v2),
//! `opsgenie.rs` (Alerts API), `slack.rs` (incoming webhook), `servicenow.rs` (table API),
//! `jira.rs` (REST API v2). [`deliver`] is the one entry point the dispatcher calls.

pub mod jira;
pub mod opsgenie;
pub mod pagerduty;
#[cfg(test)]
mod receiver;
pub mod servicenow;
pub mod slack;
pub mod webhook;

use super::{Message, Step};
use std::time::Duration;
use vigil_shared::secret::Secret;

/// The kinds of sink (SPEC `[[sink]] kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SinkKind {
    /// Generic JSON webhook, signed.
    Webhook,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// Slack incoming webhook.
    Slack,
    /// Opsgenie Alerts API.
    Opsgenie,
    /// ServiceNow table API.
    ServiceNow,
    /// Jira REST API.
    Jira,
}

impl SinkKind {
    /// Every kind.
    pub const ALL: [SinkKind; 6] = [
        SinkKind::Webhook,
        SinkKind::PagerDuty,
        SinkKind::Slack,
        SinkKind::Opsgenie,
        SinkKind::ServiceNow,
        SinkKind::Jira,
    ];

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::PagerDuty => "pagerduty",
            SinkKind::Slack => "slack",
            SinkKind::Opsgenie => "opsgenie",
            SinkKind::ServiceNow => "servicenow",
            SinkKind::Jira => "jira",
        }
    }

    /// Parses a config name.
    pub fn parse(text: &str) -> Option<SinkKind> {
        SinkKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// How the dispatcher delivers to one sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Longest one request may take.
    pub timeout: Duration,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Most requests started per second (0: no limit).
    pub rate_per_second: f64,
    /// A notification still failing this long after it was queued is dead-lettered.
    pub dead_after: Duration,
    /// First retry delay; doubled per attempt (with jitter) up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            timeout: Duration::from_secs(10),
            concurrency: 4,
            rate_per_second: 0.0,
            dead_after: Duration::from_secs(24 * 3600),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// One configured sink.
#[derive(Debug, Clone)]
pub struct Sink {
    /// Unique name (routes and the outbox refer to it).
    pub name: String,
    /// Which vendor.
    pub kind: SinkKind,
    /// Where requests go (for Slack the webhook URL, which is itself a secret: see `secret`).
    pub url: String,
    /// The key, token, password or signing secret, from `secret_env` or `secret_file`.
    pub secret: Option<Secret>,
    /// The steps this sink is told about.
    pub steps: Vec<Step>,
    /// Delivery settings.
    pub delivery: Delivery,
    /// The vendor's own settings (user, table, project, transitions).
    pub options: SinkOptions,
    /// The secret that signs callbacks from this queue (`POST /v1/callbacks/{sink}`), from
    /// `callback_secret_env` or `callback_secret_file`; `None`: no callbacks taken.
    pub callback_secret: Option<Secret>,
}

/// Vendor settings of a sink; each kind reads the ones it documents (README, "Incident
/// queues") and config validation refuses the others.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkOptions {
    /// ServiceNow and Jira: the account (basic auth with the sink's secret).
    pub user: Option<String>,
    /// ServiceNow: the table (default `incident`).
    pub table: String,
    /// Jira: the project key.
    pub project: Option<String>,
    /// Jira: the issue type (default `Task`).
    pub issue_type: String,
    /// Jira: priority names for priorities 1 to 5 (none: Jira's default priority).
    pub priorities: Option<[String; 5]>,
    /// Jira: the transition taken on resolve (default `Done`).
    pub resolve_transition: String,
    /// Jira: the transition taken on acknowledge (none: acknowledge only comments).
    pub acknowledge_transition: Option<String>,
    /// Jira: the transition taken on reopen when the issue is done (none: reopen only
    /// comments).
    pub reopen_transition: Option<String>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            user: None,
            table: "incident".to_owned(),
            project: None,
            issue_type: "Task".to_owned(),
            priorities: None,
            resolve_transition: "Done".to_owned(),
            acknowledge_transition: None,
            reopen_transition: None,
        }
    }
}

impl Sink {
    /// True when this sink wants `step`.
    pub fn wants(&self, step: Step) -> bool {
        self.steps.contains(&step)
    }
}

/// A delivery that the receiver accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// The HTTP status of the last request.
    pub status: u16,
    /// The start of the answer's body (for `notify test` and logs).
    pub body: String,
}

/// Why a delivery did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again (a 5xx, 429, 408, a timeout, a refused connection); `after` is the
    /// receiver's `Retry-After` when it gave one.
    #[error("{reason}")]
    Retry {
        /// What happened.
        reason: String,
        /// The receiver's `Retry-After`.
        after: Option<Duration>,
    },
    /// Will not succeed as it is (another 4xx: a bad key, a refused payload): dead-lettered.
    #[error("{reason}")]
    Permanent {
        /// What happened.
        reason: String,
    },
}

/// The incident's hosts on one line for people (`web-1, web-2`), or `-` when it has none.
pub fn hosts_text(incident: &crate::incidents::Incident) -> String {
    if incident.hosts.is_empty() {
        "-".to_owned()
    } else {
        incident.hosts.join(", ")
    }
}

/// What an incident carries beyond its event for the people paged: the suspected change, its
/// problem record and known workaround, its runbook; `(key, text)` pairs, only those it has.
/// Every vendor adds them where its payload has room (details fields, the description).
pub fn context_fields(incident: &crate::incidents::Incident) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    if let Some(change) = &incident.suspected_change {
        fields.push((
            "suspected_change",
            format!(
                "{} {} (same {}): {}",
                change.kind,
                change.id,
                change.touch.as_str(),
                change.summary
            ),
        ));
    }
    if let Some(problem) = &incident.problem_id {
        fields.push(("problem_id", problem.clone()));
    }
    if let Some(workaround) = &incident.workaround {
        fields.push(("workaround", workaround.clone()));
    }
    if let Some(runbook) = &incident.runbook {
        fields.push(("runbook", runbook.clone()));
    }
    fields
}

/// [`context_fields`] as lines for a description (`Suspected change: ...`), each starting
/// with a newline; empty when there are none.
pub fn context_text(incident: &crate::incidents::Incident) -> String {
    let mut text = String::new();
    for (key, value) in context_fields(incident) {
        let label = match key {
            "suspected_change" => "Suspected change",
            "problem_id" => "Problem",
            "workaround" => "Workaround",
            _ => "Runbook",
        };
        text.push_str(&format!("\n{label}: {value}"));
    }
    text
}

/// The sink's secret (`what` it is to the vendor), or the permanent error that says how to give
/// one.
pub fn require_secret<'a>(sink: &'a Sink, what: &str) -> Result<&'a Secret, SendError> {
    sink.secret.as_ref().ok_or_else(|| SendError::Permanent {
        reason: format!("no {what}: set secret_env or secret_file on the sink"),
    })
}

/// The one HTTP client every sink shares (rustls with ring, no redirects: a vendor API that
/// redirects is misconfigured, and following would resend the key elsewhere).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("vigil-collector/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10))
        .build()
}

/// Most of an answer's body kept for a receipt or an error.
pub const BODY_KEPT: usize = 512;

/// Sends `message` to `sink` with `client`.
pub async fn deliver(
    client: &reqwest::Client,
    sink: &Sink,
    message: &Message<'_>,
) -> Result<Receipt, SendError> {
    match sink.kind {
        SinkKind::Webhook => webhook::deliver(client, sink, message).await,
        SinkKind::PagerDuty => pagerduty::deliver(client, sink, message).await,
        SinkKind::Opsgenie => opsgenie::deliver(client, sink, message).await,
        SinkKind::Slack => slack::deliver(client, sink, message).await,
        SinkKind::ServiceNow => servicenow::deliver(client, sink, message).await,
        SinkKind::Jira => jira::deliver(client, sink, message).await,
    }
}

/// Sends a built request and classifies the answer: 2xx → [`Receipt`]; 408, 429 and 5xx (with
/// `Retry-After` when given), timeouts and connection errors → [`SendError::Retry`]; any other
/// status → [`SendError::Permanent`].
pub async fn send(request: reqwest::RequestBuilder) -> Result<Receipt, SendError> {
    send_reading(request, BODY_KEPT)
        .await
        .map(|(receipt, _)| receipt)
}

/// Like [`send`], but also hands back up to `max` bytes of the answer's body as it came, for
/// the sinks that read what the receiver answered (a ticket's id, a list of transitions).
pub async fn send_reading(
    request: reqwest::RequestBuilder,
    max: usize,
) -> Result<(Receipt, String), SendError> {
    let answer = exchange(request, max).await?;
    classify(answer)
}

/// An answer as it came, before [`classify`] says what it means.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The receiver's `Retry-After`.
    pub after: Option<Duration>,
    /// Up to the asked number of bytes of the body.
    pub body: String,
}

/// Sends a request and reads up to `max` bytes of the answer (at least [`BODY_KEPT`]); only
/// transport failures are errors here (retried).
pub async fn exchange(request: reqwest::RequestBuilder, max: usize) -> Result<Answer, SendError> {
    let mut response = request.send().await.map_err(|error| SendError::Retry {
        reason: describe_transport_error(&error),
        after: None,
    })?;
    let status = response.status().as_u16();
    let after = retry_after(response.headers());
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = max.max(BODY_KEPT).saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room <= chunk.len() {
                    break;
                }
            }
            Ok(None) => break,
            Err(error) => {
                return Err(SendError::Retry {
                    reason: format!(
                        "answer {status} unreadable: {}",
                        describe_transport_error(&error)
                    ),
                    after,
                });
            }
        }
    }
    Ok(Answer {
        status,
        after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// 2xx → a [`Receipt`] (and the body); 408, 425, 429 and 5xx → [`SendError::Retry`]; any
/// other status → [`SendError::Permanent`].
pub fn classify(answer: Answer) -> Result<(Receipt, String), SendError> {
    let Answer {
        status,
        after,
        body: full,
    } = answer;
    let body = truncate(&full, BODY_KEPT);
    match status {
        200..=299 => Ok((Receipt { status, body }, full)),
        408 | 425 | 429 | 500..=599 => Err(SendError::Retry {
            reason: format!("HTTP {status}: {body}"),
            after,
        }),
        _ => Err(SendError::Permanent {
            reason: format!("HTTP {status}: {body}"),
        }),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from these APIs and read as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(3_600)))
}

/// A transport error in one line, with its cause (never the URL's query, which may hold a key).
fn describe_transport_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// At most `max` bytes of `text`, cut on a character boundary, on one line.
pub fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_text_is_cut_on_a_boundary() {
        for kind in SinkKind::ALL {
            assert_eq!(SinkKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SinkKind::parse("email"), None);
        assert_eq!(truncate("héllo\nworld", 2), "h");
        assert_eq!(truncate("a\nb", 10), "a b");
    }

    #[test]
    fn every_vendor_carries_the_suspected_change_problem_workaround_and_runbook() {
        use crate::incidents::model::{SuspectedChange, Touch};
        let mut incident = receiver::incident();
        incident.suspected_change = Some(SuspectedChange {
            id: "c-42".into(),
            kind: "deploy".into(),
            summary: "checkout v2.3.1".into(),
            starts_ms: 1_700_000_000_000,
            touch: Touch::Host,
        });
        incident.problem_id = Some("p-7".into());
        incident.workaround = Some("restart the pool".into());
        incident.runbook = Some("https://runbooks.example/5xx".into());
        let message = crate::notify::Message {
            step: crate::notify::Step::Open,
            incident: &incident,
            idempotency_key: "k",
            at_ms: 1_700_000_000_000,
            level: 0,
            link: None,
        };
        let change = "deploy c-42 (same host): checkout v2.3.1";
        let details = &pagerduty::event(&message)["payload"]["custom_details"];
        assert_eq!(details["suspected_change"], change);
        assert_eq!(details["problem_id"], "p-7");
        assert_eq!(details["workaround"], "restart the pool");
        assert_eq!(details["runbook"], "https://runbooks.example/5xx");
        let (_, _, alert) = opsgenie::request(&message);
        assert_eq!(alert["details"]["suspected_change"], change);
        assert_eq!(alert["details"]["workaround"], "restart the pool");
        let slack = slack::body(&message);
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .contains("suspected change: deploy c-42"),
            "{slack}"
        );
        let sink = receiver::sink(SinkKind::Jira, "http://127.0.0.1:1", None);
        for description in [
            opsgenie::request(&message).2["description"].clone(),
            servicenow::create_body(&message)["description"].clone(),
            jira::create_body(&sink, &message)["fields"]["description"].clone(),
            serde_json::json!(slack.to_string()),
        ] {
            let text = description.as_str().unwrap();
            for needle in [
                "Suspected change: deploy c-42 (same host): checkout v2.3.1",
                "Problem: p-7",
                "Workaround: restart the pool",
                "Runbook: https://runbooks.example/5xx",
            ] {
                assert!(text.contains(needle), "{needle} not in {text}");
            }
        }
        // The webhook body is the incident's snapshot.
        let dto = crate::api::dto::IncidentDto::from_incident(incident.clone(), false);
        let dto = serde_json::to_value(dto).unwrap();
        assert_eq!(dto["suspected_change"]["id"], "c-42");
        assert_eq!(dto["suspected_change"]["touch"], "host");
        assert_eq!(dto["workaround"], "restart the pool");
    }
}
