//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "One gateway for foundation models on every cloud"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Validate the config and print the resolved routing table; exit 1 on errors.
    Check(ConfigArgs),
    /// Create, list, show, update and revoke API keys in the configured store.
    Keys(KeysArgs),
    /// Create, list, show, update and disable tenants in the configured store.
    Tenants(TenantsArgs),
    /// Usage and cost from the ledger, filtered and grouped.
    Usage(UsageArgs),
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[arg(long)]
    pub tenant: Option<String>,
    /// A key id (key_...).
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// From this date or UTC time (inclusive): 2026-11-01 or 2026-11-01T00:00:00Z.
    #[arg(long)]
    pub since: Option<String>,
    /// Until this date or UTC time (exclusive).
    #[arg(long)]
    pub until: Option<String>,
    /// Comma separated: tenant, key, model, provider, deployment, region, status, day.
    #[arg(long)]
    pub group_by: Option<String>,
    #[arg(long, value_enum, default_value_t = UsageFormat::Table)]
    pub format: UsageFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint a key; its secret is printed once and never again. Creates the tenant if needed.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: Option<String>,
        /// Model names the key may use (comma separated); default every model.
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
        /// When the key stops working: 2027-01-01 or 2027-01-01T00:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        budget: BudgetArgs,
        /// Also issue an access key pair for SigV4 (Bedrock-style) clients.
        #[arg(long)]
        aws: bool,
        /// Let calls with this key steer routing (x-switchyard-deployment, x-switchyard-region).
        #[arg(long)]
        routing_hints: bool,
    },
    /// List keys (revoked ones with --all).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one key.
    Show { id: String },
    /// Change a key's name, models, expiry or limits (`none` clears a limit).
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Comma separated, or `all` for every model.
        #[arg(long)]
        models: Option<String>,
        /// A date or UTC time, or `never`.
        #[arg(long)]
        expires_at: Option<String>,
        #[command(flatten)]
        limits: LimitChangeArgs,
        #[command(flatten)]
        budget: BudgetArgs,
        /// Whether calls with this key may steer routing.
        #[arg(long)]
        routing_hints: Option<bool>,
    },
    /// Revoke a key for good; every gateway node refuses it within seconds.
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct TenantsArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: TenantsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant (id: lowercase letters, digits, `.`, `_`, `-`).
    Create {
        id: String,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        budget: BudgetArgs,
        /// Data residency: the only deployment regions its requests may use (comma separated).
        #[arg(long, value_delimiter = ',')]
        regions: Option<Vec<String>>,
    },
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    Show {
        id: String,
    },
    /// Change a tenant's limits (`none` clears one) or regions (`any` clears them).
    Update {
        id: String,
        #[command(flatten)]
        limits: LimitChangeArgs,
        #[command(flatten)]
        budget: BudgetArgs,
        /// Comma separated, or `any`.
        #[arg(long)]
        regions: Option<String>,
    },
    /// Refuse every key of the tenant until it is enabled again.
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    #[arg(long)]
    pub max_concurrent: Option<u32>,
}

/// A budget in money over a period. On `update`, fields left out keep their value and
/// `--budget-usd none` removes the budget.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// Budget in dollars, e.g. 25 or 12.50.
    #[arg(long)]
    pub budget_usd: Option<String>,
    /// day, week (from Monday), month (default) or total.
    #[arg(long)]
    pub budget_period: Option<String>,
    /// IANA time zone whose calendar bounds the period (default UTC), e.g. America/New_York.
    #[arg(long)]
    pub budget_tz: Option<String>,
    /// hard (default: refuse requests the budget cannot cover) or soft (allow, warn).
    #[arg(long)]
    pub budget_enforcement: Option<String>,
}

/// Limits to change: a number sets one, `none` clears it.
#[derive(Debug, Args)]
pub struct LimitChangeArgs {
    #[arg(long)]
    pub rpm: Option<String>,
    #[arg(long)]
    pub tpm: Option<String>,
    #[arg(long)]
    pub max_concurrent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Config file. Default: ./switchyard.toml if it exists; otherwise providers are discovered
    /// from the standard environment variables.
    #[arg(long, env = "SWITCHYARD_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Listen on this address instead of the config's `server.listen`.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}
