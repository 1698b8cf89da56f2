//! The store conformance suite: what every backend must do, as one set of checks run against
//! each of them — SQLite by the collector's unit tests, PostgreSQL by the end-to-end tests
//! (which start a real server). A backend passes when [`run_all`] returns.
//!
//! `open(name)` must open the store called `name`: the same name again is the same store
//! (reopened), a new name an empty one.

use super::{
    Backend, BatchRecord, CapacityFilter, CapacityRecord, ChangeFilter, ChangeRecord, Claim,
    ColdRow, Finish, HistoryRow, HorizonRecord, IncidentFilter, IncidentSave, MatcherRecord,
    NewNotification, NotificationFilter, NoveltyRecord, Opened, ProblemRecord, Recorded,
    SilenceRecord, StateChange, StoreError,
};
use crate::incidents::{EventIn, Incident, State, lifecycle};
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;

/// Runs every check; panics with the check's name on the first failure.
pub fn run_all(open: &mut dyn FnMut(&str) -> Opened) {
    sequence_check_is_per_host_and_stream(open);
    hosts_survive_reopen_and_inventory_is_kept_when_absent(open);
    a_forgotten_host_starts_afresh(open);
    full_u64_positions_roundtrip(open);
    event_ids_are_claimed_once_and_pruned_by_age(open);
    one_active_incident_per_fingerprint_is_enforced(open);
    a_rollback_leaves_nothing_and_a_commit_everything(open);
    a_deferred_transaction_commits_and_rolls_back_like_any(open);
    readers_filter_incidents_and_changes(open);
    several_at_once_answer_as_one_by_one(open);
    the_outbox_delivers_in_order_once_per_lease(open);
    silences_are_kept_replaced_and_listed(open);
    capacity_rows_are_replaced_filtered_and_forgotten(open);
    recent_changes_are_loaded_without_maintenance(open);
    problems_are_kept_linked_and_one_per_fingerprint(open);
    state_changes_are_kept_and_read_from_a_window(open);
    novelty_records_are_replaced_read_by_fingerprint_and_survive_reopen(open);
    if open("shared-probe").backend.is_shared() {
        shared_stores_lock_reload_count_and_fence(open);
    }
}

fn record(host: &str, stream: u64, seq: u64) -> BatchRecord {
    BatchRecord {
        host_id: host.into(),
        hostname: format!("{host}.local"),
        agent_version: "0.1.0".into(),
        labels: Labels::from([("env".into(), "prod".into())]),
        stream,
        seq,
        received_ms: 1_000 + seq as i64,
        inventory_json: None,
    }
}

fn in_transaction<T>(
    backend: &mut dyn Backend,
    work: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError>,
) -> T {
    backend.begin().expect("begin");
    let value = work(backend).expect("work in the transaction");
    backend.commit().expect("commit");
    value
}

fn incident(id: u64, fingerprint: &str, state: State) -> Incident {
    let event = EventIn::new("t", fingerprint, Status::Firing, Severity::Major).with_host("web-1");
    let mut incident = lifecycle::new_incident(
        crate::incidents::model::format_id(id),
        fingerprint.to_owned(),
        &event,
        id as i64,
    );
    incident.state = state;
    incident
}

fn sequence_check_is_per_host_and_stream(open: &mut dyn FnMut(&str) -> Opened) {
    let mut backend = open("sequence").backend;
    let outcomes = in_transaction(backend.as_mut(), |backend| {
        [
            record("a", 1, 1),
            record("a", 1, 1),
            record("a", 1, 2),
            record("b", 1, 1),
            record("a", 1, 2),
            record("a", 9, 1),
        ]
        .iter()
        .map(|batch| backend.record_batch(batch))
        .collect::<Result<Vec<_>, _>>()
    });
    use Recorded::*;
    assert_eq!(
        outcomes,
        vec![Accepted, Duplicate, Accepted, Accepted, Duplicate, Accepted],
        "sequence check"
    );
}

fn hosts_survive_reopen_and_inventory_is_kept_when_absent(open: &mut dyn FnMut(&str) -> Opened) {
    {
        let mut backend = open("reopen").backend;
        let mut first = record("a", 7, 1);
        first.inventory_json = Some("{\"os\":\"Debian\"}".into());
        in_transaction(backend.as_mut(), |backend| {
            backend.record_batch(&first)?;
            backend.record_batch(&record("a", 7, 2))
        });
    }
    let mut backend = open("reopen").backend;
    let hosts = backend.load_hosts().expect("load hosts");
    assert_eq!(hosts.len(), 1, "hosts after reopen");
    let host = &hosts[0];
    assert_eq!((host.stream, host.seq), (7, 2));
    assert_eq!((host.first_seen_ms, host.last_seen_ms), (1_001, 1_002));
    assert_eq!(host.inventory_json.as_deref(), Some("{\"os\":\"Debian\"}"));
    assert_eq!(host.labels.get("env").map(String::as_str), Some("prod"));
    let again = in_transaction(backend.as_mut(), |backend| {
        backend.record_batch(&record("a", 7, 2))
    });
    assert_eq!(again, Recorded::Duplicate, "a repeat after reopen");
}

fn a_forgotten_host_starts_afresh(open: &mut dyn FnMut(&str) -> Opened) {
    let mut backend = open("forget").backend;
    let outcomes = in_transaction(backend.as_mut(), |backend| {
        let first = backend.record_batch(&record("a", 1, 5))?;
        let forgotten = backend.forget_host("a")?;
        let again = backend.forget_host("a")?;
        let back = backend.record_batch(&record("a", 1, 5))?;
        Ok((first, forgotten, again, back))
    });
    assert_eq!(
        outcomes,
        (Recorded::Accepted, true, false, Recorded::Accepted),
        "forget"
    );
    assert_eq!(backend.load_hosts().expect("load").len(), 1);
}

fn full_u64_positions_roundtrip(open: &mut dyn FnMut(&str) -> Opened) {
    let mut backend = open("u64").backend;
    in_transaction(backend.as_mut(), |backend| {
        backend.record_batch(&record("a", u64::MAX, u64::MAX - 1))
    });
    let host = backend.load_hosts().expect("load").remove(0);
    assert_eq!((host.stream, host.seq), (u64::MAX, u64::MAX - 1));
    let again = in_transaction(backend.as_mut(), |backend| {
        backend.record_batch(&record("a", u64::MAX, u64::MAX - 1))
    });
    assert_eq!(again, Recorded::Duplicate);
}

fn event_ids_are_claimed_once_and_pruned_by_age(open: &mut dyn FnMut(&str) -> Opened) {
    let mut backend = open("event-ids").backend;
    let claims = in_transaction(backend.as_mut(), |backend| {
        Ok((
            backend.claim_event_id("e-1", 100)?,
            backend.claim_event_id("e-1", 200)?,
            backend.claim_event_id("e-2", 300)?,
        ))
    });
    assert_eq!(claims, (true, false, true), "event ids");
    let pruned = in_transaction(backend.as_mut(), |backend| backend.prune_event_ids(250));
    assert_eq!(pruned, 1, "only e-1 is older than 250");
    let reclaimed = in_transaction(backend.as_mut(), |backend| {
        Ok((
            backend.claim_event_id("e-1", 400)?,
            backend.claim_event_id("e-2", 400)?,
        ))
    });
    assert_eq!(reclaimed, (true, false));
}

fn one_active_incident_per_fingerprint_is_enforced(open: &mut dyn FnMut(&str) -> Opened) {
    let mut backend = open("one-active").backend;
    in_transaction(backend.as_mut(), |backend| {
        backend.save_incident(&incident(1, "fp", State::Open), None)
    });
    backend.begin().expect("begin");
    let second = backend.save_incident(&incident(2, "fp", State::Acknowledged), None);
    assert!(
        matches!(second, Err(StoreError::Conflict { .. })),
        "a second active incident per fingerprint must be refused: {second:?}"
    );
    backend.rollback();
    in_transaction(backend.as_mut(), |backend| {
        let mut first = incident(1, "fp", State::Resolved);
        first.resolved_ms = Some(5);
        backend.save_incident(&first, None)?;
        backend.save_incident(&incident(2, "fp", State::Open), None)?;
        // Another fingerprint is independent.
        backend.save_incident(&incident(3, "other", State::Open), None)
    });
    let (incidents, last_id) = backend.load_incidents().expect("load");
    assert_eq!(incidents.len(), 3);
    assert_eq!(last_id, 3);
    let stored = backend_find(backend.as_mut(), 1);
    assert_eq!(stored.state, State::Resolved, "the upsert updated the row");
}

fn several_at_once_answer_as_one_by_one(open: &mut dyn FnMut(&str) -> Opened) {
    let Opened {
        mut backend,
        reader,
    } = open("several");
    let with_inventory = |mut batch: BatchRecord, inventory: &str| {
        batch.inventory_json = Some(inventory.to_owned());
        batch
    };
    in_transaction(backend.as_mut(), |backend| {
        backend.record_batch(&with_inventory(record("a", 1, 5), "{\"a\":1}"))
    });
    let batches = [
        record("a", 1, 5),
        with_inventory(record("b", 1, 1), "{\"b\":1}"),
        record("a", 1, 6),
        record("b", 1, 1),
        record("b", 1, 2),
        record("a", 1, 6),
        record("c", 3, 1),
        record("a", 2, 1),
    ];
    let outcomes = in_transaction(backend.as_mut(), |backend| {
        backend.record_batches(&batches.iter().collect::<Vec<_>>())
    });
    use Recorded::*;
    assert_eq!(
        outcomes,
        vec![
            Duplicate, Accepted, Accepted, Duplicate, Accepted, Duplicate, Accepted, Accepted
        ],
        "each batch checked against the store and the earlier batches of the same call"
    );
    let hosts = backend.load_hosts().expect("load hosts");
    let position = |id: &str| {
        let host = hosts.iter().find(|host| host.host_id == id).expect(id);
        (
            host.stream,
            host.seq,
            host.first_seen_ms,
            host.last_seen_ms,
            host.inventory_json.clone(),
        )
    };
    assert_eq!(
        position("a"),
        (2, 1, 1_005, 1_001, Some("{\"a\":1}".to_owned()))
    );
    assert_eq!(
        position("b"),
        (1, 2, 1_001, 1_002, Some("{\"b\":1}".to_owned()))
    );
    assert_eq!(position("c"), (3, 1, 1_001, 1_001, None));

    let claims = in_transaction(backend.as_mut(), |backend| {
        let first = backend.claim_event_ids(&["x", "y", "x"], 10)?;
        let second = backend.claim_event_ids(&["y", "z"], 20)?;
        Ok((first, second))
    });
    assert_eq!(claims, (vec![true, true, false], vec![false, true]));

    let (one, two) = (incident(1, "p", State::Open), incident(2, "q", State::Open));
    let change = |id: &str| ChangeRecord {
        id: id.into(),
        kind: "deploy".into(),
        summary: id.into(),
        by: "ci".into(),
        hosts: vec!["a".into()],
        services: vec![],
        starts_ms: 10,
        ends_ms: None,
        details: serde_json::json!({}),
    };
    let (c1, c2) = (change("c-1"), change("c-2"));
    in_transaction(backend.as_mut(), |backend| {
        backend.save_incidents(&[
            IncidentSave {
                incident: &one,
                next_due_ms: None,
                stored_state: None,
            },
            IncidentSave {
                incident: &two,
                next_due_ms: Some(99),
                stored_state: None,
            },
        ])?;
        backend.save_changes(&[&c1, &c2])
    });
    let (loaded, _) = backend.load_incidents().expect("load");
    assert_eq!(loaded, vec![one.clone(), two], "both saved by one call");
    let changes = reader
        .list_changes(&ChangeFilter {
            limit: 10,
            ..ChangeFilter::default()
        })
        .expect("changes");
    assert_eq!(changes.len(), 2, "both changes saved by one call");
    // A fold (state unchanged), a resolve (state changed) and a new incident taking the resolved
    // one's fingerprint, in one call.
    let mut folded = one.clone();
    folded.count = 7;
    folded.updated_ms = 50;
    let mut resolved = incident(2, "q", State::Resolved);
    resolved.resolved_ms = Some(60);
    let successor = incident(3, "q", State::Open);
    in_transaction(backend.as_mut(), |backend| {
        backend.save_incidents(&[
            IncidentSave {
                incident: &folded,
                next_due_ms: None,
                stored_state: Some(State::Open),
            },
            IncidentSave {
                incident: &resolved,
                next_due_ms: None,
                stored_state: Some(State::Open),
            },
            IncidentSave {
                incident: &successor,
                next_due_ms: None,
                stored_state: None,
            },
        ])
    });
    let (loaded, _) = backend.load_incidents().expect("load");
    assert_eq!(
        loaded,
        vec![folded, resolved, successor],
        "updates with and without a state change, and an insert"
    );
    backend.begin().expect("begin");
    let same = incident(4, "p", State::Open);
    let refused = backend.save_incidents(&[IncidentSave {
        incident: &same,
        next_due_ms: None,
        stored_state: None,
    }]);
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "a second active incident is refused in a call of several too: {refused:?}"
    );
    backend.rollback();
}

fn backend_find(backend: &mut dyn Backend, id: u64) -> Incident {
    in_transaction(backend, |backend| {
        backend.find_incident(&crate::incidents::model::format_id(id))
    })
    .expect("the incident exists")
}

fn a_rollback_leaves_nothing_and_a_commit_everything(open: &mut dyn FnMut(&str) -> Opened) {
    let Opened {
        mut backend,
        reader,
    } = open("rollback");
    backend.begin().expect("begin");
    backend
        .save_incident(&incident(1, "fp", State::Open), None)
        .expect("save");
    backend.record_batch(&record("a", 1, 1)).expect("record");
    backend.claim_event_id("e", 1).expect("claim");
    backend.rollback();
    assert!(backend.load_hosts().expect("hosts").is_empty(), "no host");
    assert!(
        backend.load_incidents().expect("incidents").0.is_empty(),
        "no incident"
    );
    assert!(
        reader
            .get_incident(&crate::incidents::model::format_id(1))
            .expect("read")
            .is_none()
    );
    let claimed = in_transaction(backend.as_mut(), |backend| backend.claim_event_id("e", 2));
    assert!(claimed, "the rolled-back event id is free");
    let mut closed = incident(4, "closed", State::Closed);
    closed.closed_ms = Some(9);
    in_transaction(backend.as_mut(), |backend| {
        backend.save_incident(&closed, None)
    });
    let (loaded, last_id) = backend.load_incidents().expect("load");
    assert!(loaded.is_empty(), "closed incidents are not loaded");
    assert_eq!(last_id, 4, "but their ids are never issued again");
    let read = reader
        .get_incident(&crate::incidents::model::format_id(4))
        .expect("read")
        .expect("closed incidents stay readable");
    assert_eq!(read, closed, "the incident reads back exactly as saved");
}

fn a_deferred_transaction_commits_and_rolls_back_like_any(open: &mut dyn FnMut(&str) -> Opened) {
    let Opened {
        mut backend,
        reader,
    } = open("deferred");
    backend.begin_deferred().expect("begin deferred");
    backend
        .save_incident(&incident(1, "gone", State::Open), None)
        .expect("save");
    backend.rollback();
    backend.begin_deferred().expect("begin deferred");
    backend
        .save_incident(&incident(2, "kept", State::Open), None)
        .expect("save");
    backend.commit().expect("commit deferred");
    // An ordinary transaction after it sees it, and so does a reader.
    in_transaction(backend.as_mut(), |backend| {
        backend.save_incident(&incident(3, "after", State::Open), None)
    });
    let (loaded, _) = backend.load_incidents().expect("load");
    let mut fingerprints: Vec<String> = loaded.into_iter().map(|i| i.fingerprint).collect();
    fingerprints.sort();
    assert_eq!(fingerprints, ["after", "kept"], "the rollback left nothing");
    assert!(
        reader
            .get_incident(&crate::incidents::model::format_id(2))
            .expect("read")
            .is_some(),
        "a deferred commit is read like any other"
    );
}

fn readers_filter_incidents_and_changes(open: &mut dyn FnMut(&str) -> Opened) {
    let Opened {
        mut backend,
        reader,
    } = open("reader");
    let mut other_host = incident(2, "b", State::Resolved);
    other_host.host = Some("db-1".into());
    other_host.hosts = vec!["db-1".into(), "db-2".into()];
    other_host.priority = 1;
    let change = ChangeRecord {
        id: "c-1".into(),
        kind: "deploy".into(),
        summary: "v2".into(),
        by: "ci".into(),
        hosts: vec!["db-2".into()],
        services: vec![],
        starts_ms: 10,
        ends_ms: None,
        details: serde_json::json!({}),
    };
    in_transaction(backend.as_mut(), |backend| {
        backend.save_incident(&incident(1, "a", State::Open), None)?;
        backend.save_incident(&other_host, None)?;
        backend.save_incident(&incident(3, "c", State::Open), None)?;
        backend.save_change(&change)
    });
    let ids = |filter: IncidentFilter| -> Vec<String> {
        reader
            .list_incidents(&filter)
            .expect("list")
            .into_iter()
            .map(|incident| incident.id)
            .collect()
    };
    let id = crate::incidents::model::format_id;
    let all = IncidentFilter {
        limit: 10,
        ..IncidentFilter::default()
    };
    assert_eq!(ids(all.clone()), vec![id(3), id(2), id(1)], "newest first");
    assert_eq!(
        ids(IncidentFilter {
            limit: 1,
            ..all.clone()
        }),
        vec![id(3)]
    );
    assert_eq!(
        ids(IncidentFilter {
            states: vec![State::Resolved],
            ..all.clone()
        }),
        vec![id(2)]
    );
    assert_eq!(
        ids(IncidentFilter {
            priorities: vec![1],
            ..all.clone()
        }),
        vec![id(2)]
    );
    assert_eq!(
        ids(IncidentFilter {
            host: Some("db-2".into()),
            ..all.clone()
        }),
        vec![id(2)],
        "a host folded in counts"
    );
    let changes = reader
        .list_changes(&ChangeFilter {
            host: Some("db-2".into()),
            kind: None,
            limit: 10,
        })
        .expect("changes");
    assert_eq!(changes, vec![change]);
    assert!(
        reader
            .list_changes(&ChangeFilter {
                host: Some("db-1".into()),
                kind: None,
                limit: 10
            })
            .expect("changes")
            .is_empty()
    );
}

fn shared_stores_lock_reload_count_and_fence(open: &mut dyn FnMut(&str) -> Opened) {
    let Opened {
        mut backend,
        reader,
    } = open("shared");
    let mut other = open("shared").backend;
    // Current incidents: the newest not closed per fingerprint.
    let mut resolved = incident(1, "fp", State::Resolved);
    resolved.resolved_ms = Some(1);
    let mut due = incident(3, "due", State::Open);
    due.priority = 2;
    in_transaction(backend.as_mut(), |backend| {
        backend.save_incident(&resolved, None)?;
        backend.save_incident(&incident(2, "fp", State::Open), Some(1_000))?;
        backend.save_incident(&due, Some(50))
    });
    let current = in_transaction(backend.as_mut(), |backend| {
        backend.lock_fingerprints(&["fp".into(), "due".into()])?;
        backend.current_incidents(&["fp".into(), "due".into(), "none".into()])
    });
    let mut current_ids: Vec<String> = current.into_iter().map(|incident| incident.id).collect();
    current_ids.sort();
    let id = crate::incidents::model::format_id;
    assert_eq!(current_ids, vec![id(2), id(3)], "newest per fingerprint");
    let due_now = in_transaction(backend.as_mut(), |backend| backend.due_incidents(100));
    assert_eq!(
        due_now
            .into_iter()
            .map(|incident| incident.id)
            .collect::<Vec<_>>(),
        vec![id(3)],
        "only what is due"
    );
    // Topology: the active incidents of a set of hosts (each incident here is on web-1).
    let on_hosts = in_transaction(backend.as_mut(), |backend| {
        let mut found = backend.active_fingerprints_on_hosts(&["web-1".into()])?;
        found.sort();
        let none = backend.active_fingerprints_on_hosts(&["db-9".into()])?;
        Ok((found, none))
    });
    assert_eq!(
        on_hosts,
        (vec!["due".to_owned(), "fp".to_owned()], Vec::new())
    );
    let counts = in_transaction(backend.as_mut(), |backend| backend.active_by_priority());
    assert_eq!(counts.iter().sum::<u64>(), 2);
    assert_eq!(counts[1], 1, "one priority-2 incident");
    // The id counter only grows.
    let floor = in_transaction(backend.as_mut(), |backend| {
        let floor = backend.lock_last_id()?;
        backend.store_last_id(floor + 10)?;
        Ok(floor)
    });
    let after = in_transaction(other.as_mut(), |backend| {
        let after = backend.lock_last_id()?;
        backend.store_last_id(1)?;
        Ok(after)
    });
    assert_eq!(after, floor + 10, "the other collector sees the counter");
    assert_eq!(
        in_transaction(backend.as_mut(), |backend| backend.lock_last_id()),
        floor + 10,
        "never moved back"
    );
    // The lease: one holder at a time, a new epoch on takeover, the old epoch fenced.
    let first = in_transaction(backend.as_mut(), |backend| {
        backend.acquire_lease("a", 1_000)
    })
    .expect("a free lease is taken");
    assert_eq!(
        in_transaction(other.as_mut(), |backend| backend.acquire_lease("b", 1_000)),
        None,
        "a running lease is not taken over"
    );
    assert_eq!(
        in_transaction(backend.as_mut(), |backend| backend
            .acquire_lease("a", 1_000)),
        Some(first),
        "renewal keeps the epoch"
    );
    in_transaction(backend.as_mut(), |backend| backend.check_epoch(first.epoch));
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let second = in_transaction(other.as_mut(), |backend| backend.acquire_lease("b", 60_000))
        .expect("an expired lease is taken over");
    assert!(second.epoch > first.epoch, "the epoch grows");
    backend.begin().expect("begin");
    let fenced = backend.check_epoch(first.epoch);
    backend.rollback();
    assert!(
        matches!(fenced, Err(StoreError::Fenced { .. })),
        "the stale epoch is fenced: {fenced:?}"
    );
    assert_eq!(
        in_transaction(backend.as_mut(), |backend| backend
            .acquire_lease("a", 1_000)),
        None
    );
    reader.ping().expect("the reader answers");
    assert_eq!(reader.heartbeats().expect("heartbeats").len(), 0);
}

fn notification(
    incident: &str,
    sink: &str,
    step: &'static str,
    n: u64,
    due_ms: i64,
) -> NewNotification {
    NewNotification {
        incident_id: incident.into(),
        sink: sink.into(),
        step,
        level: u32::from(step == "escalate"),
        change_no: n,
        key: if step == "escalate" {
            format!("{incident}.{n}.{sink}.e1")
        } else {
            format!("{incident}.{n}.{sink}")
        },
        payload: std::sync::Arc::from("{}"),
        created_ms: 1_000,
        due_ms,
        give_up_ms: 100_000,
    }
}

fn claim(holder: &str, now_ms: i64) -> Claim<'_> {
    Claim {
        holder,
        now_ms,
        until_ms: now_ms + 1_000,
        take_foreign: false,
    }
}

fn claimed_keys(backend: &mut dyn Backend, claim: Claim<'_>) -> Vec<String> {
    in_transaction(backend, |b| b.claim_notifications(claim, 100))
        .into_iter()
        .map(|row| row.key)
        .collect()
}

fn the_outbox_delivers_in_order_once_per_lease(open: &mut dyn FnMut(&str) -> Opened) {
    let opened = open("outbox");
    let mut backend = opened.backend;
    let b = backend.as_mut();
    // Rows due now are claimed by their writer; an escalation waits for its time.
    let ids = in_transaction(b, |b| {
        b.enqueue_notifications(
            &[
                notification("a", "q", "open", 1, 1_000),
                notification("a", "q", "resolve", 2, 1_000),
                notification("b", "q", "open", 1, 1_000),
                notification("b", "q", "escalate", 1, 5_000),
                notification("a", "q", "open", 1, 1_000),
            ],
            claim("h1", 1_000),
        )
    });
    assert!(
        ids[0].is_some() && ids[1].is_some() && ids[2].is_some(),
        "{ids:?}"
    );
    assert_eq!(ids[3], None, "an escalation is not due yet");
    assert_eq!(ids[4], None, "the same idempotency key is queued once");
    let (a_open, a_resolve) = (ids[0].unwrap(), ids[1].unwrap());
    assert!(a_open < a_resolve);
    // Held by h1: nobody else takes them while the lease runs.
    assert!(claimed_keys(b, claim("h2", 1_500)).is_empty());
    // h1's open fails: it and the resolve behind it are handed back.
    in_transaction(b, |b| {
        b.finish_notifications(
            "h1",
            &[
                Finish::Retry {
                    id: a_open,
                    error: "HTTP 503".into(),
                    next_attempt_ms: 1_700,
                },
                Finish::Release { id: a_resolve },
            ],
            1_500,
        )
    });
    assert!(
        claimed_keys(b, claim("h2", 1_600)).is_empty(),
        "retry not due, resolve behind it"
    );
    assert_eq!(
        claimed_keys(b, claim("h2", 1_700)),
        vec!["a.1.q"],
        "the resolve waits for the open"
    );
    // A new row behind another holder's unfinished row is not claimed by its writer.
    let behind = in_transaction(b, |b| {
        b.enqueue_notifications(
            &[notification("a", "q", "update", 3, 1_700)],
            claim("h1", 1_700),
        )
    });
    assert_eq!(behind, vec![None]);
    in_transaction(b, |b| {
        b.finish_notifications(
            "h2",
            &[Finish::Sent {
                id: a_open,
                at_ms: 1_750,
            }],
            1_750,
        )
    });
    assert_eq!(
        claimed_keys(b, claim("h2", 1_800)),
        vec!["a.2.q"],
        "then the resolve, alone"
    );
    // A lease that ran out frees the row (b's open, held by h1 until 2,000).
    assert_eq!(claimed_keys(b, claim("h3", 2_500)), vec!["b.1.q"]);
    // An embedded store's own earlier run: taken at once.
    let mut foreign = claim("h4", 2_600);
    foreign.take_foreign = true;
    assert_eq!(claimed_keys(b, foreign), vec!["a.2.q", "b.1.q"]);
    // Acknowledged: the escalation waiting for b is cancelled.
    assert_eq!(in_transaction(b, |b| b.cancel_escalations(&["b"])), 1);
    in_transaction(b, |b| {
        b.finish_notifications(
            "h4",
            &[
                Finish::Sent {
                    id: a_resolve,
                    at_ms: 2_700,
                },
                Finish::Dead {
                    id: ids[2].unwrap(),
                    error: "HTTP 400".into(),
                },
            ],
            2_700,
        )
    });
    assert_eq!(
        claimed_keys(b, claim("h5", 9_000)),
        vec!["a.3.q"],
        "cancelled and dead stay"
    );
    // An operator's retry queues a dead one again.
    assert!(in_transaction(b, |b| b.retry_notification(
        ids[2].unwrap(),
        9_000,
        20_000
    )));
    assert!(
        !in_transaction(b, |b| b.retry_notification(a_open, 9_000, 20_000)),
        "sent stays sent"
    );
    assert_eq!(claimed_keys(b, claim("h6", 9_100)), vec!["b.1.q"]);
    // What the API lists.
    let all = opened
        .reader
        .list_notifications(&NotificationFilter {
            limit: 100,
            ..NotificationFilter::default()
        })
        .unwrap();
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(
        all.windows(2).all(|pair| pair[0].id > pair[1].id),
        "newest first"
    );
    let a_rows = opened
        .reader
        .list_notifications(&NotificationFilter {
            incident: Some("a".into()),
            states: vec!["sent".into()],
            limit: 100,
            ..NotificationFilter::default()
        })
        .unwrap();
    assert_eq!(a_rows.len(), 2);
    assert!(
        a_rows
            .iter()
            .all(|row| row.sink == "q" && row.sent_ms.is_some())
    );
    let first = a_rows.iter().find(|row| row.id == a_open).unwrap();
    assert_eq!((first.attempts, first.step.as_str()), (2, "open"));
    let cancelled = opened
        .reader
        .list_notifications(&NotificationFilter {
            states: vec!["cancelled".into()],
            limit: 100,
            ..NotificationFilter::default()
        })
        .unwrap();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        (cancelled[0].step.as_str(), cancelled[0].level),
        ("escalate", 1)
    );
    // Nothing of a rolled-back transaction stays.
    b.begin().unwrap();
    b.enqueue_notifications(
        &[notification("c", "q", "open", 1, 9_000)],
        claim("h1", 9_000),
    )
    .unwrap();
    b.rollback();
    let c_rows = opened
        .reader
        .list_notifications(&NotificationFilter {
            incident: Some("c".into()),
            limit: 10,
            ..NotificationFilter::default()
        })
        .unwrap();
    assert!(c_rows.is_empty());
    // Finished rows are pruned by age; unfinished ones stay.
    assert_eq!(in_transaction(b, |b| b.prune_notifications(2_000)), 3);
}

fn silences_are_kept_replaced_and_listed(open: &mut dyn FnMut(&str) -> Opened) {
    let opened = open("silences");
    let mut backend = opened.backend;
    let silence = |id: &str, starts_ms: i64, ends_ms: i64| SilenceRecord {
        id: id.into(),
        matchers: vec![MatcherRecord {
            name: "service".into(),
            op: "=~".into(),
            value: "billing|db".into(),
        }],
        starts_ms,
        ends_ms,
        created_by: "alice".into(),
        comment: "migration".into(),
        created_ms: 1,
        change_id: None,
    };
    in_transaction(backend.as_mut(), |b| {
        b.save_silence(&silence("s1", 0, 1_000))?;
        b.save_silence(&silence("s2", 500, 2_000))?;
        b.save_silence(&silence("s3", 0, 100))
    });
    let active = in_transaction(backend.as_mut(), |b| b.load_silences(200));
    assert_eq!(
        active.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    assert_eq!(active[0], silence("s1", 0, 1_000), "kept as given");
    // Ended early: replaced by id.
    in_transaction(backend.as_mut(), |b| b.save_silence(&silence("s1", 0, 300)));
    let active = in_transaction(backend.as_mut(), |b| b.load_silences(400));
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, "s2");
    let listed = opened.reader.list_silences(400, false, 10).unwrap();
    assert_eq!(listed.len(), 1);
    let all = opened.reader.list_silences(400, true, 10).unwrap();
    assert_eq!(
        all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s3", "s2", "s1"],
        "newest id first"
    );
    assert_eq!(opened.reader.list_silences(400, true, 2).unwrap().len(), 2);
}

fn capacity_record(host: &str, resource: &str, exhaustion_ms: Option<i64>) -> CapacityRecord {
    CapacityRecord {
        host_id: host.into(),
        resource: resource.into(),
        unit: "bytes".into(),
        used: 50.0,
        capacity: Some(100.0),
        last_ms: 1_000,
        computed_ms: 1_001,
        points: 60,
        model: "theil_sen".into(),
        horizons: vec![HorizonRecord {
            horizon_ms: 3_600_000,
            value: 60.0,
            low: 55.0,
            high: 65.5,
            model: "theil_sen".into(),
        }],
        exhaustion_ms,
        band_exhaustion_ms: exhaustion_ms.map(|at| at - 10),
        alert: exhaustion_ms.map(|_| "major".into()),
    }
}

fn capacity_rows_are_replaced_filtered_and_forgotten(open: &mut dyn FnMut(&str) -> Opened) {
    let opened = open("capacity");
    let mut backend = opened.backend;
    let history = |host: &str, resource: &str, saved_ms: i64, data: &[u8]| HistoryRow {
        host_id: host.into(),
        resource: resource.into(),
        saved_ms,
        data: data.to_vec(),
        cold: Vec::new(),
        cold_before_ms: None,
    };
    let cold = |first_ms: i64, end_ms: i64, byte: u8| ColdRow {
        first_ms,
        end_ms,
        data: vec![byte; 300],
    };
    in_transaction(backend.as_mut(), |b| {
        b.record_batch(&record("a", 1, 1))?;
        b.save_capacity(
            &[
                &capacity_record("a", "filesystem:/", None),
                &capacity_record("a", "memory", None),
                &capacity_record("b", "filesystem:/data", Some(9_000)),
            ],
            &[
                history("a", "filesystem:/", 1, &[1, 2, 3]),
                history("a", "memory", 1, &[0, 255]),
                history("b", "memory", 1, &[7]),
            ],
        )
    });
    // A later save replaces the row of its host and resource.
    in_transaction(backend.as_mut(), |b| {
        b.save_capacity(
            &[&capacity_record("a", "memory", Some(5_000))],
            &[history("a", "memory", 2, &[9; 70_000])],
        )
    });
    let reader = &opened.reader;
    let all = |filter: CapacityFilter| {
        reader
            .list_capacity(&CapacityFilter {
                limit: 100,
                ..filter
            })
            .unwrap()
            .into_iter()
            .map(|r| format!("{}/{}", r.host_id, r.resource))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        all(CapacityFilter::default()),
        ["a/filesystem:/", "a/memory", "b/filesystem:/data"]
    );
    assert_eq!(
        all(CapacityFilter {
            host: Some("a".into()),
            ..CapacityFilter::default()
        }),
        ["a/filesystem:/", "a/memory"]
    );
    assert_eq!(
        all(CapacityFilter {
            resource: Some("filesystem".into()),
            ..CapacityFilter::default()
        }),
        ["a/filesystem:/", "b/filesystem:/data"]
    );
    assert_eq!(
        all(CapacityFilter {
            exhausting: true,
            ..CapacityFilter::default()
        }),
        ["a/memory", "b/filesystem:/data"]
    );
    let listed = reader
        .list_capacity(&CapacityFilter {
            host: Some("a".into()),
            resource: Some("memory".into()),
            exhausting: false,
            limit: 10,
        })
        .unwrap();
    assert_eq!(
        listed,
        [capacity_record("a", "memory", Some(5_000))],
        "kept as given"
    );
    let histories = reader.load_history("a").unwrap();
    assert_eq!(
        histories,
        [
            history("a", "filesystem:/", 1, &[1, 2, 3]),
            history("a", "memory", 2, &[9; 70_000])
        ]
    );
    // Cold parts are kept beside a series, oldest first, a part kept again replaced; a save's
    // `cold_before_ms` forgets the series' parts that end before it, and only that series'.
    let with_cold = |saved_ms: i64, parts: Vec<ColdRow>, before: Option<i64>| HistoryRow {
        cold: parts,
        cold_before_ms: before,
        ..history("a", "memory", saved_ms, &[saved_ms as u8])
    };
    in_transaction(backend.as_mut(), |b| {
        b.save_capacity(
            &[],
            &[
                with_cold(3, vec![cold(200, 300, 2), cold(100, 200, 1)], None),
                HistoryRow {
                    cold: vec![cold(100, 200, 9)],
                    ..history("a", "filesystem:/", 3, &[3])
                },
            ],
        )
    });
    in_transaction(backend.as_mut(), |b| {
        b.save_capacity(
            &[],
            &[with_cold(
                4,
                vec![cold(300, 400, 3), cold(200, 300, 5)],
                Some(250),
            )],
        )
    });
    assert_eq!(
        reader.load_cold("a", "memory").unwrap(),
        [cold(200, 300, 5), cold(300, 400, 3)]
    );
    assert_eq!(
        reader.load_cold("a", "filesystem:/").unwrap(),
        [cold(100, 200, 9)]
    );
    assert!(reader.load_cold("b", "memory").unwrap().is_empty());
    assert!(
        reader
            .load_history("a")
            .unwrap()
            .iter()
            .all(|row| row.cold.is_empty())
    );
    // Forgetting a host forgets its capacity rows, and only its own.
    in_transaction(backend.as_mut(), |b| b.forget_host("a"));
    assert!(reader.load_cold("a", "memory").unwrap().is_empty());
    assert!(reader.load_history("a").unwrap().is_empty());
    assert_eq!(all(CapacityFilter::default()), ["b/filesystem:/data"]);
    assert_eq!(reader.load_history("b").unwrap().len(), 1);
}

fn recent_changes_are_loaded_without_maintenance(open: &mut dyn FnMut(&str) -> Opened) {
    let mut backend = open("recent-changes").backend;
    let change = |id: &str, kind: &str, starts_ms: i64| ChangeRecord {
        id: id.into(),
        kind: kind.into(),
        summary: format!("{kind} {id}"),
        by: "ci".into(),
        hosts: vec!["web-1".into()],
        services: vec!["checkout".into()],
        starts_ms,
        ends_ms: (kind == "maintenance").then_some(starts_ms + 10),
        details: serde_json::Value::Null,
    };
    in_transaction(backend.as_mut(), |b| {
        b.save_changes(&[
            &change("c-old", "deploy", 100),
            &change("c-edge", "config", 1_000),
            &change("c-maint", "maintenance", 1_500),
            &change("c-new", "inventory", 2_000),
        ])
    });
    let recent = in_transaction(backend.as_mut(), |b| b.load_changes(1_000));
    assert_eq!(
        recent.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c-new", "c-edge"],
        "newest first, from since_ms on, no maintenance"
    );
    assert_eq!(
        recent[1],
        change("c-edge", "config", 1_000),
        "kept as given"
    );
}

fn problems_are_kept_linked_and_one_per_fingerprint(open: &mut dyn FnMut(&str) -> Opened) {
    let opened = open("problems");
    let mut backend = opened.backend;
    let problem = |id: &str, fingerprint: &str, state: &str| ProblemRecord {
        id: id.into(),
        fingerprint: fingerprint.into(),
        state: state.into(),
        reason: "recurrence".into(),
        title: "disk_full on db-1".into(),
        root_cause: None,
        workaround: None,
        created_ms: 10,
        updated_ms: 10,
        updated_by: "vigil".into(),
    };
    // Openings: incidents of a fingerprint by opening time, closed ones included.
    let (old, a, b) = (
        incident(1 << 12, "disk", State::Closed),
        incident(5_000 << 12, "disk", State::Closed),
        incident(6_000 << 12, "disk", State::Open),
    );
    let mut a = a;
    a.opened_ms = 5_000;
    let mut b = b;
    b.opened_ms = 6_000;
    let mut old = old;
    old.opened_ms = 1;
    let other = {
        let mut other = incident(7_000 << 12, "cpu", State::Open);
        other.opened_ms = 7_000;
        other
    };
    in_transaction(backend.as_mut(), |backend| {
        for incident in [&old, &a, &b, &other] {
            backend.save_incident(incident, None)?;
        }
        Ok(())
    });
    let openings = in_transaction(backend.as_mut(), |backend| {
        backend.incident_openings(Some(&["disk".to_owned()]), 5_000)
    });
    assert_eq!(
        openings
            .iter()
            .map(|o| (o.fingerprint.as_str(), o.incident_id.as_str(), o.opened_ms))
            .collect::<Vec<_>>(),
        [
            ("disk", a.id.as_str(), 5_000),
            ("disk", b.id.as_str(), 6_000)
        ]
    );
    let all = in_transaction(backend.as_mut(), |backend| {
        backend.incident_openings(None, 5_000)
    });
    assert_eq!(all.len(), 3, "{all:?}");

    in_transaction(backend.as_mut(), |backend| {
        backend.save_problem(&problem("p1", "disk", "open"))?;
        backend.link_problem("p1", &[a.id.clone(), b.id.clone()])?;
        // Linking again changes nothing.
        backend.link_problem("p1", std::slice::from_ref(&b.id))
    });
    let unlinked = in_transaction(backend.as_mut(), |backend| {
        backend.incident_openings(Some(&["disk".to_owned()]), 5_000)
    });
    assert!(
        unlinked.is_empty(),
        "linked incidents do not count again: {unlinked:?}"
    );
    // A second unresolved problem for the fingerprint is refused.
    backend.begin().unwrap();
    let second = backend.save_problem(&problem("p2", "disk", "open"));
    backend.rollback();
    assert!(
        matches!(second, Err(StoreError::Conflict { .. })),
        "{second:?}"
    );
    let active = in_transaction(backend.as_mut(), |backend| {
        backend.active_problems(Some(&["disk".to_owned(), "cpu".to_owned()]))
    });
    assert_eq!(active, [problem("p1", "disk", "open")]);
    // A known error with its workaround, replaced by id.
    let mut known = problem("p1", "disk", "known_error");
    known.workaround = Some("rotate /var/log".into());
    known.root_cause = Some("logrotate disabled".into());
    in_transaction(backend.as_mut(), |backend| backend.save_problem(&known));
    let found = in_transaction(backend.as_mut(), |backend| backend.find_problem("p1"));
    assert_eq!(found.as_ref(), Some(&known));
    let (listed, incidents) = opened.reader.get_problem("p1").unwrap().unwrap();
    assert_eq!(listed, known);
    assert_eq!(incidents, [a.id.clone(), b.id.clone()], "oldest first");
    assert_eq!(
        opened
            .reader
            .list_problems(&["known_error".to_owned()], 10)
            .unwrap()
            .len(),
        1
    );
    assert!(
        opened
            .reader
            .list_problems(&["open".to_owned()], 10)
            .unwrap()
            .is_empty()
    );
    let mut links = opened
        .reader
        .problem_links(&[a.id.clone(), other.id.clone()])
        .unwrap();
    links.sort();
    assert_eq!(links, [(a.id.clone(), "p1".to_owned())]);
    // Resolved: another problem may open for the fingerprint.
    in_transaction(backend.as_mut(), |backend| {
        backend.save_problem(&problem("p1", "disk", "resolved"))?;
        backend.save_problem(&problem("p2", "disk", "open"))
    });
    let active = in_transaction(backend.as_mut(), |backend| backend.active_problems(None));
    assert_eq!(active, [problem("p2", "disk", "open")]);
    assert!(in_transaction(backend.as_mut(), |backend| backend.find_problem("nope")).is_none());
}

fn state_changes_are_kept_and_read_from_a_window(open: &mut dyn FnMut(&str) -> Opened) {
    let change = |kind: &str, host: &str, probe: &str, at_ms: i64, up: bool| StateChange {
        kind: kind.into(),
        host: host.into(),
        probe: probe.into(),
        service: if host == "web-1" {
            "checkout".into()
        } else {
            String::new()
        },
        at_ms,
        up: Some(up),
    };
    let opened = open("state-changes");
    let mut backend = opened.backend;
    in_transaction(backend.as_mut(), |b| {
        b.record_state_changes(&[
            change("host", "web-1", "", 100, true),
            change("probe", "web-1", "http", 100, true),
            change("probe", "web-1", "http", 200, false),
            change("probe", "web-1", "http", 300, true),
            change("host", "web-1", "", 400, false),
            change("host", "db-1", "", 50, true),
        ])
    });
    // A rolled-back change is not kept.
    backend.begin().unwrap();
    backend
        .record_state_changes(&[change("host", "db-1", "", 60, false)])
        .unwrap();
    backend.rollback();
    // The same subject and millisecond again: the later write wins.
    in_transaction(backend.as_mut(), |b| {
        b.record_state_changes(&[change("probe", "web-1", "http", 300, false)])
    });
    let all = opened.reader.state_changes(0).unwrap();
    let key = |c: &StateChange| {
        (
            c.kind.clone(),
            c.host.clone(),
            c.probe.clone(),
            c.at_ms,
            c.up,
        )
    };
    assert_eq!(
        all.iter().map(key).collect::<Vec<_>>(),
        vec![
            ("host".into(), "db-1".into(), "".into(), 50, Some(true)),
            ("host".into(), "web-1".into(), "".into(), 100, Some(true)),
            ("host".into(), "web-1".into(), "".into(), 400, Some(false)),
            (
                "probe".into(),
                "web-1".into(),
                "http".into(),
                100,
                Some(true)
            ),
            (
                "probe".into(),
                "web-1".into(),
                "http".into(),
                200,
                Some(false)
            ),
            (
                "probe".into(),
                "web-1".into(),
                "http".into(),
                300,
                Some(false)
            ),
        ],
        "ordered by subject, then time"
    );
    assert_eq!(all[1].service, "checkout");
    // From 250 on: each subject's last change before 250, then the ones after.
    let window = opened.reader.state_changes(250).unwrap();
    assert_eq!(
        window.iter().map(key).collect::<Vec<_>>(),
        vec![
            ("host".into(), "db-1".into(), "".into(), 50, Some(true)),
            ("host".into(), "web-1".into(), "".into(), 100, Some(true)),
            ("host".into(), "web-1".into(), "".into(), 400, Some(false)),
            (
                "probe".into(),
                "web-1".into(),
                "http".into(),
                200,
                Some(false)
            ),
            (
                "probe".into(),
                "web-1".into(),
                "http".into(),
                300,
                Some(false)
            ),
        ]
    );
    drop(backend);
    // Kept across a reopen.
    let reopened = open("state-changes");
    assert_eq!(reopened.reader.state_changes(0).unwrap().len(), 6);
    // Pruned before 250: what the window from 250 needs stays (web-1's probe row at 100 goes,
    // the one at 200 is the state at 250).
    let mut backend = reopened.backend;
    assert_eq!(
        in_transaction(backend.as_mut(), |b| b.prune_state_changes(250)),
        1
    );
    assert_eq!(
        reopened
            .reader
            .state_changes(0)
            .unwrap()
            .iter()
            .map(key)
            .collect::<Vec<_>>(),
        window.iter().map(key).collect::<Vec<_>>()
    );
    // Unknown from now on (a probe taken out of its agent's config).
    let gone = StateChange {
        up: None,
        ..change("probe", "web-1", "http", 500, true)
    };
    in_transaction(backend.as_mut(), |b| {
        b.record_state_changes(std::slice::from_ref(&gone))
    });
    let latest = reopened.reader.state_changes(i64::MAX).unwrap();
    assert!(latest.contains(&gone), "{latest:?}");
}

fn novelty_records_are_replaced_read_by_fingerprint_and_survive_reopen(
    open: &mut dyn FnMut(&str) -> Opened,
) {
    let record = |fingerprint: &str, last_firing_ms: i64, past_ms: f64| NoveltyRecord {
        fingerprint: fingerprint.into(),
        last_firing_ms,
        past_ms,
        past_at_ms: last_firing_ms + 300_000,
    };
    let sorted = |mut records: Vec<NoveltyRecord>| {
        records.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        records
    };
    {
        let mut backend = open("novelty").backend;
        assert!(in_transaction(backend.as_mut(), |b| b.load_novelty(None)).is_empty());
        in_transaction(backend.as_mut(), |b| {
            b.save_novelty(&[record("a", 1_000, 0.0), record("b", 2_000, 1.5)])
        });
        // A later save replaces the fingerprint's record (fractions kept).
        in_transaction(backend.as_mut(), |b| {
            b.save_novelty(&[record("a", 9_000, 3_600_000.25)])
        });
        // A rolled back save leaves nothing.
        backend.begin().unwrap();
        backend.save_novelty(&[record("c", 1, 1.0)]).unwrap();
        backend.rollback();
    }
    let mut backend = open("novelty").backend;
    assert_eq!(
        sorted(in_transaction(backend.as_mut(), |b| b.load_novelty(None))),
        [record("a", 9_000, 3_600_000.25), record("b", 2_000, 1.5)],
        "kept across a reopen"
    );
    assert_eq!(
        in_transaction(backend.as_mut(), |b| {
            b.load_novelty(Some(&["b".to_owned(), "zzz".to_owned()]))
        }),
        [record("b", 2_000, 1.5)]
    );
    assert!(in_transaction(backend.as_mut(), |b| b.load_novelty(Some(&[]))).is_empty());
}
