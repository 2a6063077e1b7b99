//! Finding and loading the config: an explicit path, ./switchyard.toml, or environment discovery.

use std::path::{Path, PathBuf};

use std::process::ExitCode;

use sy_config::{Config, ConfigErrors, ProcessEnv, Storage};
use sy_core::Secret;

pub const DEFAULT_CONFIG: &str = "switchyard.toml";

/// Loads the config named by `path`, or `./switchyard.toml`, or discovers one from the environment.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    let default = PathBuf::from(DEFAULT_CONFIG);
    match path {
        Some(path) => sy_config::load_file(path, &ProcessEnv),
        None if default.exists() => sy_config::load_file(&default, &ProcessEnv),
        None => sy_config::discover(&ProcessEnv),
    }
}

/// [`load`], printing the problems to stderr when there are any (the caller exits with 1).
pub fn load_or_report(path: Option<&Path>) -> Result<Config, ExitCode> {
    load(path).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::FAILURE
    })
}

/// Only the store's settings from the same config [`load`] would read, printing problems to
/// stderr: the commands that manage the store need nothing else (no provider keys, no admin key).
pub fn load_storage_or_report(path: Option<&Path>) -> Result<Storage, ExitCode> {
    let default = PathBuf::from(DEFAULT_CONFIG);
    let file = match path {
        Some(path) => Some(path),
        None if default.exists() => Some(default.as_path()),
        None => None,
    };
    let storage = match file {
        Some(file) => sy_config::load_file_storage(file, &ProcessEnv),
        None => Ok(Storage {
            url: Secret::new(sy_config::DEFAULT_STORAGE_URL),
            base_dir: None,
            redis: None,
        }),
    };
    storage.map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::FAILURE
    })
}

/// A Tokio runtime for a command: several worker threads to serve, one for a short CLI call.
pub fn runtime(serve: bool) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = if serve {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().map_err(|e| {
        eprintln!("cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}
