//! The `switchyard` command: `serve` runs the gateway, `check` validates a config and prints its routing table.

mod cli;
mod load;
mod serve;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Check(args) => table::check(args),
    }
}
