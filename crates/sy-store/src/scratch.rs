//! Throwaway databases for tests in this and other crates: a PostgreSQL database or a SQLite
//! directory with a unique name, removed afterwards even when the test panics.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::StoreError;
use crate::encode::{hex, random};

/// Where the administrative database is; the default suits a local server with trust auth.
pub const POSTGRES_URL_ENV: &str = "SWITCHYARD_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL database named `sy_test_<hex>`, created on the server named by
/// [`POSTGRES_URL_ENV`] and dropped by [`ScratchPostgres::drop_database`] or, failing that, on drop.
#[derive(Debug)]
pub struct ScratchPostgres {
    admin_url: String,
    name: String,
    url: String,
    dropped: bool,
}

impl ScratchPostgres {
    pub async fn create() -> Result<Self, StoreError> {
        let admin_url =
            std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let name = format!("sy_test_{}", hex(&random::<8>()));
        let url = with_database(&admin_url, &name)?;
        let mut admin = connect(&admin_url).await?;
        // The name is ours, made of [a-z0-9_] only, so formatting it into the statement is safe.
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await?;
        let _ = admin.close().await;
        Ok(ScratchPostgres {
            admin_url,
            name,
            url,
            dropped: false,
        })
    }

    /// A URL for [`crate::Store::open`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name, `sy_test_...`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, disconnecting whoever is still connected.
    pub async fn drop_database(mut self) -> Result<(), StoreError> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop cannot await, and may run inside a runtime (a panicking test): use a thread with
        // a runtime of its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            runtime.block_on(drop_database(&admin_url, &name))
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(database = %self.name, error = %e, "scratch database left behind")
            }
            Err(_) => tracing::warn!(database = %self.name, "scratch database left behind"),
        }
    }
}

async fn connect(url: &str) -> Result<sqlx::PgConnection, StoreError> {
    tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(url))
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "no answer from postgres within {CONNECT_TIMEOUT:?}"
            ))
        })?
        .map_err(StoreError::from)
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    let mut admin = connect(admin_url).await?;
    admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .await?;
    let _ = admin.close().await;
    Ok(())
}

/// `url` with its database (the path) replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> Result<String, StoreError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| StoreError::Url(format!("{POSTGRES_URL_ENV} is not a postgres:// url")))?;
    let (authority, query) = match rest.find(['/', '?']) {
        Some(at) => {
            let (authority, tail) = rest.split_at(at);
            (authority, tail.find('?').map_or("", |q| &tail[q..]))
        }
        None => (rest, ""),
    };
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// A fresh directory under the system temporary directory, removed (with its contents) on drop.
#[derive(Debug)]
pub struct ScratchSqlite {
    dir: PathBuf,
}

impl ScratchSqlite {
    pub fn create() -> Result<Self, StoreError> {
        let dir = std::env::temp_dir().join(format!("sy_test_{}", hex(&random::<8>())));
        std::fs::create_dir_all(&dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        Ok(ScratchSqlite { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A URL for [`crate::Store::open`]: `store.db` in the directory.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.dir.join("store.db").display())
    }
}

impl Drop for ScratchSqlite {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "scratch directory left behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_and_keeps_the_query() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            ("postgresql://h", "postgresql://h/x"),
            (
                "postgres://h?sslmode=disable",
                "postgres://h/x?sslmode=disable",
            ),
        ];
        for (admin, want) in cases {
            assert_eq!(with_database(admin, "x").unwrap(), want, "{admin}");
        }
        assert!(with_database("nonsense", "x").is_err());
    }
}
