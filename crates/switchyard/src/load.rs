//! Finding and loading the config: an explicit path, ./switchyard.toml, or environment discovery.

use std::path::{Path, PathBuf};

use sy_config::{Config, ConfigErrors, ProcessEnv};

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
