//! Retry policy: how long to wait before trying a deployment again, and a budget so retries cannot
//! multiply load during an outage. Nothing here reads a clock or a random source: callers pass them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Backoff before the `n`-th revisit of a deployment (0-based): exponential from `BASE`, capped,
/// with "equal jitter" (half fixed, half random) so synchronized clients spread out.
pub fn backoff(n: u32, random: u64) -> Duration {
    const BASE_MS: u64 = 50;
    const CAP_MS: u64 = 2_000;
    let full = BASE_MS.saturating_mul(1u64 << n.min(16)).min(CAP_MS);
    let half = full / 2;
    Duration::from_millis(half + random % (half + 1))
}

/// The longest upstream `Retry-After` the gateway will wait out itself; longer ones go back to the client.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A token bucket of retries: every request earns a fifth of a retry, every retry spends one, so
/// retries stay under ~20 % of traffic however bad things get; a small reserve covers quiet periods.
#[derive(Debug)]
pub struct RetryBudget {
    /// In hundredths of a retry.
    tokens: AtomicI64,
}

const EARN_PER_REQUEST: i64 = 20;
const COST_PER_RETRY: i64 = 100;
const RESERVE: i64 = 10 * COST_PER_RETRY;
const CAPACITY: i64 = 100 * COST_PER_RETRY;

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            tokens: AtomicI64::new(RESERVE),
        }
    }
}

impl RetryBudget {
    /// Called once per request.
    pub fn earn(&self) {
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some((t + EARN_PER_REQUEST).min(CAPACITY))
            });
    }

    /// Takes one retry from the budget; false when it is spent.
    pub fn try_spend(&self) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t >= COST_PER_RETRY).then_some(t - COST_PER_RETRY)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        assert_eq!(backoff(0, 0), Duration::from_millis(25));
        assert_eq!(backoff(0, 25), Duration::from_millis(50));
        assert_eq!(backoff(1, 0), Duration::from_millis(50));
        assert_eq!(backoff(30, 0), Duration::from_millis(1_000));
        assert!(backoff(30, u64::MAX) <= Duration::from_millis(2_000));
    }

    #[test]
    fn retries_stay_a_fraction_of_requests() {
        let budget = RetryBudget::default();
        let mut retries = 0;
        for _ in 0..1_000 {
            budget.earn();
            // Every request fails and wants two retries.
            for _ in 0..2 {
                if budget.try_spend() {
                    retries += 1;
                }
            }
        }
        // The reserve (10) plus a fifth of 1,000 requests.
        assert_eq!(retries, 210);
    }
}
