//! `ca_file`, `client_cert` and `client_key` (flags `--ca-file`, `--client-cert`,
//! `--client-key`): how the agent trusts an `https://` collector and which client certificate it
//! shows (mTLS). The files are read and checked here the way the shipper loads them, so a bad one
//! is a config error (exit 2) naming its key.

use std::path::PathBuf;

use crate::transport::tls::ClientTls;

/// Checks the TLS keys against the collector URL; reports problems through `invalid`.
pub(super) fn validate_tls(
    collector: &str,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    invalid: &mut impl FnMut(&str, String),
) -> ClientTls {
    let tls = ClientTls {
        ca_file,
        client_cert,
        client_key,
    };
    if !tls.is_set() {
        return tls;
    }
    if !collector.starts_with("https://") {
        let key = if tls.ca_file.is_some() {
            "ca_file"
        } else if tls.client_cert.is_some() {
            "client_cert"
        } else {
            "client_key"
        };
        invalid(
            key,
            format!(
                "is set but collector {collector:?} is not https://: use an https:// URL or remove the key"
            ),
        );
        return tls;
    }
    if let Err(error) = tls.load() {
        invalid(error.key(), error.to_string());
    }
    tls
}

#[cfg(test)]
mod tests {
    use super::super::test_support::message;

    #[test]
    fn tls_keys_need_an_https_collector() {
        let text = message("collector = \"http://c:1\"\nca_file = \"/etc/ca.pem\"\n");
        assert!(
            text.contains(
                "config key ca_file: is set but collector \"http://c:1\" is not https://"
            ),
            "{text}"
        );
    }

    #[test]
    fn tls_client_cert_without_key_names_the_missing_key() {
        let text = message("collector = \"https://c:1\"\nclient_cert = \"/etc/c.pem\"\n");
        assert!(
            text.contains("config key client_cert: client_cert is set without client_key"),
            "{text}"
        );
    }

    #[test]
    fn tls_unreadable_ca_file_names_the_key_and_the_path() {
        let text = message("collector = \"https://c:1\"\nca_file = \"/nonexistent/ca.pem\"\n");
        assert!(
            text.contains("config key ca_file: cannot read /nonexistent/ca.pem"),
            "{text}"
        );
    }
}
