//! `GET /v1/incidents` (filters `state`, `host`, `priority`, `limit`), `GET /v1/incidents/{id}`
//! with the timeline, and the actions `POST /v1/incidents/{id}/ack|resolve|close|notes`. Reads go
//! to the store's read connection (committed data only); actions go through the engine on the
//! store writer.

use super::AppState;
use super::dto::{ActionRequest, IncidentDto};
use super::error::ApiError;
use crate::auth::Token;
use crate::incidents::{Action, State as IncidentState};
use crate::pipeline::{Write, WriteOutcome};
use crate::store::IncidentFilter;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use std::collections::HashMap;

/// Default and largest `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest `limit`.
pub const MAX_LIMIT: usize = 1_000;

/// Parses `limit`: 1 to [`MAX_LIMIT`].
pub fn parse_limit(value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(limit @ 1..=MAX_LIMIT) => Ok(limit),
        _ => Err(ApiError::bad_request(format!(
            "limit {value:?} is not a number from 1 to {MAX_LIMIT}"
        ))),
    }
}

/// Parses the query into a filter; every problem is a 400 that names the parameter.
pub fn parse_filter(query: &HashMap<String, String>) -> Result<IncidentFilter, ApiError> {
    let mut filter = IncidentFilter {
        limit: DEFAULT_LIMIT,
        ..IncidentFilter::default()
    };
    for (key, value) in query {
        match key.as_str() {
            "state" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    filter.states.push(IncidentState::parse(part).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "state {part:?} is unknown: use open, acknowledged, resolved or closed (comma-separated)"
                        ))
                    })?);
                }
            }
            "priority" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match part.parse::<u8>() {
                        Ok(priority @ 1..=5) => filter.priorities.push(priority),
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "priority {part:?} is not 1 to 5"
                            )));
                        }
                    }
                }
            }
            "host" => filter.host = Some(value.clone()),
            "limit" => filter.limit = parse_limit(value)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: use state, host, priority or limit"
                )));
            }
        }
    }
    Ok(filter)
}

/// Fills `problem_id` from the problems' links for incidents whose own document has none: an
/// incident that opened before the recurrence that made its problem is linked, not rewritten.
fn with_problems(
    reader: &dyn crate::store::Reader,
    incidents: &mut [crate::incidents::Incident],
) -> Result<(), crate::store::StoreError> {
    let ids: Vec<String> = incidents
        .iter()
        .filter(|incident| incident.problem_id.is_none())
        .map(|incident| incident.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let links: HashMap<String, String> = reader.problem_links(&ids)?.into_iter().collect();
    for incident in incidents {
        if incident.problem_id.is_none() {
            incident.problem_id = links.get(&incident.id).cloned();
        }
    }
    Ok(())
}

/// Incidents, newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<IncidentDto>>, ApiError> {
    let filter = parse_filter(&query)?;
    let reader = state.reader.clone();
    let incidents = tokio::task::spawn_blocking(move || {
        let mut incidents = reader.list_incidents(&filter)?;
        with_problems(reader.as_ref(), &mut incidents)?;
        Ok::<_, crate::store::StoreError>(incidents)
    })
    .await
    .map_err(|_| ApiError::internal("the incident query was cancelled"))?
    .map_err(|error| ApiError::from_store(&error))?;
    Ok(Json(
        incidents
            .into_iter()
            .map(|incident| IncidentDto::from_incident(incident, false))
            .collect(),
    ))
}

/// One incident with its timeline.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDto>, ApiError> {
    let reader = state.reader.clone();
    let lookup = id.clone();
    let incident = tokio::task::spawn_blocking(move || {
        let mut incident: Vec<_> = reader.get_incident(&lookup)?.into_iter().collect();
        with_problems(reader.as_ref(), &mut incident)?;
        Ok::<_, crate::store::StoreError>(incident.pop())
    })
    .await
    .map_err(|_| ApiError::internal("the incident query was cancelled"))?
    .map_err(|error| ApiError::from_store(&error))?;
    incident
        .map(|incident| Json(IncidentDto::from_incident(incident, true)))
        .ok_or_else(|| ApiError::not_found(format!("no incident {id:?}")))
}

async fn act(
    state: AppState,
    id: String,
    action: Action,
    token: Option<Token>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    let request: ActionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ActionRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request(format!(
                "invalid body: {error}; send {{\"by\": \"...\", \"text\": \"...\"}}"
            ))
        })?
    };
    // Who acted: the name given, and with tokens also the token used, so a name in the body
    // cannot hide which credential acted.
    let given = request.by.filter(|by| !by.trim().is_empty());
    let by = match (given, token) {
        (Some(by), Some(token)) if by != token.name => format!("{by} (token {})", token.name),
        (Some(by), _) => by,
        (None, Some(token)) => token.name.clone(),
        (None, None) => String::new(),
    };
    if by.len() > 256
        || request
            .text
            .as_ref()
            .is_some_and(|text| text.len() > 16_384)
    {
        return Err(ApiError::unprocessable(
            "\"by\" is limited to 256 bytes and \"text\" to 16384",
        ));
    }
    let outcome = state
        .pipeline
        .write(Write::Act {
            id,
            action,
            by,
            text: request.text,
        })
        .await
        .map_err(ApiError::from_write)?;
    let WriteOutcome::Incident(result) = outcome else {
        return Err(ApiError::internal(
            "the store answered an action with something else",
        ));
    };
    match *result {
        Ok(incident) => Ok(Json(IncidentDto::from_incident(incident, true))),
        Err(error) => Err(ApiError::from_action(&error)),
    }
}

/// `POST /v1/incidents/{id}/ack`.
pub async fn ack(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: Option<axum::Extension<Token>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    act(state, id, Action::Ack, token.map(|t| t.0), body).await
}

/// `POST /v1/incidents/{id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: Option<axum::Extension<Token>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    act(state, id, Action::Resolve, token.map(|t| t.0), body).await
}

/// `POST /v1/incidents/{id}/close`.
pub async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: Option<axum::Extension<Token>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    act(state, id, Action::Close, token.map(|t| t.0), body).await
}

/// `POST /v1/incidents/{id}/notes`.
pub async fn note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    token: Option<axum::Extension<Token>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    act(state, id, Action::Note, token.map(|t| t.0), body).await
}
