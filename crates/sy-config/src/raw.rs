//! The config file as written: every table and key the contract defines, unknown keys refused.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{ConfigError, ConfigErrors};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub ledger: RawLedger,
    #[serde(default)]
    pub images: RawImages,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub models: Vec<RawModel>,
    #[serde(default)]
    pub prices: Vec<RawPrice>,
    #[serde(default)]
    pub agreements: BTreeMap<String, RawAgreement>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub routing_hints: Option<bool>,
    pub max_body_bytes: Option<u64>,
    pub max_concurrent_requests: Option<u64>,
    pub shutdown_grace_ms: Option<u64>,
    pub tls: Option<RawTls>,
}

/// `[server] tls = { cert = "cert.pem", key = "key.pem" }`: PEM files, relative to the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub url: Option<String>,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key the gateway writes (several deployments can share one Redis).
    pub redis_prefix: Option<String>,
    /// `"fail-open"` or `"fail-closed"`: what limits do while Redis cannot be reached.
    pub redis_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLedger {
    /// `"batched"` (default) or `"sync"`.
    pub durability: Option<String>,
    /// Report each answer's cost in `x-switchyard-cost-usd` (default false).
    pub cost_header: Option<bool>,
}

/// `[images]`: whether the gateway fetches image URLs for targets that take only inline images.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImages {
    pub fetch_urls: Option<bool>,
    pub max_bytes: Option<u64>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub mode: Option<String>,
    pub admin_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub kind: String,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub api_version: Option<String>,
    /// Azure: `"deployments"` (classic deployment URLs) or `"v1"`; default from `api_version`.
    pub api: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Anthropic: the `anthropic-version` header sent upstream.
    pub anthropic_version: Option<String>,
    pub timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    /// Ask the upstream for streamed usage even when the client did not (stripped before the client).
    pub stream_usage: Option<bool>,
    // Simulator settings.
    pub ttft_ms: Option<u64>,
    pub tokens_per_second: Option<f64>,
    pub fail_status: Option<u16>,
    pub fail_after_chunks: Option<u32>,
    pub embedding_dimensions: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: String,
    pub routing: Option<String>,
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub deployments: Vec<RawDeployment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeployment {
    pub provider: String,
    pub model: String,
    pub name: Option<String>,
    pub weight: Option<u32>,
    pub region: Option<String>,
    pub capabilities: Option<RawCapabilities>,
    /// Override the provider's time limits for this deployment.
    pub timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
}

/// Overrides of the catalogue's capabilities for one deployment.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapabilities {
    pub chat: Option<bool>,
    pub streaming: Option<bool>,
    pub tools: Option<bool>,
    pub vision: Option<bool>,
    pub json_schema: Option<bool>,
    pub embeddings: Option<bool>,
    pub max_context_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
}

/// A price entry; lowest-cost routing ranks by it, the ledger will rate usage with it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub provider: String,
    pub model: String,
    pub input: String,
    pub cache_read: Option<String>,
    pub cache_write: Option<String>,
    pub output: String,
    pub reasoning: Option<String>,
    pub effective_from: Option<String>,
}

/// Agreements are read and type-checked now; routing by them is separate work.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgreement {
    pub providers: Vec<String>,
    pub primary: Option<bool>,
    pub licensed_from: Option<String>,
    pub licensed_until: Option<String>,
    pub revenue_share: Option<String>,
    pub cap: Option<String>,
    pub share_until: Option<String>,
    pub payment_term_days: Option<u32>,
}

/// Parses TOML text, reporting the key path, the reason and the line of any error.
pub fn parse(text: &str, file: Option<&Path>) -> Result<RawConfig, ConfigErrors> {
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| ConfigErrors::one(ConfigError::new(file, "", describe(text, &e))))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigErrors::one(ConfigError::new(file, path, describe(text, e.inner())))
    })
}

/// `reason (line L, column C)`: toml's own message spans several lines with a caret diagram.
fn describe(text: &str, error: &toml::de::Error) -> String {
    let reason = error.message().trim();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{reason} (line {line}, column {column})")
        }
        None => reason.to_owned(),
    }
}
