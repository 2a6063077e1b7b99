//! Switchyard's state store: tenants and API keys, on embedded SQLite (the default, one machine) or
//! PostgreSQL (several gateway nodes sharing state). One API, two backends, chosen by the storage
//! URL; each backend has its own versioned migrations, applied at start-up.
//!
//! The request path never waits on the store: the server caches key lookups in memory and follows
//! [`Store::changes_since`] to drop cached entries that changed on any node.

mod budget;
mod encode;
mod error;
mod open;
mod rows;
pub mod scratch;
mod secret;
mod sql;
mod usage;

#[cfg(test)]
mod tests;

pub use budget::{
    Budget, BudgetPeriod, BudgetScope, CounterKey, Lease, LeaseAsk, NANO_PER_USD, Standing,
    cost_nano,
};
pub use error::StoreError;
pub use secret::{KeyMaterial, hash_key, mint_key};
pub use usage::{Dimension, Tokens, UsageQuery, UsageRecord, UsageRow};

use error::Violation;

/// A key's or tenant's rate limits; `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens (input + output) per minute.
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    pub max_concurrent: Option<u32>,
}

/// A tenant: the owner of keys, with its own limits shared by all its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Chosen by the operator: 1–64 of `[a-z0-9._-]`, starting with a letter or digit.
    pub id: String,
    pub limits: Limits,
    /// Data residency: the only regions the tenant's requests may be served from (`None`: any).
    pub regions: Option<Vec<String>>,
    /// What the tenant's keys may spend together, if limited.
    pub budget: Option<Budget>,
    /// A disabled tenant's keys are all refused.
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// What creating a tenant takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTenant {
    pub id: String,
    pub limits: Limits,
    pub regions: Option<Vec<String>>,
    pub budget: Option<Budget>,
}

/// A partial update: `None` leaves a field as it is; `Some(None)` clears a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPatch {
    pub rpm: Option<Option<u64>>,
    pub tpm: Option<Option<u64>>,
    pub max_concurrent: Option<Option<u32>>,
    pub disabled: Option<bool>,
    pub regions: Option<Option<Vec<String>>>,
    /// The whole budget: `Some(None)` removes it.
    pub budget: Option<Option<Budget>>,
}

/// An API key as stored: never the secret itself, only its SHA-256 and a short prefix for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `key_` followed by 26 lowercase base32 characters (public; used in admin URLs).
    pub id: String,
    pub tenant: String,
    pub name: Option<String>,
    /// The first characters of the secret (`sk-sy-` and four more), for people to recognise it.
    pub prefix: String,
    /// SHA-256 of the whole secret key.
    pub hash: [u8; 32],
    /// Model names the key may use; `None` means every model.
    pub models: Option<Vec<String>>,
    pub limits: Limits,
    /// Unix milliseconds after which the key no longer works.
    pub expires_at: Option<i64>,
    /// Set once, when the key is revoked.
    pub revoked_at: Option<i64>,
    /// A Bedrock-style access key id (`AKSY...`, 20 characters) for SigV4 clients.
    pub access_key_id: Option<String>,
    /// The matching secret access key. SigV4 verification needs the secret itself (it is an HMAC
    /// key), so unlike the API key it is stored as given: protect the database accordingly.
    pub secret_access_key: Option<String>,
    /// Whether calls with this key may steer routing (x-switchyard-deployment, x-switchyard-region).
    pub routing_hints: bool,
    /// What calls with this key may spend, if limited.
    pub budget: Option<Budget>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What creating a key takes. The caller mints the material ([`mint_key`]) and shows the secret once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub id: String,
    pub tenant: String,
    pub name: Option<String>,
    pub prefix: String,
    pub hash: [u8; 32],
    pub models: Option<Vec<String>>,
    pub limits: Limits,
    pub expires_at: Option<i64>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub routing_hints: bool,
    pub budget: Option<Budget>,
}

/// A partial update of a key: `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPatch {
    pub name: Option<Option<String>>,
    pub models: Option<Option<Vec<String>>>,
    pub expires_at: Option<Option<i64>>,
    pub rpm: Option<Option<u64>>,
    pub tpm: Option<Option<u64>>,
    pub max_concurrent: Option<Option<u32>>,
    pub routing_hints: Option<bool>,
    /// The whole budget: `Some(None)` removes it.
    pub budget: Option<Option<Budget>>,
}

/// Which keys to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    pub tenant: Option<String>,
    /// Revoked keys are left out unless asked for.
    pub include_revoked: bool,
}

/// What changed since a moment, for cache invalidation on every node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Keys created, updated or revoked (the hash and access key id locate cached entries).
    pub keys: Vec<KeyChange>,
    /// Ids of tenants created or updated.
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    pub id: String,
    pub hash: [u8; 32],
    pub access_key_id: Option<String>,
}

/// The store, cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// This handle's identity as a holder of budget money (see `budget.rs`).
    node: std::sync::Arc<str>,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs the same code against whichever pool backs the store: the body is expanded once per
/// backend, so binds and row decoding are type-checked for both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

impl Store {
    /// Opens the store named by `url` and applies pending migrations:
    /// `sqlite://PATH` (created if missing; WAL; a relative PATH is resolved against `base_dir`),
    /// `sqlite::memory:`, or `postgres://user@host[:port]/db` (also `postgresql://`).
    pub async fn open(url: &str, base_dir: Option<&std::path::Path>) -> Result<Self, StoreError> {
        let target = open::Target::parse(url, base_dir)?;
        let backend = open::open(target).await?;
        let store = Store {
            backend,
            node: secret::node_id().into(),
        };
        tracing::debug!(backend = store.backend(), "store opened");
        Ok(store)
    }

    /// This handle's node id: what it holds against budgets is recorded under it.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query(sql::PING).execute(pool).await.map(drop))?;
        Ok(())
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }

    /// The current time in Unix milliseconds as the writers stamp it (used for `changes_since`).
    pub fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// Fails with [`StoreError::Conflict`] when the id is taken, [`StoreError::Invalid`] when the
    /// id is not well formed.
    pub async fn create_tenant(&self, new: &NewTenant) -> Result<Tenant, StoreError> {
        validate_tenant_id(&new.id)?;
        let rpm = rows::stored_limit(new.limits.rpm, "rpm")?;
        let tpm = rows::stored_limit(new.limits.tpm, "tpm")?;
        let max_concurrent = new.limits.max_concurrent.map(i64::from);
        let regions = rows::stored_list(new.regions.as_ref(), "region")?;
        let budget = budget::Stored::of(new.budget.as_ref())?;
        let row = with_pool!(self, pool => sqlx::query(sql::INSERT_TENANT)
            .bind(&new.id)
            .bind(rpm)
            .bind(tpm)
            .bind(max_concurrent)
            .bind(false)
            .bind(Self::now_ms())
            .bind(&regions)
            .bind(budget.limit_nano)
            .bind(budget.period)
            .bind(budget.tz)
            .bind(budget.soft)
            .fetch_one(pool)
            .await
            .map_err(|e| match Violation::of(&e) {
                Some(Violation::Unique(_)) => {
                    StoreError::Conflict(format!("tenant `{}` already exists", new.id))
                }
                _ => e.into(),
            })
            .and_then(|row| rows::tenant(&row)))?;
        Ok(row)
    }

    /// Creates the tenant with no limits unless it exists; returns it either way.
    pub async fn ensure_tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        validate_tenant_id(id)?;
        let found = with_pool!(self, pool => {
            sqlx::query(sql::INSERT_TENANT_IF_ABSENT)
                .bind(id)
                .bind(Self::now_ms())
                .execute(pool)
                .await?;
            sqlx::query(sql::SELECT_TENANT)
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|row| rows::tenant(&row))
                .transpose()?
        });
        // Tenants are never deleted, so the row just inserted or found is still there.
        found.ok_or_else(|| StoreError::Unavailable(format!("tenant `{id}` vanished after insert")))
    }

    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        with_pool!(self, pool => sqlx::query(sql::SELECT_TENANT)
            .bind(id)
            .fetch_optional(pool)
            .await?
            .map(|row| rows::tenant(&row))
            .transpose())
    }

    /// Every tenant, ordered by id.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        with_pool!(self, pool => sqlx::query(sql::SELECT_TENANTS)
            .fetch_all(pool)
            .await?
            .iter()
            .map(rows::tenant)
            .collect())
    }

    /// `Ok(None)` when there is no such tenant.
    pub async fn update_tenant(
        &self,
        id: &str,
        patch: &TenantPatch,
    ) -> Result<Option<Tenant>, StoreError> {
        let rpm = patch_limit(patch.rpm, "rpm")?;
        let tpm = patch_limit(patch.tpm, "tpm")?;
        let max_concurrent = patch.max_concurrent.map(|v| v.map(i64::from));
        let regions = patch
            .regions
            .as_ref()
            .map(|r| rows::stored_list(r.as_ref(), "region"))
            .transpose()?;
        let budget = budget::Stored::of(patch.budget.as_ref().and_then(Option::as_ref))?;
        with_pool!(self, pool => sqlx::query(sql::UPDATE_TENANT)
            .bind(id)
            .bind(rpm.is_some())
            .bind(rpm.flatten())
            .bind(tpm.is_some())
            .bind(tpm.flatten())
            .bind(max_concurrent.is_some())
            .bind(max_concurrent.flatten())
            .bind(patch.disabled.is_some())
            .bind(patch.disabled.unwrap_or(false))
            .bind(Self::now_ms())
            .bind(regions.is_some())
            .bind(regions.clone().flatten())
            .bind(patch.budget.is_some())
            .bind(budget.limit_nano)
            .bind(budget.period)
            .bind(budget.tz)
            .bind(budget.soft)
            .fetch_optional(pool)
            .await?
            .map(|row| rows::tenant(&row))
            .transpose())
    }

    /// Fails with [`StoreError::NotFound`] when the tenant does not exist,
    /// [`StoreError::Conflict`] when the id, hash or access key id is taken.
    pub async fn create_key(&self, new: &NewKey) -> Result<KeyRecord, StoreError> {
        if new.id.is_empty() {
            return Err(StoreError::Invalid("a key id cannot be empty".into()));
        }
        let rpm = rows::stored_limit(new.limits.rpm, "rpm")?;
        let tpm = rows::stored_limit(new.limits.tpm, "tpm")?;
        let max_concurrent = new.limits.max_concurrent.map(i64::from);
        let models = rows::stored_list(new.models.as_ref(), "model")?;
        let budget = budget::Stored::of(new.budget.as_ref())?;
        with_pool!(self, pool => sqlx::query(sql::INSERT_KEY)
            .bind(&new.id)
            .bind(&new.tenant)
            .bind(&new.name)
            .bind(&new.prefix)
            .bind(&new.hash[..])
            .bind(&models)
            .bind(rpm)
            .bind(tpm)
            .bind(max_concurrent)
            .bind(new.expires_at)
            .bind(&new.access_key_id)
            .bind(&new.secret_access_key)
            .bind(Self::now_ms())
            .bind(new.routing_hints)
            .bind(budget.limit_nano)
            .bind(budget.period)
            .bind(budget.tz)
            .bind(budget.soft)
            .fetch_one(pool)
            .await
            .map_err(|e| key_write_error(e, new))
            .and_then(|row| rows::key(&row)))
    }

    pub async fn key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        with_pool!(self, pool => sqlx::query(sql::SELECT_KEY)
            .bind(id)
            .fetch_optional(pool)
            .await?
            .map(|row| rows::key(&row))
            .transpose())
    }

    /// The key whose secret hashes to `hash`, revoked or not (the caller decides).
    pub async fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        with_pool!(self, pool => sqlx::query(sql::SELECT_KEY_BY_HASH)
            .bind(&hash[..])
            .fetch_optional(pool)
            .await?
            .map(|row| rows::key(&row))
            .transpose())
    }

    pub async fn key_by_access_key_id(
        &self,
        access_key_id: &str,
    ) -> Result<Option<KeyRecord>, StoreError> {
        with_pool!(self, pool => sqlx::query(sql::SELECT_KEY_BY_ACCESS_KEY_ID)
            .bind(access_key_id)
            .fetch_optional(pool)
            .await?
            .map(|row| rows::key(&row))
            .transpose())
    }

    /// Keys ordered by creation time, then id.
    pub async fn keys(&self, filter: &KeyFilter) -> Result<Vec<KeyRecord>, StoreError> {
        with_pool!(self, pool => sqlx::query(sql::SELECT_KEYS)
            .bind(&filter.tenant)
            .bind(filter.include_revoked)
            .fetch_all(pool)
            .await?
            .iter()
            .map(rows::key)
            .collect())
    }

    /// `Ok(None)` when there is no such key.
    pub async fn update_key(
        &self,
        id: &str,
        patch: &KeyPatch,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let models = patch
            .models
            .as_ref()
            .map(|m| rows::stored_list(m.as_ref(), "model"))
            .transpose()?;
        let rpm = patch_limit(patch.rpm, "rpm")?;
        let tpm = patch_limit(patch.tpm, "tpm")?;
        let max_concurrent = patch.max_concurrent.map(|v| v.map(i64::from));
        let budget = budget::Stored::of(patch.budget.as_ref().and_then(Option::as_ref))?;
        with_pool!(self, pool => sqlx::query(sql::UPDATE_KEY)
            .bind(id)
            .bind(patch.name.is_some())
            .bind(patch.name.clone().flatten())
            .bind(models.is_some())
            .bind(models.clone().flatten())
            .bind(patch.expires_at.is_some())
            .bind(patch.expires_at.flatten())
            .bind(rpm.is_some())
            .bind(rpm.flatten())
            .bind(tpm.is_some())
            .bind(tpm.flatten())
            .bind(max_concurrent.is_some())
            .bind(max_concurrent.flatten())
            .bind(Self::now_ms())
            .bind(patch.routing_hints.is_some())
            .bind(patch.routing_hints.unwrap_or(false))
            .bind(patch.budget.is_some())
            .bind(budget.limit_nano)
            .bind(budget.period)
            .bind(budget.tz)
            .bind(budget.soft)
            .fetch_optional(pool)
            .await?
            .map(|row| rows::key(&row))
            .transpose())
    }

    /// Revokes the key now; revoking twice keeps the first time. `Ok(None)` when there is no such key.
    pub async fn revoke_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        with_pool!(self, pool => sqlx::query(sql::REVOKE_KEY)
            .bind(id)
            .bind(Self::now_ms())
            .fetch_optional(pool)
            .await?
            .map(|row| rows::key(&row))
            .transpose())
    }

    /// Keys and tenants whose `updated_at` is at or after `since_ms`.
    pub async fn changes_since(&self, since_ms: i64) -> Result<Changes, StoreError> {
        with_pool!(self, pool => {
            let keys = sqlx::query(sql::CHANGED_KEYS)
                .bind(since_ms)
                .fetch_all(pool)
                .await?
                .iter()
                .map(rows::key_change)
                .collect::<Result<_, _>>()?;
            let tenants = sqlx::query(sql::CHANGED_TENANTS)
                .bind(since_ms)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| rows::Columns::text(row, "id"))
                .collect::<Result<_, _>>()?;
            Ok(Changes { keys, tenants })
        })
    }
}

/// 1–64 of `[a-z0-9._-]`, starting with a letter or digit: safe in URLs, logs and metric labels.
fn validate_tenant_id(id: &str) -> Result<(), StoreError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    let first_ok = id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (1..=64).contains(&id.len()) && first_ok && id.chars().all(allowed) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "tenant id `{id}` is not valid: use 1–64 characters of a-z, 0-9, `.`, `_` and `-`, \
             starting with a letter or digit"
        )))
    }
}

/// A patched limit as stored; `Some(None)` clears it.
fn patch_limit(value: Option<Option<u64>>, what: &str) -> Result<Option<Option<i64>>, StoreError> {
    value.map(|v| rows::stored_limit(v, what)).transpose()
}

/// Names which unique value a new key collided with, or the missing tenant.
fn key_write_error(err: sqlx::Error, new: &NewKey) -> StoreError {
    match Violation::of(&err) {
        Some(Violation::ForeignKey) => {
            StoreError::NotFound(format!("tenant `{}` does not exist", new.tenant))
        }
        Some(Violation::Unique(what)) if what.contains("access_key_id") => {
            StoreError::Conflict(format!(
                "access key id `{}` is taken",
                new.access_key_id.as_deref().unwrap_or_default()
            ))
        }
        Some(Violation::Unique(what)) if what.contains("key_hash") => {
            StoreError::Conflict("a key with the same secret already exists".into())
        }
        Some(Violation::Unique(_)) => StoreError::Conflict(format!("key id `{}` is taken", new.id)),
        None => err.into(),
    }
}
