//! Hostile and broken ingest requests: each gets a 4xx with a JSON error, nothing is stored, and
//! the collector keeps serving.

use crate::{ZSTD_MSGPACK, batch, metric_value};
use std::io::Write;
use vigil_e2e::{Collector, encode_zstd_msgpack};
use vigil_shared::wire::codec::{Format, encode};

async fn expect_refused(
    collector: &Collector,
    what: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
    status: u16,
    message_part: &str,
) {
    let (got, _, json) = collector.post_ingest(body, headers).await;
    assert_eq!(got, status, "{what}: answered {got} {json}");
    let message = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error field in {json}"));
    assert!(
        message.contains(message_part),
        "{what}: message {message:?} lacks {message_part:?}"
    );
}

#[tokio::test]
async fn ingest_refuses_bad_input_with_4xx_and_stays_up() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let msgpack = [("content-type", "application/msgpack")];

    // Random bytes, as msgpack and as zstd.
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    expect_refused(
        &collector,
        "random msgpack",
        random.clone(),
        &msgpack,
        400,
        "malformed msgpack",
    )
    .await;
    expect_refused(
        &collector,
        "random zstd",
        random,
        ZSTD_MSGPACK,
        400,
        "not valid zstd",
    )
    .await;

    // A real batch cut short.
    let full = encode(&batch("h", 1, 1), Format::Msgpack).unwrap();
    for cut in [1, full.len() / 2, full.len() - 1] {
        expect_refused(
            &collector,
            "truncated msgpack",
            full[..cut].to_vec(),
            &msgpack,
            400,
            "malformed",
        )
        .await;
    }

    // Absurd declared lengths: an array header claiming 4 billion samples, then nothing.
    let mut absurd = vec![0x81, 0xa7];
    absurd.extend_from_slice(b"samples");
    absurd.extend_from_slice(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
    expect_refused(
        &collector,
        "absurd length",
        absurd,
        &msgpack,
        400,
        "malformed",
    )
    .await;
    let mut absurd_string = vec![0x81, 0xdb, 0xff, 0xff, 0xff, 0xf0];
    absurd_string.extend_from_slice(b"short");
    expect_refused(
        &collector,
        "absurd string length",
        absurd_string,
        &msgpack,
        400,
        "malformed",
    )
    .await;

    // Wrong or missing content type, unknown encoding.
    let good = encode_zstd_msgpack(&batch("h", 1, 1));
    expect_refused(
        &collector,
        "text/plain",
        good.clone(),
        &[("content-type", "text/plain")],
        415,
        "content type",
    )
    .await;
    expect_refused(
        &collector,
        "no content type",
        good.clone(),
        &[],
        415,
        "content type",
    )
    .await;
    expect_refused(
        &collector,
        "brotli",
        good.clone(),
        &[
            ("content-type", "application/msgpack"),
            ("content-encoding", "br"),
        ],
        415,
        "content encoding",
    )
    .await;

    // A zstd bomb: 200 MiB of zeros in a few KiB; refused at the decompressed-size cap.
    let zeros = vec![0u8; 200 * 1024 * 1024];
    let bomb = zstd::encode_all(&zeros[..], 19).unwrap();
    drop(zeros);
    assert!(bomb.len() < 100 * 1024);
    expect_refused(
        &collector,
        "zstd bomb",
        bomb,
        ZSTD_MSGPACK,
        413,
        "decompresses to more than",
    )
    .await;

    // A gzip bomb.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1024 * 1024];
    for _ in 0..100 {
        gz.write_all(&chunk).unwrap();
    }
    let gzip_bomb = gz.finish().unwrap();
    expect_refused(
        &collector,
        "gzip bomb",
        gzip_bomb,
        &[
            ("content-type", "application/msgpack"),
            ("content-encoding", "gzip"),
        ],
        413,
        "decompresses to more than",
    )
    .await;

    // A body over the size limit as sent.
    expect_refused(
        &collector,
        "huge body",
        vec![0u8; 9 * 1024 * 1024],
        &msgpack,
        413,
        "larger than",
    )
    .await;

    // Decodes but is invalid: newer protocol, empty host, reserved label, reserved name, JSON shape.
    let mut newer = batch("h", 1, 1);
    newer.version = 99;
    expect_refused(
        &collector,
        "newer version",
        encode_zstd_msgpack(&newer),
        ZSTD_MSGPACK,
        422,
        "upgrade the collector",
    )
    .await;
    let mut no_host = batch("", 1, 1);
    no_host.agent.host_id.clear();
    expect_refused(
        &collector,
        "empty host",
        encode_zstd_msgpack(&no_host),
        ZSTD_MSGPACK,
        422,
        "host_id",
    )
    .await;
    let mut reserved = batch("h", 1, 1);
    reserved.samples[0]
        .labels
        .insert("host".into(), "spoof".into());
    expect_refused(
        &collector,
        "host label",
        encode_zstd_msgpack(&reserved),
        ZSTD_MSGPACK,
        422,
        "reserved",
    )
    .await;
    let mut up = batch("h", 1, 1);
    up.samples[0].name = "up".into();
    expect_refused(
        &collector,
        "sample named up",
        encode_zstd_msgpack(&up),
        ZSTD_MSGPACK,
        422,
        "reserved",
    )
    .await;
    expect_refused(
        &collector,
        "json missing fields",
        br#"{"version":1}"#.to_vec(),
        &[("content-type", "application/json")],
        400,
        "missing field",
    )
    .await;

    // Nothing of the above was stored, and the collector still serves and accepts a good batch.
    let (status, hosts) = collector.get_json("/v1/hosts").await;
    assert_eq!(status, 200);
    assert_eq!(
        hosts,
        serde_json::json!([]),
        "a refused batch left a host behind"
    );
    let (status, _, json) = collector.post_ingest(good, ZSTD_MSGPACK).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["duplicate"], false);
    let (status, _) = collector.get_text("/healthz").await;
    assert_eq!(status, 200);
    let (_, metrics) = collector.get_text("/metrics").await;
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_batches_total"),
        Some(1.0)
    );
    assert_eq!(
        metric_value(
            &metrics,
            "vigil_ingest_rejected_total{reason=\"malformed\"}"
        ),
        Some(8.0)
    );
    assert_eq!(
        metric_value(
            &metrics,
            "vigil_ingest_rejected_total{reason=\"too_large\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        metric_value(
            &metrics,
            "vigil_ingest_rejected_total{reason=\"unsupported_media\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        metric_value(&metrics, "vigil_ingest_rejected_total{reason=\"invalid\"}"),
        Some(4.0)
    );
}

#[tokio::test]
async fn unknown_endpoints_and_methods_answer_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let (status, json) = collector.get_json("/v1/nothing").await;
    assert_eq!(status, 404);
    assert!(json["error"].as_str().unwrap().contains("/v1/nothing"));
    let (status, json) = collector.get_json("/v1/hosts/missing").await;
    assert_eq!(status, 404);
    assert!(json["error"].as_str().unwrap().contains("missing"));
    let response = vigil_e2e::client()
        .delete(format!("{}/v1/ingest", collector.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let json: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(json["error"].as_str().unwrap().contains("DELETE"));
}

#[tokio::test]
async fn a_stalled_upload_does_not_hold_up_shutdown() {
    use tokio::io::AsyncWriteExt;
    let tmp = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", collector.port()))
        .await
        .unwrap();
    stalled
        .write_all(b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\nContent-Length: 1000\r\n\r\npartial")
        .await
        .unwrap();
    stalled.flush().await.unwrap();
    // The request is being read when SIGTERM arrives: the collector waits its grace period
    // (10 s), then exits cleanly anyway.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = collector
            .process
            .terminate(std::time::Duration::from_secs(30));
        (status, collector)
    })
    .await
    .unwrap();
    let (status, collector) = status;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        collector.process.log()
    );
    assert!(collector.process.log().contains("shutdown grace period"));
    drop(stalled);
}
