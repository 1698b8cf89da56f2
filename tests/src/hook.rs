//! A notification receiver for the sink tests and benchmarks: a loopback HTTP server (axum) that
//! records every request (method, path, headers, body) with the time it arrived, and answers
//! from a script the test sets — `200` by default; a test can queue failures (`Answer::Status`,
//! `Answer::RetryAfter`, `Answer::Hang` past the sender's timeout) or drop the listener and
//! bind the same port again to refuse connections for a while.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One answer of the script.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// This status with `{}`.
    Status(u16),
    /// 429 with `Retry-After: N`.
    RetryAfter(u64),
    /// Waits this long, then answers 500 (the sender has given up by then).
    Hang(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers (names lowercase).
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// True when the receiver answered 2xx.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    received: Vec<Received>,
}

/// A running receiver.
pub struct Hook {
    /// Its address.
    pub address: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Hook {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Hook {
        Hook::start_on(0).await
    }

    /// Starts a receiver on `port` (0: any).
    pub async fn start_on(port: u16) -> Hook {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the receiver");
        let address = listener.local_addr().expect("receiver address");
        let server = tokio::spawn(serve(listener, Arc::clone(&inner)));
        Hook {
            address,
            inner,
            server: Some(server),
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Queues answers, used in order before falling back to 200.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    /// Drops the answers still queued (200 from now on).
    pub fn clear_script(&self) {
        self.inner.lock().unwrap().script.clear();
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(Received::accepted)
            .collect()
    }

    /// Stops listening (connections are refused until [`Hook::resume`]).
    pub fn pause(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn resume(&mut self) {
        if self.server.is_some() {
            return;
        }
        // The old listener may take a moment to close.
        let listener =
            crate::eventually(Duration::from_secs(10), Duration::from_millis(50), || {
                let address = self.address;
                async move {
                    tokio::net::TcpListener::bind(address)
                        .await
                        .map_err(|error| error.to_string())
                }
            })
            .await;
        self.server = Some(tokio::spawn(serve(listener, Arc::clone(&self.inner))));
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.pause();
    }
}

async fn serve(listener: tokio::net::TcpListener, inner: Arc<Mutex<Inner>>) {
    let app = axum::Router::new().fallback(record).with_state(inner);
    let _ = axum::serve(listener, app).await;
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let answer = inner
        .lock()
        .unwrap()
        .script
        .pop_front()
        .unwrap_or(Answer::Status(200));
    let status = match &answer {
        Answer::Status(status) => *status,
        Answer::RetryAfter(_) => 429,
        Answer::Hang(_) => 500,
    };
    inner.lock().unwrap().received.push(Received {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|path| path.to_string())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        status,
        at,
    });
    if let Answer::Hang(delay) = answer {
        tokio::time::sleep(delay).await;
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    match answer {
        Answer::RetryAfter(seconds) => {
            (code, [("retry-after", seconds.to_string())], "{}").into_response()
        }
        _ => (code, [("content-type", "application/json")], "{}").into_response(),
    }
}
