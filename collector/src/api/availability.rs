//! `GET /v1/availability`: per host, probe and service, availability over 1 d / 7 d / 30 d
//! with MTBF and MTTR, and every `[[slo]]` with its target, error budget left and burn rates,
//! computed from the recorded up/down history (`crate::availability`). Filters: `kind`
//! (`host` · `probe` · `service`, comma list), `host`, `service`.

use super::AppState;
use super::error::ApiError;
use crate::availability::slo::SloSubject;
use crate::availability::timeline::State as SubjectState;
use crate::availability::{self, Report, SloReport, SubjectReport};
use crate::clock::rfc3339;
use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The kinds of subject.
pub const KINDS: [&str; 3] = ["host", "probe", "service"];

/// The whole answer.
#[derive(Debug, Serialize)]
pub struct AvailabilityDto {
    /// When it was computed, RFC 3339.
    pub at: String,
    /// The subjects that pass the filters.
    pub subjects: Vec<SubjectDto>,
    /// The SLOs (those about a subject that passes the filters).
    pub slos: Vec<SloDto>,
}

/// One host, probe or service.
#[derive(Debug, Serialize)]
pub struct SubjectDto {
    /// `host`, `probe` or `service`.
    pub kind: &'static str,
    /// Host id, `host/probe`, or the service.
    pub subject: String,
    /// The host (hosts, probes).
    pub host: Option<String>,
    /// The probe (probes).
    pub probe: Option<String>,
    /// The service label (hosts, probes) or name (services).
    pub service: Option<String>,
    /// Up now; null when not known (a probe whose host is down).
    pub up: Option<bool>,
    /// Per window (`1d`, `7d`, `30d`).
    pub windows: BTreeMap<&'static str, WindowDto>,
    /// SLOs about this subject (names).
    pub slos: Vec<String>,
}

/// One window of a subject.
#[derive(Debug, Serialize)]
pub struct WindowDto {
    /// Up time ÷ known time; null when nothing is known.
    pub availability: Option<f64>,
    /// Up time, seconds.
    pub up_seconds: f64,
    /// Down time, seconds.
    pub down_seconds: f64,
    /// Down intervals that began in the window.
    pub failures: u64,
    /// Mean time between failures, seconds (up time ÷ failures); null without a failure.
    pub mtbf_seconds: Option<f64>,
    /// Mean time to repair, seconds (the down intervals that ended in the window); null when
    /// none ended.
    pub mttr_seconds: Option<f64>,
}

/// One SLO.
#[derive(Debug, Serialize)]
pub struct SloDto {
    /// Name.
    pub name: String,
    /// `host`, `probe` or `service`.
    pub kind: &'static str,
    /// The subject (as in `subjects`).
    pub subject: String,
    /// Target availability, percent.
    pub target: f64,
    /// The budget's window (`30d`).
    pub window: String,
    /// Availability over the window; null when nothing is known.
    pub availability: Option<f64>,
    /// Share of the error budget left (1 untouched, 0 spent, negative overspent).
    pub error_budget_remaining: f64,
    /// Burn rate per alerting window (`1h`, `5m`, ...).
    pub burn_rates: BTreeMap<String, f64>,
    /// True while a burn-rate alert fires.
    pub burning: bool,
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1_000.0
}

fn duration(ms: i64) -> String {
    vigil_shared::format_duration(std::time::Duration::from_millis(ms.max(0) as u64))
}

impl From<&SubjectReport> for SubjectDto {
    fn from(report: &SubjectReport) -> SubjectDto {
        let subject = &report.subject;
        SubjectDto {
            kind: subject.kind,
            subject: subject.name(),
            host: subject.host.clone(),
            probe: subject.probe.clone(),
            service: subject.service.clone(),
            up: match report.state {
                SubjectState::Up => Some(true),
                SubjectState::Down => Some(false),
                SubjectState::Unknown => None,
            },
            windows: report
                .windows
                .iter()
                .map(|window| {
                    (
                        window.window,
                        WindowDto {
                            availability: window.totals.ratio(),
                            up_seconds: seconds(window.totals.up_ms),
                            down_seconds: seconds(window.totals.down_ms),
                            failures: window.reliability.failures,
                            mtbf_seconds: window.reliability.mtbf_ms.map(seconds),
                            mttr_seconds: window.reliability.mttr_ms.map(seconds),
                        },
                    )
                })
                .collect(),
            slos: Vec::new(),
        }
    }
}

impl From<&SloReport> for SloDto {
    fn from(report: &SloReport) -> SloDto {
        let slo = &report.slo;
        SloDto {
            name: slo.name.clone(),
            kind: slo.subject.kind(),
            subject: slo.subject.name(),
            target: slo.target,
            window: duration(slo.window_ms),
            availability: report.status.availability,
            error_budget_remaining: report.status.budget_remaining,
            burn_rates: report
                .status
                .burn_rates
                .iter()
                .map(|(window_ms, rate)| (duration(*window_ms), *rate))
                .collect(),
            burning: !report.status.firing.is_empty(),
        }
    }
}

/// The filters.
#[derive(Debug, Default)]
struct Filter {
    kinds: Vec<String>,
    host: Option<String>,
    service: Option<String>,
}

impl Filter {
    fn parse(query: HashMap<String, String>) -> Result<Filter, ApiError> {
        let mut filter = Filter::default();
        for (key, value) in query {
            match key.as_str() {
                "kind" => {
                    for kind in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                        if !KINDS.contains(&kind) {
                            return Err(ApiError::bad_request(format!(
                                "kind {kind:?} is unknown: use {}",
                                KINDS.join(", ")
                            )));
                        }
                        filter.kinds.push(kind.to_owned());
                    }
                }
                "host" => filter.host = Some(value),
                "service" => filter.service = Some(value),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown parameter {other:?}: use kind, host or service"
                    )));
                }
            }
        }
        Ok(filter)
    }

    fn passes(&self, kind: &str, host: Option<&str>, service: Option<&str>) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && self
                .host
                .as_deref()
                .is_none_or(|wanted| host == Some(wanted))
            && self
                .service
                .as_deref()
                .is_none_or(|wanted| service == Some(wanted))
    }
}

/// The report as the API shows it, filtered.
pub fn to_dto(
    report: &Report,
    filter_query: HashMap<String, String>,
) -> Result<AvailabilityDto, ApiError> {
    let filter = Filter::parse(filter_query)?;
    let subjects = report
        .subjects
        .iter()
        .filter(|subject| {
            filter.passes(
                subject.subject.kind,
                subject.subject.host.as_deref(),
                subject.subject.service.as_deref(),
            )
        })
        .map(|subject| {
            let mut dto = SubjectDto::from(subject);
            dto.slos = subject
                .slos
                .iter()
                .filter_map(|&idx| report.slos.get(idx))
                .map(|slo| slo.slo.name.clone())
                .collect();
            dto
        })
        .collect();
    let slos = report
        .slos
        .iter()
        .filter(|slo| {
            let (host, service) = match &slo.slo.subject {
                SloSubject::Service(service) => (None, Some(service.as_str())),
                SloSubject::Host(host) | SloSubject::Probe { host, .. } => {
                    let service = report
                        .subjects
                        .iter()
                        .find(|subject| {
                            subject.subject.kind == "host"
                                && subject.subject.host.as_deref() == Some(host)
                        })
                        .and_then(|subject| subject.subject.service.as_deref());
                    (Some(host.as_str()), service)
                }
            };
            filter.passes(slo.slo.subject.kind(), host, service)
        })
        .map(SloDto::from)
        .collect();
    Ok(AvailabilityDto {
        at: rfc3339(report.at_ms),
        subjects,
        slos,
    })
}

/// Reads the history and computes the report at the clock's now.
pub async fn compute(state: &AppState) -> Result<Report, ApiError> {
    let now_ms = state.clock.now_ms();
    let slos = std::sync::Arc::clone(&state.slos);
    let reader = state.reader.clone();
    let since_ms = now_ms.saturating_sub(availability::history_ms(&slos));
    let changes = tokio::task::spawn_blocking(move || reader.state_changes(since_ms))
        .await
        .map_err(|_| ApiError::internal("the availability query was cancelled"))?
        .map_err(|error| ApiError::from_store(&error))?;
    Ok(availability::report(&changes, &state.slos, now_ms))
}

/// `GET /v1/availability`.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AvailabilityDto>, ApiError> {
    // Bad filters answer 400 before any store work.
    Filter::parse(query.clone())?;
    let report = compute(&state).await?;
    Ok(Json(to_dto(&report, query)?))
}
