//! The write path: every change to durable state — an agent batch, events, an incident action,
//! the passing of time — is a [`Write`] handed to [`Pipeline`], whose writer thread groups
//! concurrent writes into one store transaction (group commit), runs their events through the
//! incident engine inside it, and answers each caller only after the commit.
//!
//! - `writer.rs` — the writer thread: group, prepare (on a shared store: lock and reload the
//!   fingerprints the group decides on), apply, persist every incident the group changed, fence
//!   leader-only writes, commit, then hand the effects out; roll the engine back when the
//!   commit fails.
//! - `apply.rs` — what one write does inside the transaction (the dispatch).
//! - `effects.rs` — after the commit: [`CommitReport`] to the observer (metrics, logs; the
//!   notification outbox next).
//! - `leader.rs` — the lease that elects the one collector that runs the sweeps, with its
//!   epoch as the fencing token.
//! - `sweeps.rs` — the time-driven producers: heartbeat (host down), the incident tick, the
//!   internal event forwarder.
//!
//! **Invariant:** a caller that receives `Ok` has its write committed (or found to be a repeat);
//! a caller that receives an error has had nothing written.

pub mod apply;
pub mod effects;
pub mod leader;
pub mod sweeps;
pub mod writer;

use crate::incidents::{Action, ActionError, EventIn, EventOutcome, Incident};
use crate::store::{BatchRecord, ChangeRecord, Lease, StateChange, StoreError};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

pub use effects::{CommitReport, Observer};
pub use writer::{Direct, Writer};

/// One host's accepted batch: its record, its events and, when the inventory drifted, a change.
#[derive(Debug, Clone, PartialEq)]
pub struct HostWrite {
    /// Identity and sequence position.
    pub record: BatchRecord,
    /// Events the batch carried, for the incident engine.
    pub events: Vec<EventIn>,
    /// A change record to keep with the batch (the inventory drifted).
    pub change: Option<Box<ChangeRecord>>,
    /// Up/down changes the batch shows (a probe changed state, the host's first batch): kept
    /// with the batch when it is new.
    pub states: Vec<StateChange>,
}

/// One change to durable state.
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
    /// Time passed for these incidents only (the replay, which knows what is due; no pruning).
    TickOnly(Vec<String>),
    /// Take or renew the sweeps' leadership for `lease_ms`.
    Lease {
        /// Who asks.
        holder: String,
        /// For how long.
        lease_ms: i64,
    },
    /// A write only the leader of `epoch` may make (sweeps): refused with
    /// [`StoreError::Fenced`] once another collector leads.
    Fenced {
        /// The leadership it was decided under.
        epoch: i64,
        /// The write.
        write: Box<Write>,
    },
    /// Checks that the store answers (readiness after a failure).
    Ping,
    /// Up/down changes for the availability history with the events they come with (the
    /// heartbeat's host down and up: one transaction, fenced).
    States {
        /// The changes.
        changes: Vec<StateChange>,
        /// Their events, for the incident engine.
        events: Vec<EventIn>,
    },
    /// The notification outbox's delivery bookkeeping.
    Notify(NotifyWrite),
    /// Keep a silence and apply it to the incidents it covers.
    Silence(Box<crate::store::SilenceRecord>),
    /// End a silence now (`DELETE /v1/silences/{id}`): `NotFound` when none by that id is
    /// still in force or to come.
    EndSilence(String),
    /// Keep this collector's capacity forecasts and series histories.
    Capacity {
        /// The latest forecasts (shared with the capacity tracker and its `/metrics` snapshot).
        records: Vec<std::sync::Arc<crate::store::CapacityRecord>>,
        /// Histories to persist.
        histories: Vec<crate::store::HistoryRow>,
    },
    /// Change a problem record (`POST /v1/problems/{id}`): `NotFound` when there is none.
    Problem(Box<ProblemUpdate>),
    /// Keep a change record (`POST /v1/changes`) and the silences of a maintenance window.
    Change {
        /// The record.
        change: Box<ChangeRecord>,
        /// A maintenance window's silences.
        silences: Vec<crate::store::SilenceRecord>,
    },
}

/// What `POST /v1/problems/{id}` sets (absent fields stay as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemUpdate {
    /// The problem.
    pub id: String,
    /// Who.
    pub by: String,
    /// The root cause.
    pub root_cause: Option<String>,
    /// The workaround.
    pub workaround: Option<String>,
    /// The new state.
    pub state: Option<crate::incidents::problems::ProblemState>,
}

/// What the delivery workers ask of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum NotifyWrite {
    /// Claim up to `limit` claimable rows for `holder` for `lease_ms`.
    Claim {
        /// This collector's run.
        holder: String,
        /// Most rows.
        limit: usize,
        /// Claim length, ms.
        lease_ms: i64,
        /// Rows held by an earlier run are free at once (an embedded store).
        take_foreign: bool,
    },
    /// Record what became of claimed rows.
    Finish {
        /// This collector's run.
        holder: String,
        /// The results.
        finished: Vec<crate::store::Finish>,
    },
    /// Extend the claims on these rows.
    Renew {
        /// This collector's run.
        holder: String,
        /// The rows.
        ids: Vec<i64>,
        /// Claim length from now, ms.
        lease_ms: i64,
    },
    /// Queue a dead or failed notification again (an operator's retry).
    Retry {
        /// The row.
        id: i64,
        /// Dead-lettered again if still failing this long from now, ms.
        give_up_after_ms: i64,
    },
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
    /// The lease: `Some` while this collector leads.
    Lease(Option<Lease>),
    /// The store answered.
    Pong,
    /// Outbox rows claimed for delivery.
    Notifications(Vec<crate::store::QueuedNotification>),
    /// The problem as changed.
    Problem(Box<crate::store::ProblemRecord>),
}

/// Why a write was not made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The store failed; nothing of the write was kept.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// Too many writes are queued.
    #[error("the collector is busy: too many writes queued, retry shortly")]
    Overloaded,
    /// The writer has stopped (shutting down).
    #[error("the collector is shutting down: retry against another collector or later")]
    Closed,
}

impl WriteError {
    /// Seconds a client should wait before retrying.
    pub fn retry_after_s(&self) -> u32 {
        match self {
            WriteError::Overloaded => 1,
            WriteError::Store(error) if matches!(**error, StoreError::Fenced { .. }) => 1,
            WriteError::Store(_) | WriteError::Closed => 5,
        }
    }
}

type Reply = oneshot::Sender<Result<WriteOutcome, WriteError>>;

/// Handle to the pipeline's writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    sender: mpsc::Sender<(Write, Reply)>,
    healthy: Arc<AtomicBool>,
    died: Arc<tokio::sync::Notify>,
    shared: bool,
}

impl Pipeline {
    /// Starts the writer thread; at most `max_pending` writes wait in its queue. Returns the
    /// handle and the thread, which ends once every handle is dropped.
    pub fn start(
        writer: Writer,
        max_pending: usize,
    ) -> std::io::Result<(Pipeline, std::thread::JoinHandle<()>)> {
        let (sender, receiver) = mpsc::channel(max_pending.max(1));
        let healthy = Arc::new(AtomicBool::new(true));
        let thread_healthy = Arc::clone(&healthy);
        let died = Arc::new(tokio::sync::Notify::new());
        let thread_died = Arc::clone(&died);
        let shared = writer.is_shared();
        let thread = std::thread::Builder::new()
            .name("vigil-store".into())
            .spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    writer::run(writer, receiver, &thread_healthy);
                }));
                if outcome.is_err() {
                    // A bug. Nothing uncommitted is in the store; serving 503 forever would be
                    // worse than a restart from the durable state: the app stops with an error.
                    thread_healthy.store(false, Ordering::Relaxed);
                    tracing::error!("the store writer panicked");
                    thread_died.notify_one();
                }
            })?;
        Ok((
            Pipeline {
                sender,
                healthy,
                died,
                shared,
            },
            thread,
        ))
    }

    /// Makes one write durable; resolves once it is committed (or found to be a repeat).
    /// Refuses at once with [`WriteError::Overloaded`] when the queue is full.
    pub async fn write(&self, write: Write) -> Result<WriteOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send((write, reply))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => WriteError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => WriteError::Closed,
            })?;
        answer.await.map_err(|_| WriteError::Closed)?
    }

    /// Like [`Pipeline::write`] but waits for queue space instead of refusing: for the
    /// collector's own producers (rules, heartbeat, ticks), which must not drop what they found.
    pub async fn write_waiting(&self, write: Write) -> Result<WriteOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((write, reply))
            .await
            .map_err(|_| WriteError::Closed)?;
        answer.await.map_err(|_| WriteError::Closed)?
    }

    /// Resolves if the writer thread dies of a bug (a panic); never otherwise.
    pub async fn writer_died(&self) {
        self.died.notified().await;
    }

    /// False once the last commit failed (cleared by the next successful one) or the writer
    /// stopped.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.sender.is_closed()
    }

    /// True when the store is shared with other collectors.
    pub fn is_shared(&self) -> bool {
        self.shared
    }
}

#[cfg(test)]
mod tests;
