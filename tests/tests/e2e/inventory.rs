//! The collector side of the agent's inventory and probes: an inventory that changes is recorded
//! as a change of kind `inventory` (configuration drift), once per accepted batch; probe samples
//! are exported as `vigil_probe_*{host, probe}`.

use crate::{ZSTD_MSGPACK, batch, metric_value};
use vigil_e2e::{Collector, encode_zstd_msgpack};
use vigil_shared::labels::Labels;
use vigil_shared::wire::{Inventory, Sample};

#[tokio::test]
async fn inventory_drift_is_a_change_record_and_probes_are_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("data"), &[]).await;
    let inventory = |kernel: &str| Inventory {
        os: "Debian GNU/Linux".into(),
        kernel: kernel.into(),
        arch: "x86_64".into(),
        cpu_cores: 2,
        memory_bytes: 8 << 30,
        ..Inventory::default()
    };
    let mut first = batch("inv-1", 1, 1);
    first.inventory = Some(inventory("6.1.0"));
    let mut second = batch("inv-1", 1, 2);
    second.inventory = Some(inventory("6.1.0"));
    let mut third = batch("inv-1", 1, 3);
    third.inventory = Some(inventory("6.12.0"));
    third.samples.push(Sample {
        name: "probe_up".into(),
        labels: Labels::from([
            ("probe".into(), "web".into()),
            ("kind".into(), "http".into()),
        ]),
        value: 1.0,
        time_ms: None,
    });
    third.samples.push(Sample {
        name: "probe_latency_seconds".into(),
        labels: Labels::from([("probe".into(), "web".into())]),
        value: 0.004,
        time_ms: None,
    });
    for batch in [&first, &second, &third, &third] {
        let (status, _, json) = collector
            .post_ingest(encode_zstd_msgpack(batch), ZSTD_MSGPACK)
            .await;
        assert_eq!(status, 200, "{json}");
    }
    let (status, changes) = collector.get_json("/v1/changes?host=inv-1").await;
    assert_eq!(status, 200, "{changes}");
    let changes = changes.as_array().unwrap();
    assert_eq!(
        changes.len(),
        1,
        "first sight and an unchanged resend are no change: {changes:?}"
    );
    let change = &changes[0];
    assert_eq!(change["kind"], "inventory");
    assert_eq!(change["by"], "vigil");
    assert_eq!(change["hosts"][0], "inv-1");
    assert_eq!(change["details"]["kernel"]["before"], "6.1.0");
    assert_eq!(change["details"]["kernel"]["after"], "6.12.0");
    assert!(
        change["summary"].as_str().unwrap().contains("kernel"),
        "{change}"
    );
    let (_, host) = collector.get_json("/v1/hosts/inv-1").await;
    assert_eq!(host["inventory"]["kernel"], "6.12.0");
    let (status, json) = collector.get_json("/v1/changes?kind=bogus").await;
    assert_eq!(status, 400, "{json}");

    let (_, exposition) = collector.get_text("/metrics").await;
    assert_eq!(
        metric_value(
            &exposition,
            r#"vigil_probe_up{host="inv-1",kind="http",probe="web"}"#
        ),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(
        metric_value(
            &exposition,
            r#"vigil_probe_latency_seconds{host="inv-1",probe="web"}"#
        ),
        Some(0.004)
    );
    assert!(!exposition.contains("vigil_host_probe_"), "{exposition}");
}
