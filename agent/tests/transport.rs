//! Transport and agent loop against a real HTTP server on loopback: an axum app that can fail
//! the first requests, records every request it gets (headers and the decoded batch), and
//! answers like the collector (`{"error": ...}` on 4xx/5xx).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::Notify;
use vigil_agent::config::Secret;
use vigil_agent::config::{Config, RawConfig};
use vigil_agent::spool::Spool;
use vigil_agent::transport::retry::RetryPolicy;
use vigil_agent::transport::{Shipper, TransportOptions, enqueue};
use vigil_shared::wire::codec::{Format, decode};
use vigil_shared::wire::{AgentInfo, Batch, PROTOCOL_VERSION};

/// Bounded wait for anything in these tests.
const DEADLINE: Duration = Duration::from_secs(20);

struct Request {
    status: u16,
    headers: HeaderMap,
    batch: Batch,
}

#[derive(Default)]
struct Recorder {
    /// Statuses to answer, in order, before answering 200 for everything.
    script: Mutex<VecDeque<u16>>,
    requests: Mutex<Vec<Request>>,
    arrived: Notify,
}

async fn ingest(
    State(recorder): State<Arc<Recorder>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let raw = zstd::bulk::decompress(&body, 16 * 1024 * 1024).expect("zstd body");
    let batch = decode(&raw, Format::Msgpack).expect("msgpack batch");
    let status = recorder.script.lock().unwrap().pop_front().unwrap_or(200);
    recorder.requests.lock().unwrap().push(Request {
        status,
        headers,
        batch,
    });
    recorder.arrived.notify_waiters();
    let body = if status == 200 {
        "{}".to_owned()
    } else {
        format!("{{\"error\": \"scripted {status}\"}}")
    };
    (StatusCode::from_u16(status).unwrap(), body)
}

/// Starts the server on 127.0.0.1:0; returns its base URL.
async fn start(script: &[u16]) -> (String, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    recorder
        .script
        .lock()
        .unwrap()
        .extend(script.iter().copied());
    let app = Router::new()
        .route("/v1/ingest", post(ingest))
        .with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{address}"), recorder)
}

fn batch(seq: u64) -> Batch {
    Batch {
        version: PROTOCOL_VERSION,
        agent: AgentInfo {
            host_id: "web-1".into(),
            hostname: "web-1".into(),
            version: "test".into(),
            labels: Default::default(),
        },
        stream: 77,
        seq,
        time_ms: 1_790_000_000_000,
        samples: vec![],
        events: vec![],
        inventory: None,
    }
}

fn fast_options(url: &str, token: Option<&str>) -> TransportOptions {
    let mut options = TransportOptions::new(url, token.map(Secret::new));
    options.retry = RetryPolicy {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(1),
    };
    options
}

fn seqs(recorder: &Recorder) -> Vec<(u64, u16)> {
    recorder
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|request| (request.batch.seq, request.status))
        .collect()
}

#[tokio::test]
async fn transport_retries_503_then_delivers_in_seq_order_with_headers() {
    let (url, recorder) = start(&[503, 503]).await;
    let shipper = Shipper::new(&fast_options(&url, Some("tok-123"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let queue = Spool::open(dir.path(), 1 << 20).unwrap();
    for seq in 1..=3 {
        enqueue(&queue, &batch(seq)).unwrap();
    }
    queue.close();
    tokio::time::timeout(DEADLINE, shipper.run(&queue))
        .await
        .expect("shipper finished within the deadline");

    assert_eq!(
        seqs(&recorder),
        vec![(1, 503), (1, 503), (1, 200), (2, 200), (3, 200)]
    );
    let stats = queue.stats();
    assert_eq!(stats.batches, 0);
    assert_eq!(stats.delivered_total, 3);
    let requests = recorder.requests.lock().unwrap();
    let headers = &requests[2].headers;
    assert_eq!(headers["content-type"], "application/msgpack");
    assert_eq!(headers["content-encoding"], "zstd");
    assert_eq!(headers["authorization"], "Bearer tok-123");
    assert_eq!(
        headers["user-agent"],
        concat!("vigil-agent/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(requests[2].batch, batch(1));
}

#[tokio::test]
async fn transport_drops_a_rejected_batch_and_moves_on() {
    // seq 1 delivered, seq 2 answered 422 (dropped, never retried), seq 3 delivered.
    let (url, recorder) = start(&[200, 422]).await;
    let shipper = Shipper::new(&fast_options(&url, None)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let queue = Spool::open(dir.path(), 1 << 20).unwrap();
    for seq in 1..=3 {
        enqueue(&queue, &batch(seq)).unwrap();
    }
    queue.close();
    tokio::time::timeout(DEADLINE, shipper.run(&queue))
        .await
        .expect("shipper finished within the deadline");

    assert_eq!(seqs(&recorder), vec![(1, 200), (2, 422), (3, 200)]);
    assert_eq!(queue.stats().rejected_total, 1);
    let requests = recorder.requests.lock().unwrap();
    assert!(requests[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn transport_keeps_retrying_401_until_the_collector_accepts() {
    let (url, recorder) = start(&[401, 403]).await;
    let shipper = Shipper::new(&fast_options(&url, Some("wrong"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let queue = Spool::open(dir.path(), 1 << 20).unwrap();
    enqueue(&queue, &batch(1)).unwrap();
    queue.close();
    tokio::time::timeout(DEADLINE, shipper.run(&queue))
        .await
        .expect("shipper finished within the deadline");
    assert_eq!(seqs(&recorder), vec![(1, 401), (1, 403), (1, 200)]);
}

#[tokio::test]
async fn agent_run_streams_batches_and_flushes_agent_stop_on_shutdown() {
    let (url, recorder) = start(&[]).await;
    let state_dir = tempfile::tempdir().unwrap();
    let raw = RawConfig {
        collector: Some(url),
        interval: Some("250ms".into()),
        state_dir: Some(state_dir.path().to_owned()),
        ..RawConfig::default()
    };
    let config = Config::from_raw(raw, Some("test-host".into())).unwrap();

    let waiter = recorder.clone();
    let shutdown = async move {
        // Shut down once two batches have arrived (bounded by the deadline).
        let _ = tokio::time::timeout(DEADLINE, async {
            while waiter.requests.lock().unwrap().len() < 2 {
                waiter.arrived.notified().await;
            }
        })
        .await;
    };
    tokio::time::timeout(DEADLINE * 2, vigil_agent::run(config.clone(), shutdown))
        .await
        .expect("agent stopped within the deadline")
        .expect("agent ran cleanly");

    let requests = recorder.requests.lock().unwrap();
    assert!(requests.len() >= 3, "got {} batches", requests.len());
    let batches: Vec<&Batch> = requests.iter().map(|request| &request.batch).collect();
    let stream = batches[0].stream;
    for (batch_idx, batch) in batches.iter().enumerate() {
        assert_eq!(batch.seq, batch_idx as u64 + 1);
        assert_eq!(batch.stream, stream);
        assert_eq!(batch.agent.host_id, "test-host");
        assert!(batch.samples.iter().any(|s| s.name == "cpu_usage_ratio"));
    }
    assert_eq!(batches[0].events[0].check, "agent_start");
    assert!(batches[0].inventory.is_some());
    assert!(batches[1].inventory.is_none());
    let last = batches.last().unwrap();
    assert_eq!(last.events.last().unwrap().check, "agent_stop");
    let last_seq = last.seq;
    drop(requests);

    // A restart continues the same stream above the last seq (past the reserved block).
    let mut state = vigil_agent::state::State::open(state_dir.path()).unwrap();
    assert_eq!(state.stream(), stream);
    assert!(state.next_seq().unwrap() > last_seq);
}

#[tokio::test]
async fn transport_close_cuts_a_long_backoff_short_for_the_shutdown_flush() {
    let (url, recorder) = start(&[503]).await;
    let mut options = fast_options(&url, None);
    options.retry = RetryPolicy {
        initial: Duration::from_secs(60),
        max: Duration::from_secs(60),
        max_retry_after: Duration::from_secs(60),
    };
    let shipper = Shipper::new(&options).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let queue = Spool::open(dir.path(), 1 << 20).unwrap();
    enqueue(&queue, &batch(1)).unwrap();
    let shipping = shipper.run(&queue);
    tokio::pin!(shipping);
    // Let the first attempt fail, then close the queue as the shutdown sequence does.
    tokio::time::timeout(DEADLINE, async {
        loop {
            tokio::select! {
                () = &mut shipping => panic!("shipper returned before the queue was closed"),
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
            if !recorder.requests.lock().unwrap().is_empty() {
                break;
            }
        }
    })
    .await
    .expect("first attempt within the deadline");
    queue.close();
    tokio::time::timeout(Duration::from_secs(5), &mut shipping)
        .await
        .expect("closing the queue ended the 60 s backoff");
    assert_eq!(seqs(&recorder), vec![(1, 503), (1, 200)]);
}
