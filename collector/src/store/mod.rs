//! Durable state behind one interface: [`Backend`] (synchronous, explicit transactions, no
//! domain rules) driven by [`Store`], a single writer thread that groups concurrent writes into
//! one transaction (group commit) and answers each caller only after that transaction is
//! committed.
//!
//! The writer thread also runs the incident [`Engine`]: events carried by a write go through the
//! engine inside the same transaction, and every incident the group changed is saved before the
//! commit. When the commit fails the engine rolls back too, so memory never runs ahead of the
//! disk. Reads for the API go through [`Reader`] on their own connection and see only committed
//! data.
//!
//! **Invariant:** a caller that receives an `Ok` outcome has its write committed (or found to be
//! a repeat); a caller that receives an error has had nothing written.

pub mod sqlite;

use crate::clock::Clock;
use crate::incidents::{
    Action, ActionError, Effect, Engine, EventIn, EventOutcome, Incident, State,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};
use vigil_shared::labels::Labels;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// Where.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A query or commit failed.
    #[error("store operation failed: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored row could not be read back.
    #[error("stored incident {id} is unreadable: {reason}")]
    Corrupt {
        /// The incident.
        id: String,
        /// Why.
        reason: String,
    },
    /// The stored schema is newer than this build understands.
    #[error(
        "the store's schema version {found} is newer than this collector's {supported}: upgrade the collector"
    )]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest this build knows.
        supported: i64,
    },
    /// Too many writes are queued.
    #[error("the store is busy: too many writes queued, retry shortly")]
    Overloaded,
    /// The writer thread has stopped.
    #[error("the store is closed")]
    Closed,
}

/// One host's accepted batch, as persisted.
#[derive(Debug, Clone, PartialEq)]
pub struct HostWrite {
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
    /// Events the batch carried, for the incident engine.
    pub events: Vec<EventIn>,
    /// A change record to keep with the batch (the inventory drifted).
    pub change: Option<Box<ChangeRecord>>,
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

/// One change to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// An accepted agent batch: the host's identity, sequence position and events.
    Batch(HostWrite),
    /// Forget a host (decommissioned): its record and sequence position.
    ForgetHost(String),
    /// Events from the API, rules or the heartbeat.
    Events(Vec<EventIn>),
    /// An action on an incident.
    Act {
        /// Incident id.
        id: String,
        /// What.
        action: Action,
        /// Who.
        by: String,
        /// Note or comment.
        text: Option<String>,
    },
    /// Time passed: SLA breaches, settling, closing, pruning old event ids.
    Tick,
}

/// What became of a write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// New data: committed.
    Accepted,
    /// `seq` was already accepted for this `(host, stream)`: nothing written.
    Duplicate,
    /// The host was forgotten.
    Forgotten,
    /// There was no such host.
    NotFound,
    /// One outcome per event.
    Events(Vec<EventOutcome>),
    /// The incident after the action, or why it was refused.
    Incident(Box<Result<Incident, ActionError>>),
    /// The tick ran.
    Ticked,
}

/// A host as loaded from the store at start.
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

/// A storage backend: synchronous, used from the store's writer thread only. Calls between
/// [`Backend::begin`] and [`Backend::commit`] form one transaction.
pub trait Backend: Send + 'static {
    /// Every known host.
    fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError>;
    /// Every incident that is not closed, and the highest incident id ever issued (0 if none).
    fn load_incidents(&mut self) -> Result<(Vec<Incident>, u64), StoreError>;
    /// Starts a transaction.
    fn begin(&mut self) -> Result<(), StoreError>;
    /// The sequence check and, when new, the host's record: `Accepted` or `Duplicate`.
    fn record_batch(&mut self, write: &HostWrite) -> Result<WriteOutcome, StoreError>;
    /// Deletes a host: `Forgotten` or `NotFound`.
    fn forget_host(&mut self, host_id: &str) -> Result<WriteOutcome, StoreError>;
    /// Records an event id; false when it was recorded before.
    fn claim_event_id(&mut self, event_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Forgets event ids recorded before `before_ms`; returns how many.
    fn prune_event_ids(&mut self, before_ms: i64) -> Result<usize, StoreError>;
    /// Inserts or replaces an incident (with its timeline).
    fn save_incident(&mut self, incident: &Incident) -> Result<(), StoreError>;
    /// One incident, closed ones included.
    fn find_incident(&mut self, id: &str) -> Result<Option<Incident>, StoreError>;
    /// Commits the transaction.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Abandons the transaction (best effort; a failed rollback is logged).
    fn rollback(&mut self);
}

/// Filters of `GET /v1/incidents`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    /// Any of these states (empty: all).
    pub states: Vec<State>,
    /// This host (the incident's host or any host folded into it).
    pub host: Option<String>,
    /// Any of these priorities (empty: all).
    pub priorities: Vec<u8>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// Read access for the API, on its own connection: sees committed data only.
pub trait Reader: Send + Sync + 'static {
    /// Incidents matching `filter`, newest first.
    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;
    /// One incident.
    fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError>;
    /// Change records matching `filter`, newest first.
    fn list_changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRecord>, StoreError>;
}

/// What one commit did, for metrics and logs.
#[derive(Debug)]
pub struct CommitReport<'a> {
    /// Incident transitions made durable.
    pub effects: &'a [Effect],
    /// Open or acknowledged incidents per priority (index 0 = priority 1) after the commit.
    pub open_by_priority: [u64; 5],
    /// Events per outcome kind ([`EventOutcome::KINDS`]).
    pub event_outcomes: [u64; 8],
}

/// Called on the writer thread after each commit.
pub type Observer = Box<dyn Fn(&CommitReport<'_>) + Send>;

type Reply = oneshot::Sender<Result<WriteOutcome, Arc<StoreError>>>;

/// Most writes grouped into one transaction.
const MAX_GROUP: usize = 1_024;

/// Event ids are pruned at most this often.
const PRUNE_EVERY_MS: i64 = 60_000;

/// Handle to the store's writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    sender: mpsc::Sender<(Write, Reply)>,
    healthy: Arc<AtomicBool>,
    died: Arc<tokio::sync::Notify>,
}

/// What the writer thread owns.
pub struct Writer {
    /// The backend.
    pub backend: Box<dyn Backend>,
    /// The incident engine, restored from the backend.
    pub engine: Engine,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Told about each commit's effects.
    pub observer: Observer,
    /// How long an event id is remembered, ms.
    pub event_id_retention_ms: i64,
}

impl Store {
    /// Starts the writer thread; at most `max_pending` writes wait in its queue. Returns the
    /// handle and the thread, which ends once every handle is dropped.
    pub fn start(
        writer: Writer,
        max_pending: usize,
    ) -> std::io::Result<(Store, std::thread::JoinHandle<()>)> {
        let (sender, receiver) = mpsc::channel(max_pending.max(1));
        let healthy = Arc::new(AtomicBool::new(true));
        let thread_healthy = Arc::clone(&healthy);
        let died = Arc::new(tokio::sync::Notify::new());
        let thread_died = Arc::clone(&died);
        let thread = std::thread::Builder::new()
            .name("vigil-store".into())
            .spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    writer_loop(writer, receiver, &thread_healthy);
                }));
                if outcome.is_err() {
                    // A bug. Nothing uncommitted is on disk; serving 503 forever would be worse
                    // than a restart from the durable state: the app stops with an error.
                    thread_healthy.store(false, Ordering::Relaxed);
                    tracing::error!("the store writer panicked");
                    thread_died.notify_one();
                }
            })?;
        Ok((
            Store {
                sender,
                healthy,
                died,
            },
            thread,
        ))
    }

    /// Persists one write; resolves once it is committed (or found to be a repeat). Refuses at
    /// once with [`StoreError::Overloaded`] when the queue is full.
    pub async fn write(&self, write: Write) -> Result<WriteOutcome, Arc<StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send((write, reply))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => Arc::new(StoreError::Overloaded),
                mpsc::error::TrySendError::Closed(_) => Arc::new(StoreError::Closed),
            })?;
        answer.await.map_err(|_| Arc::new(StoreError::Closed))?
    }

    /// Like [`Store::write`] but waits for queue space instead of refusing: for the collector's
    /// own producers (rules, heartbeat, ticks), which must not drop what they found.
    pub async fn write_waiting(&self, write: Write) -> Result<WriteOutcome, Arc<StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((write, reply))
            .await
            .map_err(|_| Arc::new(StoreError::Closed))?;
        answer.await.map_err(|_| Arc::new(StoreError::Closed))?
    }

    /// Resolves if the writer thread dies of a bug (a panic); never otherwise.
    pub async fn writer_died(&self) {
        self.died.notified().await;
    }

    /// False once the last commit failed (cleared by the next successful one) or the writer stopped.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.sender.is_closed()
    }
}

/// Applies one write inside the open transaction.
pub fn apply(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    write: &Write,
    now_ms: i64,
    counts: &mut [u64; 8],
) -> Result<WriteOutcome, StoreError> {
    match write {
        Write::Batch(host) => {
            let outcome = backend.record_batch(host)?;
            if outcome == WriteOutcome::Accepted {
                for event in &host.events {
                    counts[engine.on_event(event, now_ms).kind_index()] += 1;
                }
            }
            Ok(outcome)
        }
        Write::ForgetHost(host_id) => backend.forget_host(host_id),
        Write::Events(events) => {
            let mut outcomes = Vec::with_capacity(events.len());
            for event in events {
                if let Some(event_id) = &event.event_id
                    && !backend.claim_event_id(event_id, now_ms)?
                {
                    counts[EventOutcome::Duplicate.kind_index()] += 1;
                    outcomes.push(EventOutcome::Duplicate);
                    continue;
                }
                let outcome = engine.on_event(event, now_ms);
                counts[outcome.kind_index()] += 1;
                outcomes.push(outcome);
            }
            Ok(WriteOutcome::Events(outcomes))
        }
        Write::Act {
            id,
            action,
            by,
            text,
        } => {
            let result = match engine.act(id, *action, by, text.as_deref(), now_ms) {
                Err(ActionError::NotFound(_)) => match backend.find_incident(id)? {
                    // Closed incidents live only in the store; closing again is a no-op.
                    Some(stored) => {
                        match crate::incidents::lifecycle::check_action(&stored, *action) {
                            Ok(()) => Ok(stored),
                            Err(error) => Err(error),
                        }
                    }
                    None => Err(ActionError::NotFound(id.clone())),
                },
                other => other,
            };
            Ok(WriteOutcome::Incident(Box::new(result)))
        }
        Write::Tick => {
            engine.tick(now_ms);
            Ok(WriteOutcome::Ticked)
        }
    }
}

fn writer_loop(
    mut writer: Writer,
    mut receiver: mpsc::Receiver<(Write, Reply)>,
    healthy: &AtomicBool,
) {
    let mut writes = Vec::with_capacity(MAX_GROUP);
    let mut replies = Vec::with_capacity(MAX_GROUP);
    let mut last_prune_ms = i64::MIN;
    writer.observe(&[], [0; 8]);
    while let Some((write, reply)) = receiver.blocking_recv() {
        writes.push(write);
        replies.push(reply);
        while writes.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok((write, reply)) => {
                    writes.push(write);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let now_ms = writer.clock.now_ms();
        let prune = writes.iter().any(|write| matches!(write, Write::Tick))
            && now_ms.saturating_sub(last_prune_ms) >= PRUNE_EVERY_MS;
        let mut counts = [0u64; 8];
        match writer.group(&writes, now_ms, prune, &mut counts) {
            Ok(outcomes) => {
                healthy.store(true, Ordering::Relaxed);
                if prune {
                    last_prune_ms = now_ms;
                }
                let effects = writer.engine.commit();
                writer.observe(&effects, counts);
                for (reply, outcome) in replies.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                writer.engine.rollback();
                writer.backend.rollback();
                healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %error, n_writes = writes.len(), "store commit failed");
                let error = Arc::new(error);
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(Arc::clone(&error)));
                }
            }
        }
        writes.clear();
    }
    tracing::debug!("store writer stopped");
}

impl Writer {
    /// One transaction: every write, then every incident they changed, then the commit.
    fn group(
        &mut self,
        writes: &[Write],
        now_ms: i64,
        prune: bool,
        counts: &mut [u64; 8],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        self.backend.begin()?;
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            outcomes.push(apply(
                self.backend.as_mut(),
                &mut self.engine,
                write,
                now_ms,
                counts,
            )?);
        }
        for incident in self.engine.dirty() {
            self.backend.save_incident(incident)?;
        }
        if prune {
            let pruned = self
                .backend
                .prune_event_ids(now_ms.saturating_sub(self.event_id_retention_ms))?;
            if pruned > 0 {
                tracing::debug!(pruned, "old event ids forgotten");
            }
        }
        self.backend.commit()?;
        Ok(outcomes)
    }

    fn observe(&self, effects: &[Effect], event_outcomes: [u64; 8]) {
        (self.observer)(&CommitReport {
            effects,
            open_by_priority: self.engine.active_by_priority(),
            event_outcomes,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::incidents::Policy;
    use vigil_shared::event::{Severity, Status};

    fn write(host: &str, seq: u64) -> Write {
        Write::Batch(HostWrite {
            host_id: host.into(),
            hostname: host.into(),
            agent_version: "t".into(),
            labels: Labels::new(),
            stream: 1,
            seq,
            received_ms: 1,
            inventory_json: None,
            events: Vec::new(),
            change: None,
        })
    }

    fn start(backend: Box<dyn Backend>, max_pending: usize) -> Store {
        let writer = Writer {
            backend,
            engine: Engine::new(Policy::default(), Vec::new(), 0),
            clock: Arc::new(ManualClock::new(1_000)),
            observer: Box::new(|_| {}),
            event_id_retention_ms: 60_000,
        };
        Store::start(writer, max_pending).unwrap().0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_identical_writes_are_accepted_once() {
        let dir = tempfile::tempdir().unwrap();
        let backend = sqlite::SqliteBackend::open(&dir.path().join("v.db")).unwrap();
        let store = start(Box::new(backend), 10_000);
        let mut tasks = Vec::new();
        for _ in 0..500 {
            let store = store.clone();
            tasks.push(tokio::spawn(
                async move { store.write(write("h", 1)).await },
            ));
        }
        let mut accepted = 0;
        for task in tasks {
            if task.await.unwrap().unwrap() == WriteOutcome::Accepted {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 1);
        assert!(store.is_healthy());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_concurrent_storm_of_one_event_is_one_incident_with_the_exact_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let backend = sqlite::SqliteBackend::open(&path).unwrap();
        let store = start(Box::new(backend), 20_000);
        let event =
            EventIn::new("nagios", "http_5xx", Status::Firing, Severity::Major).with_host("web-1");
        let mut tasks = Vec::new();
        for _ in 0..2_000 {
            let store = store.clone();
            let event = event.clone();
            tasks.push(tokio::spawn(async move {
                store.write(Write::Events(vec![event])).await
            }));
        }
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            let WriteOutcome::Events(outcomes) = task.await.unwrap().unwrap() else {
                panic!("events answer with event outcomes")
            };
            ids.insert(outcomes[0].incident_id().unwrap().to_owned());
        }
        assert_eq!(ids.len(), 1);
        let reader = sqlite::SqliteReader::open(&path).unwrap();
        let incident = reader
            .get_incident(ids.iter().next().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(incident.count, 2_000);
    }

    #[tokio::test]
    async fn a_failed_commit_rolls_the_engine_back() {
        struct FailingCommit(sqlite::SqliteBackend);
        impl Backend for FailingCommit {
            fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError> {
                self.0.load_hosts()
            }
            fn load_incidents(&mut self) -> Result<(Vec<Incident>, u64), StoreError> {
                self.0.load_incidents()
            }
            fn begin(&mut self) -> Result<(), StoreError> {
                self.0.begin()
            }
            fn record_batch(&mut self, write: &HostWrite) -> Result<WriteOutcome, StoreError> {
                self.0.record_batch(write)
            }
            fn forget_host(&mut self, host_id: &str) -> Result<WriteOutcome, StoreError> {
                self.0.forget_host(host_id)
            }
            fn claim_event_id(&mut self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
                self.0.claim_event_id(id, now_ms)
            }
            fn prune_event_ids(&mut self, before_ms: i64) -> Result<usize, StoreError> {
                self.0.prune_event_ids(before_ms)
            }
            fn save_incident(&mut self, incident: &Incident) -> Result<(), StoreError> {
                self.0.save_incident(incident)
            }
            fn find_incident(&mut self, id: &str) -> Result<Option<Incident>, StoreError> {
                self.0.find_incident(id)
            }
            fn commit(&mut self) -> Result<(), StoreError> {
                Err(StoreError::Closed)
            }
            fn rollback(&mut self) {
                self.0.rollback();
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let backend = FailingCommit(sqlite::SqliteBackend::open(&path).unwrap());
        let store = start(Box::new(backend), 10);
        let mut event = EventIn::new("t", "c", Status::Firing, Severity::Major);
        event.event_id = Some("e-1".into());
        assert!(store.write(Write::Events(vec![event])).await.is_err());
        assert!(!store.is_healthy());
        let reader = sqlite::SqliteReader::open(&path).unwrap();
        assert!(
            reader
                .list_incidents(&IncidentFilter {
                    limit: 10,
                    ..IncidentFilter::default()
                })
                .unwrap()
                .is_empty(),
            "nothing half-written"
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded() {
        struct Stuck(std::sync::mpsc::Sender<()>);
        impl Backend for Stuck {
            fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError> {
                Ok(vec![])
            }
            fn load_incidents(&mut self) -> Result<(Vec<Incident>, u64), StoreError> {
                Ok((vec![], 0))
            }
            fn begin(&mut self) -> Result<(), StoreError> {
                let _ = self.0.send(());
                std::thread::sleep(std::time::Duration::from_millis(300));
                Ok(())
            }
            fn record_batch(&mut self, _: &HostWrite) -> Result<WriteOutcome, StoreError> {
                Ok(WriteOutcome::Accepted)
            }
            fn forget_host(&mut self, _: &str) -> Result<WriteOutcome, StoreError> {
                Ok(WriteOutcome::NotFound)
            }
            fn claim_event_id(&mut self, _: &str, _: i64) -> Result<bool, StoreError> {
                Ok(true)
            }
            fn prune_event_ids(&mut self, _: i64) -> Result<usize, StoreError> {
                Ok(0)
            }
            fn save_incident(&mut self, _: &Incident) -> Result<(), StoreError> {
                Ok(())
            }
            fn find_incident(&mut self, _: &str) -> Result<Option<Incident>, StoreError> {
                Ok(None)
            }
            fn commit(&mut self) -> Result<(), StoreError> {
                Ok(())
            }
            fn rollback(&mut self) {}
        }
        let (started, commit_started) = std::sync::mpsc::channel();
        let store = start(Box::new(Stuck(started)), 1);
        let first = tokio::spawn({
            let store = store.clone();
            async move { store.write(write("a", 1)).await }
        });
        tokio::task::spawn_blocking(move || {
            commit_started.recv_timeout(std::time::Duration::from_secs(10))
        })
        .await
        .unwrap()
        .expect("the writer started the first commit");
        // The writer is busy with the first write; the one queue slot fills, then writes are
        // refused at once instead of waiting.
        let mut refused = false;
        for seq in 2..10 {
            let attempt = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                store.write(write("a", seq)),
            );
            if let Ok(Err(error)) = attempt.await
                && matches!(*error, StoreError::Overloaded)
            {
                refused = true;
                break;
            }
        }
        assert!(refused, "no write was refused with Overloaded");
        assert!(first.await.unwrap().is_ok());
    }
}
