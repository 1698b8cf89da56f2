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
            seq: host.position.1,
            n_series: host.series.len(),
            inventory: host.inventory.clone(),
            metrics,
        }
    }
}
