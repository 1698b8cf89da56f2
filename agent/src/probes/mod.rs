//! Availability probes from `[[probe]]`: `http` ([`http`]), `tcp` ([`tcp`]) and `process`
//! ([`process`]). Each probe runs in its own tokio task on its own interval, bounded by its
//! timeout, so a slow probe never delays metric collection; results reach the sampler over a
//! channel. [`Probes`] keeps the latest outcome and the [`state::ProbeState`] of each probe,
//! turns outcomes into samples every tick and state changes into events.
//!
//! Samples (names without prefix; the collector exports them as `vigil_probe_*{host,probe}`):
//! `probe_up{probe,kind}`, `probe_latency_seconds{probe}` (http, tcp),
//! `probe_http_status{probe}` (http, when a response came), `probe_tls_cert_expiry_days{probe}`
//! (https), `probe_process_count{probe}` (process).
//!
//! Events: `probe:NAME` firing after `failures_before_down` consecutive failures, resolved at the
//! first success after that; `process_restart:NAME` (one-shot) when a process probe's PID set
//! changes while its count stays the same. Probe events carry `labels.probe` and `labels.kind`.

pub mod http;
pub mod process;
pub mod state;
pub mod tcp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use vigil_shared::wire::{Event, Sample};
use vigil_shared::{Labels, Severity, Status};

use crate::collectors::labeled;
use crate::config::{ProbeConfig, ProbeKind};
use state::{ProbeState, Transition};

/// What one run of a probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The check passed.
    pub up: bool,
    /// Why it failed, or what it saw when it passed (e.g. `status 200`, `3 processes match`).
    pub reason: String,
    /// Connect or request time (http, tcp).
    pub latency: Option<Duration>,
    /// The HTTP status, when a response came.
    pub http_status: Option<u16>,
    /// Days until the TLS certificate expires (https).
    pub cert_expiry_days: Option<f64>,
    /// Matching processes (process).
    pub process_count: Option<u64>,
    /// Their PIDs, sorted (process).
    pub pids: Vec<u32>,
}

impl Outcome {
    /// A failed outcome with a reason.
    pub fn down(reason: impl Into<String>) -> Outcome {
        Outcome {
            up: false,
            reason: reason.into(),
            latency: None,
            http_status: None,
            cert_expiry_days: None,
            process_count: None,
            pids: Vec::new(),
        }
    }

    /// A passed outcome with what was seen.
    pub fn up(reason: impl Into<String>) -> Outcome {
        Outcome {
            up: true,
            ..Outcome::down(reason)
        }
    }
}

/// One finished probe run, sent from a probe task to the sampler.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Index of the probe in the config.
    pub probe_idx: usize,
    /// What it found.
    pub outcome: Outcome,
    /// When it finished, Unix ms.
    pub time_ms: i64,
}

/// Shared, read-only things probes need.
#[derive(Debug)]
pub struct ProbeContext {
    /// The HTTP client for http probes (no connection reuse, no redirects, no proxy), when any
    /// http probe is configured.
    pub http: Option<reqwest::Client>,
    /// Root under which `proc/` is scanned (process probes).
    pub procfs_root: PathBuf,
}

impl ProbeContext {
    /// Builds the context for `probes`; the HTTP client only when an http probe exists.
    pub fn new(probes: &[ProbeConfig], procfs_root: PathBuf) -> Result<ProbeContext, ProbeError> {
        let http_urls = || {
            probes.iter().filter_map(|probe| match &probe.kind {
                ProbeKind::Http { url, .. } => Some(url.as_str()),
                _ => None,
            })
        };
        let http = if http_urls().next().is_some() {
            Some(http::client(
                http_urls().any(|url| url.starts_with("https://")),
            )?)
        } else {
            None
        };
        Ok(ProbeContext { http, procfs_root })
    }
}

/// Why the probes could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The HTTP client for http probes could not be built.
    #[error("cannot build the HTTP client for http probes")]
    Client(#[source] reqwest::Error),
}

/// Runs one probe once, bounded by its timeout.
pub async fn run_once(
    probe: &ProbeConfig,
    context: &ProbeContext,
    scratch: &mut process::Scratch,
) -> Outcome {
    let run = async {
        match &probe.kind {
            ProbeKind::Http {
                url,
                expect_status,
                body_match,
            } => match &context.http {
                Some(client) => http::probe(client, url, *expect_status, body_match.as_ref()).await,
                None => Outcome::down("no HTTP client"),
            },
            ProbeKind::Tcp { address } => tcp::probe(address).await,
            ProbeKind::Process { pattern } => {
                process::probe(&context.procfs_root, &pattern.0, scratch)
            }
        }
    };
    match tokio::time::timeout(probe.timeout, run).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::down(format!(
            "timeout after {}",
            vigil_shared::format_duration(probe.timeout)
        )),
    }
}

/// Starts one task per probe; each sends its results to the returned receiver.
pub fn spawn_all(
    probes: &[ProbeConfig],
    context: Arc<ProbeContext>,
) -> (mpsc::Receiver<ProbeResult>, Vec<JoinHandle<()>>) {
    let (sender, receiver) = mpsc::channel(probes.len().max(1) * 4);
    let mut tasks = Vec::with_capacity(probes.len());
    for (probe_idx, probe) in probes.iter().enumerate() {
        let probe = probe.clone();
        let context = context.clone();
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(probe.interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut scratch = process::Scratch::default();
            loop {
                ticker.tick().await;
                let started = Instant::now();
                let outcome = run_once(&probe, &context, &mut scratch).await;
                tracing::debug!(
                    probe = %probe.name,
                    up = outcome.up,
                    reason = %outcome.reason,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "probe ran"
                );
                let result = ProbeResult {
                    probe_idx,
                    outcome,
                    time_ms: crate::clock::now_ms(),
                };
                if sender.send(result).await.is_err() {
                    return;
                }
            }
        }));
    }
    (receiver, tasks)
}

/// The probes' latest outcomes and states, owned by the sampler.
#[derive(Debug)]
pub struct Probes {
    configs: Vec<ProbeConfig>,
    latest: Vec<Option<Outcome>>,
    states: Vec<ProbeState>,
}

impl Probes {
    /// No outcome yet for any probe.
    pub fn new(configs: &[ProbeConfig]) -> Probes {
        Probes {
            configs: configs.to_vec(),
            latest: vec![None; configs.len()],
            states: vec![ProbeState::default(); configs.len()],
        }
    }

    /// The configured probes.
    pub fn configs(&self) -> &[ProbeConfig] {
        &self.configs
    }

    /// Takes in one result; appends the events its state change causes.
    pub fn absorb(&mut self, result: ProbeResult, events: &mut Vec<Event>) {
        let Some(config) = self.configs.get(result.probe_idx) else {
            return;
        };
        let Some(state) = self.states.get_mut(result.probe_idx) else {
            return;
        };
        let outcome = result.outcome;
        let labels = || {
            Labels::from([
                ("probe".to_owned(), config.name.clone()),
                ("kind".to_owned(), config.kind.as_str().to_owned()),
            ])
        };
        match state.observe(outcome.up, config.failures_before_down) {
            Transition::Down => {
                tracing::warn!(probe = %config.name, reason = %outcome.reason, "probe down");
                events.push(Event {
                    check: format!("probe:{}", config.name),
                    status: Status::Firing,
                    severity: config.severity,
                    summary: format!("probe {} is down: {}", config.name, outcome.reason),
                    service: None,
                    labels: labels(),
                    time_ms: result.time_ms,
                    dedup_key: None,
                });
            }
            Transition::Up => {
                tracing::info!(probe = %config.name, reason = %outcome.reason, "probe up again");
                events.push(Event {
                    check: format!("probe:{}", config.name),
                    status: Status::Resolved,
                    severity: config.severity,
                    summary: format!("probe {} is up again: {}", config.name, outcome.reason),
                    service: None,
                    labels: labels(),
                    time_ms: result.time_ms,
                    dedup_key: None,
                });
            }
            Transition::None => {}
        }
        if matches!(config.kind, ProbeKind::Process { .. })
            && outcome.up
            && let Some(previous) = state.swap_pids(&outcome.pids)
        {
            let summary = format!(
                "process {} restarted: pids {} → {}",
                config.name,
                join_pids(&previous),
                join_pids(&outcome.pids)
            );
            events.push(Event {
                check: format!("process_restart:{}", config.name),
                status: Status::Firing,
                severity: Severity::Warning,
                summary,
                service: None,
                labels: labels(),
                time_ms: result.time_ms,
                dedup_key: None,
            });
        }
        if let Some(slot) = self.latest.get_mut(result.probe_idx) {
            *slot = Some(outcome);
        }
    }

    /// Appends the samples of every probe that has run at least once.
    pub fn samples(&self, out: &mut Vec<Sample>) {
        for (config, outcome) in self.configs.iter().zip(&self.latest) {
            let Some(outcome) = outcome else {
                continue;
            };
            let name = config.name.as_str();
            out.push(labeled(
                "probe_up",
                &[("probe", name), ("kind", config.kind.as_str())],
                if outcome.up { 1.0 } else { 0.0 },
            ));
            if !matches!(config.kind, ProbeKind::Process { .. })
                && let Some(latency) = outcome.latency
            {
                out.push(labeled(
                    "probe_latency_seconds",
                    &[("probe", name)],
                    latency.as_secs_f64(),
                ));
            }
            if let Some(status) = outcome.http_status {
                out.push(labeled(
                    "probe_http_status",
                    &[("probe", name)],
                    f64::from(status),
                ));
            }
            if let Some(days) = outcome.cert_expiry_days.filter(|days| days.is_finite()) {
                out.push(labeled(
                    "probe_tls_cert_expiry_days",
                    &[("probe", name)],
                    (days * 100.0).round() / 100.0,
                ));
            }
            if let Some(count) = outcome.process_count {
                out.push(labeled(
                    "probe_process_count",
                    &[("probe", name)],
                    count as f64,
                ));
            }
        }
    }
}

fn join_pids(pids: &[u32]) -> String {
    let mut text = String::new();
    for (pid_idx, pid) in pids.iter().take(16).enumerate() {
        if pid_idx > 0 {
            text.push(',');
        }
        text.push_str(&pid.to_string());
    }
    if pids.len() > 16 {
        text.push_str(",...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;

    fn config(name: &str, kind: ProbeKind) -> ProbeConfig {
        ProbeConfig {
            name: name.into(),
            kind,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            severity: Severity::Critical,
            failures_before_down: 2,
        }
    }

    fn result(probe_idx: usize, outcome: Outcome) -> ProbeResult {
        ProbeResult {
            probe_idx,
            outcome,
            time_ms: 1,
        }
    }

    #[test]
    fn probes_fire_after_n_failures_and_resolve_once() {
        let mut probes = Probes::new(&[config(
            "db",
            ProbeKind::Tcp {
                address: "127.0.0.1:1".into(),
            },
        )]);
        let mut events = Vec::new();
        probes.absorb(result(0, Outcome::down("connect refused")), &mut events);
        assert!(events.is_empty(), "one failure is not an incident");
        probes.absorb(result(0, Outcome::down("connect refused")), &mut events);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].check, "probe:db");
        assert_eq!(events[0].status, Status::Firing);
        assert_eq!(events[0].severity, Severity::Critical);
        assert_eq!(events[0].labels["probe"], "db");
        assert!(events[0].summary.contains("connect refused"));
        probes.absorb(result(0, Outcome::down("connect refused")), &mut events);
        assert_eq!(events.len(), 1, "no repeat while down");
        let mut up = Outcome::up("connected");
        up.latency = Some(Duration::from_millis(3));
        probes.absorb(result(0, up), &mut events);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].status, Status::Resolved);

        let mut samples = Vec::new();
        probes.samples(&mut samples);
        let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["probe_up", "probe_latency_seconds"]);
        assert_eq!(samples[0].labels["kind"], "tcp");
        assert_eq!(samples[0].value, 1.0);
    }

    #[test]
    fn probes_report_process_restart_when_pids_change_at_same_count() {
        let pattern = Pattern(regex::Regex::new("x").unwrap());
        let mut probes = Probes::new(&[config("worker", ProbeKind::Process { pattern })]);
        let seen = |pids: Vec<u32>| {
            let mut outcome = Outcome::up(format!("{} processes match", pids.len()));
            outcome.process_count = Some(pids.len() as u64);
            outcome.pids = pids;
            outcome
        };
        let mut events = Vec::new();
        probes.absorb(result(0, seen(vec![10, 11])), &mut events);
        probes.absorb(result(0, seen(vec![10, 11])), &mut events);
        assert!(events.is_empty());
        probes.absorb(result(0, seen(vec![10, 12])), &mut events);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].check, "process_restart:worker");
        assert_eq!(events[0].severity, Severity::Warning);
        assert!(
            events[0].summary.contains("10,11 → 10,12"),
            "{}",
            events[0].summary
        );
        // A changed count is a scale change, not a restart.
        probes.absorb(result(0, seen(vec![10, 12, 13])), &mut events);
        assert_eq!(events.len(), 1);
        let mut samples = Vec::new();
        probes.samples(&mut samples);
        let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["probe_up", "probe_process_count"]);
        assert_eq!(samples[1].value, 3.0);
    }

    #[test]
    fn probes_ignore_results_for_unknown_indexes() {
        let mut probes = Probes::new(&[]);
        let mut events = Vec::new();
        probes.absorb(result(5, Outcome::down("x")), &mut events);
        assert!(events.is_empty());
    }
}
