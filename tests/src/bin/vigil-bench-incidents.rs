//! `vigil-bench-incidents`: the incident engine measurements behind BENCHMARKS.md, on a release
//! `vigil-collector` pinned to one core (`taskset`), durable (SQLite WAL, `synchronous=FULL`,
//! group commit):
//!
//! - CPU per new incident and per folded duplicate, with events sent as JSON arrays of 100 to
//!   `POST /v1/events` and as agent batches of 100 events (zstd msgpack to `POST /v1/ingest`);
//! - latency at 1,000 events/s: from sending one event to its 2xx (the incident is committed
//!   then), and from sending to a `GET /v1/incidents/{id}` that returns it;
//! - with `--alertmanager`, Debian's `prometheus-alertmanager` in the same run: CPU per distinct
//!   alert and per duplicate, alerts posted as arrays of 100 to `/api/v2/alerts`.
//!
//! With `--store postgres` the collectors share one PostgreSQL server the bench starts (fsync
//! on), and `--collectors N` starts N of them (not pinned) with the requests spread round-robin;
//! PostgreSQL's CPU (postmaster and backends) is reported beside the collectors'.
//!
//! Results print as Markdown table rows on stdout; `VIGIL_BENCH_SLOWEST=1` also lists the 40
//! slowest requests of the latency phase (with their send time) on stderr.

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_e2e::bench::{Fleet, StoreKind};
use vigil_e2e::{Process, client, encode_zstd_msgpack, free_port, proc_usage};
use vigil_shared::event::{Severity, Status};
use vigil_shared::wire::{AgentInfo, Batch, Event, PROTOCOL_VERSION};

#[derive(Parser)]
#[command(name = "vigil-bench-incidents", about = "Incident engine benchmark")]
struct Cli {
    /// Directory with a release build of vigil-collector.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Events per phase.
    #[arg(long, default_value_t = 50_000)]
    events: usize,
    /// Concurrent connections for the throughput phases.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds of the 1,000 events/s latency phase.
    #[arg(long, default_value_t = 20)]
    latency_seconds: u64,
    /// CPU the server under test is pinned to.
    #[arg(long, default_value_t = 1)]
    server_cpu: usize,
    /// Also measure prometheus-alertmanager (Debian package) in the same run.
    #[arg(long)]
    alertmanager: bool,
    /// The collector's `store_sync`: full (fsync per commit, the default) or normal.
    #[arg(long, default_value = "full")]
    store_sync: String,
    /// The store of the collectors.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: StoreKind,
    /// Collectors sharing the store (more than one needs `--store postgres`).
    #[arg(long, default_value_t = 1)]
    collectors: usize,
    /// Active silences to make before the phases (none of them covers the bench's events, so
    /// every event is checked against all of them).
    #[arg(long, default_value_t = 0)]
    silences: usize,
    /// Hosts in a `[topology.depends_on]` of the collector's config (the bench's hosts among
    /// them, behind switches that stay up), so every opening walks a real topology.
    #[arg(long, default_value_t = 0)]
    topology_hosts: usize,
    /// Service grouping off (`[grouping] by = []`): the bench's new incidents are one service
    /// on 50 hosts, so by default they fold into one service-level incident.
    #[arg(long)]
    no_grouping: bool,
}

/// A `[topology.depends_on]` of `hosts` hosts behind `hosts / 100` switches behind 2 cores; the
/// bench's event hosts (`web-N`, `bench-new`, `bench-dup`) are among them.
fn topology_config(hosts: usize) -> String {
    if hosts == 0 {
        return String::new();
    }
    let switches = (hosts / 100).max(1);
    let mut text = String::from("[topology.depends_on]\n");
    for i in 0..hosts {
        let name = if i < 50 {
            format!("web-{i}")
        } else {
            format!("host-{i}")
        };
        text.push_str(&format!("\"{name}\" = [\"switch-{}\"]\n", i % switches));
    }
    text.push_str("\"bench-new\" = [\"switch-0\"]\n\"bench-dup\" = [\"switch-0\"]\n");
    for s in 0..switches {
        text.push_str(&format!("\"switch-{s}\" = [\"core-{}\"]\n", s % 2));
    }
    text
}

/// Makes `n` silences that cover none of the bench's events (service `other-N`, for a day).
async fn make_silences(base: &str, n: usize) -> Result<()> {
    let http = client();
    let ends = vigil_shared::time::rfc3339(vigil_shared::time::now_ms() + 86_400_000);
    for i in 0..n {
        let response = http
            .post(format!("{base}/v1/silences"))
            .json(&serde_json::json!({
                "matchers": [
                    {"name": "service", "op": "=~", "value": format!("other-{i}|spare-{i}")},
                    {"name": "host", "op": "!=", "value": "nobody"}
                ],
                "ends_at": ends, "created_by": "bench", "comment": "bench silence"
            }))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("POST /v1/silences answered {}", response.status());
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let bin_dir = std::fs::canonicalize(&cli.bin_dir)
        .with_context(|| format!("bin dir {} (cargo build --release)", cli.bin_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&cli, &bin_dir))
}

fn pinned(cpu: usize, program: &Path) -> Command {
    let taskset = Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if taskset {
        let mut command = Command::new("taskset");
        command.arg("-c").arg(cpu.to_string()).arg(program);
        command
    } else {
        eprintln!("taskset not found: the server is not pinned");
        Command::new(program)
    }
}

async fn wait_ok(url: &str) -> Result<()> {
    let http = client();
    for _ in 0..400 {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not answer")
}

fn generic(check: &str, i: usize) -> serde_json::Value {
    serde_json::json!({
        "source": "bench", "host": format!("web-{}", i % 50), "service": "checkout",
        "check": check, "status": "firing", "severity": "major",
        "summary": "5xx rate above 5%", "labels": {"dc": "eu-1"}
    })
}

/// Sends `bodies` over `connections` keep-alive connections, round-robin over `urls`; returns
/// wall seconds.
async fn send_all(
    urls: &[String],
    bodies: Vec<(Vec<u8>, &'static str, Option<&'static str>)>,
    connections: usize,
) -> Result<f64> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (bodies, next, failed, urls) = (
            Arc::clone(&bodies),
            Arc::clone(&next),
            Arc::clone(&failed),
            urls.to_vec(),
        );
        tasks.push(tokio::spawn(async move {
            let http = client();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((body, content_type, encoding)) = bodies.get(index) else {
                    return;
                };
                let url = &urls[index % urls.len()];
                loop {
                    let mut request = http
                        .post(url.as_str())
                        .header("content-type", *content_type)
                        .body(body.clone());
                    if let Some(encoding) = encoding {
                        request = request.header("content-encoding", *encoding);
                    }
                    match request.send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            break;
                        }
                        Ok(response) if response.status().as_u16() == 503 => {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let n_failed = failed.load(Ordering::Relaxed);
    if n_failed > 0 {
        bail!("{n_failed} requests to {} failed", urls.join(", "));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// CPU seconds of the server(s) under test, their largest peak RSS, and PostgreSQL's CPU seconds.
type Usage<'a> = &'a dyn Fn() -> (f64, u64, f64);

/// Runs one phase and returns CPU µs per event of the server(s) under test.
async fn phase(
    label: &str,
    usage: Usage<'_>,
    urls: &[String],
    bodies: Vec<(Vec<u8>, &'static str, Option<&'static str>)>,
    n_events: usize,
    connections: usize,
) -> Result<f64> {
    let (before, _, pg_before) = usage();
    let wall = send_all(urls, bodies, connections).await?;
    let (after, rss, pg_after) = usage();
    let per_event = (after - before) * 1e6 / n_events as f64;
    let pg_per_event = (pg_after - pg_before) * 1e6 / n_events as f64;
    println!(
        "| {label} | {n_events} | {wall:.2} s | {:.0} | {:.2} s | **{per_event:.1} µs** | {pg_per_event:.1} µs | {:.1} MiB |",
        n_events as f64 / wall,
        after - before,
        rss as f64 / 1_048_576.0
    );
    Ok(per_event)
}

fn json_arrays(
    check: impl Fn(usize) -> String,
    n: usize,
) -> Vec<(Vec<u8>, &'static str, Option<&'static str>)> {
    (0..n.div_ceil(100))
        .map(|chunk| {
            let events: Vec<serde_json::Value> = (chunk * 100..((chunk + 1) * 100).min(n))
                .map(|i| generic(&check(i), i))
                .collect();
            (
                serde_json::to_vec(&events).expect("encode"),
                "application/json",
                None,
            )
        })
        .collect()
}

fn agent_batches(
    host: &str,
    check: impl Fn(usize) -> String,
    n: usize,
) -> Vec<(Vec<u8>, &'static str, Option<&'static str>)> {
    (0..n.div_ceil(100))
        .map(|chunk| {
            let batch = Batch {
                version: PROTOCOL_VERSION,
                agent: AgentInfo {
                    host_id: host.to_owned(),
                    hostname: host.to_owned(),
                    version: "bench".into(),
                    labels: [("env".to_owned(), "prod".to_owned())].into(),
                },
                stream: 1,
                seq: chunk as u64 + 1,
                time_ms: 0,
                samples: vec![],
                events: (chunk * 100..((chunk + 1) * 100).min(n))
                    .map(|i| Event {
                        check: check(i),
                        status: Status::Firing,
                        severity: Severity::Major,
                        summary: "log line matched".into(),
                        service: None,
                        labels: Default::default(),
                        time_ms: 0,
                        dedup_key: None,
                    })
                    .collect(),
                inventory: None,
            };
            (
                encode_zstd_msgpack(&batch),
                "application/msgpack",
                Some("zstd"),
            )
        })
        .collect()
}

async fn run(cli: &Cli, bin_dir: &Path) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut config = format!("store_sync = {:?}\n", cli.store_sync);
    if cli.no_grouping {
        config.push_str("[grouping]\nby = []\n");
    }
    config.push_str(&topology_config(cli.topology_hosts));
    let cpu = (cli.collectors == 1).then_some(cli.server_cpu);
    let fleet = Fleet::start(bin_dir, tmp.path(), cli.store, cli.collectors, &config, cpu).await?;
    let usage = || {
        let (cpu, rss) = fleet.collectors_usage();
        (cpu, rss, fleet.postgres_cpu())
    };
    let events_url: Vec<String> = fleet
        .urls
        .iter()
        .map(|u| format!("{u}/v1/events"))
        .collect();
    let ingest_url: Vec<String> = fleet
        .urls
        .iter()
        .map(|u| format!("{u}/v1/ingest"))
        .collect();
    if cli.silences > 0 {
        make_silences(&fleet.urls[0], cli.silences).await?;
    }
    let n = cli.events;
    let conns = cli.connections;
    println!(
        "silences: {}, topology hosts: {}",
        cli.silences, cli.topology_hosts
    );
    println!(
        "| phase ({} collector(s) on {:?}) | events | wall | events/s | server CPU | CPU per event | PostgreSQL CPU per event | peak RSS |",
        cli.collectors, cli.store
    );
    println!("|---|---|---|---|---|---|---|---|");
    phase(
        "vigil: new incidents, JSON arrays of 100",
        &usage,
        &events_url,
        json_arrays(|i| format!("new-{i}"), n),
        n,
        conns,
    )
    .await?;
    phase(
        "vigil: duplicates, JSON arrays of 100",
        &usage,
        &events_url,
        json_arrays(|_| "dup".to_owned(), n),
        n,
        conns,
    )
    .await?;
    phase(
        "vigil: new incidents, agent batches of 100",
        &usage,
        &ingest_url,
        agent_batches("bench-new", |i| format!("agent-new-{i}"), n),
        n,
        conns,
    )
    .await?;
    phase(
        "vigil: duplicates, agent batches of 100",
        &usage,
        &ingest_url,
        agent_batches("bench-dup", |_| "agent-dup".to_owned(), n),
        n,
        conns,
    )
    .await?;
    latency(&fleet.urls, cli.latency_seconds).await?;
    drop(fleet);
    if cli.alertmanager {
        alertmanager(cli, tmp.path()).await?;
    }
    Ok(())
}

/// 1,000 events/s, one event per request, each a new incident: send → 2xx, and send → GET finds it
/// (requests round-robin over `bases`).
async fn latency(bases: &[String], seconds: u64) -> Result<()> {
    let http = client();
    let total = seconds as usize * 1_000;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total);
    let started = Instant::now();
    for i in 0..total {
        ticker.tick().await;
        let http = http.clone();
        let base = bases[i % bases.len()].clone();
        tasks.push(tokio::spawn(async move {
            let body = generic(&format!("latency-{i}"), i);
            let sent = Instant::now();
            let response = http
                .post(format!("{base}/v1/events"))
                .json(&body)
                .send()
                .await
                .ok()?;
            if !response.status().is_success() {
                return None;
            }
            let answer: serde_json::Value = response.json().await.ok()?;
            let acked = sent.elapsed();
            let visible = if i % 10 == 0 {
                let id = answer["incident_id"].as_str()?.to_owned();
                let found = http
                    .get(format!("{base}/v1/incidents/{id}"))
                    .send()
                    .await
                    .ok()?;
                found.status().is_success().then(|| sent.elapsed())
            } else {
                None
            };
            Some((acked, visible, i))
        }));
    }
    let mut acked = Vec::new();
    let mut visible = Vec::new();
    let mut failed = 0;
    let mut slowest = Vec::new();
    for task in tasks {
        match task.await? {
            Some((a, v, i)) => {
                acked.push(a);
                visible.extend(v);
                slowest.push((a, i));
            }
            None => failed += 1,
        }
    }
    if std::env::var_os("VIGIL_BENCH_SLOWEST").is_some() {
        slowest.sort();
        for (latency, i) in slowest.iter().rev().take(40) {
            eprintln!(
                "slow: event {i} at {} ms: {:.2} ms",
                i,
                latency.as_secs_f64() * 1e3
            );
        }
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    acked.sort();
    visible.sort();
    let pct = |values: &[Duration], p: f64| {
        values
            .get(((values.len() as f64 * p) as usize).min(values.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    };
    println!();
    println!("| at {rate:.0} events/s, one event per request | p50 | p99 | samples | failed |");
    println!("|---|---|---|---|---|");
    println!(
        "| send → 2xx (incident committed) | {:.2} ms | {:.2} ms | {} | {failed} |",
        pct(&acked, 0.5),
        pct(&acked, 0.99),
        acked.len()
    );
    println!(
        "| send → `GET /v1/incidents/{{id}}` returns it | {:.2} ms | {:.2} ms | {} | |",
        pct(&visible, 0.5),
        pct(&visible, 0.99),
        visible.len()
    );
    if failed > 0 {
        bail!("{failed} latency requests failed");
    }
    Ok(())
}

async fn alertmanager(cli: &Cli, tmp: &Path) -> Result<()> {
    let binary = Path::new("/usr/bin/prometheus-alertmanager");
    if !binary.exists() {
        bail!("install prometheus-alertmanager (apt-get install -y prometheus-alertmanager)");
    }
    let config = tmp.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: void\n  group_by: ['...']\nreceivers:\n  - name: void\n",
    )?;
    let port = free_port();
    let mut command = pinned(cli.server_cpu, binary);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", tmp.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    let process = Process::spawn("alertmanager", command, tmp.join("alertmanager.log"));
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{base}/-/ready")).await?;
    let url = vec![format!("{base}/api/v2/alerts")];
    let pid = process.pid();
    let usage = move || {
        let (cpu, rss) = proc_usage(pid).unwrap_or_default();
        (cpu, rss, 0.0)
    };
    let alerts =
        |name: &dyn Fn(usize) -> String| -> Vec<(Vec<u8>, &'static str, Option<&'static str>)> {
            (0..cli.events.div_ceil(100))
                .map(|chunk| {
                    let alerts: Vec<serde_json::Value> = (chunk * 100
                    ..((chunk + 1) * 100).min(cli.events))
                    .map(|i| {
                        serde_json::json!({
                            "labels": {"alertname": name(i), "host": format!("web-{}", i % 50),
                                       "service": "checkout", "severity": "major", "dc": "eu-1"},
                            "annotations": {"summary": "5xx rate above 5%"}
                        })
                    })
                    .collect();
                    (
                        serde_json::to_vec(&alerts).expect("encode"),
                        "application/json",
                        None,
                    )
                })
                .collect()
        };
    phase(
        "alertmanager: distinct alerts, arrays of 100",
        &usage,
        &url,
        alerts(&|i| format!("new-{i}")),
        cli.events,
        cli.connections,
    )
    .await?;
    phase(
        "alertmanager: duplicates, arrays of 100",
        &usage,
        &url,
        alerts(&|_| "dup".to_owned()),
        cli.events,
        cli.connections,
    )
    .await?;
    Ok(())
}
