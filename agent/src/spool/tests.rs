//! Spool tests: order, acknowledgement across reopen, torn tails and corruption, the size cap.

use super::*;

fn body(seq: u64, len: usize) -> Vec<u8> {
    let mut body = vec![(seq % 251) as u8; len];
    body[..8].copy_from_slice(&seq.to_le_bytes());
    body
}

fn drain(spool: &Spool) -> Vec<u64> {
    let mut seqs = Vec::new();
    while let Ok(front) = spool.front() {
        assert_eq!(front.body, body(front.seq, front.body.len()));
        seqs.push(front.seq);
        spool.ack(front.seq, true);
    }
    seqs
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join(SPOOL_DIR))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn spool_returns_batches_in_seq_order_and_forgets_acked_ones() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(spool.front(), Err(false));
    for seq in 1..=5 {
        spool.append(seq, 3, 1, &body(seq, 100)).unwrap();
    }
    assert_eq!(spool.stats().batches, 5);
    // The front stays the same until it is acknowledged; a stale ack changes nothing.
    assert_eq!(spool.front().unwrap().seq, 1);
    spool.ack(2, true);
    assert_eq!(spool.front().unwrap().seq, 1);
    assert_eq!(drain(&spool), vec![1, 2, 3, 4, 5]);
    assert_eq!(spool.stats().batches, 0);
    assert_eq!(spool.stats().delivered_total, 5);
    // Appends must grow.
    assert!(matches!(
        spool.append(5, 0, 0, b"x"),
        Err(SpoolError::OutOfOrder { seq: 5, last: 5 })
    ));
    spool.close();
    assert_eq!(spool.front(), Err(true));
}

#[test]
fn spool_resends_only_unacked_batches_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 20).unwrap();
    for seq in 1..=6 {
        spool.append(seq, 1, 0, &body(seq, 64)).unwrap();
    }
    for _ in 0..2 {
        let front = spool.front().unwrap();
        spool.ack(front.seq, true);
    }
    drop(spool);
    let spool = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(spool.last_seq(), 6);
    assert_eq!(spool.stats().batches, 4);
    // New batches go after the recovered ones.
    spool.append(9, 1, 0, &body(9, 64)).unwrap();
    assert_eq!(drain(&spool), vec![3, 4, 5, 6, 9]);
    drop(spool);
    let spool = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(drain(&spool), Vec::<u64>::new());
    assert_eq!(spool.last_seq(), 9);
}

#[test]
fn spool_skips_torn_tail_and_keeps_every_intact_record() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 20).unwrap();
    for seq in 1..=4 {
        spool.append(seq, 1, 0, &body(seq, 200)).unwrap();
    }
    drop(spool);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1);
    let full = fs::read(&files[0]).unwrap();
    // Every possible cut inside the last record keeps exactly the first three.
    let record_len = record::HEADER_LEN + 200;
    for cut in [1, 10, record::HEADER_LEN, record_len - 1] {
        fs::write(&files[0], &full[..3 * record_len + cut]).unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(spool.stats().batches, 3, "cut {cut}");
        assert_eq!(
            fs::metadata(&files[0]).unwrap().len(),
            3 * record_len as u64,
            "the torn tail is truncated"
        );
        let mut seqs = Vec::new();
        let front = spool.front().unwrap();
        seqs.push(front.seq);
        assert_eq!(seqs, vec![1]);
    }
}

#[test]
fn spool_stops_at_a_flipped_byte_and_handles_empty_and_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 20).unwrap();
    for seq in 1..=3 {
        spool.append(seq, 1, 0, &body(seq, 50)).unwrap();
    }
    drop(spool);
    let files = segment_files(dir.path());
    let mut bytes = fs::read(&files[0]).unwrap();
    let second = record::HEADER_LEN + 50;
    bytes[second + record::HEADER_LEN + 7] ^= 0xff;
    fs::write(&files[0], &bytes).unwrap();
    // A zero-length segment and one of garbage are dropped without harm.
    fs::write(
        dir.path().join(SPOOL_DIR).join("00000000000000000100.seg"),
        b"",
    )
    .unwrap();
    fs::write(
        dir.path().join(SPOOL_DIR).join("00000000000000000200.seg"),
        b"\xff\xff\xff\xffgarbage that is long enough to be a header",
    )
    .unwrap();
    fs::write(dir.path().join(SPOOL_DIR).join("acked"), b"short").unwrap();
    let spool = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(drain(&spool), vec![1]);
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[test]
fn spool_cap_drops_oldest_segments_and_reports_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    // 32 KiB cap → 4 KiB segments; 1,000-byte bodies → 4 records per segment.
    let cap = 32 * 1024;
    let spool = Spool::open(dir.path(), cap).unwrap();
    for seq in 1..=100 {
        spool.append(seq, 10, 2, &body(seq, 1_000)).unwrap();
        assert!(spool.stats().bytes <= cap + 1_024, "{:?}", spool.stats());
    }
    let dropped = spool.take_dropped();
    assert!(dropped.batches > 50, "{dropped:?}");
    assert_eq!(dropped.first_seq, 1);
    assert_eq!(dropped.samples, dropped.batches * 10);
    assert_eq!(dropped.events, dropped.batches * 2);
    assert_eq!(spool.take_dropped(), Dropped::default());
    let kept = drain(&spool);
    assert_eq!(kept.first().copied(), Some(dropped.last_seq + 1));
    assert_eq!(kept.last().copied(), Some(100));
    assert_eq!(kept.len() as u64 + dropped.batches, 100);
    assert_eq!(spool.stats().dropped_batches_total, dropped.batches);
}

#[test]
fn spool_cap_moves_the_reader_past_a_dropped_front() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 16 * 1024).unwrap();
    spool.append(1, 1, 0, &body(1, 1_000)).unwrap();
    assert_eq!(spool.front().unwrap().seq, 1);
    for seq in 2..=40 {
        spool.append(seq, 1, 0, &body(seq, 1_000)).unwrap();
    }
    let front = spool.front().unwrap();
    assert!(front.seq > 1);
    // The shipper's late ack of the dropped seq 1 is ignored.
    spool.ack(1, true);
    assert_eq!(spool.front().unwrap().seq, front.seq);
    let kept = drain(&spool);
    assert!(
        kept.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{kept:?}"
    );
    assert_eq!(kept.last().copied(), Some(40));
}

#[test]
fn spool_deletes_segments_once_fully_acked() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 32 * 1024).unwrap();
    for seq in 1..=20 {
        spool.append(seq, 1, 0, &body(seq, 1_000)).unwrap();
    }
    assert!(segment_files(dir.path()).len() >= 4);
    drain(&spool);
    assert_eq!(
        segment_files(dir.path()).len(),
        1,
        "only the active one stays"
    );
    assert!(spool.stats().bytes < 8 * 1024);
}

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Deliver,
    Reopen { clean: bool },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        5 => (16usize..3_000).prop_map(Op::Append),
        4 => Just(Op::Deliver),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// The spool against a model: whatever the order of appends, deliveries, crashes and clean
    /// restarts, and whatever the cap, every appended seq is delivered exactly once in increasing
    /// order with its own bytes, or counted as dropped at the cap — never both, never neither —
    /// and the files stay within the cap plus one record.
    #[test]
    fn spool_delivers_every_batch_once_in_order_or_reports_it_dropped(
        ops in proptest::collection::vec(op(), 1..120),
        max_bytes in 8_192u64..200_000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), max_bytes).unwrap();
        let mut next_seq = 1u64;
        let mut delivered: Vec<u64> = Vec::new();
        let mut dropped = 0u64;
        for op in &ops {
            match op {
                Op::Append(len) => {
                    spool.append(next_seq, 1, 0, &body(next_seq, (*len).max(8))).unwrap();
                    next_seq += 1;
                    dropped += spool.take_dropped().batches;
                    let files: u64 = segment_files(dir.path())
                        .iter()
                        .map(|path| fs::metadata(path).map_or(0, |m| m.len()))
                        .sum();
                    proptest::prop_assert!(files <= max_bytes + 3_100, "{files} bytes on disk");
                }
                Op::Deliver => {
                    if let Ok(front) = spool.front() {
                        proptest::prop_assert_eq!(&front.body, &body(front.seq, front.body.len()));
                        if let Some(last) = delivered.last() {
                            proptest::prop_assert!(front.seq > *last, "{} after {}", front.seq, last);
                        }
                        delivered.push(front.seq);
                        spool.ack(front.seq, true);
                    }
                }
                Op::Reopen { clean } => {
                    dropped += spool.take_dropped().batches;
                    if *clean {
                        spool.close();
                    }
                    drop(spool);
                    spool = Spool::open(dir.path(), max_bytes).unwrap();
                    // Seqs keep growing across restarts (the state dir reserves them).
                    next_seq = next_seq.max(spool.last_seq() + 1);
                }
            }
        }
        // Drain what is left.
        while let Ok(front) = spool.front() {
            proptest::prop_assert_eq!(&front.body, &body(front.seq, front.body.len()));
            if let Some(last) = delivered.last() {
                proptest::prop_assert!(front.seq > *last);
            }
            delivered.push(front.seq);
            spool.ack(front.seq, true);
        }
        dropped += spool.take_dropped().batches;
        let appended = next_seq - 1;
        proptest::prop_assert_eq!(
            delivered.len() as u64 + dropped,
            appended,
            "delivered {:?}, dropped {}", delivered, dropped
        );
    }
}
