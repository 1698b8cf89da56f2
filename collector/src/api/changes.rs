//! `POST /v1/changes` records a change (deploy, config, maintenance, other; `inventory` is the
//! collector's own); a `maintenance` change also silences its hosts and services from
//! `starts_at` to `ends_at`. `GET /v1/changes`: change records, newest first (filters `host`,
//! `kind`, `limit`).

use super::AppState;
use super::error::ApiError;
use super::incidents::{DEFAULT_LIMIT, parse_limit};
use crate::clock::rfc3339;
use crate::pipeline::Write;
use crate::store::{ChangeFilter, ChangeRecord, MatcherRecord, SilenceRecord};
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Kinds of change records (SPEC).
pub const KINDS: [&str; 5] = ["deploy", "config", "maintenance", "inventory", "other"];

/// A change record as the API shows it.
#[derive(Debug, Serialize)]
pub struct ChangeDto {
    /// Stable id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// One line.
    pub summary: String,
    /// Who.
    pub by: String,
    /// Hosts.
    pub hosts: Vec<String>,
    /// Services.
    pub services: Vec<String>,
    /// Start, RFC 3339.
    pub starts_at: String,
    /// End, RFC 3339 or null.
    pub ends_at: Option<String>,
    /// Details (inventory: fields with before and after).
    pub details: serde_json::Value,
}

impl From<ChangeRecord> for ChangeDto {
    fn from(change: ChangeRecord) -> ChangeDto {
        ChangeDto {
            id: change.id,
            kind: change.kind,
            summary: change.summary,
            by: change.by,
            hosts: change.hosts,
            services: change.services,
            starts_at: rfc3339(change.starts_ms),
            ends_at: change.ends_ms.map(rfc3339),
            details: change.details,
        }
    }
}

/// Change records, newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ChangeDto>>, ApiError> {
    let mut filter = ChangeFilter {
        limit: DEFAULT_LIMIT,
        ..ChangeFilter::default()
    };
    for (key, value) in query {
        match key.as_str() {
            "host" => filter.host = Some(value),
            "kind" if KINDS.contains(&value.as_str()) => filter.kind = Some(value),
            "kind" => {
                return Err(ApiError::bad_request(format!(
                    "kind {value:?} is unknown: use {}",
                    KINDS.join(", ")
                )));
            }
            "limit" => filter.limit = parse_limit(&value)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: use host, kind or limit"
                )));
            }
        }
    }
    let reader = state.reader.clone();
    let changes = tokio::task::spawn_blocking(move || reader.list_changes(&filter))
        .await
        .map_err(|_| ApiError::internal("the change query was cancelled"))?
        .map_err(|error| ApiError::from_store(&error))?;
    Ok(Json(changes.into_iter().map(ChangeDto::from).collect()))
}

/// `POST /v1/changes` body (SPEC "Change").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// `deploy`, `config`, `maintenance` or `other`.
    pub kind: String,
    /// One line.
    pub summary: String,
    /// Who.
    pub by: String,
    /// Hosts touched.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Services touched.
    #[serde(default)]
    pub services: Vec<String>,
    /// Start (RFC 3339); now when absent.
    pub starts_at: Option<String>,
    /// End (RFC 3339) or null.
    pub ends_at: Option<String>,
}

/// Most hosts or services in one change.
const MAX_TARGETS: usize = 1_000;

/// Records a change; answers `{"id": ...}`.
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<ChangeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = body
        .map_err(|error| ApiError::bad_request(format!("invalid change: {}", error.body_text())))?;
    let now_ms = state.clock.now_ms();
    if !["deploy", "config", "maintenance", "other"].contains(&request.kind.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "kind {:?} is unknown: use deploy, config, maintenance or other (inventory changes are the collector's own)",
            request.kind
        )));
    }
    for (name, value) in [("summary", &request.summary), ("by", &request.by)] {
        if value.trim().is_empty() || value.len() > super::silences::MAX_TEXT {
            return Err(ApiError::unprocessable(format!(
                "{name} is required, at most {} bytes",
                super::silences::MAX_TEXT
            )));
        }
    }
    if request.hosts.len() > MAX_TARGETS || request.services.len() > MAX_TARGETS {
        return Err(ApiError::unprocessable(format!(
            "at most {MAX_TARGETS} hosts and {MAX_TARGETS} services per change"
        )));
    }
    let starts_ms = match &request.starts_at {
        Some(text) => super::silences::parse_time("starts_at", text)?,
        None => now_ms,
    };
    let ends_ms = match &request.ends_at {
        Some(text) => Some(super::silences::parse_time("ends_at", text)?),
        None => None,
    };
    if ends_ms.is_some_and(|ends| ends <= starts_ms) {
        return Err(ApiError::unprocessable("ends_at must be after starts_at"));
    }
    let id = super::silences::new_id("c", now_ms);
    let mut silences = Vec::new();
    if request.kind == "maintenance" {
        let Some(ends_ms) = ends_ms else {
            return Err(ApiError::unprocessable(
                "a maintenance change needs ends_at: it silences its hosts and services until then",
            ));
        };
        if request.hosts.is_empty() && request.services.is_empty() {
            return Err(ApiError::unprocessable(
                "a maintenance change needs hosts or services to silence",
            ));
        }
        for (name, values) in [("host", &request.hosts), ("service", &request.services)] {
            if values.is_empty() {
                continue;
            }
            let pattern = values
                .iter()
                .map(|value| regex::escape(value))
                .collect::<Vec<_>>()
                .join("|");
            silences.push(SilenceRecord {
                id: format!("{id}-{name}"),
                matchers: vec![MatcherRecord {
                    name: name.to_owned(),
                    op: "=~".to_owned(),
                    value: pattern,
                }],
                starts_ms,
                ends_ms,
                created_by: request.by.clone(),
                comment: format!("maintenance: {}", request.summary),
                created_ms: now_ms,
                change_id: Some(id.clone()),
            });
        }
    }
    let change = ChangeRecord {
        id: id.clone(),
        kind: request.kind,
        summary: request.summary,
        by: request.by,
        hosts: request.hosts,
        services: request.services,
        starts_ms,
        ends_ms,
        details: serde_json::Value::Null,
    };
    state
        .pipeline
        .write(Write::Change {
            change: Box::new(change),
            silences,
        })
        .await
        .map_err(ApiError::from_write)?;
    Ok(Json(serde_json::json!({"id": id})))
}
