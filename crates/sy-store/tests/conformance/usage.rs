//! The usage ledger's part of the conformance suite: idempotent batches, report filters, groups
//! and exact sums, on both backends.

use std::time::Instant;

use sy_store::{Dimension, Store, StoreError, Tokens, UsageQuery, UsageRecord, UsageRow};

use super::Db;

/// 2026-03-14T00:00:00Z in Unix milliseconds: a UTC midnight.
const MIDNIGHT: i64 = 1_773_446_400_000;

/// A completed, priced, streamed call by `acme`'s key `key_a` to `gpt-x` at `started_at`.
pub(crate) fn record(id: &str, started_at: i64) -> UsageRecord {
    UsageRecord {
        request_id: id.to_owned(),
        started_at,
        tenant: Some("acme".to_owned()),
        key_id: Some("key_a".to_owned()),
        model: "gpt-x".to_owned(),
        served_model: Some("gpt-x-2026-01-01".to_owned()),
        provider: Some("openai".to_owned()),
        deployment: Some("openai-east".to_owned()),
        region: Some("us-east-1".to_owned()),
        endpoint: "/v1/chat/completions".to_owned(),
        status: "completed".to_owned(),
        http_status: 200,
        attempts: 1,
        latency_ms: 420,
        ttft_ms: Some(80),
        stream: true,
        tokens: Tokens {
            input: 10,
            cache_read: 20,
            cache_write: 30,
            output: 40,
            reasoning: 50,
        },
        usage_source: "reported".to_owned(),
        cost_pico: Some(1_000),
        budget_counters: Vec::new(),
    }
}

fn batch(prefix: &str, n: usize, started_at: i64) -> Vec<UsageRecord> {
    (0..n)
        .map(|i| record(&format!("{prefix}-{i}"), started_at))
        .collect()
}

/// The single row of an ungrouped report.
async fn totals(store: &Store, query: UsageQuery) -> UsageRow {
    let mut rows = store.usage_report(&query).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = rows.remove(0);
    assert!(row.group.is_empty());
    row
}

fn tokens_times(n: u64) -> Tokens {
    Tokens {
        input: 10 * n,
        cache_read: 20 * n,
        cache_write: 30 * n,
        output: 40 * n,
        reasoning: 50 * n,
    }
}

pub(crate) async fn usage_batches_are_idempotent(db: &Db) {
    let store = db.open().await;
    let empty = totals(&store, UsageQuery::default()).await;
    let zero = UsageRow {
        group: vec![],
        requests: 0,
        tokens: Tokens::default(),
        cost_pico: 0,
        unpriced_requests: 0,
    };
    assert_eq!(empty, zero);
    assert_eq!(store.record_usage(&[]).await.unwrap(), 0);

    let first = batch("a", 500, MIDNIGHT);
    assert_eq!(store.record_usage(&first).await.unwrap(), 500);
    assert_eq!(
        store
            .record_usage(&batch("b", 500, MIDNIGHT))
            .await
            .unwrap(),
        500
    );
    let want = UsageRow {
        group: vec![],
        requests: 1_000,
        tokens: tokens_times(1_000),
        cost_pico: 1_000_000,
        unpriced_requests: 0,
    };
    assert_eq!(totals(&store, UsageQuery::default()).await, want);

    // The same batch delivered again, a batch overlapping it, and a batch repeating an id.
    assert_eq!(store.record_usage(&first).await.unwrap(), 0);
    let mut changed = first[0].clone();
    changed.cost_pico = Some(999_999_999);
    assert_eq!(store.record_usage(&[changed]).await.unwrap(), 0);
    assert_eq!(totals(&store, UsageQuery::default()).await, want);
    let overlapping: Vec<_> = first[250..]
        .iter()
        .cloned()
        .chain(batch("c", 250, MIDNIGHT))
        .collect();
    assert_eq!(store.record_usage(&overlapping).await.unwrap(), 250);
    let twice = [record("d-0", MIDNIGHT), record("d-0", MIDNIGHT)];
    assert_eq!(store.record_usage(&twice).await.unwrap(), 1);
    let after = totals(&store, UsageQuery::default()).await;
    assert_eq!(after.requests, 1_251);
    assert_eq!(after.tokens, tokens_times(1_251));
    assert_eq!(after.cost_pico, 1_251_000);

    // Unsigned counts beyond the columns' range are refused, and nothing of the batch is kept.
    let mut huge = record("e-1", MIDNIGHT);
    huge.tokens.output = u64::MAX;
    let err = store
        .record_usage(&[record("e-0", MIDNIGHT), huge])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("e-1")),
        "{err:?}"
    );
    let mut retried = record("e-2", MIDNIGHT);
    retried.attempts = u32::MAX;
    let err = store.record_usage(&[retried]).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(totals(&store, UsageQuery::default()).await.requests, 1_251);

    // Timed, not asserted: what flushing 500 records costs once statements are prepared.
    let mut times = Vec::new();
    for round in 0..10 {
        let records = batch(&format!("t{round}"), 500, MIDNIGHT);
        let started = Instant::now();
        assert_eq!(store.record_usage(&records).await.unwrap(), 500);
        times.push(started.elapsed());
    }
    times.sort();
    eprintln!(
        "record_usage on {}: 500 records in {:?} (min), {:?} (median), {:?} (max) over 10 batches",
        db.backend(),
        times[0],
        times[5],
        times[9]
    );
    assert_eq!(totals(&store, UsageQuery::default()).await.requests, 6_251);
    store.close().await;
}

pub(crate) async fn usage_report_filters(db: &Db) {
    let store = db.open().await;
    let t = MIDNIGHT;
    let mut records = Vec::new();
    for (i, (tenant, key, model, provider, at)) in [
        (Some("acme"), Some("key_a"), "gpt-x", Some("openai"), t - 1),
        (Some("acme"), Some("key_a"), "gpt-x", Some("openai"), t),
        (
            Some("acme"),
            Some("key_b"),
            "claude-y",
            Some("anthropic"),
            t + 1,
        ),
        (
            Some("globex"),
            Some("key_g"),
            "gpt-x",
            Some("azure"),
            t + 999,
        ),
        (Some("globex"), Some("key_g"), "gpt-x", None, t + 1_000),
        (None, None, "gpt-x", Some("openai"), t + 1_001),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = record(&format!("f-{i}"), at);
        r.tenant = tenant.map(str::to_owned);
        r.key_id = key.map(str::to_owned);
        r.model = model.to_owned();
        r.provider = provider.map(str::to_owned);
        r.cost_pico = Some(1 << i);
        records.push(r);
    }
    assert_eq!(store.record_usage(&records).await.unwrap(), 6);

    // Which records (by index) each query selects, read back from the cost bits.
    let cases = [
        (UsageQuery::default(), 0b111111),
        (
            UsageQuery {
                tenant: Some("acme".into()),
                ..Default::default()
            },
            0b000111,
        ),
        (
            UsageQuery {
                tenant: Some("nobody".into()),
                ..Default::default()
            },
            0,
        ),
        (
            UsageQuery {
                key_id: Some("key_g".into()),
                ..Default::default()
            },
            0b011000,
        ),
        (
            UsageQuery {
                model: Some("gpt-x".into()),
                ..Default::default()
            },
            0b111011,
        ),
        (
            UsageQuery {
                provider: Some("openai".into()),
                ..Default::default()
            },
            0b100011,
        ),
        (
            UsageQuery {
                since_ms: Some(t),
                ..Default::default()
            },
            0b111110,
        ),
        (
            UsageQuery {
                until_ms: Some(t),
                ..Default::default()
            },
            0b000001,
        ),
        (
            UsageQuery {
                since_ms: Some(t + 1),
                until_ms: Some(t + 1_000),
                ..Default::default()
            },
            0b001100,
        ),
        (
            UsageQuery {
                since_ms: Some(t),
                until_ms: Some(t),
                ..Default::default()
            },
            0,
        ),
        (
            UsageQuery {
                tenant: Some("globex".into()),
                model: Some("gpt-x".into()),
                provider: Some("azure".into()),
                since_ms: Some(t + 999),
                until_ms: Some(t + 1_000),
                ..Default::default()
            },
            0b001000,
        ),
        // A filter value is data, never SQL.
        (
            UsageQuery {
                tenant: Some("acme' OR '1'='1".into()),
                ..Default::default()
            },
            0,
        ),
    ];
    for (query, bits) in cases {
        let bits: i128 = bits;
        let row = totals(&store, query.clone()).await;
        let n = u64::from(bits.count_ones());
        assert_eq!(row.cost_pico, bits, "{query:?}");
        assert_eq!(row.requests, n, "{query:?}");
        assert_eq!(row.tokens, tokens_times(n), "{query:?}");
    }
    store.close().await;
}

/// A report's groups as `(values, requests, cost)`, for compact comparisons.
fn groups(rows: &[UsageRow]) -> Vec<(Vec<Option<&str>>, u64, i128)> {
    rows.iter()
        .map(|r| {
            let values = r.group.iter().map(|(_, v)| v.as_deref()).collect();
            (values, r.requests, r.cost_pico)
        })
        .collect()
}

pub(crate) async fn usage_report_groups(db: &Db) {
    let store = db.open().await;
    let mut records = Vec::new();
    let specs = [
        // tenant, model, status, started_at, cost
        (Some("acme"), "gpt-x", "completed", MIDNIGHT - 1, 1),
        (Some("acme"), "gpt-x", "failed", MIDNIGHT, 2),
        (
            Some("acme"),
            "claude-y",
            "completed",
            MIDNIGHT + 86_399_999,
            4,
        ),
        (
            Some("globex"),
            "gpt-x",
            "completed",
            MIDNIGHT + 86_400_000,
            8,
        ),
        (None, "gpt-x", "refused", MIDNIGHT - 86_400_001, 16),
        (Some("Zeta"), "gpt-x", "completed", MIDNIGHT, 32),
    ];
    for (i, (tenant, model, status, at, cost)) in specs.into_iter().enumerate() {
        let mut r = record(&format!("g-{i}"), at);
        r.tenant = tenant.map(str::to_owned);
        r.model = model.to_owned();
        r.status = status.to_owned();
        r.cost_pico = Some(cost);
        records.push(r);
    }
    store.record_usage(&records).await.unwrap();
    let report = |group_by: Vec<Dimension>| {
        let store = store.clone();
        async move {
            let query = UsageQuery {
                group_by: group_by.clone(),
                ..Default::default()
            };
            let rows = store.usage_report(&query).await.unwrap();
            for row in &rows {
                let dims: Vec<_> = row.group.iter().map(|(d, _)| *d).collect();
                assert_eq!(dims, group_by);
            }
            rows
        }
    };

    // Byte-wise order on both backends ("Zeta" before "acme"), absent values last.
    let by_tenant = report(vec![Dimension::Tenant]).await;
    assert_eq!(
        groups(&by_tenant),
        [
            (vec![Some("Zeta")], 1, 32),
            (vec![Some("acme")], 3, 7),
            (vec![Some("globex")], 1, 8),
            (vec![None], 1, 16),
        ]
    );
    assert_eq!(by_tenant[1].tokens, tokens_times(3));

    let by_tenant_model = report(vec![Dimension::Tenant, Dimension::Model]).await;
    assert_eq!(
        groups(&by_tenant_model),
        [
            (vec![Some("Zeta"), Some("gpt-x")], 1, 32),
            (vec![Some("acme"), Some("claude-y")], 1, 4),
            (vec![Some("acme"), Some("gpt-x")], 2, 3),
            (vec![Some("globex"), Some("gpt-x")], 1, 8),
            (vec![None, Some("gpt-x")], 1, 16),
        ]
    );

    // The last millisecond of a UTC day and the first of the next fall on either side.
    let by_day = report(vec![Dimension::Day]).await;
    assert_eq!(
        groups(&by_day),
        [
            (vec![Some("2026-03-12")], 1, 16),
            (vec![Some("2026-03-13")], 1, 1),
            (vec![Some("2026-03-14")], 3, 38),
            (vec![Some("2026-03-15")], 1, 8),
        ]
    );

    let by_day_status = report(vec![Dimension::Day, Dimension::Status]).await;
    assert_eq!(
        groups(&by_day_status),
        [
            (vec![Some("2026-03-12"), Some("refused")], 1, 16),
            (vec![Some("2026-03-13"), Some("completed")], 1, 1),
            (vec![Some("2026-03-14"), Some("completed")], 2, 36),
            (vec![Some("2026-03-14"), Some("failed")], 1, 2),
            (vec![Some("2026-03-15"), Some("completed")], 1, 8),
        ]
    );

    // The other dimensions read their own columns.
    for (dimension, value) in [
        (Dimension::Key, "key_a"),
        (Dimension::Provider, "openai"),
        (Dimension::Deployment, "openai-east"),
        (Dimension::Region, "us-east-1"),
    ] {
        let rows = report(vec![dimension]).await;
        assert_eq!(groups(&rows), [(vec![Some(value)], 6, 63)], "{dimension:?}");
    }

    // Filters and groups together; an empty selection has no groups at all.
    let query = UsageQuery {
        tenant: Some("acme".into()),
        since_ms: Some(MIDNIGHT),
        group_by: vec![Dimension::Model],
        ..Default::default()
    };
    let rows = store.usage_report(&query).await.unwrap();
    assert_eq!(
        groups(&rows),
        [(vec![Some("claude-y")], 1, 4), (vec![Some("gpt-x")], 1, 2)]
    );
    let nothing = UsageQuery {
        tenant: Some("nobody".into()),
        group_by: vec![Dimension::Model],
        ..Default::default()
    };
    assert_eq!(store.usage_report(&nothing).await.unwrap(), vec![]);
    store.close().await;
}

pub(crate) async fn unpriced_usage_is_counted_not_summed(db: &Db) {
    let store = db.open().await;
    let mut records = Vec::new();
    for i in 0..5 {
        let mut r = record(&format!("u-{i}"), MIDNIGHT);
        // gpt-x: two priced, one unknown; mystery: unknown only. A price of 0 is a price.
        r.model = if i < 3 { "gpt-x" } else { "mystery" }.to_owned();
        r.cost_pico = match i {
            0 => Some(700),
            1 => Some(0),
            _ => None,
        };
        r.usage_source = if i == 4 { "none" } else { "estimated" }.to_owned();
        records.push(r);
    }
    store.record_usage(&records).await.unwrap();
    let query = UsageQuery {
        group_by: vec![Dimension::Model],
        ..Default::default()
    };
    let rows = store.usage_report(&query).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0].requests,
            rows[0].cost_pico,
            rows[0].unpriced_requests
        ),
        (3, 700, 1)
    );
    assert_eq!(rows[0].tokens, tokens_times(3));
    assert_eq!(
        rows[1].group,
        vec![(Dimension::Model, Some("mystery".into()))]
    );
    assert_eq!(
        (
            rows[1].requests,
            rows[1].cost_pico,
            rows[1].unpriced_requests
        ),
        (2, 0, 2)
    );
    let all = totals(&store, UsageQuery::default()).await;
    assert_eq!(
        (all.requests, all.cost_pico, all.unpriced_requests),
        (5, 700, 3)
    );
    store.close().await;
}

pub(crate) async fn usage_sums_are_exact(db: &Db) {
    // A million tiny requests at 1,234 pico-USD each: in binary floating point such a sum drifts;
    // here it must come to exactly $0.001234.
    const N: u64 = 1_000_000;
    const BATCH: usize = 20_000;
    const EACH: i64 = 1_234;
    let store = db.open().await;
    let started = Instant::now();
    for b in 0..(N as usize / BATCH) {
        let records: Vec<_> = (0..BATCH)
            .map(|i| {
                // Spread over two days and two tenants, so groups are exact too.
                let n = b * BATCH + i;
                let mut r = record(&format!("x-{n:07}"), MIDNIGHT - 1 + (n % 2) as i64);
                r.tenant = Some(if n % 4 < 2 { "acme" } else { "globex" }.to_owned());
                r.tokens = Tokens {
                    input: 1,
                    cache_read: 1,
                    cache_write: 1,
                    output: 1,
                    reasoning: 1,
                };
                r.cost_pico = Some(EACH);
                r
            })
            .collect();
        assert_eq!(store.record_usage(&records).await.unwrap(), BATCH as u64);
    }
    eprintln!(
        "record_usage on {}: {N} records in batches of {BATCH} in {:?}",
        db.backend(),
        started.elapsed()
    );
    let ones = |n| Tokens {
        input: n,
        cache_read: n,
        cache_write: n,
        output: n,
        reasoning: n,
    };
    let all = totals(&store, UsageQuery::default()).await;
    assert_eq!(
        all,
        UsageRow {
            group: vec![],
            requests: N,
            tokens: ones(N),
            cost_pico: i128::from(N) * i128::from(EACH),
            unpriced_requests: 0,
        }
    );
    let query = UsageQuery {
        group_by: vec![Dimension::Day, Dimension::Tenant],
        ..Default::default()
    };
    let rows = store.usage_report(&query).await.unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        assert_eq!(row.requests, N / 4, "{row:?}");
        assert_eq!(row.tokens, ones(N / 4));
        assert_eq!(row.cost_pico, i128::from(N / 4) * i128::from(EACH));
    }
    store.close().await;
}

pub(crate) async fn large_costs_sum_exactly_or_fail_loudly(db: &Db) {
    let store = db.open().await;
    // Odd and far above 2^53: a sum through floating point would lose the low bits.
    let each = i64::MAX / 4;
    let records: Vec<_> = (0..8)
        .map(|i| {
            let mut r = record(&format!("l-{i}"), MIDNIGHT);
            r.model = if i < 3 { "small" } else { "large" }.to_owned();
            r.cost_pico = Some(each);
            r
        })
        .collect();
    assert_eq!(store.record_usage(&records).await.unwrap(), 8);
    let small = UsageQuery {
        model: Some("small".into()),
        ..Default::default()
    };
    let three = totals(&store, small).await;
    assert_eq!(three.cost_pico, 3 * i128::from(each));
    assert_eq!(three.cost_pico, 6_917_529_027_641_081_853);

    // Eight of them pass i64::MAX: PostgreSQL sums in NUMERIC; SQLite refuses, never rounds.
    let everything = store.usage_report(&UsageQuery::default()).await;
    let grouped = store
        .usage_report(&UsageQuery {
            group_by: vec![Dimension::Model],
            ..Default::default()
        })
        .await;
    match db.backend() {
        "postgres" => {
            let all = everything.unwrap();
            assert_eq!(all[0].cost_pico, 8 * i128::from(each));
            assert_eq!(all[0].cost_pico, 18_446_744_073_709_551_608);
            let rows = grouped.unwrap();
            assert_eq!(groups(&rows)[0].2, 5 * i128::from(each));
            assert_eq!(groups(&rows)[1].2, 3 * i128::from(each));
        }
        _ => {
            for err in [everything.unwrap_err(), grouped.unwrap_err()] {
                assert!(
                    matches!(&err, StoreError::Invalid(m) if m.contains("9.2 million USD")),
                    "{err:?}"
                );
            }
        }
    }
    store.close().await;
}
