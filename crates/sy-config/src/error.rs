//! Config errors that name the file, the key path and the reason.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    /// Dotted key path, e.g. `providers.azure-eastus.api_key`; empty for the whole file.
    pub path: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: Option<&Path>, path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.map(Path::to_path_buf),
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_deref()
            .map_or_else(|| "<environment>".to_owned(), |p| p.display().to_string());
        if self.path.is_empty() {
            write!(f, "{file}: {}", self.reason)
        } else {
            write!(f, "{file}: {}: {}", self.path, self.reason)
        }
    }
}

/// Every problem found in one config, so the operator fixes them in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn one(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
