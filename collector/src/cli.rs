//! `vigil-collector incidents list|show|ack|resolve|close|note --url …`: the incident API from a
//! shell. A thin HTTP client: every rule lives in the collector it talks to.

use std::fmt::Write as _;
use std::time::Duration;

/// Connection flags shared by the subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The collector's base URL.
    #[arg(
        long,
        env = "VIGIL_URL",
        default_value = "http://127.0.0.1:9470",
        global = true
    )]
    pub url: String,
    /// Bearer token (when the collector has `[[token]]`s).
    #[arg(long, env = "VIGIL_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the collector's JSON instead of a table or a line.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `incidents` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum IncidentsCommand {
    /// Incidents, newest first.
    List {
        /// Comma-separated states: open, acknowledged, resolved, closed.
        #[arg(long)]
        state: Option<String>,
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
        /// Comma-separated priorities 1–5.
        #[arg(long)]
        priority: Option<String>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One incident with its timeline.
    Show {
        /// Incident id.
        id: String,
    },
    /// Acknowledge.
    Ack {
        /// Incident id.
        id: String,
        /// Who acts (default: the token's name on the collector).
        #[arg(long, env = "USER")]
        by: Option<String>,
        /// A comment.
        #[arg(long)]
        text: Option<String>,
    },
    /// Resolve.
    Resolve {
        /// Incident id.
        id: String,
        /// Who acts.
        #[arg(long, env = "USER")]
        by: Option<String>,
        /// A comment.
        #[arg(long)]
        text: Option<String>,
    },
    /// Close a resolved incident.
    Close {
        /// Incident id.
        id: String,
        /// Who acts.
        #[arg(long, env = "USER")]
        by: Option<String>,
        /// A comment.
        #[arg(long)]
        text: Option<String>,
    },
    /// Add a note.
    Note {
        /// Incident id.
        id: String,
        /// The note.
        text: String,
        /// Who writes it.
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
}

/// Why a CLI call failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The request could not be made or answered.
    #[error("cannot reach the collector at {url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The collector refused.
    #[error("the collector answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its error message.
        message: String,
    },
}

/// Runs one subcommand; returns what to print on stdout.
pub async fn run(remote: &Remote, command: &IncidentsCommand) -> Result<String, CliError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|source| CliError::Http {
            url: remote.url.clone(),
            source,
        })?;
    let base = remote.url.trim_end_matches('/');
    let (request, url) = match command {
        IncidentsCommand::List {
            state,
            host,
            priority,
            limit,
        } => {
            let url = format!("{base}/v1/incidents");
            let mut query = vec![("limit", limit.to_string())];
            for (key, value) in [("state", state), ("host", host), ("priority", priority)] {
                if let Some(value) = value {
                    query.push((key, value.clone()));
                }
            }
            (client.get(&url).query(&query), url)
        }
        IncidentsCommand::Show { id } => {
            let url = format!("{base}/v1/incidents/{id}");
            (client.get(&url), url)
        }
        IncidentsCommand::Ack { id, by, text }
        | IncidentsCommand::Resolve { id, by, text }
        | IncidentsCommand::Close { id, by, text } => {
            let action = match command {
                IncidentsCommand::Ack { .. } => "ack",
                IncidentsCommand::Resolve { .. } => "resolve",
                _ => "close",
            };
            let url = format!("{base}/v1/incidents/{id}/{action}");
            let body = serde_json::json!({ "by": by, "text": text });
            (client.post(&url).json(&body), url)
        }
        IncidentsCommand::Note { id, text, by } => {
            let url = format!("{base}/v1/incidents/{id}/notes");
            let body = serde_json::json!({ "by": by, "text": text });
            (client.post(&url).json(&body), url)
        }
    };
    let request = match &remote.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let http = |source| CliError::Http {
        url: url.clone(),
        source,
    };
    let response = request.send().await.map_err(http)?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(http)?;
    if !status.is_success() {
        return Err(CliError::Refused {
            status: status.as_u16(),
            message: body["error"].as_str().unwrap_or("no message").to_owned(),
        });
    }
    if remote.json {
        return Ok(serde_json::to_string_pretty(&body).unwrap_or_default() + "\n");
    }
    Ok(match command {
        IncidentsCommand::List { .. } => table(&body),
        IncidentsCommand::Show { .. } => detail(&body),
        _ => format!(
            "incident {} is {} (priority {}, count {})\n",
            text(&body["id"]),
            text(&body["state"]),
            text(&body["priority"]),
            text(&body["count"])
        ),
    })
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn table(body: &serde_json::Value) -> String {
    let mut out = format!(
        "{:<16}  {:<12}  {:>1}  {:>6}  {:<20}  {:<24}  {}\n",
        "ID", "STATE", "P", "COUNT", "HOST", "OPENED", "TITLE"
    );
    for incident in body.as_array().into_iter().flatten() {
        let flags = if incident["flapping"] == true {
            " [flapping]"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<16}  {:<12}  {:>1}  {:>6}  {:<20}  {:<24}  {}{flags}",
            text(&incident["id"]),
            text(&incident["state"]),
            text(&incident["priority"]),
            text(&incident["count"]),
            text(&incident["host"]),
            text(&incident["opened_at"]),
            text(&incident["title"]),
        );
    }
    out
}

fn detail(body: &serde_json::Value) -> String {
    let mut out = String::new();
    for key in [
        "id",
        "title",
        "state",
        "priority",
        "severity",
        "host",
        "service",
        "source",
        "count",
        "flapping",
        "opened_at",
        "acknowledged_by",
        "resolved_at",
        "summary",
    ] {
        let _ = writeln!(out, "{key:>16}: {}", text(&body[key]));
    }
    let _ = writeln!(
        out,
        "{:>16}: ack by {}, resolve by {}, breached {}",
        "sla",
        text(&body["sla"]["ack_due"]),
        text(&body["sla"]["resolve_due"]),
        text(&body["sla"]["breached"])
    );
    let _ = writeln!(out, "timeline:");
    for entry in body["timeline"].as_array().into_iter().flatten() {
        let mut line = format!("  {}  {}", text(&entry["at"]), text(&entry["kind"]));
        if !entry["by"].is_null() {
            let _ = write!(line, " by {}", text(&entry["by"]));
        }
        if let Some(count) = entry["count"].as_u64() {
            let _ = write!(line, " ×{count}");
        }
        if !entry["text"].is_null() {
            let _ = write!(line, ": {}", text(&entry["text"]));
        }
        let _ = writeln!(out, "{line}");
    }
    out
}
