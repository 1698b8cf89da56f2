//! Properties of the wire codec: encode → decode is the identity in both formats, a batch from a
//! newer agent with unknown fields still decodes, and no bytes make the decoder panic.

use proptest::prelude::*;
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;
use vigil_shared::wire::Limits;
use vigil_shared::wire::codec::{Format, decode, decode_view, encode};
use vigil_shared::wire::{AgentInfo, Batch, Event, Inventory, PROTOCOL_VERSION, Sample};

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map("[a-z_][a-z0-9_]{0,8}", ".{0,12}", 0..4)
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        "[a-z_][a-z0-9_]{0,20}",
        labels(),
        -1e12f64..1e12,
        prop::option::of(0i64..4_000_000_000_000),
    )
        .prop_map(|(name, labels, value, time_ms)| Sample {
            name,
            labels,
            value,
            time_ms,
        })
}

fn event() -> impl Strategy<Value = Event> {
    (
        "[a-z:_]{1,12}",
        prop_oneof![Just(Status::Firing), Just(Status::Resolved)],
        prop_oneof![
            Just(Severity::Critical),
            Just(Severity::Major),
            Just(Severity::Minor),
            Just(Severity::Warning),
            Just(Severity::Info)
        ],
        ".{0,30}",
        prop::option::of("[a-z]{1,8}"),
        labels(),
        any::<i64>(),
        prop::option::of(".{1,10}"),
    )
        .prop_map(
            |(check, status, severity, summary, service, labels, time_ms, dedup_key)| Event {
                check,
                status,
                severity,
                summary,
                service,
                labels,
                time_ms,
                dedup_key,
            },
        )
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        ".{1,20}",
        labels(),
        any::<u64>(),
        1u64..u64::MAX,
        any::<i64>(),
        prop::collection::vec(sample(), 0..20),
        prop::collection::vec(event(), 0..4),
        prop::option::of(("[a-z ]{0,10}", 0u32..512, any::<u64>())),
    )
        .prop_map(
            |(host_id, labels, stream, seq, time_ms, samples, events, inventory)| Batch {
                version: PROTOCOL_VERSION,
                agent: AgentInfo {
                    hostname: host_id.clone(),
                    host_id,
                    version: "0.1.0".into(),
                    labels,
                },
                stream,
                seq,
                time_ms,
                samples,
                events,
                inventory: inventory.map(|(os, cpu_cores, memory_bytes)| Inventory {
                    os,
                    cpu_cores,
                    memory_bytes,
                    ..Inventory::default()
                }),
            },
        )
}

proptest! {
    #[test]
    fn msgpack_roundtrip_is_identity(batch in batch()) {
        let bytes = encode(&batch, Format::Msgpack).unwrap();
        prop_assert_eq!(decode(&bytes, Format::Msgpack).unwrap(), batch);
    }

    #[test]
    fn json_roundtrip_is_identity(batch in batch()) {
        let bytes = encode(&batch, Format::Json).unwrap();
        prop_assert_eq!(decode(&bytes, Format::Json).unwrap(), batch);
    }

    #[test]
    fn view_decodes_the_same_batch_in_both_formats(batch in batch()) {
        for format in [Format::Msgpack, Format::Json] {
            let bytes = encode(&batch, format).unwrap();
            let mut view = decode_view(&bytes, format).unwrap();
            prop_assert_eq!(view.prepare(&Limits::default()).is_ok(), batch.validate(&Limits::default()).is_ok());
            prop_assert_eq!((view.seq, view.stream, &view.agent), (batch.seq, batch.stream, &batch.agent));
            prop_assert_eq!(view.samples.len(), batch.samples.len());
            for (seen, sent) in view.samples.iter().zip(&batch.samples) {
                prop_assert_eq!(seen.name.as_ref(), sent.name.as_str());
                prop_assert_eq!(seen.value, sent.value);
                prop_assert_eq!(seen.time_ms, sent.time_ms);
                let labels: Vec<(&str, &str)> = sent.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                prop_assert_eq!(seen.labels.iter().collect::<Vec<_>>(), labels);
            }
            prop_assert_eq!(&view.events, &batch.events);
            prop_assert_eq!(&view.inventory, &batch.inventory);
        }
    }

    #[test]
    fn decode_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes, Format::Msgpack);
        let _ = decode(&bytes, Format::Json);
        if let Ok(mut view) = decode_view(&bytes, Format::Msgpack) {
            let _ = view.prepare(&Limits::default());
        }
        let _ = decode_view(&bytes, Format::Json);
    }

    #[test]
    fn decode_never_panics_on_mutated_batches(
        batch in batch(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&batch, Format::Msgpack).unwrap();
        for (index, value) in flips {
            let at = index.index(bytes.len());
            bytes[at] = value;
        }
        let _ = decode(&bytes, Format::Msgpack);
        let truncated = &bytes[..cut.index(bytes.len())];
        let _ = decode(truncated, Format::Msgpack);
        let _ = decode_view(&bytes, Format::Msgpack);
        let _ = decode_view(truncated, Format::Msgpack);
    }
}

#[derive(serde::Serialize)]
struct FutureBatch {
    version: u32,
    agent: AgentInfo,
    stream: u64,
    seq: u64,
    time_ms: i64,
    samples: Vec<Sample>,
    a_field_from_the_future: Vec<String>,
}

#[test]
fn decode_ignores_unknown_fields_from_newer_agents() {
    let future = FutureBatch {
        version: PROTOCOL_VERSION,
        agent: AgentInfo {
            host_id: "h".into(),
            hostname: String::new(),
            version: String::new(),
            labels: Labels::new(),
        },
        stream: 1,
        seq: 3,
        time_ms: 5,
        samples: vec![],
        a_field_from_the_future: vec!["x".into()],
    };
    let bytes = rmp_serde::to_vec_named(&future).unwrap();
    let batch = decode(&bytes, Format::Msgpack).unwrap();
    assert_eq!(batch.seq, 3);
    let json = serde_json::to_vec(&future).unwrap();
    assert_eq!(decode(&json, Format::Json).unwrap().stream, 1);
}

#[test]
fn decode_refuses_absurd_declared_lengths_without_allocating_them() {
    // A map header followed by an array header that claims 2^32-1 entries and then ends.
    let mut bytes = vec![0x81, 0xa7];
    bytes.extend_from_slice(b"samples");
    bytes.extend_from_slice(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
    assert!(decode(&bytes, Format::Msgpack).is_err());
}

#[test]
fn prepare_sorts_unsorted_json_labels_and_refuses_duplicates() {
    let json = br#"{"version":1,"agent":{"host_id":"h"},"stream":1,"seq":1,"time_ms":0,
        "samples":[{"name":"x","labels":{"zone":"b","app":"a\u00e9"},"value":1}]}"#;
    let mut view = decode_view(json, Format::Json).unwrap();
    view.prepare(&Limits::default()).unwrap();
    let labels: Vec<(&str, &str)> = view.samples[0].labels.iter().collect();
    assert_eq!(labels, vec![("app", "a\u{e9}"), ("zone", "b")]);
    let duplicate = br#"{"version":1,"agent":{"host_id":"h"},"stream":1,"seq":1,"time_ms":0,
        "samples":[{"name":"x","labels":{"b":"1","a":"2","b":"3"},"value":1}]}"#;
    let mut view = decode_view(duplicate, Format::Json).unwrap();
    let error = view.prepare(&Limits::default()).unwrap_err();
    assert!(error.to_string().contains("label name twice"), "{error}");
}
