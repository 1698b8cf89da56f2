//! `vigil-bench-noise`: noise reduction on real alert streams behind BENCHMARKS.md (issue 10) —
//! the same alerts replayed through Vigil (`vigil-collector replay`) and, in the same run,
//! through the real Alertmanager (Debian's `prometheus-alertmanager`), pages counted and scored
//! against the streams' ground truth.
//!
//! Streams (`tests/fixtures/noise/`, with their provenance):
//!
//! - **AIT** (`ait_russellmitchell_alerts.csv.zst`): 45,544 IDS alerts over 4 days, sorted by
//!   time (stable). One alert per row: host = `host`, check / `alertname` = `short`, source =
//!   the detector (`wazuh`, `suricata`, `aminer`), service = the host's role ([`ait_service`]).
//!   IDS alerts are one-shot: Vigil resolves them after `--quiet` without a repeat
//!   (`[incidents.auto_resolve]`), Alertmanager gets each alert with `endsAt` = post + quiet,
//!   as Prometheus sends a firing alert with an `endsAt` a few evaluations ahead.
//!   Truth: `time_label` (an attack phase, or `false_positive` = background noise).
//! - **MS** (`ms/outbound-01..23.csv`): hourly latency of one middle-tier service towards its
//!   dependencies, with expert labels. The labels are the detector: a series fires at every
//!   labelled hour (Alertmanager: `endsAt` 90 min ahead, refreshed each hour) and resolves at
//!   the first unlabelled hour (Alertmanager: `endsAt` = now). Service `middle-tier-api`, check
//!   `latency:outbound-NN`; host = one per dependency (`dep-NN`, `outbound-01` the service's own
//!   `middle-tier-api`) or, with `--ms-hosts one`, `middle-tier-api` for all. Outages = the
//!   labelled runs of the overall series `outbound-01`, derived from the data.
//!
//! Vigil: the generated collector configs ([`vigil_config`], one per [`Variant`]: no grouping,
//! `[grouping]` by service, and `[grouping.novelty]` on top; `--grouping` / `--novelty` replay
//! one of them, `--vigil-config FILE` replaces them) and `replay --assignments`. A **page** is
//! a notification with step `open`, `reopen`, `escalate` or `novel` (novelty paging's page of a
//! service-level incident already paged); `update` and `resolve` are not pages.
//!
//! Alertmanager: one process per stream and factor, with two routes side by side (`continue`),
//! `group_by: [alertname, host]` and `group_by: [service]`, each to its own webhook receiver in
//! this process with `send_resolved: false`; every POST to a receiver is a page. Alertmanager
//! runs on the wall clock, so the stream is replayed **time-compressed** by a factor K: alert
//! times, `endsAt`, `group_wait` 30 s, `group_interval` 5 m, `repeat_interval` 4 h, the alert
//! GC and the notification log's retention are all divided by K. Stretches where no alert is
//! active (and the groups have had two `group_interval`s to flush) are cut to one minute of
//! stream time ([`Timeline`]). Each stream runs at two factors (`--ait-factors`,
//! `--ms-factors`) so the table shows whether compression changes the counts.
//!
//! Scoring, the same rules for both systems ([`score`]): a page **covers** the stream rows of
//! its incident or group's current episode — Vigil: the rows whose assignment is the paged
//! top-level incident, after its last resolve and up to the page; Alertmanager: the rows of the
//! alerts the POST carries (same labels), from each alert's `startsAt` up to the page (± 50 ms
//! of wall time and the worst post lateness, read back through the compression). A page
//! is background noise when it covers no attack row (AIT) or falls outside every outage window
//! (MS, window + [`GRACE_MS`]). An attack phase is **paged** when a page between its first row
//! and its last row + [`GRACE_MS`] covers one of its rows. Per outage: pages in the window and
//! incidents — Vigil: the top-level incidents the outage's firing events ended in;
//! Alertmanager: the groups notified in the window.
//!
//! Prints Markdown on stdout, progress on stderr.

use anyhow::{Context, Result, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use clap::Parser;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_e2e::bench::wait_ok;
use vigil_e2e::{Process, client, free_port};
use vigil_shared::time::{now_ms, parse_rfc3339, rfc3339};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// A phase's pages may come this long after its last alert; an outage's after its end.
const GRACE_MS: i64 = 5 * MINUTE;
/// Alertmanager's timers before compression.
const GROUP_WAIT_MS: i64 = 30_000;
const GROUP_INTERVAL_MS: i64 = 5 * MINUTE;
const REPEAT_INTERVAL_MS: i64 = 4 * HOUR;
/// Alertmanager's defaults for the alert GC and the notification log, before compression.
const ALERT_GC_MS: i64 = 30 * MINUTE;
const RETENTION_MS: i64 = 120 * HOUR;
/// A firing MS series is sent to Alertmanager with `endsAt` this far ahead (refreshed hourly).
const MS_HOLD_MS: i64 = 90 * MINUTE;
/// An idle stretch is cut to this much stream time.
const IDLE_KEEP_MS: i64 = MINUTE;
/// The service of the MS stream.
const MS_SERVICE: &str = "middle-tier-api";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StreamName {
    /// The AIT IDS alerts.
    Ait,
    /// The Microsoft dependency-latency series.
    Ms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum MsHosts {
    /// `dep-NN` per dependency (the overall series on `middle-tier-api`).
    PerDependency,
    /// `middle-tier-api` for every series.
    One,
}

#[derive(Parser)]
#[command(
    name = "vigil-bench-noise",
    about = "Noise reduction on real alert streams: Vigil's replay against Alertmanager"
)]
struct Cli {
    /// Directory with a build of vigil-collector (debug is fine: the replay is not timed).
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// The fixtures (`tests/fixtures/noise`, relative to the workspace root).
    #[arg(long, default_value = "tests/fixtures/noise")]
    fixtures: PathBuf,
    /// Streams to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ait,ms")]
    streams: Vec<StreamName>,
    /// Alertmanager time-compression factors for AIT (stream seconds per wall second).
    #[arg(long, value_delimiter = ',', default_value = "2000,4000")]
    ait_factors: Vec<f64>,
    /// Alertmanager time-compression factors for MS.
    #[arg(long, value_delimiter = ',', default_value = "7200,14400")]
    ms_factors: Vec<f64>,
    /// The quiet time after which a one-shot AIT alert resolves, on both sides.
    #[arg(long, default_value = "5m")]
    quiet: String,
    /// Hosts of the MS series.
    #[arg(long, value_enum, default_value = "per-dependency")]
    ms_hosts: MsHosts,
    /// Replay with this collector config instead of the generated one (give it the same
    /// `[incidents.auto_resolve]` for `W-*`, `S-*`, `A-*` as `--quiet`, or the IDS incidents
    /// never resolve).
    #[arg(long, value_name = "FILE")]
    vigil_config: Option<PathBuf>,
    /// Replay only the generated config with `[grouping] by = ["service"], window = "5m",
    /// wait = "30s"` (without this, `--novelty` or `--vigil-config`, every variant is replayed:
    /// no grouping, grouping by service, grouping with novelty paging).
    #[arg(long)]
    grouping: bool,
    /// Replay only the generated config with grouping and `[grouping.novelty]` (novelty
    /// paging: `quiet = "5h"`, `factor = 16`, `decay = "7d"`, `interval = "5m"`).
    #[arg(long)]
    novelty: bool,
    /// Only Vigil.
    #[arg(long)]
    no_alertmanager: bool,
    /// The Alertmanager binary.
    #[arg(long, default_value = "/usr/bin/prometheus-alertmanager")]
    alertmanager: PathBuf,
    /// Keep the events, configs and outputs here.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let quiet_ms = vigil_shared::parse_duration(&cli.quiet)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|error| anyhow::anyhow!("--quiet {}: {error}", cli.quiet))?;
    if quiet_ms <= 0 {
        bail!("--quiet must be more than 0");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&cli, quiet_ms))
}

// ---------------------------------------------------------------------------------------------
// Streams.

/// The labels of one alert, the same on both sides (Vigil's fingerprint fields; Alertmanager's
/// labels with `alertname` = check).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    source: String,
    host: String,
    service: String,
    check: String,
}

/// One input: a firing or resolved alert at a time.
#[derive(Clone, Debug)]
struct Item {
    at_ms: i64,
    key: usize,
    firing: bool,
    /// AIT: index into `Stream::phases` (0 = background); MS: 0.
    truth: usize,
}

/// A stream with its truth.
struct Stream {
    name: &'static str,
    keys: Vec<Key>,
    /// Per key: the summary text.
    summaries: Vec<String>,
    severity: &'static str,
    /// Sorted by time (stable).
    items: Vec<Item>,
    /// How far past a firing item Alertmanager's `endsAt` is.
    hold_ms: i64,
    /// AIT: `false_positive` first, then the attack phases by first alert.
    phases: Vec<String>,
    /// MS: the outage windows `[start, end)`.
    outages: Vec<(i64, i64)>,
}

impl Stream {
    fn key_index(keys: &mut Vec<Key>, index: &mut HashMap<Key, usize>, key: Key) -> usize {
        if let Some(&i) = index.get(&key) {
            return i;
        }
        keys.push(key.clone());
        index.insert(key, keys.len() - 1);
        keys.len() - 1
    }

    /// Rows of each phase: (first ms, last ms, rows).
    fn phase_spans(&self) -> Vec<(i64, i64, usize)> {
        let mut spans = vec![(i64::MAX, i64::MIN, 0); self.phases.len()];
        for item in &self.items {
            let span = &mut spans[item.truth];
            span.0 = span.0.min(item.at_ms);
            span.1 = span.1.max(item.at_ms);
            span.2 += 1;
        }
        spans
    }
}

/// The service an operator would give each AIT host: its role.
fn ait_service(host: &str) -> String {
    match host {
        "mail" | "davey_mail" | "morris_mail" => "mail",
        "webserver" | "intranet_server" => "web",
        "cloud_share" | "internal_share" => "files",
        "inet-firewall" | "vpn" | "inet-dns" => "edge",
        other => other,
    }
    .to_owned()
}

fn load_ait(fixtures: &Path, quiet_ms: i64) -> Result<Stream> {
    let path = fixtures.join("ait_russellmitchell_alerts.csv.zst");
    let packed = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    let text = vigil_collector::ingest::decode::decompress(
        &packed,
        vigil_collector::ingest::decode::Encoding::Zstd,
        16 << 20,
    )
    .with_context(|| format!("decompress {}", path.display()))?;
    let text = std::str::from_utf8(&text).context("the AIT CSV is not UTF-8")?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty AIT CSV")?.split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("no column {name} in the AIT CSV"))
    };
    let (c_time, c_name, c_host, c_short, c_label) = (
        column("time")?,
        column("name")?,
        column("host")?,
        column("short")?,
        column("time_label")?,
    );
    let mut keys = Vec::new();
    let mut index = HashMap::new();
    let mut summaries: Vec<String> = Vec::new();
    let mut phases = vec!["false_positive".to_owned()];
    let mut items = Vec::new();
    for (number, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let field = |i: usize| {
            fields
                .get(i)
                .copied()
                .with_context(|| format!("AIT row {}: too few fields", number + 2))
        };
        let seconds: f64 = field(c_time)?
            .parse()
            .with_context(|| format!("AIT row {}: bad time", number + 2))?;
        let name = field(c_name)?;
        let source = name
            .split(':')
            .next()
            .unwrap_or("ids")
            .trim()
            .to_ascii_lowercase();
        let host = field(c_host)?.to_owned();
        let key = Key {
            source,
            service: ait_service(&host),
            host,
            check: field(c_short)?.to_owned(),
        };
        let k = Stream::key_index(&mut keys, &mut index, key);
        if k == summaries.len() {
            summaries.push(name.to_owned());
        }
        let label = field(c_label)?;
        let truth = match phases.iter().position(|p| p == label) {
            Some(i) => i,
            None => {
                phases.push(label.to_owned());
                phases.len() - 1
            }
        };
        items.push(Item {
            at_ms: (seconds * 1000.0).round() as i64,
            key: k,
            firing: true,
            truth,
        });
    }
    items.sort_by_key(|item| item.at_ms);
    // Phases in order of their first alert (background first).
    let mut first = vec![i64::MAX; phases.len()];
    for item in &items {
        first[item.truth] = first[item.truth].min(item.at_ms);
    }
    let mut order: Vec<usize> = (1..phases.len()).collect();
    order.sort_by_key(|&p| first[p]);
    order.insert(0, 0);
    let mut renumber = vec![0; phases.len()];
    for (new, &old) in order.iter().enumerate() {
        renumber[old] = new;
    }
    let phases = order.iter().map(|&old| phases[old].clone()).collect();
    for item in &mut items {
        item.truth = renumber[item.truth];
    }
    Ok(Stream {
        name: "AIT",
        keys,
        summaries,
        severity: "warning",
        items,
        hold_ms: quiet_ms,
        phases,
        outages: Vec::new(),
    })
}

/// One MS series: hourly (time ms, labelled).
fn read_ms_series(path: &Path) -> Result<Vec<(i64, bool)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut points = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("TimeStamp") {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
        let (Some(time), Some(label)) = (fields.first(), fields.get(2)) else {
            bail!("{}: bad row {line:?}", path.display());
        };
        let at = parse_rfc3339(time).with_context(|| format!("{}: bad time", path.display()))?;
        points.push((at, *label == "1"));
    }
    Ok(points)
}

/// Labelled runs of a series: `[first labelled hour, first unlabelled hour after it)`.
fn labelled_runs(points: &[(i64, bool)]) -> Vec<(i64, i64)> {
    let mut runs = Vec::new();
    let mut start = None;
    for &(at, labelled) in points {
        match (labelled, start) {
            (true, None) => start = Some(at),
            (false, Some(s)) => {
                runs.push((s, at));
                start = None;
            }
            _ => {}
        }
    }
    if let (Some(s), Some(&(last, _))) = (start, points.last()) {
        runs.push((s, last + HOUR));
    }
    runs
}

fn load_ms(fixtures: &Path, hosts: MsHosts) -> Result<Stream> {
    let mut keys = Vec::new();
    let mut summaries = Vec::new();
    let mut items = Vec::new();
    let mut outages = Vec::new();
    for n in 1..=23 {
        let name = format!("outbound-{n:02}");
        let points = read_ms_series(&fixtures.join("ms").join(format!("{name}.csv")))?;
        if n == 1 {
            outages = labelled_runs(&points);
        }
        let host = match (hosts, n) {
            (MsHosts::One, _) | (MsHosts::PerDependency, 1) => MS_SERVICE.to_owned(),
            (MsHosts::PerDependency, _) => format!("dep-{n:02}"),
        };
        keys.push(Key {
            source: "ms-expert-labels".to_owned(),
            host,
            service: MS_SERVICE.to_owned(),
            check: format!("latency:{name}"),
        });
        summaries.push(if n == 1 {
            "overall outbound latency labelled anomalous".to_owned()
        } else {
            format!("latency to dependency {name} labelled anomalous")
        });
        let k = keys.len() - 1;
        let mut firing = false;
        for &(at, labelled) in &points {
            if labelled || firing {
                items.push(Item {
                    at_ms: at,
                    key: k,
                    firing: labelled,
                    truth: 0,
                });
            }
            firing = labelled;
        }
        if firing && let Some(&(last, _)) = points.last() {
            items.push(Item {
                at_ms: last + HOUR,
                key: k,
                firing: false,
                truth: 0,
            });
        }
    }
    items.sort_by_key(|item| item.at_ms);
    Ok(Stream {
        name: "MS",
        keys,
        summaries,
        severity: "major",
        items,
        hold_ms: MS_HOLD_MS,
        phases: vec!["background".to_owned()],
        outages,
    })
}

// ---------------------------------------------------------------------------------------------
// Pages and scores.

/// One page, whichever system sent it.
struct Page {
    /// Stream time.
    at_ms: i64,
    /// Vigil: the top-level incident; Alertmanager: the group key.
    unit: String,
    /// Stream rows (firing items) of the paged episode, see the module doc.
    covered: Vec<usize>,
}

/// What one system did on one stream.
struct Outcome {
    system: String,
    factor: Option<f64>,
    pages: Vec<Page>,
    /// Vigil: `update` notifications (not pages).
    updates: Option<usize>,
    /// Vigil: per item, the top-level incident it ended in.
    assignments: Option<Vec<String>>,
    wall_s: f64,
    /// Alertmanager: the worst lateness of a post behind its schedule, stream seconds.
    lag_stream_s: Option<f64>,
}

/// Scores of one outcome.
struct Score {
    pages: usize,
    noise: usize,
    phases_paged: Vec<bool>,
    /// Per outage: (incidents, pages).
    per_outage: Vec<(usize, usize)>,
    uncovered: usize,
}

fn in_outage(stream: &Stream, at_ms: i64) -> Option<usize> {
    stream
        .outages
        .iter()
        .position(|&(start, end)| at_ms >= start && at_ms <= end + GRACE_MS)
}

fn score(stream: &Stream, outcome: &Outcome) -> Score {
    let spans = stream.phase_spans();
    let mut phases_paged = vec![false; stream.phases.len()];
    let mut noise = 0;
    let mut uncovered = 0;
    let mut per_outage = vec![(0, 0); stream.outages.len()];
    let mut outage_units: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); stream.outages.len()];
    for page in &outcome.pages {
        if page.covered.is_empty() {
            uncovered += 1;
        }
        let is_noise = if stream.outages.is_empty() {
            page.covered.iter().all(|&row| stream.items[row].truth == 0)
        } else {
            in_outage(stream, page.at_ms).is_none()
        };
        if is_noise {
            noise += 1;
        }
        if let Some(o) = in_outage(stream, page.at_ms) {
            per_outage[o].1 += 1;
            outage_units[o].insert(&page.unit);
        }
        for &row in &page.covered {
            let phase = stream.items[row].truth;
            let (first, last, _) = spans[phase];
            if phase != 0 && page.at_ms >= first && page.at_ms <= last + GRACE_MS {
                phases_paged[phase] = true;
            }
        }
    }
    for (o, &(start, end)) in stream.outages.iter().enumerate() {
        per_outage[o].0 = match &outcome.assignments {
            // Vigil: the top-level incidents the outage's firing events ended in.
            Some(assignments) => stream
                .items
                .iter()
                .zip(assignments)
                .filter(|(item, id)| {
                    item.firing && item.at_ms >= start && item.at_ms < end && !id.is_empty()
                })
                .map(|(_, id)| id.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
            // Alertmanager: the groups notified in the window.
            None => outage_units[o].len(),
        };
    }
    Score {
        pages: outcome.pages.len(),
        noise,
        phases_paged,
        per_outage,
        uncovered,
    }
}

// ---------------------------------------------------------------------------------------------
// Vigil.

/// Vigil's variants: without grouping, grouping by service, grouping with novelty paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plain,
    Grouping,
    Novelty,
}

impl Variant {
    fn system(self) -> &'static str {
        match self {
            Variant::Plain => "Vigil, no grouping",
            Variant::Grouping => "Vigil, grouping by service",
            Variant::Novelty => "Vigil, grouping by service + novelty paging",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Grouping => "grouping",
            Variant::Novelty => "novelty",
        }
    }
}

/// The collector config the streams are replayed with.
fn vigil_config(quiet: &str, variant: Variant) -> String {
    let grouping = variant != Variant::Plain;
    let mut text = format!(
        "# vigil-bench-noise: the collector config both streams are replayed with.\n\
         # One-shot IDS alerts (AIT checks W-*, S-*, A-*) resolve after the same quiet time\n\
         # Alertmanager's endsAt gives them; the MS latency checks resolve by their events.\n\
         [incidents.auto_resolve]\n\
         \"W-*\" = \"{quiet}\"\n\
         \"S-*\" = \"{quiet}\"\n\
         \"A-*\" = \"{quiet}\"\n\
         \n\
         # One pager; updates are listed too (they are not pages).\n\
         [[sink]]\n\
         name = \"pager\"\n\
         kind = \"webhook\"\n\
         url = \"http://pager.invalid/hook\"\n\
         steps = [\"open\", \"update\", \"escalate\", \"reopen\", \"resolve\", \"novel\"]\n"
    );
    if grouping {
        text.push_str(
            "\n# Service grouping: one service incident for a key's incidents on several hosts.\n\
             [grouping]\n\
             by = [\"service\"]\n\
             window = \"5m\"\n\
             wait = \"30s\"\n",
        );
    }
    if variant == Variant::Plain {
        text.push_str(
            "\n# No grouping (service grouping is on by default): one incident per alert and host.\n\
             [grouping]\n\
             by = []\n",
        );
    }
    if variant == Variant::Novelty {
        text.push_str(
            "\n# Novelty paging: the service incident forms with its first member and pages only\n\
             # for an episode whose check had not fired for quiet + factor x its decayed past\n\
             # firing time; at most one page per interval.\n\
             [grouping.novelty]\n\
             quiet = \"5h\"\n\
             factor = 16\n\
             decay = \"7d\"\n\
             interval = \"5m\"\n",
        );
    }
    text
}

/// The generic event of one item (SPEC shape, `time` set).
fn vigil_event(stream: &Stream, item: &Item) -> serde_json::Value {
    let key = &stream.keys[item.key];
    serde_json::json!({
        "source": key.source,
        "host": key.host,
        "service": key.service,
        "check": key.check,
        "status": if item.firing { "firing" } else { "resolved" },
        "severity": stream.severity,
        "summary": stream.summaries[item.key],
        "time": rfc3339(item.at_ms),
    })
}

fn run_vigil(
    cli: &Cli,
    stream: &Stream,
    dir: &Path,
    (system, variant_tag, config): (&str, &str, &str),
) -> Result<Outcome> {
    let started = Instant::now();
    let tag = format!("{}-{variant_tag}", stream.name.to_ascii_lowercase());
    let config_path = dir.join(format!("vigil-{tag}.toml"));
    std::fs::write(&config_path, config)?;
    let events_path = dir.join(format!("events-{tag}.jsonl"));
    let mut events = std::io::BufWriter::new(std::fs::File::create(&events_path)?);
    for item in &stream.items {
        writeln!(events, "{}", vigil_event(stream, item))?;
    }
    events.flush()?;
    drop(events);
    let assignments_path = dir.join(format!("assignments-{tag}.txt"));
    let binary = cli.bin_dir.join("vigil-collector");
    let output = Command::new(&binary)
        .arg("replay")
        .arg("--config")
        .arg(&config_path)
        .arg("--assignments")
        .arg(&assignments_path)
        .stdin(std::fs::File::open(&events_path)?)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| {
            format!(
                "run {} (cargo build -p vigil-collector --bin vigil-collector)",
                binary.display()
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("grouping") {
            " (grouping and novelty paging need a vigil-collector that has them)"
        } else {
            ""
        };
        bail!(
            "vigil-collector replay failed ({}){hint}: {}",
            output.status,
            stderr.trim()
        );
    }
    std::fs::write(
        dir.join(format!("notifications-{tag}.jsonl")),
        &output.stdout,
    )?;
    let assignments: Vec<String> = std::fs::read_to_string(&assignments_path)?
        .lines()
        .map(str::to_owned)
        .collect();
    if assignments.len() != stream.items.len() {
        bail!(
            "replay wrote {} assignments for {} events",
            assignments.len(),
            stream.items.len()
        );
    }
    // Rows per top-level incident, by time.
    let mut rows_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (row, id) in assignments.iter().enumerate() {
        if !id.is_empty() && stream.items[row].firing {
            rows_of.entry(id.as_str()).or_default().push(row);
        }
    }
    let mut resolves: HashMap<String, Vec<i64>> = HashMap::new();
    let mut raw_pages = Vec::new();
    let mut updates = 0;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("replay printed a line that is not JSON: {line}"))?;
        if value.get("summary").is_some() {
            continue;
        }
        let at = value["at"]
            .as_str()
            .and_then(parse_rfc3339)
            .with_context(|| format!("replay line without a time: {line}"))?;
        let id = value["incident_id"].as_str().unwrap_or_default().to_owned();
        match value["step"].as_str().unwrap_or_default() {
            "open" | "reopen" | "escalate" | "novel" => raw_pages.push((at, id)),
            "resolve" => resolves.entry(id).or_default().push(at),
            "update" => updates += 1,
            _ => {}
        }
    }
    let pages = raw_pages
        .into_iter()
        .map(|(at, id)| {
            let after = resolves
                .get(&id)
                .and_then(|times| times.iter().filter(|&&t| t < at).max().copied())
                .unwrap_or(i64::MIN);
            let covered = rows_of
                .get(id.as_str())
                .map(|rows| {
                    rows.iter()
                        .copied()
                        .filter(|&row| {
                            let t = stream.items[row].at_ms;
                            t > after && t <= at
                        })
                        .collect()
                })
                .unwrap_or_default();
            Page {
                at_ms: at,
                unit: id,
                covered,
            }
        })
        .collect();
    Ok(Outcome {
        system: system.to_owned(),
        factor: None,
        pages,
        updates: Some(updates),
        assignments: Some(assignments),
        wall_s: started.elapsed().as_secs_f64(),
        lag_stream_s: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Alertmanager.

/// Stream time ↔ wall time of a compressed run: piecewise linear through anchors, 1/K inside
/// the active stretches, idle stretches cut to [`IDLE_KEEP_MS`].
struct Timeline {
    /// (stream ms, wall ms), both increasing.
    anchors: Vec<(i64, f64)>,
    factor: f64,
}

impl Timeline {
    /// `active`: stream intervals during which something may happen in Alertmanager.
    fn new(mut active: Vec<(i64, i64)>, factor: f64) -> Timeline {
        active.sort();
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for (start, end) in active {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let mut anchors = Vec::new();
        let mut wall = 0.0;
        let mut previous_end: Option<i64> = None;
        for (start, end) in merged {
            match previous_end {
                // A second of stream time before the first post.
                None => {
                    anchors.push((start - 1_000, 0.0));
                    wall = 1_000.0 / factor;
                }
                Some(previous) => wall += (start - previous).min(IDLE_KEEP_MS) as f64 / factor,
            }
            anchors.push((start, wall));
            wall += (end - start) as f64 / factor;
            anchors.push((end, wall));
            previous_end = Some(end);
        }
        anchors.dedup_by_key(|(stream, _)| *stream);
        Timeline { anchors, factor }
    }

    fn wall(&self, stream_ms: i64) -> f64 {
        let i = self.anchors.partition_point(|&(s, _)| s <= stream_ms);
        if i == 0 {
            return self.anchors.first().map_or(0.0, |a| a.1);
        }
        let (s0, w0) = self.anchors[i - 1];
        match self.anchors.get(i) {
            Some(&(s1, w1)) => w0 + (stream_ms - s0) as f64 * (w1 - w0) / (s1 - s0) as f64,
            None => w0 + (stream_ms - s0) as f64 / self.factor,
        }
    }

    fn stream(&self, wall_ms: f64) -> i64 {
        let i = self.anchors.partition_point(|&(_, w)| w <= wall_ms);
        if i == 0 {
            return self.anchors.first().map_or(0, |a| a.0);
        }
        let (s0, w0) = self.anchors[i - 1];
        match self.anchors.get(i) {
            Some(&(s1, w1)) if w1 > w0 => {
                s0 + ((wall_ms - w0) * (s1 - s0) as f64 / (w1 - w0)).round() as i64
            }
            _ => s0 + ((wall_ms - w0) * self.factor).round() as i64,
        }
    }

    fn total_wall_ms(&self) -> f64 {
        self.anchors.last().map_or(0.0, |a| a.1)
    }
}

/// Webhook requests as received: (path, arrival Unix ms, body).
type Arrivals = Arc<Mutex<Vec<(String, i64, serde_json::Value)>>>;

async fn receive(State(arrivals): State<Arrivals>, uri: Uri, body: Bytes) -> StatusCode {
    let at = now_ms();
    let value = serde_json::from_slice(&body).unwrap_or_default();
    arrivals
        .lock()
        .expect("receiver lock")
        .push((uri.path().to_owned(), at, value));
    StatusCode::OK
}

/// A duration divided by K, as Alertmanager parses it (whole milliseconds, at least 1).
fn scaled(ms: i64, factor: f64) -> String {
    let ms = ((ms as f64 / factor).round() as i64).max(1);
    match ms {
        _ if ms % HOUR == 0 => format!("{}h", ms / HOUR),
        _ if ms % MINUTE == 0 => format!("{}m", ms / MINUTE),
        _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

/// The Alertmanager config: two routes side by side, one per grouping.
fn alertmanager_config(factor: f64, hook: &str) -> String {
    format!(
        "# vigil-bench-noise: timers are 30s / 5m / 4h divided by the compression factor {factor}.\n\
         route:\n  receiver: by-alert-host\n  group_wait: {wait}\n  group_interval: {interval}\n  repeat_interval: {repeat}\n  routes:\n\
         \x20   - receiver: by-alert-host\n      group_by: [alertname, host]\n      continue: true\n\
         \x20   - receiver: by-service\n      group_by: [service]\n\
         receivers:\n\
         \x20 - name: by-alert-host\n    webhook_configs:\n      - url: '{hook}/alert-host'\n        send_resolved: false\n\
         \x20 - name: by-service\n    webhook_configs:\n      - url: '{hook}/service'\n        send_resolved: false\n",
        wait = scaled(GROUP_WAIT_MS, factor),
        interval = scaled(GROUP_INTERVAL_MS, factor),
        repeat = scaled(REPEAT_INTERVAL_MS, factor),
    )
}

/// One post to Alertmanager: an item with its `endsAt` in stream time.
struct Post {
    at_ms: i64,
    key: usize,
    ends_ms: i64,
}

/// Runs one stream through Alertmanager at factor K; one outcome per route.
async fn run_alertmanager(
    cli: &Cli,
    stream: &Stream,
    dir: &Path,
    factor: f64,
) -> Result<Vec<Outcome>> {
    let posts: Vec<Post> = stream
        .items
        .iter()
        .map(|item| Post {
            at_ms: item.at_ms,
            key: item.key,
            ends_ms: if item.firing {
                item.at_ms + stream.hold_ms
            } else {
                item.at_ms
            },
        })
        .collect();
    // Active: from each post to its endsAt, plus two group intervals to flush.
    let flush = 2 * GROUP_INTERVAL_MS + GROUP_WAIT_MS;
    let timeline = Timeline::new(
        posts
            .iter()
            .map(|post| (post.at_ms, post.ends_ms + flush))
            .collect(),
        factor,
    );
    eprintln!(
        "{}: Alertmanager at K = {factor}: about {:.0} s of wall time",
        stream.name,
        timeline.total_wall_ms() / 1e3
    );
    let tag = format!("{}-{factor}", stream.name.to_ascii_lowercase());
    let run_dir = dir.join(format!("alertmanager-{tag}"));
    std::fs::create_dir_all(&run_dir)?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("bind the webhook receiver")?;
    let hook = format!("http://{}", listener.local_addr()?);
    let arrivals = Arrivals::default();
    let app = axum::Router::new()
        .fallback(receive)
        .with_state(Arc::clone(&arrivals));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let config_path = run_dir.join("alertmanager.yml");
    std::fs::write(&config_path, alertmanager_config(factor, &hook))?;
    let port = free_port();
    let mut command = Command::new(&cli.alertmanager);
    command
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.path={}", run_dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg(format!("--data.retention={}", scaled(RETENTION_MS, factor)))
        .arg(format!(
            "--alerts.gc-interval={}",
            scaled(ALERT_GC_MS, factor)
        ));
    let process = Process::spawn("alertmanager", command, run_dir.join("alertmanager.log"));
    let base = format!("http://127.0.0.1:{port}");
    if !wait_ok(&format!("{base}/-/ready")).await {
        bail!(
            "alertmanager did not answer /-/ready within 20 s; its log:\n{}",
            process.log()
        );
    }

    let http = client();
    let started = Instant::now();
    let origin_unix = now_ms();
    let mut lag_ms: f64 = 0.0;
    let mut i = 0;
    while i < posts.len() {
        let due = timeline.wall(posts[i].at_ms);
        tokio::time::sleep_until(
            tokio::time::Instant::from_std(started) + Duration::from_secs_f64(due.max(0.0) / 1e3),
        )
        .await;
        let now_wall = started.elapsed().as_secs_f64() * 1e3;
        lag_ms = lag_ms.max(now_wall - due);
        // Everything due by now, the newest post of each alert.
        let mut batch: BTreeMap<usize, &Post> = BTreeMap::new();
        while i < posts.len() && timeline.wall(posts[i].at_ms) <= now_wall + 0.5 {
            batch.insert(posts[i].key, &posts[i]);
            i += 1;
        }
        let now_unix = now_ms();
        let alerts: Vec<serde_json::Value> = batch
            .values()
            .map(|post| {
                let key = &stream.keys[post.key];
                let hold = ((post.ends_ms - post.at_ms) as f64 / factor).round() as i64;
                let (starts, ends) = if hold > 0 {
                    (now_unix, now_unix + hold)
                } else {
                    (now_unix - 1, now_unix)
                };
                serde_json::json!({
                    "labels": {
                        "alertname": key.check, "host": key.host, "service": key.service,
                        "source": key.source, "severity": stream.severity,
                    },
                    "annotations": {"summary": stream.summaries[post.key]},
                    "startsAt": rfc3339(starts),
                    "endsAt": rfc3339(ends),
                })
            })
            .collect();
        let response = http
            .post(format!("{base}/api/v2/alerts"))
            .json(&alerts)
            .send()
            .await
            .context("POST /api/v2/alerts")?;
        if !response.status().is_success() {
            let status = response.status();
            bail!(
                "alertmanager answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
    }
    // Drain: the last alerts' endsAt, the flushes after it, and a margin.
    let last_end = posts.iter().map(|post| post.ends_ms).max().unwrap_or(0);
    let until = timeline.wall(last_end + flush) + 1_000.0;
    tokio::time::sleep_until(
        tokio::time::Instant::from_std(started) + Duration::from_secs_f64(until / 1e3),
    )
    .await;
    let wall_s = started.elapsed().as_secs_f64();
    drop(process);
    server.abort();

    let received = std::mem::take(&mut *arrivals.lock().expect("receiver lock"));
    let mut log = std::io::BufWriter::new(std::fs::File::create(run_dir.join("webhooks.jsonl"))?);
    for (path, at, body) in &received {
        writeln!(
            log,
            "{}",
            serde_json::json!({"path": path, "at": rfc3339(*at), "body": body})
        )?;
    }
    log.flush()?;
    let key_of: HashMap<(&str, &str), usize> = stream
        .keys
        .iter()
        .enumerate()
        .map(|(i, key)| ((key.check.as_str(), key.host.as_str()), i))
        .collect();
    let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); stream.keys.len()];
    for (row, item) in stream.items.iter().enumerate() {
        if item.firing {
            rows_of[item.key].push(row);
        }
    }
    // How far a `startsAt` read back may be off, stream ms: 50 ms of wall time and the worst
    // lateness of a post.
    let tolerance = ((50.0 + lag_ms) * factor) as i64;
    let to_stream = |unix_ms: i64| timeline.stream((unix_ms - origin_unix) as f64);
    let mut outcomes = Vec::new();
    for (path, system) in [
        ("/alert-host", "Alertmanager, group_by [alertname, host]"),
        ("/service", "Alertmanager, group_by [service]"),
    ] {
        let mut pages = Vec::new();
        for (_, at, body) in received.iter().filter(|(p, _, _)| p == path) {
            let at_ms = to_stream(*at);
            let mut covered = Vec::new();
            for alert in body["alerts"].as_array().into_iter().flatten() {
                if alert["status"] == "resolved" {
                    continue;
                }
                let labels = &alert["labels"];
                let Some(&key) = key_of.get(&(
                    labels["alertname"].as_str().unwrap_or_default(),
                    labels["host"].as_str().unwrap_or_default(),
                )) else {
                    continue;
                };
                let starts = alert["startsAt"]
                    .as_str()
                    .and_then(parse_rfc3339)
                    .map_or(i64::MIN, to_stream);
                covered.extend(rows_of[key].iter().copied().filter(|&row| {
                    let t = stream.items[row].at_ms;
                    t >= starts.saturating_sub(tolerance) && t <= at_ms + tolerance
                }));
            }
            if body["alerts"]
                .as_array()
                .is_some_and(|alerts| alerts.iter().any(|a| a["status"] != "resolved"))
            {
                pages.push(Page {
                    at_ms,
                    unit: body["groupKey"].as_str().unwrap_or_default().to_owned(),
                    covered,
                });
            }
        }
        outcomes.push(Outcome {
            system: system.to_owned(),
            factor: Some(factor),
            pages,
            updates: None,
            assignments: None,
            wall_s,
            lag_stream_s: Some(lag_ms * factor / 1e3),
        });
    }
    Ok(outcomes)
}

// ---------------------------------------------------------------------------------------------
// Report.

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

fn print_stream(stream: &Stream, outcomes: &[Outcome]) -> Vec<String> {
    let scores: Vec<Score> = outcomes.iter().map(|o| score(stream, o)).collect();
    let spans = stream.phase_spans();
    let attack: Vec<usize> = (1..stream.phases.len()).collect();
    println!(
        "### {} — {} events ({} firing), {} distinct alerts (label sets)\n",
        stream.name,
        stream.items.len(),
        stream.items.iter().filter(|item| item.firing).count(),
        stream.keys.len()
    );
    if stream.outages.is_empty() {
        println!(
            "| system | K | pages | from background noise | attack phases paged | updates (not pages) | wall | worst post lag |"
        );
        println!("|---|---|---|---|---|---|---|---|");
    } else {
        let windows: Vec<String> = stream
            .outages
            .iter()
            .map(|&(s, e)| format!("{} – {}", &rfc3339(s)[..16], &rfc3339(e)[11..16]))
            .collect();
        println!(
            "Outages (labelled runs of `outbound-01`): {}\n",
            windows.join(", ")
        );
        println!(
            "| system | K | pages | outside the outages | per outage: incidents / pages | updates (not pages) | wall | worst post lag |"
        );
        println!("|---|---|---|---|---|---|---|---|");
    }
    for (outcome, score) in outcomes.iter().zip(&scores) {
        let k = outcome.factor.map_or("—".to_owned(), |k| format!("{k:.0}"));
        let lag = outcome
            .lag_stream_s
            .map_or("—".to_owned(), |s| format!("{s:.0} s of stream"));
        let updates = outcome.updates.map_or("—".to_owned(), |u| u.to_string());
        let middle = if stream.outages.is_empty() {
            format!(
                "{} of {}",
                attack.iter().filter(|&&p| score.phases_paged[p]).count(),
                attack.len()
            )
        } else {
            score
                .per_outage
                .iter()
                .map(|(incidents, pages)| format!("{incidents} / {pages}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| {} | {k} | **{}** | {} ({}) | {middle} | {updates} | {:.1} s | {lag} |",
            outcome.system,
            score.pages,
            score.noise,
            percent(score.noise, score.pages),
            outcome.wall_s,
        );
    }
    println!();
    if !stream.outages.is_empty() || outcomes.is_empty() {
        return targets(stream, outcomes, &scores);
    }
    // AIT: which phase each system paged.
    let mut header = String::from("| phase | alerts | first (UTC) | span |");
    let mut rule = String::from("|---|---|---|---|");
    for outcome in outcomes {
        let k = outcome
            .factor
            .map_or(String::new(), |k| format!(" K={k:.0}"));
        header.push_str(&format!(" {}{k} |", outcome.system));
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
    for &p in &attack {
        let (first, last, count) = spans[p];
        let mut line = format!(
            "| {} | {count} | {} | {} s |",
            stream.phases[p],
            &rfc3339(first)[..19],
            (last - first) / 1000
        );
        for score in &scores {
            line.push_str(if score.phases_paged[p] {
                " paged |"
            } else {
                " **missed** |"
            });
        }
        println!("{line}");
    }
    println!();
    targets(stream, outcomes, &scores)
}

/// The issue's targets for one stream, as lines of text.
fn targets(stream: &Stream, outcomes: &[Outcome], scores: &[Score]) -> Vec<String> {
    let mut lines = Vec::new();
    let best_am = outcomes
        .iter()
        .zip(scores)
        .filter(|(o, _)| o.factor.is_some())
        .map(|(_, s)| s.pages)
        .min();
    for (outcome, score) in outcomes.iter().zip(scores) {
        if outcome.factor.is_some() {
            if score.uncovered > 0 {
                lines.push(format!(
                    "{} {} K={:.0}: {} pages matched no stream row (scoring tolerance too small?)",
                    stream.name,
                    outcome.system,
                    outcome.factor.unwrap_or(0.0),
                    score.uncovered
                ));
            }
            continue;
        }
        if let Some(best) = best_am {
            let met = (score.pages as f64) < best as f64 / 3.0;
            lines.push(format!(
                "{} {}: {} pages against Alertmanager's best {best} (target: under {:.0}) — {}",
                stream.name,
                outcome.system,
                score.pages,
                best as f64 / 3.0,
                if met { "met" } else { "**not met**" }
            ));
        }
        if stream.outages.is_empty() {
            let missed: Vec<&str> = (1..stream.phases.len())
                .filter(|&p| !score.phases_paged[p])
                .map(|p| stream.phases[p].as_str())
                .collect();
            lines.push(format!(
                "{} {}: every attack phase paged — {}",
                stream.name,
                outcome.system,
                if missed.is_empty() {
                    "met".to_owned()
                } else {
                    format!("**not met** (missed: {})", missed.join(", "))
                }
            ));
        } else {
            let exact = score
                .per_outage
                .iter()
                .all(|&(incidents, _)| incidents == 1);
            lines.push(format!(
                "{} {}: exactly one incident per outage — {} ({})",
                stream.name,
                outcome.system,
                if exact { "met" } else { "**not met**" },
                score
                    .per_outage
                    .iter()
                    .map(|(incidents, _)| incidents.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    // Compression check: the same route at two factors.
    let mut by_system: BTreeMap<&str, Vec<(f64, usize)>> = BTreeMap::new();
    for (outcome, score) in outcomes.iter().zip(scores) {
        if let Some(k) = outcome.factor {
            by_system
                .entry(outcome.system.as_str())
                .or_default()
                .push((k, score.pages));
        }
    }
    for (system, runs) in by_system {
        if runs.len() < 2 {
            continue;
        }
        let min = runs.iter().map(|r| r.1).min().unwrap_or(0);
        let max = runs.iter().map(|r| r.1).max().unwrap_or(0);
        lines.push(format!(
            "{} {system}: {} pages across K = {} ({} apart)",
            stream.name,
            runs.iter()
                .map(|r| r.1.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            runs.iter()
                .map(|r| format!("{:.0}", r.0))
                .collect::<Vec<_>>()
                .join(" / "),
            percent(max - min, max.max(1)),
        ));
    }
    lines
}

async fn run(cli: &Cli, quiet_ms: i64) -> Result<()> {
    if !cli.no_alertmanager && !cli.alertmanager.exists() {
        bail!(
            "{} not found: apt-get install -y prometheus-alertmanager (or pass --no-alertmanager)",
            cli.alertmanager.display()
        );
    }
    let temp = tempfile::tempdir()?;
    let dir = match &cli.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let configs: Vec<(String, &str, String)> = match &cli.vigil_config {
        Some(path) => vec![(
            "Vigil (--vigil-config)".to_owned(),
            "config",
            std::fs::read_to_string(path)
                .with_context(|| format!("read --vigil-config {}", path.display()))?,
        )],
        None => {
            let variants: Vec<Variant> = match (cli.grouping, cli.novelty) {
                (false, false) => vec![Variant::Plain, Variant::Grouping, Variant::Novelty],
                (grouping, novelty) => [(grouping, Variant::Grouping), (novelty, Variant::Novelty)]
                    .into_iter()
                    .filter_map(|(on, variant)| on.then_some(variant))
                    .collect(),
            };
            variants
                .into_iter()
                .map(|variant| {
                    (
                        variant.system().to_owned(),
                        variant.tag(),
                        vigil_config(&cli.quiet, variant),
                    )
                })
                .collect()
        }
    };
    println!(
        "Streams: {:?}; AIT quiet time {} on both sides; MS hosts: {:?}; Alertmanager factors AIT {:?}, MS {:?}.\n",
        cli.streams, cli.quiet, cli.ms_hosts, cli.ait_factors, cli.ms_factors
    );
    let mut target_lines = Vec::new();
    let mut printed_configs = false;
    for name in &cli.streams {
        let (stream, factors) = match name {
            StreamName::Ait => (load_ait(&cli.fixtures, quiet_ms)?, &cli.ait_factors),
            StreamName::Ms => (load_ms(&cli.fixtures, cli.ms_hosts)?, &cli.ms_factors),
        };
        eprintln!(
            "{}: {} events, {} alerts; Vigil replay…",
            stream.name,
            stream.items.len(),
            stream.keys.len()
        );
        let mut outcomes = Vec::new();
        for (system, tag, config) in &configs {
            eprintln!("{}: {system}…", stream.name);
            outcomes.push(run_vigil(cli, &stream, &dir, (system, tag, config))?);
        }
        if !cli.no_alertmanager {
            for &factor in factors {
                if factor < 1.0 {
                    bail!("a compression factor must be at least 1, not {factor}");
                }
                outcomes.extend(run_alertmanager(cli, &stream, &dir, factor).await?);
            }
        }
        // Same route next to itself across factors.
        outcomes.sort_by_key(|o| (o.factor.is_some(), o.system.clone()));
        if !printed_configs {
            for (system, _, config) in &configs {
                println!("{system} config:\n\n```toml\n{config}```\n");
            }
            if !cli.no_alertmanager {
                println!(
                    "Alertmanager config (K = compression factor; 30s / 5m / 4h ÷ K):\n\n```yaml\n{}```\n",
                    alertmanager_config(1.0, "http://127.0.0.1:PORT")
                );
            }
            printed_configs = true;
        }
        target_lines.extend(print_stream(&stream, &outcomes));
    }
    println!("Targets:\n");
    for line in target_lines {
        println!("- {line}");
    }
    Ok(())
}
