//! Small robust statistics on `f64` slices (median, quantiles, MAD, Theil–Sen slope). Callers pass
//! finite values only; every function answers something finite for an empty slice too.

/// The median of `values` (reorders the slice); 0 for an empty slice.
pub fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let lower = values[..mid]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

/// The median of `values` (copies); 0 for an empty slice.
pub fn median(values: &[f64]) -> f64 {
    median_in_place(&mut values.to_vec())
}

/// The empirical `q` quantile (0..=1) of sorted `values`, linearly interpolated; 0 when empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let position = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let below = position.floor() as usize;
            let above = (below + 1).min(n - 1);
            let fraction = position - below as f64;
            sorted[below] + (sorted[above] - sorted[below]) * fraction
        }
    }
}

/// The median absolute deviation from the median, scaled by 1.4826 so that it estimates the
/// standard deviation of normal noise.
pub fn mad_sigma(values: &[f64]) -> f64 {
    let centre = median(values);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - centre).abs()).collect();
    1.4826 * median_in_place(&mut deviations)
}

/// A robust line through `values` at x = 0, 1, 2, …: Theil–Sen's median of slopes, taken over
/// the pairs (i, i + n/2), which costs O(n) and keeps the estimator's robustness to outliers and
/// to a periodic component whose period divides n/2. Returns (intercept at x = 0, slope).
pub fn theil_sen(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n < 2 {
        return (values.first().copied().unwrap_or(0.0), 0.0);
    }
    let gap = (n / 2).max(1);
    let mut slopes: Vec<f64> = (0..n - gap)
        .map(|i| (values[i + gap] - values[i]) / gap as f64)
        .collect();
    let slope = median_in_place(&mut slopes);
    let mut intercepts: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, v)| v - slope * i as f64)
        .collect();
    (median_in_place(&mut intercepts), slope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quantiles_of_small_slices() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        let sorted = [0.0, 10.0, 20.0];
        assert_eq!(quantile_sorted(&sorted, 0.5), 10.0);
        assert_eq!(quantile_sorted(&sorted, 0.75), 15.0);
        assert_eq!(quantile_sorted(&sorted, 2.0), 20.0);
    }

    #[test]
    fn theil_sen_ignores_outliers() {
        let mut values: Vec<f64> = (0..100).map(|i| 5.0 + 2.0 * i as f64).collect();
        values[90] = 10_000.0;
        values[91] = 10_000.0;
        let (intercept, slope) = theil_sen(&values);
        assert!((slope - 2.0).abs() < 1e-9, "{slope}");
        assert!((intercept - 5.0).abs() < 1e-9, "{intercept}");
    }
}
