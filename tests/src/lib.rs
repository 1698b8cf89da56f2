//! Harness for the end-to-end tests and benches: find the real binaries, start them on free
//! loopback ports with temporary directories, wait for them with bounded polling, and stop them by
//! PID when dropped (printing their logs when a test fails).

pub mod bench;
pub mod hook;
pub mod postgres;
pub mod sqlite_index;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding `vigil-agent` and `vigil-collector`: `VIGIL_BIN_DIR`, or the cargo target
/// directory this test binary was built into.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIGIL_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe is readable");
    let mut dir = exe
        .parent()
        .expect("test binary has a parent dir")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of a workspace binary; panics with the build instruction when it is missing.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} not found: run `cargo build --workspace --bins --locked` before the tests \
         (or set VIGIL_BIN_DIR)",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("bind 127.0.0.1:0")
}

/// Polls `check` every `poll` until it returns `Ok` or `timeout` passes; then fails with the last
/// observed state.
pub async fn eventually<T, F, Fut>(timeout: Duration, poll: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(state) if Instant::now() >= deadline => {
                panic!("condition not met within {timeout:?}; last observed: {state}")
            }
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
}

/// A spawned binary, killed by PID on drop; its log is printed if the test is failing.
pub struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    /// Spawns `command` with stdout and stderr going to `log`.
    pub fn spawn(name: &str, mut command: Command, log: PathBuf) -> Process {
        let file = std::fs::File::create(&log).expect("create log file");
        let err = file.try_clone().expect("clone log file");
        command.stdin(Stdio::null()).stdout(file).stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Process {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// What the process wrote so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Sends a signal to the process (only ever the one this harness started).
    pub fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on a PID we spawned and have not reaped; no memory is touched.
            unsafe {
                libc::kill(child.id() as libc::pid_t, signal);
            }
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait(timeout)
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The exit status if the process has already ended (does not wait).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "----- log of {} -----\n{}\n----- end of {} -----",
                self.name,
                self.log(),
                self.name
            );
        }
    }
}

/// A running `vigil-collector` on a loopback port with its own data dir.
pub struct Collector {
    /// The process.
    pub process: Process,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The data dir (kept across restarts of the same test).
    pub data_dir: PathBuf,
    port: u16,
}

impl Collector {
    /// Starts a collector in `data_dir` with `extra` flags and waits until `/readyz` answers 200.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> Collector {
        Collector::start_on(data_dir, free_port(), extra).await
    }

    /// Like [`Collector::start`] on a given port (to restart in place).
    pub async fn start_on(data_dir: &Path, port: u16, extra: &[&str]) -> Collector {
        Collector::launch(&bin("vigil-collector"), data_dir, port, extra, &[]).await
    }

    /// Like [`Collector::start`] with extra environment variables for the process.
    pub async fn start_with_env(
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Collector {
        Collector::launch(&bin("vigil-collector"), data_dir, free_port(), extra, env).await
    }

    /// Like [`Collector::start`] with another build of the binary (benches use release builds).
    pub async fn start_with_bin(binary: &Path, data_dir: &Path, extra: &[&str]) -> Collector {
        Collector::launch(binary, data_dir, free_port(), extra, &[]).await
    }

    async fn launch(
        binary: &Path,
        data_dir: &Path,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Collector {
        let mut command = Command::new(binary);
        command.envs(env.iter().copied());
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info");
        let log = data_dir.with_extension(format!("collector-{port}.log"));
        let process = Process::spawn("vigil-collector", command, log);
        let mut collector = Collector {
            process,
            url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            port,
        };
        collector.wait_started().await;
        collector
    }

    /// Like [`Collector::wait_ready`], but fails at once when the process exits first (a
    /// config it refuses, a port taken) instead of waiting out the bound.
    async fn wait_started(&mut self) {
        let url = format!("{}/readyz", self.url);
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => format!("readyz answered {}", response.status()),
                Err(error) => format!("readyz: {error}"),
            };
            if let Some(status) = self.process.exit_status() {
                panic!("vigil-collector exited ({status}) before it was ready");
            }
            if Instant::now() >= deadline {
                panic!("vigil-collector not ready within 30s; last observed: {state}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits (bounded) until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.url);
        let client = client();
        eventually(Duration::from_secs(30), Duration::from_millis(50), || {
            let request = client.get(&url).send();
            async move {
                match request.await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("readyz answered {}", response.status())),
                    Err(error) => Err(format!("readyz: {error}")),
                }
            }
        })
        .await;
    }

    /// GET a path, returning the body text (panics on transport errors).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// GET a path and parse JSON.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, text) = self.get_text(path).await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("GET {path}: not JSON ({error}): {text}"));
        (status, value)
    }

    /// POST raw bytes to `/v1/ingest` with the given headers; returns status, headers and JSON.
    pub async fn post_ingest(
        &self,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let mut request = client().post(format!("{}/v1/ingest", self.url)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("POST /v1/ingest");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, headers, value)
    }
}

/// A running `vigil-agent` with its own state dir.
pub struct Agent {
    /// The process.
    pub process: Process,
}

impl Agent {
    /// Starts an agent reporting to `collector_url` as `host_id` every `interval`.
    pub fn start(
        state_dir: &Path,
        collector_url: &str,
        host_id: &str,
        interval: &str,
        extra: &[&str],
    ) -> Agent {
        Agent::start_with_env(state_dir, collector_url, host_id, interval, extra, &[])
    }

    /// Like [`Agent::start`] with extra environment variables (e.g. `RUST_LOG`).
    pub fn start_with_env(
        state_dir: &Path,
        collector_url: &str,
        host_id: &str,
        interval: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Agent {
        let mut command = Command::new(bin("vigil-agent"));
        command
            .arg("--collector")
            .arg(collector_url)
            .arg("--host-id")
            .arg(host_id)
            .arg("--interval")
            .arg(interval)
            .arg("--state-dir")
            .arg(state_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        let log = state_dir.with_extension("agent.log");
        Agent {
            process: Process::spawn("vigil-agent", command, log),
        }
    }
}

/// A shared HTTP client with short timeouts (tests talk only to loopback).
pub fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

/// Like [`client`] with another request timeout (storm tests on a busy machine: a POST that
/// times out cannot be resent without breaking an exact count).
pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .expect("build reqwest client")
}

/// Encodes a batch as the agent does: msgpack (named) compressed with zstd.
pub fn encode_zstd_msgpack(batch: &vigil_shared::Batch) -> Vec<u8> {
    let plain =
        vigil_shared::wire::codec::encode(batch, vigil_shared::wire::codec::Format::Msgpack)
            .expect("encode batch");
    zstd::encode_all(&plain[..], 3).expect("zstd encode")
}

/// Reads a process's CPU seconds (user + system) and peak RSS in bytes from `/proc`.
pub fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields after the name start at index 3 (state); utime is field 14, stime 15 (1-based).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())?;
    let from_ticks = (utime + stime) / ticks.max(1.0);
    // Clock ticks are 10 ms: too coarse for an agent that uses a few ms a minute. The per-thread
    // schedstat counters are in ns; threads that already exited are only in the tick count.
    let from_schedstat: f64 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9;
    Some((from_ticks.max(from_schedstat), hwm_kib * 1024))
}
