//! The writer thread: group commit, dedup under concurrency, rollback on a failed commit,
//! back-pressure, fencing.

use super::*;
use crate::clock::ManualClock;
use crate::incidents::{Engine, Policy};
use crate::store::sqlite::{SqliteBackend, SqliteReader};
use crate::store::{
    Backend, BatchRecord, ChangeRecord, HostRecord, IncidentFilter, Reader, Recorded, StoreError,
};
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;

fn batch(host: &str, seq: u64) -> Write {
    Write::Batch(HostWrite {
        record: BatchRecord {
            host_id: host.into(),
            hostname: host.into(),
            agent_version: "t".into(),
            labels: Labels::new(),
            stream: 1,
            seq,
            received_ms: 1,
            inventory_json: None,
        },
        events: Vec::new(),
        change: None,
        states: Vec::new(),
    })
}

fn start(backend: Box<dyn Backend>, max_pending: usize) -> Pipeline {
    let writer = Writer {
        backend,
        engine: Engine::new(Policy::default(), Vec::new(), 0),
        clock: Arc::new(ManualClock::new(1_000)),
        observer: Box::new(|_| {}),
        event_id_retention_ms: 60_000,
        notify: None,
        notification_retention_ms: 60_000,
    };
    Pipeline::start(writer, max_pending).unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_writes_are_accepted_once() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(&dir.path().join("v.db")).unwrap();
    let pipeline = start(Box::new(backend), 10_000);
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let pipeline = pipeline.clone();
        tasks.push(tokio::spawn(
            async move { pipeline.write(batch("h", 1)).await },
        ));
    }
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == WriteOutcome::Accepted {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
    assert!(pipeline.is_healthy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_storm_of_one_event_is_one_incident_with_the_exact_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let backend = SqliteBackend::open(&path).unwrap();
    let pipeline = start(Box::new(backend), 20_000);
    let event =
        EventIn::new("nagios", "http_5xx", Status::Firing, Severity::Major).with_host("web-1");
    let mut tasks = Vec::new();
    for _ in 0..2_000 {
        let pipeline = pipeline.clone();
        let event = event.clone();
        tasks.push(tokio::spawn(async move {
            pipeline.write(Write::Events(vec![event])).await
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
    let reader = SqliteReader::open(&path).unwrap();
    let incident = reader
        .get_incident(ids.iter().next().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(incident.count, 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_keeps_its_availability_changes_only_when_it_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let pipeline = start(Box::new(SqliteBackend::open(&path).unwrap()), 100);
    let change = |at_ms, up| crate::store::StateChange {
        kind: "probe".into(),
        host: "h".into(),
        probe: "http".into(),
        service: String::new(),
        at_ms,
        up: Some(up),
    };
    let with_states = |seq, states| match batch("h", seq) {
        Write::Batch(mut host) => {
            host.states = states;
            Write::Batch(host)
        }
        other => other,
    };
    let first = pipeline
        .write(with_states(1, vec![change(10, false)]))
        .await;
    assert_eq!(first.unwrap(), WriteOutcome::Accepted);
    // A resend of seq 1 with other changes: a duplicate, nothing of it is kept.
    let again = pipeline.write(with_states(1, vec![change(20, true)])).await;
    assert_eq!(again.unwrap(), WriteOutcome::Duplicate);
    let heartbeat = Write::Fenced {
        epoch: 1,
        write: Box::new(Write::States {
            changes: vec![change(30, true)],
            events: vec![crate::rules::host_down_event(
                "h",
                &Labels::new(),
                false,
                "the agent reports again".to_owned(),
            )],
        }),
    };
    let WriteOutcome::Events(outcomes) = pipeline.write(heartbeat).await.unwrap() else {
        panic!("the heartbeat's write answers with event outcomes")
    };
    assert_eq!(outcomes.len(), 1, "its event went through the engine");
    let kept: Vec<(i64, bool)> = SqliteReader::open(&path)
        .unwrap()
        .state_changes(0)
        .unwrap()
        .iter()
        .map(|change| (change.at_ms, change.up.unwrap_or_default()))
        .collect();
    assert_eq!(kept, vec![(10, false), (30, true)]);
}

/// SQLite with a commit that fails, or a fence that refuses.
struct Faulty {
    inner: SqliteBackend,
    fail_commit: bool,
    epoch: i64,
}

impl Backend for Faulty {
    fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError> {
        self.inner.load_hosts()
    }
    fn load_incidents(&mut self) -> Result<(Vec<Incident>, u64), StoreError> {
        self.inner.load_incidents()
    }
    fn begin(&mut self) -> Result<(), StoreError> {
        self.inner.begin()
    }
    fn record_batch(&mut self, batch: &BatchRecord) -> Result<Recorded, StoreError> {
        self.inner.record_batch(batch)
    }
    fn save_change(&mut self, change: &ChangeRecord) -> Result<(), StoreError> {
        self.inner.save_change(change)
    }
    fn forget_host(&mut self, host_id: &str) -> Result<bool, StoreError> {
        self.inner.forget_host(host_id)
    }
    fn claim_event_id(&mut self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.inner.claim_event_id(id, now_ms)
    }
    fn prune_event_ids(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        self.inner.prune_event_ids(before_ms)
    }
    fn save_incident(&mut self, incident: &Incident, due: Option<i64>) -> Result<(), StoreError> {
        self.inner.save_incident(incident, due)
    }
    fn find_incident(&mut self, id: &str) -> Result<Option<Incident>, StoreError> {
        self.inner.find_incident(id)
    }
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.fail_commit {
            return Err(StoreError::Unavailable {
                reason: "injected".into(),
            });
        }
        self.inner.commit()
    }
    fn rollback(&mut self) {
        self.inner.rollback();
    }
    fn check_epoch(&mut self, epoch: i64) -> Result<(), StoreError> {
        if epoch == self.epoch {
            Ok(())
        } else {
            Err(StoreError::Fenced { epoch })
        }
    }
}

#[tokio::test]
async fn a_failed_commit_rolls_the_engine_back_and_fails_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let backend = Faulty {
        inner: SqliteBackend::open(&path).unwrap(),
        fail_commit: true,
        epoch: 1,
    };
    let pipeline = start(Box::new(backend), 10);
    let mut event = EventIn::new("t", "c", Status::Firing, Severity::Major);
    event.event_id = Some("e-1".into());
    assert!(pipeline.write(Write::Events(vec![event])).await.is_err());
    assert!(!pipeline.is_healthy());
    let reader = SqliteReader::open(&path).unwrap();
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
async fn a_stale_epoch_is_refused_alone_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let backend = Faulty {
        inner: SqliteBackend::open(&path).unwrap(),
        fail_commit: false,
        epoch: 2,
    };
    let pipeline = start(Box::new(backend), 100);
    let event = |check: &str| EventIn::new("t", check, Status::Firing, Severity::Major);
    let stale = Write::Fenced {
        epoch: 1,
        write: Box::new(Write::Events(vec![event("stale")])),
    };
    let current = Write::Fenced {
        epoch: 2,
        write: Box::new(Write::Events(vec![event("current")])),
    };
    let (stale, plain, current) = tokio::join!(
        pipeline.write(stale),
        pipeline.write(Write::Events(vec![event("plain")])),
        pipeline.write(current),
    );
    match stale {
        Err(WriteError::Store(error)) => assert!(matches!(*error, StoreError::Fenced { epoch: 1 })),
        other => panic!("a stale epoch must be refused: {other:?}"),
    }
    assert!(plain.is_ok(), "other writes are not failed by a fence");
    assert!(current.is_ok());
    assert!(pipeline.is_healthy(), "a fence is not a store failure");
    let reader = SqliteReader::open(&path).unwrap();
    let checks: Vec<String> = reader
        .list_incidents(&IncidentFilter {
            limit: 10,
            ..IncidentFilter::default()
        })
        .unwrap()
        .into_iter()
        .map(|incident| incident.check)
        .collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(!checks.contains(&"stale".to_owned()));
}

#[tokio::test]
async fn a_full_queue_answers_overloaded() {
    struct Stuck(std::sync::mpsc::Sender<()>, SqliteBackend);
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
            self.1.begin()
        }
        fn record_batch(&mut self, batch: &BatchRecord) -> Result<Recorded, StoreError> {
            self.1.record_batch(batch)
        }
        fn save_change(&mut self, change: &ChangeRecord) -> Result<(), StoreError> {
            self.1.save_change(change)
        }
        fn forget_host(&mut self, host_id: &str) -> Result<bool, StoreError> {
            self.1.forget_host(host_id)
        }
        fn claim_event_id(&mut self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
            self.1.claim_event_id(id, now_ms)
        }
        fn prune_event_ids(&mut self, before_ms: i64) -> Result<usize, StoreError> {
            self.1.prune_event_ids(before_ms)
        }
        fn save_incident(
            &mut self,
            incident: &Incident,
            due: Option<i64>,
        ) -> Result<(), StoreError> {
            self.1.save_incident(incident, due)
        }
        fn find_incident(&mut self, id: &str) -> Result<Option<Incident>, StoreError> {
            self.1.find_incident(id)
        }
        fn commit(&mut self) -> Result<(), StoreError> {
            self.1.commit()
        }
        fn rollback(&mut self) {
            self.1.rollback();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (started, commit_started) = std::sync::mpsc::channel();
    let backend = Stuck(
        started,
        SqliteBackend::open(&dir.path().join("v.db")).unwrap(),
    );
    let pipeline = start(Box::new(backend), 1);
    let first = tokio::spawn({
        let pipeline = pipeline.clone();
        async move { pipeline.write(batch("a", 1)).await }
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
            pipeline.write(batch("a", seq)),
        );
        if let Ok(Err(WriteError::Overloaded)) = attempt.await {
            refused = true;
            break;
        }
    }
    assert!(refused, "no write was refused with Overloaded");
    assert!(first.await.unwrap().is_ok());
}

/// SQLite whose commits fail while `fail` is set.
struct Toggle {
    inner: SqliteBackend,
    fail: Arc<AtomicBool>,
}

impl Backend for Toggle {
    fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError> {
        self.inner.load_hosts()
    }
    fn load_incidents(&mut self) -> Result<(Vec<Incident>, u64), StoreError> {
        self.inner.load_incidents()
    }
    fn begin(&mut self) -> Result<(), StoreError> {
        self.inner.begin()
    }
    fn record_batch(&mut self, batch: &BatchRecord) -> Result<Recorded, StoreError> {
        self.inner.record_batch(batch)
    }
    fn save_change(&mut self, change: &ChangeRecord) -> Result<(), StoreError> {
        self.inner.save_change(change)
    }
    fn forget_host(&mut self, host_id: &str) -> Result<bool, StoreError> {
        self.inner.forget_host(host_id)
    }
    fn claim_event_id(&mut self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.inner.claim_event_id(id, now_ms)
    }
    fn prune_event_ids(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        self.inner.prune_event_ids(before_ms)
    }
    fn save_incident(&mut self, incident: &Incident, due: Option<i64>) -> Result<(), StoreError> {
        self.inner.save_incident(incident, due)
    }
    fn find_incident(&mut self, id: &str) -> Result<Option<Incident>, StoreError> {
        self.inner.find_incident(id)
    }
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.fail.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable {
                reason: "injected".into(),
            });
        }
        self.inner.commit()
    }
    fn rollback(&mut self) {
        self.inner.rollback();
    }
    fn save_problem(&mut self, problem: &crate::store::ProblemRecord) -> Result<(), StoreError> {
        self.inner.save_problem(problem)
    }
    fn link_problem(&mut self, problem_id: &str, ids: &[String]) -> Result<(), StoreError> {
        self.inner.link_problem(problem_id, ids)
    }
    fn active_problems(
        &mut self,
        fingerprints: Option<&[String]>,
    ) -> Result<Vec<crate::store::ProblemRecord>, StoreError> {
        self.inner.active_problems(fingerprints)
    }
    fn incident_openings(
        &mut self,
        fingerprints: Option<&[String]>,
        since_ms: i64,
    ) -> Result<Vec<crate::store::OpeningRecord>, StoreError> {
        self.inner.incident_openings(fingerprints, since_ms)
    }
    fn load_novelty(
        &mut self,
        fingerprints: Option<&[String]>,
    ) -> Result<Vec<crate::store::NoveltyRecord>, StoreError> {
        self.inner.load_novelty(fingerprints)
    }
    fn save_novelty(&mut self, records: &[crate::store::NoveltyRecord]) -> Result<(), StoreError> {
        self.inner.save_novelty(records)
    }
    fn load_changes(&mut self, since_ms: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        self.inner.load_changes(since_ms)
    }
}

#[test]
fn an_opening_whose_commit_failed_does_not_count_towards_a_recurrence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let fail = Arc::new(AtomicBool::new(false));
    let backend = Toggle {
        inner: SqliteBackend::open(&path).unwrap(),
        fail: fail.clone(),
    };
    let mut policy = Policy {
        reopen_window_ms: 0,
        ..Policy::default()
    };
    policy.problems.recur_count = 2;
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut direct = Direct::new(Writer {
        backend: Box::new(backend),
        engine: Engine::new(policy, Vec::new(), 0),
        clock: clock.clone(),
        observer: Box::new(|_| {}),
        event_id_retention_ms: 60_000,
        notify: None,
        notification_retention_ms: 60_000,
    });
    let event = |status| EventIn::new("t", "disk_full", status, Severity::Major).with_host("db-1");
    let cycle = |direct: &mut Direct| {
        let answers = direct.run(vec![
            Write::Events(vec![event(Status::Firing)]),
            Write::Events(vec![event(Status::Resolved)]),
        ]);
        clock.advance(1_000);
        answers
            .into_iter()
            .next()
            .and_then(|answer| answer.ok())
            .and_then(|outcome| match outcome {
                WriteOutcome::Events(outcomes) => outcomes[0].incident_id().map(str::to_owned),
                _ => None,
            })
    };
    let first = cycle(&mut direct).expect("committed");
    fail.store(true, Ordering::Relaxed);
    assert_eq!(cycle(&mut direct), None, "the commit failed");
    fail.store(false, Ordering::Relaxed);
    let second = cycle(&mut direct).expect("committed");
    let reader = SqliteReader::open(&path).unwrap();
    let problems = reader.list_problems(&[], 10).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let (_, linked) = reader.get_problem(&problems[0].id).unwrap().unwrap();
    assert_eq!(
        linked,
        [first, second],
        "the rolled-back opening is not linked"
    );
}
