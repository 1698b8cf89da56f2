//! Tests of the chunked history: tiers, gaps, memory, quantization, the persisted forms.

use super::*;
use proptest::prelude::*;

const T0: i64 = 1_790_000_000_000;
const DAY: i64 = 24 * HOUR_MS;

/// A history of `days` of 10 s samples of `value(t)`, from `start`.
fn filled(start: i64, days: i64, value: impl Fn(i64) -> f64) -> History {
    let mut history = History::new(Layout::default());
    for i in 0..=days * DAY / 10_000 {
        let t = start + i * 10_000;
        history.push(t, value(t));
    }
    history
}

#[test]
fn history_keeps_raw_then_five_minutes_then_hours() {
    // Start on an hour, so that no bucket is partial (a bucket's point sits at its middle).
    const T0: i64 = 1_789_999_200_000;
    // 10 days of a line: 1 per second.
    let history = filled(T0, 10, |t| (t - T0) as f64 / 1_000.0);
    let points = history.points();
    let last = T0 + 10 * DAY;
    // Raw for the last hour (361 points), 5-minute means for at least the 7 days before (whole
    // chunks expire, so up to one chunk of 128 more), hour means before that.
    let raw = points.iter().filter(|(t, _)| *t > last - HOUR_MS).count();
    assert!((359..=362).contains(&raw), "{raw}");
    let gap = |i: usize| points[i + 1].0 - points[i].0;
    let last_hour = (0..points.len() - 1).find(|&i| gap(i) < HOUR_MS).unwrap();
    let first_fine = last_hour + 1;
    let fine_reach = last - points[first_fine].0;
    assert!(
        (7 * DAY..=7 * DAY + (CHUNK as i64 + 1) * FINE_MS).contains(&fine_reach),
        "{}",
        fine_reach as f64 / HOUR_MS as f64
    );
    assert!((0..last_hour).all(|i| gap(i) == HOUR_MS));
    // Hours from the start up to the 5-minute tier, with nothing missing.
    assert_eq!(last_hour as i64, (points[last_hour].0 - T0) / HOUR_MS);
    let fine_end = (first_fine..points.len() - 1)
        .find(|&i| gap(i) < FINE_MS)
        .unwrap();
    assert!((first_fine..fine_end).all(|i| gap(i) == FINE_MS));
    assert!(points[fine_end].0 > last - HOUR_MS - FINE_MS);
    // Every point sits on the line (a bucket mean at its mid time, 5 s off for the hours, quantized
    // within 1/131,068 of an hour chunk's range, 3.5 s here), in time order.
    for pair in points.windows(2) {
        assert!(pair[0].0 < pair[1].0, "{pair:?}");
    }
    for &(t, v) in &points {
        let expected = (t - T0) as f64 / 1_000.0;
        assert!(
            (v - expected).abs() <= 9.0 + expected * 1e-6,
            "{t}: {v} vs {expected}"
        );
    }
    assert_eq!(history.late(), 0);
    let recent = history.points_since(last - 2 * HOUR_MS);
    assert!(recent.iter().all(|(t, _)| *t >= last - 2 * HOUR_MS));
    assert_eq!(
        recent.len(),
        points
            .iter()
            .filter(|(t, _)| *t >= last - 2 * HOUR_MS)
            .count()
    );
}

#[test]
fn history_drops_late_and_non_finite_samples_and_survives_gaps() {
    let mut history = History::new(Layout::default());
    history.push(T0, 1.0);
    history.push(T0 + 1_000, 2.0);
    history.push(T0 + 500, 9.0);
    history.push(T0 + 2_000, f64::NAN);
    // A gap longer than every tier.
    history.push(T0 + 400 * DAY, 5.0);
    assert_eq!(history.late(), 2);
    assert_eq!(history.points(), vec![(T0 + 400 * DAY, 5.0)]);
    // A gap longer than the raw span only: the old raw points go, the buckets stay.
    let mut history = History::new(Layout::default());
    history.push(T0, 1.0);
    history.push(T0 + 10_000, 3.0);
    history.push(T0 + 3 * HOUR_MS, 5.0);
    let points = history.points();
    assert_eq!(points.len(), 2, "{points:?}");
    assert_eq!(points[0].1, 2.0, "the 5-minute mean of the first two");
    assert_eq!(points[1], (T0 + 3 * HOUR_MS, 5.0));
}

#[test]
fn a_full_series_fits_in_a_fraction_of_the_old_rings() {
    // 91 days of a noisy daily cycle on a slow fill: every tier full, each chunk's range wide.
    let history = filled(T0, 91, |t| {
        let day = (t - T0) as f64 / DAY as f64;
        50.0 + day * 0.1 + 20.0 * (day * std::f64::consts::TAU).sin() + ((t / 10_000) % 7) as f64
    });
    let bytes = history.heap_bytes();
    // The fixed rings of the first form held 48,512 bytes.
    assert!(bytes < 16_000, "{bytes} heap bytes with every tier full");
    // One hour old: the raw points and a dozen buckets, nothing for the time not yet seen.
    let mut young = History::new(Layout::default());
    for i in 0..360 {
        young.push(T0 + i * 10_000, i as f64);
    }
    assert!(young.heap_bytes() < 3_500, "{}", young.heap_bytes());
    eprintln!("full {bytes} B, one hour old {} B", young.heap_bytes());
    let week = history.points_since(T0 + 84 * DAY);
    assert!((2_000..=2_400).contains(&week.len()), "{}", week.len());
}

#[test]
fn cold_hour_chunks_leave_memory_with_nothing_lost() {
    let history = filled(T0, 91, |t| {
        let day = (t - T0) as f64 / DAY as f64;
        50.0 + day * 0.1 + 20.0 * (day * std::f64::consts::TAU).sin()
    });
    let newest = T0 + 91 * DAY;
    let before = history.points();
    let week = history.points_since(newest - 7 * DAY);
    let mut hot = history.clone();
    let cold = hot.take_cold();
    // Some 80 days of hours went cold: whole chunks of 128 hours, each ending by the fine reach.
    assert!((14..=16).contains(&cold.len()), "{}", cold.len());
    for pair in cold.windows(2) {
        assert_eq!(pair[0].end_ms, pair[1].first_ms);
    }
    assert!(cold.iter().all(|c| c.end_ms <= newest - 7 * DAY));
    assert!(cold.iter().all(|c| c.end_ms - c.first_ms == 128 * HOUR_MS));
    // The forecaster's week is untouched, and the cold points followed by what stayed are the
    // series as it was, point for point.
    assert_eq!(hot.points_since(newest - 7 * DAY), week);
    assert_eq!(hot.last(), before.last().copied());
    assert_eq!(History::new(Layout::default()).last(), None);
    let mut joined: Vec<(i64, f64)> = cold.iter().flat_map(|c| c.points().unwrap()).collect();
    joined.extend(hot.points());
    assert_eq!(joined, before);
    // About 9 KB instead of 14.5 (the hour tier's 90 days), and it survives its persisted form.
    let (full, kept) = (history.heap_bytes(), hot.heap_bytes());
    assert!(kept < 10_000 && full - kept > 4_000, "{full} -> {kept}");
    eprintln!("full {full} B, without the cold hours {kept} B");
    let back = History::from_bytes(&hot.to_bytes()).unwrap();
    assert_eq!(back.points(), hot.points());
    // Nothing is cold twice, and a young series has nothing cold.
    assert!(hot.take_cold().is_empty());
    assert!(filled(T0, 6, |_| 1.0).take_cold().is_empty());
    // Bytes that are not a chunk are an error.
    let mut bad = cold[0].clone();
    bad.data.pop();
    assert!(matches!(bad.points(), Err(HistoryError::Corrupt(_))));
}

#[test]
fn quantization_keeps_every_point_within_its_chunk_range() {
    // Raw points of a sawtooth: each is within range / 131,068 of what was pushed.
    let mut history = History::new(Layout::default());
    let value = |i: i64| ((i * 7_919) % 1_000) as f64 * 1e9 + 5e12;
    for i in 0..300 {
        history.push(T0 + i * 1_000, value(i));
    }
    let points = history.points();
    assert_eq!(points.len(), 300);
    for (i, &(t, v)) in points.iter().enumerate() {
        assert_eq!(t, T0 + i as i64 * 1_000);
        let exact = f64::from(value(i as i64) as f32);
        assert!((v - exact).abs() <= 1e12 / 131_068.0, "{i}: {v} vs {exact}");
    }
}

#[test]
fn history_round_trips_through_bytes() {
    let mut history = History::new(Layout::default());
    for i in 0..100_000 {
        history.push(T0 + i * 15_000, (i % 97) as f64);
    }
    let bytes = history.to_bytes();
    let back = History::from_bytes(&bytes).unwrap();
    assert_eq!(back.points(), history.points());
    assert_eq!(back.to_bytes(), bytes);
    // It goes on as the original would.
    let (mut a, mut b) = (history, back);
    a.push(T0 + 100_000 * 15_000, 1.0);
    b.push(T0 + 100_000 * 15_000, 1.0);
    assert_eq!(a.points(), b.points());
    assert_eq!(
        History::from_bytes(b"nope"),
        Err(HistoryError::NotHistory(0))
    );
    assert!(matches!(
        History::from_bytes(&bytes[..bytes.len() - 1]),
        Err(HistoryError::Corrupt(_))
    ));
}

/// The first form ("VGH1") of a history holding only `raw` points and empty one-slot tiers.
fn v1_bytes(raw: &[(i64, f32)], late: u64) -> Vec<u8> {
    let mut out = b"VGH1\x01".to_vec();
    for span in [HOUR_MS, 48 * HOUR_MS, 90 * DAY] {
        out.extend_from_slice(&span.to_le_bytes());
    }
    out.extend_from_slice(&late.to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    for &(t, v) in raw {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    for width in [MINUTE_MS, HOUR_MS] {
        out.extend_from_slice(&width.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&i64::MIN.to_le_bytes());
        out.extend_from_slice(&0f64.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&f32::NAN.to_le_bytes());
        out.extend_from_slice(&f32::NAN.to_le_bytes());
        out.extend_from_slice(&f32::NAN.to_le_bytes());
    }
    out
}

#[test]
fn a_history_stored_in_the_first_form_is_converted() {
    let raw: Vec<(i64, f32)> = (0..50).map(|i| (T0 + i * 10_000, i as f32)).collect();
    let history = History::from_bytes(&v1_bytes(&raw, 3)).unwrap();
    assert_eq!(history.late(), 3);
    let expected: Vec<(i64, f64)> = raw.iter().map(|&(t, v)| (t, f64::from(v))).collect();
    assert_eq!(history.points(), expected);
    assert!(History::from_bytes(&history.to_bytes()).is_ok());
    let mut truncated = v1_bytes(&raw, 0);
    truncated.pop();
    assert!(matches!(
        History::from_bytes(&truncated),
        Err(HistoryError::Corrupt(_))
    ));
}

proptest! {
    #[test]
    fn history_from_any_bytes_is_ok_or_err(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = bytes;
        if bytes.len() > 5 {
            bytes[..4].copy_from_slice(MAGIC);
            bytes[4] = VERSION;
        }
        if let Ok(mut history) = History::from_bytes(&bytes) {
            let _ = history.points();
            history.push(i64::MAX, 1.0);
            let _ = history.points();
        }
    }

    #[test]
    fn a_cold_chunk_from_any_bytes_is_ok_or_err(data in prop::collection::vec(any::<u8>(), 0..300)) {
        let chunk = ColdChunk { first_ms: 0, end_ms: 0, data };
        if let Ok(points) = chunk.points() {
            prop_assert!(points.len() <= CHUNK);
        }
    }

    #[test]
    fn history_push_never_panics(samples in prop::collection::vec((any::<i64>(), any::<f64>()), 0..200)) {
        let mut history = History::new(Layout::default());
        for (t, v) in samples {
            history.push(t, v);
        }
        let points = history.points();
        let back = History::from_bytes(&history.to_bytes()).unwrap();
        prop_assert_eq!(back.points().len(), points.len());
    }

    #[test]
    fn points_are_in_order_and_within_the_pushed_range(
        steps in prop::collection::vec((1i64..400_000, -1e6f64..1e6), 1..3_000)
    ) {
        let mut history = History::new(Layout::default());
        let mut t = T0;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (dt, v) in steps {
            t += dt;
            history.push(t, v);
            lo = lo.min(f64::from(v as f32));
            hi = hi.max(f64::from(v as f32));
        }
        let points = history.points();
        prop_assert!(!points.is_empty());
        for pair in points.windows(2) {
            prop_assert!(pair[0].0 < pair[1].0, "{:?}", pair);
        }
        let slack = (hi - lo) / 100_000.0 + 1e-6;
        for &(_, v) in &points {
            prop_assert!(v >= lo - slack && v <= hi + slack, "{} outside {}..{}", v, lo, hi);
        }
    }
}
