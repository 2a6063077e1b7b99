//! `sy-mock-upstream`: a fast fixed OpenAI-compatible upstream for benchmarks and SDK test suites.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sy_testkit::mock::{Mock, MockConfig, run};

const USAGE: &str = "usage: sy-mock-upstream --listen 127.0.0.1:PORT [--stream-chunks N] [--chunk-interval-ms M] [--threads T]";

struct Args {
    listen: SocketAddr,
    config: MockConfig,
    /// 0: one worker per available core; 1: a current-thread runtime.
    threads: usize,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut listen = None;
    let mut config = MockConfig::default();
    let mut threads = 0;
    while let Some(flag) = argv.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag, None),
        };
        if name == "-h" || name == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = inline
            .or_else(|| argv.next())
            .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{name} {value}: {e}\n{USAGE}");
        match name.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|e| bad(&e))?),
            "--stream-chunks" => config.stream_chunks = value.parse().map_err(|e| bad(&e))?,
            "--chunk-interval-ms" => {
                config.chunk_interval = Duration::from_millis(value.parse().map_err(|e| bad(&e))?);
            }
            "--threads" => threads = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown argument {name}\n{USAGE}")),
        }
    }
    let listen = listen.ok_or_else(|| format!("--listen is required\n{USAGE}"))?;
    Ok(Args {
        listen,
        config,
        threads,
    })
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if args.threads > 1 {
            builder.worker_threads(args.threads);
        }
        builder.enable_all().build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sy-mock-upstream: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("sy-mock-upstream: bind {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().map_or(args.listen, |a| a);
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "listening on {addr}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return ExitCode::FAILURE;
        }
        drop(stdout);
        run(listener, Arc::new(Mock::new(&args.config))).await;
        ExitCode::SUCCESS
    })
}
