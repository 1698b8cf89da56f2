//! Encoding and decoding of [`Batch`]es: MessagePack with named fields, or JSON.
//!
//! Decoding takes bytes that are already decompressed and bounded in size by the caller; it never
//! panics, whatever the bytes (see `tests/wire_roundtrip.rs`).

use super::Batch;
use super::view::BatchView;

/// The two body formats of `POST /v1/ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/msgpack`.
    Msgpack,
    /// `application/json`.
    Json,
}

impl Format {
    /// Picks the format from a `Content-Type` value (parameters such as `charset` are ignored).
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/msgpack" | "application/x-msgpack" | "application/vnd.msgpack" => {
                Some(Format::Msgpack)
            }
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The canonical `Content-Type` value.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Msgpack => "application/msgpack",
            Format::Json => "application/json",
        }
    }
}

/// Why a batch could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// MessagePack encoding failed.
    #[error("encoding batch as msgpack")]
    Msgpack(#[source] rmp_serde::encode::Error),
    /// JSON encoding failed.
    #[error("encoding batch as json")]
    Json(#[source] serde_json::Error),
}

/// Why bytes could not be decoded into a batch.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a valid MessagePack batch.
    #[error("malformed msgpack batch: {0}")]
    Msgpack(#[source] rmp_serde::decode::Error),
    /// Not a valid JSON batch.
    #[error("malformed json batch: {0}")]
    Json(#[source] serde_json::Error),
}

/// Encodes a batch in `format` (MessagePack uses named fields, see the compatibility rule).
pub fn encode(batch: &Batch, format: Format) -> Result<Vec<u8>, EncodeError> {
    match format {
        Format::Msgpack => rmp_serde::to_vec_named(batch).map_err(EncodeError::Msgpack),
        Format::Json => serde_json::to_vec(batch).map_err(EncodeError::Json),
    }
}

/// Decodes a batch from `bytes` in `format`.
pub fn decode(bytes: &[u8], format: Format) -> Result<Batch, DecodeError> {
    match format {
        Format::Msgpack => rmp_serde::from_slice(bytes).map_err(DecodeError::Msgpack),
        Format::Json => serde_json::from_slice(bytes).map_err(DecodeError::Json),
    }
}

/// Decodes a borrowed [`BatchView`] from `bytes` in `format`; the view borrows from `bytes`.
pub fn decode_view(bytes: &[u8], format: Format) -> Result<BatchView<'_>, DecodeError> {
    match format {
        Format::Msgpack => rmp_serde::from_slice(bytes).map_err(DecodeError::Msgpack),
        Format::Json => serde_json::from_slice(bytes).map_err(DecodeError::Json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_content_type_ignores_case_and_parameters() {
        assert_eq!(
            Format::from_content_type("Application/JSON; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("application/x-msgpack"),
            Some(Format::Msgpack)
        );
        assert_eq!(Format::from_content_type("text/plain"), None);
        assert_eq!(Format::from_content_type(""), None);
    }

    #[test]
    fn decode_reports_what_is_wrong() {
        let error = decode(b"{\"version\":1}", Format::Json).unwrap_err();
        assert!(error.to_string().contains("missing field"), "{error}");
        let error = decode(&[0xc1], Format::Msgpack).unwrap_err();
        assert!(
            error.to_string().starts_with("malformed msgpack batch"),
            "{error}"
        );
    }
}
