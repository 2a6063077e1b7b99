//! A config built from the standard environment variables, for `serve` without a config file.
//! When no provider is found the built-in simulator serves, so the quickstart works offline.

use std::collections::BTreeMap;

use crate::env::Env;
use crate::error::ConfigErrors;
use crate::model::*;
use crate::raw::{RawConfig, RawDeployment, RawModel, RawProvider};
use crate::validate;

/// Model names a discovered OpenAI or Azure provider (and the simulator) serves under their own names.
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

/// What a discovered Anthropic provider serves, under Anthropic's model ids.
const ANTHROPIC_MODELS: &[&str] = &[
    "claude-sonnet-4-20250514",
    "claude-opus-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
];

/// What a discovered Gemini provider serves, under Google's model ids.
const GEMINI_MODELS: &[&str] = &["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"];

/// What a discovered Bedrock provider serves, under Bedrock's model ids (as Bedrock-dialect clients
/// name them). Models that Bedrock serves only through an inference profile (newer Claude models)
/// need a config file that names the profile.
const BEDROCK_MODELS: &[&str] = &[
    "amazon.nova-pro-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-micro-v1:0",
    "openai.gpt-oss-120b-1:0",
    "openai.gpt-oss-20b-1:0",
];

/// Name of the model the simulator answers besides the catalogue.
const SIMULATOR_MODEL: &str = "simulator";

/// Builds a config from the environment. Every discovered provider serves its kind's models under
/// their own names; OpenAI and Azure share theirs, OpenAI first. With none, the simulator serves the
/// OpenAI catalogue.
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
    if env.var("ANTHROPIC_API_KEY").is_some() {
        raw.providers.insert(
            "anthropic".into(),
            RawProvider {
                kind: "anthropic".into(),
                api_key: Some("env:ANTHROPIC_API_KEY".into()),
                base_url: env.var("ANTHROPIC_BASE_URL"),
                ..RawProvider::default()
            },
        );
        notes.push("provider `anthropic` from ANTHROPIC_API_KEY".to_owned());
    }
    if env.var("GEMINI_API_KEY").is_some() {
        raw.providers.insert(
            "gemini".into(),
            RawProvider {
                kind: "gemini".into(),
                api_key: Some("env:GEMINI_API_KEY".into()),
                ..RawProvider::default()
            },
        );
        notes.push("provider `gemini` from GEMINI_API_KEY".to_owned());
    }
    discover_bedrock(env, &mut raw, &mut notes);

    let mut names: Vec<&str> = Vec::new();
    if raw.providers.is_empty() {
        raw.providers.insert(
            "simulator".into(),
            RawProvider {
                kind: "simulator".into(),
                ..RawProvider::default()
            },
        );
        names.push(SIMULATOR_MODEL);
        notes.push(
            "no provider credentials found: the built-in simulator answers every model".to_owned(),
        );
    }
    let providers: Vec<(String, &'static [&'static str])> = ordered(&raw.providers)
        .map(|(name, kind)| (name.to_owned(), served_by(kind)))
        .collect();
    for model in providers.iter().flat_map(|(_, models)| models.iter()) {
        if !names.contains(model) {
            names.push(model);
        }
    }
    raw.models = names
        .into_iter()
        .map(|name| RawModel {
            name: name.to_owned(),
            routing: None,
            max_attempts: None,
            deployments: providers
                .iter()
                .filter(|(_, models)| name == SIMULATOR_MODEL || models.contains(&name))
                .map(|(provider, _)| RawDeployment {
                    provider: provider.clone(),
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

/// A Bedrock provider when AWS credentials and a region are set; a note says why not otherwise.
/// Validation reads the credentials from the same variables.
fn discover_bedrock(env: &dyn Env, raw: &mut RawConfig, notes: &mut Vec<String>) {
    let api_key = env.var("AWS_BEARER_TOKEN_BEDROCK").is_some();
    let key_id = env.var("AWS_ACCESS_KEY_ID").is_some();
    let key_pair = key_id && env.var("AWS_SECRET_ACCESS_KEY").is_some();
    if !api_key && !key_pair {
        if key_id {
            notes.push(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: Bedrock skipped"
                    .to_owned(),
            );
        }
        return;
    }
    let Some(region) = env
        .var("AWS_REGION")
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
    else {
        notes.push("AWS credentials are set but AWS_REGION is not: Bedrock skipped".to_owned());
        return;
    };
    let credentials = if api_key {
        "AWS_BEARER_TOKEN_BEDROCK"
    } else {
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    };
    raw.providers.insert(
        "bedrock".into(),
        RawProvider {
            kind: "bedrock".into(),
            ..RawProvider::default()
        },
    );
    notes.push(format!(
        "provider `bedrock` in {region} from {credentials} (Bedrock model ids, e.g. amazon.nova-pro-v1:0)"
    ));
}

/// The models a discovered provider of `kind` serves.
fn served_by(kind: &str) -> &'static [&'static str] {
    match kind {
        "anthropic" => ANTHROPIC_MODELS,
        "gemini" => GEMINI_MODELS,
        "bedrock" => BEDROCK_MODELS,
        _ => CATALOGUE_MODELS,
    }
}

/// `(name, kind)` of every provider, OpenAI first, then the rest in name order.
fn ordered(providers: &BTreeMap<String, RawProvider>) -> impl Iterator<Item = (&str, &str)> {
    let first = providers.iter().filter(|(n, _)| *n == "openai");
    let rest = providers.iter().filter(|(n, _)| *n != "openai");
    first
        .chain(rest)
        .map(|(name, p)| (name.as_str(), p.kind.as_str()))
}
