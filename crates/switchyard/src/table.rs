//! `switchyard check`: validates the config and prints the routing table it resolves to.

use std::io::Write;
use std::process::ExitCode;

use sy_config::{Config, ProviderKind, Source};
use sy_router::RoutingTable;

use crate::cli::ConfigArgs;
use crate::load::load;

pub fn check(args: ConfigArgs) -> ExitCode {
    match load(args.config.as_deref()) {
        Ok(config) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(render(&config).as_bytes());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "switchyard check: {} problem{} found",
                errors.0.len(),
                if errors.0.len() == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}

/// The price in force, per million tokens, as the ledger will charge it.
fn price_line(price: Option<sy_config::PricePoint>) -> String {
    let usd = |m: sy_config::MicroUsd| {
        let text = format!("{}.{:06}", m.0 / 1_000_000, m.0 % 1_000_000);
        let trimmed = text.trim_end_matches('0');
        // Keep cents: 2.5 reads as 2.50.
        match trimmed.split_once('.') {
            Some((_, frac)) if frac.len() < 2 => format!("{trimmed}{}", "0".repeat(2 - frac.len())),
            _ => trimmed.to_owned(),
        }
    };
    match price {
        Some(p) => format!(
            "price per M tokens: input ${}, cache read ${}, cache write ${}, output ${}, reasoning ${}",
            usd(p.input),
            usd(p.cache_read),
            usd(p.cache_write),
            usd(p.output),
            usd(p.reasoning)
        ),
        None => {
            "price: unknown (usage is recorded with a null cost; add a [[prices]] entry)".to_owned()
        }
    }
}

/// Where a provider sends requests, for the table.
fn endpoint(kind: &ProviderKind) -> String {
    match kind {
        ProviderKind::OpenAi { base_url, .. } | ProviderKind::OpenAiCompatible { base_url, .. } => {
            base_url.clone()
        }
        ProviderKind::Azure { endpoint, api, .. } => match api {
            sy_config::AzureApi::V1 => format!("{endpoint}/openai/v1"),
            sy_config::AzureApi::Deployments { api_version } => {
                format!("{endpoint}/openai/deployments/* (api-version {api_version})")
            }
        },
        ProviderKind::Bedrock {
            endpoint,
            region,
            auth,
        } => {
            let auth = match auth {
                sy_config::BedrockAuth::SigV4 { .. } => "SigV4",
                sy_config::BedrockAuth::ApiKey { .. } => "API key",
            };
            format!("{endpoint} ({region}, {auth})")
        }
        ProviderKind::Anthropic { base_url, .. } => format!("{base_url}/v1"),
        ProviderKind::Gemini { base_url, .. } => format!("{base_url}/v1beta"),
        ProviderKind::Simulator(_) => "built-in simulator".to_owned(),
    }
}

/// What a deployment can do, in one line.
fn describe(caps: &sy_config::Capabilities) -> String {
    let mut parts: Vec<String> = [
        (caps.chat, "chat"),
        (caps.streaming, "streaming"),
        (caps.tools, "tools"),
        (caps.vision, "vision"),
        (caps.json_schema, "json-schema"),
        (caps.embeddings, "embeddings"),
    ]
    .iter()
    .filter(|(has, _)| *has)
    .map(|(_, name)| (*name).to_owned())
    .collect();
    if let Some(window) = caps.max_context_tokens {
        parts.push(format!("context {window}"));
    }
    if let Some(output) = caps.max_output_tokens {
        parts.push(format!("output {output}"));
    }
    if !caps.known {
        parts.push("(model not in the catalogue: assumed)".to_owned());
    }
    parts.join(", ")
}

pub fn render(config: &Config) -> String {
    let mut out = String::new();
    match &config.source {
        Source::File(path) => out.push_str(&format!("config: {} (valid)\n", path.display())),
        Source::Discovered { notes } => {
            out.push_str("config: none; discovered from the environment\n");
            for note in notes {
                out.push_str(&format!("  - {note}\n"));
            }
        }
    }
    let tls = config.server.tls.as_ref().map_or_else(String::new, |tls| {
        format!(" (https, certificate {})", tls.cert_path.display())
    });
    out.push_str(&format!(
        "listen: {}{tls}\n\nproviders:\n",
        config.server.listen
    ));
    for p in &config.providers {
        out.push_str(&format!(
            "  {:<20} {:<18} {}\n",
            p.name,
            p.kind.name(),
            endpoint(&p.kind)
        ));
    }
    out.push_str("\nroutes:\n");
    let table = RoutingTable::from_config(config);
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for route in table.routes() {
        out.push_str(&format!("  {} ({})\n", route.name, route.routing.name()));
        for (i, t) in route.targets.iter().enumerate() {
            let role = match route.routing {
                sy_config::Routing::Priority if i == 0 => "primary ".to_owned(),
                sy_config::Routing::Priority => "failover".to_owned(),
                sy_config::Routing::Weighted => format!("weight {}", t.weight),
                sy_config::Routing::LeastLatency => "by latency".to_owned(),
                sy_config::Routing::LowestCost => match t.price_at(now_unix) {
                    Some(micro) => {
                        format!("${}.{:06}/M in+out", micro / 1_000_000, micro % 1_000_000)
                    }
                    None => "no price".to_owned(),
                },
            };
            let contract = match config.agreement_for(&t.provider) {
                None => String::new(),
                Some(a) => format!(
                    " [agreement {}{}{}]",
                    a.name,
                    if a.primary { ", primary" } else { "" },
                    if a.in_force(now_unix) {
                        ""
                    } else {
                        ", NOT LICENSED NOW"
                    }
                ),
            };
            let region = t
                .region
                .as_deref()
                .map(|r| format!(" [region {r}]"))
                .unwrap_or_default();
            out.push_str(&format!(
                "    {}. {role} {} -> provider {} model {}{region}{contract}\n",
                i + 1,
                t.deployment,
                t.provider,
                t.upstream_model
            ));
            out.push_str(&format!("       can: {}\n", describe(&t.capabilities)));
            out.push_str(&format!(
                "       {}\n",
                price_line(t.price_point_at(now_unix))
            ));
        }
    }
    if config.uses_simulator() {
        out.push_str("\nnote: the built-in simulator answers some models; its answers are not from a real model\n");
    }
    out
}
