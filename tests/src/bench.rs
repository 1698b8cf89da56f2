//! Shared parts of the bench binaries (`vigil-bench`, `vigil-bench-incidents`): starting one or
//! more release collectors on one store (SQLite in their data dir, or one PostgreSQL database
//! they share), and reading the CPU of a whole process tree (PostgreSQL's postmaster and its
//! backends) from `/proc`.

use crate::postgres::PgServer;
use crate::{Process, client, free_port, proc_usage};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Where the collectors under test keep their state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// The embedded SQLite store (the default), one per collector.
    Sqlite,
    /// One PostgreSQL server (started by the bench, fsync on) shared by all collectors.
    Postgres,
}

/// Errors of the bench harness.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// PostgreSQL binaries are missing.
    #[error("PostgreSQL server binaries not found: apt-get install -y postgresql")]
    NoPostgres,
    /// Several collectors need a shared store.
    #[error("--collectors {0} needs --store postgres (SQLite is one collector's own store)")]
    SharedSqlite(usize),
    /// A collector did not become ready.
    #[error("collector {0} did not answer /readyz within 20 s; see its log {1}")]
    NotReady(String, String),
}

/// Collectors started for a bench, with the PostgreSQL server they share (if any).
pub struct Fleet {
    /// The collectors, in start order.
    pub collectors: Vec<Process>,
    /// Their base URLs, `http://127.0.0.1:PORT`.
    pub urls: Vec<String>,
    /// The shared PostgreSQL server.
    pub postgres: Option<PgServer>,
}

impl Fleet {
    /// Starts `n` collectors from `bin_dir` on `store`, each with its own data dir under `tmp`,
    /// `config` as their TOML file, pinned to `cpu` when given (`taskset -c`), and waits until
    /// every one answers `/readyz`.
    pub async fn start(
        bin_dir: &Path,
        tmp: &Path,
        store: StoreKind,
        n: usize,
        config: &str,
        cpu: Option<usize>,
    ) -> Result<Fleet, BenchError> {
        if n > 1 && store == StoreKind::Sqlite {
            return Err(BenchError::SharedSqlite(n));
        }
        let postgres = match store {
            StoreKind::Sqlite => None,
            StoreKind::Postgres => Some(PgServer::start_with(true).ok_or(BenchError::NoPostgres)?),
        };
        let store_url = postgres.as_ref().map(|pg| pg.database("vigil_bench"));
        let mut collectors = Vec::with_capacity(n);
        let mut urls = Vec::with_capacity(n);
        for index in 0..n {
            let data = tmp.join(format!("collector-{index}"));
            std::fs::create_dir_all(&data).expect("create data dir");
            let config_path = tmp.join(format!("collector-{index}.toml"));
            std::fs::write(&config_path, config).expect("write collector config");
            let binary = bin_dir.join("vigil-collector");
            let mut command = match cpu.filter(|_| taskset_available()) {
                Some(cpu) => {
                    let mut command = Command::new("taskset");
                    command.arg("-c").arg(cpu.to_string()).arg(binary);
                    command
                }
                None => Command::new(binary),
            };
            let port = free_port();
            command
                .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
                .arg(&data)
                .arg("--config")
                .arg(&config_path)
                .env("RUST_LOG", "warn");
            if let Some(url) = &store_url {
                command.args(["--store", url]);
            }
            let log = tmp.join(format!("collector-{index}.log"));
            collectors.push(Process::spawn("vigil-collector", command, log.clone()));
            let url = format!("http://127.0.0.1:{port}");
            if !wait_ok(&format!("{url}/readyz")).await {
                return Err(BenchError::NotReady(url, log.display().to_string()));
            }
            urls.push(url);
        }
        Ok(Fleet {
            collectors,
            urls,
            postgres,
        })
    }

    /// CPU seconds used so far by all collectors together, and the largest peak RSS in bytes.
    pub fn collectors_usage(&self) -> (f64, u64) {
        self.collectors
            .iter()
            .filter_map(|process| proc_usage(process.pid()))
            .fold((0.0, 0), |(cpu, rss), (c, r)| (cpu + c, rss.max(r)))
    }

    /// CPU seconds used so far by the PostgreSQL server (postmaster and backends), 0 without it.
    pub fn postgres_cpu(&self) -> f64 {
        self.postgres
            .as_ref()
            .and_then(|pg| tree_cpu(pg.pid()?))
            .unwrap_or(0.0)
    }
}

/// Whether `taskset` can be run.
pub fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Polls `url` until it answers 2xx, for at most 20 s.
pub async fn wait_ok(url: &str) -> bool {
    let http = client();
    for _ in 0..400 {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// CPU seconds of process `pid`, its children that exited and were reaped (`cutime`/`cstime`),
/// and its live children, from `/proc` clock ticks.
pub fn tree_cpu(pid: u32) -> Option<f64> {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let fields = |pid: u32| -> Option<Vec<u64>> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after_name = stat.rsplit_once(')')?.1;
        // After the name: state, ppid (index 1), ..., utime 11, stime 12, cutime 13, cstime 14.
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        Some(
            [1, 11, 12, 13, 14]
                .iter()
                .map(|&i| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0))
                .collect(),
        )
    };
    let own = fields(pid)?;
    let mut total = own[1] + own[2] + own[3] + own[4];
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(f) = fields(child)
            && f[0] == u64::from(pid)
        {
            total += f[1] + f[2];
        }
    }
    Some(total as f64 / ticks)
}
