//! The real Prometheus stack for the e2e tests: Debian's `prometheus` and
//! `prometheus-alertmanager` binaries on free loopback ports with temporary directories, stopped
//! by PID when dropped, and a client for Prometheus's HTTP query API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vigil_e2e::{Process, client, eventually, free_port};

/// The workspace root (the shipped `deploy/` files are read from there).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A binary from Debian's Prometheus packages; panics with the install instruction if missing.
pub fn tool(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{} not found: apt-get install prometheus prometheus-alertmanager (.ci/run does this)",
        path.display()
    );
    path
}

/// `text` percent-encoded for a URL query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Waits (bounded) until `url` answers 200.
async fn wait_ready(url: &str, what: &str) {
    let http = client();
    eventually(Duration::from_secs(60), Duration::from_millis(200), || {
        let request = http.get(url).send();
        async move {
            match request.await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("{what} answered {}", response.status())),
                Err(error) => Err(format!("{what}: {error}")),
            }
        }
    })
    .await;
}

/// A running Prometheus server.
pub struct Prometheus {
    /// The process (stopped on drop, its log printed when the test fails).
    _process: Process,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Prometheus {
    /// Starts Prometheus in `dir` with `config` (the YAML text of prometheus.yml) and waits until
    /// it is ready.
    pub async fn start(dir: &Path, config: &str) -> Prometheus {
        std::fs::create_dir_all(dir).unwrap();
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let mut command = Command::new(tool("prometheus"));
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn");
        let process = Process::spawn("prometheus", command, dir.join("prometheus.log"));
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&format!("{url}/-/ready"), "prometheus").await;
        Prometheus {
            _process: process,
            url,
        }
    }

    /// GET `path` of the HTTP API as JSON: `Ok` when the API answered `"status": "success"`,
    /// otherwise `Err` with what it said.
    pub async fn api(&self, path: &str) -> Result<serde_json::Value, String> {
        let response = client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .map_err(|error| format!("GET {path}: {error}"))?;
        let text = response.text().await.map_err(|error| error.to_string())?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| format!("GET {path}: not JSON: {text}"))?;
        if json["status"] == "success" {
            Ok(json)
        } else {
            Err(format!("GET {path}: {text}"))
        }
    }

    /// Runs an instant query; `Ok` with the result array (empty when nothing matched; a scalar
    /// result as one element) or `Err` when Prometheus refused the query.
    pub async fn query(&self, expr: &str) -> Result<Vec<serde_json::Value>, String> {
        let json = self
            .api(&format!("/api/v1/query?query={}", url_encode(expr)))
            .await?;
        let data = &json["data"];
        Ok(match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => {
                data["result"].as_array().cloned().unwrap_or_default()
            }
            _ => vec![data["result"].clone()],
        })
    }
}

/// A running Alertmanager (clustering off).
pub struct Alertmanager {
    /// The process (stopped on drop, its log printed when the test fails).
    _process: Process,
    /// `127.0.0.1:PORT`, for Prometheus's `alerting` block.
    pub address: String,
}

impl Alertmanager {
    /// Starts Alertmanager in `dir` with `config` (the YAML text of alertmanager.yml) and waits
    /// until it is ready.
    pub async fn start(dir: &Path, config: &str) -> Alertmanager {
        std::fs::create_dir_all(dir).unwrap();
        let config_path = dir.join("alertmanager.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let mut command = Command::new(tool("prometheus-alertmanager"));
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No gossip: it would bind 0.0.0.0:9094.
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn");
        let process = Process::spawn(
            "prometheus-alertmanager",
            command,
            dir.join("alertmanager.log"),
        );
        let address = format!("127.0.0.1:{port}");
        wait_ready(&format!("http://{address}/-/ready"), "alertmanager").await;
        Alertmanager {
            _process: process,
            address,
        }
    }
}
