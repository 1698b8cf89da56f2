//! Accepting an agent batch: media type → capped decompression → decode → validate → durable
//! commit (with the per-agent sequence check) → apply to the in-memory host state.
//!
//! **Invariant:** [`Ingest::accept`] returns `Ok` only after the store committed the batch (or
//! found it already accepted), so a 2xx means stored. A refused batch changes nothing.

pub mod decode;
pub mod limits;

use crate::auth::Token;
use crate::availability::tracker::Tracker;
use crate::capacity::Capacity;
use crate::clock::Clock;
use crate::export::{Metrics, RejectReason, metrics::RESERVED_SAMPLE_NAMES};
use crate::hosts::Hosts;
use crate::incidents::EventIn;
use crate::pipeline::{HostWrite, Pipeline, Write, WriteError, WriteOutcome};
use crate::rules::Evaluator;
use crate::store::BatchRecord;
use decode::{DecompressError, Encoding};
use limits::IngestLimits;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::mpsc;
use vigil_shared::wire::ValidationError;
use vigil_shared::wire::codec::{self, DecodeError, Format};

/// Why a batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// `Content-Type` is missing or not msgpack/JSON.
    #[error("unsupported content type {0:?}: send application/msgpack or application/json")]
    UnsupportedMediaType(String),
    /// `Content-Encoding` is not zstd, gzip or identity.
    #[error("unsupported content encoding {0:?}: send zstd, gzip or no Content-Encoding")]
    UnsupportedEncoding(String),
    /// The body as sent is over the limit.
    #[error("request body is larger than {limit} bytes: send smaller batches")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Decompression failed or went over the limit.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    /// The bytes are not a batch.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The batch is not acceptable.
    #[error("invalid batch: {0}")]
    Invalid(#[from] ValidationError),
    /// A sample uses a name the collector derives itself.
    #[error("invalid batch: sample name {0:?} is reserved by the collector")]
    ReservedName(String),
    /// The write was not made (store unreachable, busy, shutting down).
    #[error("{0}")]
    Store(WriteError),
    /// The agent's token may not report as this host.
    #[error(
        "token {token:?} may not report as host {host:?}: check the token's hosts pattern (and, with mTLS, the names in the agent's client certificate)"
    )]
    HostNotAllowed {
        /// The token's name.
        token: String,
        /// The host id in the batch.
        host: String,
    },
}

impl IngestError {
    /// The `reason` label of `vigil_ingest_rejected_total`.
    pub fn reason(&self) -> RejectReason {
        match self {
            IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => {
                RejectReason::UnsupportedMedia
            }
            IngestError::BodyTooLarge { .. }
            | IngestError::Decompress(DecompressError::TooLarge { .. }) => RejectReason::TooLarge,
            IngestError::Decompress(DecompressError::Corrupt { .. }) | IngestError::Decode(_) => {
                RejectReason::Malformed
            }
            IngestError::Invalid(_) | IngestError::ReservedName(_) => RejectReason::Invalid,
            IngestError::Store(_) => RejectReason::Unavailable,
            IngestError::HostNotAllowed { .. } => RejectReason::Unauthorized,
        }
    }
}

/// What an accepted request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The batch's seq.
    pub seq: u64,
    /// True when the seq was already accepted: nothing changed.
    pub duplicate: bool,
    /// Samples in the batch.
    pub n_samples: usize,
}

/// The ingest path, shared by every request.
pub struct Ingest {
    pipeline: Pipeline,
    hosts: Arc<Hosts>,
    metrics: Arc<Metrics>,
    limits: IngestLimits,
    clock: Arc<dyn Clock>,
    rules: Mutex<Evaluator>,
    feed: mpsc::UnboundedSender<EventIn>,
    capacity: Capacity,
    tracker: Arc<Tracker>,
}

/// The agent's event as the engine sees it: from `agent`, on the batch's host.
pub fn agent_event(
    host_id: &str,
    host_labels: &vigil_shared::labels::Labels,
    event: &vigil_shared::wire::Event,
) -> EventIn {
    EventIn {
        source: "agent".to_owned(),
        host: Some(host_id.to_owned()),
        service: event.service.clone(),
        check: event.check.clone(),
        status: event.status,
        severity: event.severity,
        summary: event.summary.clone(),
        labels: event.labels.clone(),
        host_labels: host_labels.clone(),
        dedup_key: event.dedup_key.clone(),
        event_id: None,
        runbook: None,
    }
}

/// The `(probe, up)` of a batch's `probe_up` samples.
fn probe_states<'a>(
    samples: &'a [vigil_shared::wire::view::SampleView<'_>],
) -> impl Iterator<Item = (&'a str, bool)> + Clone {
    samples
        .iter()
        .filter(|sample| sample.name == "probe_up")
        .filter_map(|sample| {
            let probe = sample
                .labels
                .iter()
                .find(|(name, _)| *name == "probe")
                .map(|(_, value)| value)?;
            Some((probe, sample.value >= 0.5))
        })
}

/// The change record of an inventory drift: which top-level fields (and labels) changed, with
/// their values before and after; `None` when nothing did.
pub fn inventory_change(
    host_id: &str,
    before: &vigil_shared::wire::Inventory,
    labels_before: &vigil_shared::labels::Labels,
    after: &vigil_shared::wire::Inventory,
    labels_after: &vigil_shared::labels::Labels,
    id: String,
    now_ms: i64,
) -> Option<crate::store::ChangeRecord> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return None;
    };
    let mut details = serde_json::Map::new();
    for (key, value) in &new {
        let previous = old.get(key).cloned().unwrap_or(serde_json::Value::Null);
        if &previous != value {
            details.insert(
                key.clone(),
                serde_json::json!({ "before": previous, "after": value }),
            );
        }
    }
    if labels_before != labels_after {
        details.insert(
            "labels".to_owned(),
            serde_json::json!({ "before": labels_before, "after": labels_after }),
        );
    }
    if details.is_empty() {
        return None;
    }
    let fields: Vec<&str> = details.keys().map(String::as_str).collect();
    Some(crate::store::ChangeRecord {
        id,
        kind: "inventory".to_owned(),
        summary: format!("inventory of {host_id} changed: {}", fields.join(", ")),
        by: "vigil".to_owned(),
        hosts: vec![host_id.to_owned()],
        services: Vec::new(),
        starts_ms: now_ms,
        ends_ms: None,
        details: serde_json::Value::Object(details),
    })
}

impl Ingest {
    /// Wires the ingest path. Rule events go to `feed` (the collector's own event producer).
    pub fn new(
        pipeline: Pipeline,
        hosts: Arc<Hosts>,
        metrics: Arc<Metrics>,
        limits: IngestLimits,
        clock: Arc<dyn Clock>,
        rules: Evaluator,
        feed: mpsc::UnboundedSender<EventIn>,
    ) -> Ingest {
        Ingest {
            pipeline,
            hosts,
            metrics,
            limits,
            clock,
            rules: Mutex::new(rules),
            feed,
            capacity: Capacity::disabled(),
            tracker: Arc::new(Tracker::default()),
        }
    }

    /// Hands every accepted batch's capacity readings to `capacity` (after the commit).
    pub fn with_capacity(mut self, capacity: Capacity) -> Ingest {
        self.capacity = capacity;
        self
    }

    /// Starts the availability history from what the store recorded (`tracker` seeded at
    /// start); without it every host's first batch here records its states afresh.
    pub fn with_tracker(mut self, tracker: Arc<Tracker>) -> Ingest {
        self.tracker = tracker;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &IngestLimits {
        &self.limits
    }

    /// Accepts one request body, sent with `token` when tokens are configured. Counts the
    /// outcome in the ingest metrics.
    pub async fn accept(
        &self,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
        token: Option<&Token>,
    ) -> Result<Ack, IngestError> {
        let result = self
            .accept_inner(content_type, content_encoding, body, token)
            .await;
        match &result {
            Ok(ack) if ack.duplicate => self.metrics.duplicates.inc(),
            Ok(_) => {}
            Err(error) => self.metrics.reject(error.reason()),
        }
        result
    }

    async fn accept_inner(
        &self,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
        token: Option<&Token>,
    ) -> Result<Ack, IngestError> {
        self.metrics.bytes.inc_by(body.len() as u64);
        let format = content_type
            .and_then(Format::from_content_type)
            .ok_or_else(|| IngestError::UnsupportedMediaType(content_type.unwrap_or("").into()))?;
        let encoding = Encoding::from_header(content_encoding).ok_or_else(|| {
            IngestError::UnsupportedEncoding(content_encoding.unwrap_or("").into())
        })?;
        if body.len() > self.limits.max_body_bytes {
            return Err(IngestError::BodyTooLarge {
                limit: self.limits.max_body_bytes,
            });
        }
        let plain = decode::decompress(body, encoding, self.limits.max_decompressed_bytes)?;
        let mut batch = codec::decode_view(&plain, format)?;
        batch.prepare(&self.limits.wire)?;
        if let Some(token) = token
            && !token.may_report_as(&batch.agent.host_id)
        {
            return Err(IngestError::HostNotAllowed {
                token: token.name.clone(),
                host: batch.agent.host_id.clone(),
            });
        }
        if let Some(sample) = batch
            .samples
            .iter()
            .find(|sample| RESERVED_SAMPLE_NAMES.contains(&sample.name.as_ref()))
        {
            return Err(IngestError::ReservedName(sample.name.to_string()));
        }
        let now_ms = self.clock.now_ms();
        let inventory_json = batch
            .inventory
            .as_ref()
            .and_then(|inventory| serde_json::to_string(inventory).ok());
        let change = batch.inventory.as_ref().and_then(|inventory| {
            self.hosts.read(|all| {
                let previous = all.get(&batch.agent.host_id)?;
                inventory_change(
                    &batch.agent.host_id,
                    previous.inventory.as_ref()?,
                    &previous.labels,
                    inventory,
                    &batch.agent.labels,
                    format!(
                        "inventory-{}-{:x}-{}",
                        batch.agent.host_id, batch.stream, batch.seq
                    ),
                    now_ms,
                )
                .map(Box::new)
            })
        });
        // The availability history: only what changed rides on the batch's write. A host that
        // is new here or was silent (restart, or it reported to another collector of a shared
        // store meanwhile) records its states afresh.
        let down_after_ms = self.hosts.down_after_ms();
        let stale = self.hosts.read(|all| {
            all.get(&batch.agent.host_id)
                .is_none_or(|host| now_ms.saturating_sub(host.last_seen_ms) > down_after_ms)
        });
        if stale {
            self.tracker.forget(&batch.agent.host_id);
        }
        let states = self.tracker.changes(
            &batch.agent.host_id,
            batch.agent.labels.get("service").map_or("", String::as_str),
            probe_states(&batch.samples),
            now_ms,
        );
        let write = HostWrite {
            record: BatchRecord {
                host_id: batch.agent.host_id.clone(),
                hostname: batch.agent.hostname.clone(),
                agent_version: batch.agent.version.clone(),
                labels: batch.agent.labels.clone(),
                stream: batch.stream,
                seq: batch.seq,
                received_ms: now_ms,
                inventory_json,
            },
            events: batch
                .events
                .iter()
                .map(|event| agent_event(&batch.agent.host_id, &batch.agent.labels, event))
                .collect(),
            change,
            states: states.clone(),
        };
        let seq = batch.seq;
        let n_samples = batch.samples.len();
        match self
            .pipeline
            .write(Write::Batch(write))
            .await
            .map_err(IngestError::Store)?
        {
            // A batch write answers only Accepted or Duplicate; any other outcome belongs to
            // another kind of write and is treated like a duplicate (nothing counted).
            WriteOutcome::Accepted => {
                self.tracker.apply(states.iter(), now_ms);
                self.tracker
                    .reported(&batch.agent.host_id, probe_states(&batch.samples), now_ms);
                self.metrics.samples.inc_by(n_samples as u64);
                self.metrics.events.inc_by(batch.events.len() as u64);
                self.metrics.batches.inc();
                let host_id = batch.agent.host_id.clone();
                self.capacity.observe(
                    &host_id,
                    &batch.agent.labels,
                    batch.time_ms,
                    now_ms,
                    &batch.samples,
                );
                self.hosts.apply_view(batch, now_ms);
                self.evaluate_rules(&host_id, now_ms);
                Ok(Ack {
                    seq,
                    duplicate: false,
                    n_samples,
                })
            }
            _ => {
                self.hosts.touch(&batch.agent.host_id, now_ms);
                tracing::debug!(host = %batch.agent.host_id, seq, "duplicate batch acknowledged");
                Ok(Ack {
                    seq,
                    duplicate: true,
                    n_samples,
                })
            }
        }
    }

    /// Runs the threshold rules on the host's latest series; their events go to the feed.
    fn evaluate_rules(&self, host_id: &str, now_ms: i64) {
        let events = self.hosts.read(|all| {
            let Some(host) = all.get(host_id) else {
                return Vec::new();
            };
            let mut rules = self
                .rules
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            rules.evaluate(host, self.hosts.hasher(), now_ms)
        });
        for event in events {
            tracing::info!(host = %host_id, check = %event.check, status = event.status.as_str(), summary = %event.summary, "rule event");
            // Unbounded on purpose: rule events are edge-triggered (at most two per series
            // per condition change), and a dropped one would leave an incident wrong.
            if self.feed.send(event).is_err() {
                tracing::warn!(host = %host_id, "event feed closed (shutting down): rule event not recorded");
            }
        }
    }

    /// Forgets a decommissioned host: its stored record, sequence position and in-memory state.
    /// Returns whether there was such a host. A host whose agent still reports comes back with
    /// its next batch.
    pub async fn forget_host(&self, host_id: &str) -> Result<bool, WriteError> {
        let outcome = self
            .pipeline
            .write(Write::ForgetHost(host_id.to_owned()))
            .await?;
        let in_memory = self.hosts.remove(host_id);
        self.capacity.forget(host_id);
        tracing::info!(host = %host_id, "host forgotten");
        // Its history ends: unknown from now on (its probes with it), so a decommissioned host
        // counts neither as up nor as down for itself or its service.
        let ended = crate::store::StateChange {
            kind: crate::availability::tracker::HOST.to_owned(),
            host: host_id.to_owned(),
            probe: String::new(),
            service: String::new(),
            at_ms: self.clock.now_ms(),
            up: None,
        };
        let write = Write::States {
            changes: vec![ended],
            events: Vec::new(),
        };
        if let Err(error) = self.pipeline.write(write).await {
            tracing::warn!(host = %host_id, error = %error, "the end of the host's availability history was not recorded");
        }
        self.tracker.forget(host_id);
        // A decommissioned host is not down any more: resolve its host-down incident, if any
        // (a resolved event with nothing to resolve changes nothing).
        let _ = self.feed.send(crate::rules::host_down_event(
            host_id,
            &vigil_shared::labels::Labels::new(),
            false,
            "host forgotten (decommissioned)".to_owned(),
        ));
        Ok(outcome == WriteOutcome::Forgotten || in_memory)
    }
}
