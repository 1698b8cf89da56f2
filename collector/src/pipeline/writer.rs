//! The writer thread: group commit around the engine.
//!
//! One group = one transaction: `begin` → (shared store: lock the fingerprints the group decides
//! on, reload their incidents, lock the id counter) → apply every write → save every incident
//! the group changed → (shared store: move the id counter) → `commit` → effects to the
//! observer. A failed step rolls back the store and the engine, and every caller of the group
//! gets the error. A fenced write (a leader-only sweep) runs in a group of its own, so a stale
//! leader's refusal never fails anyone else's write.

use super::apply::{apply, apply_run, is_run};
use super::effects::{CommitReport, Observer};
use super::{NotifyWrite, Reply, Write, WriteError, WriteOutcome};
use crate::clock::Clock;
use crate::incidents::{Engine, EventIn, fingerprint::fingerprint};
use crate::notify::outbox::{Notifier, Outgoing};
use crate::store::{Backend, Claim, IncidentSave, NewNotification, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use vigil_shared::event::Status;

/// Most writes grouped into one transaction.
const MAX_GROUP: usize = 1_024;

/// Event ids are pruned at most this often.
const PRUNE_EVERY_MS: i64 = 60_000;

/// A shared store's silences are read again at most this often.
const SILENCES_EVERY_MS: i64 = 1_000;

/// A shared store's recent changes are read again at most this often.
const CHANGES_EVERY_MS: i64 = 1_000;

/// A shared store's active counts are read back at most this often.
const COUNT_EVERY_MS: i64 = 1_000;

/// What the writer thread owns.
pub struct Writer {
    /// The store.
    pub backend: Box<dyn Backend>,
    /// The incident engine (an embedded store: every incident not closed; a shared store: only
    /// what the group in progress loaded).
    pub engine: Engine,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Told about each commit's effects.
    pub observer: Observer,
    /// How long an event id is remembered, ms.
    pub event_id_retention_ms: i64,
    /// With sinks configured: routes the group's effects into outbox rows, and where the rows
    /// this collector claimed go after the commit (the dispatcher).
    pub notify: Option<(Notifier, mpsc::UnboundedSender<Vec<Outgoing>>)>,
    /// How long a finished notification is kept, ms.
    pub notification_retention_ms: i64,
}

impl Writer {
    /// The engine (read-only: the replay's timers).
    pub fn engine_ref(&self) -> &Engine {
        &self.engine
    }

    /// True when the store is shared with other collectors.
    pub fn is_shared(&self) -> bool {
        self.backend.is_shared()
    }
}

/// Runs the writer until every [`super::Pipeline`] handle is gone.
pub fn run(mut writer: Writer, mut receiver: mpsc::Receiver<(Write, Reply)>, healthy: &AtomicBool) {
    let mut queue: Vec<(Write, Reply)> = Vec::with_capacity(MAX_GROUP);
    let mut state = State {
        last_prune_ms: i64::MIN,
        last_count_ms: i64::MIN,
        open_by_priority: writer.engine.active_by_priority(),
    };
    writer.observe(&[], &[], [0; 8], &mut state, 0);
    while let Some(first) = receiver.blocking_recv() {
        queue.push(first);
        while queue.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(next) => queue.push(next),
                Err(_) => break,
            }
        }
        // Fenced writes each in a group of their own; the rest together, in arrival order.
        let (fenced, plain): (Vec<_>, Vec<_>) = queue
            .drain(..)
            .partition(|(write, _)| matches!(write, Write::Fenced { .. }));
        if !plain.is_empty() {
            writer.run_group(plain, healthy, &mut state);
        }
        for one in fenced {
            writer.run_group(vec![one], healthy, &mut state);
        }
    }
    tracing::debug!("store writer stopped");
}

/// A group's notifications: every row queued, and those this run claimed (to deliver after
/// the commit).
#[derive(Default)]
struct Queued {
    rows: Vec<NewNotification>,
    claimed: Vec<Outgoing>,
}

/// Routes the group's effects so far into outbox rows and queues them in the transaction:
/// waiting escalations of incidents acknowledged or resolved are cancelled first.
fn queue_notifications(
    backend: &mut dyn Backend,
    notifier: &Notifier,
    engine: &Engine,
    now_ms: i64,
) -> Result<Queued, StoreError> {
    let plan = notifier.plan(&engine.pending_effects(), now_ms)?;
    if !plan.cancel.is_empty() {
        let ids: Vec<&str> = plan.cancel.iter().map(String::as_str).collect();
        backend.cancel_escalations(&ids)?;
    }
    if !plan.cancel_held.is_empty() {
        let ids: Vec<&str> = plan.cancel_held.iter().map(String::as_str).collect();
        backend.cancel_held(&ids, now_ms)?;
    }
    if plan.rows.is_empty() {
        return Ok(Queued::default());
    }
    let claim = Claim {
        holder: &notifier.holder,
        now_ms,
        until_ms: now_ms.saturating_add(notifier.lease_ms),
        take_foreign: false,
    };
    let ids = backend.enqueue_notifications(&plan.rows, claim)?;
    if ids.len() != plan.rows.len() {
        return Err(StoreError::Database {
            reason: format!(
                "the store queued {} of {} notifications",
                ids.len(),
                plan.rows.len()
            ),
        });
    }
    let mut claimed = Vec::new();
    for ((row, (sink, step, incident)), id) in plan.rows.iter().zip(plan.meta).zip(ids) {
        if let Some(id) = id {
            claimed.push(Outgoing {
                id,
                sink,
                step,
                level: row.level,
                key: row.key.clone(),
                incident,
                due_ms: row.due_ms,
                give_up_ms: row.give_up_ms,
                attempts: 0,
            });
        }
    }
    Ok(Queued {
        rows: plan.rows,
        claimed,
    })
}

/// The writer driven on the caller's thread, group by group, without the queue (the replay runs
/// the same pipeline this way, on a clock it moves itself).
pub struct Direct {
    writer: Writer,
    state: State,
    healthy: AtomicBool,
}

impl Direct {
    /// Wraps `writer`.
    pub fn new(mut writer: Writer) -> Direct {
        let mut state = State {
            last_prune_ms: i64::MIN,
            last_count_ms: i64::MIN,
            open_by_priority: writer.engine.active_by_priority(),
        };
        writer.observe(&[], &[], [0; 8], &mut state, 0);
        Direct {
            writer,
            state,
            healthy: AtomicBool::new(true),
        }
    }

    /// Runs `writes` as one group (one transaction) at the clock's time; one answer each.
    pub fn run(&mut self, writes: Vec<Write>) -> Vec<Result<WriteOutcome, WriteError>> {
        let mut answers = Vec::with_capacity(writes.len());
        let mut group = Vec::with_capacity(writes.len());
        for write in writes {
            let (reply, answer) = tokio::sync::oneshot::channel();
            group.push((write, reply));
            answers.push(answer);
        }
        self.writer.run_group(group, &self.healthy, &mut self.state);
        answers
            .into_iter()
            .map(|mut answer| answer.try_recv().unwrap_or(Err(WriteError::Closed)))
            .collect()
    }

    /// The writer (its engine, for the replay's timers).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }
}

struct State {
    last_prune_ms: i64,
    last_count_ms: i64,
    open_by_priority: [u64; 5],
}

/// True for a write whose events may open or reopen an incident (the suspect stage then needs
/// the recent changes).
fn may_open(write: &Write) -> bool {
    match unfenced(write) {
        Write::Batch(host) => host
            .events
            .iter()
            .any(|event| event.status == Status::Firing),
        Write::Events(events) => events.iter().any(|event| event.status == Status::Firing),
        _ => false,
    }
}

/// A write whose loss in a power cut only repeats work, so its group need not wait for the
/// disk ([`crate::store::Backend::begin_deferred`]): the dispatcher's claims, renewals and
/// outcomes (a notification sent again carries the same idempotency key, which receivers
/// dedupe on) and the capacity snapshots (the one before stays). A group with anything else in
/// it is durable before it answers.
fn deferrable(write: &Write) -> bool {
    matches!(
        write,
        Write::Notify(
            NotifyWrite::Claim { .. } | NotifyWrite::Finish { .. } | NotifyWrite::Renew { .. }
        ) | Write::Capacity { .. }
    )
}

/// The write inside a fence.
fn unfenced(write: &Write) -> &Write {
    match write {
        Write::Fenced { write, .. } => unfenced(write),
        other => other,
    }
}

impl Writer {
    fn run_group(&mut self, group: Vec<(Write, Reply)>, healthy: &AtomicBool, state: &mut State) {
        let (writes, replies): (Vec<Write>, Vec<Reply>) = group.into_iter().unzip();
        let now_ms = self.clock.now_ms();
        let prune = writes
            .iter()
            .any(|write| matches!(unfenced(write), Write::Tick))
            && now_ms.saturating_sub(state.last_prune_ms) >= PRUNE_EVERY_MS;
        let mut counts = [0u64; 8];
        let started = std::time::Instant::now();
        let mut queued = Queued::default();
        match self.group(&writes, now_ms, prune, &mut counts, &mut queued) {
            Ok(outcomes) => {
                tracing::debug!(
                    n_writes = writes.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "group committed"
                );
                healthy.store(true, Ordering::Relaxed);
                if prune {
                    state.last_prune_ms = now_ms;
                }
                let effects = self.engine.commit();
                if self.backend.is_shared() {
                    self.engine.clear();
                }
                self.observe(&effects, &queued.rows, counts, state, now_ms);
                if !queued.claimed.is_empty()
                    && let Some((_, dispatcher)) = &self.notify
                {
                    // Committed and claimed by this run: deliver now. If the dispatcher is gone
                    // (shutting down), the rows wait in the outbox for the next run.
                    let _ = dispatcher.send(queued.claimed);
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                self.engine.rollback();
                self.backend.rollback();
                // Changes the group gave the engine were not committed: read them again.
                self.engine.surroundings_mut().changes_loaded_ms = None;
                self.engine.surroundings_mut().topology_loaded_ms = None;
                if self.backend.is_shared() {
                    self.engine.clear();
                }
                if matches!(error, StoreError::Fenced { .. }) {
                    // Not the store's fault: this collector's leadership ended.
                    tracing::warn!(error = %error, "leader-only write refused");
                } else {
                    healthy.store(false, Ordering::Relaxed);
                    tracing::error!(error = %error, n_writes = writes.len(), "store commit failed");
                }
                let error = WriteError::Store(Arc::new(error));
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// One transaction: every write, then every incident they changed, then the commit.
    fn group(
        &mut self,
        writes: &[Write],
        now_ms: i64,
        prune: bool,
        counts: &mut [u64; 8],
        queued: &mut Queued,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        // Before the transaction: a shared store reads the hosts in a transaction of its own.
        // An embedded store's hosts are all this collector's, whose batches keep the topology
        // (below): it is read once. A shared store's are read again every 30 s.
        let topology_stale = match self.engine.surroundings_mut().topology_loaded_ms {
            None => true,
            Some(loaded) => {
                self.backend.is_shared()
                    && now_ms.saturating_sub(loaded) >= super::apply::TOPOLOGY_EVERY_MS
            }
        };
        if topology_stale {
            super::apply::load_topology(self.backend.as_mut(), &mut self.engine, now_ms)?;
        }
        if writes.iter().all(deferrable) {
            self.backend.begin_deferred()?;
        } else {
            self.backend.begin()?;
        }
        // A fence first: its row lock keeps a takeover out until this transaction ends.
        for write in writes {
            if let Write::Fenced { epoch, .. } = write {
                self.backend.check_epoch(*epoch)?;
            }
        }
        for write in writes {
            if let Write::Batch(host) = unfenced(write)
                && let Some(inventory) = &host.record.inventory_json
            {
                super::apply::note_inventory(&mut self.engine, &host.record.host_id, inventory);
            }
        }
        let id_floor = if self.backend.is_shared() {
            self.prepare_shared(writes, now_ms)?
        } else {
            None
        };
        // The suspect stage's changes: an embedded store's are loaded once and kept by the
        // writes that record them; a shared store's are read again at most once a second.
        let changes_stale = match self.engine.surroundings_mut().changes_loaded_ms {
            None => true,
            Some(loaded) => {
                self.backend.is_shared() && now_ms.saturating_sub(loaded) >= CHANGES_EVERY_MS
            }
        };
        if changes_stale && writes.iter().any(may_open) {
            super::apply::load_changes(self.backend.as_mut(), &mut self.engine, now_ms)?;
        }
        // The problem stage's openings and problems: a shared store's were loaded with the
        // group's fingerprints under their locks; an embedded store's once, kept by the writer.
        if !self.backend.is_shared()
            && self.engine.surroundings_mut().problems_loaded_ms.is_none()
            && writes.iter().any(may_open)
        {
            super::apply::load_problems(self.backend.as_mut(), &mut self.engine, None, now_ms)?;
        }
        // Novelty paging's records: a shared store's were loaded with the group's fingerprints
        // under their locks; an embedded store's once, kept by the engine.
        let novelty = self.engine.policy().grouping.novelty.is_some();
        if novelty
            && !self.backend.is_shared()
            && self.engine.surroundings_mut().novelty_loaded_ms.is_none()
        {
            super::apply::load_novelty(self.backend.as_mut(), &mut self.engine, None, now_ms)?;
        }
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut rest = writes;
        while let Some(first) = rest.first() {
            let backend = self.backend.as_mut();
            if is_run(first) {
                let n = rest.iter().take_while(|write| is_run(write)).count();
                let (run, tail) = rest.split_at(n);
                outcomes.extend(apply_run(backend, &mut self.engine, run, now_ms, counts)?);
                rest = tail;
            } else {
                outcomes.push(apply(backend, &mut self.engine, first, now_ms, counts)?);
                rest = &rest[1..];
            }
        }
        let novelty_writes = self.engine.take_novelty_writes();
        if !novelty_writes.is_empty() {
            self.backend.save_novelty(&novelty_writes)?;
        }
        let problem_writes = self.engine.take_problem_writes();
        if !problem_writes.is_empty() {
            super::apply::store_problem_writes(self.backend.as_mut(), problem_writes)?;
        }
        if let Some((notifier, _)) = &self.notify
            && self.engine.has_pending_effects()
        {
            *queued = queue_notifications(self.backend.as_mut(), notifier, &self.engine, now_ms)?;
        }
        let dirty: Vec<IncidentSave<'_>> = self
            .engine
            .dirty_with_stored_state()
            .map(|(incident, stored_state)| IncidentSave {
                incident,
                next_due_ms: self.engine.next_due_ms(incident, now_ms),
                stored_state,
            })
            .collect();
        if !dirty.is_empty() {
            self.backend.save_incidents(&dirty)?;
        }
        if let Some(floor) = id_floor
            && self.engine.last_id() > floor
        {
            self.backend.store_last_id(self.engine.last_id())?;
        }
        if prune {
            self.engine.prune_openings(now_ms);
            let pruned = self
                .backend
                .prune_event_ids(now_ms.saturating_sub(self.event_id_retention_ms))?;
            if pruned > 0 {
                tracing::debug!(pruned, "old event ids forgotten");
            }
            let pruned = self
                .backend
                .prune_state_changes(now_ms.saturating_sub(crate::availability::RETENTION_MS))?;
            if pruned > 0 {
                tracing::debug!(pruned, "old availability history forgotten");
            }
            if self.notify.is_some() {
                let pruned = self
                    .backend
                    .prune_notifications(now_ms.saturating_sub(self.notification_retention_ms))?;
                if pruned > 0 {
                    tracing::debug!(pruned, "old notifications forgotten");
                }
            }
        }
        self.backend.commit()?;
        Ok(outcomes)
    }

    /// A shared store: lock every fingerprint the group decides on and load its incidents
    /// fresh (another collector may have changed them), and take the id counter when the group
    /// may open incidents. Returns the id floor when the counter was taken.
    fn prepare_shared(&mut self, writes: &[Write], now_ms: i64) -> Result<Option<u64>, StoreError> {
        let mut fingerprints: Vec<String> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        // Service grouping: the grouping keys the group's incidents have (their service-level
        // incident and its members are decided on too).
        let mut keys: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let mut may_open = false;
        let grouping = self.engine.policy().grouping.clone();
        let mut note_events =
            |events: &[EventIn],
             fingerprints: &mut Vec<String>,
             keys: &mut std::collections::BTreeSet<String>| {
                for event in events {
                    may_open |= event.status == Status::Firing;
                    fingerprints.push(fingerprint(event));
                    keys.extend(crate::incidents::grouping::key_of_event(&grouping, event));
                }
            };
        for write in writes {
            match unfenced(write) {
                Write::Batch(host) => note_events(&host.events, &mut fingerprints, &mut keys),
                Write::Events(events) | Write::States { events, .. } => {
                    note_events(events, &mut fingerprints, &mut keys)
                }
                Write::Act { id, .. } => {
                    if let Some(incident) = self.backend.find_incident(id)? {
                        fingerprints.push(incident.fingerprint);
                        keys.extend(incident.group_key);
                        ids.push(id.clone());
                    }
                }
                Write::TickOnly(due) => ids.extend(due.iter().cloned()),
                Write::Tick => {
                    for incident in self.backend.due_incidents(now_ms)? {
                        fingerprints.push(incident.fingerprint);
                        keys.extend(incident.group_key);
                        // An attached incident settles by its parent's state: load both.
                        ids.extend(incident.parent_id);
                        ids.push(incident.id);
                    }
                }
                Write::ForgetHost(_)
                | Write::Lease { .. }
                | Write::Ping
                | Write::Fenced { .. }
                | Write::Notify(_)
                | Write::Capacity { .. } => {}
                Write::Problem(update) => {
                    // New incidents of its fingerprint decide on its state: wait for them.
                    if let Some(problem) = self.backend.find_problem(&update.id)? {
                        fingerprints.push(problem.fingerprint);
                    }
                }
                Write::Silence(_) | Write::EndSilence(_) | Write::Change { .. } => {
                    // It may cover any active incident: the group decides on all of them.
                    for incident in self.backend.due_incidents(i64::MAX)? {
                        fingerprints.push(incident.fingerprint);
                        ids.push(incident.id);
                    }
                }
            }
        }
        // Topology: the incidents of the hosts the group's events depend on, and of those that
        // depend on them, are decided on too (an outage attaches its dependants, a dependant
        // its outage).
        let depends_on = &self.engine.surroundings_mut().depends_on;
        if !depends_on.is_empty() {
            let mut related: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
            for write in writes {
                let events: &[EventIn] = match unfenced(write) {
                    Write::Batch(host) => &host.events,
                    Write::Events(events) | Write::States { events, .. } => events,
                    _ => &[],
                };
                for host in events.iter().filter_map(|event| event.host.as_deref()) {
                    related.extend(crate::incidents::topology::dependencies(depends_on, host));
                    related.extend(crate::incidents::topology::dependents(depends_on, host));
                }
            }
            if !related.is_empty() {
                let hosts: Vec<String> = related.into_iter().collect();
                fingerprints.extend(self.backend.active_fingerprints_on_hosts(&hosts)?);
            }
        }
        // The members' keys and their service-level incidents' (`group:<key>`, also the name
        // the group's decisions are serialized under).
        let mut keys: Vec<String> = keys.into_iter().collect();
        let group_keys: Vec<String> = keys
            .iter()
            .map(|key| crate::incidents::grouping::fingerprint(key))
            .collect();
        fingerprints.extend(group_keys.iter().cloned());
        keys.extend(group_keys);
        if !keys.is_empty() {
            fingerprints.extend(self.backend.fingerprints_in_groups(&keys)?);
        }
        fingerprints.sort();
        fingerprints.dedup();
        self.engine.clear();
        let silences_stale = self
            .engine
            .surroundings_mut()
            .silences
            .loaded_ms
            .is_none_or(|loaded| now_ms.saturating_sub(loaded) >= SILENCES_EVERY_MS);
        if silences_stale {
            super::apply::load_silences(self.backend.as_mut(), &mut self.engine, now_ms)?;
        }
        if fingerprints.is_empty() && !may_open {
            return Ok(None);
        }
        self.backend.lock_fingerprints(&fingerprints)?;
        // Under the locks: what the store holds now is what the engine decides on. A key's
        // members are changed only under its service-level fingerprint's lock: read them again
        // (one may have joined between the first read and the lock).
        if !keys.is_empty() {
            let mut members = self.backend.fingerprints_in_groups(&keys)?;
            members.retain(|member| fingerprints.binary_search(member).is_err());
            if !members.is_empty() {
                fingerprints.extend(members);
                fingerprints.sort();
            }
        }
        let mut incidents = self.backend.current_incidents(&fingerprints)?;
        ids.sort();
        ids.dedup();
        for id in ids {
            if !incidents.iter().any(|incident| incident.id == id)
                && let Some(incident) = self.backend.find_incident(&id)?
            {
                incidents.push(incident);
            }
        }
        let floor = if may_open {
            Some(self.backend.lock_last_id()?)
        } else {
            None
        };
        self.engine.reload(incidents, floor.unwrap_or(0));
        if self.engine.policy().grouping.novelty.is_some() {
            super::apply::load_novelty(
                self.backend.as_mut(),
                &mut self.engine,
                Some(&fingerprints),
                now_ms,
            )?;
        }
        if may_open {
            super::apply::load_problems(
                self.backend.as_mut(),
                &mut self.engine,
                Some(&fingerprints),
                now_ms,
            )?;
        }
        Ok(floor)
    }

    fn observe(
        &mut self,
        effects: &[crate::incidents::Effect],
        notifications: &[NewNotification],
        counts: [u64; 8],
        state: &mut State,
        now_ms: i64,
    ) {
        if self.backend.is_shared() {
            // Read back at most once a second: a storm's groups all have effects, and a query per
            // group would sit on the hot path for a gauge.
            if now_ms.saturating_sub(state.last_count_ms) >= COUNT_EVERY_MS {
                match self.read_counts() {
                    Ok(open) => {
                        state.open_by_priority = open;
                        state.last_count_ms = now_ms;
                    }
                    Err(error) => tracing::debug!(error = %error, "cannot count open incidents"),
                }
            }
        } else {
            state.open_by_priority = self.engine.active_by_priority();
        }
        (self.observer)(&CommitReport {
            effects,
            notifications,
            open_by_priority: state.open_by_priority,
            event_outcomes: counts,
        });
    }

    fn read_counts(&mut self) -> Result<[u64; 5], StoreError> {
        self.backend.begin()?;
        match self.backend.active_by_priority() {
            Ok(counts) => {
                self.backend.commit()?;
                Ok(counts)
            }
            Err(error) => {
                self.backend.rollback();
                Err(error)
            }
        }
    }
}
