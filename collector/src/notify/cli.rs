//! `vigil-collector notify test SINK [--config FILE] [--step STEP]`: sends one notification of
//! a synthetic test incident to a configured sink with the same [`deliver`] the delivery
//! workers use, and reports the receiver's answer. The test incident has a fixed fingerprint
//! (`vigil-notify-test`), so `--step resolve` afterwards closes the page, alert or ticket the
//! test opened.

use super::sinks::{Receipt, SendError, Sink, deliver};
use super::{Message, Step};
use crate::config::Config;
use crate::incidents::{EventIn, Incident};
use std::path::PathBuf;
use vigil_shared::event::{Severity, Status};

/// The fingerprint of the test incident (PagerDuty's `dedup_key`, Opsgenie's `alias`).
pub const TEST_FINGERPRINT: &str = "vigil-notify-test";

/// `notify` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NotifyCommand {
    /// Send one notification of a test incident to SINK and print the answer (exit 0 when
    /// accepted, 1 when refused or unreachable, 2 for an unknown sink or a bad config).
    Test {
        /// The sink's name (`[[sink]] name` in the config file).
        sink: String,
        /// The collector's config file, where the sink is (also `VIGIL_CONFIG`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The step to send: open, update, acknowledge, escalate, reopen, resolve or novel.
        #[arg(long, default_value = "open", value_parser = parse_step)]
        step: Step,
    },
}

fn parse_step(text: &str) -> Result<Step, String> {
    Step::parse(text).ok_or_else(|| {
        format!("unknown step {text:?}: use open, update, acknowledge, escalate, reopen, resolve or novel")
    })
}

/// Why the test notification did not go through.
#[derive(Debug, thiserror::Error)]
pub enum NotifyTestError {
    /// No sink has that name (exit status 2).
    #[error("no sink named {name:?} in the config: {known}")]
    UnknownSink {
        /// The name asked for.
        name: String,
        /// What the config has.
        known: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The receiver refused or could not be reached (exit status 1).
    #[error("sink {sink} did not accept the test notification{}: {source}", if matches!(source, SendError::Retry { .. }) { " (the delivery workers would retry)" } else { "" })]
    Refused {
        /// The sink.
        sink: String,
        /// What happened.
        #[source]
        source: SendError,
    },
}

impl NotifyTestError {
    /// The exit status: 2 for a sink that is not configured, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            NotifyTestError::UnknownSink { .. } => 2,
            _ => 1,
        }
    }
}

/// The test incident, as of `now_ms`.
pub fn test_incident(now_ms: i64, step: Step) -> Incident {
    let event = EventIn::new("vigil", "notify_test", Status::Firing, Severity::Warning)
        .with_summary(
            "a test notification sent by `vigil-collector notify test`; nothing is wrong",
        );
    let id = crate::incidents::model::format_id(crate::incidents::model::next_id(0, now_ms));
    let mut incident =
        crate::incidents::lifecycle::new_incident(id, TEST_FINGERPRINT.into(), &event, now_ms);
    incident.title = "Vigil test notification".into();
    incident.priority = 4;
    let host = hostname();
    incident.host = Some(host.clone());
    incident.hosts = vec![host];
    match step {
        Step::Acknowledge => {
            incident.state = crate::incidents::State::Acknowledged;
            incident.acknowledged_ms = Some(now_ms);
            incident.acknowledged_by = Some("vigil-collector notify test".into());
        }
        Step::Resolve => {
            incident.state = crate::incidents::State::Resolved;
            incident.resolved_ms = Some(now_ms);
            incident.resolved_by = Some("vigil-collector notify test".into());
        }
        _ => {}
    }
    incident
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Finds the sink and sends it the test notification.
pub async fn run(
    config: &Config,
    name: &str,
    step: Step,
) -> Result<(Receipt, String), NotifyTestError> {
    let Some(sink) = config.sinks.iter().find(|sink| sink.name == name) else {
        let names: Vec<&str> = config.sinks.iter().map(|sink| sink.name.as_str()).collect();
        let known = if names.is_empty() {
            "it has no [[sink]]".to_owned()
        } else {
            format!("it has {}", names.join(", "))
        };
        return Err(NotifyTestError::UnknownSink {
            name: name.to_owned(),
            known,
        });
    };
    send_test(sink, config.public_url.as_deref(), step).await
}

/// Sends the test notification for `step` to `sink`; answers the receipt and a description of
/// what was sent.
pub async fn send_test(
    sink: &Sink,
    public_url: Option<&str>,
    step: Step,
) -> Result<(Receipt, String), NotifyTestError> {
    // The client the delivery workers use (no redirects: they would resend the key elsewhere).
    let client =
        super::sinks::http_client().map_err(|error| NotifyTestError::Client(error.to_string()))?;
    let now_ms = vigil_shared::time::now_ms();
    let incident = test_incident(now_ms, step);
    let link =
        public_url.map(|url| format!("{}/v1/incidents/{}", url.trim_end_matches('/'), incident.id));
    let key = format!("notify-test-{}-{now_ms}", sink.name);
    let message = Message {
        step,
        incident: &incident,
        idempotency_key: &key,
        at_ms: now_ms,
        level: u32::from(step == Step::Escalate),
        link: link.as_deref(),
    };
    let sent = format!(
        "{} of test incident {} (fingerprint {TEST_FINGERPRINT}) to sink {} ({}, {})",
        step,
        incident.id,
        sink.name,
        sink.kind.as_str(),
        // Never a query: it may hold a key.
        sink.url.split(['?', '#']).next().unwrap_or_default()
    );
    deliver(&client, sink, &message)
        .await
        .map(|receipt| (receipt, sent))
        .map_err(|source| NotifyTestError::Refused {
            sink: sink.name.clone(),
            source,
        })
}
