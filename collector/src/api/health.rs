//! `/healthz` (the process serves), `/readyz` (the store commits and ingest accepts) and `/metrics`.

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// Liveness.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    if state.pipeline.is_healthy() {
        let epoch = *state.leadership.borrow();
        Ok(Json(serde_json::json!({
            "status": "ready",
            "leader": epoch.is_some(),
            "epoch": epoch,
        })))
    } else {
        Err(ApiError::unavailable(
            "the store is not committing: see the collector's log",
            5,
        ))
    }
}

/// The Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(
        &state.hosts,
        &state.capacity.snapshot(),
        state.clock.now_ms(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
