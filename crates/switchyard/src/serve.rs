//! `switchyard serve`: load the config, announce what serves, listen, and shut down gracefully on SIGTERM.

use std::process::ExitCode;

use std::sync::Arc;
use sy_config::{Config, Source};

use sy_server::{ConfigSource, Gateway, Server};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use crate::cli::ServeArgs;
use crate::load::{load, load_or_report, runtime};

pub fn run(args: ServeArgs) -> ExitCode {
    init_logging();
    let config = match load_or_report(args.config.config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let runtime = match runtime(true) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let path = args.config.config.clone();
    let source: ConfigSource = Arc::new(move || load(path.as_deref()).map_err(|e| e.to_string()));
    match runtime.block_on(serve(config, source, args.listen)) {
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

async fn serve(
    config: Config,
    source: ConfigSource,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    announce(&config);
    if let Some(addr) = listen
        && config.auth == sy_config::AuthMode::Open
        && !addr.ip().is_loopback()
    {
        anyhow::bail!(
            "auth.mode = \"open\" serves anyone without a key, so it only listens on a loopback address, not {addr}; set auth.mode = \"keys\""
        );
    }
    let store = crate::manage::open_store(&config.storage).await?;
    info!(backend = store.backend(), "store ready");
    if config.auth == sy_config::AuthMode::Open {
        info!("auth.mode = \"open\": no API keys are checked (loopback only)");
    }
    let gateway = Gateway::with_source(config, Some(source), Some(store.clone()))
        .map_err(anyhow::Error::msg)?;
    reload_on_sighup(gateway.clone());
    let server = Server::bind(gateway, listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {e}",
            listen.map_or_else(|| "the configured address".to_owned(), |a| a.to_string())
        )
    })?;
    let addr = server.local_addr()?;
    info!(
        "switchyard {} listening on {}://{addr}",
        env!("CARGO_PKG_VERSION"),
        server.scheme()
    );
    let gateway = server.gateway().clone();
    server.run(shutdown_signal()).await;
    // Nothing accounted is lost on the way out: the last usage records reach the store, and
    // the last requests' concurrency leases are given back.
    if let Some(ledger) = gateway.ledger() {
        ledger.flush().await;
        info!("usage ledger flushed");
        if let Some(store) = gateway.store() {
            // Every request has ended and been settled: what this node still leases goes back.
            gateway
                .budgets()
                .return_idle(store, std::time::Duration::ZERO)
                .await;
        }
    }
    gateway.limiter().flush().await;
    store.close().await;
    info!("stopped");
    Ok(())
}

/// SIGHUP re-reads the config; a bad one is rejected with the reason and the running one keeps serving.
fn reload_on_sighup(gateway: Gateway) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            warn!("cannot listen for SIGHUP; reload with POST /admin/v1/reload instead");
            return;
        };
        while hangups.recv().await.is_some() {
            match gateway.reload() {
                Ok(report) => {
                    info!(
                        models = report.models,
                        providers = report.providers,
                        "SIGHUP: config reloaded"
                    );
                    for note in report.ignored {
                        warn!("reload: {note}");
                    }
                }
                Err(reason) => {
                    error!("SIGHUP: reload rejected, the running config keeps serving:\n{reason}");
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = gateway;
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
