//! Exactly-once ingest: a resent batch is acknowledged and not counted again, across a collector
//! restart too; a new agent stream starts afresh; JSON and gzip bodies take the same path.

use crate::{ZSTD_MSGPACK, batch, metric_value};
use std::io::Write;
use std::time::Duration;
use vigil_e2e::{Collector, encode_zstd_msgpack};
use vigil_shared::wire::codec::{Format, encode};

#[tokio::test]
async fn resent_batches_count_once_even_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut collector = Collector::start(&data, &[]).await;

    let first = encode_zstd_msgpack(&batch("web-1", 7, 1));
    let (status, _, json) = collector.post_ingest(first.clone(), ZSTD_MSGPACK).await;
    assert_eq!(
        (status, json["duplicate"].as_bool()),
        (200, Some(false)),
        "{json}"
    );
    let (status, _, json) = collector.post_ingest(first.clone(), ZSTD_MSGPACK).await;
    assert_eq!(
        (status, json["duplicate"].as_bool()),
        (200, Some(true)),
        "{json}"
    );

    // seq 2 as JSON, seq 3 as gzip msgpack: same path, same rules.
    let json_body = encode(&batch("web-1", 7, 2), Format::Json).unwrap();
    let (status, _, json) = collector
        .post_ingest(json_body, &[("content-type", "application/json")])
        .await;
    assert_eq!(
        (status, json["duplicate"].as_bool()),
        (200, Some(false)),
        "{json}"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&encode(&batch("web-1", 7, 3), Format::Msgpack).unwrap())
        .unwrap();
    let (status, _, json) = collector
        .post_ingest(
            gz.finish().unwrap(),
            &[
                ("content-type", "application/msgpack"),
                ("content-encoding", "gzip"),
            ],
        )
        .await;
    assert_eq!(
        (status, json["duplicate"].as_bool()),
        (200, Some(false)),
        "{json}"
    );

    // An older seq of the same stream is a duplicate; a new stream (a wiped state dir) is not.
    let (_, _, json) = collector
        .post_ingest(encode_zstd_msgpack(&batch("web-1", 7, 2)), ZSTD_MSGPACK)
        .await;
    assert_eq!(json["duplicate"], true, "{json}");
    let (_, metrics) = collector.get_text("/metrics").await;
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_batches_total"),
        Some(3.0)
    );
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_samples_total"),
        Some(6.0)
    );
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_duplicate_batches_total"),
        Some(2.0)
    );

    // Restart in place: the accepted position was durable.
    let port = collector.port();
    let status = collector.process.terminate(Duration::from_secs(15));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "collector did not exit 0 on SIGTERM"
    );
    drop(collector);
    let collector = Collector::start_on(&data, port, &[]).await;
    let (status, host) = collector.get_json("/v1/hosts/web-1").await;
    assert_eq!(status, 200, "{host}");
    assert_eq!(host["seq"], 3);
    assert_eq!(
        host["up"], true,
        "a restart must not declare hosts down: {host}"
    );
    assert_eq!(host["labels"]["env"], "test");
    let (_, _, json) = collector.post_ingest(first, ZSTD_MSGPACK).await;
    assert_eq!(
        json["duplicate"], true,
        "seq 1 accepted again after restart: {json}"
    );
    let (_, _, json) = collector
        .post_ingest(encode_zstd_msgpack(&batch("web-1", 8, 1)), ZSTD_MSGPACK)
        .await;
    assert_eq!(
        json["duplicate"], false,
        "a new stream must start afresh: {json}"
    );
    let (_, metrics) = collector.get_text("/metrics").await;
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_batches_total"),
        Some(1.0)
    );
}

#[tokio::test]
async fn concurrent_resends_of_one_batch_are_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let body = encode_zstd_msgpack(&batch("storm", 1, 1));
    // One client for all: building 200 (TLS roots and all) in a debug build on a busy machine
    // takes longer than the request timeout.
    let client = vigil_e2e::client();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let body = body.clone();
        let url = format!("{}/v1/ingest", collector.url);
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .header("content-type", "application/msgpack")
                .header("content-encoding", "zstd")
                .body(body)
                .send()
                .await
                .expect("POST");
            assert_eq!(response.status().as_u16(), 200);
            let json: serde_json::Value =
                serde_json::from_str(&response.text().await.expect("body")).expect("json");
            json["duplicate"].as_bool().expect("duplicate field")
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        if !task.await.unwrap() {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "exactly one of 200 identical sends must be new");
    let (_, metrics) = collector.get_text("/metrics").await;
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_samples_total"),
        Some(2.0)
    );
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_duplicate_batches_total"),
        Some(199.0)
    );
}

#[tokio::test]
async fn every_2xx_survives_a_kill_9_of_the_collector() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut collector = Collector::start(&data, &[]).await;
    let n_batches = 50u64;
    let mut accepted = 0;
    for seq in 1..=n_batches {
        let (status, _, json) = collector
            .post_ingest(encode_zstd_msgpack(&batch("durable", 3, seq)), ZSTD_MSGPACK)
            .await;
        assert_eq!(status, 200, "{json}");
        accepted += 1;
    }
    let port = collector.port();
    collector.process.kill();
    drop(collector);
    let collector = Collector::start_on(&data, port, &[]).await;
    let (_, host) = collector.get_json("/v1/hosts/durable").await;
    assert_eq!(host["seq"], accepted, "{host}");
    for seq in 1..=n_batches {
        let (status, _, json) = collector
            .post_ingest(encode_zstd_msgpack(&batch("durable", 3, seq)), ZSTD_MSGPACK)
            .await;
        assert_eq!(
            (status, json["duplicate"].as_bool()),
            (200, Some(true)),
            "seq {seq}: {json}"
        );
    }
    let (_, metrics) = collector.get_text("/metrics").await;
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_batches_total"),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_forgotten_host_leaves_metrics_and_comes_back_only_when_it_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let collector = Collector::start(&data, &[]).await;
    let body = encode_zstd_msgpack(&batch("old-box", 1, 9));
    let (status, _, _) = collector.post_ingest(body.clone(), ZSTD_MSGPACK).await;
    assert_eq!(status, 200);

    let delete = |path: String| {
        let url = format!("{}{path}", collector.url);
        async move {
            let response = vigil_e2e::client()
                .delete(url)
                .send()
                .await
                .expect("DELETE");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
            )
        }
    };
    let (status, json) = delete("/v1/hosts/old-box".into()).await;
    assert_eq!(
        (status, json["deleted"].as_bool()),
        (200, Some(true)),
        "{json}"
    );
    let (status, json) = delete("/v1/hosts/old-box".into()).await;
    assert_eq!(status, 404, "{json}");
    assert!(json["error"].as_str().unwrap().contains("old-box"));
    let (status, _) = collector.get_json("/v1/hosts/old-box").await;
    assert_eq!(status, 404);
    let (_, metrics) = collector.get_text("/metrics").await;
    assert!(!metrics.contains("host=\"old-box\""), "{metrics}");

    // Forgotten in the store too: after a restart it stays gone, and its agent's next batch
    // (even an old seq) registers it afresh.
    let port = collector.port();
    drop(collector);
    let collector = Collector::start_on(&data, port, &[]).await;
    let (_, hosts) = collector.get_json("/v1/hosts").await;
    assert_eq!(hosts, serde_json::json!([]));
    let (_, _, json) = collector.post_ingest(body, ZSTD_MSGPACK).await;
    assert_eq!(json["duplicate"], false, "{json}");
    let (status, _) = collector.get_json("/v1/hosts/old-box").await;
    assert_eq!(status, 200);
}
