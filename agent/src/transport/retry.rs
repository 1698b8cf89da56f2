//! Retry policy of the transport (STYLE.md 4.4): what to do with a batch after one delivery
//! attempt ([`classify_status`], [`Verdict`]) and how long to wait before the next one
//! ([`Backoff`]: exponential, full jitter, honouring `Retry-After`).
//!
//! | outcome | verdict |
//! |---|---|
//! | 2xx | delivered |
//! | connection error, timeout, 408, 429, 5xx | retry the same batch after a backoff |
//! | 401, 403 | retry too (a token mistake is fixable, the data is not at fault), logged at error level |
//! | 400, 413, 415, 422, any other 4xx, 1xx/3xx | rejected: drop that batch, count it, move on |

use std::time::Duration;

/// What to do with a batch after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The collector has it.
    Delivered,
    /// Send the same batch again after a backoff.
    Retry {
        /// Why, for logs (`unavailable`, `throttled`, `unauthorized`, `connection`, ...).
        reason: &'static str,
        /// The collector's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
        /// Log at error level: an operator must act (token refused).
        loud: bool,
    },
    /// The collector refused this batch for good: drop it.
    Reject {
        /// Why, for logs and counters.
        reason: &'static str,
    },
}

/// Classifies an HTTP status (with its `Retry-After`, already parsed).
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        401 | 403 => Verdict::Retry {
            reason: "unauthorized",
            retry_after,
            loud: true,
        },
        408 => Verdict::Retry {
            reason: "timeout",
            retry_after,
            loud: false,
        },
        429 => Verdict::Retry {
            reason: "throttled",
            retry_after,
            loud: false,
        },
        500..=599 => Verdict::Retry {
            reason: "unavailable",
            retry_after,
            loud: false,
        },
        400 => Verdict::Reject {
            reason: "bad_request",
        },
        413 => Verdict::Reject {
            reason: "too_large",
        },
        415 => Verdict::Reject {
            reason: "unsupported_media_type",
        },
        422 => Verdict::Reject { reason: "invalid" },
        _ => Verdict::Reject {
            reason: "unexpected_status",
        },
    }
}

/// The verdict for a request that got no response (connection refused, reset, timeout).
pub fn classify_request_error(is_timeout: bool) -> Verdict {
    Verdict::Retry {
        reason: if is_timeout { "timeout" } else { "connection" },
        retry_after: None,
        loud: false,
    }
}

/// Parses `Retry-After` given in seconds; HTTP dates and garbage give `None`.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Backoff bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first ceiling (500 ms).
    pub initial: Duration,
    /// The largest ceiling (30 s).
    pub max: Duration,
    /// The longest `Retry-After` honoured (5 min): a bigger value is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Exponential backoff with full jitter: the n-th delay (from 0) is uniform in
/// `[0, min(max, initial × 2ⁿ)]`; a `Retry-After` replaces it (capped at `max_retry_after`).
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    attempt: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// A backoff at its first step; `seed` feeds the jitter.
    pub fn new(policy: RetryPolicy, seed: u64) -> Self {
        Backoff {
            policy,
            attempt: 0,
            rng: SplitMix64(seed),
        }
    }

    /// The ceiling of the current step, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.policy
            .initial
            .checked_mul(factor)
            .unwrap_or(self.policy.max)
            .min(self.policy.max)
    }

    /// The delay before the next attempt; advances to the next step.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let delay = match retry_after {
            Some(retry_after) => retry_after.min(self.policy.max_retry_after),
            None => {
                let ceiling = self.ceiling().as_millis() as u64;
                Duration::from_millis(self.rng.next() % (ceiling + 1))
            }
        };
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Back to the first step, after a delivery or a rejection.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were taken since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// A tiny PRNG for jitter (SplitMix64); jitter needs spread, not secrecy.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classifies_every_status_class() {
        assert_eq!(classify_status(200, None), Verdict::Delivered);
        assert_eq!(classify_status(204, None), Verdict::Delivered);
        for status in [500, 502, 503, 504, 429, 408] {
            assert!(
                matches!(
                    classify_status(status, None),
                    Verdict::Retry { loud: false, .. }
                ),
                "{status}"
            );
        }
        for status in [401, 403] {
            assert!(
                matches!(
                    classify_status(status, None),
                    Verdict::Retry {
                        reason: "unauthorized",
                        loud: true,
                        ..
                    }
                ),
                "{status}"
            );
        }
        for (status, reason) in [
            (400, "bad_request"),
            (413, "too_large"),
            (415, "unsupported_media_type"),
            (422, "invalid"),
            (404, "unexpected_status"),
            (409, "unexpected_status"),
            (302, "unexpected_status"),
        ] {
            assert_eq!(
                classify_status(status, None),
                Verdict::Reject { reason },
                "{status}"
            );
        }
        assert_eq!(
            classify_status(503, Some(Duration::from_secs(7))),
            Verdict::Retry {
                reason: "unavailable",
                retry_after: Some(Duration::from_secs(7)),
                loud: false
            }
        );
        assert!(matches!(
            classify_request_error(true),
            Verdict::Retry {
                reason: "timeout",
                ..
            }
        ));
    }

    #[test]
    fn retry_parses_retry_after_seconds_only() {
        assert_eq!(parse_retry_after("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn backoff_doubles_from_500ms_up_to_30s_with_full_jitter() {
        let mut backoff = Backoff::new(RetryPolicy::default(), 42);
        let expected_ceilings_ms = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
        for ceiling_ms in expected_ceilings_ms {
            assert_eq!(backoff.ceiling(), Duration::from_millis(ceiling_ms));
            let delay = backoff.next_delay(None);
            assert!(
                delay <= Duration::from_millis(ceiling_ms),
                "{delay:?} > {ceiling_ms}ms"
            );
        }
        // Far along, the ceiling stays at the cap and never overflows.
        for _ in 0..100 {
            assert!(backoff.next_delay(None) <= Duration::from_secs(30));
        }
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(500));
        assert_eq!(backoff.attempt(), 0);
    }

    #[test]
    fn backoff_jitter_spreads_over_the_whole_range() {
        let mut backoff = Backoff::new(RetryPolicy::default(), 7);
        let delays: Vec<Duration> = (0..200)
            .map(|_| {
                backoff.reset();
                backoff.next_delay(None)
            })
            .collect();
        assert!(
            delays
                .iter()
                .any(|delay| *delay < Duration::from_millis(100))
        );
        assert!(
            delays
                .iter()
                .any(|delay| *delay > Duration::from_millis(400))
        );
    }

    #[test]
    fn backoff_honours_retry_after_up_to_its_cap() {
        let mut backoff = Backoff::new(RetryPolicy::default(), 1);
        assert_eq!(
            backoff.next_delay(Some(Duration::from_secs(45))),
            Duration::from_secs(45)
        );
        assert_eq!(
            backoff.next_delay(Some(Duration::from_secs(86_400))),
            Duration::from_secs(300)
        );
    }
}
