//! A tiny ingest receiver for the agent tests: a loopback HTTP/1.1 server that decodes every
//! `POST /v1/ingest` (zstd msgpack) and answers with the status the test sets (200 records the
//! batch as accepted; 503 comes with `Retry-After: 1`). It can also send a `Date` header offset
//! from the real clock. Lets a test assert exactly which seqs arrived, once and in order.

use std::sync::atomic::{AtomicI64, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_shared::wire::Batch;
use vigil_shared::wire::codec::{Format, decode};

/// What the receiver saw and how it answers.
#[derive(Default)]
pub struct Shared {
    /// Status of the next answers (0 means 200).
    pub status: AtomicU16,
    /// Offset added to the `Date` header, in seconds.
    pub date_offset_s: AtomicI64,
    /// Batches answered 200, in arrival order.
    pub accepted: Mutex<Vec<Batch>>,
    /// Seqs of every attempt, whatever the answer.
    pub attempts: Mutex<Vec<u64>>,
}

impl Shared {
    /// Seqs of the accepted batches, in arrival order.
    pub fn accepted_seqs(&self) -> Vec<u64> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|b| b.seq)
            .collect()
    }

    /// Every accepted event as `(check, status, summary)`.
    pub fn events(&self) -> Vec<(String, String, String)> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|batch| batch.events.iter())
            .map(|event| {
                (
                    event.check.clone(),
                    event.status.as_str().to_owned(),
                    event.summary.clone(),
                )
            })
            .collect()
    }

    /// The latest accepted value of a sample with `name` and a `probe` label (if given).
    pub fn latest(&self, name: &str, probe: Option<&str>) -> Option<f64> {
        let accepted = self.accepted.lock().unwrap();
        accepted.iter().rev().find_map(|batch| {
            batch.samples.iter().find_map(|sample| {
                let probe_ok = probe.is_none_or(|probe| {
                    sample.labels.get("probe").map(String::as_str) == Some(probe)
                });
                (sample.name == name && probe_ok).then_some(sample.value)
            })
        })
    }

    /// Sets the status of the next answers.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

/// Starts the receiver on 127.0.0.1:0 on its own thread and runtime (so a test that blocks its
/// own runtime, e.g. waiting for a process to exit, does not stall it); returns its base URL.
pub fn start() -> (String, Arc<Shared>) {
    let shared = Arc::new(Shared::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = shared.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, state.clone()));
            }
        });
    });
    (url, shared)
}

/// Serves one keep-alive connection.
async fn serve(mut stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    loop {
        // Headers.
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < header_end + length {
            let mut chunk = [0u8; 65536];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buffer
            .drain(..header_end + length)
            .skip(header_end)
            .collect();
        let batch = zstd::bulk::decompress(&body, 64 * 1024 * 1024)
            .ok()
            .and_then(|raw| decode(&raw, Format::Msgpack).ok());
        let status = match shared.status.load(Ordering::SeqCst) {
            0 => 200,
            status => status,
        };
        let status = if batch.is_none() { 400 } else { status };
        if let Some(batch) = batch {
            shared.attempts.lock().unwrap().push(batch.seq);
            if status == 200 {
                shared.accepted.lock().unwrap().push(batch);
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + shared.date_offset_s.load(Ordering::SeqCst);
        let reason = if status == 200 { "OK" } else { "Nope" };
        let body = if status == 200 {
            "{}".to_owned()
        } else {
            format!("{{\"error\": \"scripted {status}\"}}")
        };
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             retry-after: 1\r\ndate: {}\r\n\r\n{body}",
            body.len(),
            http_date(now)
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// An IMF-fixdate for Unix seconds.
fn http_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    // civil_from_days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} GMT",
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[test]
fn receiver_formats_http_dates() {
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}
