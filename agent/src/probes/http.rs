//! The `http` probe: one GET with its own connection (no pooling, so latency includes the
//! connect and, for https, the TLS handshake), no redirects followed, no proxy. Up when the status
//! is `expect_status` (any 2xx when unset) and, with `body_match`, the first 1 MiB of the body
//! matches. For https the leaf certificate's `notAfter` gives `probe_tls_cert_expiry_days`, read by
//! a minimal DER walk ([`cert_not_after_ms`]) that never panics on any bytes.

use std::time::Instant;

use super::{Outcome, ProbeError};
use crate::config::Pattern;

/// Most body bytes read for `body_match`.
const MAX_BODY: usize = 1024 * 1024;

/// The client http probes share: connections are not kept, redirects not followed, proxies not
/// used (a probe checks direct reachability from this host), TLS details kept for the expiry.
/// The system CA bundle is loaded only when `https` is true (some probe uses https).
pub fn client(https: bool) -> Result<reqwest::Client, ProbeError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder();
    if !https {
        builder = builder.tls_certs_only(std::iter::empty());
    }
    builder
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_info(true)
        .user_agent(concat!(
            "vigil-agent/",
            env!("CARGO_PKG_VERSION"),
            " (probe)"
        ))
        .build()
        .map_err(ProbeError::Client)
}

/// Runs one GET; the caller bounds it with the probe's timeout.
pub async fn probe(
    client: &reqwest::Client,
    url: &str,
    expect_status: Option<u16>,
    body_match: Option<&Pattern>,
) -> Outcome {
    let started = Instant::now();
    let mut response = match client.get(url).send().await {
        Ok(response) => response,
        Err(error) => return Outcome::down(request_reason(&error)),
    };
    let status = response.status().as_u16();
    let cert_expiry_days = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .and_then(cert_not_after_ms)
        .map(|not_after| (not_after - crate::clock::now_ms()) as f64 / 86_400_000.0);
    let status_ok = match expect_status {
        Some(expected) => status == expected,
        None => (200..300).contains(&status),
    };
    let mut body_ok = true;
    if status_ok && let Some(pattern) = body_match {
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) => return Outcome::down(request_reason(&error)),
            }
        }
        body.truncate(MAX_BODY);
        body_ok = pattern.0.is_match(&String::from_utf8_lossy(&body));
    }
    let latency = started.elapsed();
    let mut outcome = if !status_ok {
        let expected = expect_status.map_or_else(|| "2xx".to_owned(), |status| status.to_string());
        Outcome::down(format!("status {status}, expected {expected}"))
    } else if !body_ok {
        Outcome::down("body does not match")
    } else {
        Outcome::up(format!("status {status}"))
    };
    outcome.latency = Some(latency);
    outcome.http_status = Some(status);
    outcome.cert_expiry_days = cert_expiry_days;
    outcome
}

/// A short reason for a request that got no response.
fn request_reason(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return super::tcp::connect_reason(io);
        }
        source = current.source();
    }
    if error.is_timeout() {
        return "timeout".to_owned();
    }
    let chain = crate::collectors::DisplayChain(error).to_string();
    if error.is_connect() {
        format!("connect failed: {chain}")
    } else {
        format!("request failed: {chain}")
    }
}

/// One DER TLV at the start of `bytes` with tag `tag`: (content, rest).
fn tlv(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = bytes.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n_bytes = usize::from(first & 0x7f);
        if n_bytes == 0 || n_bytes > 4 {
            return None;
        }
        let (len_bytes, rest) = rest.split_at_checked(n_bytes)?;
        let len = len_bytes
            .iter()
            .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
        (len, rest)
    };
    rest.split_at_checked(len)
}

/// Skips one DER TLV of any tag.
fn skip(bytes: &[u8]) -> Option<&[u8]> {
    let tag = *bytes.first()?;
    tlv(bytes, tag).map(|(_, rest)| rest)
}

/// The `notAfter` of an X.509 certificate in DER, as Unix milliseconds.
pub fn cert_not_after_ms(der: &[u8]) -> Option<i64> {
    let (certificate, _) = tlv(der, 0x30)?;
    let (tbs, _) = tlv(certificate, 0x30)?;
    // [0] EXPLICIT version, optional.
    let rest = if tbs.first() == Some(&0xa0) {
        skip(tbs)?
    } else {
        tbs
    };
    let rest = skip(rest)?; // serialNumber
    let rest = skip(rest)?; // signature AlgorithmIdentifier
    let rest = skip(rest)?; // issuer
    let (validity, _) = tlv(rest, 0x30)?;
    let after_not_before = skip(validity)?;
    let generalized = *after_not_before.first()? == 0x18;
    let (time, _) = tlv(after_not_before, if generalized { 0x18 } else { 0x17 })?;
    crate::clock::parse_asn1_time_ms(time, generalized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn fixture_cert() -> Vec<u8> {
        std::fs::read(crate::collectors::tests::fixture_root().join("tls/cert.der")).unwrap()
    }

    #[test]
    fn http_reads_not_after_of_a_real_certificate() {
        assert_eq!(
            cert_not_after_ms(&fixture_cert()),
            crate::clock::civil_to_unix_ms(2036, 11, 18, 20, 44, 33)
        );
    }

    #[test]
    fn http_not_after_never_panics_on_damaged_der() {
        let der = fixture_cert();
        for cut in 0..der.len() {
            let _ = cert_not_after_ms(&der[..cut]);
        }
        for flip in 0..der.len() {
            let mut bad = der.clone();
            bad[flip] ^= 0xff;
            let _ = cert_not_after_ms(&bad);
        }
        assert_eq!(cert_not_after_ms(&[]), None);
        assert_eq!(
            cert_not_after_ms(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }

    /// A one-shot HTTP server on loopback answering `response` to every request.
    fn serve(response: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let Ok(mut stream) = stream else { continue };
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(response.as_bytes());
            }
        });
        format!("http://{address}/healthz")
    }

    #[tokio::test]
    async fn http_probe_checks_status_and_body() {
        let client = client(false).unwrap();
        let url =
            serve("HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nstatus: ok\n");
        let outcome = probe(&client, &url, None, None).await;
        assert!(outcome.up, "{outcome:?}");
        assert_eq!(outcome.http_status, Some(200));
        assert!(outcome.latency.is_some());
        assert_eq!(outcome.cert_expiry_days, None);
        let ok = Pattern(regex::Regex::new("status: ok").unwrap());
        assert!(probe(&client, &url, Some(200), Some(&ok)).await.up);
        let nope = Pattern(regex::Regex::new("degraded").unwrap());
        assert_eq!(
            probe(&client, &url, None, Some(&nope)).await.reason,
            "body does not match"
        );
        assert_eq!(
            probe(&client, &url, Some(204), None).await.reason,
            "status 200, expected 204"
        );

        let url = serve("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
        let outcome = probe(&client, &url, None, None).await;
        assert!(!outcome.up);
        assert_eq!(outcome.reason, "status 500, expected 2xx");
        assert_eq!(outcome.http_status, Some(500));

        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/", listener.local_addr().unwrap())
        };
        let outcome = probe(&client, &closed, None, None).await;
        assert_eq!(outcome.reason, "connect refused");
        assert_eq!(outcome.http_status, None);
    }
}
