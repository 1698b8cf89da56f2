//! Size and count limits on ingest, applied before decompression, after it, and after decoding.

/// Limits for `POST /v1/ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Largest request body as sent (compressed), in bytes.
    pub max_body_bytes: usize,
    /// Largest body after decompression, in bytes (zstd/gzip bombs stop here).
    pub max_decompressed_bytes: usize,
    /// Counts and lengths inside a decoded batch.
    pub wire: vigil_shared::wire::Limits,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_body_bytes: 8 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            wire: vigil_shared::wire::Limits::default(),
        }
    }
}
