//! Bearer tokens: a real agent with an agent token reports; readers need a read token; an agent
//! token cannot report for hosts outside its pattern; a wrong token is refused and counted; only
//! admin may forget a host; the health endpoints stay open.

use crate::{ZSTD_MSGPACK, batch, metric_value};
use std::time::Duration;
use vigil_e2e::{Agent, Collector, client, encode_zstd_msgpack, eventually};

const AGENT_TOKEN: &str = "agent-token-7f3a";
const READ_TOKEN: &str = "secret"; // its SHA-256 is in the config below
const ADMIN_TOKEN: &str = "admin-token-91c2";

async fn request(
    collector: &Collector,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = client().request(method, format!("{}{path}", collector.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn tokens_guard_ingest_reads_and_admin_actions() {
    let tmp = tempfile::tempdir().unwrap();
    let admin_file = tmp.path().join("admin.token");
    std::fs::write(&admin_file, format!("{ADMIN_TOKEN}\n")).unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[token]]
name = "eu-agents"
role = "agent"
secret_env = "E2E_AGENT_TOKEN"
hosts = "eu-.*"

[[token]]
name = "grafana"
role = "read"
sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"

[[token]]
name = "root"
role = "admin"
secret_file = "{}"
"#,
            admin_file.display()
        ),
    )
    .unwrap();
    let collector = Collector::start_with_env(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
        &[("E2E_AGENT_TOKEN", AGENT_TOKEN)],
    )
    .await;

    // Open: health. Closed without a token: everything else, with a Bearer challenge.
    assert_eq!(
        request(&collector, reqwest::Method::GET, "/healthz", None)
            .await
            .0,
        200
    );
    let (status, headers, body) =
        request(&collector, reqwest::Method::GET, "/v1/hosts", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        headers.get("www-authenticate").map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    assert!(body.contains("missing bearer token"), "{body}");
    let (status, _, body) =
        request(&collector, reqwest::Method::GET, "/metrics", Some("nope")).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = request(
        &collector,
        reqwest::Method::GET,
        "/v1/hosts",
        Some(AGENT_TOKEN),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("eu-agents"), "{body}");

    // A real agent with the agent token reports; one with a wrong token does not.
    let _agent = Agent::start(
        &tmp.path().join("agent"),
        &collector.url,
        "eu-web-1",
        "1s",
        &["--token", AGENT_TOKEN],
    );
    let _intruder = Agent::start(
        &tmp.path().join("intruder"),
        &collector.url,
        "eu-web-2",
        "1s",
        &["--token", "wrong"],
    );
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let (status, _, body) = request(
                &collector,
                reqwest::Method::GET,
                "/v1/hosts/eu-web-1",
                Some(READ_TOKEN),
            )
            .await;
            if status == 200 {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            }
        },
    )
    .await;
    let metrics = eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let (_, _, text) = request(
                &collector,
                reqwest::Method::GET,
                "/metrics",
                Some(READ_TOKEN),
            )
            .await;
            match metric_value(
                &text,
                "vigil_ingest_rejected_total{reason=\"unauthorized\"}",
            ) {
                Some(n) if n >= 1.0 => Ok(text),
                other => Err(format!("unauthorized rejections: {other:?}")),
            }
        },
    )
    .await;
    assert!(
        !metrics.contains("host=\"eu-web-2\""),
        "the wrong token got through"
    );

    // The agent token may not report for a host outside its pattern.
    let response = client()
        .post(format!("{}/v1/ingest", collector.url))
        .bearer_auth(AGENT_TOKEN)
        .header("content-type", ZSTD_MSGPACK[0].1)
        .header("content-encoding", ZSTD_MSGPACK[1].1)
        .body(encode_zstd_msgpack(&batch("us-web-1", 1, 1)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("may not report as host \\\"us-web-1\\\""),
        "{body}"
    );

    // Only admin may forget a host.
    let (status, _, body) = request(
        &collector,
        reqwest::Method::DELETE,
        "/v1/hosts/eu-web-1",
        Some(READ_TOKEN),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = request(
        &collector,
        reqwest::Method::DELETE,
        "/v1/hosts/eu-web-1",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn incident_actions_need_operate_and_record_the_token_used() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        r#"
[[token]]
name = "grafana"
role = "read"
sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"

[[token]]
name = "oncall"
role = "operate"
secret_env = "E2E_OPERATE_TOKEN"
"#,
    )
    .unwrap();
    let collector = Collector::start_with_env(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
        &[("E2E_OPERATE_TOKEN", "operate-token-5d1e")],
    )
    .await;
    let event = serde_json::json!({"source": "t", "host": "h", "check": "c",
                                   "status": "firing", "severity": "major"});
    let post = |path: &str, token: &str, body: serde_json::Value| {
        client()
            .post(format!("{}{path}", collector.url))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let refused = post("/v1/events", READ_TOKEN, event.clone()).await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let opened: serde_json::Value = post("/v1/events", "operate-token-5d1e", event)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = opened["incident_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/incidents/{id}/ack");
    let refused = post(&path, READ_TOKEN, serde_json::json!({"by": "mallory"}))
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403, "read may not act");
    let acked: serde_json::Value = post(
        &path,
        "operate-token-5d1e",
        serde_json::json!({"by": "alice"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(acked["acknowledged_by"], "alice (token oncall)");
    let (status, _, body) = request(
        &collector,
        reqwest::Method::GET,
        &format!("/v1/incidents/{id}"),
        Some(READ_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = request(&collector, reqwest::Method::GET, "/v1/incidents", None).await;
    assert_eq!(status, 401);
}
