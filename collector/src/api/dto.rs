//! JSON shapes of the HTTP API (twins of the domain types; only this module and the wire and store
//! types derive serde).

use crate::clock::rfc3339;
use crate::hosts::Host;
use serde::Serialize;
use vigil_shared::labels::Labels;
use vigil_shared::wire::Inventory;

/// Answer to an accepted `POST /v1/ingest`.
#[derive(Debug, Serialize)]
pub struct IngestResponse {
    /// Always true: the batch is stored (or was already).
    pub accepted: bool,
    /// True when this seq had already been accepted and nothing changed.
    pub duplicate: bool,
    /// The batch's seq.
    pub seq: u64,
    /// Samples in the batch.
    pub samples: usize,
}

/// A host in `GET /v1/hosts`.
#[derive(Debug, Serialize)]
pub struct HostDto {
    /// Host id.
    pub host_id: String,
    /// OS hostname.
    pub hostname: String,
    /// Host labels.
    pub labels: Labels,
    /// Whether the agent reports.
    pub up: bool,
    /// Last accepted batch, RFC 3339.
    pub last_seen: String,
    /// First accepted batch, RFC 3339.
    pub first_seen: String,
    /// Agent version.
    pub agent_version: String,
    /// Last accepted seq.
    pub seq: u64,
    /// Series held.
    pub n_series: usize,
    /// The configuration record.
    pub inventory: Option<Inventory>,
    /// Latest samples (`GET /v1/hosts/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<SeriesDto>>,
}

/// One series' latest value.
#[derive(Debug, Serialize)]
pub struct SeriesDto {
    /// Sample name.
    pub name: String,
    /// Sample labels.
    pub labels: Labels,
    /// Value.
    pub value: f64,
    /// When it was taken, RFC 3339.
    pub time: String,
}

impl HostDto {
    /// The API view of `host` at `now_ms`; `detail` adds the latest samples.
    pub fn from_host(host: &Host, now_ms: i64, down_after_ms: i64, detail: bool) -> HostDto {
        let metrics = detail.then(|| {
            let mut series: Vec<SeriesDto> = host
                .series
                .iter()
                .map(|series| SeriesDto {
                    name: series.name.to_string(),
                    labels: series.label_map(),
                    value: series.value,
                    time: rfc3339(series.time_ms),
                })
                .collect();
            series.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.labels.cmp(&b.labels)));
            series
        });
        HostDto {
            host_id: host.host_id.clone(),
            hostname: host.hostname.clone(),
            labels: host.labels.clone(),
            up: host.is_up(now_ms, down_after_ms),
            last_seen: rfc3339(host.last_seen_ms),
            first_seen: rfc3339(host.first_seen_ms),
            agent_version: host.agent_version.clone(),
            seq: host.position.map_or(0, |(_, seq)| seq),
            n_series: host.series.len(),
            inventory: host.inventory.clone(),
            metrics,
        }
    }
}

/// One generic event in `POST /v1/events` (SPEC "Generic event"). Unknown fields are ignored so
/// any tool's payload with extra fields is accepted.
#[derive(Debug, serde::Deserialize)]
pub struct EventRequest {
    /// Who sends it; default `api`.
    pub source: Option<String>,
    /// Host concerned.
    pub host: Option<String>,
    /// Service concerned.
    pub service: Option<String>,
    /// What is checked; required unless `dedup_key` is given.
    pub check: Option<String>,
    /// `firing` or `resolved`.
    pub status: vigil_shared::event::Status,
    /// `critical`, `major`, `minor`, `warning` or `info`.
    pub severity: vigil_shared::event::Severity,
    /// One line for humans.
    pub summary: Option<String>,
    /// Extra labels (part of the fingerprint).
    #[serde(default)]
    pub labels: Labels,
    /// Explicit fingerprint.
    pub dedup_key: Option<String>,
    /// Makes a resend harmless.
    pub event_id: Option<String>,
    /// When it happened (informational).
    pub time: Option<String>,
    /// A runbook URL the incident and its notifications carry (SPEC extension).
    pub runbook: Option<String>,
}

/// What became of one event.
#[derive(Debug, Serialize)]
pub struct EventResponse {
    /// The incident it opened or folded into, if any.
    pub incident_id: Option<String>,
    /// Why it opened nothing, when suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<&'static str>,
    /// `opened`, `folded`, `reopened`, `resolved`, `noted`, `no_incident`, `duplicate` or
    /// `suppressed`.
    pub outcome: &'static str,
}

impl EventResponse {
    /// The answer for `outcome`.
    pub fn from_outcome(outcome: &crate::incidents::EventOutcome) -> EventResponse {
        EventResponse {
            incident_id: outcome.incident_id().map(str::to_owned),
            suppressed_by: match outcome {
                crate::incidents::EventOutcome::Suppressed(reason) => Some(reason),
                _ => None,
            },
            outcome: crate::incidents::EventOutcome::KINDS[outcome.kind_index()],
        }
    }
}

/// Body of the incident actions.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Who acts (default: the token's name).
    pub by: Option<String>,
    /// Note text or comment.
    pub text: Option<String>,
}

/// The change record most likely behind an incident (`suspected_change`).
#[derive(Debug, Serialize)]
pub struct SuspectedChangeDto {
    /// The change's id (`GET /v1/changes` has the full record).
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its summary.
    pub summary: String,
    /// When it started, RFC 3339.
    pub starts_at: String,
    /// How it touches the incident: `host`, `service` or `dependency`.
    pub touch: &'static str,
}

impl From<crate::incidents::model::SuspectedChange> for SuspectedChangeDto {
    fn from(change: crate::incidents::model::SuspectedChange) -> Self {
        SuspectedChangeDto {
            id: change.id,
            kind: change.kind,
            summary: change.summary,
            starts_at: rfc3339(change.starts_ms),
            touch: change.touch.as_str(),
        }
    }
}

/// SLA view.
#[derive(Debug, Serialize)]
pub struct SlaDto {
    /// Acknowledge by.
    pub ack_due: String,
    /// Resolve by.
    pub resolve_due: String,
    /// Either missed.
    pub breached: bool,
    /// Acknowledgement missed.
    pub ack_breached: bool,
    /// Resolution missed.
    pub resolve_breached: bool,
}

/// A timeline entry.
#[derive(Debug, Serialize)]
pub struct TimelineDto {
    /// When (first event of an aggregate).
    pub at: String,
    /// What.
    pub kind: crate::incidents::TimelineKind,
    /// Who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Firing events aggregated.
    #[serde(skip_serializing_if = "is_zero")]
    pub count: u64,
    /// Resolved events aggregated.
    #[serde(skip_serializing_if = "is_zero")]
    pub resolved_count: u64,
    /// Last event aggregated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_at: Option<String>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// An incident (SPEC "Incident").
#[derive(Debug, Serialize)]
pub struct IncidentDto {
    /// Stable id.
    pub id: String,
    /// Dedup key.
    pub fingerprint: String,
    /// Title.
    pub title: String,
    /// Latest summary.
    pub summary: String,
    /// State.
    pub state: &'static str,
    /// 1..5.
    pub priority: u8,
    /// Worst severity.
    pub severity: vigil_shared::event::Severity,
    /// Host.
    pub host: Option<String>,
    /// Service.
    pub service: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Check.
    pub check: String,
    /// Labels.
    pub labels: Labels,
    /// Opened.
    pub opened_at: String,
    /// Last change.
    pub updated_at: String,
    /// Acknowledged.
    pub acknowledged_at: Option<String>,
    /// Who acknowledged.
    pub acknowledged_by: Option<String>,
    /// Resolved.
    pub resolved_at: Option<String>,
    /// Who resolved.
    pub resolved_by: Option<String>,
    /// Closed.
    pub closed_at: Option<String>,
    /// Events folded in.
    pub count: u64,
    /// Flapping.
    pub flapping: bool,
    /// Times reopened.
    pub reopened: u32,
    /// SLA.
    pub sla: SlaDto,
    /// Hosts folded in.
    pub hosts: Vec<String>,
    /// Parent incident.
    pub parent_id: Option<String>,
    /// The change record most likely behind it, or null.
    pub suspected_change: Option<SuspectedChangeDto>,
    /// Silenced.
    pub silenced: bool,
    /// Problem record.
    pub problem_id: Option<String>,
    /// The workaround of its problem when that is a known error, or null.
    pub workaround: Option<String>,
    /// A runbook URL from its rule or event, or null.
    pub runbook: Option<String>,
    /// Timeline (detail view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineDto>>,
}

impl IncidentDto {
    /// The API view; `detail` adds the timeline.
    pub fn from_incident(incident: crate::incidents::Incident, detail: bool) -> IncidentDto {
        let timeline = detail.then(|| {
            incident
                .timeline
                .into_iter()
                .map(|entry| TimelineDto {
                    at: rfc3339(entry.at_ms),
                    kind: entry.kind,
                    by: entry.by,
                    text: entry.text,
                    count: entry.count,
                    resolved_count: entry.resolved_count,
                    last_at: entry.last_ms.map(rfc3339),
                })
                .collect()
        });
        IncidentDto {
            id: incident.id,
            fingerprint: incident.fingerprint,
            title: incident.title,
            summary: incident.summary,
            state: incident.state.as_str(),
            priority: incident.priority,
            severity: incident.severity,
            host: incident.host,
            service: incident.service,
            source: incident.source,
            check: incident.check,
            labels: incident.labels,
            opened_at: rfc3339(incident.opened_ms),
            updated_at: rfc3339(incident.updated_ms),
            acknowledged_at: incident.acknowledged_ms.map(rfc3339),
            acknowledged_by: incident.acknowledged_by,
            resolved_at: incident.resolved_ms.map(rfc3339),
            resolved_by: incident.resolved_by,
            closed_at: incident.closed_ms.map(rfc3339),
            count: incident.count,
            flapping: incident.flapping,
            reopened: incident.reopened,
            sla: SlaDto {
                ack_due: rfc3339(incident.sla.ack_due_ms),
                resolve_due: rfc3339(incident.sla.resolve_due_ms),
                breached: incident.sla.breached(),
                ack_breached: incident.sla.ack_breached,
                resolve_breached: incident.sla.resolve_breached,
            },
            hosts: incident.hosts,
            parent_id: incident.parent_id,
            suspected_change: incident.suspected_change.map(SuspectedChangeDto::from),
            silenced: incident.silenced,
            problem_id: incident.problem_id,
            workaround: incident.workaround,
            runbook: incident.runbook,
            timeline,
        }
    }
}
