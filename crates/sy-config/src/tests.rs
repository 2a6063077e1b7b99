//! Config parsing and validation: good configs resolve, bad ones name the key path and the reason.

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

const FULL: &str = r#"
[server]
listen = "127.0.0.1:4100"
max_body_bytes = 1024

[providers.azure-eastus]
kind = "azure"
base_url = "https://contoso.openai.azure.com/"
api_key = "env:AZURE_KEY"
api_version = "2024-10-21"

[providers.oai]
kind = "openai"
api_key = "sk-literal"
timeout_ms = 5000

[providers.local]
kind = "openai-compatible"
base_url = "http://127.0.0.1:8000/v1"

[[models]]
name = "gpt-4o"
deployments = [
  { provider = "azure-eastus", model = "gpt-4o-prod" },
  { provider = "oai", model = "gpt-4o", name = "openai-direct" },
]

[[models]]
name = "llama"
deployments = [{ provider = "local", model = "meta-llama/Llama-3.1-8B" }]
"#;

#[test]
fn a_full_config_resolves() {
    let env = MapEnv::new([("AZURE_KEY", "azure-secret")]);
    let config = load(FULL, &env).expect("valid");
    assert_eq!(config.server.listen.port(), 4100);
    assert_eq!(config.server.max_body_bytes, 1024);
    assert_eq!(config.source, Source::File(FILE.into()));
    let azure = config.provider("azure-eastus").expect("azure");
    match &azure.kind {
        ProviderKind::Azure {
            endpoint,
            api_key,
            api,
            ..
        } => {
            assert_eq!(endpoint, "https://contoso.openai.azure.com");
            assert_eq!(api_key.expose(), "azure-secret");
            assert_eq!(
                api,
                &AzureApi::Deployments {
                    api_version: "2024-10-21".into()
                }
            );
        }
        other => panic!("wrong kind {other:?}"),
    }
    let oai = config.provider("oai").expect("oai");
    assert_eq!(oai.timeouts.total.as_millis(), 5000);
    assert!(oai.timeouts.first_byte <= oai.timeouts.total);
    let gpt = &config.models[0];
    assert_eq!(gpt.deployments[0].name, "azure-eastus/gpt-4o-prod");
    assert_eq!(gpt.deployments[1].name, "openai-direct");
    match &config.provider("local").expect("local").kind {
        ProviderKind::OpenAiCompatible { api_key, .. } => assert!(api_key.is_none()),
        other => panic!("wrong kind {other:?}"),
    }
}

#[test]
fn secrets_are_redacted_when_the_config_is_printed() {
    let env = MapEnv::new([("AZURE_KEY", "azure-secret-value")]);
    let config = load(FULL, &env).expect("valid");
    let printed = format!("{config:?}");
    assert!(!printed.contains("azure-secret-value"), "{printed}");
    assert!(!printed.contains("sk-literal"), "{printed}");
}

#[test]
fn a_missing_env_secret_names_the_key_and_the_variable() {
    let errs = errors(FULL, &MapEnv::default());
    assert_eq!(
        errs,
        vec![format!(
            "{FILE}: providers.azure-eastus.api_key: environment variable AZURE_KEY is not set"
        )]
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let text = r#"
[providers.sim]
kind = "simulator"
ttft = 5

[[models]]
name = "m"
deployments = [{ provider = "sim", model = "m" }]
"#;
    let errs = errors(text, &MapEnv::default());
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(&format!("{FILE}: providers.sim.ttft: unknown field `ttft`")),
        "{errs:?}"
    );
    assert!(errs[0].ends_with("(line 4, column 1)"), "{errs:?}");
}

#[test]
fn wrong_types_are_refused_with_their_path() {
    let text = r#"
[server]
max_body_bytes = "big"
"#;
    let errs = errors(text, &MapEnv::default());
    assert_eq!(
        errs,
        vec![format!(
            "{FILE}: server.max_body_bytes: invalid type: string \"big\", expected u64 (line 3, column 18)"
        )]
    );
}

#[test]
fn toml_syntax_errors_carry_the_location() {
    let errs = errors("[server\nlisten = 1", &MapEnv::default());
    assert!(errs[0].contains("line 1"), "{errs:?}");
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let text = r#"
[server]
listen = "nowhere"

[providers.a]
kind = "openai"

[providers.b]
kind = "quantum"

[[models]]
name = "m"
routing = "fastest"
deployments = [{ provider = "missing", model = "x" }]
"#;
    let errs = errors(text, &MapEnv::default());
    let joined = errs.join("\n");
    for expected in [
        "server.listen: `nowhere` is not an address",
        "providers.a.api_key: is required",
        "providers.b.kind: unknown kind `quantum`",
        "models[0].routing: unknown strategy `fastest`",
        "models[0].deployments[0].provider: unknown provider `missing`",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
}

#[test]
fn open_mode_refuses_a_public_address() {
    let text = r#"
[server]
listen = "0.0.0.0:4000"

[providers.sim]
kind = "simulator"

[[models]]
name = "m"
deployments = [{ provider = "sim", model = "m" }]
"#;
    let errs = errors(text, &MapEnv::default());
    assert!(errs[0].contains("auth.mode"), "{errs:?}");
    assert!(errs[0].contains("loopback"), "{errs:?}");
}

#[test]
fn settings_of_another_kind_are_refused() {
    let text = r#"
[providers.oai]
kind = "openai"
api_key = "k"
ttft_ms = 10
api_version = "2024-10-21"

[[models]]
name = "m"
deployments = [{ provider = "oai", model = "m" }]
"#;
    let joined = errors(text, &MapEnv::default()).join("\n");
    assert!(joined.contains("providers.oai.ttft_ms: not a setting of a `openai` provider"));
    assert!(joined.contains("providers.oai.api_version: not a setting"));
}

#[test]
fn azure_defaults_to_the_v1_api_without_a_version() {
    let text = r#"
[providers.az]
kind = "azure"
base_url = "https://x.openai.azure.com"
api_key = "k"

[[models]]
name = "m"
deployments = [{ provider = "az", model = "dep" }]
"#;
    let config = load(text, &MapEnv::default()).expect("valid");
    assert!(matches!(
        config.providers[0].kind,
        ProviderKind::Azure {
            api: AzureApi::V1,
            ..
        }
    ));
}

#[test]
fn discovery_falls_back_to_the_simulator() {
    let config = discover(&MapEnv::default()).expect("valid");
    assert!(config.uses_simulator());
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:4000");
    assert!(config.models.iter().any(|m| m.name == "gpt-4o"));
    match &config.source {
        Source::Discovered { notes } => assert!(notes.iter().any(|n| n.contains("simulator"))),
        other => panic!("wrong source {other:?}"),
    }
}

#[test]
fn discovery_never_uses_the_simulator_when_a_real_provider_is_found() {
    let env = MapEnv::new([
        ("OPENAI_API_KEY", "sk-test"),
        ("AZURE_OPENAI_API_KEY", "az"),
        ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com"),
        ("ANTHROPIC_API_KEY", "ant"),
    ]);
    let config = discover(&env).expect("valid");
    assert!(!config.uses_simulator());
    let gpt = config
        .models
        .iter()
        .find(|m| m.name == "gpt-4o")
        .expect("gpt-4o");
    let order: Vec<&str> = gpt
        .deployments
        .iter()
        .map(|d| d.provider.as_str())
        .collect();
    assert_eq!(order, ["openai", "azure"]);
    match &config.source {
        Source::Discovered { notes } => {
            assert!(
                notes.iter().any(|n| n.contains("ANTHROPIC_API_KEY")),
                "{notes:?}"
            )
        }
        other => panic!("wrong source {other:?}"),
    }
}

#[test]
fn contract_example_sections_parse() {
    let text = r#"
[storage]
url = "sqlite://switchyard.db"

[auth]
mode = "open"

[providers.sim]
kind = "simulator"
ttft_ms = 0
tokens_per_second = 0

[[models]]
name = "gpt-4o"
routing = "priority"
deployments = [{ provider = "sim", model = "gpt-4o", weight = 1 }]

[[prices]]
provider = "sim"
model = "gpt-4o"
input = "2.50"
output = "10.00"

[agreements.primary]
providers = ["sim"]
primary = true
licensed_from = "2019-07-22"
licensed_until = "2033-01-01"
"#;
    let config = load(text, &MapEnv::default()).expect("valid");
    assert!(config.uses_simulator());
}

#[test]
fn decimal_prices_are_exact() {
    assert_eq!(MicroUsd::parse("2.50"), Some(MicroUsd(2_500_000)));
    assert_eq!(MicroUsd::parse("0.000001"), Some(MicroUsd(1)));
    assert_eq!(MicroUsd::parse("10"), Some(MicroUsd(10_000_000)));
    assert_eq!(MicroUsd::parse(".5"), Some(MicroUsd(500_000)));
    for bad in ["", ".", "-1", "1.0000001", "1e3", "1,5", "abc"] {
        assert_eq!(MicroUsd::parse(bad), None, "{bad}");
    }
}

#[test]
fn lowest_cost_needs_prices_and_prices_attach_to_deployments() {
    let text = r#"
[providers.a]
kind = "simulator"
[providers.b]
kind = "simulator"

[[models]]
name = "m"
routing = "lowest-cost"
deployments = [{ provider = "a", model = "x" }, { provider = "b", model = "y" }]

[[prices]]
provider = "a"
model = "x"
input = "2.50"
output = "10.00"
effective_from = "2027-01-01T00:00:00Z"

[[prices]]
provider = "a"
model = "x"
input = "3.00"
output = "12.00"
"#;
    let errs = errors(text, &MapEnv::default());
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("models[0].deployments[1]: lowest-cost routing needs a [[prices]] entry for provider `b` model `y`"), "{errs:?}");

    let priced = format!(
        "{text}\n[[prices]]\nprovider = \"b\"\nmodel = \"y\"\ninput = \"1\"\noutput = \"2\"\n"
    );
    let config = load(&priced, &MapEnv::default()).expect("valid");
    let a = &config.models[0].deployments[0];
    assert_eq!(a.prices.len(), 2);
    assert_eq!(
        a.prices[0].effective_from,
        i64::MIN,
        "undated entries apply from the start"
    );
    assert_eq!(a.prices[1].input, MicroUsd(2_500_000));
    assert_eq!(config.models[0].routing, Routing::LowestCost);
}

#[test]
fn bad_price_fields_are_named() {
    let text = r#"
[providers.a]
kind = "simulator"
[[models]]
name = "m"
deployments = [{ provider = "a", model = "x" }]
[[prices]]
provider = "a"
model = "x"
input = "2,50"
output = "1"
effective_from = "yesterday"
"#;
    let joined = errors(text, &MapEnv::default()).join("\n");
    assert!(
        joined.contains("prices[0].input: `2,50` is not a decimal such as"),
        "{joined}"
    );
    assert!(
        joined.contains("prices[0].effective_from: `yesterday` is not a date"),
        "{joined}"
    );
}

#[test]
fn agreements_are_validated() {
    let text = r#"
[providers.a]
kind = "simulator"
[providers.b]
kind = "simulator"
[[models]]
name = "m"
deployments = [{ provider = "a", model = "x" }]

[agreements.one]
providers = ["a"]
licensed_from = "2030-01-01"
licensed_until = "2029-01-01"
revenue_share = "1.5"

[agreements.two]
providers = ["a", "ghost"]
share_until = "soon"
cap = "lots"
"#;
    let joined = errors(text, &MapEnv::default()).join("\n");
    for expected in [
        "agreements.one.licensed_until: must be after licensed_from",
        "agreements.one.revenue_share: is a fraction of the charge and must be between 0 and 1",
        "agreements.two.providers[0]: provider `a` is already covered by agreement `one`",
        "agreements.two.providers[1]: unknown provider `ghost`",
        "agreements.two.share_until: `soon` is not a date",
        "agreements.two.cap: `lots` is not a decimal",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
}

#[test]
fn agreement_windows_are_half_open() {
    let text = r#"
[providers.a]
kind = "simulator"
[[models]]
name = "m"
deployments = [{ provider = "a", model = "x" }]
[agreements.p]
providers = ["a"]
primary = true
licensed_from = "2026-01-01"
licensed_until = "2026-01-02T00:00:00Z"
revenue_share = "0.20"
"#;
    let config = load(text, &MapEnv::default()).expect("valid");
    let agreement = config.agreement_for("a").expect("agreement");
    assert!(agreement.primary);
    assert_eq!(agreement.revenue_share, Some(MicroUsd(200_000)));
    assert!(!agreement.in_force(1_767_225_599));
    assert!(agreement.in_force(1_767_225_600));
    assert!(agreement.in_force(1_767_311_999));
    assert!(!agreement.in_force(1_767_312_000));
}

const SIM_MODEL: &str = r#"
[providers.sim]
kind = "simulator"

[[models]]
name = "m"
deployments = [{ provider = "sim", model = "m" }]
"#;

#[test]
fn keys_mode_may_listen_anywhere_and_open_mode_may_not() {
    let env = MapEnv::new([("PG_URL", "postgres://sy:pw@db/sy")]);
    let text = format!(
        "[server]\nlisten = \"0.0.0.0:4000\"\n[auth]\nmode = \"keys\"\n[storage]\nurl = \"env:PG_URL\"\nredis_url = \"redis://127.0.0.1:6379\"\nredis_policy = \"fail-closed\"\nredis_prefix = \"sy-prod\"\n{SIM_MODEL}"
    );
    let config = load(&text, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.auth, AuthMode::Keys);
    assert_eq!(config.storage.url.expose(), "postgres://sy:pw@db/sy");
    assert!(
        !format!("{config:?}").contains("pw@"),
        "a database password never prints"
    );
    let redis = config.storage.redis.unwrap_or_else(|| panic!("no redis"));
    assert_eq!(redis.policy, RedisPolicy::FailClosed);
    assert_eq!(redis.prefix, "sy-prod");
    assert_eq!(
        config.storage.base_dir.as_deref(),
        Some(Path::new("/etc/switchyard")),
        "relative SQLite paths resolve beside the config file"
    );

    let open = format!("[server]\nlisten = \"0.0.0.0:4000\"\n{SIM_MODEL}");
    let errs = errors(&open, &env);
    assert!(
        errs.iter()
            .any(|e| e.contains("auth.mode") && e.contains("loopback")),
        "{errs:?}"
    );
}

#[test]
fn storage_settings_are_checked() {
    let env = MapEnv::new([]);
    let text = format!(
        "[storage]\nurl = \"mysql://db\"\nredis_url = \"rediss://cache:6380\"\nredis_policy = \"maybe\"\n{SIM_MODEL}"
    );
    let errs = errors(&text, &env);
    for path in ["storage.url", "storage.redis_url", "storage.redis_policy"] {
        assert!(
            errs.iter().any(|e| e.contains(path)),
            "{path} not reported: {errs:?}"
        );
    }
    let orphan = format!("[storage]\nredis_policy = \"fail-open\"\n{SIM_MODEL}");
    assert!(
        errors(&orphan, &env)
            .iter()
            .any(|e| e.contains("need a redis_url"))
    );
    let default = load(SIM_MODEL, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(default.storage.url.expose(), "sqlite://switchyard.db");
    assert!(default.storage.redis.is_none());
}

#[test]
fn deployments_take_the_built_in_price_book_unless_the_config_prices_them() {
    let env = MapEnv::new([("K", "sk")]);
    let text = r#"
[providers.oai]
kind = "openai"
api_key = "env:K"

[providers.local]
kind = "openai-compatible"
base_url = "http://127.0.0.1:8000/v1"

[[models]]
name = "gpt-4o"
deployments = [{ provider = "oai", model = "gpt-4o" }]

[[models]]
name = "mini"
deployments = [{ provider = "oai", model = "gpt-4o-mini" }]

[[models]]
name = "local"
deployments = [{ provider = "local", model = "gpt-4o" }]

[[prices]]
provider = "oai"
model = "gpt-4o-mini"
input = "0.20"
output = "0.70"
reasoning = "1.00"
"#;
    let config = load(text, &env).unwrap_or_else(|e| panic!("{e}"));
    let price = |model: &str| {
        config
            .models
            .iter()
            .find(|m| m.name == model)
            .map(|m| m.deployments[0].prices.clone())
            .unwrap_or_default()
    };
    let builtin = price("gpt-4o");
    assert_eq!(builtin.len(), 1, "the built-in book prices openai gpt-4o");
    assert_eq!(builtin[0].input, MicroUsd(2_500_000));
    assert_eq!(builtin[0].cache_read, MicroUsd(1_250_000));
    assert_eq!(
        builtin[0].cache_write,
        MicroUsd(2_500_000),
        "cache writes default to input"
    );
    assert_eq!(
        builtin[0].reasoning,
        MicroUsd(10_000_000),
        "reasoning defaults to output"
    );
    let configured = price("mini");
    assert_eq!(configured[0].input, MicroUsd(200_000), "the config wins");
    assert_eq!(configured[0].cache_read, MicroUsd(200_000));
    assert_eq!(configured[0].reasoning, MicroUsd(1_000_000));
    assert!(
        price("local").is_empty(),
        "the book is keyed by kind: an openai-compatible server's gpt-4o has no known price"
    );
}

#[test]
fn images_default_to_no_fetching() {
    let env = MapEnv::new([("AZURE_KEY", "k")]);
    let config = load(FULL, &env).expect("valid");
    assert_eq!(config.images, ImageSettings::default());
    assert!(!config.images.fetch_urls);
    assert_eq!(config.images.max_bytes, 5 * 1024 * 1024);
    assert_eq!(config.images.timeout, std::time::Duration::from_secs(5));
}

#[test]
fn images_settings_resolve() {
    let env = MapEnv::new([("AZURE_KEY", "k")]);
    let text = format!("[images]\nfetch_urls = true\nmax_bytes = 1024\ntimeout_ms = 100\n{FULL}");
    let images = load(&text, &env).expect("valid").images;
    assert!(images.fetch_urls);
    assert_eq!(images.max_bytes, 1024);
    assert_eq!(images.timeout, std::time::Duration::from_millis(100));
    let text = format!("[images]\nmax_bytes = 33554432\ntimeout_ms = 60000\n{FULL}");
    let images = load(&text, &env)
        .expect("the upper bounds are allowed")
        .images;
    assert_eq!(images.max_bytes, 32 * 1024 * 1024);
}

#[test]
fn images_settings_out_of_range_are_refused() {
    let env = MapEnv::new([("AZURE_KEY", "k")]);
    for (key, value) in [
        ("max_bytes", "0"),
        ("max_bytes", "33554433"),
        ("timeout_ms", "99"),
        ("timeout_ms", "60001"),
    ] {
        let text = format!("[images]\n{key} = {value}\n{FULL}");
        let errors = errors(&text, &env);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains(&format!("images.{key}")) && errors[0].contains("out of range"),
            "{errors:?}"
        );
    }
    let errors = errors(&format!("[images]\nfetch = true\n{FULL}"), &env);
    assert!(
        errors[0].contains("fetch"),
        "unknown keys are refused: {errors:?}"
    );
}

#[test]
fn a_whole_answer_waits_for_the_total_limit_unless_a_first_byte_limit_is_set() {
    let text = r#"
[providers.plain]
kind = "openai-compatible"
base_url = "http://127.0.0.1:1/v1"
timeout_ms = 900000

[providers.strict]
kind = "openai-compatible"
base_url = "http://127.0.0.1:1/v1"
first_byte_timeout_ms = 30000

[[models]]
name = "m"
deployments = [
  { provider = "plain", model = "a" },
  { provider = "plain", model = "b", name = "tight", first_byte_timeout_ms = 5000 },
  { provider = "strict", model = "c" },
  { provider = "plain", model = "d", name = "short", timeout_ms = 60000 },
]
"#;
    let config = load(text, &MapEnv::new([])).expect("valid");
    let heads = |i: usize| {
        let t = config.models[0].deployments[i].timeouts;
        (t.head(true).as_millis(), t.head(false).as_millis())
    };
    // Defaults: a stream's head within 120 s, a whole answer's within the total.
    assert_eq!(heads(0), (120_000, 900_000));
    // A configured first-byte limit, on the deployment or the provider, bounds both.
    assert_eq!(heads(1), (5_000, 5_000));
    assert_eq!(heads(2), (30_000, 30_000));
    // Never past the total.
    assert_eq!(heads(3), (60_000, 60_000));
}
