//! `vigil-bench-notify`: notification latency behind BENCHMARKS.md (issue 9) — from sending an
//! event to a local receiver getting the notification, at a fixed rate (1,000 events/s), one
//! event per request, each a new incident, on two peers in the same run:
//!
//! - **Vigil**: a release `vigil-collector` pinned to one core (`taskset`), the shipped SQLite
//!   store with `store_sync = "full"` (durable as shipped), one `[[sink]] kind = "webhook"`
//!   (signed) pointing to a receiver in this process; events go to `POST /v1/events`. For every
//!   `--outbox-check-every`-th event, right after its 2xx, `GET /v1/notifications?incident=ID`
//!   must list its `open` notification (the outbox row is committed with the incident): the bench
//!   fails if one does not.
//! - **Alertmanager**: Debian's `prometheus-alertmanager` pinned to the same core, a webhook
//!   receiver with `group_by: ['...']` (each alert its own group) and `group_wait: 0s`; alerts go
//!   to `POST /api/v2/alerts`, each with a new `alertname`.
//!
//! The receiver (axum, keep-alive HTTP/1.1) stamps each request when its body has arrived and
//! matches it to the event by check name / `alertname` (every alert of a batched webhook call
//! counts). Latency = arrival − the instant the POST was started. The server's CPU comes from
//! `/proc` over the measured seconds, until the last notification arrived. `--baseline` also
//! measures a collector without a sink (send → 2xx alone), to split the commit from delivery.
//!
//! Results print as Markdown table rows on stdout; `--slowest N` lists the N slowest
//! notifications per peer (with their send offset) on stderr.

use anyhow::{Context, Result, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use clap::Parser;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_e2e::bench::{Fleet, StoreKind, taskset_available, wait_ok};
use vigil_e2e::{Process, client, free_port, proc_usage};

#[derive(Parser)]
#[command(
    name = "vigil-bench-notify",
    about = "Notification latency: event POST → webhook receiver, Vigil against Alertmanager"
)]
struct Cli {
    /// Directory with a release build of vigil-collector.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Measured seconds per peer.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds at the same rate before measuring (not counted).
    #[arg(long, default_value_t = 3)]
    warmup_seconds: u64,
    /// Events (one per request) per second.
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// CPU the server under test is pinned to.
    #[arg(long, default_value_t = 1)]
    server_cpu: usize,
    /// Do not pin the servers.
    #[arg(long)]
    no_pin: bool,
    /// Check the outbox right after the 2xx of every N-th Vigil event (0: never).
    #[arg(long, default_value_t = 20)]
    outbox_check_every: usize,
    /// Skip Alertmanager.
    #[arg(long)]
    no_alertmanager: bool,
    /// Also measure a collector with no sink (send → 2xx only).
    #[arg(long)]
    baseline: bool,
    /// List the N slowest notifications of each peer on stderr.
    #[arg(long, default_value_t = 0)]
    slowest: usize,
    /// The collector's `store_sync`: full (fsync per commit, as shipped) or normal (profiling only:
    /// not durable across a power loss).
    #[arg(long, default_value = "full")]
    store_sync: String,
    /// More settings of the bench sink, TOML lines (e.g. `concurrency = 16`), for profiling.
    #[arg(long, default_value = "")]
    sink_extra: String,
    /// Longest wait for the last notifications after the load ends, in seconds.
    #[arg(long, default_value_t = 30)]
    drain_seconds: u64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let bin_dir = std::fs::canonicalize(&cli.bin_dir)
        .with_context(|| format!("bin dir {} (cargo build --release)", cli.bin_dir.display()))?;
    if cli.rate == 0 || cli.seconds == 0 {
        bail!("--rate and --seconds must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&cli, &bin_dir))
}

// ---------------------------------------------------------------------------------------------
// The receiver.

/// What the receiver saw: per event name, the arrival instants (more than one is a duplicate).
#[derive(Default)]
struct Arrivals {
    by_name: HashMap<String, Vec<Instant>>,
    requests: u64,
    unmatched: u64,
}

type Shared = Arc<Mutex<Arrivals>>;

/// A loopback webhook receiver that stamps every request when its body has arrived.
struct Receiver {
    address: SocketAddr,
    arrivals: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("bind the receiver on 127.0.0.1")?;
        let address = listener.local_addr()?;
        let arrivals = Shared::default();
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&arrivals));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            address,
            arrivals,
            server,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// How many of `names` have arrived at least once.
    fn count(&self, names: &[String]) -> usize {
        let arrivals = self.arrivals.lock().expect("receiver lock");
        names
            .iter()
            .filter(|name| arrivals.by_name.contains_key(*name))
            .count()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The event names a notification carries: Vigil's webhook body has `incident.check` (only its
/// `open` step counts); Alertmanager's has `alerts[].labels.alertname` (firing only).
fn names(body: &serde_json::Value) -> Vec<String> {
    if let Some(check) = body["incident"]["check"].as_str() {
        return if body["step"] == "open" {
            vec![check.to_owned()]
        } else {
            Vec::new()
        };
    }
    body["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .filter(|alert| alert["status"] != "resolved")
                .filter_map(|alert| alert["labels"]["alertname"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

async fn receive(State(arrivals): State<Shared>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let found = names(&value);
    let mut arrivals = arrivals.lock().expect("receiver lock");
    arrivals.requests += 1;
    if found.is_empty() {
        arrivals.unmatched += 1;
    }
    for name in found {
        arrivals.by_name.entry(name).or_default().push(at);
    }
    StatusCode::OK
}

// ---------------------------------------------------------------------------------------------
// The load.

/// Where the events go.
#[derive(Clone)]
enum Target {
    /// `POST base/v1/events`; every `check_every`-th event's outbox is checked after its 2xx.
    Vigil { base: String, check_every: usize },
    /// `POST base/api/v2/alerts`.
    Alertmanager { base: String },
}

/// One event as sent.
struct Sample {
    name: String,
    sent: Instant,
    /// Send → 2xx.
    acked: Duration,
    /// The outbox check, when this event was sampled: `Err` says what was found instead.
    outbox: Option<Result<(), String>>,
    /// Why the request failed (then `acked` is `Duration::MAX`).
    error: Option<String>,
}

/// Sends one event and, when it is sampled, checks the outbox right after its 2xx.
async fn send_one(http: reqwest::Client, target: Target, name: String, i: usize) -> Sample {
    let sent = Instant::now();
    let failed = |sent: Instant, name: String, why: String| Sample {
        name,
        sent,
        acked: Duration::MAX,
        outbox: None,
        error: Some(why),
    };
    match target {
        Target::Vigil { base, check_every } => {
            let body = serde_json::json!({
                "source": "bench", "host": format!("web-{}", i % 50), "service": "checkout",
                "check": name, "status": "firing", "severity": "major",
                "summary": "5xx rate above 5%", "labels": {"dc": "eu-1"}
            });
            let response = match http
                .post(format!("{base}/v1/events"))
                .json(&body)
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => response,
                Ok(response) => {
                    return failed(sent, name, format!("POST answered {}", response.status()));
                }
                Err(error) => return failed(sent, name, format!("POST failed: {error}")),
            };
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            let acked = sent.elapsed();
            let outbox = if check_every > 0 && i.is_multiple_of(check_every) {
                Some(check_outbox(&http, &base, &answer).await)
            } else {
                None
            };
            Sample {
                name,
                sent,
                acked,
                outbox,
                error: None,
            }
        }
        Target::Alertmanager { base } => {
            let body = serde_json::json!([{
                "labels": {"alertname": name, "host": format!("web-{}", i % 50),
                           "service": "checkout", "severity": "major", "dc": "eu-1"},
                "annotations": {"summary": "5xx rate above 5%"}
            }]);
            match http
                .post(format!("{base}/api/v2/alerts"))
                .json(&body)
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => {
                    let _ = response.bytes().await;
                    Sample {
                        name,
                        sent,
                        acked: sent.elapsed(),
                        outbox: None,
                        error: None,
                    }
                }
                Ok(response) => failed(sent, name, format!("POST answered {}", response.status())),
                Err(error) => failed(sent, name, format!("POST failed: {error}")),
            }
        }
    }
}

/// Right after the 2xx: the incident's `open` notification to the bench sink is in the outbox.
async fn check_outbox(
    http: &reqwest::Client,
    base: &str,
    answer: &serde_json::Value,
) -> Result<(), String> {
    let Some(id) = answer["incident_id"].as_str() else {
        return Err(format!("the 2xx named no incident: {answer}"));
    };
    let response = http
        .get(format!("{base}/v1/notifications?incident={id}"))
        .send()
        .await
        .map_err(|error| format!("GET /v1/notifications: {error}"))?;
    let status = response.status();
    let rows: serde_json::Value = response
        .json()
        .await
        .map_err(|error| format!("GET /v1/notifications ({status}): {error}"))?;
    let listed = rows.as_array().is_some_and(|rows| {
        rows.iter()
            .any(|row| row["step"] == "open" && row["sink"] == "bench" && row["incident_id"] == id)
    });
    if listed {
        Ok(())
    } else {
        Err(format!("incident {id}: the outbox listed {rows}"))
    }
}

/// Sends `count` events named `prefix-N` at `rate` per second (one request each, each started
/// on its tick whatever the answers before it).
async fn drive(target: &Target, prefix: &str, count: usize, rate: u64) -> Result<Vec<Sample>> {
    let http = client();
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        ticker.tick().await;
        tasks.push(tokio::spawn(send_one(
            http.clone(),
            target.clone(),
            format!("{prefix}-{i}"),
            i,
        )));
    }
    let mut samples = Vec::with_capacity(count);
    for task in tasks {
        samples.push(task.await?);
    }
    Ok(samples)
}

// ---------------------------------------------------------------------------------------------
// Measuring one peer.

/// What one peer measured.
struct Outcome {
    label: String,
    sent: usize,
    failed: usize,
    received: usize,
    duplicates: usize,
    /// Send → receiver, sorted.
    latency: Vec<Duration>,
    /// Send → 2xx, sorted.
    acked: Vec<Duration>,
    /// Receiver arrival − 2xx, ms (negative: the notification came first), sorted.
    after_ack: Vec<f64>,
    rate: f64,
    cpu_s: f64,
    wall_s: f64,
    rss: u64,
    outbox_checked: usize,
    outbox_failures: Vec<String>,
    /// The first failed request's error.
    first_error: Option<String>,
}

fn pct(values: &[Duration], p: f64) -> f64 {
    values
        .get(((values.len() as f64 * p) as usize).min(values.len().saturating_sub(1)))
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1_000.0)
}

/// Warm-up, then the measured load, then waits for the notifications (bounded).
async fn measure(
    cli: &Cli,
    label: &str,
    target: Target,
    pid: u32,
    receiver: Option<&Receiver>,
) -> Result<Outcome> {
    let rate = cli.rate;
    let warmup = (cli.warmup_seconds * rate) as usize;
    drive(&target, &format!("{label}-warm"), warmup, rate).await?;
    let count = (cli.seconds * rate) as usize;
    let (cpu_before, _) = proc_usage(pid).context("the server is gone")?;
    let started = Instant::now();
    let samples = drive(&target, &format!("{label}-n"), count, rate).await?;
    let load_wall = started.elapsed().as_secs_f64();
    let ok: Vec<&Sample> = samples
        .iter()
        .filter(|sample| sample.acked != Duration::MAX)
        .collect();
    let names: Vec<String> = ok.iter().map(|sample| sample.name.clone()).collect();
    if let Some(receiver) = receiver {
        // Bounded: the notifications still in flight when the load stopped.
        let deadline = Instant::now() + Duration::from_secs(cli.drain_seconds);
        while receiver.count(&names) < names.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let (cpu_after, rss) = proc_usage(pid).context("the server is gone")?;
    let mut latency = Vec::new();
    let mut after_ack = Vec::new();
    let mut duplicates = 0;
    let mut slow = Vec::new();
    if let Some(receiver) = receiver {
        let arrivals = receiver.arrivals.lock().expect("receiver lock");
        for sample in &ok {
            if let Some(times) = arrivals.by_name.get(&sample.name) {
                duplicates += times.len() - 1;
                let first = times.iter().min().expect("one arrival at least");
                let took = first.saturating_duration_since(sample.sent);
                latency.push(took);
                after_ack.push((took.as_secs_f64() - sample.acked.as_secs_f64()) * 1e3);
                slow.push((took, sample.sent.duration_since(started), &sample.name));
            }
        }
    }
    if cli.slowest > 0 {
        slow.sort();
        for (took, offset, name) in slow.iter().rev().take(cli.slowest) {
            eprintln!(
                "{label}: slow notification {name} sent at {:.3} s: {:.2} ms",
                offset.as_secs_f64(),
                took.as_secs_f64() * 1e3
            );
        }
    }
    let received = latency.len();
    latency.sort();
    after_ack.sort_by(f64::total_cmp);
    let mut acked: Vec<Duration> = ok.iter().map(|sample| sample.acked).collect();
    acked.sort();
    let checked: Vec<&Result<(), String>> = samples
        .iter()
        .filter_map(|sample| sample.outbox.as_ref())
        .collect();
    Ok(Outcome {
        label: label.to_owned(),
        sent: count,
        failed: count - ok.len(),
        received,
        duplicates,
        latency,
        acked,
        after_ack,
        rate: count as f64 / load_wall,
        cpu_s: cpu_after - cpu_before,
        wall_s,
        rss,
        outbox_checked: ok.iter().filter(|sample| sample.outbox.is_some()).count(),
        outbox_failures: checked
            .into_iter()
            .filter_map(|check| check.as_ref().err().cloned())
            .collect(),
        first_error: samples.iter().find_map(|sample| sample.error.clone()),
    })
}

fn pinned(cli: &Cli, program: &Path) -> Command {
    if !cli.no_pin && taskset_available() {
        let mut command = Command::new("taskset");
        command
            .arg("-c")
            .arg(cli.server_cpu.to_string())
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

async fn vigil(cli: &Cli, bin_dir: &Path, sink: bool) -> Result<Outcome> {
    let tmp = tempfile::tempdir()?;
    let receiver = Receiver::start().await?;
    // Every event its own page, as Alertmanager's `group_by: ['...']` with `group_wait: 0s`.
    let mut config = format!("store_sync = {:?}\n[grouping]\nby = []\n", cli.store_sync);
    if sink {
        let secret = tmp.path().join("hook-secret");
        std::fs::write(&secret, "bench-signing-secret")?;
        config.push_str(&format!(
            "[[sink]]\nname = \"bench\"\nkind = \"webhook\"\nurl = {:?}\nsecret_file = {:?}\n{}\n",
            receiver.url("/hook"),
            secret.display().to_string(),
            cli.sink_extra
        ));
    }
    let cpu = (!cli.no_pin).then_some(cli.server_cpu);
    let fleet = Fleet::start(bin_dir, tmp.path(), StoreKind::Sqlite, 1, &config, cpu).await?;
    let target = Target::Vigil {
        base: fleet.urls[0].clone(),
        check_every: if sink { cli.outbox_check_every } else { 0 },
    };
    let label = if sink { "vigil" } else { "vigil-nosink" };
    let pid = fleet.collectors[0].pid();
    let outcome = measure(cli, label, target, pid, sink.then_some(&receiver)).await;
    if outcome.is_err() {
        eprintln!("collector log:\n{}", fleet.collectors[0].log());
    }
    outcome
}

async fn alertmanager(cli: &Cli) -> Result<Outcome> {
    let binary = Path::new("/usr/bin/prometheus-alertmanager");
    if !binary.exists() {
        bail!(
            "/usr/bin/prometheus-alertmanager not found: apt-get install -y prometheus-alertmanager (or pass --no-alertmanager)"
        );
    }
    let tmp = tempfile::tempdir()?;
    let receiver = Receiver::start().await?;
    let config = tmp.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 5m\n  repeat_interval: 4h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: '{}'\n        send_resolved: false\n",
            receiver.url("/alertmanager")
        ),
    )?;
    let port = free_port();
    let mut command = pinned(cli, binary);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            tmp.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    let log = tmp.path().join("alertmanager.log");
    let process = Process::spawn("alertmanager", command, log);
    let base = format!("http://127.0.0.1:{port}");
    if !wait_ok(&format!("{base}/-/ready")).await {
        bail!(
            "alertmanager did not answer /-/ready within 20 s; its log:\n{}",
            process.log()
        );
    }
    let outcome = measure(
        cli,
        "alertmanager",
        Target::Alertmanager { base },
        process.pid(),
        Some(&receiver),
    )
    .await;
    if outcome.is_err() {
        eprintln!("alertmanager log:\n{}", process.log());
    }
    outcome
}

fn row(outcome: &Outcome) -> String {
    let has_notifications = !outcome.latency.is_empty();
    let cell = |p: f64| {
        if has_notifications {
            format!("{:.2} ms", pct(&outcome.latency, p))
        } else {
            "—".to_owned()
        }
    };
    format!(
        "| {} | {:.0} | {} | {} | {} | {} | **{}** | {} | **{}** | {} | {:.2} / {:.2} ms | {} | {:.2} s | {:.1} µs | {:.2} | {:.1} MiB |",
        outcome.label,
        outcome.rate,
        outcome.sent,
        outcome.failed,
        if has_notifications {
            outcome.received.to_string()
        } else {
            "—".to_owned()
        },
        outcome.duplicates,
        cell(0.5),
        cell(0.9),
        cell(0.99),
        if has_notifications {
            format!(
                "{:.2} ms",
                outcome
                    .latency
                    .last()
                    .map_or(0.0, |d| d.as_secs_f64() * 1e3)
            )
        } else {
            "—".to_owned()
        },
        pct(&outcome.acked, 0.5),
        pct(&outcome.acked, 0.99),
        if has_notifications {
            let at = |p: f64| {
                let values = &outcome.after_ack;
                values[((values.len() as f64 * p) as usize).min(values.len() - 1)]
            };
            format!("{:+.2} / {:+.2} ms", at(0.5), at(0.99))
        } else {
            "—".to_owned()
        },
        outcome.cpu_s,
        outcome.cpu_s * 1e6 / outcome.sent as f64,
        outcome.cpu_s / outcome.wall_s,
        outcome.rss as f64 / 1_048_576.0,
    )
}

async fn run(cli: &Cli, bin_dir: &Path) -> Result<()> {
    let mut outcomes = vec![vigil(cli, bin_dir, true).await?];
    if cli.baseline {
        outcomes.push(vigil(cli, bin_dir, false).await?);
    }
    if !cli.no_alertmanager {
        outcomes.push(alertmanager(cli).await?);
    }
    println!(
        "| peer | events/s | sent | failed | notified | duplicates | p50 | p90 | p99 | max | send → 2xx p50 / p99 | 2xx → notified p50 / p99 | server CPU | CPU per event | cores | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for outcome in &outcomes {
        println!("{}", row(outcome));
    }
    let vigil = &outcomes[0];
    if let Some(am) = outcomes.iter().find(|o| o.label == "alertmanager") {
        println!();
        println!(
            "Vigil ÷ Alertmanager: p50 {:.2}×, p90 {:.2}×, p99 {:.2}×, CPU per event {:.2}×",
            pct(&vigil.latency, 0.5) / pct(&am.latency, 0.5),
            pct(&vigil.latency, 0.9) / pct(&am.latency, 0.9),
            pct(&vigil.latency, 0.99) / pct(&am.latency, 0.99),
            vigil.cpu_s / am.cpu_s,
        );
    }
    println!();
    println!(
        "Outbox before the 2xx: {} of {} sampled Vigil events (every {}th) listed their `open` notification in `GET /v1/notifications?incident=ID` right after the 2xx.",
        vigil.outbox_checked - vigil.outbox_failures.len(),
        vigil.outbox_checked,
        cli.outbox_check_every
    );
    let mut problems = Vec::new();
    for outcome in &outcomes {
        if outcome.failed > 0 {
            problems.push(format!(
                "{}: {} of {} requests failed, the first: {}",
                outcome.label,
                outcome.failed,
                outcome.sent,
                outcome.first_error.as_deref().unwrap_or("?")
            ));
        }
        let expected = outcome.sent - outcome.failed;
        if !outcome.latency.is_empty() && outcome.received < expected {
            problems.push(format!(
                "{}: {} of {expected} notifications arrived within {} s after the load",
                outcome.label, outcome.received, cli.drain_seconds
            ));
        }
    }
    if vigil.outbox_checked == 0 && cli.outbox_check_every > 0 {
        problems.push("vigil: no event's outbox was checked".to_owned());
    }
    for failure in vigil.outbox_failures.iter().take(5) {
        problems.push(format!(
            "vigil: a notification was not in the outbox at the 2xx: {failure}"
        ));
    }
    if vigil.duplicates > 0 {
        problems.push(format!(
            "vigil: {} notifications arrived twice",
            vigil.duplicates
        ));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}
