//! `cargo bench -p vigil-collector --bench sinks`: each vendor sink's `deliver()` against a
//! loopback stand-in for that vendor's API (one axum server on 127.0.0.1:0 that keeps
//! ServiceNow records and Jira issues so lookups find what was created): the requests each step
//! costs and the latency of one delivery (p50, p99) for open → acknowledge → resolve of N
//! incidents, one delivery at a time. What the sinks themselves add to a notification's way
//! out, without the outbox and without the network to the vendor.

use axum::body::Bytes;
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_collector::incidents::{EventIn, Incident};
use vigil_collector::notify::sinks::{Delivery, Sink, SinkKind, SinkOptions, deliver};
use vigil_collector::notify::{Message, Step};
use vigil_shared::event::{Severity, Status};
use vigil_shared::secret::Secret;

#[derive(Default)]
struct Vendor {
    requests: AtomicU64,
    /// ServiceNow: correlation id → sys_id; Jira: label → issue key.
    records: Mutex<HashMap<String, String>>,
}

fn query_value(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| decode(value))
    })
}

/// `application/x-www-form-urlencoded` decoding (`+` and `%XX`).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 2;
            }
            (byte, _) => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn answer(
    vendor: Arc<Vendor>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> axum::response::Response {
    vendor.requests.fetch_add(1, Ordering::Relaxed);
    let path = uri.path();
    let json = |status: u16, value: serde_json::Value| {
        let mut response = value.to_string().into_response();
        *response.status_mut() = axum::http::Response::builder()
            .status(status)
            .body(())
            .unwrap()
            .status();
        response
    };
    let mut records = vendor.records.lock().unwrap();
    match (method.as_str(), path) {
        ("GET", "/api/now/table/incident") => {
            let query = query_value(&uri, "sysparm_query").unwrap_or_default();
            let id = query.strip_prefix("correlation_id=").unwrap_or("");
            match records.get(id) {
                Some(sys_id) => json(200, serde_json::json!({"result": [{"sys_id": sys_id}]})),
                None => json(200, serde_json::json!({"result": []})),
            }
        }
        ("POST", "/api/now/table/incident") => {
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let id = value["correlation_id"].as_str().unwrap_or("").to_owned();
            let sys_id = format!("{:032x}", records.len() + 1);
            records.insert(id, sys_id.clone());
            json(201, serde_json::json!({"result": {"sys_id": sys_id}}))
        }
        ("GET", "/rest/api/2/search") => {
            let jql = query_value(&uri, "jql").unwrap_or_default();
            let label = jql.split('"').nth(1).unwrap_or("").to_owned();
            match records.get(&label) {
                Some(key) => json(
                    200,
                    serde_json::json!({"issues": [{"key": key, "fields": {"status": {"statusCategory": {"key": "new"}}}}]}),
                ),
                None => json(200, serde_json::json!({"issues": []})),
            }
        }
        ("POST", "/rest/api/2/issue") => {
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let label = value["fields"]["labels"][1]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let key = format!("OPS-{}", records.len() + 1);
            records.insert(label, key.clone());
            json(201, serde_json::json!({"key": key}))
        }
        ("GET", _) if path.ends_with("/transitions") => json(
            200,
            serde_json::json!({"transitions": [{"id": "21", "name": "In Progress"}, {"id": "31", "name": "Done"}]}),
        ),
        ("POST", _) if path.ends_with("/transitions") => json(204, serde_json::Value::Null),
        ("POST", _) if path.ends_with("/comment") => json(201, serde_json::json!({"id": "1"})),
        ("PATCH", _) => json(200, serde_json::json!({"result": {}})),
        ("POST", "/v2/enqueue") => json(
            202,
            serde_json::json!({"status": "success", "message": "Event processed"}),
        ),
        ("POST", _) if path.starts_with("/v2/alerts") => json(
            202,
            serde_json::json!({"result": "Request will be processed"}),
        ),
        ("POST", _) if path.starts_with("/services/") => "ok".into_response(),
        ("POST", "/hook") => json(200, serde_json::json!({})),
        _ => json(404, serde_json::json!({"error": "no such path"})),
    }
}

fn incident(n: usize) -> Incident {
    let event = EventIn::new("bench", "http_5xx", Status::Firing, Severity::Major)
        .with_host(&format!("web-{}", n % 50))
        .with_service("checkout")
        .with_summary("5xx rate above 5%");
    let mut incident = vigil_collector::incidents::lifecycle::new_incident(
        format!("{:016x}", 0x1000 + n),
        format!("fp-{n}"),
        &event,
        1_700_000_000_000,
    );
    incident.priority = 2;
    incident.hosts = vec![incident.host.clone().unwrap_or_default()];
    incident
}

fn sink(kind: SinkKind, base: &str) -> Sink {
    let (url, secret) = match kind {
        SinkKind::Webhook => (format!("{base}/hook"), "signing-key".to_owned()),
        SinkKind::PagerDuty => (format!("{base}/v2/enqueue"), "routing-key".to_owned()),
        SinkKind::Slack => (base.to_owned(), format!("{base}/services/T0/B0/X")),
        _ => (base.to_owned(), "key".to_owned()),
    };
    Sink {
        name: kind.as_str().to_owned(),
        kind,
        url,
        secret: Some(Secret::new(secret)),
        steps: Step::ALL.to_vec(),
        delivery: Delivery::default(),
        options: SinkOptions {
            user: Some("vigil".into()),
            project: Some("OPS".into()),
            acknowledge_transition: Some("In Progress".into()),
            ..SinkOptions::default()
        },
        callback_secret: None,
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

fn main() {
    let n: usize = std::env::var("VIGIL_BENCH_INCIDENTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let vendor = Arc::new(Vendor::default());
        let state = Arc::clone(&vendor);
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            answer(Arc::clone(&state), method, uri, body)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let client = reqwest::Client::builder().build().unwrap();
        let incidents: Vec<Incident> = (0..n).map(incident).collect();
        println!(
            "{n} incidents × (open, acknowledge, resolve), one delivery at a time, loopback\n"
        );
        println!("| sink | requests: open / ack / resolve | p50 µs | p90 µs | p99 µs | p99 µs: open / ack / resolve | deliveries/s |");
        println!("|---|---|---|---|---|---|---|");
        for kind in SinkKind::ALL {
            let sink = sink(kind, &base);
            let mut latencies = Vec::with_capacity(n * 3);
            let mut by_step: [Vec<Duration>; 3] = Default::default();
            let mut requests = [0u64; 3];
            let started = Instant::now();
            for incident in &incidents {
                for (step_idx, step) in [Step::Open, Step::Acknowledge, Step::Resolve]
                    .into_iter()
                    .enumerate()
                {
                    let message = Message {
                        step,
                        incident,
                        idempotency_key: "bench",
                        at_ms: 1_700_000_000_000,
                        level: 0,
                        link: Some("https://vigil.example/v1/incidents/x"),
                    };
                    let before = vendor.requests.load(Ordering::Relaxed);
                    let sent = Instant::now();
                    deliver(&client, &sink, &message).await.unwrap();
                    latencies.push(sent.elapsed());
                    by_step[step_idx].push(sent.elapsed());
                    requests[step_idx] += vendor.requests.load(Ordering::Relaxed) - before;
                }
            }
            let elapsed = started.elapsed().as_secs_f64();
            latencies.sort();
            for step in &mut by_step {
                step.sort();
            }
            let per = |count: u64| count as f64 / n as f64;
            println!(
                "| {} | {:.0} / {:.0} / {:.0} | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} / {:.0} | {:.0} |",
                kind.as_str(),
                per(requests[0]),
                per(requests[1]),
                per(requests[2]),
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.90),
                percentile(&latencies, 0.99),
                percentile(&by_step[0], 0.99),
                percentile(&by_step[1], 0.99),
                percentile(&by_step[2], 0.99),
                latencies.len() as f64 / elapsed
            );
        }
    });
}
