//! `switchyard serve`: load the config, announce what serves, listen, and shut down gracefully on SIGTERM.

use std::process::ExitCode;

use sy_config::{Config, Source};
use sy_server::{Gateway, Server};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use crate::cli::ServeArgs;
use crate::load::load;

pub fn run(args: ServeArgs) -> ExitCode {
    init_logging();
    let config = match load(args.config.config.as_deref()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, args.listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("SWITCHYARD_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn announce(config: &Config) {
    if let Source::Discovered { notes } = &config.source {
        info!("no config file: discovered providers from the environment");
        for note in notes {
            info!("  {note}");
        }
    }
    if config.uses_simulator() {
        let models: Vec<&str> = config
            .models
            .iter()
            .filter(|m| {
                m.deployments.iter().any(|d| {
                    config
                        .provider(&d.provider)
                        .is_some_and(|p| matches!(p.kind, sy_config::ProviderKind::Simulator(_)))
                })
            })
            .map(|m| m.name.as_str())
            .collect();
        warn!("**************************************************************************");
        warn!("* SIMULATOR: the built-in simulator answers these models; its answers are *");
        warn!(
            "* generated locally and are NOT from a real model: {}",
            models.join(", ")
        );
        warn!("**************************************************************************");
    }
}

async fn serve(config: Config, listen: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    announce(&config);
    let gateway = Gateway::new(config).map_err(anyhow::Error::msg)?;
    let server = Server::bind(gateway, listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {e}",
            listen.map_or_else(|| "the configured address".to_owned(), |a| a.to_string())
        )
    })?;
    let addr = server.local_addr()?;
    info!(
        "switchyard {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    server.run(shutdown_signal()).await;
    info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("interrupt received"),
        () = term => info!("SIGTERM received"),
    }
}
