//! A config built from the standard environment variables, for `serve` without a config file.
//! When no provider is found the built-in simulator serves, so the quickstart works offline.

use crate::env::Env;
use crate::error::ConfigErrors;
use crate::model::*;
use crate::raw::{RawConfig, RawDeployment, RawModel, RawProvider};
use crate::validate;

/// Model names a discovered provider serves under their own names.
pub const CATALOGUE_MODELS: &[&str] = &[
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
];

/// Name of the model the simulator answers besides the catalogue.
const SIMULATOR_MODEL: &str = "simulator";

/// Builds a config from the environment. Every discovered provider serves the catalogue
/// models in priority order (OpenAI first, then Azure); with none, the simulator does.
pub fn discover(env: &dyn Env) -> Result<Config, ConfigErrors> {
    let mut notes = Vec::new();
    let mut raw = RawConfig::default();

    if env.var("OPENAI_API_KEY").is_some() {
        raw.providers.insert(
            "openai".into(),
            RawProvider {
                kind: "openai".into(),
                api_key: Some("env:OPENAI_API_KEY".into()),
                base_url: env.var("OPENAI_BASE_URL"),
                ..RawProvider::default()
            },
        );
        notes.push("provider `openai` from OPENAI_API_KEY".to_owned());
    }
    match (
        env.var("AZURE_OPENAI_API_KEY"),
        env.var("AZURE_OPENAI_ENDPOINT"),
    ) {
        (Some(_), Some(endpoint)) => {
            let api_version = env.var("OPENAI_API_VERSION");
            raw.providers.insert(
                "azure".into(),
                RawProvider {
                    kind: "azure".into(),
                    api_key: Some("env:AZURE_OPENAI_API_KEY".into()),
                    base_url: Some(endpoint),
                    api_version,
                    ..RawProvider::default()
                },
            );
            notes.push(
                "provider `azure` from AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT (deployments named after the models)"
                    .to_owned(),
            );
        }
        (Some(_), None) => notes.push(
            "AZURE_OPENAI_API_KEY is set but AZURE_OPENAI_ENDPOINT is not: Azure skipped"
                .to_owned(),
        ),
        _ => {}
    }
    for (var, what) in [
        ("ANTHROPIC_API_KEY", "Anthropic"),
        ("GEMINI_API_KEY", "Gemini"),
        ("AWS_ACCESS_KEY_ID", "Bedrock"),
        ("AWS_BEARER_TOKEN_BEDROCK", "Bedrock"),
    ] {
        if env.var(var).is_some() {
            notes.push(format!(
                "{var} is set, but {what} upstreams are not available in this version: skipped"
            ));
        }
    }

    let mut names: Vec<&str> = CATALOGUE_MODELS.to_vec();
    if raw.providers.is_empty() {
        raw.providers.insert(
            "simulator".into(),
            RawProvider {
                kind: "simulator".into(),
                ..RawProvider::default()
            },
        );
        names.insert(0, SIMULATOR_MODEL);
        notes.push(
            "no provider credentials found: the built-in simulator answers every model".to_owned(),
        );
    }
    let provider_names: Vec<String> = raw.providers.keys().cloned().collect();
    raw.models = names
        .into_iter()
        .map(|name| RawModel {
            name: name.to_owned(),
            routing: None,
            max_attempts: None,
            deployments: ordered(&provider_names)
                .map(|provider| RawDeployment {
                    provider: provider.to_owned(),
                    model: name.to_owned(),
                    name: None,
                    weight: None,
                    region: None,
                    capabilities: None,
                    timeout_ms: None,
                    first_byte_timeout_ms: None,
                    idle_timeout_ms: None,
                })
                .collect(),
        })
        .collect();

    let mut config = validate::validate(raw, None, env)?;
    config.source = Source::Discovered { notes };
    Ok(config)
}

/// OpenAI first, then the rest in name order.
fn ordered(names: &[String]) -> impl Iterator<Item = &str> {
    let first = names.iter().filter(|n| *n == "openai");
    let rest = names.iter().filter(|n| *n != "openai");
    first.chain(rest).map(String::as_str)
}
