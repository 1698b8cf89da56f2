//! Novelty paging (`[grouping.novelty]`, issue 10's "rule D"), pure: whether an episode of a
//! fingerprint is **new** (pages its service-level incident) or **recurring** (recorded on it,
//! never paged), from a per-fingerprint [`Record`] that outlives the incidents.
//!
//! - An episode is an incident's life from its open (or reopen) to its resolve; its **span** is
//!   its last firing event − its first (a one-shot alert that resolves by its quiet time spans 0).
//! - The record keeps the fingerprint's last firing event and its **past firing time** `F`,
//!   decayed with `decay` (τ): at each episode end `F ← F·e^(−Δt/τ) + span`, Δt the time since
//!   the last update.
//! - An episode starting at `t` is new when the fingerprint had no firing event in
//!   `(t − W, t)`, `W = quiet + factor · F·e^(−Δt/τ)`; a fingerprint never seen is new.
//!
//! So a check that fires for hours every day needs a long silence before it pages again,
//! one that fired once long ago pages after `quiet`.

use super::policy::NoveltyPolicy;

/// What the store keeps per fingerprint (table `novelty`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The fingerprint.
    pub fingerprint: String,
    /// Its last firing event, Unix ms.
    pub last_firing_ms: i64,
    /// Its past firing time `F`, ms, as of `past_at_ms`.
    pub past_ms: f64,
    /// When `past_ms` was last decayed and added to, Unix ms.
    pub past_at_ms: i64,
}

/// What an episode start is judged to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The fingerprint was never seen: new.
    FirstEver,
    /// Quiet for longer than its window: new.
    New {
        /// Time since its last firing event, ms.
        quiet_ms: i64,
        /// Its window `W`, ms.
        window_ms: i64,
    },
    /// It fired within its window: not paged.
    Recurring {
        /// Time since its last firing event, ms.
        quiet_ms: i64,
        /// Its window `W`, ms.
        window_ms: i64,
        /// Its decayed past firing time, ms.
        past_ms: i64,
    },
}

impl Verdict {
    /// True when the episode pages.
    pub fn is_new(self) -> bool {
        !matches!(self, Verdict::Recurring { .. })
    }

    /// The timeline text: why it was or was not paged.
    pub fn describe(self, policy: &NoveltyPolicy) -> String {
        let decay = human(policy.decay_ms);
        match self {
            Verdict::FirstEver => "new: never seen before".to_owned(),
            Verdict::New {
                quiet_ms,
                window_ms,
            } => format!(
                "new: quiet for {}, longer than its window of {}",
                human(quiet_ms),
                human(window_ms)
            ),
            Verdict::Recurring {
                quiet_ms,
                window_ms,
                past_ms,
            } => format!(
                "recurring: fired {} (decayed over {decay}), last {} ago, within its window of {}: not paged",
                human(past_ms),
                human(quiet_ms),
                human(window_ms)
            ),
        }
    }
}

/// `F` decayed from `record.past_at_ms` to `now_ms`.
fn decayed(policy: &NoveltyPolicy, record: &Record, now_ms: i64) -> f64 {
    let elapsed = now_ms.saturating_sub(record.past_at_ms).max(0) as f64;
    let tau = policy.decay_ms.max(1) as f64;
    record.past_ms * (-elapsed / tau).exp()
}

/// The window `W` of `record` at `now_ms`.
pub fn window_ms(policy: &NoveltyPolicy, record: &Record, now_ms: i64) -> i64 {
    let extra = f64::from(policy.factor) * decayed(policy, record, now_ms);
    // Saturating: a factor times a long past is at most "never new again" (i64::MAX).
    policy
        .quiet_ms
        .saturating_add(extra.min(i64::MAX as f64) as i64)
}

/// Judges an episode of `record`'s fingerprint starting at `now_ms`.
pub fn judge(policy: &NoveltyPolicy, record: Option<&Record>, now_ms: i64) -> Verdict {
    let Some(record) = record else {
        return Verdict::FirstEver;
    };
    let quiet_ms = now_ms.saturating_sub(record.last_firing_ms);
    let window_ms = window_ms(policy, record, now_ms);
    if quiet_ms >= window_ms {
        Verdict::New {
            quiet_ms,
            window_ms,
        }
    } else {
        Verdict::Recurring {
            quiet_ms,
            window_ms,
            past_ms: decayed(policy, record, now_ms) as i64,
        }
    }
}

/// The record after an episode of `fingerprint` that began at `first_ms` and whose last firing
/// event was at `last_firing_ms` ended at `now_ms`.
pub fn end_episode(
    policy: &NoveltyPolicy,
    record: Option<&Record>,
    fingerprint: &str,
    first_ms: i64,
    last_firing_ms: i64,
    now_ms: i64,
) -> Record {
    let span = last_firing_ms.saturating_sub(first_ms).max(0) as f64;
    let (past, last) = match record {
        None => (0.0, last_firing_ms),
        Some(record) => (
            decayed(policy, record, now_ms),
            record.last_firing_ms.max(last_firing_ms),
        ),
    };
    Record {
        fingerprint: fingerprint.to_owned(),
        last_firing_ms: last,
        past_ms: past + span,
        past_at_ms: now_ms,
    }
}

/// `1h12m`, `5m`, `40s`, `3d4h`: the two largest units.
fn human(ms: i64) -> String {
    if ms == i64::MAX {
        return "ever".to_owned();
    }
    let seconds = ms.max(0) / 1000;
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    for (index, (name, size)) in units.iter().enumerate() {
        if seconds >= *size {
            let mut out = format!("{}{name}", seconds / size);
            if let Some((next, next_size)) = units.get(index + 1) {
                let n = (seconds % size) / next_size;
                if n > 0 {
                    out.push_str(&format!("{n}{next}"));
                }
            }
            return out;
        }
    }
    "0s".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    fn policy() -> NoveltyPolicy {
        NoveltyPolicy {
            quiet_ms: 5 * HOUR,
            factor: 16,
            decay_ms: 7 * DAY,
            interval_ms: 0,
        }
    }

    fn record(last_firing_ms: i64, past_ms: f64, past_at_ms: i64) -> Record {
        Record {
            fingerprint: "f".into(),
            last_firing_ms,
            past_ms,
            past_at_ms,
        }
    }

    #[test]
    fn an_episode_is_new_when_quiet_past_its_window_and_a_first_one_always() {
        let p = policy();
        // (record, now, new?, what)
        let week = 7 * DAY;
        let table: [(Option<Record>, i64, bool, &str); 8] = [
            (None, 0, true, "first ever"),
            (Some(record(0, 0.0, 0)), 5 * HOUR, true, "quiet exactly W0"),
            (
                Some(record(0, 0.0, 0)),
                5 * HOUR - 1,
                false,
                "1 ms short of W0",
            ),
            // Fired 1 h in all, just updated: W = 5 h + 16 × 1 h.
            (
                Some(record(0, HOUR as f64, 21 * HOUR)),
                21 * HOUR,
                true,
                "quiet W0 + c·F",
            ),
            (
                Some(record(0, HOUR as f64, 20 * HOUR)),
                20 * HOUR,
                false,
                "inside W0 + c·F",
            ),
            // The same hour updated a week (τ) ago counts 1/e: W = 5 h + 5.9 h.
            (
                Some(record(week - 11 * HOUR, HOUR as f64, 0)),
                week,
                true,
                "decayed: 11 h is enough",
            ),
            (
                Some(record(week - 10 * HOUR, HOUR as f64, 0)),
                week,
                false,
                "decayed: 10 h is not",
            ),
            (
                Some(record(week - 11 * HOUR, HOUR as f64, week)),
                week,
                false,
                "not decayed: 11 h is not",
            ),
        ];
        for (record, now, new, what) in table {
            let verdict = judge(&p, record.as_ref(), now);
            assert_eq!(verdict.is_new(), new, "{what}: {verdict:?}");
        }
        assert_eq!(judge(&p, None, 7), Verdict::FirstEver);
    }

    #[test]
    fn an_episode_end_decays_the_past_and_adds_its_span() {
        let p = policy();
        let first = end_episode(&p, None, "f", 1_000, 1_000 + HOUR, 1_000 + HOUR + 5 * MIN);
        assert_eq!(first.last_firing_ms, 1_000 + HOUR);
        assert_eq!(first.past_ms, HOUR as f64);
        // One decay time later, a one-shot episode (span 0): F is 1/e of an hour.
        let at = first.past_at_ms + 7 * DAY;
        let second = end_episode(&p, Some(&first), "f", at - MIN, at - MIN, at);
        assert!((second.past_ms - HOUR as f64 / std::f64::consts::E).abs() < 1.0);
        assert_eq!(second.last_firing_ms, at - MIN);
        assert_eq!(second.past_at_ms, at);
        // An older episode ending late never moves the last firing back.
        let third = end_episode(&p, Some(&second), "f", 0, 10, at + 1);
        assert_eq!(third.last_firing_ms, at - MIN);
    }

    #[test]
    fn the_reason_names_the_window_and_the_past() {
        let p = policy();
        let text = judge(
            &p,
            Some(&record(0, 3.0 * HOUR as f64 + 12.0 * MIN as f64, HOUR)),
            HOUR,
        )
        .describe(&p);
        assert!(text.starts_with("recurring: fired 3h12m"), "{text}");
        assert!(
            text.contains("last 1h ago") && text.contains("not paged"),
            "{text}"
        );
        assert_eq!(judge(&p, None, 0).describe(&p), "new: never seen before");
        assert_eq!(human(90 * MIN), "1h30m");
        assert_eq!(human(2 * DAY + 5 * MIN), "2d");
        assert_eq!(human(0), "0s");
    }
}
