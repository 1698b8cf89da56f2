//! The walking skeleton end to end: a real agent reports to a real collector; the host is listed,
//! `/metrics` shows it up with CPU, memory and filesystem series; killed, it turns down; restarted
//! on the same state dir, its sequence continues; SIGTERM flushes and exits 0.

use crate::metric_value;
use std::time::Duration;
use vigil_e2e::{Agent, Collector, eventually};

const HOST: &str = "e2e-host";

async fn host(collector: &Collector) -> Result<serde_json::Value, String> {
    let (status, json) = collector.get_json(&format!("/v1/hosts/{HOST}")).await;
    if status == 200 {
        Ok(json)
    } else {
        Err(format!("{status} {json}"))
    }
}

#[tokio::test]
async fn agent_reports_host_goes_down_when_killed_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &["--host-down-after", "3s"]).await;
    let state = tmp.path().join("agent-state");
    let mut agent = Agent::start(&state, &collector.url, HOST, "1s", &[]);

    // Listed, up, with its inventory.
    let listed = eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let json = host(&collector).await?;
            if json["up"] == true
                && json["inventory"].is_object()
                && json["n_series"].as_u64() > Some(5)
            {
                Ok(json)
            } else {
                Err(json.to_string())
            }
        },
    )
    .await;
    assert!(
        listed["inventory"]["cpu_cores"].as_u64() >= Some(1),
        "{listed}"
    );
    let (_, hosts) = collector.get_json("/v1/hosts").await;
    assert!(
        hosts
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["host_id"] == HOST),
        "{hosts}"
    );

    // /metrics: up, CPU, memory, filesystem.
    let exposition = eventually(
        Duration::from_secs(15),
        Duration::from_millis(200),
        || async {
            let (_, text) = collector.get_text("/metrics").await;
            let wanted = [
                format!("vigil_host_up{{host=\"{HOST}\"}} 1"),
                format!("vigil_host_cpu_usage_ratio{{host=\"{HOST}\"}} "),
                format!("vigil_host_memory_total_bytes{{host=\"{HOST}\"}} "),
                format!("vigil_host_memory_used_bytes{{host=\"{HOST}\"}} "),
                format!("vigil_host_filesystem_used_bytes{{host=\"{HOST}\","),
                format!("vigil_host_filesystem_size_bytes{{host=\"{HOST}\","),
                format!("vigil_host_load1{{host=\"{HOST}\"}} "),
            ];
            match wanted.iter().find(|line| !text.contains(line.as_str())) {
                None => Ok(text),
                Some(line) => Err(format!("missing {line:?} in:\n{text}")),
            }
        },
    )
    .await;
    let cpu = metric_value(
        &exposition,
        &format!("vigil_host_cpu_usage_ratio{{host=\"{HOST}\"}}"),
    )
    .expect("cpu value");
    assert!((0.0..=1.0).contains(&cpu), "cpu ratio {cpu}");
    let total = metric_value(
        &exposition,
        &format!("vigil_host_memory_total_bytes{{host=\"{HOST}\"}}"),
    )
    .expect("memory total");
    assert!(total > 64.0 * 1024.0 * 1024.0, "memory total {total}");
    let seq_before = host(&collector).await.unwrap()["seq"].as_u64().unwrap();

    // Killed: the host turns down, and its samples leave /metrics.
    agent.process.kill();
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            let json = host(&collector).await?;
            let (_, text) = collector.get_text("/metrics").await;
            let down = json["up"] == false
                && text.contains(&format!("vigil_host_up{{host=\"{HOST}\"}} 0"))
                && !text.contains(&format!("vigil_host_cpu_usage_ratio{{host=\"{HOST}\"}}"));
            if down { Ok(()) } else { Err(json.to_string()) }
        },
    )
    .await;

    // Back on the same state dir: up again, and the sequence continued.
    let mut agent = Agent::start(&state, &collector.url, HOST, "1s", &[]);
    let back = eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let json = host(&collector).await?;
            if json["up"] == true {
                Ok(json)
            } else {
                Err(json.to_string())
            }
        },
    )
    .await;
    assert!(
        back["seq"].as_u64().unwrap() > seq_before,
        "seq did not grow: {back}"
    );

    // SIGTERM: the final batch (with the agent_stop event) is delivered, exit 0.
    let (_, before) = collector.get_text("/metrics").await;
    let batches_before = metric_value(&before, "vigil_ingest_batches_total").unwrap();
    let status = agent.process.terminate(Duration::from_secs(15));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "agent exit status on SIGTERM"
    );
    let (_, after) = collector.get_text("/metrics").await;
    assert!(
        metric_value(&after, "vigil_ingest_batches_total").unwrap() > batches_before,
        "no final batch after SIGTERM"
    );
    let log = agent.process.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// Reads `batches=N` from the collector's shutdown line.
fn batches_at_shutdown(log: &str) -> u64 {
    log.lines()
        .filter(|line| line.contains("vigil-collector stopped"))
        .find_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("batches="))
                .and_then(|value| value.parse().ok())
        })
        .unwrap_or_else(|| panic!("no shutdown totals in the collector log:\n{log}"))
}

#[tokio::test]
async fn batches_sent_while_the_collector_restarts_arrive_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut first = Collector::start(&data, &[]).await;
    let port = first.port();
    let url = first.url.clone();
    let _agent = Agent::start(
        &tmp.path().join("agent-state"),
        &url,
        "restart-host",
        "1s",
        &[],
    );
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let (_, json) = first.get_json("/v1/hosts/restart-host").await;
            if json["seq"].as_u64() >= Some(3) {
                Ok(())
            } else {
                Err(json.to_string())
            }
        },
    )
    .await;

    // Down for a few ticks: the agent keeps its batches and retries.
    let status = first.process.terminate(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    let accepted_before = batches_at_shutdown(&first.process.log());
    drop(first);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let second = Collector::start_on(&data, port, &[]).await;

    // Once the agent's queue has drained, every seq from 1 to the latest was accepted exactly once
    // across the two collector lifetimes.
    let (seq, accepted_after) = eventually(
        Duration::from_secs(40),
        Duration::from_millis(300),
        || async {
            let (_, host) = second.get_json("/v1/hosts/restart-host").await;
            let (_, text) = second.get_text("/metrics").await;
            let queued = metric_value(
                &text,
                "vigil_host_agent_queue_batches{host=\"restart-host\"}",
            );
            let batches = metric_value(&text, "vigil_ingest_batches_total").unwrap_or(0.0) as u64;
            match (host["seq"].as_u64(), queued) {
                (Some(seq), Some(queued))
                    if queued == 0.0
                        && seq > accepted_before + 3
                        && batches + accepted_before == seq =>
                {
                    Ok((seq, batches))
                }
                _ => Err(format!(
                    "seq {} queued {queued:?} accepted {accepted_before}+{batches}",
                    host["seq"]
                )),
            }
        },
    )
    .await;
    assert_eq!(accepted_before + accepted_after, seq);
    let (_, text) = second.get_text("/metrics").await;
    assert_eq!(
        metric_value(
            &text,
            "vigil_host_agent_batches_dropped_total{host=\"restart-host\",reason=\"queue_full\"}"
        ),
        Some(0.0)
    );
}
