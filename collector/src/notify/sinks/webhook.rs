//! The generic JSON webhook: one POST per notification, the body the incident as the API shows
//! it (without its timeline) plus the step, signed with HMAC-SHA256 so a receiver can check who
//! sent it and reject replays.
//!
//! Headers: `Idempotency-Key` (the same on every retry), `X-Vigil-Timestamp` (Unix seconds) and
//! `X-Vigil-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the
//! sink's secret>`. A receiver recomputes the HMAC over the timestamp and the raw body, compares
//! in constant time, and refuses a timestamp older than its tolerance (e.g. 5 minutes).

use super::{Receipt, SendError, Sink, send};
use crate::api::dto::IncidentDto;
use crate::notify::Message;
use serde::Serialize;

/// The body of a webhook notification.
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    /// Format version of this body.
    pub version: u32,
    /// `open` · `update` · `acknowledge` · `escalate` · `reopen` · `resolve`.
    pub step: &'static str,
    /// The same on every retry.
    pub idempotency_key: &'a str,
    /// When the change happened (RFC 3339).
    pub at: String,
    /// Escalation level (0 unless `step` is `escalate`).
    pub level: u32,
    /// The incident in the collector's API, when `public_url` is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<&'a str>,
    /// The incident as committed with this change.
    pub incident: IncidentDto,
}

/// The JSON body for `message`.
pub fn body(message: &Message<'_>) -> Vec<u8> {
    let body = Body {
        version: 1,
        step: message.step.as_str(),
        idempotency_key: message.idempotency_key,
        at: vigil_shared::time::rfc3339(message.at_ms),
        level: message.level,
        link: message.link,
        incident: IncidentDto::from_incident(message.incident.clone(), false),
    };
    // Serializing plain data into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let hex: String = tag
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

/// Checks a `X-Vigil-Signature` header against `body` (constant time), for receivers and for
/// the collector's own webhook callbacks; `tolerance_s` bounds the timestamp's age.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now_s: i64, tolerance_s: i64) -> bool {
    let mut timestamp = None;
    let mut given = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => given = Some(value),
            _ => {}
        }
    }
    let (Some(timestamp), Some(given)) = (timestamp, given) else {
        return false;
    };
    if (now_s - timestamp).abs() > tolerance_s {
        return false;
    }
    let Some(given) = decode_hex(given) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut signed = timestamp.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    ring::hmac::verify(&key, &signed, &given).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

/// Posts the signed body.
pub async fn deliver(
    client: &reqwest::Client,
    sink: &Sink,
    message: &Message<'_>,
) -> Result<Receipt, SendError> {
    let body = body(message);
    let timestamp = vigil_shared::time::now_ms() / 1_000;
    let mut request = client
        .post(&sink.url)
        .timeout(sink.delivery.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", message.idempotency_key)
        .header("X-Vigil-Timestamp", timestamp.to_string());
    if let Some(secret) = &sink.secret {
        request = request.header(
            "X-Vigil-Signature",
            signature(secret.expose().as_bytes(), timestamp, &body),
        );
    }
    send(request.body(body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_secret_and_time() {
        let header = signature(b"key", 1_700_000_000, b"{\"a\":1}");
        // Python: hmac.new(b"key", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            header,
            "t=1700000000,v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
        assert!(verify(b"key", &header, b"{\"a\":1}", 1_700_000_010, 300));
        assert!(!verify(b"key", &header, b"{\"a\":2}", 1_700_000_010, 300));
        assert!(!verify(b"other", &header, b"{\"a\":1}", 1_700_000_010, 300));
        assert!(!verify(b"key", &header, b"{\"a\":1}", 1_700_001_000, 300));
        assert!(!verify(b"key", "v1=zz", b"", 0, 300));
        assert!(!verify(b"key", "", b"", 0, 300));
    }
}
