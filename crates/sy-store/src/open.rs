//! Opening a store: the storage URL to a connection pool, then the backend's embedded migrations.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlSafeStr};

use crate::{Backend, StoreError};

/// How long a writer waits for SQLite's lock, and a connection for PostgreSQL to answer.
const WAIT: Duration = Duration::from_secs(5);
/// Several gateway nodes share one PostgreSQL server; each keeps its share of connections small.
const PG_POOL: u32 = 8;
/// WAL lets readers run beside the single writer.
const SQLITE_POOL: u32 = 4;

/// What a storage URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    SqliteFile(PathBuf),
    SqliteMemory,
    Postgres(String),
}

impl Target {
    pub(crate) fn parse(url: &str, base_dir: Option<&Path>) -> Result<Self, StoreError> {
        if url == "sqlite::memory:" {
            return Ok(Target::SqliteMemory);
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::Url(
                    "`sqlite://` needs a file path, e.g. sqlite://switchyard.db".into(),
                ));
            }
            if path.contains('?') {
                return Err(StoreError::Url(format!(
                    "`{url}`: sqlite urls take no query parameters"
                )));
            }
            let path = Path::new(path);
            let path = match base_dir {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.to_path_buf(),
            };
            return Ok(Target::SqliteFile(path));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_owned()));
        }
        // Only the scheme is echoed: the rest may hold a password.
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        Err(StoreError::Url(format!(
            "unsupported scheme `{scheme}`: expected sqlite://PATH, sqlite::memory: or postgres://user@host/db"
        )))
    }
}

pub(crate) async fn open(target: Target) -> Result<Backend, StoreError> {
    match target {
        Target::SqliteFile(path) => {
            // Processes opening a new file at the same moment can meet SQLite's lock while one of
            // them switches the file to WAL, which answers "database is locked" at once instead
            // of waiting out the busy timeout: try again for a while.
            let mut pause = Duration::from_millis(20);
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                match open_sqlite_file(&path).await {
                    Err(StoreError::Unavailable(reason))
                        if reason.contains("database is locked")
                            && tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(250));
                    }
                    result => return result,
                }
            }
        }
        Target::SqliteMemory => {
            let options = SqliteConnectOptions::new()
                .in_memory(true)
                .foreign_keys(true);
            // The database lives in its one connection: never let the pool close it.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(WAIT)
                .connect_with(options)
                .await
                .map_err(|e| unavailable("sqlite in memory", e))?;
            migrate_sqlite(&pool).await?;
            Ok(Backend::Sqlite(pool))
        }
        Target::Postgres(url) => {
            let options = PgConnectOptions::from_str(&url)
                .map_err(|e| StoreError::Url(format!("postgres url: {e}")))?
                .application_name("switchyard");
            let pool = PgPoolOptions::new()
                .max_connections(PG_POOL)
                .acquire_timeout(WAIT)
                .connect_with(options)
                .await
                .map_err(|e| unavailable("postgres", e))?;
            migrate_postgres(&pool).await?;
            Ok(Backend::Postgres(pool))
        }
    }
}

/// Connects to a SQLite file (created if missing, in WAL mode) and migrates it.
async fn open_sqlite_file(path: &Path) -> Result<Backend, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(WAIT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(SQLITE_POOL)
        .acquire_timeout(WAIT)
        .connect_with(options)
        .await
        .map_err(|e| unavailable(&format!("sqlite {}", path.display()), e))?;
    migrate_sqlite(&pool).await?;
    Ok(Backend::Sqlite(pool))
}

fn unavailable(what: &str, err: sqlx::Error) -> StoreError {
    match StoreError::from(err) {
        StoreError::Unavailable(msg) => StoreError::Unavailable(format!("{what}: {msg}")),
        other => other,
    }
}

fn migrator(files: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

// `run_direct` rather than `run`: `run`'s `Acquire` bound makes the future of `Store::open` fail
// to prove `Send` (sqlx keeps `run_direct` public for exactly this), and callers spawn it.

/// SQLite's migrator takes no lock, so the whole run happens in one `BEGIN IMMEDIATE`
/// transaction: a second process opening the same file waits, then finds the work done.
async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<(), StoreError> {
    let migrator = migrator(&[
        (
            1,
            "tenants and keys",
            include_str!("../migrations/sqlite/0001_tenants_and_keys.sql"),
        ),
        (
            2,
            "residency and hints",
            include_str!("../migrations/sqlite/0002_residency_and_hints.sql"),
        ),
        (
            3,
            "usage",
            include_str!("../migrations/sqlite/0003_usage.sql"),
        ),
        (
            4,
            "budgets",
            include_str!("../migrations/sqlite/0004_budgets.sql"),
        ),
    ]);
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    migrator.run_direct(None, &mut *tx, false).await?;
    tx.commit().await?;
    Ok(())
}

/// sqlx's PostgreSQL migrator holds an advisory lock (keyed by database name) while it runs, so
/// nodes starting together apply each migration once.
async fn migrate_postgres(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    let migrator = migrator(&[
        (
            1,
            "tenants and keys",
            include_str!("../migrations/postgres/0001_tenants_and_keys.sql"),
        ),
        (
            2,
            "residency and hints",
            include_str!("../migrations/postgres/0002_residency_and_hints.sql"),
        ),
        (
            3,
            "usage",
            include_str!("../migrations/postgres/0003_usage.sql"),
        ),
        (
            4,
            "budgets",
            include_str!("../migrations/postgres/0004_budgets.sql"),
        ),
    ]);
    let mut conn = pool.acquire().await?;
    if let Err(err) = migrator.run_direct(None, &mut *conn, false).await {
        // A failed run leaves the session's advisory lock held: close the connection rather than
        // return it to the pool.
        let _ = conn.close().await;
        return Err(err.into());
    }
    Ok(())
}
