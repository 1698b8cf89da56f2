//! When a forecast path first reaches a capacity: a scan over the path's steps (with a stride
//! for very long paths, refined step by step around the crossing), answered as a fractional
//! step count by linear interpolation between the steps on either side.

/// How many path points a scan evaluates at most before refining.
const SCAN_POINTS: usize = 4_096;

/// The first `k` in `0..=max_steps` (fractional) where `path(k) >= capacity`, or `None`.
/// `path(0)` is the current value.
pub fn first_crossing(path: impl Fn(usize) -> f64, capacity: f64, max_steps: usize) -> Option<f64> {
    if path(0) >= capacity {
        return Some(0.0);
    }
    let stride = max_steps.div_ceil(SCAN_POINTS).max(1);
    let mut previous = 0;
    let mut k = stride.min(max_steps);
    while k > previous {
        if path(k) >= capacity {
            // Refine inside (previous, k].
            let mut before = previous;
            for fine in previous + 1..=k {
                let value = path(fine);
                if value >= capacity {
                    let low = path(before);
                    let fraction = if value > low {
                        ((capacity - low) / (value - low)).clamp(0.0, 1.0)
                    } else {
                        1.0
                    };
                    return Some(before as f64 + fraction);
                }
                before = fine;
            }
            return Some(k as f64);
        }
        previous = k;
        k = (k + stride).min(max_steps);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_is_interpolated_between_steps() {
        let line = |k: usize| 10.0 + 2.0 * k as f64;
        assert_eq!(first_crossing(line, 15.0, 100), Some(2.5));
        assert_eq!(first_crossing(line, 5.0, 100), Some(0.0));
        assert_eq!(first_crossing(line, 1_000.0, 100), None);
        let long = |k: usize| k as f64;
        assert_eq!(first_crossing(long, 123_456.5, 1_000_000), Some(123_456.5));
    }
}
