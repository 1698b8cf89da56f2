//! Capped decompression of request bodies: the only place that builds zstd and gzip decoders.
//!
//! A decoder is always wrapped in `take(limit + 1)`, so a body that inflates past the limit is
//! refused after reading at most `limit + 1` bytes, whatever its declared or real size.

use std::cell::RefCell;
use std::io::Read;

thread_local! {
    static ZSTD_CONTEXT: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

/// `Content-Encoding` values accepted on ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// zstd frames.
    Zstd,
    /// gzip.
    Gzip,
}

impl Encoding {
    /// Parses a `Content-Encoding` header value; `None` for an unsupported one.
    pub fn from_header(value: Option<&str>) -> Option<Encoding> {
        match value
            .map(|text| text.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("") | Some("identity") => Some(Encoding::Identity),
            Some("zstd") => Some(Encoding::Zstd),
            Some("gzip") | Some("x-gzip") => Some(Encoding::Gzip),
            Some(_) => None,
        }
    }
}

/// Why a body could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// It inflates past the limit.
    #[error("body decompresses to more than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The compressed stream is corrupt.
    #[error("body is not valid {encoding}: {source}")]
    Corrupt {
        /// The declared encoding.
        encoding: &'static str,
        /// The decoder's complaint.
        #[source]
        source: std::io::Error,
    },
}

/// Decompresses `body` declared as `encoding`, refusing more than `limit` bytes of output.
pub fn decompress(
    body: &[u8],
    encoding: Encoding,
    limit: usize,
) -> Result<std::borrow::Cow<'_, [u8]>, DecompressError> {
    match encoding {
        Encoding::Identity => {
            if body.len() > limit {
                return Err(DecompressError::TooLarge { limit });
            }
            Ok(std::borrow::Cow::Borrowed(body))
        }
        Encoding::Zstd => ZSTD_CONTEXT.with(|cell| {
            // One decompression context per thread, reused: creating one costs more than
            // decompressing a typical batch.
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(zstd::zstd_safe::DCtx::create());
            }
            let Some(context) = slot.as_mut() else {
                unreachable!("the slot was filled above")
            };
            context
                .reset(zstd::zstd_safe::ResetDirective::SessionOnly)
                .map_err(|code| DecompressError::Corrupt {
                    encoding: "zstd",
                    source: std::io::Error::other(zstd::zstd_safe::get_error_name(code)),
                })?;
            let decoder = zstd::stream::read::Decoder::with_context(body, context);
            read_capped(decoder, "zstd", limit, body.len())
        }),
        Encoding::Gzip => {
            // Allowed: capped by take() below.
            #[allow(clippy::disallowed_methods)]
            let decoder = flate2::read::GzDecoder::new(body);
            read_capped(decoder, "gzip", limit, body.len())
        }
    }
}

fn read_capped<R: Read>(
    decoder: R,
    encoding: &'static str,
    limit: usize,
    compressed_len: usize,
) -> Result<std::borrow::Cow<'static, [u8]>, DecompressError> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    // Start from a modest guess; the real size is unknown and must not be trusted.
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(8).min(limit).min(1 << 20));
    decoder
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|source| DecompressError::Corrupt { encoding, source })?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(std::borrow::Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn zstd_bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 50 * 1024 * 1024];
        let bomb = zstd::encode_all(&zeros[..], 19).unwrap();
        assert!(bomb.len() < 64 * 1024, "bomb is {} bytes", bomb.len());
        let error = decompress(&bomb, Encoding::Zstd, 1024 * 1024).unwrap_err();
        assert!(matches!(error, DecompressError::TooLarge { limit } if limit == 1024 * 1024));
    }

    #[test]
    fn gzip_roundtrips_and_garbage_is_corrupt() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"hello").unwrap();
        let gz = encoder.finish().unwrap();
        assert_eq!(&*decompress(&gz, Encoding::Gzip, 10).unwrap(), b"hello");
        let error = decompress(b"not gzip", Encoding::Gzip, 10).unwrap_err();
        assert!(
            error.to_string().starts_with("body is not valid gzip"),
            "{error}"
        );
        let error = decompress(b"not zstd", Encoding::Zstd, 10).unwrap_err();
        assert!(
            error.to_string().starts_with("body is not valid zstd"),
            "{error}"
        );
    }

    #[test]
    fn identity_respects_the_limit() {
        assert!(decompress(b"12345", Encoding::Identity, 5).is_ok());
        assert!(matches!(
            decompress(b"123456", Encoding::Identity, 5),
            Err(DecompressError::TooLarge { .. })
        ));
    }

    #[test]
    fn encoding_header_parsing() {
        assert_eq!(Encoding::from_header(None), Some(Encoding::Identity));
        assert_eq!(Encoding::from_header(Some("ZSTD")), Some(Encoding::Zstd));
        assert_eq!(Encoding::from_header(Some("gzip")), Some(Encoding::Gzip));
        assert_eq!(Encoding::from_header(Some("br")), None);
    }
}
