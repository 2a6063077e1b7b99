//! Budgets: stored on tenants and keys, held all-or-none under concurrency, settled by usage
//! records exactly once, released when their node never settles them.

use std::sync::Arc;

use sy_store::{
    Budget, BudgetAsk, BudgetPeriod, BudgetScope, KeyPatch, Reservation, Store, TenantPatch,
};

use super::usage::record;
use super::{Db, new_key, tenant};

/// 2026-11-01T00:00:00-04:00 (midnight in New York) in Unix milliseconds.
const PERIOD: i64 = 1_793_505_600_000;
const LATER: i64 = 4_000_000_000_000;

fn budget(limit_nano: i64, soft: bool) -> Budget {
    Budget {
        limit_nano,
        period: BudgetPeriod::Month,
        tz: "America/New_York".to_owned(),
        soft,
    }
}

fn ask(scope: BudgetScope, owner: &str, limit_nano: i64, soft: bool) -> BudgetAsk<'_> {
    BudgetAsk {
        scope,
        owner,
        period_start: PERIOD,
        limit_nano,
        soft,
    }
}

fn held(r: &Reservation) -> bool {
    matches!(r, Reservation::Held(_))
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

/// 50 requests at once against a budget that fits 20, through two store handles (two nodes):
/// exactly 20 are held, and the counter holds exactly their money.
pub async fn budget_race_admits_exactly_what_fits(db: &Db) {
    let nodes = [Arc::new(db.open().await), Arc::new(db.open().await)];
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = Arc::clone(&nodes[i % 2]);
        tasks.push(tokio::spawn(async move {
            let asks = [ask(BudgetScope::Key, "key_race", 20_000, false)];
            store
                .reserve_budgets(&format!("req-{i}"), &asks, 1_000, LATER)
                .await
                .unwrap()
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        if held(&task.await.unwrap()) {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 20);
    let standing = nodes[0]
        .budget_standing(BudgetScope::Key, "key_race", PERIOD)
        .await
        .unwrap();
    assert_eq!(standing, (0, 20_000));
}

/// A request that fits its key's budget but not its tenant's holds nothing at all.
pub async fn budget_holds_are_all_or_none(db: &Db) {
    let store = db.open().await;
    let asks = [
        ask(BudgetScope::Key, "key_a", 1_000_000, false),
        ask(BudgetScope::Tenant, "acme", 1_500, false),
    ];
    let first = store
        .reserve_budgets("r1", &asks, 1_000, LATER)
        .await
        .unwrap();
    let Reservation::Held(standings) = first else {
        panic!("{first:?}")
    };
    assert_eq!(standings.len(), 2);
    assert_eq!(standings[0].scope, BudgetScope::Key, "in the order asked");
    assert_eq!(standings[1].reserved_nano, 1_000);

    let second = store
        .reserve_budgets("r2", &asks, 1_000, LATER)
        .await
        .unwrap();
    let Reservation::Refused(refused) = second else {
        panic!("{second:?}")
    };
    assert_eq!(refused.scope, BudgetScope::Tenant);
    assert_eq!((refused.spent_nano, refused.reserved_nano), (0, 1_000));
    let key = store
        .budget_standing(BudgetScope::Key, "key_a", PERIOD)
        .await
        .unwrap();
    assert_eq!(key, (0, 1_000), "the key's hold was rolled back");

    // An amount larger than the whole limit is refused even on a fresh counter.
    let too_big = [ask(BudgetScope::Key, "key_b", 10, false)];
    let r = store
        .reserve_budgets("r3", &too_big, 11, LATER)
        .await
        .unwrap();
    assert!(!held(&r), "{r:?}");
}

/// The usage record replaces the hold with its cost (rounded up to the nano-dollar), once.
pub async fn settling_replaces_the_hold_with_the_cost(db: &Db) {
    let store = db.open().await;
    let asks = [
        ask(BudgetScope::Key, "key_a", 1_000_000, false),
        ask(BudgetScope::Tenant, "acme", 1_000_000, false),
    ];
    assert!(held(
        &store
            .reserve_budgets("s1", &asks, 50_000, LATER)
            .await
            .unwrap()
    ));
    assert!(held(
        &store
            .reserve_budgets("s2", &asks, 50_000, LATER)
            .await
            .unwrap()
    ));

    let mut done = record("s1", PERIOD + 5);
    done.cost_pico = Some(1_234_567);
    done.holds_budget = true;
    // A failed request with nothing priced gives its whole hold back.
    let mut failed = record("s2", PERIOD + 6);
    failed.cost_pico = Some(0);
    failed.holds_budget = true;
    assert_eq!(
        store.record_usage(&[done.clone(), failed]).await.unwrap(),
        2
    );
    for (scope, owner) in [(BudgetScope::Key, "key_a"), (BudgetScope::Tenant, "acme")] {
        let standing = store.budget_standing(scope, owner, PERIOD).await.unwrap();
        assert_eq!(standing, (1_235, 0), "{owner}");
    }
    // Delivered again: nothing changes.
    assert_eq!(store.record_usage(&[done]).await.unwrap(), 0);
    let standing = store
        .budget_standing(BudgetScope::Tenant, "acme", PERIOD)
        .await
        .unwrap();
    assert_eq!(standing, (1_235, 0));
}

pub async fn soft_budgets_hold_past_the_limit(db: &Db) {
    let store = db.open().await;
    let asks = [ask(BudgetScope::Tenant, "acme", 1_500, true)];
    for id in ["a", "b", "c"] {
        let r = store
            .reserve_budgets(id, &asks, 1_000, LATER)
            .await
            .unwrap();
        let Reservation::Held(standings) = r else {
            panic!("{r:?}")
        };
        assert_eq!(standings[0].is_over(), id != "a", "{id}");
    }
}

/// A node that died leaves holds behind: they are given back when they expire, and a record that
/// still arrives afterwards counts its cost without giving the hold back twice.
pub async fn expired_holds_are_released(db: &Db) {
    let store: Store = db.open().await;
    let asks = [ask(BudgetScope::Key, "key_a", 10_000, false)];
    assert!(held(
        &store
            .reserve_budgets("e1", &asks, 4_000, 1_000)
            .await
            .unwrap()
    ));
    assert!(held(
        &store
            .reserve_budgets("e2", &asks, 4_000, 9_000)
            .await
            .unwrap()
    ));
    assert_eq!(store.release_expired_holds(5_000).await.unwrap(), 1);
    assert_eq!(store.release_expired_holds(5_000).await.unwrap(), 0);
    let standing = store
        .budget_standing(BudgetScope::Key, "key_a", PERIOD)
        .await
        .unwrap();
    assert_eq!(standing, (0, 4_000));

    let mut late = record("e1", PERIOD);
    late.cost_pico = Some(3_000_000);
    late.holds_budget = true;
    store.record_usage(&[late]).await.unwrap();
    let standing = store
        .budget_standing(BudgetScope::Key, "key_a", PERIOD)
        .await
        .unwrap();
    assert_eq!(standing, (3_000, 4_000));
}

/// Each period is its own counter: a full budget last period leaves this one untouched.
pub async fn budget_periods_are_separate_counters(db: &Db) {
    let store = db.open().await;
    let mut last = ask(BudgetScope::Key, "key_a", 1_000, false);
    last.period_start = PERIOD - 86_400_000;
    assert!(held(
        &store
            .reserve_budgets("p1", &[last.clone()], 1_000, LATER)
            .await
            .unwrap()
    ));
    assert!(!held(
        &store
            .reserve_budgets("p2", &[last], 1, LATER)
            .await
            .unwrap()
    ));
    let this = ask(BudgetScope::Key, "key_a", 1_000, false);
    assert!(held(
        &store
            .reserve_budgets("p3", &[this], 1_000, LATER)
            .await
            .unwrap()
    ));
}
