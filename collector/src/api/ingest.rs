//! `POST /v1/ingest`: reads the body up to the size limit and hands it to [`crate::ingest`].

use super::AppState;
use super::dto::IngestResponse;
use super::error::ApiError;
use crate::auth::Token;
use crate::export::RejectReason;
use crate::ingest::IngestError;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::{Extension, Json};
use std::time::{Duration, Instant};

/// How long a client may take to send its whole body (a stalled upload holds a connection).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Handles one agent batch.
pub async fn ingest(
    State(state): State<AppState>,
    token: Option<Extension<Token>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let started = Instant::now();
    let limit = state.ingest.limits().max_body_bytes;
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await;
    let Ok(read) = read else {
        state.metrics.reject(RejectReason::Malformed);
        return Err(ApiError::timeout(format!(
            "the request body did not arrive within {}s",
            BODY_READ_TIMEOUT.as_secs()
        )));
    };
    let body = match read {
        Ok(body) => body,
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                state.metrics.reject(RejectReason::TooLarge);
                return Err(IngestError::BodyTooLarge { limit }.into());
            }
            state.metrics.reject(RejectReason::Malformed);
            return Err(ApiError::bad_request(format!(
                "could not read the request body: {error}"
            )));
        }
    };
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let result = state
        .ingest
        .accept(
            text(header::CONTENT_TYPE),
            text(header::CONTENT_ENCODING),
            &body,
            token.as_ref().map(|Extension(token)| token),
        )
        .await;
    state
        .metrics
        .ingest_duration
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(ack) => Ok(Json(IngestResponse {
            accepted: true,
            duplicate: ack.duplicate,
            seq: ack.seq,
            samples: ack.n_samples,
        })),
        Err(error) => {
            tracing::debug!(error = %error, reason = error.reason().as_str(), "ingest refused");
            Err(error.into())
        }
    }
}
