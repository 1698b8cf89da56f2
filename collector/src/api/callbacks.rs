//! `POST /v1/callbacks/{sink}`: an incident queue telling Vigil that someone acknowledged or
//! resolved an incident there. Authenticated by the signature alone (no bearer token), with the
//! sink's `callback_secret_env` / `callback_secret_file`:
//!
//! - a `pagerduty` sink takes PagerDuty v3 webhooks: `X-PagerDuty-Signature: v1=<hex
//!   HMAC-SHA256(secret, raw body)>` (several comma-separated while PagerDuty rotates secrets;
//!   one match is enough); `incident.acknowledged` and `incident.resolved` act on the active
//!   Vigil incident whose fingerprint is the PagerDuty incident's `incident_key` (the
//!   `dedup_key` the sink sent); other event types are answered 200 and ignored;
//! - a `webhook` sink takes `{"incident_id": ..., "action": "acknowledge" | "resolve", "by":
//!   ...}` signed as Vigil signs its own webhooks (`X-Vigil-Signature: t=..,v1=..`, checked
//!   with [`crate::notify::sinks::webhook::verify`], at most 5 minutes old).
//!
//! The action goes through the pipeline like `POST /v1/incidents/{id}/ack`. A repeat is
//! harmless: acknowledging an acknowledged incident, or acting on one already resolved, answers
//! 200 with `"changed": false`. Unsigned or badly signed: 401; unknown sink or a sink without a
//! callback secret: 404.

use super::AppState;
use super::error::ApiError;
use crate::incidents::{Action, ActionError, Incident, State as IncidentState};
use crate::notify::sinks::{SinkKind, webhook};
use crate::pipeline::{Write, WriteOutcome};
use crate::store::IncidentFilter;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

/// How old a webhook callback's timestamp may be, in seconds.
pub const TOLERANCE_S: i64 = 300;

/// `POST /v1/callbacks/{sink}`.
pub async fn post(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    let Some(sink) = state.sinks.iter().find(|sink| sink.name == name) else {
        return Err(ApiError::not_found(format!(
            "no sink {name:?}: callbacks go to /v1/callbacks/<name of a [[sink]]>"
        )));
    };
    let Some(secret) = sink
        .callback_secret
        .as_ref()
        .filter(|_| matches!(sink.kind, SinkKind::PagerDuty | SinkKind::Webhook))
    else {
        return Err(ApiError::not_found(format!(
            "sink {name:?} takes no callbacks: give it callback_secret_env or callback_secret_file (pagerduty and webhook sinks)"
        )));
    };
    let header = |header: &str| headers.get(header).and_then(|value| value.to_str().ok());
    let request = match sink.kind {
        SinkKind::PagerDuty => {
            let signed = header("x-pagerduty-signature").ok_or_else(|| {
                unauthorized(
                    "missing X-PagerDuty-Signature: sign the body with the sink's callback secret",
                )
            })?;
            if !pagerduty_signature_matches(secret.expose().as_bytes(), signed, &body) {
                return Err(unauthorized(
                    "X-PagerDuty-Signature does not match the body: check the sink's callback secret",
                ));
            }
            match pagerduty_request(&body)? {
                Some(request) => request,
                None => return Ok(Json(json!({"ignored": true}))),
            }
        }
        _ => {
            let signed = header("x-vigil-signature").ok_or_else(|| {
                unauthorized("missing X-Vigil-Signature: sign \"<timestamp>.<body>\" with the sink's callback secret")
            })?;
            let now_s = state.clock.now_ms() / 1_000;
            if !webhook::verify(
                secret.expose().as_bytes(),
                signed,
                &body,
                now_s,
                TOLERANCE_S,
            ) {
                return Err(unauthorized(
                    "X-Vigil-Signature does not match the body or is older than 5 minutes: check the callback secret and the clock",
                ));
            }
            webhook_request(&body)?
        }
    };
    let found = match &request.target {
        Target::Id(id) => incident_by_id(&state, id).await?,
        Target::Fingerprint(fingerprint) => active_with_fingerprint(&state, fingerprint).await?,
    };
    let Some(before) = found else {
        return match request.target {
            Target::Id(id) => Err(ApiError::not_found(format!("no incident {id:?}"))),
            // Nothing active has it: already resolved here (a repeat), or never Vigil's.
            Target::Fingerprint(_) => Ok(Json(json!({"incident_id": null, "changed": false}))),
        };
    };
    let id = before.id.clone();
    let changed = crate::incidents::action::would_change(&before, request.action);
    // Within the 256 bytes the incident actions take for "by".
    let by = format!(
        "{} (via {name})",
        crate::notify::sinks::truncate(&request.by, 180)
    );
    let outcome = state
        .pipeline
        .write(Write::Act {
            id: id.clone(),
            action: request.action,
            by,
            text: Some(request.text),
        })
        .await
        .map_err(ApiError::from_write)?;
    let WriteOutcome::Incident(result) = outcome else {
        return Err(ApiError::internal(
            "the store answered an action with something else",
        ));
    };
    match *result {
        Ok(incident) => {
            tracing::info!(sink = %name, incident_id = %incident.id, action = request.action.as_str(), "callback applied");
            Ok(Json(json!({
                "incident_id": incident.id,
                "state": incident.state.as_str(),
                "changed": changed,
            })))
        }
        // Acknowledging what is resolved, or acting on what is closed: already past it.
        Err(error @ ActionError::InvalidTransition { .. }) => Ok(Json(json!({
            "incident_id": id,
            "changed": false,
            "reason": error.to_string(),
        }))),
        Err(error) => Err(ApiError::from_action(&error)),
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::unauthorized(message)
}

/// Which incident a callback names.
enum Target {
    Id(String),
    Fingerprint(String),
}

/// A callback, decoded.
struct Request {
    target: Target,
    action: Action,
    by: String,
    text: String,
}

/// `v1=<hex HMAC-SHA256(secret, body)>`, as PagerDuty signs (for tests and tools that stand in
/// for it).
pub fn pagerduty_signature(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let hex: String = ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("v1={hex}")
}

/// True when one of the `v1=` signatures is the HMAC-SHA256 of `body` (constant time).
pub fn pagerduty_signature_matches(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    header
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(decode_hex)
        .any(|given| ring::hmac::verify(&key, body, &given).is_ok())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

/// A PagerDuty v3 webhook: `None` for an event type Vigil does not act on.
fn pagerduty_request(body: &[u8]) -> Result<Option<Request>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "invalid body: {error}; expected a PagerDuty v3 webhook {{\"event\": {{...}}}}"
        ))
    })?;
    let event = &value["event"];
    let action = match event["event_type"].as_str() {
        Some("incident.acknowledged") => Action::Ack,
        Some("incident.resolved") => Action::Resolve,
        Some(_) => return Ok(None),
        None => {
            return Err(ApiError::bad_request(
                "the body has no event.event_type: expected a PagerDuty v3 webhook",
            ));
        }
    };
    let Some(key) = event["data"]["incident_key"]
        .as_str()
        .filter(|key| !key.is_empty())
    else {
        return Err(ApiError::unprocessable(
            "event.data.incident_key is missing: only incidents opened through the Events API (by Vigil) can be matched",
        ));
    };
    let agent = event["agent"]["summary"]
        .as_str()
        .or(event["agent"]["name"].as_str())
        .unwrap_or("PagerDuty");
    let number = event["data"]["number"]
        .as_u64()
        .map(|number| format!(" #{number}"))
        .unwrap_or_default();
    let verb = if action == Action::Ack {
        "acknowledged"
    } else {
        "resolved"
    };
    Ok(Some(Request {
        target: Target::Fingerprint(key.to_owned()),
        action,
        by: agent.to_owned(),
        text: format!(
            "{verb} in PagerDuty (incident{number} {})",
            event["data"]["id"].as_str().unwrap_or("?")
        ),
    }))
}

/// The generic webhook's callback body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookCallback {
    incident_id: String,
    action: String,
    by: Option<String>,
    text: Option<String>,
}

fn webhook_request(body: &[u8]) -> Result<Request, ApiError> {
    let callback: WebhookCallback = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "invalid body: {error}; send {{\"incident_id\": \"...\", \"action\": \"acknowledge\" or \"resolve\", \"by\": \"...\"}}"
        ))
    })?;
    if callback
        .text
        .as_ref()
        .is_some_and(|text| text.len() > 16_384)
    {
        return Err(ApiError::unprocessable(
            "\"text\" is limited to 16384 bytes",
        ));
    }
    let action = match callback.action.as_str() {
        "acknowledge" | "ack" => Action::Ack,
        "resolve" => Action::Resolve,
        other => {
            return Err(ApiError::unprocessable(format!(
                "action {other:?} is unknown: use acknowledge or resolve"
            )));
        }
    };
    Ok(Request {
        target: Target::Id(callback.incident_id),
        action,
        by: callback
            .by
            .filter(|by| !by.trim().is_empty())
            .unwrap_or_else(|| "webhook".into()),
        text: callback
            .text
            .unwrap_or_else(|| format!("{} by a webhook callback", action.as_str())),
    })
}

/// The incident with `id`.
async fn incident_by_id(state: &AppState, id: &str) -> Result<Option<Incident>, ApiError> {
    let reader = state.reader.clone();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || reader.get_incident(&id))
        .await
        .map_err(|_| ApiError::internal("the incident query was cancelled"))?
        .map_err(|error| ApiError::from_store(&error))
}

/// The open or acknowledged incident with `fingerprint` (among the newest
/// [`super::incidents::MAX_LIMIT`] active ones).
async fn active_with_fingerprint(
    state: &AppState,
    fingerprint: &str,
) -> Result<Option<Incident>, ApiError> {
    let reader = state.reader.clone();
    let filter = IncidentFilter {
        states: vec![IncidentState::Open, IncidentState::Acknowledged],
        limit: super::incidents::MAX_LIMIT,
        ..IncidentFilter::default()
    };
    let incidents = tokio::task::spawn_blocking(move || reader.list_incidents(&filter))
        .await
        .map_err(|_| ApiError::internal("the incident query was cancelled"))?
        .map_err(|error| ApiError::from_store(&error))?;
    Ok(incidents
        .into_iter()
        .find(|incident| incident.fingerprint == fingerprint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pagerduty_signature_matches_any_of_its_v1_parts() {
        let body = br#"{"event":{"event_type":"incident.acknowledged"}}"#;
        let signed = pagerduty_signature(b"whsec", body);
        let hex = signed.strip_prefix("v1=").unwrap();
        // Python: hmac.new(b"whsec", body, hashlib.sha256).hexdigest()
        assert_eq!(
            hex,
            "5b6bcee48751c3cb9ee6949938f4b5c8a4b5a831e78600f82553ca85f0946e37"
        );
        assert!(pagerduty_signature_matches(
            b"whsec",
            &format!("v1={hex}"),
            body
        ));
        assert!(pagerduty_signature_matches(
            b"whsec",
            &format!("v1=00ff, v1={hex}"),
            body
        ));
        assert!(!pagerduty_signature_matches(
            b"other",
            &format!("v1={hex}"),
            body
        ));
        assert!(!pagerduty_signature_matches(
            b"whsec",
            &format!("v1={hex}"),
            b"{}"
        ));
        assert!(!pagerduty_signature_matches(b"whsec", hex, body));
        assert!(!pagerduty_signature_matches(b"whsec", "", body));
    }

    #[test]
    fn pagerduty_events_are_read_and_others_ignored() {
        let body = br#"{"event":{"id":"01D","event_type":"incident.resolved","resource_type":"incident","agent":{"summary":"Jane Doe","type":"user_reference"},"data":{"id":"PINC1","type":"incident","number":12,"incident_key":"fp/1","status":"resolved"}}}"#;
        let request = pagerduty_request(body).unwrap().unwrap();
        assert!(matches!(&request.target, Target::Fingerprint(key) if key == "fp/1"));
        assert_eq!(request.action, Action::Resolve);
        assert_eq!(request.by, "Jane Doe");
        assert_eq!(request.text, "resolved in PagerDuty (incident #12 PINC1)");
        let other = br#"{"event":{"event_type":"incident.priority_updated","data":{}}}"#;
        assert!(pagerduty_request(other).unwrap().is_none());
        let keyless = br#"{"event":{"event_type":"incident.acknowledged","data":{"id":"P"}}}"#;
        assert_eq!(
            pagerduty_request(keyless).err().unwrap().status.as_u16(),
            422
        );
        assert_eq!(
            pagerduty_request(b"nope").err().unwrap().status.as_u16(),
            400
        );
    }
}
