//! The usage ledger: one record per request, written in idempotent batches, and reports that sum
//! them by tenant, key, model, provider, deployment, region, status or UTC day.
//!
//! Sums are exact on both backends. PostgreSQL sums BIGINT columns as NUMERIC, without limit.
//! SQLite sums in 64-bit integers and raises an error rather than round when a group's sum leaves
//! that range: for costs in pico-USD that is about 9.2 million USD per group, reported as
//! [`StoreError::Invalid`]; narrow the time range or group more finely to stay under it.

use crate::rows::Columns;
use crate::sql::{self, Param, USAGE_CHUNK_MAX};
// `Backend` is named by `with_pool!`.
use std::collections::HashSet;

use crate::budget::{self, CounterKey, Settlement};
use crate::{Backend, Store, StoreError, rows, with_pool};

/// One request as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// Unique per request; recording the same id twice keeps the first record.
    pub request_id: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// `None` for calls made in open mode (no key).
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    /// The model the client asked for.
    pub model: String,
    /// The upstream's model id, once a deployment served the request.
    pub served_model: Option<String>,
    pub provider: Option<String>,
    pub deployment: Option<String>,
    pub region: Option<String>,
    /// The route the client called, e.g. `/v1/chat/completions`.
    pub endpoint: String,
    /// `completed`, `failed`, `client_aborted` or `refused`.
    pub status: String,
    /// The status the client was answered with.
    pub http_status: u16,
    /// Upstream attempts made (0 when refused before dispatch).
    pub attempts: u32,
    pub latency_ms: i64,
    /// Time to the first token, for streams that produced one.
    pub ttft_ms: Option<i64>,
    pub stream: bool,
    pub tokens: Tokens,
    /// `reported` (by the upstream), `estimated` or `none`.
    pub usage_source: String,
    /// Cost in pico-USD (1e-12 USD); `None` when the price is unknown, which is not the same as 0.
    pub cost_pico: Option<i64>,
    /// The budget counters the request was admitted against: writing the record moves its cost
    /// from their reserved money to their spent money.
    pub budget_counters: Vec<CounterKey>,
}

/// Token counts, split so each can be priced at its own rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input not read from a cache.
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// Output excluding reasoning.
    pub output: u64,
    pub reasoning: u64,
}

/// What a usage report can group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Tenant,
    Key,
    Model,
    Provider,
    Deployment,
    Region,
    Status,
    /// The UTC calendar day the request started, as `YYYY-MM-DD`.
    Day,
}

impl Dimension {
    /// Every dimension, in the order of their names in [`Dimension::parse`].
    pub const ALL: [Dimension; 8] = [
        Dimension::Tenant,
        Dimension::Key,
        Dimension::Model,
        Dimension::Provider,
        Dimension::Deployment,
        Dimension::Region,
        Dimension::Status,
        Dimension::Day,
    ];

    /// `tenant`, `key`, `model`, `provider`, `deployment`, `region`, `status` or `day`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Dimension::Tenant => "tenant",
            Dimension::Key => "key",
            Dimension::Model => "model",
            Dimension::Provider => "provider",
            Dimension::Deployment => "deployment",
            Dimension::Region => "region",
            Dimension::Status => "status",
            Dimension::Day => "day",
        }
    }
}

/// Which records a report covers and how it groups them; every filter left `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageQuery {
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until_ms: Option<i64>,
    /// No dimensions: one row of totals.
    pub group_by: Vec<Dimension>,
}

/// One group of a usage report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// The group's value for each dimension asked for, in order; `None` where records have none
    /// (e.g. the tenant of open-mode calls).
    pub group: Vec<(Dimension, Option<String>)>,
    pub requests: u64,
    pub tokens: Tokens,
    /// The exact sum over the group's priced records, in pico-USD.
    pub cost_pico: i128,
    /// Records whose price was unknown: counted here, left out of `cost_pico`.
    pub unpriced_requests: u64,
}

impl Store {
    /// Records a batch of requests atomically and returns how many were new: a request id
    /// already recorded (a batch delivered twice) is skipped, not an error.
    pub async fn record_usage(&self, records: &[UsageRecord]) -> Result<u64, StoreError> {
        let stored = records
            .iter()
            .map(StoredUsage::of)
            .collect::<Result<Vec<_>, _>>()?;
        if stored.is_empty() {
            return Ok(0);
        }
        let inserted = match &self.backend {
            Backend::Sqlite(pool) => insert_sqlite(pool, &stored, records, &self.node).await,
            Backend::Postgres(pool) => insert_postgres(pool, &stored, records, &self.node).await,
        }?;
        Ok(inserted)
    }

    /// Sums the records `query` selects, one row per group ordered by the group values (absent
    /// values last); with no dimensions, one row of totals, zero when nothing matches.
    pub async fn usage_report(&self, query: &UsageQuery) -> Result<Vec<UsageRow>, StoreError> {
        let (text, params) = sql::usage_report(query);
        with_pool!(self, pool => {
            // Each combination of filters and dimensions is its own text: keep them out of the
            // statement cache.
            let mut report = sqlx::query(text).persistent(false);
            for param in params {
                report = match param {
                    Param::Text(value) => report.bind(value),
                    Param::Int(value) => report.bind(value),
                };
            }
            report
                .fetch_all(pool)
                .await
                .map_err(report_error)?
                .iter()
                .map(|row| rows::usage_row(row, &query.group_by))
                .collect()
        })
    }
}

/// One transaction of multi-row inserts with anonymous `?` placeholders: sqlx finds a named
/// placeholder's position by asking SQLite for its name, a linear search, which would make
/// binding quadratic in the rows of a statement. The batch's budget costs settle in the same
/// transaction.
async fn insert_sqlite(
    pool: &sqlx::SqlitePool,
    rows: &[StoredUsage<'_>],
    records: &[UsageRecord],
    node: &str,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let mut new_ids = HashSet::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
        rest = tail;
        let mut insert = sqlx::query(sql::insert_usage_sqlite(chunk.len()));
        for row in chunk {
            insert = insert
                .bind(row.request_id)
                .bind(row.started_at)
                .bind(row.tenant)
                .bind(row.key_id)
                .bind(row.model)
                .bind(row.served_model)
                .bind(row.provider)
                .bind(row.deployment)
                .bind(row.region)
                .bind(row.endpoint)
                .bind(row.status)
                .bind(row.http_status)
                .bind(row.attempts)
                .bind(row.latency_ms)
                .bind(row.ttft_ms)
                .bind(row.stream)
                .bind(row.tokens[0])
                .bind(row.tokens[1])
                .bind(row.tokens[2])
                .bind(row.tokens[3])
                .bind(row.tokens[4])
                .bind(row.usage_source)
                .bind(row.cost_pico);
        }
        for row in insert.fetch_all(&mut *tx).await? {
            new_ids.insert(row.text("request_id")?);
        }
    }
    let inserted = new_ids.len() as u64;
    settle(&mut tx, &settlement(records, new_ids), node).await?;
    tx.commit().await?;
    Ok(inserted)
}

/// What the newly recorded requests of a batch cost each budget counter.
fn settlement(records: &[UsageRecord], mut new_ids: HashSet<String>) -> Settlement {
    let mut settlement = Settlement::default();
    for record in records {
        // A record delivered twice (even within one batch) settles once: when it is new.
        if !record.budget_counters.is_empty() && new_ids.remove(&record.request_id) {
            settlement.add(&record.budget_counters, budget::cost_nano(record.cost_pico));
        }
    }
    settlement
}

/// Moves each counter's settled cost from reserved to spent, in the counters' lock order. The
/// node's hold shrinks by the same; if it was released as stale, reserved already shrank then.
async fn settle<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    settlement: &Settlement,
    node: &str,
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (counter, cost) in &settlement.counters {
        let held = sqlx::query::<DB>(budget::TAKE_NODE_HOLD)
            .bind(node)
            .bind(counter.scope.name())
            .bind(counter.owner.as_str())
            .bind(counter.period_start)
            .bind(*cost)
            .fetch_optional(&mut **tx)
            .await?;
        let unreserve = if held.is_some() { -*cost } else { 0 };
        sqlx::query::<DB>(budget::ADJUST_COUNTER)
            .bind(counter.scope.name())
            .bind(counter.owner.as_str())
            .bind(counter.period_start)
            .bind(*cost)
            .bind(unreserve)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// One statement for the whole batch: each column travels as one array and `UNNEST` zips them
/// back into rows, so a batch of any size is a single round trip with 23 parameters. Budget
/// costs, if any, settle in the same transaction.
async fn insert_postgres(
    pool: &sqlx::PgPool,
    rows: &[StoredUsage<'_>],
    records: &[UsageRecord],
    node: &str,
) -> Result<u64, StoreError> {
    let budgeted = records.iter().any(|r| !r.budget_counters.is_empty());
    if !budgeted {
        return Ok(insert_usage_postgres(pool, rows).await?.len() as u64);
    }
    let mut tx = pool.begin().await?;
    let new_ids: HashSet<String> = insert_usage_postgres(&mut *tx, rows)
        .await?
        .into_iter()
        .collect();
    let inserted = new_ids.len() as u64;
    settle(&mut tx, &settlement(records, new_ids), node).await?;
    tx.commit().await?;
    Ok(inserted)
}

/// Inserts the batch; returns the ids of the records that were new.
async fn insert_usage_postgres<'e>(
    db: impl sqlx::PgExecutor<'e>,
    rows: &[StoredUsage<'_>],
) -> Result<Vec<String>, StoreError> {
    let new = sqlx::query(sql::INSERT_USAGE_POSTGRES)
        .bind(column(rows, |r| r.request_id))
        .bind(column(rows, |r| r.started_at))
        .bind(column(rows, |r| r.tenant))
        .bind(column(rows, |r| r.key_id))
        .bind(column(rows, |r| r.model))
        .bind(column(rows, |r| r.served_model))
        .bind(column(rows, |r| r.provider))
        .bind(column(rows, |r| r.deployment))
        .bind(column(rows, |r| r.region))
        .bind(column(rows, |r| r.endpoint))
        .bind(column(rows, |r| r.status))
        .bind(column(rows, |r| r.http_status))
        .bind(column(rows, |r| r.attempts))
        .bind(column(rows, |r| r.latency_ms))
        .bind(column(rows, |r| r.ttft_ms))
        .bind(column(rows, |r| r.stream))
        .bind(column(rows, |r| r.tokens[0]))
        .bind(column(rows, |r| r.tokens[1]))
        .bind(column(rows, |r| r.tokens[2]))
        .bind(column(rows, |r| r.tokens[3]))
        .bind(column(rows, |r| r.tokens[4]))
        .bind(column(rows, |r| r.usage_source))
        .bind(column(rows, |r| r.cost_pico))
        .fetch_all(db)
        .await?;
    new.iter().map(|row| row.text("request_id")).collect()
}

/// One column of a batch, as the array PostgreSQL unnests.
fn column<'r, T>(rows: &[StoredUsage<'r>], field: impl Fn(&StoredUsage<'r>) -> T) -> Vec<T> {
    rows.iter().map(field).collect()
}

/// How many of `remaining` rows the next SQLite insert takes: the largest power of two that
/// fits, so any batch needs at most eleven distinct statements (see [`sql::insert_usage_sqlite`]).
pub(crate) fn chunk_len(remaining: usize) -> usize {
    if remaining >= USAGE_CHUNK_MAX {
        USAGE_CHUNK_MAX
    } else {
        // remaining >= 1 here, so the highest set bit exists.
        1 << remaining.ilog2()
    }
}

/// A record as bound: unsigned counts converted to the columns' signed integers.
struct StoredUsage<'a> {
    request_id: &'a str,
    started_at: i64,
    tenant: Option<&'a str>,
    key_id: Option<&'a str>,
    model: &'a str,
    served_model: Option<&'a str>,
    provider: Option<&'a str>,
    deployment: Option<&'a str>,
    region: Option<&'a str>,
    endpoint: &'a str,
    status: &'a str,
    http_status: i32,
    attempts: i32,
    latency_ms: i64,
    ttft_ms: Option<i64>,
    stream: bool,
    /// input, cache read, cache write, output, reasoning.
    tokens: [i64; 5],
    usage_source: &'a str,
    cost_pico: Option<i64>,
}

impl<'a> StoredUsage<'a> {
    fn of(record: &'a UsageRecord) -> Result<Self, StoreError> {
        let t = &record.tokens;
        let count = |value: u64, what: &str| {
            i64::try_from(value).map_err(|_| {
                StoreError::Invalid(format!(
                    "usage record `{}`: {what} {value} is larger than {}",
                    record.request_id,
                    i64::MAX
                ))
            })
        };
        let attempts = i32::try_from(record.attempts).map_err(|_| {
            StoreError::Invalid(format!(
                "usage record `{}`: {} attempts is more than {}",
                record.request_id,
                record.attempts,
                i32::MAX
            ))
        })?;
        Ok(StoredUsage {
            request_id: &record.request_id,
            started_at: record.started_at,
            tenant: record.tenant.as_deref(),
            key_id: record.key_id.as_deref(),
            model: &record.model,
            served_model: record.served_model.as_deref(),
            provider: record.provider.as_deref(),
            deployment: record.deployment.as_deref(),
            region: record.region.as_deref(),
            endpoint: &record.endpoint,
            status: &record.status,
            http_status: i32::from(record.http_status),
            attempts,
            latency_ms: record.latency_ms,
            ttft_ms: record.ttft_ms,
            stream: record.stream,
            tokens: [
                count(t.input, "input tokens")?,
                count(t.cache_read, "cache read tokens")?,
                count(t.cache_write, "cache write tokens")?,
                count(t.output, "output tokens")?,
                count(t.reasoning, "reasoning tokens")?,
            ],
            usage_source: &record.usage_source,
            cost_pico: record.cost_pico,
        })
    }
}

/// SQLite's `SUM` fails with "integer overflow" when a group's sum leaves 64 bits (PostgreSQL's
/// never does): a limit of the query, not an outage.
fn report_error(err: sqlx::Error) -> StoreError {
    let overflow = err
        .as_database_error()
        .is_some_and(|db| db.message().contains("integer overflow"));
    if overflow {
        StoreError::Invalid(
            "a usage sum exceeds the 64-bit range SQLite sums in (about 9.2 million USD of cost \
             per group): narrow the time range or group more finely"
                .into(),
        )
    } else {
        err.into()
    }
}

/// A day number (days since 1970-01-01) as a proleptic Gregorian `YYYY-MM-DD`.
pub(crate) fn day_name(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Howard Hinnant's `civil_from_days`: eras of 400 years (146,097 days) starting on March 1st,
/// so the leap day falls at the end of each year.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Reads a text sum (`NULL` when no records matched) as a number.
pub(crate) fn sum<T: std::str::FromStr + Default>(
    row: &impl Columns,
    col: &str,
) -> Result<T, StoreError> {
    match row.opt_text(col)? {
        None => Ok(T::default()),
        Some(text) => text.parse().map_err(|_| {
            StoreError::Invalid(format!("usage sum `{col}` = {text} is out of range"))
        }),
    }
}
