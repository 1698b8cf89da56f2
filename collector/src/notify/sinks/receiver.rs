//! A local HTTP receiver for the sink tests: a real axum server on 127.0.0.1:0 that records
//! every request (method, path with query, headers, body) and answers what the test's responder
//! says, so each vendor's requests are checked on the wire.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Seen {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    /// `METHOD target`, for comparing sequences.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }
}

/// What the responder answers: status, extra headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

type Responder = Box<dyn Fn(&Seen, usize) -> Answer + Send + Sync>;

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    mark: Mutex<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver; `respond` gets each request and how many came before it.
    pub async fn start(respond: impl Fn(&Seen, usize) -> Answer + Send + Sync + 'static) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let responder: Arc<Responder> = Arc::new(Box::new(respond));
        let state = (Arc::clone(&seen), responder);
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (seen, responder) = state.clone();
                async move {
                    let request = Seen {
                        method: method.to_string(),
                        target: uri
                            .path_and_query()
                            .map(|target| target.as_str().to_owned())
                            .unwrap_or_default(),
                        headers,
                        body: body.to_vec(),
                    };
                    let index = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(request.clone());
                        seen.len() - 1
                    };
                    let (status, extra, body) = responder(&request, index);
                    let mut response: Response = body.into_response();
                    // The test's status as given (any u16 axum accepts).
                    *response.status_mut() = axum::http::Response::builder()
                        .status(status)
                        .body(())
                        .unwrap()
                        .status();
                    for (name, value) in extra {
                        response.headers_mut().insert(name, value.parse().unwrap());
                    }
                    response
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            seen,
            mark: Mutex::new(0),
            task,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Remembers how many requests came so far (for [`since_mark`]).
pub fn mark(receiver: &Receiver) {
    *receiver.mark.lock().unwrap() = receiver.seen.lock().unwrap().len();
}

/// The requests since the last [`mark`].
pub fn since_mark(receiver: &Receiver) -> Vec<Seen> {
    let from = *receiver.mark.lock().unwrap();
    receiver.seen.lock().unwrap()[from..].to_vec()
}

/// A client as the dispatcher builds one (rustls with the ring provider).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// A test incident: id `00000000000000a1`, fingerprint `fp/1 x`, priority 2, major, on web-1
/// and web-2, service checkout.
pub fn incident() -> crate::incidents::Incident {
    use crate::incidents::EventIn;
    use vigil_shared::event::{Severity, Status};
    let event = EventIn::new("nagios", "http_5xx", Status::Firing, Severity::Major)
        .with_host("web-1")
        .with_service("checkout")
        .with_summary("5xx rate above 5%");
    let mut incident = crate::incidents::lifecycle::new_incident(
        "00000000000000a1".into(),
        "fp/1 x".into(),
        &event,
        1_700_000_000_000,
    );
    incident.priority = 2;
    incident.count = 3;
    incident.hosts = vec!["web-1".into(), "web-2".into()];
    incident
}

/// A sink of `kind` pointed at `url` with `secret`.
pub fn sink(kind: super::SinkKind, url: &str, secret: Option<&str>) -> super::Sink {
    super::Sink {
        name: "queue".into(),
        kind,
        url: url.to_owned(),
        secret: secret.map(vigil_shared::secret::Secret::new),
        steps: crate::notify::Step::ALL.to_vec(),
        delivery: super::Delivery::default(),
        options: super::SinkOptions::default(),
        callback_secret: None,
    }
}

/// A message for `step` about `incident`.
pub fn message<'a>(
    step: crate::notify::Step,
    incident: &'a crate::incidents::Incident,
) -> crate::notify::Message<'a> {
    crate::notify::Message {
        step,
        incident,
        idempotency_key: "key-1",
        at_ms: 1_700_000_060_000,
        level: u32::from(step == crate::notify::Step::Escalate),
        link: Some("https://vigil.example/v1/incidents/00000000000000a1"),
    }
}
