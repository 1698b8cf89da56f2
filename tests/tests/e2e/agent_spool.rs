//! Store-and-forward end to end: the real collector stopped for 30 s while the agent runs at 1 s
//! (every seq accepted exactly once, in order); `kill -9` of the agent while it spools and a
//! restart (nothing lost beyond the batch being written, order kept); the spool cap with its
//! `data_loss` event. The last two use the test receiver, which records every seq it accepts.

use std::time::Duration;

use vigil_e2e::{Agent, Collector, eventually};

use crate::{metric_value, receiver};

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

/// The seqs the agent logged as spooled (`batch spooled seq=N`, debug level).
fn spooled_seqs(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|line| line.contains("batch spooled"))
        .filter_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("seq="))
                .and_then(|value| value.parse().ok())
        })
        .collect()
}

fn strictly_increasing(seqs: &[u64]) -> bool {
    seqs.windows(2).all(|pair| pair[0] < pair[1])
}

#[tokio::test]
async fn agent_spool_delivers_every_seq_once_after_the_collector_is_down_30s() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut first = Collector::start(&data, &[]).await;
    let port = first.port();
    let url = first.url.clone();
    let agent = Agent::start(
        &tmp.path().join("agent-state"),
        &url,
        "outage-host",
        "1s",
        &[],
    );
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let (_, host) = first.get_json("/v1/hosts/outage-host").await;
            match host["seq"].as_u64() {
                Some(seq) if seq >= 3 => Ok(()),
                _ => Err(host.to_string()),
            }
        },
    )
    .await;

    let status = first.process.terminate(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    let accepted_before = batches_at_shutdown(&first.process.log());
    drop(first);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let second = Collector::start_on(&data, port, &[]).await;

    // Every seq from 1 to the latest was accepted exactly once across the two lifetimes: the
    // collector refuses a seq at or below the highest it accepted, so anything resent or out of
    // order would leave the count short of the seq.
    let (seq, accepted_after) = eventually(
        Duration::from_secs(90),
        Duration::from_millis(300),
        || async {
            let (_, host) = second.get_json("/v1/hosts/outage-host").await;
            let (_, text) = second.get_text("/metrics").await;
            let spooled = metric_value(
                &text,
                "vigil_host_agent_spool_batches{host=\"outage-host\"}",
            );
            let batches = metric_value(&text, "vigil_ingest_batches_total").unwrap_or(0.0) as u64;
            match (host["seq"].as_u64(), spooled) {
                (Some(seq), Some(spooled))
                    if spooled == 0.0
                        && seq >= accepted_before + 30
                        && batches + accepted_before == seq =>
                {
                    Ok((seq, batches))
                }
                _ => Err(format!(
                    "seq {} spooled {spooled:?} accepted {accepted_before}+{batches}",
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
            "vigil_host_agent_spool_dropped_batches_total{host=\"outage-host\"}"
        ),
        Some(0.0)
    );
    let log = agent.process.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn agent_spool_survives_kill_9_and_resends_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (url, shared) = receiver::start();
    shared.answer(503);
    let debug = [("RUST_LOG", "vigil_agent=debug")];
    let mut agent = Agent::start_with_env(&state, &url, "crash-host", "250ms", &[], &debug);
    let spooled = eventually(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let seqs = spooled_seqs(&agent.process.log());
            if seqs.len() >= 8 {
                Ok(seqs)
            } else {
                Err(format!("spooled {seqs:?}"))
            }
        },
    )
    .await;
    assert!(shared.accepted_seqs().is_empty());
    agent.process.signal(libc::SIGKILL);
    assert!(agent.process.wait(Duration::from_secs(10)).is_some());
    // Whatever was logged as spooled before the kill (the log line comes after the write).
    let spooled = spooled_seqs(&agent.process.log())
        .into_iter()
        .max()
        .unwrap_or(spooled.len() as u64);
    drop(agent);

    shared.answer(200);
    let agent = Agent::start_with_env(&state, &url, "crash-host", "250ms", &[], &debug);
    let accepted = eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let seqs = shared.accepted_seqs();
            // Two batches of the new run arrived: the old spool went first.
            if seqs.iter().filter(|seq| **seq > spooled + 1).count() >= 2 {
                Ok(seqs)
            } else {
                Err(format!("accepted {seqs:?}, spooled up to {spooled}"))
            }
        },
    )
    .await;
    assert!(strictly_increasing(&accepted), "{accepted:?}");
    for seq in 1..=spooled {
        assert!(accepted.contains(&seq), "seq {seq} lost: {accepted:?}");
    }
    let stream = shared.accepted.lock().unwrap()[0].stream;
    assert!(
        shared
            .accepted
            .lock()
            .unwrap()
            .iter()
            .all(|batch| batch.stream == stream),
        "one stream across the crash"
    );
    let log = agent.process.log();
    assert!(log.contains("spool holds unsent batches"), "{log}");
}

#[tokio::test]
async fn agent_spool_cap_drops_the_oldest_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, shared) = receiver::start();
    shared.answer(503);
    let agent = Agent::start(
        &tmp.path().join("state"),
        &url,
        "cap-host",
        "250ms",
        &["--spool-max-bytes", "16384"],
    );
    eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            let log = agent.process.log();
            if log.contains("spool full") {
                Ok(())
            } else {
                Err(format!(
                    "attempts so far: {}",
                    shared.attempts.lock().unwrap().len()
                ))
            }
        },
    )
    .await;
    shared.answer(200);
    let summary = eventually(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            shared
                .events()
                .into_iter()
                .find(|(check, status, _)| check == "data_loss" && status == "firing")
                .map(|(_, _, summary)| summary)
                .ok_or_else(|| format!("accepted {:?}", shared.accepted_seqs()))
        },
    )
    .await;
    assert!(summary.contains("unsent batches"), "{summary}");
    // Every seq up to the newest accepted one either arrived or was reported dropped.
    eventually(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let accepted = shared.accepted_seqs();
            let dropped: u64 = shared
                .accepted
                .lock()
                .unwrap()
                .iter()
                .flat_map(|batch| batch.events.iter())
                .filter(|event| event.check == "data_loss")
                .map(|event| event.labels["batches"].parse::<u64>().unwrap_or(0))
                .sum();
            let newest = accepted.last().copied().unwrap_or(0);
            if accepted.len() as u64 + dropped >= newest && dropped > 0 {
                Ok(())
            } else {
                Err(format!("accepted {accepted:?} dropped {dropped}"))
            }
        },
    )
    .await;
    let accepted = shared.accepted_seqs();
    assert!(strictly_increasing(&accepted), "{accepted:?}");
    assert!(shared.latest("agent_spool_dropped_batches_total", None) > Some(0.0));
}
