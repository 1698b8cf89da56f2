//! Durable state behind one interface: [`Backend`] (synchronous, one transaction per call) driven
//! by [`Store`], a single writer thread that groups concurrent writes into one transaction
//! (group commit) and answers each caller only after that transaction is committed.
//!
//! The store has no domain rules beyond the one that must be atomic with the write: the per-agent
//! sequence check (a batch at or below the highest accepted `seq` of its `(host, stream)` is a
//! duplicate). It knows nothing of HTTP.
//!
//! **Invariant:** a caller that receives `Ok(WriteOutcome::Accepted)` has its write committed; a
//! caller that receives an error has had nothing written.

pub mod sqlite;

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
}

/// One change to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// An accepted agent batch: the host's identity and sequence position.
    Batch(HostWrite),
    /// Forget a host (decommissioned): its record and sequence position.
    ForgetHost(String),
}

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// New data: committed.
    Accepted,
    /// `seq` was already accepted for this `(host, stream)`: nothing written.
    Duplicate,
    /// The host was forgotten.
    Forgotten,
    /// There was no such host.
    NotFound,
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

/// A storage backend: synchronous, used from the store's writer thread only.
pub trait Backend: Send + 'static {
    /// Every known host.
    fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError>;
    /// Applies `writes` in order in ONE transaction and returns one outcome per write. On error
    /// nothing of the group is written.
    fn commit(&mut self, writes: &[Write]) -> Result<Vec<WriteOutcome>, StoreError>;
}

type Reply = oneshot::Sender<Result<WriteOutcome, Arc<StoreError>>>;

/// Most writes grouped into one transaction.
const MAX_GROUP: usize = 1_024;

/// Handle to the store's writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    sender: mpsc::Sender<(Write, Reply)>,
    healthy: Arc<AtomicBool>,
}

impl Store {
    /// Starts the writer thread over `backend`; at most `max_pending` writes wait in its queue.
    /// Returns the handle and the thread, which ends once every handle is dropped.
    pub fn start(
        backend: Box<dyn Backend>,
        max_pending: usize,
    ) -> std::io::Result<(Store, std::thread::JoinHandle<()>)> {
        let (sender, receiver) = mpsc::channel(max_pending.max(1));
        let healthy = Arc::new(AtomicBool::new(true));
        let thread_healthy = Arc::clone(&healthy);
        let thread = std::thread::Builder::new()
            .name("vigil-store".into())
            .spawn(move || writer_loop(backend, receiver, &thread_healthy))?;
        Ok((Store { sender, healthy }, thread))
    }

    /// Persists one write; resolves once it is committed (or found to be a duplicate).
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

    /// False once the last commit failed (cleared by the next successful one) or the writer stopped.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.sender.is_closed()
    }
}

fn writer_loop(
    mut backend: Box<dyn Backend>,
    mut receiver: mpsc::Receiver<(Write, Reply)>,
    healthy: &AtomicBool,
) {
    let mut writes = Vec::with_capacity(MAX_GROUP);
    let mut replies = Vec::with_capacity(MAX_GROUP);
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
        match backend.commit(&writes) {
            Ok(outcomes) => {
                healthy.store(true, Ordering::Relaxed);
                for (reply, outcome) in replies.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_identical_writes_are_accepted_once() {
        let dir = tempfile::tempdir().unwrap();
        let backend = sqlite::SqliteBackend::open(&dir.path().join("v.db")).unwrap();
        let (store, _thread) = Store::start(Box::new(backend), 10_000).unwrap();
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

    #[tokio::test]
    async fn a_full_queue_answers_overloaded() {
        struct Stuck(std::sync::mpsc::Sender<()>);
        impl Backend for Stuck {
            fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError> {
                Ok(vec![])
            }
            fn commit(&mut self, writes: &[Write]) -> Result<Vec<WriteOutcome>, StoreError> {
                let _ = self.0.send(());
                std::thread::sleep(std::time::Duration::from_millis(300));
                Ok(vec![WriteOutcome::Accepted; writes.len()])
            }
        }
        let (started, commit_started) = std::sync::mpsc::channel();
        let (store, _thread) = Store::start(Box::new(Stuck(started)), 1).unwrap();
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
