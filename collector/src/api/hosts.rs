//! `GET /v1/hosts`, `GET /v1/hosts/{host_id}` and `DELETE /v1/hosts/{host_id}` (forget a
//! decommissioned host).

use super::AppState;
use super::dto::HostDto;
use super::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};

/// Every host, sorted by id.
pub async fn list(State(state): State<AppState>) -> Json<Vec<HostDto>> {
    let now_ms = state.clock.now_ms();
    let down_after_ms = state.hosts.down_after_ms();
    let mut hosts = state.hosts.read(|all| {
        all.values()
            .map(|host| HostDto::from_host(host, now_ms, down_after_ms, false))
            .collect::<Vec<_>>()
    });
    hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
    Json(hosts)
}

/// One host with its latest samples.
pub async fn show(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Json<HostDto>, ApiError> {
    let now_ms = state.clock.now_ms();
    let down_after_ms = state.hosts.down_after_ms();
    state
        .hosts
        .read(|all| {
            all.get(&host_id)
                .map(|host| HostDto::from_host(host, now_ms, down_after_ms, true))
        })
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no host {host_id:?}")))
}

/// Forgets a decommissioned host (it would otherwise stay down forever).
pub async fn forget(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match state.ingest.forget_host(&host_id).await {
        Ok(true) => Ok(Json(
            serde_json::json!({ "host_id": host_id, "deleted": true }),
        )),
        Ok(false) => Err(ApiError::not_found(format!("no host {host_id:?}"))),
        Err(error) => Err(ApiError::from_write(error)),
    }
}
