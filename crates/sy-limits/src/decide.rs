//! The admission decision over counters already brought up to date: which rule refuses, what the
//! rate-limit headers say, and what a grant must give back. Shared by the local limiter and by the
//! reading of the Redis script's reply, so both answer alike.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Duration;

use crate::bucket::{self, UNITS, clamp_limit, units};
use crate::{Denied, RateStatus, Resource, Rule, Scope, Window};

/// The retry hint for a refused concurrency lease: leases end at no predictable time.
pub(crate) const CONCURRENCY_RETRY: Duration = Duration::from_secs(1);

/// One rule's counters at the moment of a decision. Fields of absent limits mean nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Levels {
    /// Bucket units (see [`bucket`]).
    pub requests: i64,
    pub tokens: i64,
    /// Live leases.
    pub leases: u64,
}

pub(crate) fn has_limits(rule: &Rule) -> bool {
    rule.rpm.is_some() || rule.tpm.is_some() || rule.max_concurrent.is_some()
}

/// Tokens charged to a tokens-per-minute bucket: the estimate, capped at a whole minute's allowance
/// so a large request is still admissible.
pub(crate) fn token_charge(tokens: u64, tpm: u64) -> u64 {
    tokens.min(clamp_limit(tpm))
}

/// The first refusing rule and resource, in rule order and then requests, tokens, concurrency; or
/// `None` when every rule admits. `retry_after` is the longest wait of all refusals, since the retry
/// needs every one of them to pass.
pub(crate) fn refusal(rules: &[&Rule], levels: &[Levels], tokens: u64) -> Option<Denied> {
    let mut first: Option<(&Rule, Resource, u64)> = None;
    let mut retry_after = Duration::ZERO;
    for (rule, lv) in rules.iter().zip(levels) {
        for (resource, limit, wait) in refusals(rule, lv, tokens).into_iter().flatten() {
            first.get_or_insert((rule, resource, limit));
            retry_after = retry_after.max(wait);
        }
    }
    let (rule, resource, limit) = first?;
    Some(Denied {
        scope: rule.scope,
        id: rule.id.clone(),
        resource,
        limit,
        retry_after,
        status: status(rules, levels),
    })
}

fn refusals(rule: &Rule, lv: &Levels, tokens: u64) -> [Option<(Resource, u64, Duration)>; 3] {
    let requests = rule.rpm.map(clamp_limit).and_then(|limit| {
        (!bucket::admits(lv.requests, limit, UNITS)).then(|| {
            let wait = bucket::wait(lv.requests, limit, UNITS);
            (Resource::Requests, limit, wait)
        })
    });
    let tokens = rule.tpm.map(clamp_limit).and_then(|limit| {
        let cost = units(token_charge(tokens, limit));
        (!bucket::admits(lv.tokens, limit, cost)).then(|| {
            (
                Resource::Tokens,
                limit,
                bucket::wait(lv.tokens, limit, cost),
            )
        })
    });
    let concurrency = rule
        .max_concurrent
        .map(u64::from)
        .filter(|&max| lv.leases >= max)
        .map(|max| (Resource::Concurrency, max, CONCURRENCY_RETRY));
    [requests, tokens, concurrency]
}

/// Takes one admitted request's share from one rule's counters.
pub(crate) fn take(rule: &Rule, lv: &mut Levels, tokens: u64) {
    if rule.rpm.is_some() {
        lv.requests -= UNITS;
    }
    if let Some(tpm) = rule.tpm {
        lv.tokens -= units(token_charge(tokens, tpm));
    }
    if rule.max_concurrent.is_some() {
        lv.leases += 1;
    }
}

/// The tightest request and token windows across the rules: least remaining, then latest reset.
pub(crate) fn status(rules: &[&Rule], levels: &[Levels]) -> RateStatus {
    let mut status = RateStatus::default();
    for (rule, lv) in rules.iter().zip(levels) {
        if let Some(limit) = rule.rpm {
            tighter(&mut status.requests, window(lv.requests, limit));
        }
        if let Some(limit) = rule.tpm {
            tighter(&mut status.tokens, window(lv.tokens, limit));
        }
    }
    status
}

fn window(level: i64, limit: u64) -> Window {
    Window {
        limit: clamp_limit(limit),
        remaining: bucket::remaining(level),
        reset: bucket::until_full(level, limit),
    }
}

fn tighter(slot: &mut Option<Window>, candidate: Window) {
    let key = |w: &Window| (w.remaining, Reverse(w.reset));
    if slot.is_none_or(|current| key(&candidate) < key(&current)) {
        *slot = Some(candidate);
    }
}

/// What one rule of a grant gives back when the grant is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub scope: Scope,
    pub id: Arc<str>,
    /// The tokens-per-minute limit at admission and the tokens charged then.
    pub tpm: Option<(u64, u64)>,
    /// A concurrency lease to end.
    pub lease: bool,
}

impl Held {
    /// The units to add to the tokens bucket once the real count is known (negative: take more).
    pub fn correction(&self, actual: Option<u64>) -> Option<(u64, i64)> {
        let ((limit, charged), actual) = self.tpm.zip(actual)?;
        let delta = units(charged).saturating_sub(units(actual));
        (delta != 0).then_some((limit, delta))
    }
}

/// The holds of a request admitted under `rules` (those with something to give back).
pub(crate) fn holds(rules: &[&Rule], tokens: u64) -> Vec<Held> {
    rules
        .iter()
        .filter(|rule| rule.tpm.is_some() || rule.max_concurrent.is_some())
        .map(|rule| Held {
            scope: rule.scope,
            id: rule.id.clone(),
            tpm: rule.tpm.map(|tpm| (tpm, token_charge(tokens, tpm))),
            lease: rule.max_concurrent.is_some(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(scope: Scope, id: &str, rpm: Option<u64>, tpm: Option<u64>, max: Option<u32>) -> Rule {
        Rule {
            scope,
            id: id.into(),
            rpm,
            tpm,
            max_concurrent: max,
        }
    }

    #[test]
    fn the_first_refusal_is_named_and_the_longest_wait_reported() {
        let key = rule(Scope::Key, "k", Some(60), None, None);
        let tenant = rule(Scope::Tenant, "t", Some(20), Some(1_000), None);
        let rules = [&key, &tenant];
        let levels = [
            Levels {
                requests: UNITS / 2,
                ..Levels::default()
            },
            Levels {
                requests: 0,
                tokens: units(1_000),
                leases: 0,
            },
        ];
        let denied = refusal(&rules, &levels, 10).expect("refused");
        assert_eq!((denied.scope, &*denied.id), (Scope::Key, "k"));
        assert_eq!(denied.resource, Resource::Requests);
        assert_eq!(denied.limit, 60);
        // The key needs 0.5 s, the tenant 3 s: a retry before 3 s would be refused again.
        assert_eq!(denied.retry_after, Duration::from_secs(3));
        // Both have none left; the tenant's is full later (60 s against 59.5 s).
        let requests = denied.status.requests.expect("requests window");
        assert_eq!((requests.limit, requests.remaining), (20, 0));
        assert_eq!(requests.reset, Duration::from_secs(60));
    }

    #[test]
    fn the_status_is_the_window_with_least_remaining() {
        let key = rule(Scope::Key, "k", Some(10), Some(100), None);
        let tenant = rule(Scope::Tenant, "t", Some(1_000), Some(50), None);
        let levels = [
            Levels {
                requests: units(3),
                tokens: units(90),
                leases: 0,
            },
            Levels {
                requests: units(500),
                tokens: units(40),
                leases: 0,
            },
        ];
        let status = status(&[&key, &tenant], &levels);
        assert_eq!(
            status.requests.map(|w| (w.limit, w.remaining)),
            Some((10, 3))
        );
        assert_eq!(
            status.tokens.map(|w| (w.limit, w.remaining)),
            Some((50, 40))
        );
        assert_eq!(
            status.tokens.map(|w| w.reset),
            Some(Duration::from_secs(12))
        );
    }

    #[test]
    fn no_limit_no_window() {
        let only_concurrency = rule(Scope::Key, "k", None, None, Some(2));
        let status = status(&[&only_concurrency], &[Levels::default()]);
        assert_eq!(status, RateStatus::default());
    }

    #[test]
    fn concurrency_refuses_at_the_limit() {
        let r = rule(Scope::Tenant, "t", None, None, Some(2));
        let mut lv = Levels::default();
        assert!(refusal(&[&r], &[lv], 0).is_none());
        take(&r, &mut lv, 0);
        take(&r, &mut lv, 0);
        let denied = refusal(&[&r], &[lv], 0).expect("refused");
        assert_eq!(denied.resource, Resource::Concurrency);
        assert_eq!(denied.retry_after, CONCURRENCY_RETRY);
    }

    #[test]
    fn a_large_estimate_is_charged_the_allowance() {
        let r = rule(Scope::Key, "k", None, Some(100), None);
        let mut lv = Levels {
            tokens: units(100),
            ..Levels::default()
        };
        assert!(refusal(&[&r], &[lv], 1_000_000).is_none());
        take(&r, &mut lv, 1_000_000);
        assert_eq!(lv.tokens, 0);
        let held = holds(&[&r], 1_000_000);
        assert_eq!(held[0].tpm, Some((100, 100)));
        assert_eq!(held[0].correction(Some(30)), Some((100, units(70))));
        assert_eq!(held[0].correction(Some(100)), None);
        assert_eq!(held[0].correction(None), None);
    }
}
