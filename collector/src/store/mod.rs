//! Persistence only, behind one backend-neutral interface: [`Backend`] (synchronous, explicit
//! transactions, plain data in and out, no domain rules) for the pipeline's writer, and
//! [`Reader`] for the API's queries (committed data only). [`open`] picks the backend from a
//! [`StoreLocation`]: the embedded SQLite file (`sqlite.rs`) or PostgreSQL (`postgres.rs`),
//! which several collectors can share.
//!
//! The one rule both the store and the in-memory host state apply to agent sequence numbers is
//! [`is_newer`]. Everything else about what a write means (events, incidents, actions) is the
//! pipeline's (`crate::pipeline`).
//!
//! **Invariants** (both backends, checked by the conformance suite in `conformance.rs`):
//! - at most one open or acknowledged incident per fingerprint: a unique partial index refuses a
//!   second one ([`StoreError::Conflict`]);
//! - a `(host, stream, seq)` is accepted at most once, `event_id`s at most once;
//! - nothing of a transaction is visible before its commit, nothing of it stays after a rollback.

pub mod capacity;
pub mod conformance;
pub mod outbox;
pub mod postgres;
pub mod sqlite;

use crate::incidents::Incident;
/// A fingerprint's novelty record (table `novelty`: last firing event, decayed past firing time).
pub use crate::incidents::novelty::Record as NoveltyRecord;
pub use capacity::{CapacityFilter, CapacityRecord, ColdRow, HistoryRow, HorizonRecord};
pub use outbox::{
    Claim, Finish, NewNotification, NotificationFilter, NotificationRecord, QueuedNotification,
};
use std::path::PathBuf;
use std::sync::Arc;
use vigil_shared::labels::Labels;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open the store at {location}: {reason}")]
    Open {
        /// Where (passwords removed).
        location: String,
        /// Why.
        reason: String,
    },
    /// The database cannot be reached now (connection refused or lost, pool exhausted, timed
    /// out): retry later.
    #[error("the store is unreachable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// A query or commit failed.
    #[error("store operation failed: {reason}")]
    Database {
        /// Why.
        reason: String,
    },
    /// A uniqueness rule refused the write (e.g. a second active incident for a fingerprint).
    #[error("the store refused a conflicting write: {reason}")]
    Conflict {
        /// Which rule.
        reason: String,
    },
    /// A stored row could not be read back.
    #[error("stored record {id} is unreadable: {reason}")]
    Corrupt {
        /// The record.
        id: String,
        /// Why.
        reason: String,
    },
    /// The stored schema is newer than this build understands.
    #[error(
        "the store's schema version {found} is newer than this collector's {supported}: upgrade the collector"
    )]
    SchemaTooNew {
        /// Version in the store.
        found: i64,
        /// Newest this build knows.
        supported: i64,
    },
    /// This collector's leadership was taken over (its epoch is stale): the write was refused.
    #[error("leadership epoch {epoch} is stale: another collector leads now")]
    Fenced {
        /// The stale epoch.
        epoch: i64,
    },
}

impl StoreError {
    /// True when the same write may succeed later (the database is unreachable or busy).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Fenced { .. }
        )
    }
}

/// Whether a batch at `(stream, seq)` is new for a host last accepted at `position`: a new
/// stream (the agent lost its state and started over) or a higher seq on the same stream.
/// The one sequence rule, used by both backends and by the in-memory host state.
pub fn is_newer(position: Option<(u64, u64)>, stream: u64, seq: u64) -> bool {
    match position {
        None => true,
        Some((known_stream, known_seq)) => known_stream != stream || seq > known_seq,
    }
}

/// A record as the JSON document both backends keep (`id` names it if it cannot be written).
pub(crate) fn to_document(id: &str, value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Corrupt {
        id: id.to_owned(),
        reason: error.to_string(),
    })
}

/// What a store without an outbox answers (test doubles only).
fn no_outbox() -> StoreError {
    StoreError::Database {
        reason: "this store keeps no notification outbox".to_owned(),
    }
}

/// Refuses a stored schema newer than the `supported` migrations of this build.
pub(crate) fn check_schema_version(found: i64, supported: usize) -> Result<(), StoreError> {
    let supported = supported as i64;
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    Ok(())
}

/// When a commit reaches the disk (SQLite; PostgreSQL follows its server's settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// fsync on every commit: a 2xx survives a power cut.
    #[default]
    Full,
    /// The OS writes the log back: a 2xx survives a kill -9 of the collector but not a power
    /// cut or kernel crash, which may lose the last commits (never corrupt the store).
    Normal,
}

/// Where the shared state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://USER[:PASS]@HOST[:PORT]/DB`).
    Postgres(PostgresUrl),
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// A PostgreSQL URL; `Display` and `Debug` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// Wraps a `postgres://` or `postgresql://` URL.
    pub fn new(url: impl Into<String>) -> PostgresUrl {
        PostgresUrl(url.into())
    }

    /// The URL with its password, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            return url.clone();
        };
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => format!(
                        "{}{}:***{}",
                        &url[..scheme_end + 3],
                        &userinfo[..colon],
                        &rest[at..]
                    ),
                    None => url.clone(),
                }
            }
            None => url.clone(),
        }
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({})", self.redacted())
    }
}

/// How to open a store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// SQLite: fsync per commit or not.
    pub durability: Durability,
    /// PostgreSQL: most connections in the pool.
    pub pool_size: usize,
    /// PostgreSQL: longest a statement may run, and longest a pool checkout may wait.
    pub statement_timeout: std::time::Duration,
    /// PostgreSQL: longest a transaction may sit idle (a frozen collector's locks are released
    /// after this).
    pub idle_in_transaction_timeout: std::time::Duration,
    /// PostgreSQL with `sslmode=require`: the CA certificates (PEM) the server's certificate
    /// must chain to; the system's roots when `None`.
    pub ca_file: Option<PathBuf>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Full,
            pool_size: 8,
            statement_timeout: std::time::Duration::from_secs(5),
            idle_in_transaction_timeout: std::time::Duration::from_secs(5),
            ca_file: None,
        }
    }
}

/// An opened store: the writer's backend and the API's reader.
pub struct Opened {
    /// For the pipeline's writer thread.
    pub backend: Box<dyn Backend>,
    /// For the API.
    pub reader: Arc<dyn Reader>,
}

/// Opens (creating and migrating as needed) the store at `location`.
pub fn open(location: &StoreLocation, options: &StoreOptions) -> Result<Opened, StoreError> {
    match location {
        StoreLocation::Sqlite(path) => {
            let backend = sqlite::SqliteBackend::open_with(path, options.durability)?;
            let reader = sqlite::SqliteReader::open(path)?;
            Ok(Opened {
                backend: Box::new(backend),
                reader: Arc::new(reader),
            })
        }
        StoreLocation::Postgres(url) => {
            let store = postgres::PostgresStore::connect(url, options)?;
            Ok(Opened {
                backend: Box::new(store.backend()),
                reader: Arc::new(store.reader()),
            })
        }
    }
}

/// One host's accepted batch as persisted: identity and sequence position.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// Host id.
    pub host_id: String,
    /// OS hostname.
    pub hostname: String,
    /// Agent version.
    pub agent_version: String,
    /// Host labels.
    pub labels: Labels,
    /// The agent's sequence stream.
    pub stream: u64,
    /// The batch's sequence number.
    pub seq: u64,
    /// When the collector received it, Unix ms.
    pub received_ms: i64,
    /// The inventory as JSON, when the batch carried one.
    pub inventory_json: Option<String>,
}

/// A change record (SPEC "Change"): deploys, config changes, maintenance, inventory drift.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChangeRecord {
    /// Stable id.
    pub id: String,
    /// `deploy`, `config`, `maintenance`, `inventory` or `other`.
    pub kind: String,
    /// One line.
    pub summary: String,
    /// Who made it (`vigil` for inventory drift).
    pub by: String,
    /// Hosts concerned.
    pub hosts: Vec<String>,
    /// Services concerned.
    pub services: Vec<String>,
    /// Start, Unix ms.
    pub starts_ms: i64,
    /// End, Unix ms.
    pub ends_ms: Option<i64>,
    /// Details (for inventory: the fields that changed, before and after).
    pub details: serde_json::Value,
}

/// A problem record (SPEC `GET /v1/problems`), as kept: the record as JSON, plus its fingerprint
/// and state as columns (one problem that is not resolved per fingerprint, a unique partial
/// index in both schemas). Which incidents it links are rows of their own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProblemRecord {
    /// Stable id (`p` + the id of the incident that opened it).
    pub id: String,
    /// The fingerprint it groups.
    pub fingerprint: String,
    /// `open`, `known_error` or `resolved`.
    pub state: String,
    /// `recurrence` or `service_wide`.
    pub reason: String,
    /// Its title (the first incident's).
    pub title: String,
    /// What people found.
    #[serde(default)]
    pub root_cause: Option<String>,
    /// What to do meanwhile (new incidents of a known error carry it).
    #[serde(default)]
    pub workaround: Option<String>,
    /// Opened, Unix ms.
    pub created_ms: i64,
    /// Last change, Unix ms.
    pub updated_ms: i64,
    /// Who changed it last (`vigil` when it opened).
    pub updated_by: String,
}

/// One incident of a fingerprint and when it opened (what recurrence counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningRecord {
    /// The fingerprint.
    pub fingerprint: String,
    /// The incident.
    pub incident_id: String,
    /// Opened, Unix ms.
    pub opened_ms: i64,
}

/// Most recent changes the writer keeps for the suspect stage.
pub const MAX_RECENT_CHANGES: usize = 10_000;

/// A silence or maintenance window (SPEC "Change and silence"), as kept.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SilenceRecord {
    /// Stable id.
    pub id: String,
    /// All must hold.
    pub matchers: Vec<MatcherRecord>,
    /// From, Unix ms.
    pub starts_ms: i64,
    /// Until, Unix ms (a deleted silence ends when it was deleted).
    pub ends_ms: i64,
    /// Who.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// The maintenance change it comes from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
}

/// One matcher of a silence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatcherRecord {
    /// A label, or `host`, `service`, `check`, `source`, `severity`.
    pub name: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: String,
    /// The value or pattern.
    pub value: String,
}

/// Filters of `GET /v1/changes`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeFilter {
    /// Only this host.
    pub host: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// A host as loaded from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRecord {
    /// Host id.
    pub host_id: String,
    /// OS hostname.
    pub hostname: String,
    /// Agent version.
    pub agent_version: String,
    /// Host labels.
    pub labels: Labels,
    /// Last accepted stream.
    pub stream: u64,
    /// Last accepted seq.
    pub seq: u64,
    /// First time seen, Unix ms.
    pub first_seen_ms: i64,
    /// Last accepted batch, Unix ms.
    pub last_seen_ms: i64,
    /// Inventory JSON, if any was ever sent.
    pub inventory_json: Option<String>,
}

/// A host's liveness as the leader's heartbeat sweep reads it from a shared store.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Host id.
    pub host_id: String,
    /// Host labels.
    pub labels: Labels,
    /// Last accepted batch, Unix ms.
    pub last_seen_ms: i64,
}

/// An incident a group changed, for [`Backend::save_incidents`].
#[derive(Debug, Clone, Copy)]
pub struct IncidentSave<'a> {
    /// The incident as the group left it.
    pub incident: &'a Incident,
    /// When the tick next has work for it.
    pub next_due_ms: Option<i64>,
    /// The state of its stored row before the group (as loaded); `None` when the group created
    /// it. When it equals the incident's state, the row's state did not change.
    pub stored_state: Option<crate::incidents::State>,
}

/// Whether a batch was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// New: the host's position moved.
    Accepted,
    /// Its seq was already accepted for this `(host, stream)`: nothing written.
    Duplicate,
}

/// One recorded up/down change of a host or a probe (the availability history). A host's rows
/// have an empty `probe`; `service` is the host's `service` label when the change was seen
/// (empty without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// `host` or `probe`.
    pub kind: String,
    /// Host id.
    pub host: String,
    /// Probe name (empty for a host).
    pub probe: String,
    /// The host's `service` label then, or empty.
    pub service: String,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Up (`Some(true)`), down, or unknown from now on (`None`: no longer reported — a probe
    /// taken out of its agent's config, a forgotten host).
    pub up: Option<bool>,
}

/// A lease on the leadership of the time-driven sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The fencing token: grows with every new leader.
    pub epoch: i64,
}

/// A storage backend: synchronous, used from the pipeline's writer thread only. Calls between
/// [`Backend::begin`] and [`Backend::commit`] form one transaction.
///
/// The methods under "shared stores" matter when several collectors use one database
/// ([`Backend::is_shared`]); an embedded store has one writer and keeps their defaults.
pub trait Backend: Send + 'static {
    /// Every known host.
    fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError>;
    /// Every incident that is not closed, and the highest incident id ever issued (0 if none).
    fn load_incidents(&mut self) -> Result<(Vec<Incident>, u64), StoreError>;
    /// Starts a transaction.
    fn begin(&mut self) -> Result<(), StoreError>;
    /// Starts a transaction whose commit need not be on disk when `commit` returns: it gets
    /// there with the next ordinary commit, or within about a second. A power cut may lose it,
    /// never tear it or reorder it after a later ordinary commit. Only for bookkeeping whose loss
    /// repeats work harmlessly (delivery outcomes and claims: a notification sent again carries
    /// the same idempotency key), never for anything a 2xx answered. The default is
    /// [`Backend::begin`].
    fn begin_deferred(&mut self) -> Result<(), StoreError> {
        self.begin()
    }
    /// The sequence check ([`is_newer`]) and, when new, the host's record.
    fn record_batch(&mut self, batch: &BatchRecord) -> Result<Recorded, StoreError>;
    /// Keeps a change record.
    fn save_change(&mut self, change: &ChangeRecord) -> Result<(), StoreError>;
    /// Deletes a host with its capacity forecasts and histories; false when there was no host.
    fn forget_host(&mut self, host_id: &str) -> Result<bool, StoreError>;
    /// Records an event id; false when it was recorded before.
    fn claim_event_id(&mut self, event_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Forgets event ids recorded before `before_ms`; returns how many.
    fn prune_event_ids(&mut self, before_ms: i64) -> Result<usize, StoreError>;
    /// Inserts or updates an incident (with its timeline); `next_due_ms` is when the tick next
    /// has work for it. A second active incident for one fingerprint is a
    /// [`StoreError::Conflict`].
    fn save_incident(
        &mut self,
        incident: &Incident,
        next_due_ms: Option<i64>,
    ) -> Result<(), StoreError>;
    /// One incident, closed ones included.
    fn find_incident(&mut self, id: &str) -> Result<Option<Incident>, StoreError>;
    /// Commits the transaction.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Abandons the transaction (best effort; a failed rollback is logged).
    fn rollback(&mut self);

    // Several at once: the pipeline hands a group's rows over in one call each, so a networked
    // store can answer in a few round trips instead of one per row. The defaults call the
    // one-row methods in order; a backend that batches them must give the same answers.

    /// [`Backend::record_batch`] for each batch, in order: a host that appears twice is checked
    /// against its own earlier batch.
    fn record_batches(&mut self, batches: &[&BatchRecord]) -> Result<Vec<Recorded>, StoreError> {
        batches
            .iter()
            .map(|batch| self.record_batch(batch))
            .collect()
    }
    /// [`Backend::claim_event_id`] for each id, in order: an id that appears twice is claimed
    /// by its first appearance only.
    fn claim_event_ids(
        &mut self,
        event_ids: &[&str],
        now_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        event_ids
            .iter()
            .map(|event_id| self.claim_event_id(event_id, now_ms))
            .collect()
    }
    /// [`Backend::save_change`] for each change.
    fn save_changes(&mut self, changes: &[&ChangeRecord]) -> Result<(), StoreError> {
        changes
            .iter()
            .try_for_each(|change| self.save_change(change))
    }
    /// [`Backend::save_incident`] for each incident a group changed. A backend may use
    /// [`IncidentSave::stored_state`] to leave what did not change alone.
    fn save_incidents(&mut self, incidents: &[IncidentSave<'_>]) -> Result<(), StoreError> {
        incidents
            .iter()
            .try_for_each(|save| self.save_incident(save.incident, save.next_due_ms))
    }

    /// Keeps capacity forecasts and series histories (each replaces the row of its host and
    /// resource), with each history's new cold parts (a part already kept is replaced), and
    /// forgets the series' cold parts that end before its `cold_before_ms`.
    fn save_capacity(
        &mut self,
        _records: &[&CapacityRecord],
        _histories: &[HistoryRow],
    ) -> Result<(), StoreError> {
        Err(StoreError::Database {
            reason: "this store keeps no capacity history".to_owned(),
        })
    }

    /// Keeps up/down changes of hosts and probes; a second change of one subject at the same
    /// millisecond replaces the first.
    fn record_state_changes(&mut self, _changes: &[StateChange]) -> Result<(), StoreError> {
        Err(StoreError::Database {
            reason: "this store keeps no availability history".to_owned(),
        })
    }

    /// Forgets the changes before `before_ms` except each subject's last one before it (the
    /// state the kept history starts in); returns how many.
    fn prune_state_changes(&mut self, _before_ms: i64) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Keeps a silence (insert, or replace by id).
    fn save_silence(&mut self, _silence: &SilenceRecord) -> Result<(), StoreError> {
        Err(no_outbox())
    }
    /// The silences that have not ended by `now_ms`.
    fn load_silences(&mut self, _now_ms: i64) -> Result<Vec<SilenceRecord>, StoreError> {
        Ok(Vec::new())
    }
    /// Keeps a problem (insert, or replace by id). A second problem that is not resolved for one
    /// fingerprint is a [`StoreError::Conflict`].
    fn save_problem(&mut self, _problem: &ProblemRecord) -> Result<(), StoreError> {
        Err(no_outbox())
    }
    /// Links incidents to a problem (a link kept before changes nothing).
    fn link_problem(
        &mut self,
        _problem_id: &str,
        _incident_ids: &[String],
    ) -> Result<(), StoreError> {
        Err(no_outbox())
    }
    /// One problem.
    fn find_problem(&mut self, _id: &str) -> Result<Option<ProblemRecord>, StoreError> {
        Ok(None)
    }
    /// The problems that are not resolved: of these fingerprints, or all with `None`.
    fn active_problems(
        &mut self,
        _fingerprints: Option<&[String]>,
    ) -> Result<Vec<ProblemRecord>, StoreError> {
        Ok(Vec::new())
    }
    /// Incidents opened at or after `since_ms` and linked to no problem (what a new recurrence
    /// counts): of these fingerprints, or all with `None`.
    fn incident_openings(
        &mut self,
        _fingerprints: Option<&[String]>,
        _since_ms: i64,
    ) -> Result<Vec<OpeningRecord>, StoreError> {
        Ok(Vec::new())
    }
    /// Novelty paging's per-fingerprint records: of these fingerprints, or all with `None`.
    fn load_novelty(
        &mut self,
        _fingerprints: Option<&[String]>,
    ) -> Result<Vec<NoveltyRecord>, StoreError> {
        Ok(Vec::new())
    }
    /// Keeps novelty records (each replaces its fingerprint's).
    fn save_novelty(&mut self, _records: &[NoveltyRecord]) -> Result<(), StoreError> {
        Err(no_outbox())
    }
    /// Change records that started at or after `since_ms`, except `maintenance` (those silence),
    /// newest first, at most [`MAX_RECENT_CHANGES`] (what the suspect stage looks at).
    fn load_changes(&mut self, _since_ms: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        Ok(Vec::new())
    }

    // The notification outbox (`outbox.rs` has the rules). Both backends implement every call
    // (the conformance suite checks them); the defaults refuse, for test doubles.

    /// Queues notifications in the transaction; each row is claimed by `claim.holder` at once
    /// when it is due and in order (see `outbox.rs`). Returns, per row, its id when claimed.
    fn enqueue_notifications(
        &mut self,
        _rows: &[NewNotification],
        _claim: Claim<'_>,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        Err(no_outbox())
    }
    /// Cancels the escalations still waiting for these incidents (acknowledged or resolved).
    fn cancel_escalations(&mut self, _incident_ids: &[&str]) -> Result<u64, StoreError> {
        Err(no_outbox())
    }
    /// Cancels the unfinished rows of these incidents that are not due before `now_ms` (those
    /// held back by the topology hold, once the incident attached to a parent).
    fn cancel_held(&mut self, _incident_ids: &[&str], _now_ms: i64) -> Result<u64, StoreError> {
        Err(no_outbox())
    }
    /// Claims up to `limit` claimable rows, oldest first.
    fn claim_notifications(
        &mut self,
        _claim: Claim<'_>,
        _limit: usize,
    ) -> Result<Vec<QueuedNotification>, StoreError> {
        Err(no_outbox())
    }
    /// Records what became of rows `holder` claimed.
    fn finish_notifications(
        &mut self,
        _holder: &str,
        _finished: &[Finish],
        _now_ms: i64,
    ) -> Result<(), StoreError> {
        Err(no_outbox())
    }
    /// Extends `holder`'s lease on these rows to `until_ms`.
    fn renew_notifications(
        &mut self,
        _holder: &str,
        _ids: &[i64],
        _until_ms: i64,
    ) -> Result<(), StoreError> {
        Err(no_outbox())
    }
    /// Queues a dead or failed notification again (an operator's retry); false when there is
    /// no such row in those states.
    fn retry_notification(
        &mut self,
        _id: i64,
        _now_ms: i64,
        _give_up_ms: i64,
    ) -> Result<bool, StoreError> {
        Err(no_outbox())
    }
    /// Forgets finished notifications (sent, dead, cancelled) queued before `before_ms`.
    fn prune_notifications(&mut self, _before_ms: i64) -> Result<usize, StoreError> {
        Ok(0)
    }

    // Shared stores.

    /// True when other collectors write to the same store: the pipeline then locks and reloads
    /// what it decides on, and only the leader runs the sweeps.
    fn is_shared(&self) -> bool {
        false
    }
    /// Serializes decisions on these fingerprints with other collectors until the transaction
    /// ends (sorted, so two transactions never wait on each other in a cycle).
    fn lock_fingerprints(&mut self, _fingerprints: &[String]) -> Result<(), StoreError> {
        Ok(())
    }
    /// The newest incident that is not closed for each fingerprint that has one.
    fn current_incidents(&mut self, _fingerprints: &[String]) -> Result<Vec<Incident>, StoreError> {
        Ok(Vec::new())
    }
    /// The fingerprints of the active incidents on any of `hosts` (a shared store: topology
    /// decides on them with the group; an embedded store's engine holds them all).
    fn active_fingerprints_on_hosts(
        &mut self,
        _hosts: &[String],
    ) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    /// The fingerprints of the incidents not closed with any of these grouping keys (a shared
    /// store: service grouping decides on a key's incidents together; an embedded store's engine
    /// holds them all).
    fn fingerprints_in_groups(&mut self, _keys: &[String]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    /// The fingerprint of incident `id`.
    fn fingerprint_of(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.find_incident(id)?.map(|incident| incident.fingerprint))
    }
    /// Incidents the tick has work for at `now_ms`.
    fn due_incidents(&mut self, _now_ms: i64) -> Result<Vec<Incident>, StoreError> {
        Ok(Vec::new())
    }
    /// Locks the shared id counter for the transaction and returns the highest id issued.
    fn lock_last_id(&mut self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Moves the shared id counter to `last_id` (after [`Backend::lock_last_id`]).
    fn store_last_id(&mut self, _last_id: u64) -> Result<(), StoreError> {
        Ok(())
    }
    /// Open or acknowledged incidents per priority (index 0 = priority 1), as committed.
    fn active_by_priority(&mut self) -> Result<[u64; 5], StoreError> {
        Ok([0; 5])
    }
    /// Takes or renews the leadership lease for `holder` for `lease_ms`: `Some` while this
    /// holder leads (a new epoch when it just took over), `None` while another's lease runs.
    fn acquire_lease(
        &mut self,
        _holder: &str,
        _lease_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        Ok(Some(Lease { epoch: 1 }))
    }
    /// Fails the transaction with [`StoreError::Fenced`] unless `epoch` still leads (call it in
    /// the transaction of every leader-only write).
    fn check_epoch(&mut self, _epoch: i64) -> Result<(), StoreError> {
        Ok(())
    }
    /// Checks that the database answers.
    fn ping(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Filters of `GET /v1/incidents`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    /// Any of these states (empty: all).
    pub states: Vec<crate::incidents::State>,
    /// This host (the incident's host or any host folded into it).
    pub host: Option<String>,
    /// Any of these priorities (empty: all).
    pub priorities: Vec<u8>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// Read access for the API, on its own connection(s): sees committed data only. Blocking: call
/// it from `spawn_blocking`.
pub trait Reader: Send + Sync + 'static {
    /// Incidents matching `filter`, newest first.
    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;
    /// One incident.
    fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError>;
    /// Change records matching `filter`, newest first.
    fn list_changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRecord>, StoreError>;
    /// Silences, newest first: those not ended by `now_ms`, or all with `include_ended`.
    fn list_silences(
        &self,
        now_ms: i64,
        include_ended: bool,
        limit: usize,
    ) -> Result<Vec<SilenceRecord>, StoreError>;
    /// Notifications matching `filter`, newest first.
    fn list_notifications(
        &self,
        filter: &NotificationFilter,
    ) -> Result<Vec<NotificationRecord>, StoreError>;
    /// The persisted histories of `host_id`'s series (their `cold` parts left empty).
    fn load_history(&self, host_id: &str) -> Result<Vec<HistoryRow>, StoreError>;
    /// The cold parts kept of one series' history, oldest first.
    fn load_cold(&self, host_id: &str, resource: &str) -> Result<Vec<ColdRow>, StoreError>;
    /// Capacity forecasts matching `filter`, by host and resource.
    fn list_capacity(&self, filter: &CapacityFilter) -> Result<Vec<CapacityRecord>, StoreError>;
    /// Problems, newest first: in any of `states` (all when empty), at most `limit`.
    fn list_problems(
        &self,
        _states: &[String],
        _limit: usize,
    ) -> Result<Vec<ProblemRecord>, StoreError> {
        Ok(Vec::new())
    }
    /// One problem with the ids of the incidents it links, oldest first.
    fn get_problem(&self, _id: &str) -> Result<Option<(ProblemRecord, Vec<String>)>, StoreError> {
        Ok(None)
    }
    /// For these incidents, the problem each is linked to: `(incident id, problem id)`.
    fn problem_links(&self, _incident_ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        Ok(Vec::new())
    }
    /// The availability history from `since_ms` on: per subject (kind, host, probe) its last
    /// change before `since_ms` (the state the window starts in) and every change at or after
    /// it, ordered by subject and time.
    fn state_changes(&self, _since_ms: i64) -> Result<Vec<StateChange>, StoreError> {
        Ok(Vec::new())
    }
    /// Every host's liveness as stored (a shared store's leader sweeps these; an embedded
    /// store's hosts live in memory and it returns nothing).
    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        Ok(Vec::new())
    }
    /// Checks that the database answers.
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_rule() {
        let table = [
            (None, 1, 1, true),
            (Some((1, 5)), 1, 6, true),
            (Some((1, 5)), 1, 5, false),
            (Some((1, 5)), 1, 4, false),
            (Some((1, 5)), 2, 1, true),
            (Some((u64::MAX, u64::MAX - 1)), u64::MAX, u64::MAX, true),
        ];
        for (position, stream, seq, expected) in table {
            assert_eq!(
                is_newer(position, stream, seq),
                expected,
                "{position:?} {stream} {seq}"
            );
        }
    }

    #[test]
    fn postgres_urls_hide_their_password() {
        let url = PostgresUrl::new("postgres://vigil:s3cret@db.local:5432/vigil");
        assert_eq!(url.to_string(), "postgres://vigil:***@db.local:5432/vigil");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(
            PostgresUrl::new("postgres://vigil@db/vigil").to_string(),
            "postgres://vigil@db/vigil"
        );
        assert_eq!(url.expose(), "postgres://vigil:s3cret@db.local:5432/vigil");
    }
}
