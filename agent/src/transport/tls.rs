//! TLS to the collector: which certificate authorities the agent trusts and which client
//! certificate it shows.
//!
//! With an `https://` collector the agent verifies the collector's certificate against the
//! system's roots, or only against the PEM CAs in `ca_file` when one is given (a private CA). With
//! `client_cert` and `client_key` it presents that certificate (mTLS); the collector then accepts
//! batches only for the host ids the certificate names (its CN or DNS SANs). [`ClientTls::load`]
//! reads and checks every file, so `--check-config` reports a bad one naming its key.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS files of the agent's config (`ca_file`, `client_cert`, `client_key`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM CA certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mTLS).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
}

/// A TLS file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold what the key needs.
    #[error("{path} {problem}")]
    Invalid {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to give instead.
        problem: String,
    },
    /// Only one of `client_cert` and `client_key` is set.
    #[error("{given} is set without {missing}: give both for a client certificate, or neither")]
    Unpaired {
        /// The key that is set.
        given: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
}

impl TlsError {
    /// The config key the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            TlsError::Read { key, .. } | TlsError::Invalid { key, .. } => key,
            TlsError::Unpaired { given, .. } => given,
        }
    }
}

/// Loaded, checked TLS material, ready for the HTTP client.
#[derive(Debug, Default)]
pub struct LoadedTls {
    /// The CAs of `ca_file` (empty: the system's roots).
    pub roots: Vec<reqwest::Certificate>,
    /// The client identity (cert chain and key) for mTLS.
    pub identity: Option<reqwest::Identity>,
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(key: &'static str, path: &Path, bytes: &[u8]) -> Result<usize, TlsError> {
    let invalid = |problem: String| TlsError::Invalid {
        key,
        path: path.to_path_buf(),
        problem,
    };
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("is not valid PEM: {error}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "holds no certificate: give a PEM file with -----BEGIN CERTIFICATE-----".to_owned(),
        ));
    }
    Ok(certs.len())
}

impl ClientTls {
    /// Whether any TLS setting is given.
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }

    /// Reads and checks every file.
    pub fn load(&self) -> Result<LoadedTls, TlsError> {
        let mut loaded = LoadedTls::default();
        if let Some(path) = &self.ca_file {
            let bytes = read("ca_file", path)?;
            certificates("ca_file", path, &bytes)?;
            loaded.roots = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|error| {
                TlsError::Invalid {
                    key: "ca_file",
                    path: path.clone(),
                    problem: format!("is not a usable CA bundle: {error}"),
                }
            })?;
        }
        match (&self.client_cert, &self.client_key) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(TlsError::Unpaired {
                    given: "client_cert",
                    missing: "client_key",
                });
            }
            (None, Some(_)) => {
                return Err(TlsError::Unpaired {
                    given: "client_key",
                    missing: "client_cert",
                });
            }
            (Some(cert), Some(key)) => {
                let mut pem = read("client_cert", cert)?;
                certificates("client_cert", cert, &pem)?;
                let key_bytes = read("client_key", key)?;
                PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|error| TlsError::Invalid {
                    key: "client_key",
                    path: key.clone(),
                    problem: format!(
                        "holds no usable private key ({error}): give a PEM PKCS#8, PKCS#1 or SEC1 key"
                    ),
                })?;
                pem.push(b'\n');
                pem.extend_from_slice(&key_bytes);
                loaded.identity =
                    Some(
                        reqwest::Identity::from_pem(&pem).map_err(|error| TlsError::Invalid {
                            key: "client_key",
                            path: key.clone(),
                            problem: format!("does not go with client_cert: {error}"),
                        })?,
                    );
            }
        }
        Ok(loaded)
    }

    /// Applies the loaded material to the client being built.
    pub fn apply(loaded: LoadedTls, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        if !loaded.roots.is_empty() {
            builder = builder.tls_certs_only(loaded.roots);
        }
        if let Some(identity) = loaded.identity {
            builder = builder.identity(identity);
        }
        builder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaired_client_certificate_names_both_keys() {
        let tls = ClientTls {
            client_cert: Some("/x/cert.pem".into()),
            ..ClientTls::default()
        };
        let error = tls.load().unwrap_err().to_string();
        assert_eq!(
            error,
            "client_cert is set without client_key: give both for a client certificate, or neither"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_says_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "hello\n").unwrap();
        let tls = ClientTls {
            ca_file: Some(path.clone()),
            ..ClientTls::default()
        };
        let error = tls.load().unwrap_err();
        assert_eq!(error.key(), "ca_file");
        assert_eq!(
            error.to_string(),
            format!(
                "{} holds no certificate: give a PEM file with -----BEGIN CERTIFICATE-----",
                path.display()
            )
        );
    }

    #[test]
    fn a_missing_ca_file_is_a_read_error() {
        let tls = ClientTls {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..ClientTls::default()
        };
        assert!(
            tls.load()
                .unwrap_err()
                .to_string()
                .starts_with("cannot read /nonexistent/ca.pem: ")
        );
    }
}
