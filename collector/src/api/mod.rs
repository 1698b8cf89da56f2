//! The HTTP API: the router and its shared state. The only module that knows status codes,
//! headers and the JSON error shape (see `error.rs`).

pub mod dto;
pub mod error;
pub mod health;
pub mod hosts;
pub mod ingest;

use crate::clock::Clock;
use crate::export::Metrics;
use crate::hosts::Hosts;
use crate::ingest::Ingest;
use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::{get, post};
use error::ApiError;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The ingest path.
    pub ingest: Arc<Ingest>,
    /// Host state.
    pub hosts: Arc<Hosts>,
    /// Own metrics.
    pub metrics: Arc<Metrics>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/ingest", post(ingest::ingest))
        .route("/v1/hosts", get(hosts::list))
        .route(
            "/v1/hosts/{host_id}",
            get(hosts::show).delete(hosts::forget),
        )
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{method} is not allowed on {}", uri.path()),
        retry_after: None,
    }
}
