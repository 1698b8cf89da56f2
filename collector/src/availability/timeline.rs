//! The interval math of availability, pure (no I/O, no clock): a subject's state as a step
//! function of time ([`Timeline`]), its up and down time over a window ([`Totals`]), its down
//! intervals, and the combinations that derive a probe's effective state (unknown while its
//! host is down) and a service's state from its members.

/// What is known of a subject at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Up.
    Up,
    /// Down.
    Down,
    /// Not known (before the subject was first seen, or a probe while its host is down): counts
    /// neither as up nor as down.
    Unknown,
}

/// A step function: the state changes to `.1` at `.0` (Unix ms) and holds until the next
/// change; before the first change the state is [`State::Unknown`]. Changes are sorted by time
/// and no two neighbours have the same state ([`Timeline::from_changes`] makes it so).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    changes: Vec<(i64, State)>,
}

/// Up and down time over a window, ms. Unknown time is in neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Time up.
    pub up_ms: i64,
    /// Time down.
    pub down_ms: i64,
}

impl Totals {
    /// Time known (up or down).
    pub fn known_ms(&self) -> i64 {
        self.up_ms + self.down_ms
    }

    /// Up ÷ known; `None` when nothing is known.
    pub fn ratio(&self) -> Option<f64> {
        (self.known_ms() > 0).then(|| self.up_ms as f64 / self.known_ms() as f64)
    }

    /// Down ÷ known (the error rate); 0 when nothing is known.
    pub fn error_rate(&self) -> f64 {
        if self.known_ms() > 0 {
            self.down_ms as f64 / self.known_ms() as f64
        } else {
            0.0
        }
    }
}

/// One down interval: `[start_ms, end_ms)`; `end_ms` is `None` while still down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When it went down.
    pub start_ms: i64,
    /// When it came back (up or unknown), or `None`.
    pub end_ms: Option<i64>,
}

impl Timeline {
    /// The timeline of these changes, in any order; of two at one instant the later in the
    /// slice wins; repeats of the same state are dropped.
    pub fn from_changes(changes: impl IntoIterator<Item = (i64, State)>) -> Timeline {
        let mut all: Vec<(usize, i64, State)> = changes
            .into_iter()
            .enumerate()
            .map(|(idx, (at_ms, state))| (idx, at_ms, state))
            .collect();
        all.sort_by_key(|&(idx, at_ms, _)| (at_ms, idx));
        let mut timeline = Timeline::default();
        for (_, at_ms, state) in all {
            timeline.push(at_ms, state);
        }
        timeline
    }

    /// Appends a change at or after the last one (one at the same instant replaces it).
    fn push(&mut self, at_ms: i64, state: State) {
        if let Some(last) = self.changes.last_mut()
            && last.0 == at_ms
        {
            last.1 = state;
            // Replacing may make it equal to the one before.
            let n = self.changes.len();
            if n >= 2 && self.changes[n - 2].1 == state {
                self.changes.pop();
            }
            return;
        }
        let previous = self.changes.last().map_or(State::Unknown, |last| last.1);
        if previous != state {
            self.changes.push((at_ms, state));
        }
    }

    /// The changes, sorted, without repeats.
    pub fn changes(&self) -> &[(i64, State)] {
        &self.changes
    }

    /// The state at `at_ms`.
    pub fn state_at(&self, at_ms: i64) -> State {
        let idx = self
            .changes
            .partition_point(|&(change_ms, _)| change_ms <= at_ms);
        if idx == 0 {
            State::Unknown
        } else {
            self.changes[idx - 1].1
        }
    }

    /// The state's pieces over `[from_ms, to_ms)`: `(start, end, state)`, clipped to it.
    fn pieces(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = (i64, i64, State)> + '_ {
        let first = self.changes.partition_point(|&(at_ms, _)| at_ms <= from_ms);
        let start_state = self.state_at(from_ms);
        let starts = std::iter::once((from_ms, start_state)).chain(
            self.changes[first..]
                .iter()
                .copied()
                .take_while(move |&(at_ms, _)| at_ms < to_ms),
        );
        let ends = self.changes[first..]
            .iter()
            .map(|&(at_ms, _)| at_ms)
            .take_while(move |&at_ms| at_ms < to_ms)
            .chain(std::iter::once(to_ms));
        starts
            .zip(ends)
            .map(|((start, state), end)| (start, end, state))
            .filter(|(start, end, _)| end > start)
    }

    /// Up and down time over `[from_ms, to_ms)`.
    pub fn totals(&self, from_ms: i64, to_ms: i64) -> Totals {
        let mut totals = Totals::default();
        if to_ms <= from_ms {
            return totals;
        }
        for (start, end, state) in self.pieces(from_ms, to_ms) {
            match state {
                State::Up => totals.up_ms += end - start,
                State::Down => totals.down_ms += end - start,
                State::Unknown => {}
            }
        }
        totals
    }

    /// Every down interval that overlaps `[from_ms, to_ms)`, unclipped (one that began before
    /// `from_ms` keeps its real start); an interval still open at `to_ms` has no end.
    pub fn outages(&self, from_ms: i64, to_ms: i64) -> Vec<Outage> {
        let mut outages = Vec::new();
        for (idx, &(at_ms, state)) in self.changes.iter().enumerate() {
            if state != State::Down || at_ms >= to_ms {
                continue;
            }
            let end_ms = self
                .changes
                .get(idx + 1)
                .map(|&(end, _)| end)
                .filter(|&end| end <= to_ms);
            if end_ms.is_some_and(|end| end <= from_ms) {
                continue;
            }
            outages.push(Outage {
                start_ms: at_ms,
                end_ms,
            });
        }
        outages
    }

    /// The pointwise combination of several timelines: at every instant, `rule` of their
    /// states (in the order given).
    pub fn combine(timelines: &[&Timeline], rule: impl Fn(&[State]) -> State) -> Timeline {
        let mut instants: Vec<i64> = timelines
            .iter()
            .flat_map(|timeline| timeline.changes.iter().map(|&(at_ms, _)| at_ms))
            .collect();
        instants.sort_unstable();
        instants.dedup();
        let mut combined = Timeline::default();
        let mut states = Vec::with_capacity(timelines.len());
        for at_ms in instants {
            states.clear();
            states.extend(timelines.iter().map(|timeline| timeline.state_at(at_ms)));
            combined.push(at_ms, rule(&states));
        }
        combined
    }

    /// A probe as it counts: its own state while its host is up, unknown while the host is
    /// down or unknown (the agent that runs the probe is not heard from, or the host was
    /// forgotten). A probe whose host has no history at all keeps its own state.
    pub fn probe_effective(probe: &Timeline, host: &Timeline) -> Timeline {
        if host.changes.is_empty() {
            return probe.clone();
        }
        Timeline::combine(&[probe, host], |states| match states {
            [probe, State::Up] => *probe,
            _ => State::Unknown,
        })
    }

    /// A service from its members (its hosts and their effective probes): down while any
    /// member is down, up while none is down and one is up, unknown while nothing is known.
    pub fn service(members: &[&Timeline]) -> Timeline {
        Timeline::combine(members, |states| {
            if states.contains(&State::Down) {
                State::Down
            } else if states.contains(&State::Up) {
                State::Up
            } else {
                State::Unknown
            }
        })
    }
}

/// Mean time between failures and to repair over a window, from the down intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reliability {
    /// Failures (down intervals that began in the window).
    pub failures: u64,
    /// Up time in the window ÷ failures; `None` without a failure.
    pub mtbf_ms: Option<i64>,
    /// Mean length of the down intervals that ended in the window (their whole length, also
    /// before the window); `None` when none ended.
    pub mttr_ms: Option<i64>,
}

/// MTBF and MTTR of `timeline` over `[from_ms, to_ms)`.
pub fn reliability(timeline: &Timeline, from_ms: i64, to_ms: i64) -> Reliability {
    let outages = timeline.outages(from_ms, to_ms);
    let failures = outages
        .iter()
        .filter(|outage| outage.start_ms >= from_ms)
        .count() as u64;
    let repaired: Vec<i64> = outages
        .iter()
        .filter_map(|outage| outage.end_ms.map(|end| end - outage.start_ms))
        .collect();
    let up_ms = timeline.totals(from_ms, to_ms).up_ms;
    Reliability {
        failures,
        mtbf_ms: (failures > 0).then(|| up_ms / failures as i64),
        mttr_ms: (!repaired.is_empty())
            .then(|| repaired.iter().sum::<i64>() / repaired.len() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::State::{Down, Unknown, Up};
    use super::*;

    fn timeline(changes: &[(i64, State)]) -> Timeline {
        Timeline::from_changes(changes.iter().copied())
    }

    #[test]
    fn totals_count_up_and_down_and_skip_unknown_time() {
        // Seen at 100, down 300..400, unknown (host down) 600..700, up until the window's end.
        let line = timeline(&[(100, Up), (300, Down), (400, Up), (600, Unknown), (700, Up)]);
        let table = [
            // window, up, down
            ((0, 1_000), 700, 100), // first seen mid-window: 0..100 is not counted
            ((350, 1_000), 500, 50), // a down interval spanning the window start
            ((0, 350), 200, 50),    // still down at the window's end
            ((300, 400), 0, 100),
            ((600, 700), 0, 0),         // only unknown time
            ((2_000, 3_000), 1_000, 0), // after the last change: its state holds
            ((500, 500), 0, 0),         // empty window
        ];
        for ((from, to), up, down) in table {
            assert_eq!(
                line.totals(from, to),
                Totals {
                    up_ms: up,
                    down_ms: down
                },
                "window {from}..{to}"
            );
        }
        assert_eq!(line.totals(0, 1_000).ratio(), Some(0.875));
        assert_eq!(Timeline::default().totals(0, 1_000).ratio(), None);
        assert_eq!(Timeline::default().totals(0, 1_000).error_rate(), 0.0);
    }

    #[test]
    fn from_changes_sorts_drops_repeats_and_lets_the_later_of_one_instant_win() {
        let line = timeline(&[(300, Down), (100, Up), (200, Up), (300, Up), (300, Down)]);
        assert_eq!(line.changes(), &[(100, Up), (300, Down)]);
        let line = timeline(&[(100, Up), (200, Down), (200, Up)]);
        assert_eq!(
            line.changes(),
            &[(100, Up)],
            "replaced back to the same state"
        );
        assert_eq!(line.state_at(99), Unknown);
        assert_eq!(line.state_at(100), Up);
    }

    #[test]
    fn outages_keep_their_real_start_and_an_open_end() {
        let line = timeline(&[(0, Up), (100, Down), (200, Up), (500, Down)]);
        assert_eq!(
            line.outages(150, 1_000),
            vec![
                Outage {
                    start_ms: 100,
                    end_ms: Some(200)
                },
                Outage {
                    start_ms: 500,
                    end_ms: None
                }
            ]
        );
        assert!(line.outages(250, 450).is_empty(), "none overlaps");
        assert_eq!(
            line.outages(0, 150),
            vec![Outage {
                start_ms: 100,
                end_ms: None
            }],
            "still down at the window's end"
        );
    }

    #[test]
    fn reliability_counts_failures_in_the_window_and_repairs_that_ended_in_it() {
        // Down 100..200 (began before the window), 400..450, 800..now.
        let line = timeline(&[
            (0, Up),
            (100, Down),
            (200, Up),
            (400, Down),
            (450, Up),
            (800, Down),
        ]);
        let numbers = reliability(&line, 150, 1_000);
        assert_eq!(numbers.failures, 2);
        // Up in the window: 200..400 and 450..800 = 550; two failures.
        assert_eq!(numbers.mtbf_ms, Some(275));
        // Repairs that ended in the window: 100 and 50 long.
        assert_eq!(numbers.mttr_ms, Some(75));
        assert_eq!(
            reliability(&timeline(&[(0, Up)]), 0, 1_000),
            Reliability {
                failures: 0,
                mtbf_ms: None,
                mttr_ms: None
            }
        );
    }

    #[test]
    fn a_probe_is_unknown_while_its_host_is_down() {
        let probe = timeline(&[(0, Up), (500, Down)]);
        let host = timeline(&[(0, Up), (200, Down), (300, Up), (700, Unknown)]);
        let effective = Timeline::probe_effective(&probe, &host);
        assert_eq!(
            effective.changes(),
            &[
                (0, Up),
                (200, Unknown),
                (300, Up),
                (500, Down),
                (700, Unknown)
            ],
            "a forgotten host's probe is unknown too"
        );
        // A probe whose host was never recorded keeps its own state.
        assert_eq!(
            Timeline::probe_effective(&probe, &Timeline::default()),
            probe
        );
    }

    #[test]
    fn a_service_is_down_while_any_member_is_down() {
        let host_a = timeline(&[(0, Up), (100, Down), (200, Up)]);
        let host_b = timeline(&[(50, Up)]);
        let probe_b = timeline(&[(50, Up), (300, Down), (400, Up)]);
        let service = Timeline::service(&[&host_a, &host_b, &probe_b]);
        assert_eq!(
            service.changes(),
            &[(0, Up), (100, Down), (200, Up), (300, Down), (400, Up)]
        );
        assert_eq!(
            service.totals(0, 500),
            Totals {
                up_ms: 300,
                down_ms: 200
            }
        );
        assert_eq!(Timeline::service(&[]).changes(), &[]);
    }
}
