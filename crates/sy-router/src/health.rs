//! Passive health per deployment: consecutive failures trip a cool-down that doubles on each trip, after
//! which one request probes the deployment (half-open); a success closes the breaker. Latency is tracked
//! as an exponentially weighted moving average for least-latency routing.
//!
//! Nothing here reads a clock: callers pass the current time in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// When a deployment is cooled down and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Consecutive failures that trip the breaker.
    pub failure_threshold: u32,
    /// A failure ratio (per mille, smoothed) that trips the breaker once enough requests were seen.
    pub error_ratio_per_mille: u64,
    pub min_samples: u64,
    pub base_cooldown: Duration,
    pub max_cooldown: Duration,
    /// How long a half-open probe owns the deployment before another request may probe.
    pub probe_window: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            error_ratio_per_mille: 500,
            min_samples: 20,
            base_cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(60),
            probe_window: Duration::from_secs(10),
        }
    }
}

/// The live health of one deployment.
#[derive(Debug, Default)]
pub struct TargetHealth {
    consecutive_failures: AtomicU32,
    trips: AtomicU32,
    /// Until when (ms) the deployment is not routable; 0 when closed.
    cooldown_until_ms: AtomicU64,
    /// EWMA of time to the response head, in microseconds; 0 when unknown.
    ewma_latency_us: AtomicU64,
    /// EWMA of failures (per mille) and how many outcomes it has seen.
    error_ratio: AtomicU64,
    samples: AtomicU64,
}

/// One deployment's health inside its route's contiguous health array (contiguous so a routing
/// decision scans it without chasing a pointer per deployment).
#[derive(Debug, Clone)]
pub struct HealthRef {
    slots: Arc<[TargetHealth]>,
    index: usize,
}

impl HealthRef {
    pub fn new(slots: Arc<[TargetHealth]>, index: usize) -> Self {
        Self { slots, index }
    }
}

impl std::ops::Deref for HealthRef {
    type Target = TargetHealth;

    fn deref(&self) -> &TargetHealth {
        &self.slots[self.index]
    }
}

impl TargetHealth {
    /// A copy of another deployment's current state, for a reloaded table.
    pub fn copy_of(other: &Self) -> Self {
        Self {
            consecutive_failures: AtomicU32::new(
                other.consecutive_failures.load(Ordering::Relaxed),
            ),
            trips: AtomicU32::new(other.trips.load(Ordering::Relaxed)),
            cooldown_until_ms: AtomicU64::new(other.cooldown_until_ms.load(Ordering::Relaxed)),
            ewma_latency_us: AtomicU64::new(other.ewma_latency_us.load(Ordering::Relaxed)),
            error_ratio: AtomicU64::new(other.error_ratio.load(Ordering::Relaxed)),
            samples: AtomicU64::new(other.samples.load(Ordering::Relaxed)),
        }
    }

    /// Whether a request may go here now. When a cool-down has just expired, the first caller
    /// becomes the probe and the others keep waiting for its outcome.
    pub fn admit(&self, now_ms: u64, policy: &HealthPolicy) -> bool {
        let until = self.cooldown_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        if now_ms < until {
            return false;
        }
        let probe_until = now_ms + policy.probe_window.as_millis() as u64;
        self.cooldown_until_ms
            .compare_exchange(until, probe_until, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the deployment is cooling down (for listings and tests).
    pub fn is_cooling(&self, now_ms: u64) -> bool {
        let until = self.cooldown_until_ms.load(Ordering::Acquire);
        until != 0 && now_ms < until
    }

    /// Folds one outcome into the smoothed failure ratio (weight 1/16) and returns the new ratio.
    fn observe(&self, failed: bool) -> u64 {
        self.samples.fetch_add(1, Ordering::Relaxed);
        let sample = if failed { 1000 } else { 0 };
        let mut next = 0;
        let _ = self
            .error_ratio
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                next = old - old / 16 + sample / 16;
                Some(next)
            });
        next
    }

    pub fn record_success(&self, latency: Duration) {
        self.observe(false);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.trips.store(0, Ordering::Relaxed);
        self.cooldown_until_ms.store(0, Ordering::Release);
        let sample = (latency.as_micros() as u64).max(1);
        let old = self.ewma_latency_us.load(Ordering::Relaxed);
        // Weight 1/8 for the new sample: smooth, yet a slow deployment shows within a few requests.
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.ewma_latency_us.store(new.max(1), Ordering::Relaxed);
    }

    pub fn record_failure(&self, now_ms: u64, policy: &HealthPolicy) {
        let ratio = self.observe(true);
        let failures = self.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
        let flaky = self.samples.load(Ordering::Relaxed) >= policy.min_samples
            && ratio >= policy.error_ratio_per_mille;
        if failures >= policy.failure_threshold || flaky {
            let trips = self.trips.fetch_add(1, Ordering::AcqRel);
            let cooldown = policy
                .base_cooldown
                .saturating_mul(1u32 << trips.min(16))
                .min(policy.max_cooldown);
            self.cooldown_until_ms
                .store(now_ms + cooldown.as_millis() as u64, Ordering::Release);
        }
    }

    /// Observed latency in microseconds; 0 when nothing has been observed yet.
    pub fn latency_us(&self) -> u64 {
        self.ewma_latency_us.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_after_consecutive_failures_and_probes_once_after_cooldown() {
        let policy = HealthPolicy::default();
        let h = TargetHealth::default();
        h.record_failure(1_000, &policy);
        h.record_failure(1_000, &policy);
        assert!(h.admit(1_000, &policy), "two failures do not trip");
        h.record_failure(1_000, &policy);
        assert!(!h.admit(1_000, &policy));
        assert!(!h.admit(5_999, &policy), "cooling for 5 s");
        assert!(
            h.admit(6_000, &policy),
            "the first request after the cool-down probes"
        );
        assert!(!h.admit(6_001, &policy), "only one probe at a time");
        h.record_failure(6_010, &policy);
        assert!(
            !h.admit(15_000, &policy),
            "a failed probe doubles the cool-down (10 s)"
        );
        assert!(h.admit(16_010, &policy));
        h.record_success(Duration::from_millis(5));
        assert!(
            h.admit(16_011, &policy),
            "a successful probe closes the breaker"
        );
        assert!(!h.is_cooling(16_011));
    }

    #[test]
    fn a_high_error_ratio_trips_without_consecutive_failures() {
        let policy = HealthPolicy::default();
        let h = TargetHealth::default();
        // Alternate success and failure: never three failures in a row.
        let mut tripped_at = None;
        for i in 0..200 {
            if i % 3 == 0 {
                h.record_success(Duration::from_millis(1));
            } else {
                h.record_failure(0, &policy);
            }
            if tripped_at.is_none() && !h.admit(0, &policy) {
                tripped_at = Some(i);
            }
        }
        let at = tripped_at.expect("two failures in three requests trip the breaker");
        assert!(at >= 19, "not before enough samples: {at}");
        // One failure in four stays under the ratio.
        let calm = TargetHealth::default();
        for i in 0..400 {
            if i % 4 == 0 {
                calm.record_failure(0, &policy);
            } else {
                calm.record_success(Duration::from_millis(1));
            }
        }
        assert!(calm.admit(0, &policy));
    }

    #[test]
    fn cooldown_is_capped() {
        let policy = HealthPolicy::default();
        let h = TargetHealth::default();
        for _ in 0..40 {
            h.record_failure(0, &policy);
        }
        assert!(!h.admit(59_999, &policy));
        assert!(h.admit(60_000, &policy));
    }

    #[test]
    fn latency_is_smoothed() {
        let h = TargetHealth::default();
        assert_eq!(h.latency_us(), 0);
        h.record_success(Duration::from_micros(800));
        assert_eq!(h.latency_us(), 800);
        h.record_success(Duration::from_micros(1600));
        assert_eq!(h.latency_us(), 900);
    }
}
