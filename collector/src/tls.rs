//! TLS termination for the HTTP server (rustls with the ring provider, no OpenSSL).
//!
//! [`Incoming`] is the listener `axum::serve` runs on: plain TCP, or TCP plus a TLS handshake
//! (each on its own task with a timeout, so a slow client never holds up the others). The server
//! certificate and key come from PEM files (`tls_cert`, `tls_key`) and are **reloaded when they
//! change**: a watcher polls their size and modification time every [`RELOAD_POLL`]; a new pair
//! that loads and matches replaces the old one for new connections, a broken or half-written pair
//! is logged and the old one kept (so a renewal that writes the certificate before the key simply
//! takes effect at the second change).
//!
//! With `client_ca`, clients may present a certificate signed by that CA (mTLS). Its names — the
//! subject CN and every DNS subject alternative name — become the connection's
//! [`ClientIdentity`]: [`client_identity`] puts it on each request, `api` binds it to the bearer
//! token, and ingest then accepts only batches whose host id is one of those names. `POST
//! /v1/ingest` without a client certificate is refused (403) when mTLS is on; the rest of the API
//! (Prometheus, Grafana, the CLI) works without one, with tokens as usual.

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How often the certificate and key files are checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);
/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server's certificate chain and key are, and the CA for client certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, end-entity first (`tls_cert`).
    pub cert: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 or SEC1 (`tls_key`).
    pub key: PathBuf,
    /// PEM CA certificates that sign agents' client certificates (`client_ca`): turns mTLS on.
    pub client_ca: Option<PathBuf>,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file holds no PEM item of the expected kind.
    #[error("{path} holds no {what}: give a PEM file (-----BEGIN {what}-----)")]
    Empty {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// A PEM item could not be decoded.
    #[error("{path} is not valid PEM: {reason}")]
    Pem {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// The key does not fit the certificate, or rustls refused one of them.
    #[error("{key} does not go with the certificate in {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' message.
        reason: String,
    },
    /// The client CA could not be used for verification.
    #[error("{path} cannot verify client certificates: {reason}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// rustls' message.
        reason: String,
    },
}

impl TlsError {
    /// The config key whose file is at fault (messages name the file, the config error the key).
    pub fn key(&self) -> &'static str {
        match self {
            TlsError::Read { key, .. }
            | TlsError::Empty { key, .. }
            | TlsError::Pem { key, .. } => key,
            TlsError::Mismatch { .. } => "tls_key",
            TlsError::ClientCa { .. } => "client_ca",
        }
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in a PEM file (at least one).
pub fn load_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            key,
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            key,
            path: path.to_path_buf(),
            what: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// The one crypto provider of every rustls config the collector builds (ring, never aws-lc).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads and checks a certificate chain with its key.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = load_certificates("tls_cert", cert)?;
    let bytes = read("tls_key", key)?;
    let private = PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            key: "tls_key",
            path: key.to_path_buf(),
            what: "PRIVATE KEY",
        },
        other => TlsError::Pem {
            key: "tls_key",
            path: key.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|error| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason: error.to_string(),
    })
}

/// Checks every file of `settings` the way the server will load them (for `--check-config` and
/// the config's validation: a bad file is a config error naming its key).
pub fn check(settings: &TlsSettings) -> Result<(), TlsError> {
    load_certified_key(&settings.cert, &settings.key)?;
    if let Some(path) = &settings.client_ca {
        client_verifier(path)?;
    }
    Ok(())
}

fn client_verifier(
    path: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certificates("client_ca", path)? {
        roots.add(cert).map_err(|error| TlsError::ClientCa {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|error| TlsError::ClientCa {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })
}

/// The server certificate in use, swapped by the watcher.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// Size and modification time of both files: a change in either means "try to reload".
type Stamp = Option<[(u64, Option<SystemTime>); 2]>;

fn stamp(settings: &TlsSettings) -> Stamp {
    let one = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .map(|meta| (meta.len(), meta.modified().ok()))
    };
    Some([one(&settings.cert)?, one(&settings.key)?])
}

async fn watch(settings: TlsSettings, resolver: Arc<Reloading>) {
    let mut seen = stamp(&settings);
    let mut ticker = tokio::time::interval(RELOAD_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let now = stamp(&settings);
        if now == seen {
            continue;
        }
        seen = now;
        match load_certified_key(&settings.cert, &settings.key) {
            Ok(key) => {
                *resolver
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(key);
                tracing::info!(path = %settings.cert.display(), "TLS certificate reloaded");
            }
            Err(error) => {
                tracing::warn!(error = %error, "TLS certificate not reloaded: keeping the previous one");
            }
        }
    }
}

/// The names a verified client certificate carries: its subject CN and DNS SANs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// CN first (when present), then every DNS subject alternative name.
    pub names: Arc<[String]>,
}

impl ClientIdentity {
    /// Whether the certificate names `host_id`.
    pub fn names_host(&self, host_id: &str) -> bool {
        self.names.iter().any(|name| name == host_id)
    }
}

/// An accepted connection: plain TCP or TLS over TCP.
pub enum Stream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// The verified client certificate's identity, when the client sent one.
    pub fn client_identity(&self) -> Option<ClientIdentity> {
        let Stream::Tls(stream) = self else {
            return None;
        };
        let (_, connection) = stream.get_ref();
        let end_entity = connection.peer_certificates()?.first()?;
        Some(ClientIdentity {
            names: certificate_names(end_entity.as_ref()).into(),
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The listener `axum::serve` runs on.
pub struct Incoming {
    local: SocketAddr,
    inner: Inner,
}

enum Inner {
    Plain(TcpListener),
    Tls(mpsc::Receiver<(Stream, SocketAddr)>),
}

impl Incoming {
    /// Serves `listener` as is (no `settings`) or with TLS: loads the certificate (an error here
    /// means the files changed since the config was checked) and starts the reload watcher and the
    /// handshake tasks.
    pub fn new(
        listener: TcpListener,
        settings: Option<&TlsSettings>,
    ) -> Result<Incoming, TlsError> {
        let local = listener.local_addr().map_err(|source| TlsError::Read {
            key: "listen",
            path: PathBuf::new(),
            source,
        })?;
        let Some(settings) = settings else {
            return Ok(Incoming {
                local,
                inner: Inner::Plain(listener),
            });
        };
        let resolver = Arc::new(Reloading {
            current: RwLock::new(Arc::new(load_certified_key(&settings.cert, &settings.key)?)),
        });
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Mismatch {
                cert: settings.cert.clone(),
                key: settings.key.clone(),
                reason: error.to_string(),
            })?;
        let builder = match &settings.client_ca {
            Some(path) => builder.with_client_cert_verifier(client_verifier(path)?),
            None => builder.with_no_client_auth(),
        };
        let mut config =
            builder.with_cert_resolver(resolver.clone() as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(watch(settings.clone(), resolver));
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(accept_loop(listener, acceptor, tx));
        Ok(Incoming {
            local,
            inner: Inner::Tls(rx),
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    ready: mpsc::Sender<(Stream, SocketAddr)>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: wait a little instead of spinning (as axum does).
                tracing::warn!(error = %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if ready.is_closed() {
            return;
        }
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((Stream::Tls(Box::new(stream)), peer)).await;
                }
                Ok(Err(error)) => {
                    tracing::debug!(%peer, error = %error, "TLS handshake failed");
                }
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl Listener for Incoming {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Stream, SocketAddr) {
        match &mut self.inner {
            Inner::Plain(listener) => {
                // axum's own loop for TCP (it retries accept errors after a pause).
                let (stream, peer) = Listener::accept(listener).await;
                (Stream::Plain(stream), peer)
            }
            Inner::Tls(ready) => match ready.recv().await {
                Some(accepted) => accepted,
                // The accept loop only ends when this receiver is gone.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// What the server knows about a connection, for every request on it.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address.
    pub address: SocketAddr,
    /// The verified client certificate, with mTLS.
    pub identity: Option<ClientIdentity>,
}

impl Connected<IncomingStream<'_, Incoming>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Incoming>) -> Peer {
        Peer {
            address: *stream.remote_addr(),
            identity: stream.io().client_identity(),
        }
    }
}

/// The router as `axum::serve` takes it on an [`Incoming`]: with [`client_identity`] in front and
/// each connection's [`Peer`] available to it.
pub fn app(
    router: axum::Router,
    settings: Option<&TlsSettings>,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, Peer> {
    let mtls = Mtls(settings.is_some_and(|settings| settings.client_ca.is_some()));
    router
        .layer(axum::middleware::from_fn_with_state(mtls, client_identity))
        .into_make_service_with_connect_info::<Peer>()
}

/// Whether mTLS is on (a `client_ca` is configured), for [`client_identity`].
#[derive(Debug, Clone, Copy)]
pub struct Mtls(pub bool);

/// Middleware: puts the connection's [`ClientIdentity`] on the request; with mTLS on, refuses
/// `POST /v1/ingest` from a client without a certificate.
pub async fn client_identity(
    State(Mtls(mtls)): State<Mtls>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    mut request: Request,
    next: Next,
) -> Response {
    match peer.identity {
        Some(identity) => {
            request.extensions_mut().insert(identity);
        }
        None if mtls && request.uri().path() == "/v1/ingest" => {
            return crate::api::error::ApiError::forbidden(
                "a client certificate is required to send batches (mTLS is on): give the agent --client-cert and --client-key",
            )
            .into_response();
        }
        None => {}
    }
    next.run(request).await
}

/// The subject CN and the DNS subject alternative names of a DER certificate (empty when it
/// cannot be read; it was verified by rustls before this is called, so that does not happen in
/// practice). A minimal DER walk: TBSCertificate → subject and the SAN extension.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    fn names(der: &[u8]) -> Option<Vec<String>> {
        let (_, certificate, _) = Der::new(der).next()?;
        let (_, tbs, _) = Der::new(certificate).next()?;
        let mut fields = Der::new(tbs);
        let mut item = fields.next()?;
        if item.0 == 0xa0 {
            item = fields.next()?; // [0] version, then the serial number
        }
        let _serial = item;
        let _signature = fields.next()?;
        let _issuer = fields.next()?;
        let _validity = fields.next()?;
        let (_, subject, _) = fields.next()?;
        let mut out = Vec::new();
        // subject: SEQUENCE OF SET OF SEQUENCE { OID, value }
        for (_, set, _) in Der::new(subject) {
            for (_, pair, _) in Der::new(set) {
                let mut parts = Der::new(pair);
                let (_, oid, _) = parts.next()?;
                let (_, value, _) = parts.next()?;
                if oid == [0x55, 0x04, 0x03] {
                    out.push(String::from_utf8_lossy(value).into_owned());
                }
            }
        }
        // extensions: [3] { SEQUENCE OF SEQUENCE { OID, critical?, OCTET STRING } }
        for (tag, content, _) in fields {
            if tag != 0xa3 {
                continue;
            }
            let (_, list, _) = Der::new(content).next()?;
            for (_, extension, _) in Der::new(list) {
                let parts: Vec<_> = Der::new(extension).collect();
                let (_, oid, _) = parts.first()?;
                if *oid != [0x55, 0x1d, 0x11] {
                    continue;
                }
                let (_, value, _) = parts.last()?;
                let (_, general_names, _) = Der::new(value).next()?;
                for (tag, name, _) in Der::new(general_names) {
                    if tag == 0x82 {
                        out.push(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
        }
        Some(out)
    }
    names(der).unwrap_or_default()
}

/// An iterator over DER TLVs: (tag, content, rest); stops at the first malformed item.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Der<'a> {
        Der { rest: bytes }
    }
}

impl<'a> Iterator for Der<'a> {
    type Item = (u8, &'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, after_tag) = self.rest.split_first()?;
        let (&first, mut after_len) = after_tag.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n_bytes = usize::from(first & 0x7f);
            if n_bytes == 0 || n_bytes > 4 {
                return None;
            }
            let (len_bytes, after) = after_len.split_at_checked(n_bytes)?;
            after_len = after;
            len_bytes
                .iter()
                .fold(0usize, |len, byte| (len << 8) | usize::from(*byte))
        };
        let (content, rest) = after_len.split_at_checked(len)?;
        self.rest = rest;
        Some((tag, content, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_walk_never_panics_on_truncated_or_garbage_input() {
        for bytes in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x82, 0xff],
            &[0x30, 0x03, 0x30, 0x01],
        ] {
            assert!(certificate_names(bytes).is_empty());
        }
    }

    #[test]
    fn certificate_names_are_the_cn_then_the_dns_sans() {
        let mut params = rcgen::CertificateParams::new(vec![
            "web-1.example".to_owned(),
            "10.0.0.1".to_owned(),
            "web-1.internal".to_owned(),
        ])
        .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Vigil");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "web-1");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            certificate_names(cert.der()),
            vec!["web-1", "web-1.example", "web-1.internal"]
        );
        let identity = ClientIdentity {
            names: certificate_names(cert.der()).into(),
        };
        assert!(identity.names_host("web-1.internal"));
        assert!(!identity.names_host("web-2"));
    }

    #[test]
    fn a_certificate_and_its_key_load_and_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        load_certified_key(&cert_path, &key_path).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&key_path, other.serialize_pem()).unwrap();
        let error = load_certified_key(&cert_path, &key_path).unwrap_err();
        assert_eq!(error.key(), "tls_key");
        assert!(
            error
                .to_string()
                .contains("does not go with the certificate"),
            "{error}"
        );
    }

    #[test]
    fn missing_files_name_their_key() {
        let error =
            load_certified_key(Path::new("/nonexistent/cert.pem"), Path::new("/x")).unwrap_err();
        assert_eq!(error.key(), "tls_cert");
        let text = error.to_string();
        assert!(
            text.starts_with("cannot read /nonexistent/cert.pem: "),
            "{text}"
        );
    }

    #[test]
    fn a_file_without_pem_items_says_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        std::fs::write(&path, "not pem\n").unwrap();
        let error = load_certificates("tls_cert", &path)
            .unwrap_err()
            .to_string();
        assert!(error.contains("holds no CERTIFICATE"), "{error}");
    }
}
