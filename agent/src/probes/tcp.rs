//! The `tcp` probe: connect to `HOST:PORT`, report the connect latency, close.

use std::time::Instant;

use super::Outcome;

/// Connects once; the caller bounds it with the probe's timeout.
pub async fn probe(address: &str) -> Outcome {
    let started = Instant::now();
    match tokio::net::TcpStream::connect(address).await {
        Ok(stream) => {
            let latency = started.elapsed();
            drop(stream);
            let mut outcome = Outcome::up("connected");
            outcome.latency = Some(latency);
            outcome
        }
        Err(error) => Outcome::down(connect_reason(&error)),
    }
}

/// A short reason for a failed connect.
pub fn connect_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect refused".to_owned(),
        std::io::ErrorKind::TimedOut => "connect timed out".to_owned(),
        _ => format!("connect failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_probe_connects_to_a_listener_and_reports_refusal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let outcome = probe(&address).await;
        assert!(outcome.up, "{outcome:?}");
        assert!(outcome.latency.is_some());
        drop(listener);
        let outcome = probe(&address).await;
        assert!(!outcome.up);
        assert_eq!(outcome.reason, "connect refused");
    }
}
