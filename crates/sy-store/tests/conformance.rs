//! One conformance suite for the store, stamped on both backends: every test below runs against a
//! SQLite file in a scratch directory and against a scratch PostgreSQL database.

#![expect(clippy::unwrap_used, reason = "tests")]

#[path = "conformance/budgets.rs"]
mod budgets;
#[path = "conformance/usage.rs"]
mod usage;

use std::collections::HashSet;
use std::time::Duration;

use budgets::{
    budget_leases_are_all_or_none, budget_periods_are_separate_counters,
    budget_race_admits_exactly_what_fits, budgets_round_trip, holds_of_silent_nodes_are_released,
    leases_shrink_to_what_is_needed_near_the_limit, settling_moves_the_cost_from_reserved_to_spent,
    soft_budgets_lease_past_the_limit,
};
use sy_store::scratch::{ScratchPostgres, ScratchSqlite};
use sy_store::{
    KeyFilter, KeyMaterial, KeyPatch, KeyRecord, Limits, NewKey, NewTenant, Store, StoreError,
    TenantPatch, UsageQuery, mint_key,
};
use usage::{
    large_costs_sum_exactly_or_fail_loudly, unpriced_usage_is_counted_not_summed,
    usage_batches_are_idempotent, usage_report_filters, usage_report_groups, usage_sums_are_exact,
};

/// A scratch database of either backend.
enum Db {
    Sqlite(ScratchSqlite),
    Postgres(ScratchPostgres),
}

impl Db {
    fn sqlite() -> Self {
        Db::Sqlite(ScratchSqlite::create().unwrap())
    }

    async fn postgres() -> Self {
        Db::Postgres(ScratchPostgres::create().await.unwrap())
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(s) => s.url(),
            Db::Postgres(p) => p.url().to_owned(),
        }
    }

    fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    async fn open(&self) -> Store {
        Store::open(&self.url(), None).await.unwrap()
    }

    async fn finish(self) {
        match self {
            Db::Sqlite(s) => drop(s),
            Db::Postgres(p) => p.drop_database().await.unwrap(),
        }
    }
}

/// Stamps each suite function into a `sqlite::name` and a `postgres::name` test.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::Db::sqlite();
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::Db::postgres().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

conformance!(
    opens_and_pings,
    tenant_lifecycle,
    updated_at_always_moves_forward,
    invalid_tenant_ids_are_refused,
    duplicate_tenant_conflicts,
    ensure_tenant_is_idempotent_and_race_safe,
    key_lifecycle,
    key_listing_filters_and_order,
    key_update_patch_semantics,
    revoking_twice_keeps_the_first_time,
    key_for_missing_tenant_is_not_found,
    duplicate_keys_conflict,
    limits_out_of_range_are_invalid,
    changes_since_follows_writes,
    migrations_are_idempotent,
    two_handles_share_state,
    residency_and_hints_round_trip,
    usage_batches_are_idempotent,
    usage_report_filters,
    usage_report_groups,
    unpriced_usage_is_counted_not_summed,
    usage_sums_are_exact,
    large_costs_sum_exactly_or_fail_loudly,
    budgets_round_trip,
    budget_race_admits_exactly_what_fits,
    leases_shrink_to_what_is_needed_near_the_limit,
    budget_leases_are_all_or_none,
    settling_moves_the_cost_from_reserved_to_spent,
    soft_budgets_lease_past_the_limit,
    holds_of_silent_nodes_are_released,
    budget_periods_are_separate_counters,
);

pub(crate) fn tenant(
    id: &str,
    rpm: Option<u64>,
    tpm: Option<u64>,
    max_concurrent: Option<u32>,
) -> NewTenant {
    NewTenant {
        id: id.to_owned(),
        limits: Limits {
            rpm,
            tpm,
            max_concurrent,
        },
        regions: None,
        budget: None,
    }
}

/// A new key from freshly minted material, with no name, models, limits or expiry.
pub(crate) fn new_key(tenant: &str, aws: bool) -> (KeyMaterial, NewKey) {
    let material = mint_key(aws);
    let (access_key_id, secret_access_key) = material.aws.clone().unzip();
    let key = NewKey {
        id: material.id.clone(),
        tenant: tenant.to_owned(),
        name: None,
        prefix: material.prefix.clone(),
        hash: material.hash,
        models: None,
        limits: Limits::default(),
        expires_at: None,
        access_key_id,
        secret_access_key,
        routing_hints: false,
        budget: None,
    };
    (material, key)
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

async fn opens_and_pings(db: &Db) {
    let store = db.open().await;
    assert_eq!(store.backend(), db.backend());
    store.ping().await.unwrap();
    assert_eq!(store.tenants().await.unwrap(), vec![]);
    assert_eq!(store.keys(&KeyFilter::default()).await.unwrap(), vec![]);
    store.close().await;
}

async fn tenant_lifecycle(db: &Db) {
    let store = db.open().await;
    let before = Store::now_ms();
    let acme = store
        .create_tenant(&tenant("acme", Some(60), Some(100_000), Some(4)))
        .await
        .unwrap();
    assert_eq!(acme.id, "acme");
    assert_eq!(
        acme.limits,
        Limits {
            rpm: Some(60),
            tpm: Some(100_000),
            max_concurrent: Some(4)
        }
    );
    assert!(!acme.disabled);
    assert!(acme.created_at >= before && acme.created_at <= Store::now_ms());
    assert_eq!(acme.updated_at, acme.created_at);
    assert_eq!(store.tenant("acme").await.unwrap(), Some(acme.clone()));
    assert_eq!(store.tenant("nobody").await.unwrap(), None);

    // Ordered by id, byte-wise on both backends.
    for id in ["b-2", "b.1", "a_z", "0day"] {
        store
            .create_tenant(&tenant(id, None, None, None))
            .await
            .unwrap();
    }
    let ids: Vec<_> = store
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["0day", "a_z", "acme", "b-2", "b.1"]);

    // Set one limit, clear one, leave one.
    pause().await;
    let patch = TenantPatch {
        rpm: Some(Some(120)),
        tpm: Some(None),
        ..TenantPatch::default()
    };
    let updated = store.update_tenant("acme", &patch).await.unwrap().unwrap();
    assert_eq!(
        updated.limits,
        Limits {
            rpm: Some(120),
            tpm: None,
            max_concurrent: Some(4)
        }
    );
    assert!(!updated.disabled);
    assert_eq!(updated.created_at, acme.created_at);
    assert!(updated.updated_at > acme.updated_at);
    assert_eq!(store.tenant("acme").await.unwrap(), Some(updated.clone()));

    let disable = TenantPatch {
        disabled: Some(true),
        ..TenantPatch::default()
    };
    let disabled = store
        .update_tenant("acme", &disable)
        .await
        .unwrap()
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(disabled.limits, updated.limits);
    assert!(store.tenant("acme").await.unwrap().unwrap().disabled);

    let enable = TenantPatch {
        disabled: Some(false),
        max_concurrent: Some(None),
        ..TenantPatch::default()
    };
    let enabled = store.update_tenant("acme", &enable).await.unwrap().unwrap();
    assert!(!enabled.disabled);
    assert_eq!(enabled.limits.max_concurrent, None);
    assert_eq!(enabled.limits.rpm, Some(120));

    assert_eq!(store.update_tenant("nobody", &disable).await.unwrap(), None);
    assert_eq!(store.tenant("nobody").await.unwrap(), None);
    store.close().await;
}

async fn updated_at_always_moves_forward(db: &Db) {
    let store = db.open().await;
    let mut last = store
        .create_tenant(&tenant("busy", None, None, None))
        .await
        .unwrap()
        .updated_at;
    // Many writes inside the same millisecond must still each move the stamp.
    for rpm in 0..20 {
        let patch = TenantPatch {
            rpm: Some(Some(rpm)),
            ..TenantPatch::default()
        };
        let t = store.update_tenant("busy", &patch).await.unwrap().unwrap();
        assert!(t.updated_at > last, "{} after {last}", t.updated_at);
        last = t.updated_at;
    }
    let (_, key) = new_key("busy", false);
    let mut last = store.create_key(&key).await.unwrap().updated_at;
    for i in 0..10 {
        let patch = KeyPatch {
            name: Some(Some(format!("n{i}"))),
            ..KeyPatch::default()
        };
        let k = store.update_key(&key.id, &patch).await.unwrap().unwrap();
        assert!(k.updated_at > last);
        last = k.updated_at;
        let k = store.revoke_key(&key.id).await.unwrap().unwrap();
        assert!(k.updated_at > last);
        last = k.updated_at;
    }
    store.close().await;
}

async fn invalid_tenant_ids_are_refused(db: &Db) {
    let store = db.open().await;
    let long = "x".repeat(65);
    for bad in [
        "", "Acme", "-acme", ".acme", "_acme", "ac me", "ac/me", "acmé", &long,
    ] {
        let err = store
            .create_tenant(&tenant(bad, None, None, None))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("1–64")),
            "{bad:?}: {err:?}"
        );
        let err = store.ensure_tenant(bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err:?}");
    }
    assert_eq!(store.tenants().await.unwrap(), vec![]);

    let longest = "9".repeat(64);
    for good in ["a", "7", "acme.eu-west_1", &longest] {
        store
            .create_tenant(&tenant(good, None, None, None))
            .await
            .unwrap();
    }
    assert_eq!(store.tenants().await.unwrap().len(), 4);
    store.close().await;
}

async fn duplicate_tenant_conflicts(db: &Db) {
    let store = db.open().await;
    let first = store
        .create_tenant(&tenant("acme", Some(1), None, None))
        .await
        .unwrap();
    let err = store
        .create_tenant(&tenant("acme", Some(2), None, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("acme")),
        "{err:?}"
    );
    // The loser changed nothing.
    assert_eq!(store.tenant("acme").await.unwrap(), Some(first));
    store.close().await;
}

async fn ensure_tenant_is_idempotent_and_race_safe(db: &Db) {
    let store = db.open().await;
    let fresh = store.ensure_tenant("fresh").await.unwrap();
    assert_eq!(fresh.id, "fresh");
    assert_eq!(fresh.limits, Limits::default());
    assert!(!fresh.disabled);
    assert_eq!(store.ensure_tenant("fresh").await.unwrap(), fresh);

    // An existing tenant keeps its limits.
    let limited = store
        .create_tenant(&tenant("limited", Some(5), Some(6), Some(7)))
        .await
        .unwrap();
    assert_eq!(store.ensure_tenant("limited").await.unwrap(), limited);

    let racers: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.ensure_tenant("racy").await })
        })
        .collect();
    let mut results = Vec::new();
    for racer in racers {
        results.push(racer.await.unwrap().unwrap());
    }
    assert!(results.iter().all(|t| *t == results[0]), "{results:?}");
    let ids: Vec<_> = store
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["fresh", "limited", "racy"]);
    store.close().await;
}

async fn key_lifecycle(db: &Db) {
    let store = db.open().await;
    store.ensure_tenant("acme").await.unwrap();
    let (material, mut new) = new_key("acme", true);
    new.name = Some("ci".to_owned());
    new.models = Some(vec![
        "gpt-4o".to_owned(),
        "a \"quoted\", name".to_owned(),
        "модель/✓".to_owned(),
    ]);
    new.limits = Limits {
        rpm: Some(30),
        tpm: Some(u64::try_from(i64::MAX).unwrap()),
        max_concurrent: Some(u32::MAX),
    };
    new.expires_at = Some(1_900_000_000_123);

    let before = Store::now_ms();
    let created = store.create_key(&new).await.unwrap();
    let expected = KeyRecord {
        id: new.id.clone(),
        tenant: "acme".to_owned(),
        name: new.name.clone(),
        prefix: material.prefix.clone(),
        hash: material.hash,
        models: new.models.clone(),
        limits: new.limits.clone(),
        expires_at: Some(1_900_000_000_123),
        revoked_at: None,
        access_key_id: new.access_key_id.clone(),
        secret_access_key: new.secret_access_key.clone(),
        routing_hints: false,
        budget: None,
        created_at: created.created_at,
        updated_at: created.created_at,
    };
    assert_eq!(created, expected);
    assert!(created.created_at >= before && created.created_at <= Store::now_ms());

    assert_eq!(store.key(&new.id).await.unwrap(), Some(expected.clone()));
    let by_hash = store
        .key_by_hash(&sy_store::hash_key(&material.secret))
        .await;
    assert_eq!(by_hash.unwrap(), Some(expected.clone()));
    let access_key_id = new.access_key_id.clone().unwrap();
    let by_access = store.key_by_access_key_id(&access_key_id).await.unwrap();
    assert_eq!(by_access, Some(expected.clone()));

    assert_eq!(store.key("key_missing").await.unwrap(), None);
    assert_eq!(store.key_by_hash(&[7; 32]).await.unwrap(), None);
    assert_eq!(
        store.key_by_access_key_id("AKSYMISSING").await.unwrap(),
        None
    );

    // An empty model list (no model allowed) is not the same as none (every model).
    let (_, mut empty) = new_key("acme", false);
    empty.models = Some(vec![]);
    let empty = store.create_key(&empty).await.unwrap();
    assert_eq!(
        store.key(&empty.id).await.unwrap().unwrap().models,
        Some(vec![])
    );
    assert_eq!(empty.access_key_id, None);
    assert_eq!(empty.secret_access_key, None);

    // Revoked keys are still found by hash; the caller decides.
    store.revoke_key(&new.id).await.unwrap().unwrap();
    let revoked = store.key_by_hash(&material.hash).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    store.close().await;
}

async fn key_listing_filters_and_order(db: &Db) {
    let store = db.open().await;
    store.ensure_tenant("a").await.unwrap();
    store.ensure_tenant("b").await.unwrap();
    let mut created = Vec::new();
    for (i, tenant) in ["a", "b", "a", "b", "a"].into_iter().enumerate() {
        let (_, key) = new_key(tenant, i % 2 == 0);
        created.push(store.create_key(&key).await.unwrap());
        if i == 1 {
            pause().await;
        }
    }
    let revoked = store.revoke_key(&created[2].id).await.unwrap().unwrap();
    created[2] = revoked;
    let sorted = |mut keys: Vec<KeyRecord>| {
        keys.sort_by(|x, y| (x.created_at, &x.id).cmp(&(y.created_at, &y.id)));
        keys
    };
    let ids = |keys: Vec<KeyRecord>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();

    let everything = store
        .keys(&KeyFilter {
            tenant: None,
            include_revoked: true,
        })
        .await
        .unwrap();
    assert_eq!(everything, sorted(created.clone()));
    // The pause puts the first two keys strictly before the rest.
    let first_two: HashSet<_> = everything[..2].iter().map(|k| k.id.clone()).collect();
    assert_eq!(
        first_two,
        HashSet::from([created[0].id.clone(), created[1].id.clone()])
    );

    let live = store.keys(&KeyFilter::default()).await.unwrap();
    let want: Vec<_> = created
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .cloned()
        .collect();
    assert_eq!(ids(live), ids(sorted(want)));

    let a_live = store
        .keys(&KeyFilter {
            tenant: Some("a".to_owned()),
            include_revoked: false,
        })
        .await
        .unwrap();
    assert_eq!(
        ids(a_live),
        ids(sorted(vec![created[0].clone(), created[4].clone()]))
    );

    let a_all = store
        .keys(&KeyFilter {
            tenant: Some("a".to_owned()),
            include_revoked: true,
        })
        .await
        .unwrap();
    let want = vec![created[0].clone(), created[2].clone(), created[4].clone()];
    assert_eq!(ids(a_all), ids(sorted(want)));

    let nobody = KeyFilter {
        tenant: Some("nobody".to_owned()),
        include_revoked: true,
    };
    assert_eq!(store.keys(&nobody).await.unwrap(), vec![]);
    store.close().await;
}

async fn key_update_patch_semantics(db: &Db) {
    let store = db.open().await;
    store.ensure_tenant("acme").await.unwrap();
    let (_, mut new) = new_key("acme", true);
    new.name = Some("ci".to_owned());
    new.models = Some(vec!["gpt-4o".to_owned(), "claude".to_owned()]);
    new.expires_at = Some(2_000_000_000_000);
    new.limits = Limits {
        rpm: Some(10),
        tpm: Some(1000),
        max_concurrent: Some(2),
    };
    let original = store.create_key(&new).await.unwrap();

    // An empty patch changes nothing but the stamp.
    pause().await;
    let same = store
        .update_key(&new.id, &KeyPatch::default())
        .await
        .unwrap()
        .unwrap();
    assert!(same.updated_at > original.updated_at);
    assert_eq!(
        KeyRecord {
            updated_at: original.updated_at,
            ..same.clone()
        },
        original
    );

    let patch = KeyPatch {
        name: Some(None),
        models: Some(Some(vec![])),
        rpm: Some(Some(20)),
        ..KeyPatch::default()
    };
    let first = store.update_key(&new.id, &patch).await.unwrap().unwrap();
    assert_eq!(first.name, None);
    assert_eq!(first.models, Some(vec![]));
    assert_eq!(
        first.limits,
        Limits {
            rpm: Some(20),
            tpm: Some(1000),
            max_concurrent: Some(2)
        }
    );
    assert_eq!(first.expires_at, Some(2_000_000_000_000));
    assert_eq!(store.key(&new.id).await.unwrap(), Some(first.clone()));

    let patch = KeyPatch {
        name: Some(Some("renamed".to_owned())),
        models: Some(None),
        expires_at: Some(None),
        tpm: Some(None),
        max_concurrent: Some(Some(u32::MAX)),
        ..KeyPatch::default()
    };
    let second = store.update_key(&new.id, &patch).await.unwrap().unwrap();
    assert_eq!(second.name.as_deref(), Some("renamed"));
    assert_eq!(second.models, None);
    assert_eq!(second.expires_at, None);
    assert_eq!(
        second.limits,
        Limits {
            rpm: Some(20),
            tpm: None,
            max_concurrent: Some(u32::MAX)
        }
    );
    // What a patch cannot touch stays put.
    assert_eq!(
        (
            &second.tenant,
            &second.prefix,
            second.hash,
            second.created_at
        ),
        (
            &original.tenant,
            &original.prefix,
            original.hash,
            original.created_at
        )
    );
    assert_eq!(second.access_key_id, original.access_key_id);
    assert_eq!(second.secret_access_key, original.secret_access_key);
    assert_eq!(second.revoked_at, None);

    let patch = KeyPatch {
        expires_at: Some(Some(123)),
        models: Some(Some(vec!["only-this".to_owned()])),
        ..KeyPatch::default()
    };
    let third = store.update_key(&new.id, &patch).await.unwrap().unwrap();
    assert_eq!(third.expires_at, Some(123));
    assert_eq!(third.models, Some(vec!["only-this".to_owned()]));
    assert_eq!(store.key(&new.id).await.unwrap(), Some(third));

    assert_eq!(store.update_key("key_missing", &patch).await.unwrap(), None);
    store.close().await;
}

async fn revoking_twice_keeps_the_first_time(db: &Db) {
    let store = db.open().await;
    store.ensure_tenant("acme").await.unwrap();
    let (_, new) = new_key("acme", false);
    store.create_key(&new).await.unwrap();
    let before = Store::now_ms();
    let first = store.revoke_key(&new.id).await.unwrap().unwrap();
    let at = first.revoked_at.unwrap();
    assert!(at >= before && at <= Store::now_ms());
    pause().await;
    let second = store.revoke_key(&new.id).await.unwrap().unwrap();
    assert_eq!(second.revoked_at, Some(at));
    assert_eq!(
        store.key(&new.id).await.unwrap().unwrap().revoked_at,
        Some(at)
    );
    assert_eq!(store.revoke_key("key_missing").await.unwrap(), None);
    store.close().await;
}

async fn key_for_missing_tenant_is_not_found(db: &Db) {
    let store = db.open().await;
    let (_, new) = new_key("ghost", false);
    let err = store.create_key(&new).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m == "tenant `ghost` does not exist"),
        "{err:?}"
    );
    assert_eq!(store.key(&new.id).await.unwrap(), None);
    assert_eq!(store.tenant("ghost").await.unwrap(), None);
    store.close().await;
}

async fn duplicate_keys_conflict(db: &Db) {
    let store = db.open().await;
    store.ensure_tenant("acme").await.unwrap();
    let (_, original) = new_key("acme", true);
    let stored = store.create_key(&original).await.unwrap();

    let (_, fresh) = new_key("acme", true);
    let same_hash = NewKey {
        hash: original.hash,
        ..fresh.clone()
    };
    let same_id = NewKey {
        id: original.id.clone(),
        ..fresh.clone()
    };
    let same_access_key_id = NewKey {
        access_key_id: original.access_key_id.clone(),
        ..fresh.clone()
    };
    for (what, dup) in [
        ("secret", same_hash),
        (original.id.as_str(), same_id),
        (
            original.access_key_id.as_deref().unwrap(),
            same_access_key_id,
        ),
    ] {
        let err = store.create_key(&dup).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if m.contains(what)),
            "{what}: {err:?}"
        );
    }
    assert_eq!(store.key(&original.id).await.unwrap(), Some(stored));
    assert_eq!(store.key(&fresh.id).await.unwrap(), None);
    store.create_key(&fresh).await.unwrap();

    // Keys without an AWS pair do not collide on the missing access key id.
    for _ in 0..3 {
        let (_, plain) = new_key("acme", false);
        store.create_key(&plain).await.unwrap();
    }
    let all = KeyFilter {
        tenant: None,
        include_revoked: true,
    };
    assert_eq!(store.keys(&all).await.unwrap().len(), 5);
    store.close().await;
}

async fn limits_out_of_range_are_invalid(db: &Db) {
    let store = db.open().await;
    let err = store
        .create_tenant(&tenant("huge", Some(u64::MAX), None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(store.tenant("huge").await.unwrap(), None);

    store.ensure_tenant("acme").await.unwrap();
    let patch = TenantPatch {
        tpm: Some(Some(u64::MAX)),
        ..TenantPatch::default()
    };
    let err = store.update_tenant("acme", &patch).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");

    let (_, mut new) = new_key("acme", false);
    new.limits.rpm = Some(u64::MAX);
    let err = store.create_key(&new).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");

    // The largest values that fit round-trip.
    let most = u64::try_from(i64::MAX).unwrap();
    let big = store
        .create_tenant(&tenant("big", Some(most), Some(most), Some(u32::MAX)))
        .await
        .unwrap();
    assert_eq!(store.tenant("big").await.unwrap(), Some(big));
    store.close().await;
}

async fn changes_since_follows_writes(db: &Db) {
    let store = db.open().await;
    store.ensure_tenant("acme").await.unwrap();
    store.ensure_tenant("other").await.unwrap();
    let (_, k1) = new_key("acme", true);
    let (_, k2) = new_key("acme", false);
    let (_, k3) = new_key("other", true);
    let (_, k4) = new_key("other", false);
    for k in [&k1, &k2, &k3] {
        store.create_key(k).await.unwrap();
    }
    let all = store.changes_since(0).await.unwrap();
    let ids: HashSet<_> = all.keys.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        HashSet::from([k1.id.as_str(), k2.id.as_str(), k3.id.as_str()])
    );
    let tenants: HashSet<_> = all.tenants.iter().map(String::as_str).collect();
    assert_eq!(tenants, HashSet::from(["acme", "other"]));
    let c1 = all.keys.iter().find(|c| c.id == k1.id).unwrap();
    assert_eq!((c1.hash, &c1.access_key_id), (k1.hash, &k1.access_key_id));

    pause().await;
    let mark = Store::now_ms();
    assert_eq!(store.changes_since(mark).await.unwrap(), Default::default());

    let rename = KeyPatch {
        name: Some(Some("x".to_owned())),
        ..KeyPatch::default()
    };
    store.update_key(&k1.id, &rename).await.unwrap().unwrap();
    let changes = store.changes_since(mark).await.unwrap();
    let ids: Vec<_> = changes.keys.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [k1.id.as_str()]);
    assert_eq!(changes.keys[0].hash, k1.hash);
    assert_eq!(changes.keys[0].access_key_id, k1.access_key_id);
    assert!(changes.tenants.is_empty());

    store.revoke_key(&k2.id).await.unwrap().unwrap();
    store.create_key(&k4).await.unwrap();
    let disable = TenantPatch {
        disabled: Some(true),
        ..TenantPatch::default()
    };
    store
        .update_tenant("other", &disable)
        .await
        .unwrap()
        .unwrap();
    store.ensure_tenant("newcomer").await.unwrap();
    // Ensuring an existing tenant is not a change.
    store.ensure_tenant("acme").await.unwrap();

    let changes = store.changes_since(mark).await.unwrap();
    let ids: HashSet<_> = changes.keys.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        HashSet::from([k1.id.as_str(), k2.id.as_str(), k4.id.as_str()])
    );
    let tenants: HashSet<_> = changes.tenants.iter().map(String::as_str).collect();
    assert_eq!(tenants, HashSet::from(["other", "newcomer"]));

    pause().await;
    let later = Store::now_ms();
    assert_eq!(
        store.changes_since(later).await.unwrap(),
        Default::default()
    );
    store.close().await;
}

async fn migrations_are_idempotent(db: &Db) {
    // Several nodes starting at once on an empty database.
    let url = db.url();
    let starting: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::open(&url, None).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starting {
        stores.push(start.await.unwrap().unwrap());
    }
    stores[0]
        .create_tenant(&tenant("kept", Some(1), None, None))
        .await
        .unwrap();
    for store in stores {
        store.close().await;
    }

    // Reopening applies nothing twice and keeps the data.
    for _ in 0..2 {
        let store = db.open().await;
        let kept = store.tenant("kept").await.unwrap().unwrap();
        assert_eq!(kept.limits.rpm, Some(1));
        assert_eq!(store.tenants().await.unwrap().len(), 1);
        store.close().await;
    }
}

async fn two_handles_share_state(db: &Db) {
    let a = db.open().await;
    let b = db.open().await;
    a.create_tenant(&tenant("shared", None, None, None))
        .await
        .unwrap();
    assert_eq!(b.tenant("shared").await.unwrap().unwrap().id, "shared");
    let err = b
        .create_tenant(&tenant("shared", None, None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let (material, key) = new_key("shared", true);
    let created = b.create_key(&key).await.unwrap();
    assert_eq!(a.key_by_hash(&material.hash).await.unwrap(), Some(created));
    let revoked = a.revoke_key(&key.id).await.unwrap().unwrap();
    assert_eq!(b.key(&key.id).await.unwrap(), Some(revoked));
    let changed = b.changes_since(0).await.unwrap();
    assert_eq!(changed.keys.len(), 1);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn bad_urls_fail_with_url_errors() {
    for url in [
        "mysql://root:hunter2@localhost/db",
        "sqlite:relative.db",
        "sqlite://",
        "",
        "postgres://127.0.0.1:notaport/db",
    ] {
        let err = Store::open(url, None).await.unwrap_err();
        assert!(matches!(err, StoreError::Url(_)), "{url:?}: {err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let err = Store::open("postgres://postgres@127.0.0.1:1/none", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn sqlite_in_memory_keeps_its_data() {
    let store = Store::open("sqlite::memory:", None).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.ensure_tenant("acme").await.unwrap();
    let (_, key) = new_key("acme", false);
    store.create_key(&key).await.unwrap();
    // Later calls see the same database, whichever connection they would get.
    for _ in 0..5 {
        assert!(store.tenant("acme").await.unwrap().is_some());
        assert!(store.key(&key.id).await.unwrap().is_some());
    }
    store.close().await;
}

#[tokio::test]
async fn sqlite_relative_paths_resolve_against_the_base_dir() {
    let scratch = ScratchSqlite::create().unwrap();
    let store = Store::open("sqlite://nested/dir/sy.db", Some(scratch.path()))
        .await
        .unwrap();
    store.ensure_tenant("acme").await.unwrap();
    store.close().await;
    assert!(scratch.path().join("nested/dir/sy.db").is_file());
}

#[tokio::test]
async fn scratch_postgres_drops_its_database_even_without_asking() {
    let scratch = ScratchPostgres::create().await.unwrap();
    let url = scratch.url().to_owned();
    assert!(scratch.name().starts_with("sy_test_"));
    Store::open(&url, None).await.unwrap().close().await;
    drop(scratch);
    let err = Store::open(&url, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// Callers spawn store calls onto a multi-threaded runtime, so every future must be `Send`.
#[tokio::test]
async fn store_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let store = Store::open("sqlite::memory:", None).await.unwrap();
    let (_, key) = new_key("acme", true);
    send(Store::open("sqlite::memory:", None));
    send(store.ping());
    send(store.close());
    send(store.create_tenant(&tenant("acme", None, None, None)));
    send(store.ensure_tenant("acme"));
    send(store.tenant("acme"));
    send(store.tenants());
    send(store.update_tenant("acme", &TenantPatch::default()));
    send(store.create_key(&key));
    send(store.key("key_x"));
    send(store.key_by_hash(&key.hash));
    send(store.key_by_access_key_id("AKSYX"));
    send(store.keys(&KeyFilter::default()));
    send(store.update_key("key_x", &KeyPatch::default()));
    send(store.revoke_key("key_x"));
    send(store.changes_since(0));
    send(store.record_usage(&[]));
    send(store.usage_report(&UsageQuery::default()));
    send(ScratchPostgres::create());
    store.close().await;
}

async fn residency_and_hints_round_trip(db: &Db) {
    let store = db.open().await;
    let mut new = tenant("eu-only", None, None, None);
    new.regions = Some(vec!["eu-west-1".to_owned(), "eu-central-1".to_owned()]);
    let created = store.create_tenant(&new).await.unwrap();
    assert_eq!(created.regions, new.regions);
    let plain = store
        .create_tenant(&tenant("anywhere", None, None, None))
        .await
        .unwrap();
    assert_eq!(plain.regions, None);

    // Absent leaves the regions alone; null clears them; a list replaces them.
    let patch = TenantPatch {
        rpm: Some(Some(5)),
        ..TenantPatch::default()
    };
    let kept = store
        .update_tenant("eu-only", &patch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.regions, new.regions);
    let replace = TenantPatch {
        regions: Some(Some(vec!["eu-north-1".to_owned()])),
        ..TenantPatch::default()
    };
    let replaced = store
        .update_tenant("eu-only", &replace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.regions, Some(vec!["eu-north-1".to_owned()]));
    let clear = TenantPatch {
        regions: Some(None),
        ..TenantPatch::default()
    };
    let cleared = store
        .update_tenant("eu-only", &clear)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.regions, None);

    let (_, mut key) = new_key("eu-only", false);
    key.routing_hints = true;
    let created = store.create_key(&key).await.unwrap();
    assert!(created.routing_hints);
    let off = KeyPatch {
        routing_hints: Some(false),
        ..KeyPatch::default()
    };
    let updated = store.update_key(&key.id, &off).await.unwrap().unwrap();
    assert!(!updated.routing_hints);
    let untouched = store
        .update_key(&key.id, &KeyPatch::default())
        .await
        .unwrap()
        .unwrap();
    assert!(!untouched.routing_hints);
    assert!(!store.key(&key.id).await.unwrap().unwrap().routing_hints);
}
