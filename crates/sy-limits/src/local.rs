//! Counters in this process: sharded maps of buckets and lease counts, forgotten once idle.

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::bucket::Bucket;
use crate::decide::{self, Held, Levels};
use crate::{Ask, Denied, Rule, Scope};

/// Enough that unrelated holders rarely wait on one another, few enough to lock in order cheaply.
const SHARDS: usize = 16;

/// A shard is swept for idle state when it reaches this many entries, and then again at twice what
/// the sweep kept: the cost per admission stays constant and memory follows the active holders.
const SWEEP_FLOOR: usize = 1024;

type Key = (Scope, Arc<str>);

/// Milliseconds since an arbitrary origin.
#[derive(Debug, Clone)]
pub(crate) enum Clock {
    Real(Instant),
    #[cfg(test)]
    Manual(Arc<std::sync::atomic::AtomicU64>),
}

impl Clock {
    pub fn real() -> Self {
        Self::Real(Instant::now())
    }

    fn now_ms(&self) -> u64 {
        match self {
            Self::Real(origin) => u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX),
            #[cfg(test)]
            Self::Manual(now) => now.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

pub(crate) struct LocalLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: FastHash,
    clock: Clock,
}

/// By hand: a grant's or a limiter's `Debug` must not print every holder's counters.
impl std::fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("shards", &self.shards.len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Shard {
    map: HashMap<Key, Counters, FastHash>,
    sweep_at: usize,
}

impl Shard {
    fn new(hasher: FastHash) -> Self {
        Self {
            map: HashMap::with_hasher(hasher),
            sweep_at: SWEEP_FLOOR,
        }
    }
}

/// One holder's counters. A bucket remembers the limit it was last used with, to tell later
/// whether it has become full (idle) and to apply corrections.
#[derive(Debug, Default)]
struct Counters {
    requests: Option<(u64, Bucket)>,
    tokens: Option<(u64, Bucket)>,
    leases: u64,
}

impl Counters {
    /// Brings the buckets up to date under the rule's current limits.
    fn load(&mut self, rule: &Rule, now: u64) -> Levels {
        Levels {
            requests: sync(&mut self.requests, rule.rpm, now),
            tokens: sync(&mut self.tokens, rule.tpm, now),
            leases: self.leases,
        }
    }

    fn store(&mut self, lv: &Levels) {
        if let Some((_, bucket)) = &mut self.requests {
            bucket.level = lv.requests;
        }
        if let Some((_, bucket)) = &mut self.tokens {
            bucket.level = lv.tokens;
        }
        self.leases = lv.leases;
    }

    fn is_idle(&self, now: u64) -> bool {
        let full = |slot: &Option<(u64, Bucket)>| {
            slot.is_none_or(|(limit, bucket)| bucket.is_full_at(limit, now))
        };
        self.leases == 0 && full(&self.requests) && full(&self.tokens)
    }
}

fn sync(slot: &mut Option<(u64, Bucket)>, limit: Option<u64>, now: u64) -> i64 {
    let Some(limit) = limit else {
        *slot = None;
        return 0;
    };
    let (stored, bucket) = slot.get_or_insert_with(|| (limit, Bucket::full(limit, now)));
    *stored = limit;
    bucket.refill(limit, now);
    bucket.level
}

impl LocalLimiter {
    pub fn new(clock: Clock) -> Self {
        let hasher = FastHash::new();
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(hasher)))
                .collect(),
            hasher,
            clock,
        }
    }

    /// Admits `ask` against every limited rule in `rules` (a subset of `ask.rules`), or takes nothing.
    pub fn admit(
        &self,
        ask: &Ask<'_>,
        rules: &[&Rule],
    ) -> Result<(Vec<Levels>, Vec<Held>), Denied> {
        let now = self.clock.now_ms();
        let shards: Vec<usize> = rules
            .iter()
            .map(|r| self.shard_of(r.scope, &r.id))
            .collect();
        let mut locked = self.lock(&shards);
        let mut levels: Vec<Levels> = rules
            .iter()
            .zip(&shards)
            .map(|(rule, &shard)| locked.counters(shard, rule).load(rule, now))
            .collect();
        if let Some(denied) = decide::refusal(rules, &levels, ask.tokens) {
            return Err(denied);
        }
        for ((rule, &shard), lv) in rules.iter().zip(&shards).zip(&mut levels) {
            decide::take(rule, lv, ask.tokens);
            locked.counters(shard, rule).store(lv);
        }
        locked.sweep_if_large(now);
        Ok((levels, decide::holds(rules, ask.tokens)))
    }

    /// Ends a grant: its leases, and its token correction when the real count is known.
    pub fn release(&self, held: &[Held], actual: Option<u64>) {
        let now = self.clock.now_ms();
        let shards: Vec<usize> = held.iter().map(|h| self.shard_of(h.scope, &h.id)).collect();
        let mut locked = self.lock(&shards);
        for (h, &shard) in held.iter().zip(&shards) {
            let correction = h.correction(actual);
            match locked.shard(shard).map.entry((h.scope, h.id.clone())) {
                Entry::Occupied(entry) => {
                    let counters = entry.into_mut();
                    if h.lease {
                        counters.leases = counters.leases.saturating_sub(1);
                    }
                    // No bucket any more: the limit was removed since, nothing to correct.
                    if let (Some((limit, bucket)), Some((_, delta))) =
                        (&mut counters.tokens, correction)
                    {
                        bucket.refill(*limit, now);
                        bucket.adjust(*limit, delta);
                    }
                }
                // Forgotten while full and without leases: only a debt changes anything.
                Entry::Vacant(entry) => {
                    if let Some((limit, delta)) = correction.filter(|&(_, delta)| delta < 0) {
                        let mut bucket = Bucket::full(limit, now);
                        bucket.adjust(limit, delta);
                        entry.insert(Counters {
                            tokens: Some((limit, bucket)),
                            ..Counters::default()
                        });
                    }
                }
            }
        }
    }

    fn shard_of(&self, scope: Scope, id: &str) -> usize {
        let hash = self.hasher.hash_one((scope, id));
        // Mixed again, so the shard doesn't follow the bits the maps index and tag with.
        let mixed = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        usize::try_from(mixed % SHARDS as u64).unwrap_or(0)
    }

    /// Locks the shards in ascending order, so two admissions never wait on each other crosswise.
    fn lock(&self, shards: &[usize]) -> Locked<'_> {
        let mut order = shards.to_vec();
        order.sort_unstable();
        order.dedup();
        let guards = order
            .into_iter()
            .map(|i| {
                // Counters stay consistent whatever panicked while holding the lock.
                let guard = self.shards[i]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                (i, guard)
            })
            .collect();
        Locked { guards }
    }

    #[cfg(test)]
    pub fn entries(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }
}

struct Locked<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl Locked<'_> {
    fn shard(&mut self, index: usize) -> &mut Shard {
        // Every shard asked for was locked by `lock`, so the search always finds it.
        let position = self
            .guards
            .iter()
            .position(|(i, _)| *i == index)
            .unwrap_or_default();
        &mut self.guards[position].1
    }

    fn counters(&mut self, shard: usize, rule: &Rule) -> &mut Counters {
        self.shard(shard)
            .map
            .entry((rule.scope, rule.id.clone()))
            .or_default()
    }

    fn sweep_if_large(&mut self, now: u64) {
        for (_, shard) in &mut self.guards {
            if shard.map.len() >= shard.sweep_at.max(SWEEP_FLOOR) {
                shard.map.retain(|_, counters| !counters.is_idle(now));
                shard.sweep_at = (shard.map.len() * 2).max(SWEEP_FLOOR);
            }
        }
    }
}

/// FxHash's mixing with a per-limiter seed: a few nanoseconds for a short id where SipHash takes
/// tens, twice per rule per admission. The ids come from the gateway's configuration and key store,
/// not from what a client sends, so SipHash's flooding resistance buys nothing here.
#[derive(Debug, Clone, Copy)]
struct FastHash(u64);

impl FastHash {
    fn new() -> Self {
        Self(RandomState::new().hash_one(0_u8))
    }
}

impl BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(word) ^ (rest.len() as u64) << 59);
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn write_isize(&mut self, i: isize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weakest; hashbrown indexes with them.
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_alike_but_for_their_last_characters_spread_over_the_shards() {
        let limiter = LocalLimiter::new(Clock::real());
        let mut counts = [0_usize; SHARDS];
        for i in 0..1_600 {
            counts[limiter.shard_of(Scope::Key, &format!("key-{i}"))] += 1;
        }
        assert!(
            counts.iter().all(|&n| (50..=150).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_fast_hash_tells_apart_what_it_should() {
        let h = FastHash::new();
        let mut seen: Vec<u64> = (0..10_000)
            .map(|i| h.hash_one((Scope::Key, format!("k{i}"))))
            .collect();
        seen.extend((0..10_000).map(|i| h.hash_one((Scope::Tenant, format!("k{i}")))));
        seen.push(h.hash_one((Scope::Key, "")));
        seen.push(h.hash_one((Scope::Key, "\0")));
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 20_002);
    }
}
