//! `GET /v1/capacity`: per host and resource, the latest forecast — current use, capacity, the
//! forecast and band at each horizon, `exhaustion_at` (RFC 3339 or null) and the model — from
//! the store, so every collector answers for the whole fleet (filters `host`, `resource` as a
//! prefix, `exhausting=true`, `limit`).

use super::AppState;
use super::error::ApiError;
use super::incidents::{MAX_LIMIT, parse_limit};
use crate::clock::rfc3339;
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
