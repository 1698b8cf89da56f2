//! `tls_cert`, `tls_key` and `client_ca` (flags `--tls-cert`, `--tls-key`, `--client-ca`): the
//! collector's HTTPS certificate and key, and the CA of agents' client certificates (mTLS). The
//! files are read and checked here the way the server loads them (`crate::tls::check`), so a
//! bad one is a config error (exit 2) naming its key.

use super::ConfigErrors;
use crate::tls::TlsSettings;
use std::path::PathBuf;

/// Validates the TLS keys; records problems in `errors`.
pub(super) fn parse_tls(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    errors: &mut ConfigErrors,
) -> Option<TlsSettings> {
    match (cert, key) {
        (None, None) => {
            if client_ca.is_some() {
                errors.invalid(
                    "client_ca",
                    "needs tls_cert and tls_key: client certificates are checked in the collector's own TLS",
                );
            }
            None
        }
        (Some(_), None) => {
            errors.invalid("tls_key", "is missing: tls_cert needs its private key");
            None
        }
        (None, Some(_)) => {
            errors.invalid(
                "tls_cert",
                "is missing: tls_key needs its certificate chain",
            );
            None
        }
        (Some(cert), Some(key)) => {
            let settings = TlsSettings {
                cert,
                key,
                client_ca,
            };
            match crate::tls::check(&settings) {
                Ok(()) => Some(settings),
                Err(error) => {
                    errors.invalid(error.key(), error.to_string());
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_keys_come_in_pairs_and_client_ca_needs_them() {
        let mut errors = ConfigErrors::new();
        assert!(parse_tls(Some("/c.pem".into()), None, None, &mut errors).is_none());
        assert!(parse_tls(None, Some("/k.pem".into()), None, &mut errors).is_none());
        assert!(parse_tls(None, None, Some("/ca.pem".into()), &mut errors).is_none());
        assert!(parse_tls(None, None, None, &mut errors).is_none());
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors.0[0]
                .to_string()
                .starts_with("config key tls_key: is missing")
        );
        assert!(
            errors.0[1]
                .to_string()
                .starts_with("config key tls_cert: is missing")
        );
        assert!(
            errors.0[2]
                .to_string()
                .starts_with("config key client_ca: needs tls_cert and tls_key")
        );
    }

    #[test]
    fn tls_unreadable_certificate_names_the_key_and_the_file() {
        let mut errors = ConfigErrors::new();
        let parsed = parse_tls(
            Some("/nonexistent/c.pem".into()),
            Some("/nonexistent/k.pem".into()),
            None,
            &mut errors,
        );
        assert!(parsed.is_none());
        assert!(
            errors.0[0]
                .to_string()
                .starts_with("config key tls_cert: cannot read /nonexistent/c.pem: "),
            "{errors:?}"
        );
    }
}
