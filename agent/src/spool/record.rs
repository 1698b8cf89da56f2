//! The spool's record framing: a fixed 24-byte header with a length and a CRC-32, then the body.
//!
//! ```text
//! offset  size  field
//!      0     4  len        u32 LE, length of the body
//!      4     4  crc        u32 LE, CRC-32 (IEEE) of bytes 8..24+len (seq, counts and body)
//!      8     8  seq        u64 LE, the batch's seq
//!     16     4  n_samples  u32 LE, samples in the batch (for `data_loss` accounting)
//!     20     4  n_events   u32 LE, events in the batch
//!     24   len  body       the zstd-compressed MessagePack batch, exactly as it is POSTed
//! ```
//!
//! [`decode_header`] and [`check`] are pure, so a torn or corrupt record is recognised without
//! touching the disk: a short header, a length over [`MAX_BODY_LEN`] or a CRC mismatch.

/// Size of a record header.
pub const HEADER_LEN: usize = 24;
/// Largest body accepted when reading; anything longer is a corrupt length field.
pub const MAX_BODY_LEN: u32 = 64 * 1024 * 1024;

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Body length.
    pub len: u32,
    /// Stored CRC.
    pub crc: u32,
    /// The batch's seq.
    pub seq: u64,
    /// Samples in the batch.
    pub n_samples: u32,
    /// Events in the batch.
    pub n_events: u32,
}

impl Header {
    /// Header plus body length in bytes.
    pub fn record_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.len)
    }
}

/// Appends the header and body of one record to `out`.
pub fn encode(seq: u64, n_samples: u32, n_events: u32, body: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&n_samples.to_le_bytes());
    out.extend_from_slice(&n_events.to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes a header; `None` when the slice is short or the length is implausible.
pub fn decode_header(bytes: &[u8]) -> Option<Header> {
    let field = |range: std::ops::Range<usize>| bytes.get(range);
    let u32_at = |at: usize| {
        field(at..at + 4)
            .and_then(|raw| raw.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let len = u32_at(0)?;
    if len > MAX_BODY_LEN {
        return None;
    }
    let seq = field(8..16)
        .and_then(|raw| raw.try_into().ok())
        .map(u64::from_le_bytes)?;
    Some(Header {
        len,
        crc: u32_at(4)?,
        seq,
        n_samples: u32_at(16)?,
        n_events: u32_at(20)?,
    })
}

/// Whether `header` and `body` form an intact record.
pub fn check(header: &Header, header_bytes: &[u8], body: &[u8]) -> bool {
    if body.len() != header.len as usize {
        return false;
    }
    let Some(after_crc) = header_bytes.get(8..HEADER_LEN) else {
        return false;
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(after_crc);
    hasher.update(body);
    hasher.finalize() == header.crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrips_and_detects_flipped_bits() {
        let mut out = Vec::new();
        encode(42, 7, 1, b"hello body", &mut out);
        assert_eq!(out.len(), HEADER_LEN + 10);
        let header = decode_header(&out).unwrap();
        assert_eq!(
            (header.seq, header.n_samples, header.n_events, header.len),
            (42, 7, 1, 10)
        );
        assert!(check(&header, &out[..HEADER_LEN], &out[HEADER_LEN..]));
        for flip in [5, 9, 17, 21, HEADER_LEN + 3] {
            let mut bad = out.clone();
            bad[flip] ^= 0x40;
            let header = decode_header(&bad).unwrap();
            assert!(
                !check(&header, &bad[..HEADER_LEN], &bad[HEADER_LEN..]),
                "flip at {flip}"
            );
        }
        assert!(!check(
            &header,
            &out[..HEADER_LEN],
            &out[HEADER_LEN..HEADER_LEN + 5]
        ));
    }

    #[test]
    fn record_header_rejects_short_and_huge() {
        assert_eq!(decode_header(&[0; 10]), None);
        let mut huge = vec![0xff; HEADER_LEN];
        huge[8..].fill(0);
        assert_eq!(decode_header(&huge), None);
    }
}
