//! Switchyard configuration: TOML read raw, then validated into the typed [`Config`] every other crate uses.
//!
//! Two phases (parse, don't validate): [`raw`] mirrors the file with `deny_unknown_fields`; [`validate`]
//! turns it into typed values, resolving `env:NAME` secrets and collecting every problem with its key path.
//! With no file, [`discover`] builds a config from the standard environment variables.

mod catalogue;
mod commercial;
mod discover;
mod env;
mod error;
mod model;
mod raw;
mod time;
mod tls;
mod upstreams;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod upstream_tests;

pub use catalogue::lookup as catalogue_capabilities;
pub use discover::{CATALOGUE_MODELS, discover};
pub use env::{Env, MapEnv, ProcessEnv};
pub use error::{ConfigError, ConfigErrors};
pub use model::{
    Agreement, AuthMode, AzureApi, BedrockAuth, Capabilities, Config, CredentialOrigin, Deployment,
    Durability, ImageSettings, LedgerSettings, MicroUsd, Model, PricePoint, Provider, ProviderKind,
    Redis, RedisPolicy, Routing, Server, SimulatorSettings, Source, Storage, Timeouts, Tls,
};
pub use time::{civil_from_days, format_rfc3339_utc, parse_rfc3339_utc};
pub use validate::DEFAULT_STORAGE_URL;

use std::path::Path;

/// Reads and validates the config file at `path`.
pub fn load_file(path: &Path, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::one(ConfigError::new(
            Some(path),
            "",
            format!("cannot read the file: {e}"),
        ))
    })?;
    load_str(&text, Some(path), env)
}

/// Reads only the file's `[storage]` table (the rest must still parse): what the commands that
/// manage the store need, without provider credentials or the admin key in the environment.
pub fn load_file_storage(path: &Path, env: &dyn Env) -> Result<Storage, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::one(ConfigError::new(
            Some(path),
            "",
            format!("cannot read the file: {e}"),
        ))
    })?;
    let raw = raw::parse(&text, Some(path))?;
    validate::validate_storage(&raw, Some(path), env)
}

/// Parses and validates config text; `file` is used in error messages and to resolve relative paths.
pub fn load_str(text: &str, file: Option<&Path>, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let raw = raw::parse(text, file)?;
    validate::validate(raw, file, env)
}
