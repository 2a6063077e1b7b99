//! `switchyard keys ...` and `switchyard tenants ...`: the admin API's operations, run directly on
//! the configured store. Running gateways see the changes within seconds (they follow the store).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;
use sy_config::Storage;
use sy_server::tenancy::{
    AdminError, CreateKey, CreateTenant, Tenancy, UpdateKey, UpdateTenant, UsageParams,
};
use sy_store::Store;

use crate::cli::{
    Format, KeysArgs, KeysCommand, LimitChangeArgs, TenantsArgs, TenantsCommand, UsageArgs,
    UsageFormat,
};
use crate::load::{load_storage_or_report, runtime};

/// Opens (and migrates) the store the config names.
pub async fn open_store(storage: &Storage) -> anyhow::Result<Store> {
    Store::open(storage.url.expose(), storage.base_dir.as_deref())
        .await
        .context("cannot open the store (storage.url)")
}

pub fn keys(args: KeysArgs) -> ExitCode {
    run(
        &args.config.config,
        async move |t: Tenancy<'_>| match args.command {
            KeysCommand::Create {
                tenant,
                name,
                models,
                expires_at,
                limits,
                budget,
                aws,
                routing_hints,
            } => {
                let key = t
                    .create_key(CreateKey {
                        tenant,
                        name,
                        models,
                        expires_at,
                        rpm: limits.rpm,
                        tpm: limits.tpm,
                        max_concurrent: limits.max_concurrent,
                        aws_access_key: aws,
                        routing_hints,
                        budget_usd: budget.budget_usd.map(Value::String),
                        budget_period: budget.budget_period,
                        budget_tz: budget.budget_tz,
                        budget_enforcement: budget.budget_enforcement,
                    })
                    .await?;
                eprintln!("The key's secret is shown once, below; store it now.");
                Ok(Output::Json(key))
            }
            KeysCommand::List {
                tenant,
                all,
                format,
            } => {
                let list = t.keys(tenant, all).await?;
                Ok(match format {
                    Format::Json => Output::Json(list),
                    Format::Table => Output::Table(key_table(&list)),
                })
            }
            KeysCommand::Show { id } => Ok(Output::Json(t.key(&id).await?)),
            KeysCommand::Update {
                id,
                name,
                models,
                expires_at,
                limits,
                budget,
                routing_hints,
            } => {
                let models = models.map(|m| {
                    (m != "all").then(|| m.split(',').map(|s| s.trim().to_owned()).collect())
                });
                let expires_at = expires_at.map(|e| (e != "never").then_some(e));
                let (rpm, tpm, max_concurrent) = limit_changes(&limits)?;
                let update = UpdateKey {
                    name: name.map(Some),
                    models,
                    expires_at,
                    rpm,
                    tpm,
                    max_concurrent,
                    routing_hints,
                    budget_usd: budget_change(budget.budget_usd),
                    budget_period: budget.budget_period,
                    budget_tz: budget.budget_tz,
                    budget_enforcement: budget.budget_enforcement,
                };
                Ok(Output::Json(t.update_key(&id, update).await?))
            }
            KeysCommand::Revoke { id } => Ok(Output::Json(t.revoke_key(&id).await?)),
        },
    )
}

pub fn tenants(args: TenantsArgs) -> ExitCode {
    run(
        &args.config.config,
        async move |t: Tenancy<'_>| match args.command {
            TenantsCommand::Create {
                id,
                limits,
                budget,
                regions,
            } => Ok(Output::Json(
                t.create_tenant(CreateTenant {
                    id,
                    rpm: limits.rpm,
                    tpm: limits.tpm,
                    max_concurrent: limits.max_concurrent,
                    regions,
                    budget_usd: budget.budget_usd.map(Value::String),
                    budget_period: budget.budget_period,
                    budget_tz: budget.budget_tz,
                    budget_enforcement: budget.budget_enforcement,
                })
                .await?,
            )),
            TenantsCommand::List { format } => {
                let list = t.tenants().await?;
                Ok(match format {
                    Format::Json => Output::Json(list),
                    Format::Table => Output::Table(tenant_table(&list)),
                })
            }
            TenantsCommand::Show { id } => Ok(Output::Json(t.tenant(&id).await?)),
            TenantsCommand::Update {
                id,
                limits,
                budget,
                regions,
            } => {
                let (rpm, tpm, max_concurrent) = limit_changes(&limits)?;
                let regions = regions.map(|r| {
                    (r != "any").then(|| r.split(',').map(|s| s.trim().to_owned()).collect())
                });
                let update = UpdateTenant {
                    rpm,
                    tpm,
                    max_concurrent,
                    disabled: None,
                    regions,
                    budget_usd: budget_change(budget.budget_usd),
                    budget_period: budget.budget_period,
                    budget_tz: budget.budget_tz,
                    budget_enforcement: budget.budget_enforcement,
                };
                Ok(Output::Json(t.update_tenant(&id, update).await?))
            }
            TenantsCommand::Disable { id } => Ok(Output::Json(set_disabled(&t, &id, true).await?)),
            TenantsCommand::Enable { id } => Ok(Output::Json(set_disabled(&t, &id, false).await?)),
        },
    )
}

async fn set_disabled(t: &Tenancy<'_>, id: &str, disabled: bool) -> Result<Value, AdminError> {
    let update = UpdateTenant {
        disabled: Some(disabled),
        ..UpdateTenant::default()
    };
    t.update_tenant(id, update).await
}

/// `switchyard usage`: the ledger's totals as a table, CSV or JSON.
pub fn usage(args: UsageArgs) -> ExitCode {
    let params = UsageParams {
        tenant: args.tenant,
        key: args.key,
        model: args.model,
        provider: args.provider,
        since: args.since,
        until: args.until,
        group_by: args.group_by.clone(),
    };
    let groups: Vec<String> = args
        .group_by
        .unwrap_or_default()
        .split(',')
        .map(|g| g.trim().to_owned())
        .filter(|g| !g.is_empty())
        .collect();
    let format = args.format;
    run(&args.config.config, async move |t: Tenancy<'_>| {
        let report = t.usage(params).await?;
        let mut columns: Vec<&str> = groups.iter().map(String::as_str).collect();
        columns.extend(USAGE_COLUMNS);
        Ok(match format {
            UsageFormat::Json => Output::Json(report),
            UsageFormat::Table => Output::Table(table_of(&report["rows"], &columns)),
            UsageFormat::Csv => Output::Table(csv_of(&report["rows"], &columns)),
        })
    })
}

const USAGE_COLUMNS: [&str; 8] = [
    "requests",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "unpriced_requests",
];

fn csv_of(rows: &Value, columns: &[&str]) -> String {
    let cell = |text: String| {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let mut out = columns.join(",");
    out.push('\n');
    for row in rows.as_array().into_iter().flatten() {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match &row[*c] {
                Value::Null => String::new(),
                _ => cell(field(row, c)),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

enum Output {
    Json(Value),
    Table(String),
}

type LimitChanges = (
    Option<Option<u64>>,
    Option<Option<u64>>,
    Option<Option<u32>>,
);

/// `--budget-usd 25` sets the budget, `--budget-usd none` removes it.
fn budget_change(usd: Option<String>) -> Option<Option<Value>> {
    usd.map(|text| (text != "none").then_some(Value::String(text)))
}

/// `--rpm 60` sets a limit, `--rpm none` clears it.
fn limit_changes(args: &LimitChangeArgs) -> Result<LimitChanges, AdminError> {
    fn one<T: std::str::FromStr>(
        name: &str,
        text: Option<&String>,
    ) -> Result<Option<Option<T>>, AdminError> {
        match text.map(String::as_str) {
            None => Ok(None),
            Some("none") => Ok(Some(None)),
            Some(n) => n.parse().map(|v| Some(Some(v))).map_err(|_| {
                AdminError::invalid(format!("--{name}: expected a number or `none`, not `{n}`"))
            }),
        }
    }
    Ok((
        one("rpm", args.rpm.as_ref())?,
        one("tpm", args.tpm.as_ref())?,
        one("max-concurrent", args.max_concurrent.as_ref())?,
    ))
}

/// Loads the config, opens the store, runs `op` and prints its answer; exit 1 on failure.
fn run<F>(config: &Option<std::path::PathBuf>, op: F) -> ExitCode
where
    F: AsyncFnOnce(Tenancy<'_>) -> Result<Output, AdminError>,
{
    let storage = match load_storage_or_report(config.as_deref()) {
        Ok(storage) => storage,
        Err(code) => return code,
    };
    let runtime = match runtime(false) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let store = match open_store(&storage).await {
            Ok(store) => store,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let result = op(Tenancy { store: &store }).await;
        store.close().await;
        let mut out = std::io::stdout().lock();
        match result {
            Ok(Output::Json(value)) => {
                let text = serde_json::to_string_pretty(&value).unwrap_or_default();
                let _ = writeln!(out, "{text}");
                ExitCode::SUCCESS
            }
            Ok(Output::Table(text)) => {
                let _ = out.write_all(text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {} ({})", e.message, e.code);
                ExitCode::FAILURE
            }
        }
    })
}

fn field(row: &Value, name: &str) -> String {
    match &row[name] {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        // A budget in one cell: `25.00 USD/month`, `5.00 USD/day soft`.
        Value::Object(budget) if name == "budget" => {
            let text = |k: &str| budget.get(k).and_then(Value::as_str).unwrap_or("?");
            let soft = if text("enforcement") == "soft" {
                " soft"
            } else {
                ""
            };
            format!("{} USD/{}{soft}", text("usd"), text("period"))
        }
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn table(list: &Value, columns: &[&str]) -> String {
    table_of(&list["data"], columns)
}

fn table_of(rows: &Value, columns: &[&str]) -> String {
    let rows: Vec<Vec<String>> = rows
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| columns.iter().map(|c| field(row, c)).collect())
                .collect()
        })
        .unwrap_or_default();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    line(&columns.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>());
    for row in &rows {
        line(row);
    }
    out
}

fn key_table(list: &Value) -> String {
    table(
        list,
        &[
            "id",
            "tenant",
            "name",
            "prefix",
            "status",
            "models",
            "rpm",
            "tpm",
            "max_concurrent",
            "budget",
            "expires_at",
        ],
    )
}

fn tenant_table(list: &Value) -> String {
    table(
        list,
        &[
            "id",
            "disabled",
            "rpm",
            "tpm",
            "max_concurrent",
            "budget",
            "regions",
            "created_at",
        ],
    )
}
