//! Budgets: stored on tenants and keys, leased to nodes all-or-none under concurrency, settled by
//! usage records exactly once, released when their node stops beating.

use std::sync::Arc;

use sy_store::{
    Budget, BudgetPeriod, BudgetScope, CounterKey, KeyPatch, Lease, LeaseAsk, Store, TenantPatch,
};

use super::usage::record;
use super::{Db, new_key, tenant};

/// 2026-11-01T00:00:00-04:00 (midnight in New York) in Unix milliseconds.
const PERIOD: i64 = 1_793_505_600_000;
const NOW: i64 = 1_794_000_000_000;

fn budget(limit_nano: i64, soft: bool) -> Budget {
    Budget {
        limit_nano,
        period: BudgetPeriod::Month,
        tz: "America/New_York".to_owned(),
        soft,
    }
}

fn counter(scope: BudgetScope, owner: &str) -> CounterKey {
    CounterKey {
        scope,
        owner: owner.to_owned(),
        period_start: PERIOD,
    }
}

fn ask(counter: &CounterKey, limit_nano: i64, want_nano: i64, need_nano: i64) -> LeaseAsk<'_> {
    LeaseAsk {
        counter,
        limit_nano,
        soft: false,
        want_nano,
        need_nano,
    }
}

/// The amounts granted, or `None` when refused.
async fn lease(store: &Store, asks: &[LeaseAsk<'_>]) -> Option<Vec<i64>> {
    match store.lease_budgets(asks, NOW).await.unwrap() {
        Lease::Granted(granted) => Some(granted.iter().map(|(g, _)| *g).collect()),
        Lease::Refused(_) => None,
    }
}

async fn standing(store: &Store, c: &CounterKey) -> (i64, i64) {
    store
        .budget_standing(c.scope, &c.owner, c.period_start)
        .await
        .unwrap()
}

pub async fn budgets_round_trip(db: &Db) {
    let store = db.open().await;
    let mut new = tenant("acme", None, None, None);
    new.budget = Some(budget(5 * 1_000_000_000, false));
    let created = store.create_tenant(&new).await.unwrap();
    assert_eq!(created.budget, new.budget);
    assert_eq!(
        store.tenant("acme").await.unwrap().unwrap().budget,
        new.budget
    );

    // A patch that leaves the budget alone keeps it; `Some(None)` removes it.
    let patched = store
        .update_tenant(
            "acme",
            &TenantPatch {
                rpm: Some(Some(10)),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.budget, new.budget);
    let soft = Budget {
        period: BudgetPeriod::Total,
        tz: "UTC".to_owned(),
        ..budget(7, true)
    };
    let patched = store
        .update_tenant(
            "acme",
            &TenantPatch {
                budget: Some(Some(soft.clone())),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.budget, Some(soft));
    let cleared = store
        .update_tenant(
            "acme",
            &TenantPatch {
                budget: Some(None),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.budget, None);

    let (_, mut key) = new_key("acme", false);
    key.budget = Some(budget(123_456_789, false));
    let created = store.create_key(&key).await.unwrap();
    assert_eq!(created.budget, key.budget);
    let by_hash = store.key_by_hash(&key.hash).await.unwrap().unwrap();
    assert_eq!(by_hash.budget, key.budget);
    let patched = store
        .update_key(
            &key.id,
            &KeyPatch {
                budget: Some(None),
                ..KeyPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.budget, None);

    let negative = store
        .update_key(
            &key.id,
            &KeyPatch {
                budget: Some(Some(budget(-1, false))),
                ..KeyPatch::default()
            },
        )
        .await;
    assert!(negative.is_err(), "{negative:?}");
}

/// 50 leases at once against a budget that fits 20, through two store handles (two nodes):
/// exactly 20 are granted, and the counter holds exactly their money.
pub async fn budget_race_admits_exactly_what_fits(db: &Db) {
    let nodes = [Arc::new(db.open().await), Arc::new(db.open().await)];
    let c = counter(BudgetScope::Key, "key_race");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (store, c) = (Arc::clone(&nodes[i % 2]), c.clone());
        tasks.push(tokio::spawn(async move {
            lease(&store, &[ask(&c, 20_000, 1_000, 1_000)]).await
        }));
    }
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap().is_some() {
            granted += 1;
        }
    }
    assert_eq!(granted, 20);
    assert_eq!(standing(&nodes[0], &c).await, (0, 20_000));
}

/// A lease grants what is wanted while it fits, then what is needed, then nothing.
pub async fn leases_shrink_to_what_is_needed_near_the_limit(db: &Db) {
    let store = db.open().await;
    let c = counter(BudgetScope::Tenant, "acme");
    assert_eq!(
        lease(&store, &[ask(&c, 10_000, 6_000, 1_000)]).await,
        Some(vec![6_000])
    );
    assert_eq!(
        lease(&store, &[ask(&c, 10_000, 6_000, 1_000)]).await,
        Some(vec![1_000])
    );
    assert_eq!(lease(&store, &[ask(&c, 10_000, 5_000, 3_001)]).await, None);
    assert_eq!(
        lease(&store, &[ask(&c, 10_000, 3_000, 3_000)]).await,
        Some(vec![3_000])
    );
    assert_eq!(standing(&store, &c).await, (0, 10_000));
    store.return_budget_lease(&c, 4_000).await.unwrap();
    assert_eq!(standing(&store, &c).await, (0, 6_000));
}

/// A request that fits its key's budget but not its tenant's takes nothing at all.
pub async fn budget_leases_are_all_or_none(db: &Db) {
    let store = db.open().await;
    let key = counter(BudgetScope::Key, "key_a");
    let acme = counter(BudgetScope::Tenant, "acme");
    let both = [
        ask(&key, 1_000_000, 1_000, 1_000),
        ask(&acme, 1_500, 1_000, 1_000),
    ];
    assert_eq!(
        lease(&store, &both).await,
        Some(vec![1_000, 1_000]),
        "in the order asked"
    );
    let refused = store.lease_budgets(&both, NOW).await.unwrap();
    let Lease::Refused(standing_now) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(standing_now.counter, acme);
    assert_eq!(
        (standing_now.spent_nano, standing_now.reserved_nano),
        (0, 1_000)
    );
    assert_eq!(
        standing(&store, &key).await,
        (0, 1_000),
        "the key's grant was rolled back"
    );
}

/// The usage record moves its cost (rounded up to the nano-dollar) from reserved to spent, once.
pub async fn settling_moves_the_cost_from_reserved_to_spent(db: &Db) {
    let store = db.open().await;
    let key = counter(BudgetScope::Key, "key_a");
    let acme = counter(BudgetScope::Tenant, "acme");
    let both = [
        ask(&key, 1_000_000, 50_000, 50_000),
        ask(&acme, 1_000_000, 50_000, 50_000),
    ];
    assert!(lease(&store, &both).await.is_some());

    let mut done = record("s1", PERIOD + 5);
    done.cost_pico = Some(1_234_567);
    done.budget_counters = vec![key.clone(), acme.clone()];
    // Delivered twice in one batch, and again later: settled once.
    assert_eq!(
        store
            .record_usage(&[done.clone(), done.clone()])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.record_usage(&[done]).await.unwrap(), 0);
    for c in [&key, &acme] {
        assert_eq!(standing(&store, c).await, (1_235, 50_000 - 1_235), "{c:?}");
    }
}

pub async fn soft_budgets_lease_past_the_limit(db: &Db) {
    let store = db.open().await;
    let c = counter(BudgetScope::Tenant, "acme");
    let soft = LeaseAsk {
        soft: true,
        ..ask(&c, 1_500, 1_000, 1_000)
    };
    for expect_over in [false, true, true] {
        let Lease::Granted(granted) = store
            .lease_budgets(std::slice::from_ref(&soft), NOW)
            .await
            .unwrap()
        else {
            panic!("a soft budget refused")
        };
        assert_eq!(granted[0].1.is_over(), expect_over);
    }
}

/// A node that stopped beating leaves holds behind: any other node releases them, and a record
/// of the silent node that still arrives counts its cost without releasing the hold twice.
pub async fn holds_of_silent_nodes_are_released(db: &Db) {
    let silent = db.open().await;
    let alive = db.open().await;
    let c = counter(BudgetScope::Key, "key_a");
    assert!(
        lease(&silent, &[ask(&c, 10_000, 4_000, 4_000)])
            .await
            .is_some()
    );
    assert!(
        lease(&alive, &[ask(&c, 10_000, 1_000, 1_000)])
            .await
            .is_some()
    );
    // `alive` beats at NOW + 1; holds not refreshed since then are stale.
    assert_eq!(alive.budget_heartbeat(NOW + 1, NOW + 1).await.unwrap(), 1);
    assert_eq!(alive.budget_heartbeat(NOW + 2, NOW + 1).await.unwrap(), 0);
    assert_eq!(standing(&alive, &c).await, (0, 1_000));

    let mut late = record("late", PERIOD);
    late.cost_pico = Some(3_000_000);
    late.budget_counters = vec![c.clone()];
    silent.record_usage(&[late]).await.unwrap();
    assert_eq!(standing(&alive, &c).await, (3_000, 1_000));
}

/// Each period is its own counter: a full budget last period leaves this one untouched.
pub async fn budget_periods_are_separate_counters(db: &Db) {
    let store = db.open().await;
    let last = CounterKey {
        period_start: PERIOD - 86_400_000,
        ..counter(BudgetScope::Key, "key_a")
    };
    assert!(
        lease(&store, &[ask(&last, 1_000, 1_000, 1_000)])
            .await
            .is_some()
    );
    assert!(lease(&store, &[ask(&last, 1_000, 1, 1)]).await.is_none());
    let this = counter(BudgetScope::Key, "key_a");
    assert!(
        lease(&store, &[ask(&this, 1_000, 1_000, 1_000)])
            .await
            .is_some()
    );
}
