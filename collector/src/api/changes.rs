//! `GET /v1/changes`: change records, newest first (filters `host`, `kind`, `limit`). Today the
//! collector records inventory drift itself (kind `inventory`); `POST /v1/changes` comes with
//! change management.

use super::AppState;
use super::error::ApiError;
use super::incidents::{DEFAULT_LIMIT, parse_limit};
use crate::clock::rfc3339;
use crate::store::{ChangeFilter, ChangeRecord};
use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
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
