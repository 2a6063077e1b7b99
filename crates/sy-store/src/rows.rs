//! Rows to records, by hand: one mapping shared by both backends through the [`Columns`] trait.

use crate::usage::{Dimension, Tokens, UsageRow, day_name, sum};
use crate::{KeyChange, KeyRecord, Limits, StoreError, Tenant};

/// Typed column access, the same for SQLite and PostgreSQL rows.
pub(crate) trait Columns {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
}

macro_rules! impl_columns {
    ($($row:ty),*) => {$(
        impl Columns for $row {
            fn text(&self, col: &str) -> Result<String, StoreError> {
                sqlx::Row::try_get(self, col).map_err(|e| corrupt(col, e))
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
                sqlx::Row::try_get(self, col).map_err(|e| corrupt(col, e))
            }
            fn int(&self, col: &str) -> Result<i64, StoreError> {
                sqlx::Row::try_get(self, col).map_err(|e| corrupt(col, e))
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
                sqlx::Row::try_get(self, col).map_err(|e| corrupt(col, e))
            }
            fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
                sqlx::Row::try_get(self, col).map_err(|e| corrupt(col, e))
            }
            fn flag(&self, col: &str) -> Result<bool, StoreError> {
                sqlx::Row::try_get(self, col).map_err(|e| corrupt(col, e))
            }
        }
    )*};
}

impl_columns!(sqlx::sqlite::SqliteRow, sqlx::postgres::PgRow);

pub(crate) fn corrupt(col: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("stored column `{col}` is unreadable: {err}"))
}

pub(crate) fn tenant(row: &impl Columns) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: row.text("id")?,
        regions: string_list(row, "regions")?,
        limits: limits(row)?,
        budget: crate::budget::from_row(row)?,
        disabled: row.flag("disabled")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// A JSON array of strings, or NULL.
fn string_list(row: &impl Columns, col: &str) -> Result<Option<Vec<String>>, StoreError> {
    match row.opt_text(col)? {
        Some(json) => Ok(Some(
            serde_json::from_str(&json).map_err(|e| corrupt(col, e))?,
        )),
        None => Ok(None),
    }
}

pub(crate) fn key(row: &impl Columns) -> Result<KeyRecord, StoreError> {
    let models = string_list(row, "models")?;
    Ok(KeyRecord {
        id: row.text("id")?,
        tenant: row.text("tenant_id")?,
        name: row.opt_text("name")?,
        prefix: row.text("prefix")?,
        hash: hash(row)?,
        models,
        limits: limits(row)?,
        expires_at: row.opt_int("expires_at")?,
        revoked_at: row.opt_int("revoked_at")?,
        access_key_id: row.opt_text("access_key_id")?,
        secret_access_key: row.opt_text("secret_access_key")?,
        routing_hints: row.flag("routing_hints")?,
        budget: crate::budget::from_row(row)?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(crate) fn key_change(row: &impl Columns) -> Result<KeyChange, StoreError> {
    Ok(KeyChange {
        id: row.text("id")?,
        hash: hash(row)?,
        access_key_id: row.opt_text("access_key_id")?,
    })
}

/// A report row: the group values `g0`, `g1`, ... for `group_by`, then the counts and sums.
pub(crate) fn usage_row(
    row: &impl Columns,
    group_by: &[Dimension],
) -> Result<UsageRow, StoreError> {
    let group = group_by
        .iter()
        .enumerate()
        .map(|(i, &dimension)| {
            let col = format!("g{i}");
            let value = match dimension {
                Dimension::Day => row.opt_int(&col)?.map(day_name),
                _ => row.opt_text(&col)?,
            };
            Ok((dimension, value))
        })
        .collect::<Result<_, StoreError>>()?;
    let count = |col: &str| {
        let v = row.int(col)?;
        u64::try_from(v).map_err(|_| corrupt(col, format_args!("{v} is negative")))
    };
    Ok(UsageRow {
        group,
        requests: count("requests")?,
        tokens: Tokens {
            input: sum(row, "sum_input")?,
            cache_read: sum(row, "sum_cache_read")?,
            cache_write: sum(row, "sum_cache_write")?,
            output: sum(row, "sum_output")?,
            reasoning: sum(row, "sum_reasoning")?,
        },
        cost_pico: sum(row, "sum_cost")?,
        unpriced_requests: count("unpriced")?,
    })
}

fn hash(row: &impl Columns) -> Result<[u8; 32], StoreError> {
    let bytes = row.bytes("key_hash")?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| corrupt("key_hash", format_args!("{} bytes, not 32", bytes.len())))
}

fn limits(row: &impl Columns) -> Result<Limits, StoreError> {
    Ok(Limits {
        rpm: unsigned(row, "rpm")?,
        tpm: unsigned(row, "tpm")?,
        max_concurrent: unsigned(row, "max_concurrent")?,
    })
}

pub(crate) fn unsigned<T: TryFrom<i64>>(
    row: &impl Columns,
    col: &str,
) -> Result<Option<T>, StoreError> {
    row.opt_int(col)?
        .map(|v| T::try_from(v).map_err(|_| corrupt(col, format_args!("{v} is out of range"))))
        .transpose()
}

/// A limit as stored: the columns are signed 64-bit integers.
pub(crate) fn stored_limit(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value
        .map(|v| {
            i64::try_from(v)
                .map_err(|_| StoreError::Invalid(format!("{what} {v} is larger than {}", i64::MAX)))
        })
        .transpose()
}

/// A model or region list as stored: a JSON array of strings.
pub(crate) fn stored_list(
    list: Option<&Vec<String>>,
    what: &str,
) -> Result<Option<String>, StoreError> {
    list.map(|m| {
        serde_json::to_string(m).map_err(|e| StoreError::Invalid(format!("{what} list: {e}")))
    })
    .transpose()
}
