//! Store failures, classified so the admin API and CLI can answer with stable codes.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage URL is malformed or names an unsupported backend.
    #[error("storage url: {0}")]
    Url(String),
    /// A value the store refuses (e.g. a malformed tenant id).
    #[error("{0}")]
    Invalid(String),
    /// Something referred to does not exist (e.g. the tenant of a new key).
    #[error("{0}")]
    NotFound(String),
    /// A unique value is taken.
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached or failed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage migration failed: {0}")]
    Migration(String),
}

/// A constraint the database refused a write for.
pub(crate) enum Violation {
    /// A unique or primary key; the text names the constraint or column, whichever the backend gives.
    Unique(String),
    ForeignKey,
}

impl Violation {
    /// Read from the database's error code, not guessed by a racy check beforehand.
    pub(crate) fn of(err: &sqlx::Error) -> Option<Self> {
        let db = err.as_database_error()?;
        match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => Some(Violation::Unique(
                db.constraint().unwrap_or(db.message()).to_owned(),
            )),
            sqlx::error::ErrorKind::ForeignKeyViolation => Some(Violation::ForeignKey),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Configuration(e) => StoreError::Url(e.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(err.to_string())
    }
}
