//! The one mapping from library errors to HTTP: a status and `{"error": "<one line>"}`, plus
//! `Retry-After` when the client should come back.

use crate::auth::AuthError;
use crate::incidents::ActionError;
use crate::ingest::IngestError;
use crate::ingest::decode::DecompressError;
use crate::pipeline::WriteError;
use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// One line for the client.
    pub message: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 with a message (a callback whose signature is missing or wrong; bearer tokens go
    /// through [`ApiError::from_auth`]).
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 403 with a message.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 422 with a message.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 415 with a message.
    pub fn unsupported_media(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 413 with a message.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: message.into(),
            retry_after: None,
        }
    }

    /// True for a 413.
    pub fn is_too_large(&self) -> bool {
        self.status == StatusCode::PAYLOAD_TOO_LARGE
    }

    /// 408 with a message.
    pub fn timeout(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 500 with a message.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A request body that could not be read (too large, broken connection): its status with a
    /// JSON message.
    pub fn from_body(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body too large: send at most 2 MiB (split event arrays)".to_owned()
        } else {
            format!("cannot read the request body: {}", rejection.body_text())
        };
        ApiError {
            status,
            message,
            retry_after: None,
        }
    }

    /// A write that was not made: 503 with `Retry-After` (1 s when merely busy).
    pub fn from_write(error: WriteError) -> ApiError {
        ApiError::unavailable(error.to_string(), error.retry_after_s())
    }

    /// A failed read: 503 with `Retry-After` when the store is unreachable, else 500.
    pub fn from_store(error: &StoreError) -> ApiError {
        if error.is_retriable() {
            ApiError::unavailable(error.to_string(), 5)
        } else {
            ApiError::internal(error.to_string())
        }
    }

    /// A refused incident action: 404, 409 or 422.
    pub fn from_action(error: &ActionError) -> ApiError {
        let status = match error {
            ActionError::NotFound(_) => StatusCode::NOT_FOUND,
            ActionError::InvalidTransition { .. } => StatusCode::CONFLICT,
            ActionError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError {
            status,
            message: error.to_string(),
            retry_after: None,
        }
    }

    /// A refused bearer token: 401 (with `WWW-Authenticate`) or 403.
    pub fn from_auth(error: &AuthError) -> Response {
        let status = match error {
            AuthError::Missing | AuthError::Unknown => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
        };
        let mut response = ApiError {
            status,
            message: error.to_string(),
            retry_after: None,
        }
        .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }

    /// 405 with a message.
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503 with a message and a retry hint.
    pub fn unavailable(message: impl Into<String>, retry_after: u32) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> ApiError {
        let status = match &error {
            IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::BodyTooLarge { .. }
            | IngestError::Decompress(DecompressError::TooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngestError::Decompress(DecompressError::Corrupt { .. }) | IngestError::Decode(_) => {
                StatusCode::BAD_REQUEST
            }
            IngestError::Invalid(_) | IngestError::ReservedName(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            IngestError::HostNotAllowed { .. } => StatusCode::FORBIDDEN,
            IngestError::Store(write) => {
                return ApiError::unavailable(error.to_string(), write.retry_after_s());
            }
        };
        ApiError {
            status,
            message: error.to_string(),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.message.replace(['\n', '\r'], " ");
        let mut response =
            (self.status, Json(serde_json::json!({ "error": message }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
