//! Raw config -> validated [`Config`], collecting every problem with its key path.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sy_core::Secret;

use crate::commercial;
use crate::env::Env;
use crate::error::{ConfigError, ConfigErrors};
use crate::model::*;
use crate::raw::{RawAuth, RawConfig, RawImages, RawModel, RawProvider, RawServer, RawStorage};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4000";
const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;
const DEFAULT_MAX_CONCURRENT: u64 = 10_000;
const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 30_000;
/// The contract's embedded default: a SQLite file beside the config (or in the working directory).
pub const DEFAULT_STORAGE_URL: &str = "sqlite://switchyard.db";
const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Collects errors while validating, so one pass reports them all.
pub(crate) struct Checker<'a> {
    file: Option<&'a Path>,
    env: &'a dyn Env,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    pub(crate) fn error(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ConfigError::new(self.file, path, reason));
    }

    /// An exact decimal such as `"2.50"`, or an error naming `path`.
    pub(crate) fn decimal(&mut self, path: String, value: Option<&str>) -> Option<MicroUsd> {
        let value = value?;
        let parsed = MicroUsd::parse(value);
        if parsed.is_none() {
            self.error(
                path,
                format!("`{value}` is not a decimal such as \"2.50\" (at most 6 decimal places)"),
            );
        }
        parsed
    }

    /// A date or UTC time as Unix seconds, or an error naming `path`.
    pub(crate) fn instant(&mut self, path: String, value: Option<&str>) -> Option<i64> {
        let value = value?;
        let parsed = crate::time::parse_rfc3339_utc(value);
        if parsed.is_none() {
            self.error(
                path,
                format!(
                    "`{value}` is not a date (2026-01-01) or a UTC time (2026-01-01T00:00:00Z)"
                ),
            );
        }
        parsed
    }

    /// An environment variable, for settings that default to a standard variable.
    pub(crate) fn env_var(&self, name: &str) -> Option<String> {
        self.env.var(name)
    }

    /// Resolves `env:NAME` (or a literal) into a secret.
    pub(crate) fn secret(&mut self, path: &str, value: &str) -> Option<Secret> {
        match value.strip_prefix("env:") {
            Some(name) => match self.env.var(name) {
                Some(v) => Some(Secret::new(v)),
                None => {
                    self.error(path, format!("environment variable {name} is not set"));
                    None
                }
            },
            None if value.is_empty() => {
                self.error(path, "must not be empty");
                None
            }
            None => Some(Secret::new(value)),
        }
    }

    pub(crate) fn url(&mut self, path: &str, value: &str) -> Option<String> {
        match value.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some()
                    && uri.query().is_none() =>
            {
                Some(value.trim_end_matches('/').to_owned())
            }
            _ => {
                self.error(
                    path,
                    format!("`{value}` is not an http(s) URL with a host and no query"),
                );
                None
            }
        }
    }
}

pub fn validate(
    raw: RawConfig,
    file: Option<&Path>,
    env: &dyn Env,
) -> Result<Config, ConfigErrors> {
    let mut c = Checker {
        file,
        env,
        errors: Vec::new(),
    };
    let server = server(&mut c, &raw.server);
    let auth = auth(&mut c, &raw.auth, server.as_ref());
    let admin_key = raw
        .auth
        .admin_key
        .as_deref()
        .and_then(|key| c.secret("auth.admin_key", key));
    let storage = storage(&mut c, &raw.storage, file);
    let durability = match raw.ledger.durability.as_deref() {
        None | Some("batched") => Durability::Batched,
        Some("sync") => Durability::Sync,
        Some(other) => {
            c.error(
                "ledger.durability",
                format!("unknown durability `{other}`; expected \"batched\" or \"sync\""),
            );
            Durability::Batched
        }
    };
    let ledger = LedgerSettings {
        durability,
        cost_header: raw.ledger.cost_header.unwrap_or(false),
    };
    let images = images(&mut c, &raw.images);
    let providers: Vec<Provider> = raw
        .providers
        .iter()
        .filter_map(|(name, p)| provider(&mut c, name, p))
        .collect();
    let provider_names: HashSet<&str> = raw.providers.keys().map(String::as_str).collect();
    let prices = commercial::prices(&mut c, &raw.prices, &provider_names);
    let default_prices = commercial::default_prices(&mut c);
    let provider_kinds: std::collections::HashMap<&str, &str> = raw
        .providers
        .iter()
        .map(|(name, p)| (name.as_str(), p.kind.as_str()))
        .collect();
    // Every named provider, valid or not (its own errors are already reported), with its limits.
    let provider_timeouts: std::collections::HashMap<&str, Timeouts> = provider_names
        .iter()
        .map(|name| {
            let timeouts = providers
                .iter()
                .find(|p| p.name == *name)
                .map_or_else(Timeouts::default, |p| p.timeouts);
            (*name, timeouts)
        })
        .collect();
    let price_book = PriceBook {
        configured: &prices,
        defaults: &default_prices,
        kinds: &provider_kinds,
    };
    let models = models(&mut c, &raw.models, &provider_timeouts, &price_book);
    if models.is_empty() && c.errors.is_empty() {
        c.error(
            "models",
            "no models are configured: add at least one [[models]] entry",
        );
    }
    let agreements = commercial::agreements(&mut c, &raw.agreements, &provider_names);

    match (server, auth) {
        (Some(server), Some(auth)) if c.errors.is_empty() => Ok(Config {
            source: file.map_or_else(
                || Source::Discovered { notes: Vec::new() },
                |f| Source::File(f.to_path_buf()),
            ),
            server,
            storage,
            auth,
            ledger,
            images,
            admin_key,
            providers,
            models,
            agreements,
        }),
        _ => Err(ConfigErrors(c.errors)),
    }
}

fn server(c: &mut Checker<'_>, raw: &RawServer) -> Option<Server> {
    let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = match listen_text.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            c.error(
                "server.listen",
                format!("`{listen_text}` is not an address like 127.0.0.1:4000"),
            );
            None
        }
    };
    let max_body = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body == 0 {
        c.error("server.max_body_bytes", "must be greater than 0");
    }
    let max_concurrent = raw
        .max_concurrent_requests
        .unwrap_or(DEFAULT_MAX_CONCURRENT);
    if max_concurrent == 0 {
        c.error("server.max_concurrent_requests", "must be greater than 0");
    }
    let base_dir = c.file.and_then(Path::parent);
    let tls = raw
        .tls
        .as_ref()
        .and_then(|tls| crate::tls::load(c, tls, base_dir));
    Some(Server {
        listen: listen?,
        routing_hints: raw.routing_hints.unwrap_or(false),
        max_body_bytes: usize::try_from(max_body).unwrap_or(usize::MAX),
        max_concurrent_requests: usize::try_from(max_concurrent).unwrap_or(usize::MAX),
        shutdown_grace: Duration::from_millis(
            raw.shutdown_grace_ms.unwrap_or(DEFAULT_SHUTDOWN_GRACE_MS),
        ),
        tls,
    })
}

fn images(c: &mut Checker<'_>, raw: &RawImages) -> ImageSettings {
    let defaults = ImageSettings::default();
    let max = ImageSettings::MAX_MAX_BYTES as u64;
    let max_bytes = match raw.max_bytes {
        None => defaults.max_bytes,
        Some(n) if (1..=max).contains(&n) => usize::try_from(n).unwrap_or(defaults.max_bytes),
        Some(n) => {
            c.error(
                "images.max_bytes",
                format!("{n} is out of range; expected 1 to {max} (32 MiB)"),
            );
            defaults.max_bytes
        }
    };
    let timeout = match raw.timeout_ms {
        None => defaults.timeout,
        Some(ms @ 100..=60_000) => Duration::from_millis(ms),
        Some(ms) => {
            c.error(
                "images.timeout_ms",
                format!("{ms} is out of range; expected 100 to 60000"),
            );
            defaults.timeout
        }
    };
    ImageSettings {
        fetch_urls: raw.fetch_urls.unwrap_or(false),
        max_bytes,
        timeout,
    }
}

fn auth(c: &mut Checker<'_>, raw: &RawAuth, server: Option<&Server>) -> Option<AuthMode> {
    match raw.mode.as_deref().unwrap_or("open") {
        "open" => {
            if let Some(server) = server
                && !server.listen.ip().is_loopback()
            {
                c.error(
                        "auth.mode",
                        format!(
                            "\"open\" mode serves anyone without a key, so it only listens on a loopback address, not {}",
                            server.listen
                        ),
                    );
            }
            Some(AuthMode::Open)
        }
        "keys" => Some(AuthMode::Keys),
        other => {
            c.error(
                "auth.mode",
                format!("unknown mode `{other}`; expected \"open\" or \"keys\""),
            );
            None
        }
    }
}

/// Only the `[storage]` table, for commands that manage the store (`switchyard keys`, `tenants`,
/// `usage`): they need no provider credentials or admin key to be set.
pub fn validate_storage(
    raw: &RawConfig,
    file: Option<&Path>,
    env: &dyn Env,
) -> Result<Storage, ConfigErrors> {
    let mut c = Checker {
        file,
        env,
        errors: Vec::new(),
    };
    let storage = storage(&mut c, &raw.storage, file);
    if c.errors.is_empty() {
        Ok(storage)
    } else {
        Err(ConfigErrors(c.errors))
    }
}

fn storage(c: &mut Checker<'_>, raw: &RawStorage, file: Option<&Path>) -> Storage {
    // A PostgreSQL URL may hold a password: `env:NAME` keeps it out of the file, and it is
    // redacted wherever the config is printed.
    let url = c
        .secret(
            "storage.url",
            raw.url.as_deref().unwrap_or(DEFAULT_STORAGE_URL),
        )
        .unwrap_or_else(|| Secret::new(DEFAULT_STORAGE_URL));
    let text = url.expose();
    let known = text == "sqlite::memory:"
        || ["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| {
                text.strip_prefix(scheme)
                    .is_some_and(|rest| !rest.is_empty())
            });
    if !known {
        c.error(
            "storage.url",
            "expected sqlite://PATH, sqlite::memory: or postgres://user@host/db",
        );
    }
    let policy = match raw.redis_policy.as_deref() {
        None | Some("fail-open") => RedisPolicy::FailOpen,
        Some("fail-closed") => RedisPolicy::FailClosed,
        Some(other) => {
            c.error(
                "storage.redis_policy",
                format!("unknown policy `{other}`; expected \"fail-open\" or \"fail-closed\""),
            );
            RedisPolicy::FailOpen
        }
    };
    let prefix = raw
        .redis_prefix
        .clone()
        .unwrap_or_else(|| "switchyard".to_owned());
    if prefix.is_empty() || prefix.contains(['{', '}', ' ']) {
        c.error(
            "storage.redis_prefix",
            "must be non-empty, without spaces or braces",
        );
    }
    if raw.redis_url.is_none() && (raw.redis_policy.is_some() || raw.redis_prefix.is_some()) {
        c.error(
            "storage.redis_url",
            "redis_policy and redis_prefix need a redis_url",
        );
    }
    let redis = raw.redis_url.as_deref().and_then(|text| {
        let url = c.secret("storage.redis_url", text)?;
        let exposed = url.expose();
        if exposed.starts_with("rediss://") {
            c.error(
                "storage.redis_url",
                "TLS to Redis (rediss://) is not available in this version; use redis:// on a private network",
            );
        } else if !exposed.starts_with("redis://") {
            c.error("storage.redis_url", "expected redis://host:port");
        }
        Some(Redis {
            url,
            prefix,
            policy,
        })
    });
    Storage {
        url,
        base_dir: file.and_then(Path::parent).map(Path::to_path_buf),
        redis,
    }
}

fn timeouts(c: &mut Checker<'_>, path: &str, raw: &RawProvider) -> Timeouts {
    let defaults = Timeouts::default();
    let mut pick = |key: &str, value: Option<u64>, default: Duration| match value {
        Some(0) => {
            c.error(format!("{path}.{key}"), "must be greater than 0");
            default
        }
        Some(ms) => Duration::from_millis(ms),
        None => default,
    };
    let total = pick("timeout_ms", raw.timeout_ms, defaults.total);
    Timeouts {
        connect: pick(
            "connect_timeout_ms",
            raw.connect_timeout_ms,
            defaults.connect,
        ),
        first_byte: pick(
            "first_byte_timeout_ms",
            raw.first_byte_timeout_ms,
            defaults.first_byte.min(total),
        ),
        first_byte_configured: raw.first_byte_timeout_ms.is_some(),
        idle: pick(
            "idle_timeout_ms",
            raw.idle_timeout_ms,
            defaults.idle.min(total),
        ),
        total,
    }
}

/// Keys that only some kinds understand; setting one on another kind is a mistake worth reporting.
fn reject_foreign_keys(c: &mut Checker<'_>, path: &str, kind: &str, raw: &RawProvider) {
    let simulator_keys = [
        ("ttft_ms", raw.ttft_ms.is_some()),
        ("tokens_per_second", raw.tokens_per_second.is_some()),
        ("fail_status", raw.fail_status.is_some()),
        ("fail_after_chunks", raw.fail_after_chunks.is_some()),
        ("embedding_dimensions", raw.embedding_dimensions.is_some()),
    ];
    let aws_keys = [
        ("region", raw.region.is_some()),
        ("access_key_id", raw.access_key_id.is_some()),
        ("secret_access_key", raw.secret_access_key.is_some()),
        ("session_token", raw.session_token.is_some()),
    ];
    let azure_keys = [
        ("api_version", raw.api_version.is_some()),
        ("api", raw.api.is_some()),
    ];
    let anthropic_keys = [("anthropic_version", raw.anthropic_version.is_some())];
    let mut foreign: Vec<&str> = Vec::new();
    if kind != "simulator" {
        foreign.extend(simulator_keys.iter().filter(|k| k.1).map(|k| k.0));
    }
    if kind != "bedrock" {
        foreign.extend(aws_keys.iter().filter(|k| k.1).map(|k| k.0));
    }
    if kind != "azure" {
        foreign.extend(azure_keys.iter().filter(|k| k.1).map(|k| k.0));
    }
    if kind != "anthropic" {
        foreign.extend(anthropic_keys.iter().filter(|k| k.1).map(|k| k.0));
    }
    if kind == "simulator" && raw.api_key.is_some() {
        foreign.push("api_key");
    }
    // Only OpenAI-style upstreams need asking for streamed usage; the others always report it.
    if matches!(kind, "bedrock" | "anthropic" | "gemini") && raw.stream_usage.is_some() {
        foreign.push("stream_usage");
    }
    for key in foreign {
        c.error(
            format!("{path}.{key}"),
            format!("not a setting of a `{kind}` provider"),
        );
    }
}

fn provider(c: &mut Checker<'_>, name: &str, raw: &RawProvider) -> Option<Provider> {
    let path = format!("providers.{name}");
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        c.error(
            &path,
            "provider names may use letters, digits, `-`, `_` and `.` only",
        );
    }
    reject_foreign_keys(c, &path, &raw.kind, raw);
    let timeouts = timeouts(c, &path, raw);
    let stream_usage = raw.stream_usage.unwrap_or(true);
    let required_key = |c: &mut Checker<'_>| match raw.api_key.as_deref() {
        Some(key) => c.secret(&format!("{path}.api_key"), key),
        None => {
            c.error(format!("{path}.api_key"), "is required for this kind");
            None
        }
    };
    let kind = match raw.kind.as_str() {
        "openai" => {
            let base_url = c.url(
                &format!("{path}.base_url"),
                raw.base_url.as_deref().unwrap_or(DEFAULT_OPENAI_BASE_URL),
            );
            let api_key = required_key(c);
            ProviderKind::OpenAi {
                base_url: base_url?,
                api_key: api_key?,
                stream_usage,
            }
        }
        "azure" => {
            let endpoint = match raw.base_url.as_deref() {
                Some(url) => c.url(&format!("{path}.base_url"), url),
                None => {
                    c.error(
                        format!("{path}.base_url"),
                        "is required: the resource endpoint, e.g. https://contoso.openai.azure.com",
                    );
                    None
                }
            };
            let api_key = required_key(c);
            let api = match (raw.api.as_deref(), raw.api_version.as_deref()) {
                (Some("v1"), None) | (None, None) => Some(AzureApi::V1),
                (Some("v1"), Some(_)) => {
                    c.error(
                        format!("{path}.api_version"),
                        "the v1 API takes no api_version; remove it or set api = \"deployments\"",
                    );
                    None
                }
                (Some("deployments") | None, Some(v)) => Some(AzureApi::Deployments {
                    api_version: v.to_owned(),
                }),
                (Some("deployments"), None) => {
                    c.error(
                        format!("{path}.api_version"),
                        "is required with api = \"deployments\" (e.g. \"2024-10-21\")",
                    );
                    None
                }
                (Some(other), _) => {
                    c.error(
                        format!("{path}.api"),
                        format!("unknown Azure API `{other}`; expected \"v1\" or \"deployments\""),
                    );
                    None
                }
            };
            ProviderKind::Azure {
                endpoint: endpoint?,
                api_key: api_key?,
                api: api?,
                stream_usage,
            }
        }
        "openai-compatible" => {
            let base_url = match raw.base_url.as_deref() {
                Some(url) => c.url(&format!("{path}.base_url"), url),
                None => {
                    c.error(
                        format!("{path}.base_url"),
                        "is required: the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1",
                    );
                    None
                }
            };
            let api_key = match raw.api_key.as_deref() {
                Some(key) => Some(c.secret(&format!("{path}.api_key"), key)?),
                None => None,
            };
            ProviderKind::OpenAiCompatible {
                base_url: base_url?,
                api_key,
                stream_usage,
            }
        }
        "simulator" => {
            if raw.base_url.is_some() {
                c.error(
                    format!("{path}.base_url"),
                    "the simulator runs inside the gateway and has no URL",
                );
            }
            let defaults = SimulatorSettings::default();
            let tokens_per_second = raw.tokens_per_second.unwrap_or(defaults.tokens_per_second);
            if !(tokens_per_second.is_finite() && tokens_per_second >= 0.0) {
                c.error(
                    format!("{path}.tokens_per_second"),
                    "must be a number >= 0 (0 streams as fast as possible)",
                );
            }
            if let Some(status) = raw.fail_status
                && !(400..=599).contains(&status)
            {
                c.error(
                    format!("{path}.fail_status"),
                    "must be an HTTP error status between 400 and 599",
                );
            }
            let dims = raw
                .embedding_dimensions
                .unwrap_or(defaults.embedding_dimensions);
            if dims == 0 || dims > 8192 {
                c.error(
                    format!("{path}.embedding_dimensions"),
                    "must be between 1 and 8192",
                );
            }
            ProviderKind::Simulator(SimulatorSettings {
                ttft: raw.ttft_ms.map_or(defaults.ttft, Duration::from_millis),
                tokens_per_second,
                fail_status: raw.fail_status,
                fail_after_chunks: raw.fail_after_chunks,
                embedding_dimensions: dims,
            })
        }
        "bedrock" => crate::upstreams::bedrock(c, &path, raw)?,
        "anthropic" => crate::upstreams::anthropic(c, &path, raw)?,
        "gemini" => crate::upstreams::gemini(c, &path, raw)?,
        other => {
            c.error(
                format!("{path}.kind"),
                format!(
                    "unknown kind `{other}`; expected one of openai, azure, bedrock, anthropic, gemini, openai-compatible, simulator"
                ),
            );
            return None;
        }
    };
    Some(Provider {
        name: name.to_owned(),
        kind,
        timeouts,
    })
}

/// Where deployment prices come from: the config's entries, else the built-in book by kind.
struct PriceBook<'a> {
    configured: &'a [commercial::PriceEntry],
    defaults: &'a [commercial::PriceEntry],
    kinds: &'a std::collections::HashMap<&'a str, &'a str>,
}

fn models(
    c: &mut Checker<'_>,
    raw: &[RawModel],
    providers: &std::collections::HashMap<&str, Timeouts>,
    prices: &PriceBook<'_>,
) -> Vec<Model> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        let path = format!("models[{i}]");
        if m.name.trim().is_empty() {
            c.error(format!("{path}.name"), "must not be empty");
            continue;
        }
        if !seen.insert(m.name.as_str()) {
            c.error(
                format!("{path}.name"),
                format!("model `{}` is defined twice", m.name),
            );
        }
        let routing = match m.routing.as_deref().unwrap_or("priority") {
            "priority" => Routing::Priority,
            "weighted" => Routing::Weighted,
            "least-latency" => Routing::LeastLatency,
            "lowest-cost" => Routing::LowestCost,
            other => {
                c.error(
                    format!("{path}.routing"),
                    format!(
                        "unknown strategy `{other}`; expected priority, weighted, least-latency or lowest-cost"
                    ),
                );
                Routing::Priority
            }
        };
        if m.deployments.is_empty() {
            c.error(
                format!("{path}.deployments"),
                "needs at least one deployment",
            );
        }
        let mut names = HashSet::new();
        let mut deployments = Vec::with_capacity(m.deployments.len());
        for (j, d) in m.deployments.iter().enumerate() {
            let dpath = format!("{path}.deployments[{j}]");
            let base = providers.get(d.provider.as_str()).copied();
            if base.is_none() {
                c.error(
                    format!("{dpath}.provider"),
                    format!("unknown provider `{}`", d.provider),
                );
            }
            let mut timeouts = base.unwrap_or_default();
            for (key, value, slot) in [
                ("timeout_ms", d.timeout_ms, &mut timeouts.total),
                (
                    "first_byte_timeout_ms",
                    d.first_byte_timeout_ms,
                    &mut timeouts.first_byte,
                ),
                ("idle_timeout_ms", d.idle_timeout_ms, &mut timeouts.idle),
            ] {
                match value {
                    Some(0) => c.error(format!("{dpath}.{key}"), "must be greater than 0"),
                    Some(ms) => *slot = Duration::from_millis(ms),
                    None => {}
                }
            }
            timeouts.first_byte_configured |= d.first_byte_timeout_ms.is_some();
            if d.model.trim().is_empty() {
                c.error(format!("{dpath}.model"), "must not be empty");
            }
            if d.region.as_deref().is_some_and(|r| r.trim().is_empty()) {
                c.error(format!("{dpath}.region"), "must not be empty");
            }
            let mut capabilities = crate::catalogue::lookup(&d.model);
            if let Some(o) = &d.capabilities {
                let caps = &mut capabilities;
                let set = |field: &mut bool, value: Option<bool>| {
                    if let Some(v) = value {
                        *field = v;
                    }
                };
                set(&mut caps.chat, o.chat);
                set(&mut caps.streaming, o.streaming);
                set(&mut caps.tools, o.tools);
                set(&mut caps.vision, o.vision);
                set(&mut caps.json_schema, o.json_schema);
                set(&mut caps.embeddings, o.embeddings);
                caps.max_context_tokens = o.max_context_tokens.or(caps.max_context_tokens);
                caps.max_output_tokens = o.max_output_tokens.or(caps.max_output_tokens);
                caps.known = true;
            }
            let name = d
                .name
                .clone()
                .unwrap_or_else(|| format!("{}/{}", d.provider, d.model));
            if !names.insert(name.clone()) {
                c.error(
                    format!("{dpath}.name"),
                    format!("deployment `{name}` appears twice in this model"),
                );
            }
            let kind = prices.kinds.get(d.provider.as_str()).copied().unwrap_or("");
            let prices = commercial::prices_for(
                prices.configured,
                prices.defaults,
                &d.provider,
                kind,
                &d.model,
            );
            if routing == Routing::LowestCost && prices.is_empty() {
                c.error(
                    dpath.clone(),
                    format!(
                        "lowest-cost routing needs a [[prices]] entry for provider `{}` model `{}`",
                        d.provider, d.model
                    ),
                );
            }
            deployments.push(Deployment {
                name,
                provider: d.provider.clone(),
                upstream_model: d.model.clone(),
                weight: d.weight.unwrap_or(1),
                prices,
                region: d.region.clone(),
                capabilities,
                timeouts,
            });
        }
        let max_attempts = m.max_attempts.unwrap_or(3);
        if !(1..=10).contains(&max_attempts) {
            c.error(format!("{path}.max_attempts"), "must be between 1 and 10");
        }
        out.push(Model {
            name: m.name.clone(),
            routing,
            max_attempts,
            deployments,
        });
    }
    out
}
