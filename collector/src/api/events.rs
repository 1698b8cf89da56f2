//! `POST /v1/events`: a generic event from any tool, or a JSON array of them. Each event is
//! validated, then the whole request goes through the engine in one store transaction: the answer
//! (one entry per event) comes after the commit, so a 2xx means recorded.

use super::AppState;
use super::dto::{EventRequest, EventResponse};
use super::error::ApiError;
use crate::incidents::EventIn;
use crate::pipeline::{Write, WriteOutcome};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use vigil_shared::labels::validate_labels;

/// Most events in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;
/// Longest identity field (source, host, service, check, dedup_key, event_id), bytes.
pub const MAX_FIELD_LEN: usize = 256;
/// Longest summary, bytes (longer ones are cut at a character boundary).
pub const MAX_SUMMARY_LEN: usize = 4_096;

/// Records the events; answers one object for one event, an array for an array.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return ApiError::from_body(rejection).into_response(),
    };
    match accept(&state, &headers, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// 415 unless the request says it is JSON.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        Ok(())
    } else {
        Err(ApiError::unsupported_media(format!(
            "unsupported content type {content_type:?}: send application/json"
        )))
    }
}

async fn accept(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    require_json(headers)?;
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    let (requests, is_array) = match first {
        Some(b'[') => (
            serde_json::from_slice::<Vec<EventRequest>>(body).map_err(bad_json)?,
            true,
        ),
        Some(b'{') => (
            vec![serde_json::from_slice::<EventRequest>(body).map_err(bad_json)?],
            false,
        ),
        _ => {
            return Err(ApiError::bad_request(
                "the body must be one JSON event object or an array of them",
            ));
        }
    };
    if requests.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::too_large(format!(
            "{} events in one request; send at most {MAX_EVENTS_PER_REQUEST}",
            requests.len()
        )));
    }
    let responses = record(state, requests, is_array.then_some("event")).await?;
    Ok(if is_array {
        Json(responses).into_response()
    } else {
        Json(responses.into_iter().next()).into_response()
    })
}

/// Validates generic events and runs them through the engine in one store transaction; the
/// answers (one per request, in order) come after the commit. `item` names the array element
/// in validation messages (`event [3]: ...`); `None` for a single event. `POST /v1/events` and
/// `POST /v1/alertmanager` both hand their events to the engine here, and only here.
pub(super) async fn record(
    state: &AppState,
    requests: Vec<EventRequest>,
    item: Option<&str>,
) -> Result<Vec<EventResponse>, ApiError> {
    let n = requests.len();
    // One look at the host table for the whole request: impact needs the hosts' labels.
    let events = state.hosts.read(|all| {
        requests
            .into_iter()
            .enumerate()
            .map(|(index, request)| {
                let host_labels = request
                    .host
                    .as_deref()
                    .and_then(|host| all.get(host))
                    .map(|known| known.labels.clone())
                    .unwrap_or_default();
                to_event(request, host_labels).map_err(|message| {
                    let at = match item {
                        Some(item) => format!("{item} [{index}]: "),
                        None => String::new(),
                    };
                    ApiError::unprocessable(format!("{at}{message}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let outcome = state
        .pipeline
        .write(Write::Events(events))
        .await
        .map_err(ApiError::from_write)?;
    let WriteOutcome::Events(outcomes) = outcome else {
        return Err(ApiError::internal(
            "the store answered events with something else",
        ));
    };
    debug_assert_eq!(outcomes.len(), n);
    Ok(outcomes.iter().map(EventResponse::from_outcome).collect())
}

fn bad_json(error: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("invalid event JSON: {error}"))
}

fn check_field(name: &str, value: &Option<String>) -> Result<(), String> {
    match value {
        Some(value) if value.len() > MAX_FIELD_LEN => Err(format!(
            "{name} is {} bytes long; the limit is {MAX_FIELD_LEN}",
            value.len()
        )),
        Some(value) if value.trim().is_empty() => {
            Err(format!("{name} is empty: leave it out or give a value"))
        }
        _ => Ok(()),
    }
}

/// Validates one request into an engine event (also the replay's validation).
pub(crate) fn to_event(
    request: EventRequest,
    host_labels: vigil_shared::labels::Labels,
) -> Result<EventIn, String> {
    for (name, value) in [
        ("source", &request.source),
        ("host", &request.host),
        ("service", &request.service),
        ("check", &request.check),
        ("dedup_key", &request.dedup_key),
        ("event_id", &request.event_id),
    ] {
        check_field(name, value)?;
    }
    let check = match (request.check, &request.dedup_key) {
        (Some(check), _) => check,
        (None, Some(key)) => key.clone(),
        (None, None) => {
            return Err("check is required (or give a dedup_key)".to_owned());
        }
    };
    if request.labels.len() > 64 {
        return Err(format!("{} labels; the limit is 64", request.labels.len()));
    }
    validate_labels(&request.labels, &[]).map_err(|error| error.to_string())?;
    if let Some(time) = &request.time
        && crate::clock::parse_rfc3339(time).is_none()
    {
        return Err(format!(
            "time {time:?} is not RFC 3339, e.g. 2026-11-21T10:00:00Z"
        ));
    }
    if let Some(runbook) = &request.runbook {
        crate::incidents::event::check_runbook(runbook)?;
    }
    let mut summary = request.summary.unwrap_or_default();
    if summary.len() > MAX_SUMMARY_LEN {
        let mut end = MAX_SUMMARY_LEN;
        while !summary.is_char_boundary(end) {
            end -= 1;
        }
        summary.truncate(end);
    }
    Ok(EventIn {
        source: request.source.unwrap_or_else(|| "api".to_owned()),
        host: request.host,
        service: request.service,
        check,
        status: request.status,
        severity: request.severity,
        summary,
        labels: request.labels,
        host_labels,
        dedup_key: request.dedup_key,
        event_id: request.event_id,
        runbook: request.runbook,
    })
}
