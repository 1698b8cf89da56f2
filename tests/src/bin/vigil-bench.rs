//! `vigil-bench`: the measurements behind BENCHMARKS.md, taken on real release binaries.
//!
//! - `ingest`: a load generator for 1,000 simulated hosts. It pre-encodes batches (zstd msgpack,
//!   as the agent sends them, each with a fresh seq), starts `vigil-collector` pinned to one core
//!   with `taskset`, posts over keep-alive HTTP from several connections for a fixed time, and
//!   reports accepted samples per second of wall time and per CPU-second of the collector.
//! - `agent`: runs `vigil-agent` at 1 s and 10 s intervals side by side for a fixed time against a
//!   collector, each with three probes at its own interval (http and tcp against loopback peers
//!   the bench starts, process against a `sleep` it spawns), and reports each one's CPU seconds
//!   and peak RSS (VmHWM); with `--node-exporter` it also runs Debian's
//!   `prometheus-node-exporter`, scraped at the same intervals, for comparison.
//!
//! Results print as Markdown table rows on stdout; BENCHMARKS.md records them with the machine.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_e2e::{Collector, Process, client, encode_zstd_msgpack, free_port, proc_usage};
use vigil_shared::labels::Labels;
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
        #[arg(long, default_value_t = 1)]
        collector_cpu: usize,
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
        } => runtime.block_on(ingest(
            &bin_dir,
            hosts,
            samples_per_batch,
            seconds,
            connections,
            collector_cpu,
        )),
        Bench::Agent {
            seconds,
            node_exporter,
        } => runtime.block_on(agent(&bin_dir, seconds, node_exporter)),
    }
}

fn simulated_batch(host_idx: usize, seq: u64, n_samples: usize) -> Batch {
    let host_id = format!("sim-{host_idx:05}");
    let samples = (0..n_samples)
        .map(|sample_idx| {
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
        })
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

fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn ingest(
    bin_dir: &Path,
    n_hosts: usize,
    samples_per_batch: usize,
    seconds: u64,
    connections: usize,
    collector_cpu: usize,
) -> Result<()> {
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
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    let port = free_port();
    let mut command = if taskset_available() {
        let mut command = Command::new("taskset");
        command
            .arg("-c")
            .arg(collector_cpu.to_string())
            .arg(bin_dir.join("vigil-collector"));
        command
    } else {
        eprintln!("taskset not found: the collector is not pinned");
        Command::new(bin_dir.join("vigil-collector"))
    };
    command
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data)
        .env("RUST_LOG", "warn");
    let process = Process::spawn("vigil-collector", command, tmp.path().join("collector.log"));
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url).await?;
    let pid = process.pid();
    let (cpu_before, _) = proc_usage(pid).context("read collector /proc")?;

    let next = Arc::new(AtomicU64::new(0));
    let accepted_samples = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (bodies, next, accepted_samples, errors, latencies) = (
            Arc::clone(&bodies),
            Arc::clone(&next),
            Arc::clone(&accepted_samples),
            Arc::clone(&errors),
            Arc::clone(&latencies),
        );
        let endpoint = format!("{url}/v1/ingest");
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut local = Vec::new();
            while Instant::now() < deadline {
                let idx = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = bodies.get(idx) else { break };
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
    let (cpu_after, rss) = proc_usage(pid).context("read collector /proc")?;
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
    drop(process);
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
        "| {n_hosts} hosts × {samples_per_batch} samples/batch ({mean_body} B zstd) | {connections} | {wall:.1} s | {:.0} | {:.0} | {cpu:.2} s | {:.0} | {:.2} / {:.2} ms | {:.1} MiB | {n_errors} |",
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

async fn wait_ready(url: &str) -> Result<()> {
    let http = client();
    for _ in 0..300 {
        if let Ok(response) = http.get(format!("{url}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not become ready")
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
