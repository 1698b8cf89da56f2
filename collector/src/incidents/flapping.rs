//! Stage 4: flapping detection, as Icinga does it.
//!
//! Each incident keeps its last [`HISTORY`] observed statuses (firing or resolved). The flap
//! percentage is the weighted share of consecutive pairs that changed status, the oldest pair
//! weighing 0.8 and the newest 1.2, so recent churn counts more. Flapping starts above
//! `high` percent and stops below `low` (hysteresis). Pure: no clock, no I/O.

use serde::{Deserialize, Serialize};

/// Statuses remembered per incident.
pub const HISTORY: u32 = 20;

/// Thresholds of flapping detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlapPolicy {
    /// Start flapping above this percentage.
    pub high: f64,
    /// Stop flapping below this percentage.
    pub low: f64,
    /// Fewest observations before flapping can start.
    pub min_observations: u32,
    /// A flapping incident quiet this long settles (and resolves if its last status was
    /// resolved), Unix ms.
    pub settle_after_ms: i64,
}

impl Default for FlapPolicy {
    fn default() -> Self {
        FlapPolicy {
            high: 30.0,
            low: 25.0,
            min_observations: 6,
            settle_after_ms: 10 * 60 * 1000,
        }
    }
}

/// The last statuses of one incident, newest in bit 0 (1 = firing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlapHistory {
    bits: u32,
    len: u32,
}

impl FlapHistory {
    /// Records one observed status.
    pub fn observe(&mut self, firing: bool) {
        let mask = (1u32 << HISTORY) - 1;
        self.bits = ((self.bits << 1) | u32::from(firing)) & mask;
        self.len = (self.len + 1).min(HISTORY);
    }

    /// Observations remembered.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True before the first observation.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Weighted percentage of status changes among the remembered observations.
    pub fn percent(&self) -> f64 {
        if self.len < 2 {
            return 0.0;
        }
        let pairs = self.len - 1;
        let mut changed = 0.0;
        let mut total = 0.0;
        // Pair i compares observation i (older) with i + 1; i = 0 is the oldest pair.
        for i in 0..pairs {
            let older = (self.bits >> (self.len - 1 - i)) & 1;
            let newer = (self.bits >> (self.len - 2 - i)) & 1;
            let weight = if pairs == 1 {
                1.0
            } else {
                0.8 + 0.4 * f64::from(i) / f64::from(pairs - 1)
            };
            total += weight;
            if older != newer {
                changed += weight;
            }
        }
        100.0 * changed / total
    }

    /// The flapping state after this history: starts above `high`, stops below `low`.
    pub fn next_state(&self, flapping: bool, policy: &FlapPolicy) -> bool {
        let percent = self.percent();
        if flapping {
            percent >= policy.low
        } else {
            self.len >= policy.min_observations && percent > policy.high
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn history(statuses: &[bool]) -> FlapHistory {
        let mut history = FlapHistory::default();
        for &status in statuses {
            history.observe(status);
        }
        history
    }

    #[test]
    fn steady_input_never_flaps_and_alternating_input_does() {
        let policy = FlapPolicy::default();
        let steady = history(&[true; 30]);
        assert_eq!(steady.percent(), 0.0);
        assert!(!steady.next_state(false, &policy));
        let alternating: Vec<bool> = (0..10).map(|i| i % 2 == 0).collect();
        let flappy = history(&alternating);
        assert!((flappy.percent() - 100.0).abs() < 1e-9);
        assert!(flappy.next_state(false, &policy));
    }

    #[test]
    fn recent_changes_weigh_more_than_old_ones() {
        let mut old = vec![true, false, true, false];
        old.extend([true; 10]);
        let mut recent = vec![true; 10];
        recent.extend([false, true, false, true]);
        assert!(history(&recent).percent() > history(&old).percent());
    }

    #[test]
    fn hysteresis_keeps_flapping_between_low_and_high() {
        let policy = FlapPolicy {
            high: 30.0,
            low: 10.0,
            ..FlapPolicy::default()
        };
        // About 20 %: below high (does not start) but above low (does not stop).
        let mut statuses = vec![true; 10];
        statuses.extend([false, true, false, true, true, true, true, true, true, true]);
        let h = history(&statuses);
        assert!(
            h.percent() > policy.low && h.percent() < policy.high,
            "{}",
            h.percent()
        );
        assert!(!h.next_state(false, &policy));
        assert!(h.next_state(true, &policy));
    }

    #[test]
    fn too_few_observations_never_start_flapping() {
        let h = history(&[true, false, true]);
        assert!(!h.next_state(false, &FlapPolicy::default()));
    }

    proptest! {
        #[test]
        fn percent_is_a_percentage(statuses in proptest::collection::vec(any::<bool>(), 0..60)) {
            let h = history(&statuses);
            let p = h.percent();
            prop_assert!((0.0..=100.0).contains(&p));
            prop_assert!(h.len() <= HISTORY);
        }
    }
}
