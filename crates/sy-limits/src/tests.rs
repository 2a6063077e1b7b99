//! The in-process limiter through the public API, on a clock the tests move by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;

struct Fixture {
    limiter: Limiter,
    now: Arc<AtomicU64>,
}

impl Fixture {
    fn new() -> Self {
        let now = Arc::new(AtomicU64::new(1_000_000));
        let limiter = Limiter::local_with(Clock::Manual(now.clone()));
        Self { limiter, now }
    }

    fn advance(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).expect("short");
        self.now.fetch_add(ms, Ordering::Relaxed);
    }

    async fn admit(&self, rules: &[Rule], tokens: u64) -> Result<Grant, AdmitError> {
        self.limiter
            .admit(&Ask {
                rules,
                tokens,
                lease: "req",
            })
            .await
    }

    async fn grant(&self, rules: &[Rule], tokens: u64) -> Grant {
        self.admit(rules, tokens).await.expect("admitted")
    }

    async fn denied(&self, rules: &[Rule], tokens: u64) -> Denied {
        match self.admit(rules, tokens).await {
            Err(AdmitError::Limited(denied)) => denied,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn entries(&self) -> usize {
        match &self.limiter.inner {
            Backend::Local(local) => local.entries(),
            Backend::Redis(_) => unreachable!(),
        }
    }
}

fn key(id: &str) -> Rule {
    Rule {
        scope: Scope::Key,
        id: id.into(),
        rpm: None,
        tpm: None,
        max_concurrent: None,
    }
}

fn tenant(id: &str) -> Rule {
    Rule {
        scope: Scope::Tenant,
        ..key(id)
    }
}

fn rpm(rule: Rule, limit: u64) -> Rule {
    Rule {
        rpm: Some(limit),
        ..rule
    }
}

fn tpm(rule: Rule, limit: u64) -> Rule {
    Rule {
        tpm: Some(limit),
        ..rule
    }
}

fn concurrent(rule: Rule, limit: u32) -> Rule {
    Rule {
        max_concurrent: Some(limit),
        ..rule
    }
}

fn requests(grant: &Grant) -> Window {
    grant.status().requests.expect("a requests window")
}

fn tokens(grant: &Grant) -> Window {
    grant.status().tokens.expect("a tokens window")
}

#[tokio::test]
async fn rpm_is_exact_then_refills_one_by_one() {
    let f = Fixture::new();
    let rules = [rpm(key("k"), 5)];
    for expected_remaining in (0..5).rev() {
        let grant = f.grant(&rules, 0).await;
        assert_eq!(requests(&grant).remaining, expected_remaining);
        assert_eq!(requests(&grant).limit, 5);
    }
    let denied = f.denied(&rules, 0).await;
    assert_eq!(denied.resource, Resource::Requests);
    assert_eq!(
        (denied.scope, &*denied.id, denied.limit),
        (Scope::Key, "k", 5)
    );
    // 5 a minute: one every 12 s.
    assert_eq!(denied.retry_after, Duration::from_secs(12));
    assert_eq!(denied.status.requests.map(|w| w.remaining), Some(0));
    assert_eq!(
        denied.status.requests.map(|w| w.reset),
        Some(Duration::from_secs(60))
    );

    f.advance(Duration::from_millis(11_999));
    assert_eq!(
        f.denied(&rules, 0).await.retry_after,
        Duration::from_millis(1)
    );
    f.advance(Duration::from_millis(1));
    let grant = f.grant(&rules, 0).await;
    assert_eq!(requests(&grant).remaining, 0);
    assert_eq!(requests(&grant).reset, Duration::from_secs(60));
    f.denied(&rules, 0).await;
}

#[tokio::test]
async fn the_first_request_sees_a_full_window_less_itself() {
    let f = Fixture::new();
    let grant = f.grant(&[tpm(rpm(key("k"), 60), 1_000)], 100).await;
    assert_eq!(
        requests(&grant),
        Window {
            limit: 60,
            remaining: 59,
            reset: Duration::from_secs(1),
        }
    );
    assert_eq!(
        tokens(&grant),
        Window {
            limit: 1_000,
            remaining: 900,
            reset: Duration::from_secs(6),
        }
    );
}

#[tokio::test]
async fn settle_gives_back_an_overestimate() {
    let f = Fixture::new();
    let rules = [tpm(key("k"), 1_000)];
    let mut grant = f.grant(&rules, 800).await;
    assert_eq!(tokens(&grant).remaining, 200);
    grant.settle(200);
    drop(grant);
    let grant = f.grant(&rules, 0).await;
    assert_eq!(tokens(&grant).remaining, 800);
}

#[tokio::test]
async fn give_back_never_overfills() {
    let f = Fixture::new();
    let rules = [tpm(key("k"), 1_000)];
    let mut grant = f.grant(&rules, 500).await;
    f.advance(Duration::from_secs(60));
    grant.settle(0);
    drop(grant);
    assert_eq!(tokens(&f.grant(&rules, 0).await).remaining, 1_000);
}

#[tokio::test]
async fn without_settle_the_estimate_stands() {
    let f = Fixture::new();
    let rules = [tpm(key("k"), 1_000)];
    drop(f.grant(&rules, 300).await);
    assert_eq!(tokens(&f.grant(&rules, 0).await).remaining, 700);
}

#[tokio::test]
async fn an_underestimate_becomes_a_debt_that_delays() {
    let f = Fixture::new();
    let rules = [tpm(key("k"), 1_000)];
    let mut grant = f.grant(&rules, 100).await;
    // 2,400 more than charged: the level goes to -1,500, floored at -capacity.
    grant.settle(2_500);
    drop(grant);
    let denied = f.denied(&rules, 0).await;
    assert_eq!(denied.resource, Resource::Tokens);
    assert_eq!(denied.retry_after, Duration::from_secs(60));
    assert_eq!(denied.status.tokens.map(|w| w.remaining), Some(0));
    assert_eq!(
        denied.status.tokens.map(|w| w.reset),
        Some(Duration::from_secs(120))
    );
    f.advance(Duration::from_secs(60));
    f.grant(&rules, 0).await;
    assert_eq!(
        f.denied(&rules, 1).await.retry_after,
        Duration::from_millis(60)
    );
}

#[tokio::test]
async fn an_estimate_above_the_allowance_is_charged_the_allowance() {
    let f = Fixture::new();
    let rules = [tpm(key("k"), 1_000)];
    let grant = f.grant(&rules, 1_000_000).await;
    assert_eq!(tokens(&grant).remaining, 0);
    let denied = f.denied(&rules, 1_000_000).await;
    assert_eq!(denied.retry_after, Duration::from_secs(60));
}

#[tokio::test]
async fn concurrency_lease_ends_on_drop() {
    let f = Fixture::new();
    let rules = [concurrent(tenant("t"), 2)];
    let first = f.grant(&rules, 0).await;
    let second = f.grant(&rules, 0).await;
    let denied = f.denied(&rules, 0).await;
    assert_eq!(denied.resource, Resource::Concurrency);
    assert_eq!(
        (denied.limit, denied.retry_after),
        (2, Duration::from_secs(1))
    );
    assert_eq!(denied.status, RateStatus::default());
    drop(first);
    let third = f.grant(&rules, 0).await;
    f.denied(&rules, 0).await;
    drop((second, third));
    let _fourth = f.grant(&rules, 0).await;
    let _fifth = f.grant(&rules, 0).await;
}

#[tokio::test]
async fn a_tenant_refusal_takes_nothing_from_the_key() {
    let f = Fixture::new();
    let key_rule = concurrent(tpm(rpm(key("k"), 10), 1_000), 3);
    let both = [key_rule.clone(), rpm(tenant("t"), 2)];
    let _a = f.grant(&both, 100).await;
    let _b = f.grant(&both, 100).await;
    let denied = f.denied(&both, 100).await;
    assert_eq!((denied.scope, &*denied.id), (Scope::Tenant, "t"));
    // The key alone: 8 requests, 800 tokens and one lease were left before this one.
    let _c = f.grant(std::slice::from_ref(&key_rule), 100).await;
    assert_eq!(requests(&_c).remaining, 7);
    assert_eq!(tokens(&_c).remaining, 700);
    f.denied(std::slice::from_ref(&key_rule), 100).await;
}

#[tokio::test]
async fn a_key_refusal_takes_nothing_from_the_tenant() {
    let f = Fixture::new();
    let tenant_rule = tpm(rpm(tenant("t"), 10), 1_000);
    let both = [tpm(key("k"), 150), tenant_rule.clone()];
    let _a = f.grant(&both, 100).await;
    let denied = f.denied(&both, 100).await;
    assert_eq!(
        (denied.scope, denied.resource),
        (Scope::Key, Resource::Tokens)
    );
    // Rounded up: 50 tokens short at 150 a minute.
    assert_eq!(denied.retry_after, Duration::from_secs(20));
    let alone = f.grant(std::slice::from_ref(&tenant_rule), 100).await;
    assert_eq!(requests(&alone).remaining, 8);
    assert_eq!(tokens(&alone).remaining, 800);
}

#[tokio::test]
async fn the_status_is_the_tightest_window_across_rules() {
    let f = Fixture::new();
    let rules = [
        tpm(rpm(key("k"), 100), 500),
        tpm(rpm(tenant("t"), 3), 10_000),
    ];
    let grant = f.grant(&rules, 100).await;
    assert_eq!((requests(&grant).limit, requests(&grant).remaining), (3, 2));
    assert_eq!((tokens(&grant).limit, tokens(&grant).remaining), (500, 400));
}

#[tokio::test]
async fn a_changed_limit_applies_at_once() {
    let f = Fixture::new();
    drop(f.grant(&[rpm(key("k"), 10)], 0).await);
    drop(f.grant(&[rpm(key("k"), 10)], 0).await);
    // Lowered to 5: the 8 left are clamped to 5, this request leaves 4.
    assert_eq!(
        requests(&f.grant(&[rpm(key("k"), 5)], 0).await).remaining,
        4
    );
    // Raised to 600: the level stays, the refill is at the new rate (10 a second).
    assert_eq!(
        requests(&f.grant(&[rpm(key("k"), 600)], 0).await).remaining,
        3
    );
    f.advance(Duration::from_millis(500));
    assert_eq!(
        requests(&f.grant(&[rpm(key("k"), 600)], 0).await).remaining,
        7
    );
    // Removed (while another limit keeps the holder counted), then set again: it starts full.
    drop(f.grant(&[tpm(key("k"), 100)], 0).await);
    assert_eq!(
        requests(&f.grant(&[rpm(key("k"), 20)], 0).await).remaining,
        19
    );
}

#[tokio::test]
async fn a_zero_limit_admits_nothing() {
    let f = Fixture::new();
    let denied = f.denied(&[tpm(key("k"), 0)], 0).await;
    assert_eq!(denied.resource, Resource::Tokens);
    assert_eq!(f.denied(&[concurrent(key("c"), 0)], 0).await.limit, 0);
}

#[tokio::test]
async fn rules_without_limits_admit_without_state() {
    let f = Fixture::new();
    let mut grant = f.grant(&[key("k"), tenant("t")], 1_000_000).await;
    assert_eq!(grant.status(), &RateStatus::default());
    grant.settle(5);
    drop(grant);
    f.grant(&[], 0).await;
    assert_eq!(f.entries(), 0);
}

#[tokio::test]
async fn idle_state_is_forgotten_but_live_leases_are_kept() {
    let f = Fixture::new();
    let held_rule = concurrent(key("held"), 1);
    let _held = f.grant(std::slice::from_ref(&held_rule), 0).await;
    for i in 0..20_000 {
        drop(f.grant(&[rpm(key(&format!("a{i}")), 60)], 0).await);
    }
    assert!(f.entries() > 19_000);
    // Two minutes later every bucket is full again, the same as no state at all.
    f.advance(Duration::from_secs(120));
    for i in 0..20_000 {
        drop(f.grant(&[rpm(key(&format!("b{i}")), 60)], 0).await);
    }
    let entries = f.entries();
    assert!(entries < 25_000, "{entries} entries kept");
    f.denied(std::slice::from_ref(&held_rule), 0).await;
}

#[tokio::test]
async fn a_debt_outlives_a_forgotten_bucket() {
    let f = Fixture::new();
    let rules = [tpm(key("k"), 1_000)];
    let mut grant = f.grant(&[concurrent(tpm(key("k"), 1_000), 5)], 0).await;
    // Hold a lease so the entry lives, then let the tokens bucket fill; settle a large overrun.
    f.advance(Duration::from_secs(120));
    grant.settle(500);
    drop(grant);
    assert_eq!(tokens(&f.grant(&rules, 0).await).remaining, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_admissions_admit_exactly_the_limit() {
    let f = Arc::new(Fixture::new());
    let rules: Arc<[Rule]> = Arc::new([rpm(key("k"), 1_000), concurrent(tenant("t"), 20)]);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (f, rules) = (f.clone(), rules.clone());
            tokio::spawn(async move { f.admit(&rules, 0).await.ok() })
        })
        .collect();
    let mut grants = Vec::new();
    for task in tasks {
        grants.extend(task.await.expect("task"));
    }
    assert_eq!(grants.len(), 20);
    drop(grants);
    let rules: Arc<[Rule]> = Arc::new([rpm(key("r"), 37)]);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (f, rules) = (f.clone(), rules.clone());
            tokio::spawn(async move { f.admit(&rules, 0).await.is_ok() })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.expect("task"));
    }
    assert_eq!(admitted, 37);
}

#[test]
fn health_is_local() {
    assert_eq!(Limiter::local().health(), Health::Local);
}

#[test]
fn a_malformed_url_is_the_only_error() {
    assert!(matches!(
        Limiter::redis("http://nope", "p", RedisPolicy::FailOpen),
        Err(LimitError::Url(_))
    ));
    // Outside a runtime, and with nothing listening: still fine.
    let limiter = Limiter::redis("redis://127.0.0.1:1", "p", RedisPolicy::FailClosed).expect("ok");
    assert_eq!(
        limiter.health(),
        Health::Redis {
            reachable: false,
            policy: RedisPolicy::FailClosed
        }
    );
}

#[tokio::test]
async fn what_the_gateway_holds_across_awaits_is_send_and_small_to_print() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let f = Fixture::new();
    let rules = [concurrent(key("k"), 1)];
    let ask = Ask {
        rules: &rules,
        tokens: 0,
        lease: "r",
    };
    let admission = f.limiter.admit(&ask);
    send(&admission);
    let grant = admission.await.expect("admitted");
    send_sync(&grant);
    send_sync(&f.limiter);
    let redis = Limiter::redis("redis://127.0.0.1:1", "p", RedisPolicy::FailOpen).expect("url");
    send(&redis.admit(&ask));
    assert!(format!("{grant:?}").len() < 400, "{grant:?}");
}
