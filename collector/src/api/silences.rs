//! `POST /v1/silences`, `GET /v1/silences`, `DELETE /v1/silences/{id}`: label-matcher silences
//! and maintenance windows with a start and an end (SPEC "Change and silence"). A silenced
//! incident is recorded with `silenced: true` and not notified; see `incidents::silence`.

use super::AppState;
use super::error::ApiError;
use super::incidents::{DEFAULT_LIMIT, parse_limit};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::incidents::silence::Matcher;
use crate::pipeline::{Write, WriteOutcome};
use crate::store::{MatcherRecord, SilenceRecord};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most matchers in one silence.
pub const MAX_MATCHERS: usize = 32;
/// Longest name, value, creator or comment, bytes.
pub const MAX_TEXT: usize = 1_024;

/// A matcher as posted and shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatcherDto {
    /// A label, or `host`, `service`, `check`, `source`, `severity`.
    pub name: String,
    /// `=`, `!=`, `=~`, `!~`.
    pub op: String,
    /// The value or pattern (anchored at both ends).
    pub value: String,
}

/// `POST /v1/silences` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// All must hold.
    pub matchers: Vec<MatcherDto>,
    /// From (RFC 3339); now when absent.
    pub starts_at: Option<String>,
    /// Until (RFC 3339).
    pub ends_at: String,
    /// Who.
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// A silence as the API shows it.
#[derive(Debug, Serialize)]
pub struct SilenceDto {
    /// Id.
    pub id: String,
    /// Matchers.
    pub matchers: Vec<MatcherDto>,
    /// From.
    pub starts_at: String,
    /// Until.
    pub ends_at: String,
    /// `pending` (not started), `active` or `expired`.
    pub state: &'static str,
    /// Who.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Created.
    pub created_at: String,
    /// The maintenance change it comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
}

impl SilenceDto {
    fn from_record(record: SilenceRecord, now_ms: i64) -> SilenceDto {
        let state = if now_ms < record.starts_ms {
            "pending"
        } else if now_ms < record.ends_ms {
            "active"
        } else {
            "expired"
        };
        SilenceDto {
            id: record.id,
            matchers: record
                .matchers
                .into_iter()
                .map(|matcher| MatcherDto {
                    name: matcher.name,
                    op: matcher.op,
                    value: matcher.value,
                })
                .collect(),
            starts_at: rfc3339(record.starts_ms),
            ends_at: rfc3339(record.ends_ms),
            state,
            created_by: record.created_by,
            comment: record.comment,
            created_at: rfc3339(record.created_ms),
            change_id: record.change_id,
        }
    }
}

/// A new time-ordered id with `prefix` (unique across collectors: time, process and a counter).
pub(super) fn new_id(prefix: &str, now_ms: i64) -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!(
        "{prefix}{:012x}{:06x}",
        now_ms.max(0),
        hasher.finish() & 0xff_ffff
    )
}

/// Checks a silence's matchers (at least one; each valid) into their stored form.
pub(super) fn check_matchers(matchers: Vec<MatcherDto>) -> Result<Vec<MatcherRecord>, ApiError> {
    if matchers.is_empty() {
        return Err(ApiError::unprocessable(
            "a silence needs at least one matcher (a silence of everything is a mistake)",
        ));
    }
    if matchers.len() > MAX_MATCHERS {
        return Err(ApiError::unprocessable(format!(
            "{} matchers; the limit is {MAX_MATCHERS}",
            matchers.len()
        )));
    }
    matchers
        .into_iter()
        .enumerate()
        .map(|(index, matcher)| {
            if matcher.name.len() > MAX_TEXT || matcher.value.len() > MAX_TEXT {
                return Err(ApiError::unprocessable(format!(
                    "matcher [{index}]: longer than {MAX_TEXT} bytes"
                )));
            }
            Matcher::new(&matcher.name, &matcher.op, &matcher.value)
                .map_err(|error| ApiError::unprocessable(format!("matcher [{index}]: {error}")))?;
            Ok(MatcherRecord {
                name: matcher.name,
                op: matcher.op,
                value: matcher.value,
            })
        })
        .collect()
}

/// Parses a time field.
pub(super) fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    parse_rfc3339(text).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "{name} {text:?} is not RFC 3339, e.g. 2026-11-21T10:00:00Z"
        ))
    })
}

/// Creates a silence; answers `{"id": ...}`.
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<SilenceRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = body.map_err(|error| {
        ApiError::bad_request(format!("invalid silence: {}", error.body_text()))
    })?;
    let now_ms = state.clock.now_ms();
    let matchers = check_matchers(request.matchers)?;
    let starts_ms = match &request.starts_at {
        Some(text) => parse_time("starts_at", text)?,
        None => now_ms,
    };
    let ends_ms = parse_time("ends_at", &request.ends_at)?;
    if ends_ms <= starts_ms {
        return Err(ApiError::unprocessable("ends_at must be after starts_at"));
    }
    if ends_ms <= now_ms {
        return Err(ApiError::unprocessable(
            "ends_at is in the past: the silence would never apply",
        ));
    }
    if request.created_by.trim().is_empty() || request.created_by.len() > MAX_TEXT {
        return Err(ApiError::unprocessable(
            "created_by is required (who silences)",
        ));
    }
    if request.comment.len() > MAX_TEXT {
        return Err(ApiError::unprocessable(format!(
            "comment is longer than {MAX_TEXT} bytes"
        )));
    }
    let record = SilenceRecord {
        id: new_id("s", now_ms),
        matchers,
        starts_ms,
        ends_ms,
        created_by: request.created_by,
        comment: request.comment,
        created_ms: now_ms,
        change_id: None,
    };
    let id = record.id.clone();
    state
        .pipeline
        .write(Write::Silence(Box::new(record)))
        .await
        .map_err(ApiError::from_write)?;
    Ok(Json(serde_json::json!({"id": id})))
}

/// Silences in force or to come (`?state=all` includes the expired ones), newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<SilenceDto>>, ApiError> {
    let mut include_ended = false;
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in query {
        match (key.as_str(), value.as_str()) {
            ("state", "all") => include_ended = true,
            ("state", "active") => include_ended = false,
            ("state", other) => {
                return Err(ApiError::bad_request(format!(
                    "state {other:?} is unknown: use active (in force or to come) or all"
                )));
            }
            ("limit", value) => limit = parse_limit(value)?,
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: use state or limit"
                )));
            }
        }
    }
    let now_ms = state.clock.now_ms();
    let reader = state.reader.clone();
    let silences =
        tokio::task::spawn_blocking(move || reader.list_silences(now_ms, include_ended, limit))
            .await
            .map_err(|_| ApiError::internal("the silence query was cancelled"))?
            .map_err(|error| ApiError::from_store(&error))?;
    Ok(Json(
        silences
            .into_iter()
            .map(|record| SilenceDto::from_record(record, now_ms))
            .collect(),
    ))
}

/// Ends a silence now.
pub async fn end(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let outcome = state
        .pipeline
        .write(Write::EndSilence(id.clone()))
        .await
        .map_err(ApiError::from_write)?;
    match outcome {
        WriteOutcome::Accepted => Ok(Json(serde_json::json!({"id": id, "state": "expired"}))),
        _ => Err(ApiError::not_found(format!(
            "no silence {id:?} in force or to come: see GET /v1/silences"
        ))),
    }
}
