//! The Prometheus exposition: the collector's own counters live in a `prometheus::Registry`; the
//! per-host families (`vigil_host_*`) are built from [`Hosts`] at scrape time, so no series can go
//! stale and a silent host's samples disappear while its `vigil_host_up` turns 0.
//!
//! Every agent sample `name` is exported as `vigil_host_<name>` with a `host` label plus the
//! sample's own labels, except probe results (`probe_*`), exported as `vigil_probe_*`, and the
//! few agent samples whose names break Prometheus naming, renamed by
//! [`metrics::AGENT_SAMPLES`] (`cpu_count` → `vigil_host_cpus`, ...). Known samples carry their
//! type from that table; unknown names ending in `_total` are counters, all others gauges (those
//! ending in `_count`, `_sum` or `_bucket` get `_value` appended: a gauge may not look like a
//! histogram part).

pub mod metrics;

use crate::hosts::{Hosts, Series};
use crate::incidents::{Change, EventOutcome};
use crate::pipeline::CommitReport;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::BTreeMap;

/// Why a rejected batch was rejected: the closed set of `reason` label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Body over the size limit.
    TooLarge,
    /// Content-Type or Content-Encoding not supported.
    UnsupportedMedia,
    /// Bytes that do not decode.
    Malformed,
    /// Decoded but invalid.
    Invalid,
    /// The store refused or was overloaded.
    Unavailable,
    /// No valid token, or a token that may not report as this host.
    Unauthorized,
}

impl RejectReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::UnsupportedMedia => "unsupported_media",
            RejectReason::Malformed => "malformed",
            RejectReason::Invalid => "invalid",
            RejectReason::Unavailable => "unavailable",
            RejectReason::Unauthorized => "unauthorized",
        }
    }

    const ALL: [RejectReason; 6] = [
        RejectReason::TooLarge,
        RejectReason::UnsupportedMedia,
        RejectReason::Malformed,
        RejectReason::Invalid,
        RejectReason::Unavailable,
        RejectReason::Unauthorized,
    ];
}

/// The collector's own metrics.
pub struct Metrics {
    registry: Registry,
    /// Samples accepted.
    pub samples: IntCounter,
    /// Batches accepted.
    pub batches: IntCounter,
    /// Events accepted.
    pub events: IntCounter,
    /// Duplicate batches.
    pub duplicates: IntCounter,
    /// Bytes received.
    pub bytes: IntCounter,
    rejected: IntCounterVec,
    /// Ingest latency.
    pub ingest_duration: Histogram,
    hosts: IntGauge,
    incidents_open: IntGaugeVec,
    incidents_opened: IntCounterVec,
    incidents_reopened: IntCounter,
    time_to_ack: HistogramVec,
    time_to_resolve: HistogramVec,
    sla_breaches: IntCounterVec,
    engine_events: IntCounterVec,
    leader: IntGauge,
    leader_epoch: IntGauge,
    /// The outbox's deliveries.
    pub notifications: NotificationMetrics,
    /// The latest availability report (`pipeline::sweeps::service_levels` refreshes it).
    availability: std::sync::RwLock<Option<std::sync::Arc<crate::availability::Report>>>,
}

/// Counters of the notification outbox, by sink.
#[derive(Clone)]
pub struct NotificationMetrics {
    /// Queued.
    pub queued: IntCounterVec,
    /// Accepted by the sink.
    pub sent: IntCounterVec,
    /// Attempts failed (retried).
    pub failed: IntCounterVec,
    /// Dead-lettered.
    pub dead: IntCounterVec,
    /// Due → accepted, seconds.
    pub delivery: HistogramVec,
}

const PRIORITIES: [&str; 5] = ["1", "2", "3", "4", "5"];

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let counter = IntCounter::new(name, help).expect("metric names are valid constants");
            registry
                .register(Box::new(counter.clone()))
                .expect("metric names are unique constants");
            counter
        };
        let samples = counter(metrics::INGEST_SAMPLES, "Samples accepted on ingest.");
        let batches = counter(
            metrics::INGEST_BATCHES,
            "Agent batches accepted (duplicates excluded).",
        );
        let events = counter(metrics::INGEST_EVENTS, "Events accepted in agent batches.");
        let duplicates = counter(
            metrics::INGEST_DUPLICATES,
            "Batches acknowledged without effect because their seq was already accepted.",
        );
        let bytes = counter(
            metrics::INGEST_BYTES,
            "Ingest request body bytes as received.",
        );
        let rejected = IntCounterVec::new(
            Opts::new(
                metrics::INGEST_REJECTED,
                "Ingest requests refused, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(rejected.clone()))
            .expect("unique metric");
        for reason in RejectReason::ALL {
            rejected.with_label_values(&[reason.as_str()]);
        }
        let ingest_duration = Histogram::with_opts(
            HistogramOpts::new(
                metrics::INGEST_DURATION,
                "Time from request to durable answer on ingest.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(ingest_duration.clone()))
            .expect("unique metric");
        let hosts =
            IntGauge::new(metrics::HOSTS, "Hosts known to the collector.").expect("valid metric");
        registry
            .register(Box::new(hosts.clone()))
            .expect("unique metric");
        let register = |collector: Box<dyn prometheus::core::Collector>| {
            registry.register(collector).expect("unique metric");
        };
        let incidents_open = IntGaugeVec::new(
            Opts::new(
                metrics::INCIDENTS_OPEN,
                "Incidents open or acknowledged, by priority.",
            ),
            &["priority"],
        )
        .expect("valid metric");
        register(Box::new(incidents_open.clone()));
        let incidents_opened = IntCounterVec::new(
            Opts::new(metrics::INCIDENTS_OPENED, "Incidents opened, by priority."),
            &["priority"],
        )
        .expect("valid metric");
        register(Box::new(incidents_opened.clone()));
        let incidents_reopened = IntCounter::new(
            metrics::INCIDENTS_REOPENED,
            "Resolved incidents that fired again within the reopen window.",
        )
        .expect("valid metric");
        register(Box::new(incidents_reopened.clone()));
        let leader = IntGauge::new(
            metrics::LEADER,
            "1 while this collector leads the sweeps (host down, SLA ticks, retention), else 0.",
        )
        .expect("valid metric");
        register(Box::new(leader.clone()));
        let leader_epoch = IntGauge::new(
            metrics::LEADER_EPOCH,
            "Fencing epoch of the leadership this collector holds or last held (0: never led).",
        )
        .expect("valid metric");
        register(Box::new(leader_epoch.clone()));
        let duration_buckets = vec![
            60.0, 300.0, 900.0, 1_800.0, 3_600.0, 14_400.0, 28_800.0, 86_400.0, 259_200.0,
        ];
        let time_to_ack = HistogramVec::new(
            HistogramOpts::new(
                metrics::INCIDENT_TIME_TO_ACK,
                "Time from opening to acknowledgement, by priority.",
            )
            .buckets(duration_buckets.clone()),
            &["priority"],
        )
        .expect("valid metric");
        register(Box::new(time_to_ack.clone()));
        let time_to_resolve = HistogramVec::new(
            HistogramOpts::new(
                metrics::INCIDENT_TIME_TO_RESOLVE,
                "Time from opening to resolution, by priority.",
            )
            .buckets(duration_buckets),
            &["priority"],
        )
        .expect("valid metric");
        register(Box::new(time_to_resolve.clone()));
        let sla_breaches = IntCounterVec::new(
            Opts::new(
                metrics::INCIDENT_SLA_BREACHES,
                "SLA due times missed, by priority and kind (ack or resolve).",
            ),
            &["priority", "kind"],
        )
        .expect("valid metric");
        register(Box::new(sla_breaches.clone()));
        let engine_events = IntCounterVec::new(
            Opts::new(
                metrics::EVENTS,
                "Events through the incident engine, by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        register(Box::new(engine_events.clone()));
        let by_sink = |name: &str, help: &str| {
            let counter =
                IntCounterVec::new(Opts::new(name, help), &["sink"]).expect("valid metric");
            register(Box::new(counter.clone()));
            counter
        };
        let delivery = HistogramVec::new(
            HistogramOpts::new(
                metrics::NOTIFICATION_DELIVERY,
                "Time from a notification's due time to its sink accepting it, by sink.",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 300.0, 3_600.0,
            ]),
            &["sink"],
        )
        .expect("valid metric");
        register(Box::new(delivery.clone()));
        let notifications = NotificationMetrics {
            queued: by_sink(
                metrics::NOTIFICATIONS_QUEUED,
                "Notifications queued in the outbox, by sink.",
            ),
            sent: by_sink(
                metrics::NOTIFICATIONS_SENT,
                "Notifications the sink accepted, by sink.",
            ),
            failed: by_sink(
                metrics::NOTIFICATIONS_FAILED,
                "Delivery attempts that failed and will be retried, by sink.",
            ),
            dead: by_sink(
                metrics::NOTIFICATIONS_DEAD,
                "Notifications dead-lettered (refused for good or failing too long), by sink.",
            ),
            delivery,
        };
        for priority in PRIORITIES {
            incidents_open.with_label_values(&[priority]);
            incidents_opened.with_label_values(&[priority]);
            for kind in ["ack", "resolve"] {
                sla_breaches.with_label_values(&[priority, kind]);
            }
        }
        for outcome in EventOutcome::KINDS {
            engine_events.with_label_values(&[outcome]);
        }
        Metrics {
            registry,
            samples,
            batches,
            events,
            duplicates,
            bytes,
            rejected,
            ingest_duration,
            hosts,
            incidents_open,
            incidents_opened,
            incidents_reopened,
            time_to_ack,
            time_to_resolve,
            sla_breaches,
            engine_events,
            leader,
            leader_epoch,
            notifications,
            availability: std::sync::RwLock::new(None),
        }
    }

    /// Keeps `report` for the `vigil_availability_*` and `vigil_slo_*` families.
    pub fn set_availability(&self, report: std::sync::Arc<crate::availability::Report>) {
        *self
            .availability
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(report);
    }

    /// Shows every sink's series from the start (at 0).
    pub fn register_sinks(&self, sinks: &[crate::notify::sinks::Sink]) {
        let n = &self.notifications;
        for sink in sinks {
            let name = [sink.name.as_str()];
            n.queued.with_label_values(&name);
            n.sent.with_label_values(&name);
            n.failed.with_label_values(&name);
            n.dead.with_label_values(&name);
        }
    }

    /// Records whether this collector leads the sweeps, and under which epoch.
    pub fn set_leadership(&self, epoch: Option<i64>) {
        self.leader.set(i64::from(epoch.is_some()));
        if let Some(epoch) = epoch {
            self.leader_epoch.set(epoch);
        }
    }

    /// Records what one store commit did to incidents, and the open counts after it.
    pub fn observe_incidents(&self, report: &CommitReport<'_>) {
        for (kind, count) in EventOutcome::KINDS.iter().zip(report.event_outcomes) {
            if count > 0 {
                self.engine_events.with_label_values(&[kind]).inc_by(count);
            }
        }
        for row in report.notifications {
            self.notifications
                .queued
                .with_label_values(&[row.sink.as_str()])
                .inc();
        }
        let effects = report.effects;
        for (priority, count) in PRIORITIES.iter().zip(report.open_by_priority) {
            self.incidents_open
                .with_label_values(&[priority])
                .set(count as i64);
        }
        let label = |priority: u8| PRIORITIES[usize::from(priority.clamp(1, 5) - 1)];
        for effect in effects {
            let priority = label(effect.priority());
            match effect.change {
                Change::Opened => self.incidents_opened.with_label_values(&[priority]).inc(),
                Change::Reopened => self.incidents_reopened.inc(),
                Change::Acknowledged { after_ms } => self
                    .time_to_ack
                    .with_label_values(&[priority])
                    .observe(after_ms as f64 / 1_000.0),
                Change::Resolved { after_ms } => self
                    .time_to_resolve
                    .with_label_values(&[priority])
                    .observe(after_ms as f64 / 1_000.0),
                Change::SlaBreached { kind } => {
                    self.sla_breaches.with_label_values(&[priority, kind]).inc()
                }
                Change::Closed
                | Change::Flapping { .. }
                | Change::PriorityChanged { .. }
                | Change::Attached
                | Change::Detached
                | Change::HostJoined
                | Change::Quiet { .. }
                | Change::Novel { .. }
                | Change::Silenced { .. } => {}
            }
        }
    }

    /// Counts one refused request.
    pub fn reject(&self, reason: RejectReason) {
        self.rejected.with_label_values(&[reason.as_str()]).inc();
    }

    /// Renders the whole exposition (own metrics plus host families) at `now_ms`.
    pub fn render(
        &self,
        hosts: &Hosts,
        capacity: &crate::capacity::Snapshot,
        now_ms: i64,
    ) -> String {
        self.hosts.set(hosts.len() as i64);
        let mut families = self.registry.gather();
        families.extend(host_families(hosts, now_ms));
        families.extend(capacity_families(capacity, now_ms));
        let report = self
            .availability
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(report) = report {
            families.extend(availability_families(&report));
        }
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::with_capacity(64 * 1024);
        if let Err(error) = TextEncoder::new().encode(&families, &mut out) {
            tracing::error!(error = %error, "encoding /metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

fn gauge(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::from_label(labels);
    metric.set_gauge(gauge);
    metric
}

fn sample_metric(kind: metrics::Kind, labels: Vec<LabelPair>, value: f64) -> Metric {
    match kind {
        metrics::Kind::Counter => {
            let mut counter = Counter::default();
            counter.set_value(value);
            let mut metric = Metric::from_label(labels);
            metric.set_counter(counter);
            metric
        }
        metrics::Kind::Gauge => gauge(labels, value),
    }
}

fn family(name: String, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name);
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

/// Builds the `vigil_capacity_*` families from this collector's latest forecasts.
fn capacity_families(snapshot: &crate::capacity::Snapshot, now_ms: i64) -> Vec<MetricFamily> {
    let mut exhaustion = Vec::new();
    let (mut central, mut lower, mut upper) = (Vec::new(), Vec::new(), Vec::new());
    let (mut used, mut limit) = (Vec::new(), Vec::new());
    for record in &snapshot.records {
        let labels = || {
            vec![
                label("host", &record.host_id),
                label("resource", &record.resource),
            ]
        };
        if let Some(at) = record.exhaustion_ms {
            exhaustion.push(gauge(
                labels(),
                at.saturating_sub(now_ms).max(0) as f64 / 1_000.0,
            ));
        }
        for horizon in &record.horizons {
            let key = crate::capacity::horizon_key(horizon.horizon_ms);
            let with_horizon = || {
                let mut labels = labels();
                labels.insert(0, label("horizon", &key));
                labels
            };
            central.push(gauge(with_horizon(), horizon.value));
            lower.push(gauge(with_horizon(), horizon.low));
            upper.push(gauge(with_horizon(), horizon.high));
        }
        used.push(gauge(labels(), record.used));
        if let Some(capacity) = record.capacity {
            limit.push(gauge(labels(), capacity));
        }
    }
    let mut families = vec![family(
        metrics::CAPACITY_SERIES.into(),
        "Series this collector keeps capacity history of.",
        MetricType::GAUGE,
        vec![gauge(Vec::new(), snapshot.series as f64)],
    )];
    for (name, help, metrics) in [
        (
            metrics::CAPACITY_EXHAUSTION,
            "Seconds until the forecast crosses the resource's capacity (absent when none is forecast).",
            exhaustion,
        ),
        (
            metrics::CAPACITY_FORECAST,
            "Forecast value of the resource at the horizon, in the resource's unit.",
            central,
        ),
        (
            metrics::CAPACITY_FORECAST_LOWER,
            "Lower edge (5 %) of the forecast band at the horizon.",
            lower,
        ),
        (
            metrics::CAPACITY_FORECAST_UPPER,
            "Upper edge (95 %) of the forecast band at the horizon.",
            upper,
        ),
        (
            metrics::CAPACITY_USED,
            "Current use of the forecast resource, in its unit.",
            used,
        ),
        (
            metrics::CAPACITY_LIMIT,
            "What exhausts the resource (filesystem size, inodes, memory or swap total, 1 for CPU, CPUs for load).",
            limit,
        ),
    ] {
        if !metrics.is_empty() {
            families.push(family(name.into(), help, MetricType::GAUGE, metrics));
        }
    }
    families
}

/// The availability and SLO families of a report (absent while nothing is known).
fn availability_families(report: &crate::availability::Report) -> Vec<MetricFamily> {
    let mut ratios = Vec::new();
    let mut down = Vec::new();
    for subject in &report.subjects {
        let name = subject.subject.name();
        for window in &subject.windows {
            let labels = || {
                vec![
                    label("kind", subject.subject.kind),
                    label("subject", &name),
                    label("window", window.window),
                ]
            };
            if let Some(ratio) = window.totals.ratio() {
                ratios.push(gauge(labels(), ratio));
            }
            down.push(gauge(labels(), window.totals.down_ms as f64 / 1_000.0));
        }
    }
    let mut budget = Vec::new();
    let mut target = Vec::new();
    let mut burn = Vec::new();
    for slo in &report.slos {
        let name = slo.slo.name.as_str();
        budget.push(gauge(vec![label("slo", name)], slo.status.budget_remaining));
        target.push(gauge(vec![label("slo", name)], slo.slo.target / 100.0));
        for (window_ms, rate) in &slo.status.burn_rates {
            let window = vigil_shared::format_duration(std::time::Duration::from_millis(
                (*window_ms).max(0) as u64,
            ));
            burn.push(gauge(
                vec![label("slo", name), label("window", &window)],
                *rate,
            ));
        }
    }
    [
        (metrics::AVAILABILITY_RATIO, "Up time / known time of a host, probe or service over the window.", ratios),
        (metrics::AVAILABILITY_DOWN, "Down time of a host, probe or service over the window.", down),
        (metrics::SLO_BUDGET_REMAINING, "Share of the SLO's error budget left over its window (1 untouched, below 0 overspent).", budget),
        (metrics::SLO_TARGET, "The SLO's availability target.", target),
        (metrics::SLO_BURN_RATE, "Error rate over the window / the error rate the SLO allows.", burn),
    ]
    .into_iter()
    .filter(|(_, _, metrics)| !metrics.is_empty())
    .map(|(name, help, metrics)| family(name.to_owned(), help, MetricType::GAUGE, metrics))
    .collect()
}

/// Builds the `vigil_host_*` families from the hosts' current state.
fn host_families(hosts: &Hosts, now_ms: i64) -> Vec<MetricFamily> {
    let down_after_ms = hosts.down_after_ms();
    let horizon = now_ms - down_after_ms;
    hosts.read(|all| {
        let mut ids: Vec<&String> = all.keys().collect();
        ids.sort();
        let mut up = Vec::with_capacity(ids.len());
        let mut info = Vec::with_capacity(ids.len());
        let mut last_seen = Vec::with_capacity(ids.len());
        let mut samples: BTreeMap<&str, Vec<(Vec<LabelPair>, f64)>> = BTreeMap::new();
        for id in ids {
            let host = &all[id];
            let host_label = || label("host", id);
            let is_up = host.is_up(now_ms, down_after_ms);
            up.push(gauge(vec![host_label()], if is_up { 1.0 } else { 0.0 }));
            let mut info_labels = vec![
                label("agent_version", &host.agent_version),
                host_label(),
                label("hostname", &host.hostname),
            ];
            // Host labels named like the fixed ones would repeat a label name: leave them out.
            info_labels.extend(
                host.labels
                    .iter()
                    .filter(|(name, _)| {
                        !matches!(name.as_str(), "agent_version" | "host" | "hostname")
                    })
                    .map(|(name, value)| label(name, value)),
            );
            info.push(gauge(info_labels, 1.0));
            last_seen.push(gauge(
                vec![host_label()],
                host.last_seen_ms as f64 / 1_000.0,
            ));
            if !is_up {
                continue;
            }
            let mut series: Vec<&Series> = host
                .series
                .iter()
                .filter(|series| series.received_ms >= horizon)
                .collect();
            series.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
            for series in series {
                let mut labels = Vec::with_capacity(series.labels.len() + 1);
                labels.push(host_label());
                labels.extend(series.labels.iter().map(|(name, value)| label(name, value)));
                samples
                    .entry(&series.name)
                    .or_default()
                    .push((labels, series.value));
            }
        }
        let mut families = Vec::with_capacity(samples.len() + 3);
        if !up.is_empty() {
            families.push(family(
                metrics::HOST_UP.into(),
                "1 while the host's agent reports, 0 once it is overdue.",
                MetricType::GAUGE,
                up,
            ));
            families.push(family(
                metrics::HOST_INFO.into(),
                "Host identity and labels (value 1).",
                MetricType::GAUGE,
                info,
            ));
            families.push(family(
                metrics::HOST_LAST_SEEN.into(),
                "When the collector last accepted a batch from the host, Unix seconds.",
                MetricType::GAUGE,
                last_seen,
            ));
        }
        // Two sample names could map to one family (a renamed agent sample and an unknown
        // sample already named like its target): merge them, so no family is written twice.
        let mut exported: BTreeMap<String, MetricFamily> = BTreeMap::new();
        for (name, series) in samples {
            let export = metrics::sample_export(name);
            let kind = match export.kind {
                metrics::Kind::Counter => MetricType::COUNTER,
                metrics::Kind::Gauge => MetricType::GAUGE,
            };
            let values = series
                .into_iter()
                .map(|(labels, value)| sample_metric(export.kind, labels, value * export.scale));
            match exported.get_mut(&export.family) {
                Some(existing) => existing.mut_metric().extend(values),
                None => {
                    let metrics = values.collect();
                    exported.insert(
                        export.family.clone(),
                        family(export.family, export.help, kind, metrics),
                    );
                }
            }
        }
        families.extend(exported.into_values());
        families
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::labels::Labels;
    use vigil_shared::wire::{AgentInfo, Batch, PROTOCOL_VERSION, Sample};

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
            time_ms: None,
        }
    }

    #[test]
    fn render_exports_host_series_with_host_label_and_types() {
        let hosts = Hosts::new(60_000);
        hosts.apply(
            Batch {
                version: PROTOCOL_VERSION,
                agent: AgentInfo {
                    host_id: "web-1".into(),
                    hostname: "web-1.local".into(),
                    version: "0.1.0".into(),
                    labels: Labels::from([("env".into(), "prod".into())]),
                },
                stream: 1,
                seq: 1,
                time_ms: 0,
                samples: vec![
                    sample("cpu_usage_ratio", &[], 0.25),
                    sample("filesystem_used_bytes", &[("mountpoint", "/")], 100.0),
                    sample("network_receive_bytes_total", &[("interface", "eth0")], 7.0),
                    sample("cpu_count", &[], 4.0),
                    sample("processes_total", &[], 321.0),
                    sample("probe_tls_cert_expiry_days", &[("probe", "web")], 2.0),
                    sample("queue_count", &[], 3.0),
                ],
                events: vec![],
                inventory: None,
            },
            1_000,
        );
        let metrics = Metrics::new();
        metrics.samples.inc_by(3);
        let text = metrics.render(&hosts, &crate::capacity::Snapshot::default(), 2_000);
        for line in [
            "vigil_host_up{host=\"web-1\"} 1",
            "vigil_host_cpu_usage_ratio{host=\"web-1\"} 0.25",
            "vigil_host_filesystem_used_bytes{host=\"web-1\",mountpoint=\"/\"} 100",
            "# TYPE vigil_host_network_receive_bytes_total counter",
            "vigil_host_info{agent_version=\"0.1.0\",host=\"web-1\",hostname=\"web-1.local\",env=\"prod\"} 1",
            "vigil_ingest_samples_total 3",
            "vigil_ingest_rejected_total{reason=\"malformed\"} 0",
            "# TYPE vigil_host_cpus gauge",
            "vigil_host_cpus{host=\"web-1\"} 4",
            "# TYPE vigil_host_processes gauge",
            "vigil_host_processes{host=\"web-1\"} 321",
            "vigil_probe_tls_cert_expiry_seconds{host=\"web-1\",probe=\"web\"} 172800",
            "# TYPE vigil_host_queue_count_value gauge",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        for renamed in [
            "vigil_host_cpu_count",
            "vigil_host_processes_total",
            "_days",
        ] {
            assert!(!text.contains(renamed), "{renamed} still exported:\n{text}");
        }
        let later = metrics.render(&hosts, &crate::capacity::Snapshot::default(), 62_000);
        assert!(later.contains("vigil_host_up{host=\"web-1\"} 0"), "{later}");
        assert!(!later.contains("vigil_host_cpu_usage_ratio{"), "{later}");
    }
}
