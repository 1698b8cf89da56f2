//! Dashboards and rules that show data: a collector fed by the real agent (an http probe that
//! passes, a tcp probe that fails), with incidents opened, acknowledged, resolved and past their
//! SLA, a host gone silent and a refused batch, scraped by the real Prometheus, which also loads
//! the shipped rule files. Every panel query of `deploy/grafana/dashboards/*.json` and every rule
//! of `deploy/prometheus/*.rules.yml` (as Prometheus loaded it) must return data; a panel whose
//! description says "Empty until" must only be a query Prometheus accepts.
//!
//! [`Live`] is the same live collector for the `/metrics` checks in `prometheus.rs`.

use crate::agent_probes::http_server;
use crate::promstack::{Prometheus, workspace_root};
use crate::{ZSTD_MSGPACK, batch};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_e2e::{Agent, Collector, client, encode_zstd_msgpack, eventually, free_port};

/// The marker of a panel that is legitimately empty until something happens.
pub const EMPTY_UNTIL: &str = "Empty until";

/// A collector fed by a real agent, with probes and incidents.
pub struct Live {
    /// The collector (SLA due times of 1 s, `--host-down-after 5s`, an `[[slo]]` on `web`).
    pub collector: Collector,
    /// The agent (`live-1`, interval 1 s, probes `web` up and `db` down).
    _agent: Agent,
    _http: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

impl Live {
    /// Starts the collector and the agent and waits until both probes are exported.
    pub async fn start(dir: &Path) -> Live {
        let collector_config = dir.join("collector.toml");
        let mut sla = String::new();
        for priority in 1..=5 {
            sla.push_str(&format!(
                "[incidents.sla.p{priority}]\nack = \"1s\"\nresolve = \"2s\"\n"
            ));
        }
        // Capacity forecasts within seconds, so the capacity dashboard has data.
        sla.push_str("[capacity]\nforecast_every = \"1s\"\nmin_history = \"5s\"\n");
        // An objective on the probe that stays up: its budget and burn-rate series are there
        // from the start, and it never burns.
        sla.push_str(
            "[[slo]]\nname = \"shop-web\"\nhost = \"live-1\"\nprobe = \"web\"\ntarget = 99.5\n",
        );
        std::fs::write(&collector_config, sla).unwrap();
        let collector = Collector::start(
            &dir.join("data"),
            &[
                "--config",
                collector_config.to_str().unwrap(),
                "--host-down-after",
                "5s",
            ],
        )
        .await;
        let (http_url, http_status) = http_server();
        let agent_config = dir.join("agent.toml");
        std::fs::write(
            &agent_config,
            format!(
                r#"
[labels]
env = "test"
service = "shop"

[[probe]]
name = "web"
kind = "http"
target = "{http_url}"
interval = "500ms"
timeout = "400ms"
expect_status = 200

[[probe]]
name = "db"
kind = "tcp"
target = "127.0.0.1:{closed}"
interval = "500ms"
timeout = "400ms"
failures_before_down = 1
"#,
                closed = free_port()
            ),
        )
        .unwrap();
        let agent = Agent::start(
            &dir.join("agent-state"),
            &collector.url,
            "live-1",
            "1s",
            &["--config", agent_config.to_str().unwrap()],
        );
        let live = Live {
            collector,
            _agent: agent,
            _http: http_status,
        };
        live.wait_for_metrics(&[
            "vigil_probe_up{host=\"live-1\",kind=\"http\",probe=\"web\"} 1",
            "vigil_probe_up{host=\"live-1\",kind=\"tcp\",probe=\"db\"} 0",
            "vigil_host_cpus{host=\"live-1\"}",
            "vigil_host_cpu_usage_ratio{host=\"live-1\"}",
            "vigil_capacity_forecast{horizon=\"24h\",host=\"live-1\",resource=\"memory\"}",
            "vigil_capacity_forecast{horizon=\"6h\",host=\"live-1\",resource=\"load\"}",
        ])
        .await;
        live
    }

    /// Waits (bounded) until `/metrics` has a line starting with each of `prefixes`.
    pub async fn wait_for_metrics(&self, prefixes: &[&str]) -> String {
        eventually(
            Duration::from_secs(60),
            Duration::from_millis(250),
            || async {
                let (_, text) = self.collector.get_text("/metrics").await;
                match prefixes
                    .iter()
                    .find(|prefix| !text.lines().any(|line| line.starts_with(**prefix)))
                {
                    None => Ok(text),
                    Some(missing) => Err(format!("no {missing} in\n{text}")),
                }
            },
        )
        .await
    }

    /// Makes things happen: an incident left open (its SLA passes in 1 s), one acknowledged and
    /// resolved, a host that reports once and goes silent, a batch the collector refuses.
    pub async fn stir(&self) {
        let http = client();
        let post_event = |body: serde_json::Value| {
            let request = http
                .post(format!("{}/v1/events", self.collector.url))
                .json(&body)
                .send();
            async move {
                let response = request.await.unwrap();
                assert_eq!(response.status(), 200);
                response.json::<serde_json::Value>().await.unwrap()
            }
        };
        let event = |check: &str, status: &str| {
            serde_json::json!({"source": "e2e", "host": "live-1", "service": "shop",
                "check": check, "status": status, "severity": "critical",
                "summary": format!("{check} {status}")})
        };
        post_event(event("checkout_5xx", "firing")).await;
        let answer = post_event(event("queue_stuck", "firing")).await;
        let id = answer["incident_id"].as_str().unwrap().to_owned();
        let response = http
            .post(format!("{}/v1/incidents/{id}/ack", self.collector.url))
            .json(&serde_json::json!({"by": "e2e"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        post_event(event("queue_stuck", "resolved")).await;

        let (status, _, json) = self
            .collector
            .post_ingest(encode_zstd_msgpack(&batch("gone-1", 1, 1)), ZSTD_MSGPACK)
            .await;
        assert_eq!(status, 200, "{json}");
        let (status, _, _) = self
            .collector
            .post_ingest(b"not a batch".to_vec(), ZSTD_MSGPACK)
            .await;
        assert_eq!(status, 400);
        self.wait_for_metrics(&[
            "vigil_incident_sla_breaches_total{kind=\"ack\",priority=",
            "vigil_incident_time_to_acknowledge_seconds_count{priority=",
            "vigil_incident_time_to_resolve_seconds_count{priority=",
            "vigil_host_up{host=\"gone-1\"} 0",
        ])
        .await;
    }
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A panel query as Prometheus runs it: Grafana's variables replaced (all hosts, 1 m windows).
fn concrete(expr: &str) -> String {
    expr.replace("${host}", ".*")
        .replace("$host", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
}

/// (dashboard file, panel title, description, query) for every target of every panel.
fn panel_queries() -> Vec<(String, String, String, String)> {
    fn walk(
        panels: &serde_json::Value,
        file: &str,
        out: &mut Vec<(String, String, String, String)>,
    ) {
        for panel in panels.as_array().into_iter().flatten() {
            walk(&panel["panels"], file, out);
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((
                        file.to_owned(),
                        panel["title"].as_str().unwrap_or("?").to_owned(),
                        panel["description"].as_str().unwrap_or("").to_owned(),
                        expr.to_owned(),
                    ));
                }
            }
        }
    }
    let mut out = Vec::new();
    let dashboards = files(&workspace_root().join("deploy/grafana"), ".json");
    assert!(dashboards.len() >= 2, "dashboards: {dashboards:?}");
    for path in dashboards {
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let before = out.len();
        walk(&json["panels"], &name, &mut out);
        assert!(out.len() > before, "{name} has no panel queries");
    }
    out
}

#[test]
fn every_dashboard_panel_has_a_description_and_uses_the_datasource_variable() {
    for (file, title, description, _) in panel_queries() {
        assert!(
            !description.is_empty(),
            "{file}: panel {title:?} has no description"
        );
    }
    for path in files(&workspace_root().join("deploy/grafana"), ".json") {
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        for panel in json["panels"].as_array().unwrap() {
            assert_eq!(
                panel["datasource"]["uid"],
                "${datasource}",
                "{}: {}",
                path.display(),
                panel["title"]
            );
        }
    }
}

#[tokio::test]
async fn every_shipped_panel_and_rule_returns_data_from_a_real_agent_in_real_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let live = Live::start(tmp.path()).await;
    let rule_files = files(&workspace_root().join("deploy/prometheus"), ".rules.yml");
    assert!(!rule_files.is_empty());
    let rule_list: Vec<String> = rule_files
        .iter()
        .map(|path| format!("'{}'", path.display()))
        .collect();
    let prometheus = Prometheus::start(
        &tmp.path().join("prometheus"),
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\n\
             scrape_configs:\n  - job_name: vigil\n    honor_labels: true\n    static_configs:\n      \
             - targets: ['127.0.0.1:{}']\n",
            rule_list.join(", "),
            live.collector.port()
        ),
    )
    .await;
    // Counters must be seen at 0 before they move, or rate() and increase() have nothing to
    // compare.
    eventually(Duration::from_secs(60), Duration::from_millis(250), || async {
        match prometheus
            .query("count(vigil_incident_sla_breaches_total) and count(vigil_ingest_rejected_total)")
            .await
        {
            Ok(result) if !result.is_empty() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    live.stir().await;

    let rules = prometheus.api("/api/v1/rules").await.unwrap();
    let mut queries: Vec<(String, String, bool)> = Vec::new();
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["name"].as_str().unwrap().to_owned();
            assert_eq!(rule["health"], "ok", "rule {name}: {rule}");
            let query = rule["query"].as_str().unwrap().to_owned();
            queries.push((format!("rule {name}"), query, true));
            if rule["type"] == "recording" {
                queries.push((format!("recorded series {name}"), name.clone(), true));
            }
        }
    }
    let n_rules = queries.len();
    assert!(n_rules >= 5, "Prometheus loaded too few rules: {rules}");
    for (file, title, description, expr) in panel_queries() {
        let must_have_data = !description.contains(EMPTY_UNTIL);
        queries.push((format!("{file}: {title}"), concrete(&expr), must_have_data));
    }

    for (what, query, must_have_data) in &queries {
        let result = eventually(Duration::from_secs(60), Duration::from_millis(500), || {
            let prometheus = &prometheus;
            async move {
                match prometheus.query(query).await {
                    Ok(result) if result.is_empty() && *must_have_data => {
                        Err(format!("{what}: no data for {query}"))
                    }
                    Ok(result) => Ok(result),
                    Err(error) => Err(format!("{what}: {error}")),
                }
            }
        })
        .await;
        assert!(
            !*must_have_data || !result.is_empty(),
            "{what}: {query} returned nothing"
        );
    }
    assert!(
        queries.len() > n_rules + 20,
        "too few panel queries: {queries:?}"
    );
}
