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
