//! `GET /v1/notifications`: the outbox, newest first — per incident and sink, each
//! notification's step, state (`pending` · `sent` · `failed` · `dead` · `cancelled`), attempts
//! and last error (filters `incident`, `sink`, `state` as a comma list, `limit`).
//! `POST /v1/notifications/{id}/retry` queues a dead (or failed) notification again.

use super::AppState;
use super::error::ApiError;
use super::incidents::{DEFAULT_LIMIT, parse_limit};
use crate::clock::rfc3339;
use crate::pipeline::{NotifyWrite, Write, WriteOutcome};
use crate::store::outbox::STATES;
use crate::store::{NotificationFilter, NotificationRecord};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use std::collections::HashMap;

/// How long a retried notification may fail again before it is dead-lettered again: 24 h.
const RETRY_GIVE_UP_MS: i64 = 24 * 3_600_000;

/// A notification as the API shows it.
#[derive(Debug, Serialize)]
pub struct NotificationDto {
    /// Outbox row id.
    pub id: i64,
    /// The incident.
    pub incident_id: String,
    /// The sink.
    pub sink: String,
    /// `open` · `update` · `acknowledge` · `escalate` · `reopen` · `resolve`.
    pub step: String,
    /// Escalation level (0 unless `step` is `escalate`).
    pub level: u32,
    /// `pending` · `sent` · `failed` · `dead` · `cancelled`.
    pub state: String,
    /// Delivery attempts made.
    pub attempts: u32,
    /// The same on every attempt (header `Idempotency-Key`).
    pub idempotency_key: String,
    /// Queued (RFC 3339).
    pub created_at: String,
    /// Not sent before (RFC 3339): an escalation's time.
    pub due_at: String,
    /// The next attempt, while pending or failed (RFC 3339).
    pub next_attempt_at: Option<String>,
    /// When the sink accepted it (RFC 3339).
    pub sent_at: Option<String>,
    /// The last failed attempt's error.
    pub last_error: Option<String>,
}

impl From<NotificationRecord> for NotificationDto {
    fn from(row: NotificationRecord) -> NotificationDto {
        let waiting = matches!(row.state.as_str(), "pending" | "failed");
        NotificationDto {
            id: row.id,
            incident_id: row.incident_id,
            sink: row.sink,
            step: row.step,
            level: row.level,
            state: row.state,
            attempts: row.attempts,
            idempotency_key: row.key,
            created_at: rfc3339(row.created_ms),
            due_at: rfc3339(row.due_ms),
            next_attempt_at: waiting.then(|| rfc3339(row.next_attempt_ms)),
            sent_at: row.sent_ms.map(rfc3339),
            last_error: row.last_error,
        }
    }
}

/// The outbox, newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<NotificationDto>>, ApiError> {
    let mut filter = NotificationFilter {
        limit: DEFAULT_LIMIT,
        ..NotificationFilter::default()
    };
    for (key, value) in query {
        match key.as_str() {
            "incident" => filter.incident = Some(value),
            "sink" => filter.sink = Some(value),
            "state" => {
                for one in value
                    .split(',')
                    .map(str::trim)
                    .filter(|one| !one.is_empty())
                {
                    if !STATES.contains(&one) {
                        return Err(ApiError::bad_request(format!(
                            "state {one:?} is unknown: use {}",
                            STATES.join(", ")
                        )));
                    }
                    filter.states.push(one.to_owned());
                }
            }
            "limit" => filter.limit = parse_limit(&value)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: use incident, sink, state or limit"
                )));
            }
        }
    }
    let reader = state.reader.clone();
    let rows = tokio::task::spawn_blocking(move || reader.list_notifications(&filter))
        .await
        .map_err(|_| ApiError::internal("the notification query was cancelled"))?
        .map_err(|error| ApiError::from_store(&error))?;
    Ok(Json(rows.into_iter().map(NotificationDto::from).collect()))
}

/// What a retry answers.
#[derive(Debug, Serialize)]
pub struct RetryResponse {
    /// The row.
    pub id: i64,
    /// `pending` again.
    pub state: &'static str,
}

/// `POST /v1/notifications/{id}/retry`: a dead or failed notification is queued again.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RetryResponse>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no notification {id:?}: ids are numbers")))?;
    let outcome = state
        .pipeline
        .write(Write::Notify(NotifyWrite::Retry {
            id,
            give_up_after_ms: RETRY_GIVE_UP_MS,
        }))
        .await
        .map_err(ApiError::from_write)?;
    match outcome {
        WriteOutcome::Accepted => Ok(Json(RetryResponse {
            id,
            state: "pending",
        })),
        _ => Err(ApiError::not_found(format!(
            "no dead or failed notification {id}: see GET /v1/notifications?state=dead"
        ))),
    }
}
