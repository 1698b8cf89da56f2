//! `cargo bench -p vigil-collector --bench engine`: the incident engine alone (no HTTP, no
//! SQLite) — nanoseconds per new incident and per folded duplicate, and the cost of saving one
//! incident as JSON. Separates the engine's share from the end-to-end figures of
//! `vigil-bench-incidents`.

use std::time::Instant;
use vigil_collector::incidents::{Engine, EventIn, Policy};
use vigil_collector::store::Backend;
use vigil_collector::store::sqlite::SqliteBackend;
use vigil_shared::event::{Severity, Status};

fn event(check: String, host: usize) -> EventIn {
    let mut event = EventIn::new("bench", &check, Status::Firing, Severity::Major)
        .with_host(&format!("web-{}", host % 50))
        .with_service("checkout")
        .with_summary("5xx rate above 5%");
    event.labels.insert("dc".into(), "eu-1".into());
    event
}

fn main() {
    const N: usize = 100_000;
    let new_events: Vec<EventIn> = (0..N).map(|i| event(format!("new-{i}"), i)).collect();
    let dup_events: Vec<EventIn> = (0..N).map(|i| event("dup".into(), i)).collect();
    let mut engine = Engine::new(Policy::default(), Vec::new(), 0);

    let started = Instant::now();
    for (i, chunk) in new_events.chunks(100).enumerate() {
        for event in chunk {
            engine.on_event(event, 1_000 + i as i64);
        }
        engine.commit();
    }
    let new_ns = started.elapsed().as_nanos() as f64 / N as f64;

    let started = Instant::now();
    for (i, chunk) in dup_events.chunks(100).enumerate() {
        for event in chunk {
            engine.on_event(event, 2_000 + i as i64);
        }
        engine.commit();
    }
    let dup_ns = started.elapsed().as_nanos() as f64 / N as f64;

    let incidents: Vec<_> = engine.incidents().take(10_000).cloned().collect();
    let started = Instant::now();
    let mut bytes = 0;
    for incident in &incidents {
        bytes += serde_json::to_string(incident).map_or(0, |json| json.len());
    }
    let json_ns = started.elapsed().as_nanos() as f64 / incidents.len() as f64;

    let started = Instant::now();
    for event in new_events.iter().take(N) {
        std::hint::black_box(vigil_collector::incidents::fingerprint::fingerprint(event));
    }
    let fingerprint_ns = started.elapsed().as_nanos() as f64 / N as f64;

    // The store: 100 new incidents per transaction, durable (fsync per commit). CPU time of this
    // thread, not wall time, so the disk's latency does not count; WAL checkpoints run on the
    // backend's own thread and are not included.
    let dir = std::env::temp_dir().join(format!("vigil-engine-bench-{}", std::process::id()));
    let mut backend = SqliteBackend::open(&dir.join("bench.db")).expect("open store");
    // In id order, as the engine issues them (time-ordered ids append to the table).
    let mut all: Vec<_> = engine.incidents().cloned().collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let cpu_before = thread_cpu_ns();
    for chunk in all.chunks(100) {
        backend.begin().expect("begin");
        for incident in chunk {
            backend.save_incident(incident, None).expect("save");
        }
        backend.commit().expect("commit");
    }
    let save_ns = (thread_cpu_ns() - cpu_before) as f64 / all.len() as f64;
    let one = all[0].clone();
    let cpu_before = thread_cpu_ns();
    for _ in 0..1_000 {
        backend.begin().expect("begin");
        backend.save_incident(&one, None).expect("save");
        backend.commit().expect("commit");
    }
    let commit_ns = (thread_cpu_ns() - cpu_before) as f64 / 1_000.0;
    drop(backend);
    let _ = std::fs::remove_dir_all(&dir);

    println!("| engine stage | ns per event |");
    println!("|---|---|");
    println!("| new incident (fingerprint → open → priority/SLA, commit per 100) | {new_ns:.0} |");
    println!("| folded duplicate (commit per 100) | {dup_ns:.0} |");
    println!("| fingerprint alone | {fingerprint_ns:.0} |");
    println!(
        "| incident → JSON for the store ({} B average) | {json_ns:.0} |",
        bytes / incidents.len().max(1)
    );
    println!("| SQLite: insert one new incident, 100 per durable commit (CPU) | {save_ns:.0} |");
    println!("| SQLite: one durable commit updating one incident (CPU) | {commit_ns:.0} |");
}

/// CPU time of the calling thread, ns (from /proc; 0 when unavailable).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
