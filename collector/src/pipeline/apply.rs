//! What one [`Write`] does inside the group's transaction: the store's part (sequence check,
//! event-id claim, host records, change records, the lease) and the engine's part (events,
//! actions, the tick). The only place that dispatches on the kind of write.

use super::{NotifyWrite, ProblemUpdate, Write, WriteOutcome};
use crate::incidents::context::ChangeRef;
use crate::incidents::problems::{Opening, ProblemRef, ProblemState, ProblemWrite};
use crate::incidents::{ActionError, Engine, EventOutcome, action};
use crate::store::{
    Backend, BatchRecord, ChangeRecord, Claim, MAX_RECENT_CHANGES, ProblemRecord, Recorded,
    StateChange, StoreError,
};

/// True for the writes [`apply_run`] takes several at a time (agent batches and events): their
/// store part is a sequence check or an id claim, which a networked store answers for the
/// whole run in a few round trips.
pub fn is_run(write: &Write) -> bool {
    matches!(write, Write::Batch(_) | Write::Events(_))
}

/// Applies consecutive batch and event writes ([`is_run`]) inside the open transaction, with
/// the same outcomes as one by one: the store's part first for the whole run (sequence checks
/// in arrival order, event-id claims in order), then the engine's part write by write, then
/// the run's change records.
pub fn apply_run(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    writes: &[Write],
    now_ms: i64,
    counts: &mut [u64; 8],
) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut batches: Vec<&BatchRecord> = Vec::new();
    let mut event_ids: Vec<&str> = Vec::new();
    for write in writes {
        match write {
            Write::Batch(host) => batches.push(&host.record),
            Write::Events(events) => {
                event_ids.extend(events.iter().filter_map(|event| event.event_id.as_deref()));
            }
            _ => {}
        }
    }
    let recorded = if batches.is_empty() {
        Vec::new()
    } else {
        backend.record_batches(&batches)?
    };
    let claimed = if event_ids.is_empty() {
        Vec::new()
    } else {
        backend.claim_event_ids(&event_ids, now_ms)?
    };
    // One answer per row, or the group fails: a missing answer must never read as "duplicate".
    if recorded.len() != batches.len() || claimed.len() != event_ids.len() {
        return Err(StoreError::Database {
            reason: format!(
                "the store answered {} of {} sequence checks and {} of {} event-id claims",
                recorded.len(),
                batches.len(),
                claimed.len(),
                event_ids.len()
            ),
        });
    }
    let (mut recorded, mut claimed) = (recorded.into_iter(), claimed.into_iter());
    let mut changes: Vec<&ChangeRecord> = Vec::new();
    let mut states: Vec<StateChange> = Vec::new();
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        outcomes.push(match write {
            Write::Batch(host) => match recorded.next() {
                Some(Recorded::Accepted) => {
                    changes.extend(host.change.as_deref());
                    states.extend(host.states.iter().cloned());
                    for event in &host.events {
                        counts[engine.on_event(event, now_ms).kind_index()] += 1;
                    }
                    WriteOutcome::Accepted
                }
                Some(Recorded::Duplicate) | None => WriteOutcome::Duplicate,
            },
            Write::Events(events) => {
                let mut each = Vec::with_capacity(events.len());
                for event in events {
                    let outcome = if event.event_id.is_some() && claimed.next() != Some(true) {
                        EventOutcome::Duplicate
                    } else {
                        engine.on_event(event, now_ms)
                    };
                    counts[outcome.kind_index()] += 1;
                    each.push(outcome);
                }
                WriteOutcome::Events(each)
            }
            // Not part of a run: on its own, where it stands.
            other => apply(backend, engine, other, now_ms, counts)?,
        });
    }
    if !changes.is_empty() {
        backend.save_changes(&changes)?;
        for change in changes {
            remember_change(engine, change, now_ms);
        }
    }
    if !states.is_empty() {
        backend.record_state_changes(&states)?;
    }
    Ok(outcomes)
}

/// Applies one write inside the open transaction; `counts` gathers event outcomes by kind
/// ([`EventOutcome::KINDS`]).
pub fn apply(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    write: &Write,
    now_ms: i64,
    counts: &mut [u64; 8],
) -> Result<WriteOutcome, StoreError> {
    match write {
        Write::Batch(_) | Write::Events(_) => {
            let mut outcomes =
                apply_run(backend, engine, std::slice::from_ref(write), now_ms, counts)?;
            Ok(outcomes.pop().unwrap_or(WriteOutcome::Duplicate))
        }
        Write::ForgetHost(host_id) => Ok(if backend.forget_host(host_id)? {
            WriteOutcome::Forgotten
        } else {
            WriteOutcome::NotFound
        }),
        Write::Act {
            id,
            action,
            by,
            text,
        } => {
            let result = match engine.act(id, *action, by, text.as_deref(), now_ms) {
                Err(ActionError::NotFound(_)) => match backend.find_incident(id)? {
                    // Closed incidents live only in the store; closing again is a no-op.
                    Some(stored) => action::check_action(&stored, *action).map(|()| stored),
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
        Write::TickOnly(ids) => {
            engine.tick_only(ids, now_ms);
            Ok(WriteOutcome::Ticked)
        }
        Write::Lease { holder, lease_ms } => Ok(WriteOutcome::Lease(
            backend.acquire_lease(holder, *lease_ms)?,
        )),
        // The writer checked the epoch at the start of the group's transaction (its row lock
        // keeps a takeover out until the commit).
        Write::Fenced { write, .. } => apply(backend, engine, write, now_ms, counts),
        Write::Ping => {
            backend.ping()?;
            Ok(WriteOutcome::Pong)
        }
        Write::States { changes, events } => {
            if !changes.is_empty() {
                backend.record_state_changes(changes)?;
            }
            let mut each = Vec::with_capacity(events.len());
            for event in events {
                let outcome = engine.on_event(event, now_ms);
                counts[outcome.kind_index()] += 1;
                each.push(outcome);
            }
            Ok(WriteOutcome::Events(each))
        }
        Write::Notify(write) => notify(backend, write, now_ms),
        Write::Capacity { records, histories } => {
            let records: Vec<&crate::store::CapacityRecord> =
                records.iter().map(|r| &**r).collect();
            backend.save_capacity(&records, histories)?;
            Ok(WriteOutcome::Accepted)
        }
        Write::Silence(record) => {
            keep_silence(backend, engine, record, now_ms)?;
            // The incidents it covers change now, not at the next tick.
            engine.apply_silences(now_ms);
            Ok(WriteOutcome::Accepted)
        }
        Write::EndSilence(id) => {
            let Some(mut record) = backend
                .load_silences(now_ms)?
                .into_iter()
                .find(|record| &record.id == id)
            else {
                return Ok(WriteOutcome::NotFound);
            };
            record.ends_ms = now_ms;
            if record.starts_ms > now_ms {
                record.starts_ms = now_ms;
            }
            keep_silence(backend, engine, &record, now_ms)?;
            engine.apply_silences(now_ms);
            Ok(WriteOutcome::Accepted)
        }
        Write::Problem(update) => problem(backend, engine, update, now_ms),
        Write::Change { change, silences } => {
            backend.save_change(change)?;
            remember_change(engine, change, now_ms);
            for record in silences {
                keep_silence(backend, engine, record, now_ms)?;
            }
            if !silences.is_empty() {
                engine.apply_silences(now_ms);
            }
            Ok(WriteOutcome::Accepted)
        }
    }
}

/// A stored silence as the engine matches it.
fn compile_silence(
    record: &crate::store::SilenceRecord,
) -> Result<crate::incidents::silence::Silence, crate::incidents::silence::MatcherError> {
    crate::incidents::silence::Silence::compile(
        &record.id,
        record.matchers.iter().map(|matcher| {
            (
                matcher.name.as_str(),
                matcher.op.as_str(),
                matcher.value.as_str(),
            )
        }),
        record.starts_ms,
        record.ends_ms,
    )
}

/// Stores a silence and gives it to the engine.
fn keep_silence(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    record: &crate::store::SilenceRecord,
    now_ms: i64,
) -> Result<(), StoreError> {
    backend.save_silence(record)?;
    match compile_silence(record) {
        Ok(silence) => engine.surroundings_mut().silences.upsert(silence, now_ms),
        Err(error) => {
            tracing::warn!(id = %record.id, error = %error, "stored silence unusable: ignored");
        }
    }
    Ok(())
}

/// Loads the silences not ended by `now_ms` into the engine (at start, and on a shared store
/// at most once a second: other collectors add them too).
pub fn load_silences(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    now_ms: i64,
) -> Result<(), StoreError> {
    let silences = backend
        .load_silences(now_ms)?
        .iter()
        .filter_map(|record| {
            compile_silence(record)
                .map_err(|error| {
                    tracing::warn!(id = %record.id, error = %error, "stored silence unusable: ignored");
                })
                .ok()
        })
        .collect();
    let set = &mut engine.surroundings_mut().silences;
    set.replace(silences);
    set.loaded_ms = Some(now_ms);
    Ok(())
}

/// `POST /v1/problems/{id}`: the fields given, then the engine learns the problem's new state
/// (new incidents of a known error carry its workaround; a resolved one is forgotten).
fn problem(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    update: &ProblemUpdate,
    now_ms: i64,
) -> Result<WriteOutcome, StoreError> {
    let Some(mut record) = backend.find_problem(&update.id)? else {
        return Ok(WriteOutcome::NotFound);
    };
    if let Some(root_cause) = &update.root_cause {
        record.root_cause = Some(root_cause.clone());
    }
    if let Some(workaround) = &update.workaround {
        record.workaround = Some(workaround.clone());
    }
    if let Some(state) = update.state {
        record.state = state.as_str().to_owned();
    }
    record.updated_ms = now_ms;
    record.updated_by.clone_from(&update.by);
    backend.save_problem(&record)?;
    if let Some(problem) = problem_ref(&record) {
        engine.problem_changed(&record.fingerprint, problem);
    }
    Ok(WriteOutcome::Problem(Box::new(record)))
}

/// A stored problem as the stages see it (`None` when its state is unreadable).
fn problem_ref(record: &ProblemRecord) -> Option<ProblemRef> {
    Some(ProblemRef {
        id: record.id.clone(),
        state: ProblemState::parse(&record.state)?,
        workaround: record.workaround.clone(),
    })
}

/// Stores what the group's stages decided about problems: new problems with their links, new
/// members of existing ones.
pub fn store_problem_writes(
    backend: &mut dyn Backend,
    writes: Vec<ProblemWrite>,
) -> Result<(), StoreError> {
    for write in writes {
        match write {
            ProblemWrite::Open {
                id,
                fingerprint,
                title,
                reason,
                incident_ids,
                at_ms,
            } => {
                backend.save_problem(&ProblemRecord {
                    id: id.clone(),
                    fingerprint,
                    state: ProblemState::Open.as_str().to_owned(),
                    reason: reason.as_str().to_owned(),
                    title,
                    root_cause: None,
                    workaround: None,
                    created_ms: at_ms,
                    updated_ms: at_ms,
                    updated_by: crate::incidents::lifecycle::VIGIL.to_owned(),
                })?;
                backend.link_problem(&id, &incident_ids)?;
            }
            ProblemWrite::Link {
                problem_id,
                incident_id,
            } => backend.link_problem(&problem_id, &[incident_id])?,
        }
    }
    Ok(())
}

/// Loads the openings of the recurrence window and the problems that are not resolved into the
/// engine: of `fingerprints` (a shared store, under their locks), or all (an embedded store,
/// before its first group that may open an incident and after a failed commit).
pub fn load_problems(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    fingerprints: Option<&[String]>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let since_ms = now_ms.saturating_sub(engine.policy().problems.recur_window_ms);
    let openings = backend.incident_openings(fingerprints, since_ms)?;
    let problems = backend.active_problems(fingerprints)?;
    let surroundings = engine.surroundings_mut();
    surroundings.openings.clear();
    for opening in openings {
        surroundings
            .openings
            .entry(opening.fingerprint)
            .or_default()
            .push(Opening {
                incident_id: opening.incident_id,
                opened_ms: opening.opened_ms,
            });
    }
    surroundings.problems = problems
        .iter()
        .filter_map(|record| Some((record.fingerprint.clone(), problem_ref(record)?)))
        .collect();
    surroundings.problems_loaded_ms = Some(now_ms);
    Ok(())
}

/// Loads novelty paging's records into the engine: of `fingerprints` (a shared store, under
/// their locks), or all (an embedded store, before its first group and after a failed commit).
pub fn load_novelty(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    fingerprints: Option<&[String]>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let records = backend.load_novelty(fingerprints)?;
    let surroundings = engine.surroundings_mut();
    surroundings.novelty = records
        .into_iter()
        .map(|record| (record.fingerprint.clone(), record))
        .collect();
    surroundings.novelty_loaded_ms = Some(now_ms);
    Ok(())
}

/// A change record as the suspect stage sees it.
fn change_ref(change: &ChangeRecord) -> ChangeRef {
    ChangeRef {
        id: change.id.clone(),
        kind: change.kind.clone(),
        summary: change.summary.clone(),
        hosts: change.hosts.clone(),
        services: change.services.clone(),
        starts_ms: change.starts_ms,
    }
}

/// Gives a change just saved in the group to the engine (`maintenance` changes silence
/// instead), and forgets those that fell out of the change window.
fn remember_change(engine: &mut Engine, change: &ChangeRecord, now_ms: i64) {
    if change.kind == "maintenance" {
        return;
    }
    let since_ms = now_ms.saturating_sub(engine.policy().change_window_ms);
    let surroundings = engine.surroundings_mut();
    surroundings
        .changes
        .retain(|known| known.starts_ms >= since_ms && known.id != change.id);
    surroundings.changes.push(change_ref(change));
    if surroundings.changes.len() > MAX_RECENT_CHANGES {
        // Keep the newest.
        surroundings
            .changes
            .sort_by(|a, b| b.starts_ms.cmp(&a.starts_ms).then(b.id.cmp(&a.id)));
        surroundings.changes.truncate(MAX_RECENT_CHANGES);
    }
}

/// Loads the changes of the change window before `now_ms` into the engine (an embedded store:
/// at start and after a failed commit; a shared one: at most once a second, as other
/// collectors record changes too).
pub fn load_changes(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    now_ms: i64,
) -> Result<(), StoreError> {
    let since_ms = now_ms.saturating_sub(engine.policy().change_window_ms);
    let changes = backend.load_changes(since_ms)?;
    let surroundings = engine.surroundings_mut();
    surroundings.changes = changes.iter().map(change_ref).collect();
    surroundings.changes_loaded_ms = Some(now_ms);
    Ok(())
}

/// How often a shared store's topology is read again from the stored inventories (other
/// collectors' agents; this collector's own batches update it as they come).
pub const TOPOLOGY_EVERY_MS: i64 = 30_000;

/// Reads every stored host's `depends_on` and adds the configured ones.
pub fn load_topology(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut depends_on: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for host in backend.load_hosts()? {
        if let Some(dependencies) = host.inventory_json.as_deref().and_then(depends_on_of)
            && !dependencies.is_empty()
        {
            depends_on.insert(host.host_id, dependencies);
        }
    }
    let surroundings = engine.surroundings_mut();
    for (host, dependencies) in &surroundings.configured_depends_on {
        let entry = depends_on.entry(host.clone()).or_default();
        for dependency in dependencies {
            if !entry.contains(dependency) {
                entry.push(dependency.clone());
            }
        }
    }
    surroundings.depends_on = depends_on;
    surroundings.topology_loaded_ms = Some(now_ms);
    Ok(())
}

/// A batch's inventory changed `host_id`'s dependencies: the topology follows at once.
pub fn note_inventory(engine: &mut Engine, host_id: &str, inventory_json: &str) {
    let Some(mut dependencies) = depends_on_of(inventory_json) else {
        return;
    };
    let surroundings = engine.surroundings_mut();
    for dependency in surroundings
        .configured_depends_on
        .get(host_id)
        .into_iter()
        .flatten()
    {
        if !dependencies.contains(dependency) {
            dependencies.push(dependency.clone());
        }
    }
    if dependencies.is_empty() {
        surroundings.depends_on.remove(host_id);
    } else if surroundings.depends_on.get(host_id) != Some(&dependencies) {
        surroundings
            .depends_on
            .insert(host_id.to_owned(), dependencies);
    }
}

fn depends_on_of(inventory_json: &str) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Topology {
        #[serde(default)]
        depends_on: Vec<String>,
    }
    serde_json::from_str::<Topology>(inventory_json)
        .ok()
        .map(|topology| topology.depends_on)
}

/// The outbox's bookkeeping for the delivery workers.
fn notify(
    backend: &mut dyn Backend,
    write: &NotifyWrite,
    now_ms: i64,
) -> Result<WriteOutcome, StoreError> {
    match write {
        NotifyWrite::Claim {
            holder,
            limit,
            lease_ms,
            take_foreign,
        } => {
            let claim = Claim {
                holder,
                now_ms,
                until_ms: now_ms.saturating_add(*lease_ms),
                take_foreign: *take_foreign,
            };
            Ok(WriteOutcome::Notifications(
                backend.claim_notifications(claim, *limit)?,
            ))
        }
        NotifyWrite::Finish { holder, finished } => {
            backend.finish_notifications(holder, finished, now_ms)?;
            Ok(WriteOutcome::Accepted)
        }
        NotifyWrite::Renew {
            holder,
            ids,
            lease_ms,
        } => {
            backend.renew_notifications(holder, ids, now_ms.saturating_add(*lease_ms))?;
            Ok(WriteOutcome::Accepted)
        }
        NotifyWrite::Retry {
            id,
            give_up_after_ms,
        } => Ok(
            if backend.retry_notification(*id, now_ms, now_ms.saturating_add(*give_up_after_ms))? {
                WriteOutcome::Accepted
            } else {
                WriteOutcome::NotFound
            },
        ),
    }
}
