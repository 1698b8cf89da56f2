//! TLS end to end with a certificate authority made by the test (rcgen, ring): a real agent
//! reaches a TLS collector that trusts nothing else; an agent holding another CA is refused; the
//! collector picks up a renewed certificate from its files without a restart; with mTLS a client
//! certificate must name the batch's host id, and ingest without one is refused.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vigil_e2e::{Agent, Process, bin, eventually, free_port};

/// A test certificate authority.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A certificate signed by this CA: (cert PEM, key PEM, cert DER).
    fn issue(&self, common_name: &str, names: &[&str]) -> (String, String, Vec<u8>) {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

/// Writes a server certificate for 127.0.0.1 and localhost; returns its DER.
fn write_server_cert(ca: &Ca, dir: &Path, serial_name: &str) -> Vec<u8> {
    let (cert, key, der) = ca.issue(serial_name, &["localhost", "127.0.0.1"]);
    // Write the key first: the collector must cope with the pair changing one file at a time.
    std::fs::write(dir.join("server.key"), key).unwrap();
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    der
}

/// An HTTPS client that trusts `ca_pem`, optionally with a client identity.
fn https_client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).unwrap())
        .tls_info(true)
        .timeout(Duration::from_secs(10))
        .no_proxy();
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// A collector serving HTTPS on a loopback port.
struct TlsCollector {
    process: Process,
    url: String,
    client: reqwest::Client,
}

impl TlsCollector {
    async fn start(dir: &Path, ca: &Ca, extra: &[&str]) -> TlsCollector {
        let port = free_port();
        let mut command = Command::new(bin("vigil-collector"));
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--tls-cert")
            .arg(dir.join("server.crt"))
            .arg("--tls-key")
            .arg(dir.join("server.key"))
            .args(extra)
            .env("RUST_LOG", "info");
        let process = Process::spawn("vigil-collector", command, dir.join("collector.log"));
        let collector = TlsCollector {
            process,
            url: format!("https://127.0.0.1:{port}"),
            client: https_client(&ca.pem, None),
        };
        let url = format!("{}/readyz", collector.url);
        let client = collector.client.clone();
        eventually(Duration::from_secs(30), Duration::from_millis(50), || {
            let request = client.get(&url).send();
            async move {
                match request.await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("readyz answered {}", response.status())),
                    Err(error) => Err(format!("readyz: {error:?}")),
                }
            }
        })
        .await;
        collector
    }

    async fn host_ids(&self) -> Vec<String> {
        let response = self
            .client
            .get(format!("{}/v1/hosts", self.url))
            .send()
            .await
            .unwrap();
        let hosts: serde_json::Value = response.json().await.unwrap();
        hosts
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .filter_map(|host| host["host_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn wait_for_host(collector: &TlsCollector, host_id: &str) {
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let hosts = collector.host_ids().await;
            if hosts.iter().any(|host| host == host_id) {
                Ok(())
            } else {
                Err(format!("hosts: {hosts:?}"))
            }
        },
    )
    .await;
}

async fn wait_for_log(process: &Process, needle: &str) {
    eventually(Duration::from_secs(30), Duration::from_millis(100), || {
        let log = process.log();
        async move {
            if log.contains(needle) {
                Ok(())
            } else {
                Err(log)
            }
        }
    })
    .await;
}

#[tokio::test]
async fn tls_agent_reaches_a_tls_collector_through_its_ca_file_and_a_wrong_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("vigil test CA");
    write_server_cert(&ca, dir.path(), "collector");
    let collector = TlsCollector::start(dir.path(), &ca, &[]).await;

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = vigil_e2e::client()
        .get(collector.url.replace("https://", "http://") + "/readyz")
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    let ca_file = ca.write(dir.path(), "ca.pem");
    let good = Agent::start(
        &dir.path().join("good-state"),
        &collector.url,
        "tls-good",
        "1s",
        &["--ca-file", ca_file.to_str().unwrap()],
    );
    wait_for_host(&collector, "tls-good").await;

    // Another CA, and the system roots: both refuse the collector's certificate.
    let other = Ca::new("someone else's CA");
    let other_file = other.write(dir.path(), "other-ca.pem");
    let wrong = Agent::start(
        &dir.path().join("wrong-state"),
        &collector.url,
        "tls-wrong-ca",
        "1s",
        &["--ca-file", other_file.to_str().unwrap()],
    );
    let system = Agent::start(
        &dir.path().join("system-state"),
        &collector.url,
        "tls-system-roots",
        "1s",
        &[],
    );
    wait_for_log(&wrong.process, "certificate").await;
    wait_for_log(&system.process, "certificate").await;
    // Both kept trying while the good agent kept reporting; neither got through.
    wait_for_host(&collector, "tls-good").await;
    let hosts = collector.host_ids().await;
    assert!(
        !hosts.iter().any(|host| host == "tls-wrong-ca"),
        "{hosts:?}"
    );
    assert!(
        !hosts.iter().any(|host| host == "tls-system-roots"),
        "{hosts:?}"
    );
    drop((good, wrong, system));
}

#[tokio::test]
async fn tls_collector_reloads_a_renewed_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("vigil test CA");
    let first = write_server_cert(&ca, dir.path(), "first");
    let collector = TlsCollector::start(dir.path(), &ca, &[]).await;
    let served = || async {
        // A fresh client: a new connection and handshake each time.
        let client = https_client(&ca.pem, None);
        let response = client
            .get(format!("{}/healthz", collector.url))
            .send()
            .await
            .map_err(|error| format!("{error:?}"))?;
        let info = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .ok_or("no TLS info")?;
        Ok::<Vec<u8>, String>(info.peer_certificate().ok_or("no certificate")?.to_vec())
    };
    assert_eq!(served().await.unwrap(), first);

    let second = write_server_cert(&ca, dir.path(), "second");
    assert_ne!(first, second);
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            match served().await {
                Ok(der) if der == second => Ok(()),
                Ok(_) => Err("still the first certificate".to_owned()),
                Err(error) => Err(error),
            }
        },
    )
    .await;
    wait_for_log(&collector.process, "TLS certificate reloaded").await;

    // A broken file is logged and the renewed certificate stays in use.
    std::fs::write(dir.path().join("server.crt"), "garbage").unwrap();
    wait_for_log(&collector.process, "keeping the previous one").await;
    assert_eq!(served().await.unwrap(), second);
}

#[tokio::test]
async fn tls_mtls_client_certificate_must_name_the_batch_host() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("vigil test CA");
    write_server_cert(&ca, dir.path(), "collector");
    let clients = Ca::new("vigil agents CA");
    let clients_file = clients.write(dir.path(), "agents-ca.pem");
    let collector = TlsCollector::start(
        dir.path(),
        &ca,
        &["--client-ca", clients_file.to_str().unwrap()],
    )
    .await;
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (cert, key, _) = clients.issue("web-1", &["web-1.example"]);
    std::fs::write(dir.path().join("web-1.crt"), &cert).unwrap();
    std::fs::write(dir.path().join("web-1.key"), &key).unwrap();
    let flag_values = [
        "--ca-file".to_owned(),
        ca_file.display().to_string(),
        "--client-cert".to_owned(),
        dir.path().join("web-1.crt").display().to_string(),
        "--client-key".to_owned(),
        dir.path().join("web-1.key").display().to_string(),
    ];
    let matching: Vec<&str> = flag_values.iter().map(String::as_str).collect();
    // The certificate names web-1 (CN) and web-1.example (SAN): both may report.
    let by_cn = Agent::start(
        &dir.path().join("cn"),
        &collector.url,
        "web-1",
        "1s",
        &matching,
    );
    let by_san = Agent::start(
        &dir.path().join("san"),
        &collector.url,
        "web-1.example",
        "1s",
        &matching,
    );
    wait_for_host(&collector, "web-1").await;
    wait_for_host(&collector, "web-1.example").await;

    // The same certificate claiming another host is refused with 403.
    let impostor = Agent::start(
        &dir.path().join("impostor"),
        &collector.url,
        "web-2",
        "1s",
        &matching,
    );
    wait_for_log(&impostor.process, "403").await;
    let hosts = collector.host_ids().await;
    assert!(!hosts.iter().any(|host| host == "web-2"), "{hosts:?}");

    // Ingest without a client certificate is refused; the read API still works without one.
    let batch = vigil_e2e::encode_zstd_msgpack(&crate::batch("web-1", 1, 1));
    let response = collector
        .client
        .post(format!("{}/v1/ingest", collector.url))
        .header("content-type", "application/msgpack")
        .header("content-encoding", "zstd")
        .body(batch.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("client certificate is required"), "{body}");

    // A direct request with the certificate but a batch for web-2: 403 naming the host.
    let with_cert = https_client(&ca.pem, Some((&cert, &key)));
    let batch = vigil_e2e::encode_zstd_msgpack(&crate::batch("web-2", 7, 1));
    let response = with_cert
        .post(format!("{}/v1/ingest", collector.url))
        .header("content-type", "application/msgpack")
        .header("content-encoding", "zstd")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("web-2"), "{body}");
    drop((by_cn, by_san, impostor));
}

#[test]
fn tls_bad_files_are_config_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let output = Command::new(bin("vigil-collector"))
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .arg("--check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("tls_cert"), "{stderr}");

    let only_cert = Command::new(bin("vigil-collector"))
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&only_cert.stderr);
    assert_eq!(only_cert.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tls_key"), "{stderr}");

    let agent = Command::new(bin("vigil-agent"))
        .args(["--collector", "https://127.0.0.1:1", "--client-cert"])
        .arg(&missing)
        .arg("--check-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&agent.stderr);
    assert_eq!(agent.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("client_key"), "{stderr}");
}

#[tokio::test]
async fn tls_to_postgresql_with_sslmode_require_is_verified_against_store_ca_file() {
    let ca = Ca::new("Vigil test PostgreSQL CA");
    let (cert, key, _) = ca.issue("postgres", &["localhost", "127.0.0.1"]);
    let Some(server) = vigil_e2e::postgres::PgServer::start_tls(&cert, &key) else {
        return;
    };
    let url = format!("{}?sslmode=require", server.database("tls"));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write(dir.path(), "pg-ca.pem");
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!("store_ca_file = {:?}\n", ca_file.display().to_string()),
    )
    .unwrap();
    let collector = vigil_e2e::Collector::start(
        &dir.path().join("data"),
        &["--store", &url, "--config", config.to_str().unwrap()],
    )
    .await;
    let http = vigil_e2e::client();
    let response = http
        .post(format!("{}/v1/events", collector.url))
        .json(&serde_json::json!({
            "source": "tls", "check": "pg", "status": "firing", "severity": "major"
        }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    // The collector's own connections are encrypted (PostgreSQL's view of them).
    let encrypted = server.query(
        "tls",
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE s.ssl AND a.application_name = 'vigil-collector'",
    );
    assert!(
        encrypted.parse::<u32>().unwrap() > 0,
        "no TLS connection from the collector: {encrypted}"
    );
    assert_eq!(
        server.query("tls", "SELECT count(*) FROM incidents"),
        "1",
        "the incident went through the TLS connection"
    );
    drop(collector);

    // A CA that did not sign the server's certificate: refused at start, one clear line.
    let other = Ca::new("Someone else's CA");
    let wrong = other.write(dir.path(), "wrong-ca.pem");
    std::fs::write(
        &config,
        format!("store_ca_file = {:?}\n", wrong.display().to_string()),
    )
    .unwrap();
    let mut command = Command::new(bin("vigil-collector"));
    command
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(dir.path().join("data2"))
        .args(["--store", &url, "--config", config.to_str().unwrap()]);
    let mut process = Process::spawn("vigil-collector", command, dir.path().join("wrong.log"));
    let status = process
        .wait(Duration::from_secs(60))
        .expect("a collector that cannot verify PostgreSQL exits");
    assert!(!status.success(), "it must not start: {}", process.log());
    let log = process.log();
    assert!(
        log.contains("cannot open the store") && log.to_lowercase().contains("certificate"),
        "the reason names the store and the certificate: {log}"
    );
}
