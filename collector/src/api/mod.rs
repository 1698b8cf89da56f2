//! The HTTP API: the router and its shared state. The only module that knows status codes,
//! headers and the JSON error shape (see `error.rs`).

pub mod alertmanager;
pub mod availability;
pub mod callbacks;
pub mod capacity;
pub mod changes;
pub mod dto;
pub mod error;
pub mod events;
pub mod health;
pub mod hosts;
pub mod incidents;
pub mod ingest;
pub mod notifications;
pub mod problems;
pub mod silences;

use crate::auth::{Access, Tokens};
use crate::clock::Clock;
use crate::export::Metrics;
use crate::export::RejectReason;
use crate::hosts::Hosts;
use crate::ingest::Ingest;
use crate::pipeline::Pipeline;
use crate::store::Reader;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
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
    /// Bearer tokens (empty: no authentication).
    pub tokens: Arc<Tokens>,
    /// The write path (every change to durable state).
    pub pipeline: Pipeline,
    /// Committed data (incidents, changes).
    pub reader: Arc<dyn Reader>,
    /// `Some(epoch)` while this collector leads the sweeps.
    pub leadership: crate::pipeline::leader::Leadership,
    /// The configured sinks (callbacks check their signatures with them).
    pub sinks: Arc<Vec<crate::notify::sinks::Sink>>,
    /// This collector's capacity forecasts (for `/metrics`).
    pub capacity: crate::capacity::Capacity,
    /// The service-level objectives (`[[slo]]`).
    pub slos: Arc<Vec<crate::availability::slo::Slo>>,
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
        .route("/v1/events", post(events::post))
        .route("/v1/alertmanager", post(alertmanager::post))
        .route("/v1/callbacks/{sink}", post(callbacks::post))
        .route("/v1/changes", get(changes::list).post(changes::create))
        .route("/v1/silences", get(silences::list).post(silences::create))
        .route("/v1/silences/{id}", axum::routing::delete(silences::end))
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents/{id}", get(incidents::show))
        .route("/v1/incidents/{id}/ack", post(incidents::ack))
        .route("/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/v1/incidents/{id}/close", post(incidents::close))
        .route("/v1/incidents/{id}/notes", post(incidents::note))
        .route("/v1/problems", get(problems::list))
        .route(
            "/v1/problems/{id}",
            get(problems::show).post(problems::update),
        )
        .route("/v1/notifications", get(notifications::list))
        .route("/v1/capacity", get(capacity::list))
        .route("/v1/capacity/history", get(capacity::history))
        .route("/v1/notifications/{id}/retry", post(notifications::retry))
        .route("/v1/availability", get(availability::list))
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

/// What a request needs: ingest for agent batches, read for GET, admin for DELETE, operate for
/// the other actions. `/healthz`, `/readyz` and the signed `/v1/callbacks/{sink}` need nothing.
fn access_for(method: &Method, path: &str) -> Option<Access> {
    match (method, path) {
        (_, "/healthz" | "/readyz") => None,
        // A queue's callback is authenticated by its signature (`callbacks.rs`).
        (&Method::POST, path) if path.starts_with("/v1/callbacks/") => None,
        (&Method::POST, "/v1/ingest") => Some(Access::Ingest),
        (&Method::GET | &Method::HEAD, _) => Some(Access::Read),
        // Ending a silence is the operator's, like making one (SPEC tokens).
        (&Method::DELETE, path) if path.starts_with("/v1/silences/") => Some(Access::Operate),
        (&Method::DELETE, _) => Some(Access::Admin),
        _ => Some(Access::Operate),
    }
}

/// Checks the bearer token when tokens are configured; the token is handed to the handler as a
/// request extension (ingest limits agent tokens to their hosts).
async fn authorize(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // With mTLS (`crate::tls`), the client certificate's names limit the host ids it may send.
    let identity = request
        .extensions()
        .get::<crate::tls::ClientIdentity>()
        .map(|identity| identity.names.clone());
    if state.tokens.is_empty() {
        if let Some(names) = identity {
            request
                .extensions_mut()
                .insert(crate::auth::Token::from_certificate(names));
        }
        return next.run(request).await;
    }
    let Some(access) = access_for(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    match state.tokens.authorize(header, access) {
        Ok(token) => {
            let token = match identity {
                Some(names) => token.bound_to_certificate(names),
                None => token.clone(),
            };
            request.extensions_mut().insert(token);
            next.run(request).await
        }
        Err(error) => {
            if access == Access::Ingest {
                state.metrics.reject(RejectReason::Unauthorized);
            }
            tracing::debug!(error = %error, path = %request.uri().path(), "request refused");
            ApiError::from_auth(&error)
        }
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(format!("{method} is not allowed on {}", uri.path()))
}
