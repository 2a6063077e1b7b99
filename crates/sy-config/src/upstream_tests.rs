//! The `bedrock`, `anthropic` and `gemini` kinds: defaults, credentials, errors, discovery, prices.

use std::path::Path;

use crate::*;

const FILE: &str = "/etc/switchyard/switchyard.toml";

fn load(text: &str, env: &MapEnv) -> Result<Config, ConfigErrors> {
    load_str(text, Some(Path::new(FILE)), env)
}

fn errors(text: &str, env: &MapEnv) -> Vec<String> {
    match load(text, env) {
        Ok(_) => panic!("expected the config to be rejected"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

/// One provider table plus a model served by it.
fn with_provider(table: &str, model: &str) -> String {
    format!(
        "[providers.p]\n{table}\n\n[[models]]\nname = \"m\"\ndeployments = [{{ provider = \"p\", model = \"{model}\" }}]\n"
    )
}

fn kind(config: &Config) -> &ProviderKind {
    &config.providers[0].kind
}

#[test]
fn the_contract_example_providers_resolve() {
    let text = r#"
[providers.bedrock-use1]
kind = "bedrock"
region = "us-east-1"

[providers.gemini]
kind = "gemini"
api_key = "env:GEMINI_API_KEY"

[providers.anthropic]
kind = "anthropic"
api_key = "env:ANTHROPIC_API_KEY"

[[models]]
name = "gpt-oss"
deployments = [{ provider = "bedrock-use1", model = "openai.gpt-oss-120b-1:0" }]

[[models]]
name = "claude"
deployments = [{ provider = "anthropic", model = "claude-sonnet-4-20250514" }]

[[models]]
name = "flash"
deployments = [{ provider = "gemini", model = "gemini-2.5-flash" }]
"#;
    let env = MapEnv::new([
        ("GEMINI_API_KEY", "gem-key"),
        ("ANTHROPIC_API_KEY", "ant-key"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ("AWS_SESSION_TOKEN", "aws-token"),
    ]);
    let config = load(text, &env).unwrap_or_else(|e| panic!("{e}"));
    match &config.provider("bedrock-use1").map(|p| &p.kind) {
        Some(ProviderKind::Bedrock {
            region,
            endpoint,
            auth:
                BedrockAuth::SigV4 {
                    access_key_id,
                    secret_access_key,
                    session_token,
                    origin,
                },
        }) => {
            assert_eq!(region, "us-east-1");
            assert_eq!(endpoint, "https://bedrock-runtime.us-east-1.amazonaws.com");
            assert_eq!(access_key_id, "AKIDEXAMPLE");
            assert_eq!(secret_access_key.expose(), "aws-secret");
            assert_eq!(
                session_token.as_ref().map(|t| t.expose()),
                Some("aws-token")
            );
            assert_eq!(*origin, CredentialOrigin::Environment);
        }
        other => panic!("wrong kind {other:?}"),
    }
    match &config.provider("anthropic").map(|p| &p.kind) {
        Some(ProviderKind::Anthropic {
            base_url,
            api_key,
            version,
        }) => {
            assert_eq!(base_url, "https://api.anthropic.com");
            assert_eq!(api_key.expose(), "ant-key");
            assert_eq!(version, "2023-06-01");
        }
        other => panic!("wrong kind {other:?}"),
    }
    match &config.provider("gemini").map(|p| &p.kind) {
        Some(ProviderKind::Gemini { base_url, api_key }) => {
            assert_eq!(base_url, "https://generativelanguage.googleapis.com");
            assert_eq!(api_key.expose(), "gem-key");
        }
        other => panic!("wrong kind {other:?}"),
    }
    let printed = format!("{config:?}");
    for secret in ["gem-key", "ant-key", "aws-secret", "aws-token"] {
        assert!(!printed.contains(secret), "{secret} printed in {printed}");
    }
}

#[test]
fn bedrock_credentials_in_the_config_win_over_the_environment() {
    let env = MapEnv::new([
        ("MY_ID", "AKIDCONFIG"),
        ("MY_SECRET", "config-secret"),
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_SESSION_TOKEN", "env-token"),
        ("AWS_BEARER_TOKEN_BEDROCK", "env-bearer"),
    ]);
    let text = with_provider(
        "kind = \"bedrock\"\nregion = \"eu-west-1\"\nbase_url = \"http://127.0.0.1:9/bedrock/\"\naccess_key_id = \"env:MY_ID\"\nsecret_access_key = \"env:MY_SECRET\"",
        "m",
    );
    let config = load(&text, &env).unwrap_or_else(|e| panic!("{e}"));
    match kind(&config) {
        ProviderKind::Bedrock {
            endpoint,
            auth:
                BedrockAuth::SigV4 {
                    access_key_id,
                    session_token,
                    origin,
                    ..
                },
            ..
        } => {
            assert_eq!(
                endpoint, "http://127.0.0.1:9/bedrock",
                "a path prefix is kept"
            );
            assert_eq!(access_key_id, "AKIDCONFIG");
            assert!(
                session_token.is_none(),
                "a token from the environment belongs to the environment's key pair"
            );
            assert_eq!(*origin, CredentialOrigin::Config);
        }
        other => panic!("wrong kind {other:?}"),
    }
}

#[test]
fn bedrock_api_keys_come_from_the_config_or_aws_bearer_token_bedrock() {
    let text = with_provider(
        "kind = \"bedrock\"\nregion = \"us-west-2\"\napi_key = \"br-key\"",
        "m",
    );
    let config = load(&text, &MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        kind(&config),
        ProviderKind::Bedrock { auth: BedrockAuth::ApiKey { key, origin: CredentialOrigin::Config }, .. }
            if key.expose() == "br-key"
    ));

    // boto3 prefers the bearer token over a key pair when both are in the environment.
    let env = MapEnv::new([
        ("AWS_BEARER_TOKEN_BEDROCK", "env-bearer"),
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_REGION", "ap-southeast-2"),
    ]);
    let config =
        load(&with_provider("kind = \"bedrock\"", "m"), &env).unwrap_or_else(|e| panic!("{e}"));
    match kind(&config) {
        ProviderKind::Bedrock {
            region,
            endpoint,
            auth: BedrockAuth::ApiKey { key, origin },
        } => {
            assert_eq!(
                region, "ap-southeast-2",
                "the region defaults to AWS_REGION"
            );
            assert_eq!(
                endpoint,
                "https://bedrock-runtime.ap-southeast-2.amazonaws.com"
            );
            assert_eq!(key.expose(), "env-bearer");
            assert_eq!(*origin, CredentialOrigin::Environment);
        }
        other => panic!("wrong kind {other:?}"),
    }
}

#[test]
fn china_regions_use_their_own_domain() {
    let text = with_provider(
        "kind = \"bedrock\"\nregion = \"cn-north-1\"\napi_key = \"k\"",
        "m",
    );
    let config = load(&text, &MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        kind(&config),
        ProviderKind::Bedrock { endpoint, .. } if endpoint == "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"
    ));
}

#[test]
fn bedrock_problems_name_their_keys() {
    let cases: &[(&str, &str)] = &[
        (
            "kind = \"bedrock\"\nregion = \"us-east-1\"",
            "providers.p: no AWS credentials: set access_key_id and secret_access_key",
        ),
        (
            "kind = \"bedrock\"\napi_key = \"k\"",
            "providers.p.region: is required (e.g. \"us-east-1\"), or set AWS_REGION",
        ),
        (
            "kind = \"bedrock\"\nregion = \"US East 1\"\napi_key = \"k\"",
            "providers.p.region: `US East 1` is not an AWS region",
        ),
        (
            "kind = \"bedrock\"\nregion = \"us-east-1\"\naccess_key_id = \"AKID\"",
            "providers.p.secret_access_key: is required when the config names AWS credentials",
        ),
        (
            "kind = \"bedrock\"\nregion = \"us-east-1\"\nsession_token = \"t\"\nsecret_access_key = \"s\"",
            "providers.p.access_key_id: is required when the config names AWS credentials",
        ),
        (
            "kind = \"bedrock\"\nregion = \"us-east-1\"\napi_key = \"k\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"",
            "providers.p.api_key: give either api_key (a Bedrock API key) or access_key_id and secret_access_key, not both",
        ),
        (
            "kind = \"bedrock\"\nregion = \"us-east-1\"\napi_key = \"env:NOPE\"",
            "providers.p.api_key: environment variable NOPE is not set",
        ),
        (
            "kind = \"bedrock\"\nregion = \"us-east-1\"\napi_key = \"k\"\nstream_usage = true",
            "providers.p.stream_usage: not a setting of a `bedrock` provider",
        ),
        (
            "kind = \"bedrock\"\nregion = \"us-east-1\"\napi_key = \"k\"\nbase_url = \"ftp://x\"",
            "providers.p.base_url: `ftp://x` is not an http(s) URL",
        ),
    ];
    for (table, expected) in cases {
        let joined = errors(&with_provider(table, "m"), &MapEnv::default()).join("\n");
        assert!(
            joined.contains(&format!("{FILE}: {expected}")),
            "missing {expected:?} in:\n{joined}"
        );
    }
}

#[test]
fn anthropic_and_gemini_problems_name_their_keys() {
    let cases: &[(&str, &str)] = &[
        (
            "kind = \"anthropic\"",
            "providers.p.api_key: is required for this kind",
        ),
        (
            "kind = \"gemini\"",
            "providers.p.api_key: is required for this kind",
        ),
        (
            "kind = \"anthropic\"\napi_key = \"k\"\nbase_url = \"https://api.anthropic.com/v1\"",
            "providers.p.base_url: give the API root without `/v1` (the gateway appends it)",
        ),
        (
            "kind = \"gemini\"\napi_key = \"k\"\nbase_url = \"https://generativelanguage.googleapis.com/v1beta/\"",
            "providers.p.base_url: give the API root without `/v1beta` (the gateway appends it)",
        ),
        (
            "kind = \"anthropic\"\napi_key = \"k\"\nanthropic_version = \"\"",
            "providers.p.anthropic_version: `` is not a version such as \"2023-06-01\"",
        ),
        (
            "kind = \"gemini\"\napi_key = \"k\"\nanthropic_version = \"2023-06-01\"",
            "providers.p.anthropic_version: not a setting of a `gemini` provider",
        ),
        (
            "kind = \"gemini\"\napi_key = \"k\"\nregion = \"us-east-1\"",
            "providers.p.region: not a setting of a `gemini` provider",
        ),
        (
            "kind = \"anthropic\"\napi_key = \"k\"\nstream_usage = false",
            "providers.p.stream_usage: not a setting of a `anthropic` provider",
        ),
    ];
    for (table, expected) in cases {
        let joined = errors(&with_provider(table, "m"), &MapEnv::default()).join("\n");
        assert!(
            joined.contains(&format!("{FILE}: {expected}")),
            "missing {expected:?} in:\n{joined}"
        );
    }
}

#[test]
fn anthropic_and_gemini_take_a_base_url_and_a_version() {
    let text = with_provider(
        "kind = \"anthropic\"\napi_key = \"k\"\nbase_url = \"http://127.0.0.1:7000/\"\nanthropic_version = \"2024-01-01\"",
        "m",
    );
    let config = load(&text, &MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        kind(&config),
        ProviderKind::Anthropic { base_url, version, .. }
            if base_url == "http://127.0.0.1:7000" && version == "2024-01-01"
    ));
    let text = with_provider(
        "kind = \"gemini\"\napi_key = \"k\"\nbase_url = \"http://127.0.0.1:7001\"",
        "m",
    );
    let config = load(&text, &MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        kind(&config),
        ProviderKind::Gemini { base_url, .. } if base_url == "http://127.0.0.1:7001"
    ));
    assert_eq!(kind(&config).name(), "gemini");
}

#[test]
fn the_built_in_price_book_prices_the_new_kinds() {
    let text = r#"
[providers.br]
kind = "bedrock"
region = "us-east-1"
api_key = "k"
[providers.ant]
kind = "anthropic"
api_key = "k"
[providers.gem]
kind = "gemini"
api_key = "k"

[[models]]
name = "m"
deployments = [
  { provider = "br", model = "anthropic.claude-sonnet-4-20250514-v1:0" },
  { provider = "ant", model = "claude-sonnet-4-20250514" },
  { provider = "gem", model = "gemini-2.5-flash" },
  { provider = "br", model = "us.anthropic.claude-sonnet-4-20250514-v1:0" },
]
"#;
    let config = load(text, &MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
    let prices: Vec<Option<MicroUsd>> = config.models[0]
        .deployments
        .iter()
        .map(|d| d.prices.first().map(|p| p.input))
        .collect();
    assert_eq!(
        prices,
        [
            Some(MicroUsd(3_000_000)),
            Some(MicroUsd(3_000_000)),
            Some(MicroUsd(300_000)),
            None,
        ],
        "the book is keyed by kind and exact model id; an inference profile is priced by config"
    );
    let cache_write = config.models[0].deployments[1].prices[0].cache_write;
    assert_eq!(cache_write, MicroUsd(3_750_000));
}

#[test]
fn discovery_finds_anthropic_gemini_and_bedrock() {
    let env = MapEnv::new([
        ("ANTHROPIC_API_KEY", "ant"),
        ("GEMINI_API_KEY", "gem"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_REGION", "us-west-2"),
    ]);
    let config = discover(&env).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.uses_simulator());
    let kinds: Vec<&str> = config.providers.iter().map(|p| p.kind.name()).collect();
    assert_eq!(kinds, ["anthropic", "bedrock", "gemini"]);
    let served = |model: &str| -> Vec<String> {
        config
            .models
            .iter()
            .find(|m| m.name == model)
            .map(|m| m.deployments.iter().map(|d| d.provider.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(served("claude-sonnet-4-20250514"), ["anthropic"]);
    assert_eq!(served("gemini-2.5-flash"), ["gemini"]);
    assert_eq!(served("amazon.nova-pro-v1:0"), ["bedrock"]);
    assert!(
        served("gpt-4o").is_empty(),
        "no OpenAI-family provider, no gpt-4o"
    );
    let nova = config
        .models
        .iter()
        .find(|m| m.name == "amazon.nova-pro-v1:0")
        .map(|m| m.deployments[0].prices.len());
    assert_eq!(nova, Some(1), "discovered models are in the price book");
    match &config.source {
        Source::Discovered { notes } => {
            let joined = notes.join("\n");
            assert!(
                joined.contains("provider `anthropic` from ANTHROPIC_API_KEY"),
                "{joined}"
            );
            assert!(
                joined.contains("provider `bedrock` in us-west-2"),
                "{joined}"
            );
        }
        other => panic!("wrong source {other:?}"),
    }
}

#[test]
fn discovery_skips_bedrock_without_a_region_and_says_so() {
    let env = MapEnv::new([("AWS_BEARER_TOKEN_BEDROCK", "br")]);
    let config = discover(&env).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.uses_simulator());
    match &config.source {
        Source::Discovered { notes } => assert!(
            notes
                .iter()
                .any(|n| n.contains("AWS_REGION is not: Bedrock skipped")),
            "{notes:?}"
        ),
        other => panic!("wrong source {other:?}"),
    }
    let env = MapEnv::new([
        ("AWS_BEARER_TOKEN_BEDROCK", "br"),
        ("AWS_REGION", "us-east-1"),
    ]);
    let config = discover(&env).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        kind(&config),
        ProviderKind::Bedrock {
            auth: BedrockAuth::ApiKey { .. },
            ..
        }
    ));
}
