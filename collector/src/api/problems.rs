//! `GET /v1/problems` (filter `state`, comma list; `limit`), `GET /v1/problems/{id}` (with the
//! ids of its incidents) and `POST /v1/problems/{id}` (operate role): sets `root_cause`,
//! `workaround` and `state` (`open` · `known_error` · `resolved`) through the pipeline, so the
//! engine sees the change at once (new incidents of a known error carry its workaround).

use super::AppState;
use super::error::ApiError;
use super::incidents::{DEFAULT_LIMIT, parse_limit};
use crate::clock::rfc3339;
use crate::incidents::problems::ProblemState;
use crate::pipeline::{ProblemUpdate, Write, WriteOutcome};
use crate::store::ProblemRecord;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest root cause or workaround, bytes.
pub const MAX_PROBLEM_TEXT: usize = 8_192;

/// A problem as the API shows it.
#[derive(Debug, Serialize)]
pub struct ProblemDto {
    /// Stable id.
    pub id: String,
    /// The fingerprint whose incidents it groups.
    pub fingerprint: String,
    /// `open`, `known_error` or `resolved`.
    pub state: String,
    /// `recurrence` or `service_wide`.
    pub reason: String,
    /// Title (its first incident's).
    pub title: String,
    /// Root cause, or null.
    pub root_cause: Option<String>,
    /// Workaround, or null.
    pub workaround: Option<String>,
    /// Opened, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
    /// Who changed it last.
    pub updated_by: String,
    /// Its incidents' ids, oldest first (detail view and POST answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incidents: Option<Vec<String>>,
}

impl ProblemDto {
    fn new(problem: ProblemRecord, incidents: Option<Vec<String>>) -> ProblemDto {
        ProblemDto {
            id: problem.id,
            fingerprint: problem.fingerprint,
            state: problem.state,
            reason: problem.reason,
            title: problem.title,
            root_cause: problem.root_cause,
            workaround: problem.workaround,
            created_at: rfc3339(problem.created_ms),
            updated_at: rfc3339(problem.updated_ms),
            updated_by: problem.updated_by,
            incidents,
        }
    }
}

fn states_list() -> String {
    ProblemState::ALL
        .iter()
        .map(|state| state.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Problems, newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ProblemDto>>, ApiError> {
    let mut states = Vec::new();
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in query {
        match key.as_str() {
            "state" => {
                for name in value.split(',').filter(|name| !name.is_empty()) {
                    let Some(parsed) = ProblemState::parse(name) else {
                        return Err(ApiError::bad_request(format!(
                            "state {name:?} is unknown: use {}",
                            states_list()
                        )));
                    };
                    states.push(parsed.as_str().to_owned());
                }
            }
            "limit" => limit = parse_limit(&value)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: use state or limit"
                )));
            }
        }
    }
    let reader = state.reader.clone();
    let problems = tokio::task::spawn_blocking(move || reader.list_problems(&states, limit))
        .await
        .map_err(|_| ApiError::internal("the problem query was cancelled"))?
        .map_err(|error| ApiError::from_store(&error))?;
    Ok(Json(
        problems
            .into_iter()
            .map(|problem| ProblemDto::new(problem, None))
            .collect(),
    ))
}

async fn detail(state: &AppState, id: String) -> Result<Json<ProblemDto>, ApiError> {
    let reader = state.reader.clone();
    let lookup = id.clone();
    let found = tokio::task::spawn_blocking(move || reader.get_problem(&lookup))
        .await
        .map_err(|_| ApiError::internal("the problem query was cancelled"))?
        .map_err(|error| ApiError::from_store(&error))?;
    found
        .map(|(problem, incidents)| Json(ProblemDto::new(problem, Some(incidents))))
        .ok_or_else(|| ApiError::not_found(format!("no problem {id:?}")))
}

/// One problem with its incidents.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProblemDto>, ApiError> {
    detail(&state, id).await
}

/// `POST /v1/problems/{id}` body: every field optional, at least one of `root_cause`,
/// `workaround`, `state`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemRequest {
    /// Who (default `api`).
    pub by: Option<String>,
    /// What people found.
    pub root_cause: Option<String>,
    /// What to do meanwhile.
    pub workaround: Option<String>,
    /// `open`, `known_error` or `resolved`.
    pub state: Option<String>,
}

/// The update a body asks for, or the 400 naming its field.
pub fn parse_update(id: &str, body: &[u8]) -> Result<ProblemUpdate, ApiError> {
    let request: ProblemRequest = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "invalid problem update: {error} (fields: by, root_cause, workaround, state)"
        ))
    })?;
    for (name, value) in [
        ("root_cause", &request.root_cause),
        ("workaround", &request.workaround),
        ("by", &request.by),
    ] {
        if let Some(value) = value
            && (value.trim().is_empty() || value.len() > MAX_PROBLEM_TEXT)
        {
            return Err(ApiError::bad_request(format!(
                "{name} must be 1 to {MAX_PROBLEM_TEXT} bytes of text"
            )));
        }
    }
    let state = match &request.state {
        Some(text) => Some(ProblemState::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("state {text:?} is unknown: use {}", states_list()))
        })?),
        None => None,
    };
    if request.root_cause.is_none() && request.workaround.is_none() && state.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give root_cause, workaround or state",
        ));
    }
    Ok(ProblemUpdate {
        id: id.to_owned(),
        by: request.by.unwrap_or_else(|| "api".to_owned()),
        root_cause: request.root_cause,
        workaround: request.workaround,
        state,
    })
}

/// Changes a problem; answers it with its incidents.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ProblemDto>, ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    let update = parse_update(&id, &body)?;
    match state
        .pipeline
        .write(Write::Problem(Box::new(update)))
        .await
        .map_err(ApiError::from_write)?
    {
        WriteOutcome::Problem(_) => detail(&state, id).await,
        _ => Err(ApiError::not_found(format!("no problem {id:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_updates_name_the_bad_field() {
        let table: [(&str, Option<&str>); 6] = [
            (r#"{"state": "known_error", "workaround": "restart"}"#, None),
            (r#"{"state": "fixed"}"#, Some("state \"fixed\" is unknown")),
            (r#"{"workaround": ""}"#, Some("workaround must be")),
            (r#"{"by": "alice"}"#, Some("nothing to change")),
            (r#"{"colour": "red"}"#, Some("unknown field `colour`")),
            (r#"[1]"#, Some("invalid problem update")),
        ];
        for (body, error) in table {
            let got = parse_update("p1", body.as_bytes());
            match (got, error) {
                (Ok(update), None) => {
                    assert_eq!(update.state, Some(ProblemState::KnownError));
                    assert_eq!(update.workaround.as_deref(), Some("restart"));
                }
                (Err(got), Some(needle)) => {
                    let text = got.message;
                    assert!(text.contains(needle), "{body}: {text}");
                }
                (got, _) => panic!("{body}: {got:?}"),
            }
        }
    }
}
