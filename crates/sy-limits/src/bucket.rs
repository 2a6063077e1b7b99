//! Token-bucket arithmetic in exact integers: levels, refill, debt and waits. No clock, no I/O.
//!
//! A level counts 1/60000 of a token, so a bucket of `limit` per minute refills by exactly `limit`
//! units per millisecond and no fraction is ever rounded away. `admit.lua` and `release.lua` use
//! the same unit and the same rules.

use std::time::Duration;

/// Units per token.
pub(crate) const UNITS: i64 = 60_000;

/// From the deepest debt (−capacity) to full takes two minutes; a longer idle changes nothing more.
pub(crate) const FULL_SWING_MS: u64 = 120_000;

/// Limits above this count as this: it keeps every level below 2^53, exact in Lua's doubles.
pub const MAX_LIMIT: u64 = 10_000_000_000;

/// The retry hint for a zero limit, which never admits.
const NEVER: Duration = Duration::from_secs(60);

/// A limit as the arithmetic uses it.
pub(crate) fn clamp_limit(limit: u64) -> u64 {
    limit.min(MAX_LIMIT)
}

/// `tokens` in units, saturating (a token count may be anything a client claims).
pub(crate) fn units(tokens: u64) -> i64 {
    i64::try_from(tokens)
        .unwrap_or(i64::MAX)
        .saturating_mul(UNITS)
}

/// A full bucket's level.
pub(crate) fn capacity(limit: u64) -> i64 {
    units(clamp_limit(limit))
}

/// Whole tokens available now (a debt shows as none).
pub(crate) fn remaining(level: i64) -> u64 {
    u64::try_from(level.max(0) / UNITS).unwrap_or(0)
}

/// Whether a request costing `cost` units fits. A zero limit admits nothing, not even a free request.
pub(crate) fn admits(level: i64, limit: u64, cost: i64) -> bool {
    limit > 0 && level >= cost
}

/// How long until `cost` units fit.
pub(crate) fn wait(level: i64, limit: u64, cost: i64) -> Duration {
    if limit == 0 {
        return NEVER;
    }
    millis_to_fill(cost.saturating_sub(level), limit)
}

/// How long until the bucket is full again.
pub(crate) fn until_full(level: i64, limit: u64) -> Duration {
    millis_to_fill(capacity(limit).saturating_sub(level), limit)
}

fn millis_to_fill(deficit: i64, limit: u64) -> Duration {
    let limit = clamp_limit(limit);
    if deficit <= 0 || limit == 0 {
        return Duration::ZERO;
    }
    let deficit = deficit.unsigned_abs();
    Duration::from_millis(deficit.div_ceil(limit))
}

/// One bucket's stored state: its level and when it was last brought up to date (ms, any epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub level: i64,
    pub at: u64,
}

impl Bucket {
    /// A bucket starts full.
    pub fn full(limit: u64, now: u64) -> Self {
        Self {
            level: capacity(limit),
            at: now,
        }
    }

    /// Brings the level to `now` under `limit`. A limit changed since the last call applies at
    /// once: the level is clamped to the new capacity (and the debt to its negative).
    pub fn refill(&mut self, limit: u64, now: u64) {
        let limit = clamp_limit(limit);
        let cap = capacity(limit);
        self.level = self.level.clamp(-cap, cap);
        // A clock that went back refills nothing until it catches up, rather than refilling twice.
        if now > self.at {
            let elapsed = (now - self.at).min(FULL_SWING_MS);
            // At most 120_000 × MAX_LIMIT: no overflow.
            let gained = i64::try_from(elapsed * limit).unwrap_or(i64::MAX);
            self.level = self.level.saturating_add(gained).min(cap);
            self.at = now;
        }
    }

    /// Adds (gives back) or removes (takes more) `delta` units, staying within ±capacity.
    pub fn adjust(&mut self, limit: u64, delta: i64) {
        let cap = capacity(limit);
        self.level = self.level.saturating_add(delta).clamp(-cap, cap);
    }

    /// Full at `now` under `limit`: the same as no state at all, so it may be forgotten.
    pub fn is_full_at(&self, limit: u64, now: u64) -> bool {
        let mut bucket = *self;
        bucket.refill(limit, now);
        bucket.level >= capacity(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn starts_full() {
        let b = Bucket::full(20, 1_000);
        assert_eq!(remaining(b.level), 20);
        assert_eq!(until_full(b.level, 20), Duration::ZERO);
        assert!(b.is_full_at(20, 1_000));
    }

    #[test]
    fn refills_limit_units_per_millisecond_without_losing_fractions() {
        let mut b = Bucket { level: 0, at: 0 };
        // 1 per minute, brought up to date every millisecond: a per-call rounding would never refill.
        for now in 1..=60_000 {
            b.refill(1, now);
        }
        assert_eq!(b.level, UNITS);
        assert_eq!(remaining(b.level), 1);
    }

    #[test]
    fn refill_stops_at_capacity() {
        let mut b = Bucket { level: 0, at: 0 };
        b.refill(10, 10 * 60_000);
        assert_eq!(b.level, capacity(10));
        assert_eq!(b.at, 600_000);
    }

    #[test]
    fn refill_is_proportional_to_time() {
        let mut b = Bucket { level: 0, at: 0 };
        b.refill(60, 1_500);
        // 60 a minute is one a second: 1.5 tokens.
        assert_eq!(b.level, UNITS * 3 / 2);
        assert_eq!(remaining(b.level), 1);
    }

    #[test]
    fn clock_going_back_refills_nothing() {
        let mut b = Bucket {
            level: 0,
            at: 5_000,
        };
        b.refill(60, 4_000);
        assert_eq!(
            b,
            Bucket {
                level: 0,
                at: 5_000
            }
        );
        b.refill(60, 6_000);
        assert_eq!(b.level, UNITS);
    }

    #[test]
    fn a_lowered_limit_clamps_at_once() {
        let mut b = Bucket::full(100, 0);
        b.refill(10, 0);
        assert_eq!(b.level, capacity(10));
        // And a debt deeper than the new capacity is forgiven down to it.
        let mut b = Bucket {
            level: -capacity(100),
            at: 0,
        };
        b.refill(10, 0);
        assert_eq!(b.level, -capacity(10));
    }

    #[test]
    fn a_raised_limit_refills_at_the_new_rate_from_the_old_level() {
        let mut b = Bucket::full(10, 0);
        b.refill(100, 0);
        assert_eq!(remaining(b.level), 10);
        b.refill(100, 600);
        // 100 a minute for 0.6 s: one more token.
        assert_eq!(remaining(b.level), 11);
    }

    #[test]
    fn debt_is_bounded_and_delays() {
        let mut b = Bucket::full(100, 0);
        b.adjust(100, -units(1_000));
        assert_eq!(b.level, -capacity(100));
        assert!(!admits(b.level, 100, 0));
        // Paying off a whole capacity of debt takes a minute.
        assert_eq!(wait(b.level, 100, 0), Duration::from_secs(60));
        assert_eq!(until_full(b.level, 100), Duration::from_secs(120));
        b.refill(100, 60_000);
        assert_eq!(b.level, 0);
        assert!(admits(b.level, 100, 0));
    }

    #[test]
    fn give_back_never_exceeds_capacity() {
        let mut b = Bucket::full(100, 0);
        b.adjust(100, -units(30));
        b.adjust(100, units(50));
        assert_eq!(b.level, capacity(100));
    }

    #[test]
    fn admits_only_what_fits() {
        let level = units(5);
        assert!(admits(level, 10, units(5)));
        assert!(!admits(level, 10, units(6)));
        assert!(!admits(level, 0, 0));
    }

    #[test]
    fn wait_is_the_time_to_refill_the_deficit() {
        // 20 a minute is one every 3 s.
        assert_eq!(wait(0, 20, UNITS), Duration::from_secs(3));
        assert_eq!(wait(UNITS / 2, 20, UNITS), Duration::from_millis(1_500));
        assert_eq!(wait(UNITS, 20, UNITS), Duration::ZERO);
        // Rounded up, so a retry at the hint is admitted.
        assert_eq!(wait(0, 7, UNITS), MS * 8_572);
        assert_eq!(wait(0, 0, UNITS), NEVER);
    }

    #[test]
    fn until_full_rounds_up() {
        assert_eq!(until_full(capacity(7) - 1, 7), MS);
        assert_eq!(until_full(capacity(20) - UNITS, 20), Duration::from_secs(3));
    }

    #[test]
    fn huge_limits_and_counts_saturate_instead_of_overflowing() {
        let mut b = Bucket::full(u64::MAX, 0);
        assert_eq!(b.level, capacity(MAX_LIMIT));
        b.adjust(u64::MAX, -units(u64::MAX));
        assert_eq!(b.level, -capacity(MAX_LIMIT));
        b.refill(u64::MAX, u64::MAX);
        assert_eq!(b.level, capacity(MAX_LIMIT));
        assert!(capacity(MAX_LIMIT) < 1 << 53);
    }
}
