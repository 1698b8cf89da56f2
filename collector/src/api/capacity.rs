//! `GET /v1/capacity`: per host and resource, the latest forecast — current use, capacity, the
//! forecast and band at each horizon, `exhaustion_at` (RFC 3339 or null) and the model — from
//! the store, so every collector answers for the whole fleet (filters `host`, `resource` as a
//! prefix, `exhausting=true`, `limit`). `GET /v1/capacity/history?host=H&resource=R`: one
//! series' kept history as the store holds it (the cold hours, then the history as last saved).

use super::AppState;
use super::error::ApiError;
use super::incidents::{MAX_LIMIT, parse_limit};
use crate::capacity::tracker::stored_points;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::store::{CapacityFilter, CapacityRecord};
use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One series' forecast as the API shows it. The horizon keys are durations (`1h`, `7d`), as
/// in the `forecast` command's output.
#[derive(Debug, Serialize)]
pub struct CapacityDto {
    /// The host.
    pub host: String,
    /// `filesystem:<mountpoint>`, `inodes:<mountpoint>`, `memory`, `swap`, `cpu`, `load`,
    /// `probe_latency:<probe>`.
    pub resource: String,
    /// The unit of `used`, `capacity` and the forecasts.
    pub unit: String,
    /// Current use.
    pub used: f64,
    /// What exhausts it, or null.
    pub capacity: Option<f64>,
    /// `used / capacity`, or null.
    pub used_ratio: Option<f64>,
    /// The newest point's time (RFC 3339).
    pub as_of: String,
    /// When the forecast was made (RFC 3339).
    pub computed_at: String,
    /// The central forecast per horizon.
    pub forecast: BTreeMap<String, f64>,
    /// The band (5–95 %) per horizon.
    pub band: BTreeMap<String, [f64; 2]>,
    /// When the forecast reaches `capacity` (RFC 3339), null when not within the longest
    /// horizon.
    pub exhaustion_at: Option<String>,
    /// When the band's upper edge reaches it: the earliest plausible exhaustion.
    pub band_exhaustion_at: Option<String>,
    /// The model chosen for the longest horizon.
    pub model: String,
    /// The model per horizon.
    pub models: BTreeMap<String, String>,
    /// Points of history the forecast saw.
    pub points: usize,
    /// The severity of the capacity incident this forecast fires, or null.
    pub alert: Option<String>,
}

impl From<CapacityRecord> for CapacityDto {
    fn from(record: CapacityRecord) -> CapacityDto {
        let mut forecast = BTreeMap::new();
        let mut band = BTreeMap::new();
        let mut models = BTreeMap::new();
        for horizon in &record.horizons {
            let key = crate::capacity::horizon_key(horizon.horizon_ms);
            forecast.insert(key.clone(), horizon.value);
            band.insert(key.clone(), [horizon.low, horizon.high]);
            models.insert(key, horizon.model.clone());
        }
        CapacityDto {
            used_ratio: record
                .capacity
                .filter(|&capacity| capacity > 0.0)
                .map(|capacity| record.used / capacity),
            host: record.host_id,
            resource: record.resource,
            unit: record.unit,
            used: record.used,
            capacity: record.capacity,
            as_of: rfc3339(record.last_ms),
            computed_at: rfc3339(record.computed_ms),
            forecast,
            band,
            exhaustion_at: record.exhaustion_ms.map(rfc3339),
            band_exhaustion_at: record.band_exhaustion_ms.map(rfc3339),
            model: record.model,
            models,
            points: record.points,
            alert: record.alert,
        }
    }
}

/// Every series' latest forecast, by host and resource.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<CapacityDto>>, ApiError> {
    let mut filter = CapacityFilter {
        limit: MAX_LIMIT,
        ..CapacityFilter::default()
    };
    for (key, value) in query {
        match key.as_str() {
            "host" => filter.host = Some(value),
            "resource" => filter.resource = Some(value),
            "exhausting" => {
                filter.exhausting = match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "exhausting={other:?}: use true or false"
                        )));
                    }
                }
            }
            "limit" => filter.limit = parse_limit(&value)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: use host, resource, exhausting or limit"
                )));
            }
        }
    }
    let reader = state.reader.clone();
    let rows = tokio::task::spawn_blocking(move || reader.list_capacity(&filter))
        .await
        .map_err(|_| ApiError::internal("the capacity query was cancelled"))?
        .map_err(|error| ApiError::from_store(&error))?;
    Ok(Json(rows.into_iter().map(CapacityDto::from).collect()))
}

/// One point of a series' history.
#[derive(Debug, Serialize)]
pub struct PointDto {
    /// The sample's time, or a bucket's middle (RFC 3339).
    pub at: String,
    /// The value, or the bucket's mean.
    pub value: f64,
}

/// One series' kept history.
#[derive(Debug, Serialize)]
pub struct HistoryDto {
    /// The host.
    pub host: String,
    /// The resource.
    pub resource: String,
    /// When the history was last saved (RFC 3339): newer samples are not in it yet.
    pub saved_at: String,
    /// Hour means, then 5-minute means, then raw samples, oldest first.
    pub points: Vec<PointDto>,
}

/// One series' kept history (`host` and `resource` required, `since` an RFC 3339 time).
pub async fn history(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<HistoryDto>, ApiError> {
    let (mut host, mut resource, mut since) = (None, None, i64::MIN);
    for (key, value) in query {
        match key.as_str() {
            "host" => host = Some(value),
            "resource" => resource = Some(value),
            "since" => {
                since = parse_rfc3339(&value).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "since={value:?}: use an RFC 3339 time such as 2026-12-01T00:00:00Z"
                    ))
                })?
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: use host, resource or since"
                )));
            }
        }
    }
    let (Some(host), Some(resource)) = (host, resource) else {
        return Err(ApiError::bad_request(
            "host and resource are required: /v1/capacity/history?host=H&resource=R",
        ));
    };
    let reader = state.reader.clone();
    let (query_host, query_resource) = (host.clone(), resource.clone());
    let stored = tokio::task::spawn_blocking(move || {
        let row = reader
            .load_history(&query_host)?
            .into_iter()
            .find(|row| row.resource == query_resource);
        match row {
            Some(row) => Ok(Some((reader.load_cold(&query_host, &query_resource)?, row))),
            None => Ok(None),
        }
    })
    .await
    .map_err(|_| ApiError::internal("the history query was cancelled"))?
    .map_err(|error| ApiError::from_store(&error))?;
    let Some((cold, row)) = stored else {
        return Err(ApiError::not_found(format!(
            "no history of {resource:?} on host {host:?}: see GET /v1/capacity for the series kept"
        )));
    };
    let points = stored_points(&row, &cold).map_err(|reason| {
        tracing::warn!(%host, %resource, %reason, "stored history unreadable");
        ApiError::internal(format!(
            "the stored history of {resource:?} on {host:?}: {reason}"
        ))
    })?;
    Ok(Json(HistoryDto {
        saved_at: rfc3339(row.saved_ms),
        points: points
            .into_iter()
            .filter(|&(t, _)| t >= since)
            .map(|(t, value)| PointDto {
                at: rfc3339(t),
                value,
            })
            .collect(),
        host,
        resource,
    }))
}
