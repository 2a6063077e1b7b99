//! The `switchyard` command: `serve` runs the gateway, `check` validates a config and prints its
//! routing table, `keys` and `tenants` manage the configured store.

mod cli;
mod load;
mod manage;
mod serve;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Check(args) => table::check(args),
        cli::Command::Keys(args) => manage::keys(args),
        cli::Command::Tenants(args) => manage::tenants(args),
        cli::Command::Usage(args) => manage::usage(args),
    }
}
