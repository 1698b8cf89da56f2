//! `vigil-bench`: the measurements behind BENCHMARKS.md, taken on real release binaries.
//!
//! - `ingest`: a load generator for 1,000 simulated hosts. It pre-encodes batches (zstd msgpack,
//!   as the agent sends them, each with a fresh seq), starts `vigil-collector` pinned to one core
//!   with `taskset`, posts over keep-alive HTTP from several connections for a fixed time, and
//!   reports accepted samples per second of wall time and per CPU-second of the collector. With
//!   `--store postgres` the collectors share one PostgreSQL server the bench starts (fsync on);
//!   `--collectors N` starts N of them and spreads the requests round-robin.
//!   With `--prometheus`, Debian's `prometheus` then runs in the same invocation, pinned to the
//!   same core, scraping as many series (one loopback target per host, each exposing
//!   `--samples-per-batch` series, served by the bench); its CPU per sample is its own `/proc`
//!   usage over `prometheus_tsdb_head_samples_appended_total`.
//! - `fleet`: N simulated agents at a fixed interval (own host ids, one stream each, increasing
//!   seqs, one batch per host per interval spread evenly over it; the samples are those of a real
//!   `vigil-agent --once` on this machine) against one or more collectors on SQLite or PostgreSQL;
//!   reports the collectors' CPU in cores and peak RSS, PostgreSQL's CPU, and the answer latency.
//! - `agent`: runs `vigil-agent` at 1 s and 10 s intervals side by side for a fixed time against a
//!   collector, each with three probes at its own interval (http and tcp against loopback peers
//!   the bench starts, process against a `sleep` it spawns), and reports each one's CPU seconds
//!   and peak RSS (VmHWM); with `--node-exporter` it also runs Debian's
//!   `prometheus-node-exporter`, scraped at the same intervals, for comparison.
//! - `replay`: a month of generated events (N hosts behind switches named in the config's
//!   `[topology.depends_on]`, checks firing and resolving, switches going down now and then) piped
//!   through `vigil-collector replay`; reports wall time, CPU and peak RSS of the replay and its
//!   summary (incidents, top-level incidents, notifications).
//!
//! - `sqlite-index`: CPU per new incident saved through the collector's SQLite backend with and
//!   without the one-active index, by open incidents and incidents per commit
//!   (`vigil_e2e::sqlite_index`).
//!
//! Results print as Markdown table rows on stdout; BENCHMARKS.md records them with the machine.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_collector::capacity::CapacityConfig;
use vigil_collector::capacity::readings::Reading;
use vigil_collector::capacity::tracker::Tracker;
use vigil_collector::store::{HistoryRow, PostgresUrl, StoreLocation, StoreOptions};
use vigil_e2e::bench::{Fleet, StoreKind};
use vigil_e2e::{Collector, Process, client, encode_zstd_msgpack, free_port, proc_usage};
use vigil_shared::labels::Labels;
use vigil_shared::wire::view::SampleView;
use vigil_shared::wire::{AgentInfo, Batch, PROTOCOL_VERSION, Sample};

#[derive(Parser)]
#[command(name = "vigil-bench", about = "Benchmarks of the real vigil binaries")]
struct Cli {
    /// Directory with release builds of vigil-agent and vigil-collector.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Collector ingest throughput from simulated hosts.
    Ingest {
        /// Simulated hosts.
        #[arg(long, default_value_t = 1_000)]
        hosts: usize,
        /// Samples in each batch.
        #[arg(long, default_value_t = 100)]
        samples_per_batch: usize,
        /// Seconds of load.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Concurrent connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// CPU the collector is pinned to (`taskset -c`); the generator takes the others.
        /// Several collectors are not pinned.
        #[arg(long, default_value_t = 1)]
        collector_cpu: usize,
        /// The store of the collectors.
        #[arg(long, value_enum, default_value = "sqlite")]
        store: StoreKind,
        /// Collectors sharing the store (more than one needs `--store postgres`).
        #[arg(long, default_value_t = 1)]
        collectors: usize,
        /// Also measure Debian's prometheus scraping as many series (one target per host).
        #[arg(long)]
        prometheus: bool,
        /// Prometheus's scrape interval with `--prometheus`, in seconds.
        #[arg(long, default_value = "1s", value_parser = parse_seconds)]
        scrape_interval: f64,
    },
    /// Simulated agents at a fixed interval against one or more collectors.
    Fleet {
        /// Simulated hosts (agents).
        #[arg(long, default_value_t = 10_000)]
        hosts: usize,
        /// Each agent's interval, in seconds (`10` or `10s`).
        #[arg(long, default_value = "10s", value_parser = parse_seconds)]
        interval: f64,
        /// Seconds of the measured window (after one interval of warm-up).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Collectors sharing the store (more than one needs `--store postgres`); hosts are
        /// spread round-robin.
        #[arg(long, default_value_t = 1)]
        collectors: usize,
        /// The store of the collectors.
        #[arg(long, value_enum, default_value = "sqlite")]
        store: StoreKind,
        /// Concurrent keep-alive connections of the generator.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Days of capacity history already in the store for every host before the load
        /// starts (as after that long in service; 90 fills every tier): the steady state's
        /// memory and forecast cost rather than a young fleet's.
        #[arg(long, default_value_t = 0.0)]
        history_days: f64,
    },
    /// `vigil-collector replay` on a generated month of events.
    Replay {
        /// Hosts sending events.
        #[arg(long, default_value_t = 3_000)]
        hosts: usize,
        /// Switches the hosts depend on (round-robin; 0 for no topology).
        #[arg(long, default_value_t = 30)]
        switches: usize,
        /// Events, spread evenly over the days.
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Days of event time.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// SQLite's one-active index: CPU per new incident saved through the collector's SQLite
    /// backend with and without it, by open incidents and incidents per commit.
    SqliteIndex {
        /// Open incidents before the measured saves (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "3000,30000,60000")]
        active: Vec<usize>,
        /// Incidents per commit (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "100,400")]
        per_commit: Vec<usize>,
        /// Incidents saved and measured per cell.
        #[arg(long, default_value_t = 10_000)]
        new: usize,
        /// Rounds (each cell's median is shown).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Agent CPU and peak RSS at 1 s and 10 s intervals.
    Agent {
        /// Seconds each agent runs.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Also measure Debian's prometheus-node-exporter scraped at the same intervals.
        #[arg(long)]
        node_exporter: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let bin_dir = std::fs::canonicalize(&cli.bin_dir).with_context(|| {
        format!(
            "bin dir {} (build with cargo build --release)",
            cli.bin_dir.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Bench::Ingest {
            hosts,
            samples_per_batch,
            seconds,
            connections,
            collector_cpu,
            store,
            collectors,
            prometheus,
            scrape_interval,
        } => runtime.block_on(async {
            ingest(
                &bin_dir,
                IngestLoad {
                    n_hosts: hosts,
                    samples_per_batch,
                    seconds,
                    connections,
                    collector_cpu,
                    store,
                    collectors,
                },
            )
            .await?;
            if prometheus {
                prometheus_scraping(
                    hosts,
                    samples_per_batch,
                    scrape_interval,
                    seconds,
                    collector_cpu,
                )
                .await?;
            }
            anyhow::Ok(())
        }),
        Bench::Fleet {
            hosts,
            interval,
            seconds,
            collectors,
            store,
            connections,
            history_days,
        } => runtime.block_on(fleet(
            &bin_dir,
            FleetLoad {
                hosts,
                interval,
                seconds,
                collectors,
                store,
                connections,
                history_days,
            },
        )),
        Bench::Replay {
            hosts,
            switches,
            events,
            days,
        } => replay(
            &bin_dir,
            ReplayLoad {
                hosts,
                switches,
                events,
                days,
            },
        ),
        Bench::SqliteIndex {
            active,
            per_commit,
            new,
            rounds,
        } => {
            print!(
                "{}",
                vigil_e2e::sqlite_index::run(&active, &per_commit, new, rounds)?
            );
            Ok(())
        }
        Bench::Agent {
            seconds,
            node_exporter,
        } => runtime.block_on(agent(&bin_dir, seconds, node_exporter)),
    }
}

/// The samples a real agent sends that feed the capacity history (6 series: the root
/// filesystem's bytes and inodes, memory, swap, CPU, load), as `(name, mountpoint, value)`; the
/// ingest bench puts them first in every batch so that history is on the measured path.
const CAPACITY_SAMPLES: [(&str, Option<&str>, f64); 10] = [
    ("filesystem_size_bytes", Some("/"), 100e9),
    ("filesystem_avail_bytes", Some("/"), 40e9),
    ("filesystem_inodes_total", Some("/"), 6.5e6),
    ("filesystem_inodes_free", Some("/"), 5.0e6),
    ("memory_total_bytes", None, 16e9),
    ("memory_available_bytes", None, 9e9),
    ("swap_total_bytes", None, 2e9),
    ("swap_used_bytes", None, 1e8),
    ("cpu_usage_ratio", None, 0.25),
    ("load1", None, 0.8),
];

fn simulated_batch(host_idx: usize, seq: u64, n_samples: usize) -> Batch {
    let host_id = format!("sim-{host_idx:05}");
    let capacity = CAPACITY_SAMPLES
        .iter()
        .take(n_samples)
        .map(|&(name, mountpoint, value)| Sample {
            name: name.into(),
            labels: mountpoint
                .map(|m| Labels::from([("mountpoint".into(), m.into())]))
                .unwrap_or_default(),
            // Moving a little per batch, as a filling disk and a busy host do.
            value: value * (1.0 + (seq % 97) as f64 * 1e-4),
            time_ms: None,
        });
    let samples = capacity
        .chain((CAPACITY_SAMPLES.len()..n_samples).map(|sample_idx| {
            let (name, labels) = match sample_idx % 5 {
                0 => (
                    "cpu_core_usage_ratio",
                    Labels::from([("cpu".into(), (sample_idx / 5).to_string())]),
                ),
                1 => (
                    "filesystem_used_bytes",
                    Labels::from([("mountpoint".into(), format!("/mnt/{}", sample_idx / 5))]),
                ),
                2 => (
                    "network_receive_bytes_total",
                    Labels::from([("interface".into(), format!("eth{}", sample_idx / 5))]),
                ),
                3 => (
                    "pressure_avg10_ratio",
                    Labels::from([
                        ("resource".into(), format!("r{}", sample_idx / 5)),
                        ("kind".into(), "some".into()),
                    ]),
                ),
                _ => (
                    "disk_io_time_seconds_total",
                    Labels::from([("device".into(), format!("sd{}", sample_idx / 5))]),
                ),
            };
            Sample {
                name: name.into(),
                labels,
                value: (seq as f64) * 1_000.0 + sample_idx as f64,
                time_ms: None,
            }
        }))
        .collect();
    Batch {
        version: PROTOCOL_VERSION,
        agent: AgentInfo {
            hostname: host_id.clone(),
            host_id,
            version: "bench".into(),
            labels: Labels::from([("env".into(), "bench".into())]),
        },
        stream: 1,
        seq,
        time_ms: 1_790_000_000_000 + seq as i64 * 10_000,
        samples,
        events: vec![],
        inventory: None,
    }
}

/// The load of `vigil-bench ingest`.
struct IngestLoad {
    n_hosts: usize,
    samples_per_batch: usize,
    seconds: u64,
    connections: usize,
    collector_cpu: usize,
    store: StoreKind,
    collectors: usize,
}

async fn ingest(bin_dir: &Path, load: IngestLoad) -> Result<()> {
    let IngestLoad {
        n_hosts,
        samples_per_batch,
        seconds,
        connections,
        collector_cpu,
        store,
        collectors,
    } = load;
    // Enough distinct batches for about 25 million samples, so a fast collector does not run dry.
    let rounds = (25_000_000 / (n_hosts * samples_per_batch).max(1)).clamp(5, 400);
    eprintln!(
        "pre-encoding {} batches of {samples_per_batch} samples...",
        n_hosts * rounds
    );
    let mut bodies = Vec::with_capacity(n_hosts * rounds);
    for round in 0..rounds {
        for host_idx in 0..n_hosts {
            bodies.push(encode_zstd_msgpack(&simulated_batch(
                host_idx,
                round as u64 + 1,
                samples_per_batch,
            )));
        }
    }
    let mean_body = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    let bodies = Arc::new(bodies);

    let tmp = tempfile::tempdir()?;
    let cpu = (collectors == 1).then_some(collector_cpu);
    let fleet = Fleet::start(bin_dir, tmp.path(), store, collectors, "", cpu).await?;
    let urls = Arc::new(fleet.urls.clone());
    let url = fleet.urls[0].clone();
    let (cpu_before, _) = fleet.collectors_usage();
    let pg_before = fleet.postgres_cpu();

    let next = Arc::new(AtomicU64::new(0));
    let accepted_samples = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (bodies, next, accepted_samples, errors, latencies, urls) = (
            Arc::clone(&bodies),
            Arc::clone(&next),
            Arc::clone(&accepted_samples),
            Arc::clone(&errors),
            Arc::clone(&latencies),
            Arc::clone(&urls),
        );
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut local = Vec::new();
            while Instant::now() < deadline {
                let idx = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = bodies.get(idx) else { break };
                // Round-robin over the collectors, keeping each host on one of them.
                let endpoint = format!("{}/v1/ingest", urls[(idx % n_hosts) % urls.len()]);
                let sent = Instant::now();
                let response = http
                    .post(&endpoint)
                    .header("content-type", "application/msgpack")
                    .header("content-encoding", "zstd")
                    .body(body.clone())
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        accepted_samples.fetch_add(samples_per_batch as u64, Ordering::Relaxed);
                        local.push(sent.elapsed().as_micros() as u32);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(local);
        }));
    }
    for task in tasks {
        task.await?;
    }
    let wall = started.elapsed().as_secs_f64();
    let (cpu_after, rss) = fleet.collectors_usage();
    let pg_cpu = fleet.postgres_cpu() - pg_before;
    // One scrape of the whole fleet, after the load.
    let http = client();
    let mut scrape_ms = Vec::new();
    let mut scrape_bytes = 0;
    for _ in 0..5 {
        let scrape_started = Instant::now();
        let text = http
            .get(format!("{url}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        scrape_ms.push(scrape_started.elapsed().as_secs_f64() * 1_000.0);
        scrape_bytes = text.len();
    }
    scrape_ms.sort_by(f64::total_cmp);
    eprintln!(
        "scrape of /metrics: median {:.1} ms for {:.1} MiB ({} host series)",
        scrape_ms[2],
        scrape_bytes as f64 / 1_048_576.0,
        n_hosts * samples_per_batch
    );
    drop(fleet);
    let cpu = cpu_after - cpu_before;
    let samples = accepted_samples.load(Ordering::Relaxed) as f64;
    let n_errors = errors.load(Ordering::Relaxed);
    if next.load(Ordering::Relaxed) as usize >= bodies.len() {
        eprintln!("note: ran out of pre-encoded batches before the time was up");
    }
    let mut latencies = Arc::try_unwrap(latencies)
        .map(|m| m.into_inner().unwrap_or_default())
        .unwrap_or_default();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1_000.0
    };
    if n_errors > 0 {
        eprintln!("{n_errors} requests failed");
    }
    println!(
        "| {n_hosts} hosts × {samples_per_batch} samples/batch ({mean_body} B zstd), {collectors} collector(s) on {store:?} | {connections} | {wall:.1} s | {:.0} | {:.0} | {cpu:.2} s | {:.0} | {pg_cpu:.2} s | {:.2} / {:.2} ms | {:.1} MiB | {n_errors} |",
        samples / wall,
        samples / wall / samples_per_batch as f64,
        if cpu > 0.0 { samples / cpu } else { 0.0 },
        pct(0.5),
        pct(0.99),
        rss as f64 / 1_048_576.0,
    );
    if samples == 0.0 {
        bail!("no sample was accepted");
    }
    Ok(())
}

/// Serves the exposition of one target on `listener`: `series` gauges whose values move on every
/// scrape, over keep-alive HTTP/1.1.
async fn exposition_target(listener: tokio::net::TcpListener, target: usize, series: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 8192];
            let mut scrape = 0u64;
            loop {
                let mut filled = 0;
                while !buffer[..filled].windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer[filled..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => filled += n,
                    }
                    if filled == buffer.len() {
                        return;
                    }
                }
                scrape += 1;
                let mut body = String::with_capacity(series * 64);
                for i in 0..series {
                    let (name, label) = match i % 5 {
                        0 => ("cpu_core_usage_ratio", "cpu"),
                        1 => ("filesystem_used_bytes", "mountpoint"),
                        2 => ("network_receive_bytes_total", "interface"),
                        3 => ("pressure_avg10_ratio", "resource"),
                        _ => ("disk_io_time_seconds_total", "device"),
                    };
                    body.push_str(&format!(
                        "{name}{{{label}=\"{}\",env=\"bench\"}} {}\n",
                        i / 5,
                        scrape * 1_000 + (target + i) as u64
                    ));
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(body.as_bytes()).await.is_err()
                {
                    return;
                }
            }
        });
    }
}

/// The sum of every sample of `name` in a Prometheus text exposition.
fn exposition_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Debian's `prometheus` pinned to `cpu`, scraping `targets` loopback targets of `series` series
/// every `interval` seconds: CPU per appended sample over `seconds` after a warm-up.
async fn prometheus_scraping(
    targets: usize,
    series: usize,
    interval: f64,
    seconds: u64,
    cpu: usize,
) -> Result<()> {
    let binary = Path::new("/usr/bin/prometheus");
    if !binary.exists() {
        bail!("/usr/bin/prometheus not found: apt-get install -y prometheus");
    }
    let mut addresses = Vec::with_capacity(targets);
    for target in 0..targets {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        addresses.push(listener.local_addr()?.to_string());
        tokio::spawn(exposition_target(listener, target, series));
    }
    let tmp = tempfile::tempdir()?;
    let config = tmp.path().join("prometheus.yml");
    let quoted: Vec<String> = addresses.iter().map(|a| format!("'{a}'")).collect();
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: {interval}s\n  scrape_timeout: {interval}s\nscrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: [{}]\n",
            quoted.join(", ")
        ),
    )?;
    let port = free_port();
    let mut command = if vigil_e2e::bench::taskset_available() {
        let mut command = Command::new("taskset");
        command.arg("-c").arg(cpu.to_string()).arg(binary);
        command
    } else {
        Command::new(binary)
    };
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let process = Process::spawn("prometheus", command, tmp.path().join("prometheus.log"));
    let base = format!("http://127.0.0.1:{port}");
    if !vigil_e2e::bench::wait_ok(&format!("{base}/-/ready")).await {
        bail!("prometheus did not become ready: {}", process.log());
    }
    let http = client();
    let appended = || async {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        anyhow::Ok(exposition_sum(
            &text,
            "prometheus_tsdb_head_samples_appended_total",
        ))
    };
    // Warm-up: every target scraped a few times (series created), as the collector's first batch
    // of each host.
    tokio::time::sleep(Duration::from_secs_f64((interval * 5.0).max(10.0))).await;
    let (cpu_before, _) = proc_usage(process.pid()).context("read prometheus /proc")?;
    let samples_before = appended().await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let samples_after = appended().await?;
    let (cpu_after, rss) = proc_usage(process.pid()).context("read prometheus /proc")?;
    let wall = started.elapsed().as_secs_f64();
    let used = cpu_after - cpu_before;
    let samples = samples_after - samples_before;
    if samples <= 0.0 {
        bail!("prometheus appended no sample: {}", process.log());
    }
    // Each scrape also appends 5 series of its own (up, scrape_duration_seconds, ...).
    let exposed = samples * series as f64 / (series + 5) as f64;
    println!(
        "| prometheus {}: {targets} targets × {series} series, scraped every {interval}s | {wall:.1} s | {:.0} appended ({:.0} exposed) | {used:.2} s | **{:.0}** ({:.0} counting exposed samples only) | {:.1} MiB |",
        prometheus_version(),
        samples / wall,
        exposed / wall,
        samples / used,
        exposed / used,
        rss as f64 / 1_048_576.0
    );
    Ok(())
}

fn prometheus_version() -> String {
    Command::new("/usr/bin/prometheus")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.split_whitespace().nth(2).map(str::to_owned)
        })
        .unwrap_or_default()
}

/// `10`, `10s` or `1.5s` as seconds.
fn parse_seconds(text: &str) -> Result<f64, String> {
    text.strip_suffix('s')
        .unwrap_or(text)
        .parse::<f64>()
        .ok()
        .filter(|seconds| *seconds > 0.0 && seconds.is_finite())
        .ok_or_else(|| format!("{text:?} is not a duration: use seconds such as 10s"))
}

/// The load of `vigil-bench fleet`.
struct FleetLoad {
    hosts: usize,
    interval: f64,
    seconds: u64,
    collectors: usize,
    store: StoreKind,
    connections: usize,
    history_days: f64,
}

/// The samples of one real `vigil-agent --once` on this machine (its events and inventory left
/// out: agents send those rarely).
fn agent_samples(bin_dir: &Path) -> Result<Vec<Sample>> {
    let state = tempfile::tempdir()?;
    let output = Command::new(bin_dir.join("vigil-agent"))
        .args([
            "--once",
            "--collector",
            "http://127.0.0.1:9",
            "--host-id",
            "fleet-template",
        ])
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .context("run vigil-agent --once")?;
    if !output.status.success() {
        bail!(
            "vigil-agent --once failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let batch: Batch =
        serde_json::from_slice(&output.stdout).context("parse the vigil-agent --once batch")?;
    if batch.samples.is_empty() {
        bail!("vigil-agent --once sent no samples");
    }
    Ok(batch.samples)
}

/// One simulated agent's batch `seq`: the template samples with values that move per seq.
fn fleet_batch(host_idx: usize, seq: u64, template: &[Sample], time_ms: i64) -> Vec<u8> {
    let host_id = format!("fleet-{host_idx:05}");
    let samples = template
        .iter()
        .enumerate()
        .map(|(i, sample)| Sample {
            value: sample.value + (seq as f64) * (1 + (host_idx + i) % 7) as f64,
            time_ms: None,
            ..sample.clone()
        })
        .collect();
    encode_zstd_msgpack(&Batch {
        version: PROTOCOL_VERSION,
        agent: AgentInfo {
            hostname: host_id.clone(),
            host_id,
            version: "bench".into(),
            labels: Labels::from([("env".into(), "bench".into())]),
        },
        stream: 1,
        seq,
        time_ms,
        samples,
        events: vec![],
        inventory: None,
    })
}

/// Writes `days` of capacity history ending at `end_ms` for each of `hosts` simulated hosts
/// straight into the store, as the collector itself saves it: the series a real agent's
/// `template` feeds, filled at `interval_ms` with a slow growth and a daily cycle. One history is
/// built per resource and stored under every host (the collector restores each on the host's
/// first batch into its own memory, so the cost measured is the same as for distinct values).
fn seed_histories(
    location: &StoreLocation,
    template: &[Sample],
    hosts: usize,
    days: f64,
    interval_ms: i64,
    end_ms: i64,
) -> Result<()> {
    let started = Instant::now();
    let json = serde_json::to_string(template)?;
    let views: Vec<SampleView<'_>> = serde_json::from_str(&json)?;
    let readings = vigil_collector::capacity::readings::readings(&views);
    let mut tracker = Tracker::new(CapacityConfig::default());
    let points = (days * 86_400_000.0 / interval_ms.max(1) as f64) as i64;
    let labels = Labels::new();
    for i in 0..points {
        let time_ms = end_ms - (points - 1 - i) * interval_ms;
        let day = time_ms as f64 / 86_400_000.0;
        let moved = readings
            .iter()
            .map(|reading| Reading {
                used: reading.used
                    * (0.8 + 0.2 * (i as f64 / points as f64))
                    * (1.0 + 0.05 * (day * std::f64::consts::TAU).sin()),
                ..reading.clone()
            })
            .collect();
        tracker.observe("seed", &labels, time_ms, moved, time_ms);
    }
    // Last saved one `persist_every` ago: every series is due at the collector's first save
    // tick (its worst case: after a restart every series comes due at once), so the window
    // includes the saves that spread this over the next half `persist_every`, not only the
    // restore.
    let persist_every_ms = CapacityConfig::default().persist_every_ms;
    let seeds: Vec<HistoryRow> = tracker
        .histories(end_ms, true)
        .into_iter()
        .map(|row| HistoryRow {
            saved_ms: end_ms - persist_every_ms,
            ..row
        })
        .collect();
    let stored: usize = seeds.iter().map(|row| row.data.len()).sum();
    let cold: usize = seeds
        .iter()
        .flat_map(|row| &row.cold)
        .map(|part| part.data.len())
        .sum();
    eprintln!(
        "seeding {days} days of history: {} series per host ({stored} B stored per host, {cold} B more as {} cold parts) for {hosts} hosts...",
        seeds.len(),
        seeds.iter().map(|row| row.cold.len()).sum::<usize>(),
    );
    let mut opened = vigil_collector::store::open(location, &StoreOptions::default())
        .context("open the collectors' store to seed history")?;
    for first in (0..hosts).step_by(1_000) {
        let rows: Vec<HistoryRow> = (first..(first + 1_000).min(hosts))
            .flat_map(|host| {
                seeds.iter().map(move |seed| HistoryRow {
                    host_id: format!("fleet-{host:05}"),
                    ..seed.clone()
                })
            })
            .collect();
        opened.backend.begin()?;
        opened.backend.save_capacity(&[], &rows)?;
        opened.backend.commit()?;
    }
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn fleet(bin_dir: &Path, load: FleetLoad) -> Result<()> {
    let template = agent_samples(bin_dir)?;
    let interval = Duration::from_secs_f64(load.interval);
    // One interval of warm-up (every host sends its first batch), then the window.
    let rounds = ((load.seconds as f64 / load.interval).ceil() as usize) + 2;
    eprintln!(
        "pre-encoding {} batches of {} samples (the samples of vigil-agent --once)...",
        load.hosts * rounds,
        template.len()
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    // bodies[host][round]
    let bodies: Vec<Vec<Vec<u8>>> = (0..load.hosts)
        .map(|host| {
            (0..rounds)
                .map(|round| {
                    let time_ms = now_ms + (round as f64 * load.interval * 1_000.0) as i64;
                    fleet_batch(host, round as u64 + 1, &template, time_ms)
                })
                .collect()
        })
        .collect();
    let mean_body = bodies.iter().flatten().map(Vec::len).sum::<usize>() / (load.hosts * rounds);
    let bodies = Arc::new(bodies);

    let tmp = tempfile::tempdir()?;
    let fleet = Fleet::start(bin_dir, tmp.path(), load.store, load.collectors, "", None).await?;
    if load.history_days > 0.0 {
        let location = match &fleet.postgres {
            Some(pg) => StoreLocation::Postgres(PostgresUrl::new(pg.url("vigil_bench"))),
            None => StoreLocation::Sqlite(tmp.path().join("collector-0").join("vigil.db")),
        };
        let interval_ms = (load.interval * 1_000.0) as i64;
        // The store's PostgreSQL client blocks on a runtime of its own: not on this one's thread.
        tokio::task::block_in_place(|| {
            seed_histories(
                &location,
                &template,
                load.hosts,
                load.history_days,
                interval_ms,
                now_ms - interval_ms,
            )
        })?;
    }
    let urls = Arc::new(fleet.urls.clone());
    let errors = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let started = tokio::time::Instant::now();
    let end = started + interval.mul_f64(rounds as f64 - 1.0);
    let mut tasks = Vec::new();
    for connection in 0..load.connections {
        let (bodies, urls, errors, accepted) = (
            Arc::clone(&bodies),
            Arc::clone(&urls),
            Arc::clone(&errors),
            Arc::clone(&accepted),
        );
        let (n_hosts, n_connections) = (load.hosts, load.connections);
        tasks.push(tokio::spawn(async move {
            let http = client();
            // (latency µs, lateness µs) of each answered batch, with its send time.
            let mut answered = Vec::new();
            // When each failed batch was sent, and what came back.
            let mut failures: Vec<(Duration, String)> = Vec::new();
            // This connection's hosts, each at its own offset in the interval.
            let mine: Vec<usize> = (connection..n_hosts).step_by(n_connections).collect();
            'rounds: for round in 0..rounds {
                for &host in &mine {
                    let due =
                        started + interval.mul_f64(round as f64 + host as f64 / n_hosts as f64);
                    if due >= end {
                        break 'rounds;
                    }
                    tokio::time::sleep_until(due).await;
                    let sent = tokio::time::Instant::now();
                    let url = format!("{}/v1/ingest", urls[host % urls.len()]);
                    let response = http
                        .post(url)
                        .header("content-type", "application/msgpack")
                        .header("content-encoding", "zstd")
                        .body(bodies[host][round].clone())
                        .send()
                        .await;
                    match response {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            accepted.fetch_add(1, Ordering::Relaxed);
                            answered.push((
                                sent.duration_since(started),
                                sent.elapsed().as_micros() as u32,
                                sent.duration_since(due).as_micros() as u32,
                            ));
                        }
                        failed => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            let what = match failed {
                                Ok(response) => response.status().to_string(),
                                Err(error) if error.is_timeout() => "timed out".to_owned(),
                                Err(error) => error.to_string(),
                            };
                            failures.push((sent.duration_since(started), what));
                        }
                    }
                }
            }
            (answered, failures)
        }));
    }
    // The window: after the first interval, for `seconds`.
    tokio::time::sleep_until(started + interval).await;
    let (cpu_before, _) = fleet.collectors_usage();
    let pg_before = fleet.postgres_cpu();
    let accepted_before = accepted.load(Ordering::Relaxed);
    let window = Duration::from_secs(load.seconds);
    tokio::time::sleep_until(started + interval + window).await;
    let (cpu_after, rss) = fleet.collectors_usage();
    let pg_cpu = fleet.postgres_cpu() - pg_before;
    let in_window = accepted.load(Ordering::Relaxed) - accepted_before;
    let mut latencies = Vec::new();
    let mut lateness = Vec::new();
    let mut failures = Vec::new();
    for task in tasks {
        let (answered, failed) = task.await?;
        failures.extend(failed);
        for (at, latency, late) in answered {
            if at >= interval && at < interval + window {
                latencies.push(latency);
                lateness.push(late);
            }
        }
    }
    let (_, hosts) = client()
        .get(format!("{}/v1/hosts", fleet.urls[0]))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await
        .map(|hosts| ((), hosts))?;
    let known = hosts.as_array().map_or(0, Vec::len);
    drop(fleet);
    latencies.sort_unstable();
    lateness.sort_unstable();
    let pct = |values: &[u32], p: f64| {
        values
            .get(((values.len() as f64 * p) as usize).min(values.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1_000.0
    };
    let cpu = cpu_after - cpu_before;
    let seconds = window.as_secs_f64();
    let n_errors = errors.load(Ordering::Relaxed);
    println!(
        "| {} hosts every {}s × {} samples ({mean_body} B zstd), {} collector(s) on {:?} | {seconds:.0} s | {:.0} | {:.0} | {cpu:.2} s | **{:.3} cores** | **{:.1} MiB** | {pg_cpu:.2} s ({:.3} cores) | {:.2} / {:.2} ms | {:.2} ms | {known} | {n_errors} |",
        load.hosts,
        load.interval,
        template.len(),
        load.collectors,
        load.store,
        in_window as f64 / seconds,
        in_window as f64 * template.len() as f64 / seconds,
        cpu / seconds,
        rss as f64 / 1_048_576.0,
        pg_cpu / seconds,
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        pct(&lateness, 0.99),
    );
    if n_errors > 0 {
        failures.sort();
        for (at, what) in failures.iter().take(5) {
            eprintln!("a batch sent at {:.1} s failed: {what}", at.as_secs_f64());
        }
        if let Some((at, _)) = failures.last() {
            eprintln!(
                "the last failed batch was sent at {:.1} s",
                at.as_secs_f64()
            );
        }
        for index in 0..load.collectors {
            let log = tmp.path().join(format!("collector-{index}.log"));
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("collector {index}'s log, last lines:");
            for line in &lines[lines.len().saturating_sub(20)..] {
                eprintln!("  {line}");
            }
        }
        bail!("{n_errors} batches were refused or failed");
    }
    if load.collectors == 1 && known != load.hosts {
        bail!("the collector knows {known} hosts, expected {}", load.hosts);
    }
    Ok(())
}

/// Loopback peers for the agent's probes: an HTTP server answering 200 `ok`, a TCP listener that
/// accepts and closes, and a `sleep` with a unique argument (killed on drop).
struct ProbePeers {
    http_url: String,
    tcp_address: String,
    sleep_seconds: String,
    sleeper: std::process::Child,
}

impl ProbePeers {
    fn start() -> Result<ProbePeers> {
        use std::io::{Read, Write};
        let http = std::net::TcpListener::bind("127.0.0.1:0")?;
        let http_url = format!("http://{}/healthz", http.local_addr()?);
        std::thread::spawn(move || {
            for stream in http.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        let tcp_address = tcp.local_addr()?.to_string();
        std::thread::spawn(move || for _stream in tcp.incoming() {});
        let sleep_seconds = format!("{}.{}", 86_000 + std::process::id() % 400, 7);
        let sleeper = Command::new("sleep").arg(&sleep_seconds).spawn()?;
        Ok(ProbePeers {
            http_url,
            tcp_address,
            sleep_seconds,
            sleeper,
        })
    }

    /// An agent config with the three probes at `interval`.
    fn config(&self, interval: &str) -> String {
        format!(
            "[[probe]]\nname = \"web\"\nkind = \"http\"\ntarget = \"{}\"\ninterval = \"{interval}\"\ntimeout = \"500ms\"\n\
             [[probe]]\nname = \"db\"\nkind = \"tcp\"\ntarget = \"{}\"\ninterval = \"{interval}\"\ntimeout = \"500ms\"\n\
             [[probe]]\nname = \"worker\"\nkind = \"process\"\ntarget = '^sleep {}$'\ninterval = \"{interval}\"\ntimeout = \"500ms\"\n",
            self.http_url,
            self.tcp_address,
            self.sleep_seconds.replace('.', "\\."),
        )
    }
}

impl Drop for ProbePeers {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
    }
}

/// Time given to start-up and the first ticks before the measured window.
const AGENT_WARM_UP: Duration = Duration::from_secs(12);

async fn agent(bin_dir: &Path, seconds: u64, node_exporter: bool) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    let peers = ProbePeers::start()?;
    // The collector only receives; its own cost is not measured here.
    let collector = Collector::start_with_bin(&bin_dir.join("vigil-collector"), &data, &[]).await;
    let mut runs: Vec<(String, Process, Option<tokio::task::JoinHandle<()>>)> = Vec::new();
    for interval in ["1s", "10s"] {
        let state = tmp.path().join(format!("agent-{interval}"));
        let config = tmp.path().join(format!("agent-{interval}.toml"));
        std::fs::write(&config, peers.config(interval))?;
        let mut command = Command::new(bin_dir.join("vigil-agent"));
        command
            .arg("--config")
            .arg(&config)
            .args([
                "--collector",
                &collector.url,
                "--interval",
                interval,
                "--host-id",
            ])
            .arg(format!("bench-{interval}"))
            .arg("--state-dir")
            .arg(&state)
            .env("RUST_LOG", "warn");
        let process = Process::spawn(
            "vigil-agent",
            command,
            tmp.path().join(format!("agent-{interval}.log")),
        );
        runs.push((format!("vigil-agent, {interval}"), process, None));
    }
    if node_exporter {
        let exporter = Path::new("/usr/bin/prometheus-node-exporter");
        if !exporter.exists() {
            bail!(
                "{} not found: apt-get install prometheus-node-exporter",
                exporter.display()
            );
        }
        for interval in [1u64, 10] {
            let port = free_port();
            let mut command = Command::new(exporter);
            command.arg(format!("--web.listen-address=127.0.0.1:{port}"));
            let process = Process::spawn(
                "node_exporter",
                command,
                tmp.path().join(format!("ne-{interval}.log")),
            );
            let scraper = tokio::spawn(async move {
                let http = client();
                let mut ticker = tokio::time::interval(Duration::from_secs(interval));
                loop {
                    ticker.tick().await;
                    if let Ok(response) = http
                        .get(format!("http://127.0.0.1:{port}/metrics"))
                        .send()
                        .await
                    {
                        let _ = response.bytes().await;
                    }
                }
            });
            runs.push((
                format!("node_exporter, scraped every {interval}s"),
                process,
                Some(scraper),
            ));
        }
    }
    // Steady state: a baseline after start-up and the first 10 s tick and scrape, then the
    // window. The start-up (loading the binary, first full sample) is reported apart.
    tokio::time::sleep(AGENT_WARM_UP).await;
    println!(
        "| process | window | CPU in the window | % of a core | CPU before it (start-up, first {} s) | CPU total | peak RSS |",
        AGENT_WARM_UP.as_secs()
    );
    println!("|---|---|---|---|---|---|---|");
    let mut baselines = Vec::with_capacity(runs.len());
    for (name, process, _) in &runs {
        let (cpu, _) =
            proc_usage(process.pid()).with_context(|| format!("read /proc of {name}"))?;
        baselines.push(cpu);
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    for ((name, process, scraper), baseline) in runs.iter().zip(baselines) {
        let (cpu, rss) =
            proc_usage(process.pid()).with_context(|| format!("read /proc of {name}"))?;
        let steady = cpu - baseline;
        println!(
            "| {name} | {seconds} s | {steady:.3} s | {:.3} % | {baseline:.3} s | {cpu:.3} s | {:.2} MiB |",
            steady / seconds as f64 * 100.0,
            rss as f64 / 1_048_576.0
        );
        if let Some(scraper) = scraper {
            scraper.abort();
        }
    }
    let (_, exposition) = collector.get_text("/metrics").await;
    for interval in ["1s", "10s"] {
        for probe in ["web", "db", "worker"] {
            let up = exposition.lines().any(|line| {
                line.starts_with("vigil_probe_up{")
                    && line.contains(&format!("host=\"bench-{interval}\""))
                    && line.contains(&format!("probe=\"{probe}\""))
                    && line.ends_with(" 1")
            });
            if !up {
                bail!("vigil_probe_up of {probe} on bench-{interval} is not 1 at the collector");
            }
        }
    }
    let (_, hosts) = collector.get_json("/v1/hosts").await;
    let n_up = hosts
        .as_array()
        .map(|all| all.iter().filter(|h| h["up"] == true).count())
        .unwrap_or(0);
    if n_up != 2 {
        bail!("expected both agents up at the collector, got {hosts}");
    }
    // The probes ran and stayed up: a probe going down logs a warning.
    for interval in ["1s", "10s"] {
        let log = std::fs::read_to_string(tmp.path().join(format!("agent-{interval}.log")))?;
        if log.contains("probe down") {
            bail!("a probe of the {interval} agent went down:\n{log}");
        }
    }
    drop(peers);
    Ok(())
}

struct ReplayLoad {
    hosts: usize,
    switches: usize,
    events: usize,
    days: u32,
}

/// A small deterministic generator (xorshift64*): the same stream on every run.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Writes the replay's input (JSON lines) and config; returns the number of switch events.
fn write_replay_input(load: &ReplayLoad, input: &Path, config: &Path) -> Result<usize> {
    use std::io::Write as _;
    let mut toml = String::from("[topology.depends_on]\n");
    if load.switches > 0 {
        for host in 0..load.hosts {
            toml.push_str(&format!(
                "\"h-{host:05}\" = [\"sw-{:03}\"]\n",
                host % load.switches
            ));
        }
    }
    std::fs::write(config, toml).context("write the replay config")?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(input)?);
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    // 2026-11-01T00:00:00Z
    let start_s: i64 = 1_793_491_200;
    let span_s = i64::from(load.days) * 86_400;
    let mut switch_down = vec![false; load.switches];
    let mut switch_events = 0;
    for i in 0..load.events {
        let at = start_s + (i as i64 * span_s) / load.events.max(1) as i64;
        let time = vigil_shared::time::rfc3339(at * 1_000);
        // One event in 2,000 is a switch going down or coming back.
        let line = if load.switches > 0 && rng.below(2_000) == 0 {
            let switch = rng.below(load.switches);
            switch_down[switch] = !switch_down[switch];
            switch_events += 1;
            let status = if switch_down[switch] {
                "firing"
            } else {
                "resolved"
            };
            format!(
                r#"{{"source":"bench","host":"sw-{switch:03}","check":"host_down","status":"{status}","severity":"critical","summary":"switch down","time":"{time}"}}"#
            )
        } else {
            let host = rng.below(load.hosts);
            let check = rng.below(5);
            let status = if rng.below(10) < 7 {
                "firing"
            } else {
                "resolved"
            };
            format!(
                r#"{{"source":"bench","host":"h-{host:05}","check":"c{check}","status":"{status}","severity":"major","summary":"check c{check}","time":"{time}"}}"#
            )
        };
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(switch_events)
}

fn replay(bin_dir: &Path, load: ReplayLoad) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (input, config) = (
        tmp.path().join("events.jsonl"),
        tmp.path().join("replay.toml"),
    );
    let switch_events = write_replay_input(&load, &input, &config)?;
    eprintln!(
        "replaying {} events ({switch_events} of switches) from {} hosts over {} days...",
        load.events, load.hosts, load.days
    );
    let started = Instant::now();
    let output = Command::new(bin_dir.join("vigil-collector"))
        .arg("replay")
        .arg("--config")
        .arg(&config)
        .stdin(std::fs::File::open(&input)?)
        .output()
        .context("run vigil-collector replay")?;
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "vigil-collector replay failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    // SAFETY: getrusage writes the struct it is given; RUSAGE_CHILDREN covers the replay, the
    // only child this process has waited for.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    let stdout = String::from_utf8(output.stdout).context("replay output is not UTF-8")?;
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .context("the replay printed no summary line")?;
    let summary = &summary["summary"];
    if summary["events"].as_u64() != Some(load.events as u64) {
        bail!(
            "the replay counted {} events, not {}",
            summary["events"],
            load.events
        );
    }
    println!(
        "| replay: {} events, {} hosts, {} switches, {} days | {wall:.2} s | {cpu:.2} s | {:.1} µs | {:.1} MiB | {} | {} | {} |",
        load.events,
        load.hosts,
        load.switches,
        load.days,
        cpu / load.events.max(1) as f64 * 1e6,
        usage.ru_maxrss as f64 / 1024.0,
        summary["incidents"],
        summary["top_level_incidents"],
        summary["notifications_total"],
    );
    Ok(())
}
