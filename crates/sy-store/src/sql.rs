//! The SQL both backends run: one text per statement, `$N` placeholders (SQLite accepts them too).
//!
//! Every write is a single statement, so no transaction can deadlock on SQLite's lock upgrade.
//! `updated_at` moves strictly forward on every write (`old + 1` when the clock has not), so a
//! change is never hidden from [`crate::Store::changes_since`].

macro_rules! tenant_columns {
    () => {
        "id, rpm, tpm, max_concurrent, disabled, created_at, updated_at, regions"
    };
}

macro_rules! key_columns {
    () => {
        "id, tenant_id, name, prefix, key_hash, models, rpm, tpm, max_concurrent, expires_at, \
         revoked_at, access_key_id, secret_access_key, created_at, updated_at, routing_hints"
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

pub(crate) const PING: &str = "SELECT 1";

pub(crate) const INSERT_TENANT: &str = concat!(
    "INSERT INTO tenants (id, rpm, tpm, max_concurrent, disabled, created_at, updated_at, regions) \
     VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING ",
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
    bump!("$10"),
    " WHERE id = $1 RETURNING ",
    tenant_columns!()
);

pub(crate) const INSERT_KEY: &str = concat!(
    "INSERT INTO api_keys (",
    key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12, $13, $13, $14) RETURNING ",
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
