//! The probe state machine (pure): a probe is down after `failures_before_down` consecutive
//! failures and up again at the first success after that, so one lost packet is not an incident.
//! Edge-triggered: only the changes are [`Transition`]s. Also remembers a process probe's PIDs to
//! spot restarts.

/// A state change worth an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changed.
    None,
    /// It just reached `failures_before_down` consecutive failures.
    Down,
    /// The first success after being down.
    Up,
}

/// What one probe has seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeState {
    consecutive_failures: u32,
    down: bool,
    pids: Option<Vec<u32>>,
}

impl ProbeState {
    /// Takes one result.
    pub fn observe(&mut self, up: bool, failures_before_down: u32) -> Transition {
        if up {
            self.consecutive_failures = 0;
            if self.down {
                self.down = false;
                return Transition::Up;
            }
            return Transition::None;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if !self.down && self.consecutive_failures >= failures_before_down.max(1) {
            self.down = true;
            return Transition::Down;
        }
        Transition::None
    }

    /// True while down.
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Records the PIDs now matching; returns the previous ones when the set changed while the
    /// count stayed the same (a restart).
    pub fn swap_pids(&mut self, pids: &[u32]) -> Option<Vec<u32>> {
        match &mut self.pids {
            Some(previous) if previous.as_slice() == pids => None,
            Some(previous) => {
                let restarted = previous.len() == pids.len();
                let old = std::mem::replace(previous, pids.to_vec());
                restarted.then_some(old)
            }
            None => {
                self.pids = Some(pids.to_vec());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_state_needs_n_consecutive_failures() {
        let mut state = ProbeState::default();
        let steps = [
            (false, Transition::None),
            (true, Transition::None),
            (false, Transition::None),
            (false, Transition::None),
            (false, Transition::Down),
            (false, Transition::None),
            (true, Transition::Up),
            (true, Transition::None),
        ];
        for (step_idx, (up, expected)) in steps.into_iter().enumerate() {
            assert_eq!(state.observe(up, 3), expected, "step {step_idx}");
        }
        assert!(!state.is_down());
    }

    #[test]
    fn probe_state_with_one_failure_goes_down_at_once() {
        let mut state = ProbeState::default();
        assert_eq!(state.observe(false, 1), Transition::Down);
        assert!(state.is_down());
        let mut state = ProbeState::default();
        assert_eq!(state.observe(false, 0), Transition::Down);
    }

    #[test]
    fn probe_state_spots_pid_changes_at_equal_count() {
        let mut state = ProbeState::default();
        assert_eq!(state.swap_pids(&[1, 2]), None);
        assert_eq!(state.swap_pids(&[1, 2]), None);
        assert_eq!(state.swap_pids(&[1, 3]), Some(vec![1, 2]));
        assert_eq!(state.swap_pids(&[1, 3, 4]), None);
        assert_eq!(state.swap_pids(&[5, 6, 7]), Some(vec![1, 3, 4]));
    }
}
