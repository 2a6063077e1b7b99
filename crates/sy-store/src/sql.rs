//! The SQL both backends run: one text per statement, `$N` placeholders (SQLite accepts them too).
//! The exception is the usage batch insert, which each backend does its own fastest way (see
//! [`INSERT_USAGE_POSTGRES`] and [`insert_usage_sqlite`]).
//!
//! Every write is a single statement, so no transaction can deadlock on SQLite's lock upgrade; the
//! one exception, a SQLite batch of usage records, only inserts, so it takes the write lock at its
//! first statement and never upgrades a read.
//! `updated_at` moves strictly forward on every write (`old + 1` when the clock has not), so a
//! change is never hidden from [`crate::Store::changes_since`].

use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

use sqlx::AssertSqlSafe;

use crate::usage::{Dimension, UsageQuery};

macro_rules! tenant_columns {
    () => {
        "id, rpm, tpm, max_concurrent, disabled, created_at, updated_at, regions, budget_nano, \
         budget_period, budget_tz, budget_soft"
    };
}

macro_rules! key_columns {
    () => {
        "id, tenant_id, name, prefix, key_hash, models, rpm, tpm, max_concurrent, expires_at, \
         revoked_at, access_key_id, secret_access_key, created_at, updated_at, routing_hints, \
         budget_nano, budget_period, budget_tz, budget_soft"
    };
}

/// The new `updated_at` given the writer's clock in `$N`.
macro_rules! bump {
    ($now:literal) => {
        concat!(
            "updated_at = CASE WHEN updated_at >= ",
            $now,
            " THEN updated_at + 1 ELSE ",
            $now,
            " END"
        )
    };
}

/// Sets the four budget columns together when `$N` is true, from `$N+1` .. `$N+4`.
macro_rules! budget_update {
    ("$13") => {
        "budget_nano = CASE WHEN $13 THEN $14 ELSE budget_nano END, \
         budget_period = CASE WHEN $13 THEN $15 ELSE budget_period END, \
         budget_tz = CASE WHEN $13 THEN $16 ELSE budget_tz END, \
         budget_soft = CASE WHEN $13 THEN $17 ELSE budget_soft END, "
    };
    ("$17") => {
        "budget_nano = CASE WHEN $17 THEN $18 ELSE budget_nano END, \
         budget_period = CASE WHEN $17 THEN $19 ELSE budget_period END, \
         budget_tz = CASE WHEN $17 THEN $20 ELSE budget_tz END, \
         budget_soft = CASE WHEN $17 THEN $21 ELSE budget_soft END, "
    };
}

pub(crate) const PING: &str = "SELECT 1";

pub(crate) const INSERT_TENANT: &str = concat!(
    "INSERT INTO tenants (",
    tenant_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11) RETURNING ",
    tenant_columns!()
);

/// Creating a tenant that already exists is not an error for `ensure_tenant`.
pub(crate) const INSERT_TENANT_IF_ABSENT: &str = "INSERT INTO tenants (id, created_at, updated_at) \
     VALUES ($1, $2, $2) ON CONFLICT (id) DO NOTHING";

pub(crate) const SELECT_TENANT: &str =
    concat!("SELECT ", tenant_columns!(), " FROM tenants WHERE id = $1");

pub(crate) const SELECT_TENANTS: &str =
    concat!("SELECT ", tenant_columns!(), " FROM tenants ORDER BY id");

/// Each field comes as a pair: whether to set it, and the value.
pub(crate) const UPDATE_TENANT: &str = concat!(
    "UPDATE tenants SET \
     rpm = CASE WHEN $2 THEN $3 ELSE rpm END, \
     tpm = CASE WHEN $4 THEN $5 ELSE tpm END, \
     max_concurrent = CASE WHEN $6 THEN $7 ELSE max_concurrent END, \
     disabled = CASE WHEN $8 THEN $9 ELSE disabled END, \
     regions = CASE WHEN $11 THEN $12 ELSE regions END, ",
    budget_update!("$13"),
    bump!("$10"),
    " WHERE id = $1 RETURNING ",
    tenant_columns!()
);

pub(crate) const INSERT_KEY: &str = concat!(
    "INSERT INTO api_keys (",
    key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12, $13, $13, $14, $15, $16, \
     $17, $18) RETURNING ",
    key_columns!()
);

pub(crate) const SELECT_KEY: &str =
    concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = $1");

pub(crate) const SELECT_KEY_BY_HASH: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys WHERE key_hash = $1"
);

pub(crate) const SELECT_KEY_BY_ACCESS_KEY_ID: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys WHERE access_key_id = $1"
);

/// `$1` is the tenant or NULL for all; `$2` whether revoked keys are included.
pub(crate) const SELECT_KEYS: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 OR revoked_at IS NULL) \
     ORDER BY created_at, id"
);

/// Each field comes as a pair: whether to set it, and the value.
pub(crate) const UPDATE_KEY: &str = concat!(
    "UPDATE api_keys SET \
     name = CASE WHEN $2 THEN $3 ELSE name END, \
     models = CASE WHEN $4 THEN $5 ELSE models END, \
     expires_at = CASE WHEN $6 THEN $7 ELSE expires_at END, \
     rpm = CASE WHEN $8 THEN $9 ELSE rpm END, \
     tpm = CASE WHEN $10 THEN $11 ELSE tpm END, \
     max_concurrent = CASE WHEN $12 THEN $13 ELSE max_concurrent END, \
     routing_hints = CASE WHEN $15 THEN $16 ELSE routing_hints END, ",
    budget_update!("$17"),
    bump!("$14"),
    " WHERE id = $1 RETURNING ",
    key_columns!()
);

/// The first revocation time sticks.
pub(crate) const REVOKE_KEY: &str = concat!(
    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2), ",
    bump!("$2"),
    " WHERE id = $1 RETURNING ",
    key_columns!()
);

pub(crate) const CHANGED_KEYS: &str = "SELECT id, key_hash, access_key_id FROM api_keys \
     WHERE updated_at >= $1 ORDER BY updated_at, id";

pub(crate) const CHANGED_TENANTS: &str =
    "SELECT id FROM tenants WHERE updated_at >= $1 ORDER BY updated_at, id";

/// The columns a usage record is inserted into, in bind order.
macro_rules! usage_columns {
    () => {
        "request_id, started_at, tenant_id, key_id, model, served_model, provider, deployment, \
         region, endpoint, status, http_status, attempts, latency_ms, ttft_ms, stream, \
         input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, \
         usage_source, cost_pico"
    };
}

/// Parameters per usage record.
pub(crate) const USAGE_BINDS: usize = 23;

/// A whole batch in one PostgreSQL statement: one array per column (binds in the order of
/// `usage_columns!`), zipped back into rows. A request delivered twice is recorded once; the ids
/// returned are the records that were new.
pub(crate) const INSERT_USAGE_POSTGRES: &str = concat!(
    "INSERT INTO usage_records (",
    usage_columns!(),
    ") SELECT * FROM UNNEST(\
     $1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::text[], $11::text[], $12::int4[], $13::int4[], $14::int8[], \
     $15::int8[], $16::bool[], $17::int8[], $18::int8[], $19::int8[], $20::int8[], $21::int8[], \
     $22::text[], $23::int8[]) \
     ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
);

/// The most rows one SQLite insert carries: a power of two whose parameters (23 a row, 23,552 in
/// all) stay under SQLite's limit of 32,766.
pub(crate) const USAGE_CHUNK_MAX: usize = 1024;
const _: () = assert!(USAGE_CHUNK_MAX.is_power_of_two() && USAGE_CHUNK_MAX * USAGE_BINDS <= 32_766);

/// SQLite's inserts for 1, 2, 4, ... [`USAGE_CHUNK_MAX`] rows. Batches are cut into these sizes
/// only, so each connection's statement cache holds at most eleven of them.
static INSERT_USAGE_SQLITE: LazyLock<Vec<Arc<str>>> = LazyLock::new(|| {
    std::iter::successors(Some(1_usize), |n| Some(n * 2))
        .take_while(|&n| n <= USAGE_CHUNK_MAX)
        .map(|n| Arc::from(insert_usage_sqlite_text(n)))
        .collect()
});

/// Anonymous `?` placeholders, bound in order (see `insert_sqlite` for why not `$N`).
fn insert_usage_sqlite_text(rows: usize) -> String {
    let row = format!("({})", vec!["?"; USAGE_BINDS].join(", "));
    format!(
        "INSERT INTO usage_records ({}) VALUES {} ON CONFLICT (request_id) DO NOTHING \
         RETURNING request_id",
        usage_columns!(),
        vec![row.as_str(); rows].join(", ")
    )
}

/// SQLite's insert for `rows` rows, a power of two up to [`USAGE_CHUNK_MAX`] (others are built
/// on the spot).
pub(crate) fn insert_usage_sqlite(rows: usize) -> AssertSqlSafe<Arc<str>> {
    let cached = rows
        .checked_ilog2()
        .filter(|_| rows.is_power_of_two())
        .and_then(|log| INSERT_USAGE_SQLITE.get(log as usize));
    // Built from constants only: no caller text reaches the statement.
    AssertSqlSafe(match cached {
        Some(sql) => Arc::clone(sql),
        None => Arc::from(insert_usage_sqlite_text(rows)),
    })
}

/// What a report can group by, as the expression each stands for. Only these constants are ever
/// put into a report's SQL; every value a caller gives is a bind parameter.
fn dimension_expr(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Tenant => "tenant_id",
        Dimension::Key => "key_id",
        Dimension::Model => "model",
        Dimension::Provider => "provider",
        Dimension::Deployment => "deployment",
        Dimension::Region => "region",
        Dimension::Status => "status",
        // The UTC day number (days since 1970-01-01), rounding down before 1970 as well: integer
        // division truncates toward zero on both backends.
        Dimension::Day => {
            "(CASE WHEN started_at >= 0 THEN started_at / 86400000 \
             ELSE (started_at + 1) / 86400000 - 1 END)"
        }
    }
}

/// A report parameter, bound in order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

/// A usage report: columns `g0`, `g1`, ... (one per dimension; text, or the day number), then
/// `requests`, the sums `sum_input`, `sum_cache_read`, `sum_cache_write`, `sum_output`,
/// `sum_reasoning` and `sum_cost` as text (exact: PostgreSQL sums BIGINT as NUMERIC), and
/// `unpriced`. Groups are ordered by their values, absent values last.
pub(crate) fn usage_report(query: &UsageQuery) -> (AssertSqlSafe<String>, Vec<Param<'_>>) {
    let mut params = Vec::new();
    let mut filters = Vec::new();
    let texts = [
        ("tenant_id", &query.tenant),
        ("key_id", &query.key_id),
        ("model", &query.model),
        ("provider", &query.provider),
    ];
    for (column, value) in texts {
        if let Some(value) = value {
            params.push(Param::Text(value));
            filters.push(format!("{column} = ${}", params.len()));
        }
    }
    let bounds = [(">=", query.since_ms), ("<", query.until_ms)];
    for (op, value) in bounds {
        if let Some(value) = value {
            params.push(Param::Int(value));
            filters.push(format!("started_at {op} ${}", params.len()));
        }
    }

    let mut sql = String::from("SELECT ");
    for (i, &dimension) in query.group_by.iter().enumerate() {
        let _ = write!(sql, "{} AS g{i}, ", dimension_expr(dimension));
    }
    sql.push_str(
        "COUNT(*) AS requests, \
         CAST(SUM(input_tokens) AS TEXT) AS sum_input, \
         CAST(SUM(cache_read_tokens) AS TEXT) AS sum_cache_read, \
         CAST(SUM(cache_write_tokens) AS TEXT) AS sum_cache_write, \
         CAST(SUM(output_tokens) AS TEXT) AS sum_output, \
         CAST(SUM(reasoning_tokens) AS TEXT) AS sum_reasoning, \
         CAST(SUM(cost_pico) AS TEXT) AS sum_cost, \
         COUNT(*) - COUNT(cost_pico) AS unpriced \
         FROM usage_records",
    );
    if !filters.is_empty() {
        let _ = write!(sql, " WHERE {}", filters.join(" AND "));
    }
    if !query.group_by.is_empty() {
        let exprs: Vec<_> = query.group_by.iter().map(|&d| dimension_expr(d)).collect();
        let order: Vec<_> = (0..exprs.len())
            .map(|i| format!("g{i} NULLS LAST"))
            .collect();
        let _ = write!(
            sql,
            " GROUP BY {} ORDER BY {}",
            exprs.join(", "),
            order.join(", ")
        );
    }
    // Assembled from the constants above and numbered placeholders only.
    (AssertSqlSafe(sql), params)
}
