//! `POST /v1/alertmanager`: the receiver for Prometheus Alertmanager's webhook (payload
//! version 4). Every alert in the payload, firing or resolved, becomes one generic event
//! ([`to_events`], pure) that goes to the engine through the same call as `POST /v1/events`
//! (`events::record`), so the answer comes after the commit.
//!
//! The mapping, per alert:
//!
//! | event field | from |
//! |---|---|
//! | `source` | `alertmanager` |
//! | `check` | label `alertname` (`alert` when missing) |
//! | `host` | label `host`, else `instance` |
//! | `service` | label `service` |
//! | `severity` | label `severity` through [`severity_from_label`] (`warning` when missing or unknown) |
//! | `status` | the alert's `status` |
//! | `labels` | every label of the alert, so the fingerprint is a function of the sorted label set: two alerts with the same labels are one incident, any other label makes another |
//! | `summary` | annotation `summary` (else `description`, `message`, the alertname), then `description` when it adds something, then the links: `generatorURL` and annotation `runbook_url` |
//! | `event_id` | `alertmanager:<fingerprint>:<startsAt>:<status>` when Alertmanager sent its `fingerprint`, so a repeated notification of the same alert (group updates, `repeat_interval`, retries) changes nothing |
//! | `time` | `startsAt` when firing, `endsAt` when resolved |

use super::AppState;
use super::dto::EventRequest;
use super::error::ApiError;
use super::events::{record, require_json};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;

/// The webhook payload version this receiver reads.
pub const PAYLOAD_VERSION: &str = "4";
/// Most alerts in one request (Alertmanager's `max_alerts` keeps a receiver under it).
pub const MAX_ALERTS_PER_REQUEST: usize = 1_000;

/// Alertmanager's webhook body (version 4). Unknown fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// Payload version; must be `"4"`.
    pub version: String,
    /// The aggregation group's key (logged).
    #[serde(default)]
    pub group_key: Option<String>,
    /// Alerts left out because of `max_alerts` (logged).
    #[serde(default)]
    pub truncated_alerts: u64,
    /// The receiver's name in the Alertmanager config.
    #[serde(default)]
    pub receiver: Option<String>,
    /// The alerts, firing and resolved.
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of the payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: Status,
    /// The alert's identity.
    #[serde(default)]
    pub labels: Labels,
    /// Text about it (`summary`, `description`, `runbook_url`, ...).
    #[serde(default)]
    pub annotations: Labels,
    /// When it started, RFC 3339.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// When it ended (in the future while firing), RFC 3339.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// Link to the expression that fired (Prometheus graph URL).
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Alertmanager's hash of the labels.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// Records every alert of the payload; answers one `{"incident_id", "outcome"}` per alert, in
/// order.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let mut error = ApiError::from_body(rejection);
            if error.is_too_large() {
                error.message = "request body too large: send at most 2 MiB (set max_alerts in \
                                 the Alertmanager webhook config)"
                    .to_owned();
            }
            return error.into_response();
        }
    };
    match accept(&state, &headers, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn accept(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    require_json(headers)?;
    let payload: WebhookPayload = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!("invalid Alertmanager webhook JSON: {error}"))
    })?;
    if payload.alerts.len() > MAX_ALERTS_PER_REQUEST {
        return Err(ApiError::too_large(format!(
            "{} alerts in one request; send at most {MAX_ALERTS_PER_REQUEST} (max_alerts in \
             the Alertmanager webhook config)",
            payload.alerts.len()
        )));
    }
    if payload.truncated_alerts > 0 {
        tracing::warn!(
            truncated = payload.truncated_alerts,
            group_key = payload.group_key.as_deref().unwrap_or(""),
            "Alertmanager left alerts out of a notification (max_alerts)"
        );
    }
    let requests = to_events(&payload).map_err(ApiError::unprocessable)?;
    let responses = record(state, requests, Some("alert")).await?;
    Ok(Json(responses).into_response())
}

/// The generic events of a webhook payload, one per alert in order (see the module doc for the
/// mapping). Fails only on a payload version other than 4; everything per alert is checked by
/// the generic event validation afterwards.
pub fn to_events(payload: &WebhookPayload) -> Result<Vec<EventRequest>, String> {
    if payload.version != PAYLOAD_VERSION {
        return Err(format!(
            "webhook payload version {:?} is not supported: Vigil reads Alertmanager's version \
             {PAYLOAD_VERSION}",
            payload.version
        ));
    }
    Ok(payload.alerts.iter().map(to_event).collect())
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value
        .map(|text| text.trim())
        .filter(|text| !text.is_empty())
}

fn to_event(alert: &WebhookAlert) -> EventRequest {
    let label = |name: &str| non_empty(alert.labels.get(name));
    let annotation = |name: &str| non_empty(alert.annotations.get(name));
    let check = label("alertname").unwrap_or("alert").to_owned();
    let host = label("host")
        .or_else(|| label("instance"))
        .map(str::to_owned);
    let service = label("service").map(str::to_owned);
    let severity = severity_from_label(label("severity"));

    let headline = annotation("summary")
        .or_else(|| annotation("description"))
        .or_else(|| annotation("message"))
        .unwrap_or(&check);
    let mut summary = headline.to_owned();
    if let Some(description) = annotation("description")
        && description != headline
    {
        summary.push_str(" — ");
        summary.push_str(description);
    }
    if let Some(url) = non_empty(alert.generator_url.as_ref()) {
        summary.push_str(" [source: ");
        summary.push_str(url);
        summary.push(']');
    }
    if let Some(url) = annotation("runbook_url") {
        summary.push_str(" [runbook: ");
        summary.push_str(url);
        summary.push(']');
    }

    let (time, status_word) = match alert.status {
        Status::Firing => (alert.starts_at.as_ref(), "firing"),
        Status::Resolved => (alert.ends_at.as_ref(), "resolved"),
    };
    // Go's zero time means "not set"; anything unreadable is left out (the time is
    // informational), never a reason to drop the alert.
    let time = time
        .filter(|text| !text.starts_with("0001-"))
        .filter(|text| crate::clock::parse_rfc3339(text).is_some())
        .cloned();
    let event_id = match (
        non_empty(alert.fingerprint.as_ref()),
        non_empty(alert.starts_at.as_ref()),
    ) {
        (Some(fingerprint), Some(starts_at)) => Some(format!(
            "alertmanager:{fingerprint}:{starts_at}:{status_word}"
        )),
        _ => None,
    };
    EventRequest {
        source: Some("alertmanager".to_owned()),
        host,
        service,
        check: Some(check),
        status: alert.status,
        severity,
        summary: Some(summary),
        labels: alert.labels.clone(),
        dedup_key: None,
        event_id,
        time,
        // A runbook the incident can carry; one that is not a plain http(s) URL stays in the
        // summary only, never a reason to drop the alert.
        runbook: annotation("runbook_url")
            .filter(|url| crate::incidents::event::check_runbook(url).is_ok())
            .map(str::to_owned),
    }
}

/// The severity for an alert's `severity` label (case and surrounding spaces ignored):
///
/// | label values | severity |
/// |---|---|
/// | `critical`, `crit`, `fatal`, `emergency`, `emerg`, `alert`, `page`, `disaster`, `p1`, `sev1` | critical |
/// | `major`, `high`, `error`, `err`, `p2`, `sev2` | major |
/// | `minor`, `medium`, `average`, `moderate`, `p3`, `sev3` | minor |
/// | `warning`, `warn`, `low`, `p4`, `sev4` | warning |
/// | `info`, `informational`, `notice`, `debug`, `none`, `ok`, `p5`, `sev5` | info |
///
/// Missing or any other value: warning (at the default `min_severity`, so it opens an incident).
pub fn severity_from_label(value: Option<&str>) -> Severity {
    let Some(value) = value else {
        return Severity::Warning;
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "fatal" | "emergency" | "emerg" | "alert" | "page" | "disaster"
        | "p1" | "sev1" => Severity::Critical,
        "major" | "high" | "error" | "err" | "p2" | "sev2" => Severity::Major,
        "minor" | "medium" | "average" | "moderate" | "p3" | "sev3" => Severity::Minor,
        "info" | "informational" | "notice" | "debug" | "none" | "ok" | "p5" | "sev5" => {
            Severity::Info
        }
        _ => Severity::Warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload as Alertmanager 0.25 (Debian 12) sends it.
    const PAYLOAD: &str = r#"{
      "receiver": "vigil", "status": "firing", "version": "4",
      "groupKey": "{}:{alertname=\"DiskFull\"}", "truncatedAlerts": 0,
      "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {}, "commonAnnotations": {},
      "externalURL": "http://am:9093",
      "alerts": [
        {"status": "firing",
         "labels": {"alertname": "DiskFull", "host": "db-1", "service": "billing",
                    "severity": "Critical", "mountpoint": "/var"},
         "annotations": {"summary": "/var on db-1 is 97% full",
                         "description": "writes fail at 100%",
                         "runbook_url": "https://runbooks/disk"},
         "startsAt": "2026-12-01T20:00:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prom:9090/graph?g0.expr=x", "fingerprint": "a1b2c3d4e5f60718"},
        {"status": "resolved",
         "labels": {"alertname": "Probe", "instance": "10.0.0.5:9100"},
         "annotations": {},
         "startsAt": "2026-12-01T19:00:00Z", "endsAt": "2026-12-01T19:30:00Z",
         "generatorURL": "", "fingerprint": "0000000000000001"}
      ]
    }"#;

    fn events() -> Vec<EventRequest> {
        let payload: WebhookPayload = serde_json::from_str(PAYLOAD).unwrap();
        to_events(&payload).unwrap()
    }

    #[test]
    fn alerts_become_generic_events_with_mapped_fields() {
        let events = events();
        assert_eq!(events.len(), 2);
        let disk = &events[0];
        assert_eq!(disk.source.as_deref(), Some("alertmanager"));
        assert_eq!(disk.check.as_deref(), Some("DiskFull"));
        assert_eq!(disk.host.as_deref(), Some("db-1"));
        assert_eq!(disk.service.as_deref(), Some("billing"));
        assert_eq!(disk.severity, Severity::Critical);
        assert_eq!(disk.status, Status::Firing);
        assert_eq!(
            disk.labels.get("mountpoint").map(String::as_str),
            Some("/var")
        );
        assert_eq!(
            disk.labels.len(),
            5,
            "every label is kept: {:?}",
            disk.labels
        );
        assert_eq!(
            disk.summary.as_deref(),
            Some(
                "/var on db-1 is 97% full — writes fail at 100% \
                 [source: http://prom:9090/graph?g0.expr=x] [runbook: https://runbooks/disk]"
            )
        );
        assert_eq!(
            disk.event_id.as_deref(),
            Some("alertmanager:a1b2c3d4e5f60718:2026-12-01T20:00:00.123456789Z:firing")
        );
        assert_eq!(disk.time.as_deref(), Some("2026-12-01T20:00:00.123456789Z"));
        assert_eq!(
            disk.dedup_key, None,
            "the engine fingerprints the label set"
        );

        let probe = &events[1];
        assert_eq!(probe.status, Status::Resolved);
        assert_eq!(
            probe.host.as_deref(),
            Some("10.0.0.5:9100"),
            "instance stands in"
        );
        assert_eq!(probe.service, None);
        assert_eq!(probe.severity, Severity::Warning, "no severity label");
        assert_eq!(
            probe.summary.as_deref(),
            Some("Probe"),
            "no annotations, no link"
        );
        assert_eq!(
            probe.time.as_deref(),
            Some("2026-12-01T19:30:00Z"),
            "endsAt"
        );
        assert!(probe.event_id.as_deref().unwrap().ends_with(":resolved"));
    }

    #[test]
    fn firing_and_resolved_of_one_alert_share_identity_and_differ_in_event_id() {
        let firing: WebhookPayload = serde_json::from_str(PAYLOAD).unwrap();
        let resolved: WebhookPayload = serde_json::from_str(&PAYLOAD.replacen(
            "\"status\": \"firing\",\n         \"labels\"",
            "\"status\": \"resolved\",\n         \"labels\"",
            1,
        ))
        .unwrap();
        let (a, b) = (
            &to_events(&firing).unwrap()[0],
            &to_events(&resolved).unwrap()[0],
        );
        assert_eq!(b.status, Status::Resolved);
        assert_eq!(
            (&a.source, &a.host, &a.service, &a.check, &a.labels),
            (&b.source, &b.host, &b.service, &b.check, &b.labels)
        );
        assert_ne!(a.event_id, b.event_id);
        assert_eq!(b.time, None, "a zero endsAt is no time");
    }

    #[test]
    fn other_payload_versions_are_refused_with_the_supported_one_named() {
        let payload: WebhookPayload =
            serde_json::from_str(&PAYLOAD.replace("\"version\": \"4\"", "\"version\": \"3\""))
                .unwrap();
        let error = to_events(&payload).unwrap_err();
        assert!(
            error.contains("\"3\"") && error.contains("version 4"),
            "{error}"
        );
    }

    #[test]
    fn severity_words_map_to_vigil_severities() {
        for (word, severity) in [
            ("critical", Severity::Critical),
            (" PAGE ", Severity::Critical),
            ("error", Severity::Major),
            ("high", Severity::Major),
            ("medium", Severity::Minor),
            ("warn", Severity::Warning),
            ("whatever", Severity::Warning),
            ("info", Severity::Info),
            ("none", Severity::Info),
        ] {
            assert_eq!(severity_from_label(Some(word)), severity, "{word}");
        }
        assert_eq!(severity_from_label(None), Severity::Warning);
    }
}
