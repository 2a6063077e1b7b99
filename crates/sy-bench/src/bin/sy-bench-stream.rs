//! `sy-bench-stream`: load an OpenAI-style streaming endpoint and print time-to-first-byte and total-time percentiles as JSON.
//!
//! Open loop: `--rate R` starts R streams per second for `--duration`, each timed from its scheduled
//! start. Closed loop: `--concurrency C` keeps C streams open for `--duration`. The summary (one JSON
//! object) goes to stdout; latencies are in milliseconds and cover streams that ended in a 2xx
//! `data: [DONE]`; everything else is counted in `errors` and sampled in `error_samples`.
//!
//! Several requests (`--url` and `--body-file` given more than once, paired in order; one URL or
//! one body serves them all) are sent in turn, stream after stream, within the same load: each
//! is summarised on its own, in order, as `{"lanes": [...]}`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Parser;
use hyper::Uri;
use sy_bench::driver::{self, Arrivals, Lane, Load, Target};
use sy_bench::stats::{Outcome, RunInfo, samples, summarize};

#[derive(Debug, Parser)]
#[command(
    name = "sy-bench-stream",
    about = "Streaming (SSE) load driver: TTFB and total time per stream, open or closed loop"
)]
struct Args {
    /// Full URL to POST to, e.g. http://127.0.0.1:4000/v1/chat/completions (repeatable).
    #[arg(long, required = true)]
    url: Vec<String>,
    /// Request body file (JSON with "stream": true; repeatable).
    #[arg(long, conflicts_with = "body")]
    body_file: Vec<PathBuf>,
    /// Request body text.
    #[arg(long)]
    body: Option<String>,
    /// Open loop: streams started per second.
    #[arg(long, conflicts_with = "concurrency")]
    rate: Option<f64>,
    /// Closed loop: streams kept open at once.
    #[arg(long)]
    concurrency: Option<usize>,
    /// How long to start new streams for: 20, 20s, 1500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Closed loop: spread the workers' first streams over this long (capped at half the duration).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    ramp_up: Duration,
    /// Per-stream limit from its intended start to the end of its body.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// Runtime worker threads; 1 (the default) runs a single-threaded runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Open loop: start the streams at random moments (a Poisson process) rather than evenly
    /// spaced, from this seed; the same seed gives the same moments.
    #[arg(long, requires = "rate")]
    random_arrivals: Option<u64>,
    /// Also write every completed stream to this file, one per line in the order sent:
    /// `seq lane ttfb_us total_us` (to pool the streams of several runs).
    #[arg(long)]
    samples: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|e| format!("`{text}` is not a duration like 20s or 500ms: {e}"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("`{text}`: {e}"))
}

/// The requests to send in turn: URLs and bodies paired in order, one of either serving all.
fn pair(uris: &[Uri], bodies: &[Bytes]) -> anyhow::Result<Vec<Lane>> {
    let count = uris.len().max(bodies.len());
    let fits = |n: usize| n == 1 || n == count;
    if count == 0 || !fits(uris.len()) || !fits(bodies.len()) {
        bail!(
            "{} URLs and {} bodies do not pair up: give one of either, or as many of both",
            uris.len(),
            bodies.len()
        );
    }
    Ok((0..count)
        .map(|i| Lane {
            uri: uris[i.min(uris.len() - 1)].clone(),
            body: bodies[i.min(bodies.len() - 1)].clone(),
        })
        .collect())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sy-bench-stream: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let bodies = match &args.body {
        Some(text) => vec![Bytes::from(text.clone())],
        None => args
            .body_file
            .iter()
            .map(|path| {
                std::fs::read(path)
                    .map(Bytes::from)
                    .with_context(|| format!("reading {}", path.display()))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    if bodies.is_empty() {
        bail!("give the request body with --body-file or --body");
    }
    let uris = args
        .url
        .iter()
        .map(|url| url.parse::<Uri>().with_context(|| format!("--url {url}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let lanes = pair(&uris, &bodies)?;
    let load = match (args.rate, args.concurrency) {
        (Some(rate), None) => Load::Open {
            rate,
            duration: args.duration,
            arrivals: args
                .random_arrivals
                .map_or(Arrivals::Even, |seed| Arrivals::Random { seed }),
        },
        (None, Some(concurrency)) => Load::Closed {
            concurrency,
            duration: args.duration,
            ramp_up: args.ramp_up,
        },
        _ => bail!("give exactly one of --rate (open loop) or --concurrency (closed loop)"),
    };
    let target = Target {
        lanes,
        timeout: args.timeout,
    };
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .context("starting the async runtime")?;
    let (info, outcomes) = runtime.block_on(driver::run(target.clone(), load))?;
    if let Some(path) = &args.samples {
        std::fs::write(path, samples(&outcomes))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let summary = if target.lanes.len() == 1 {
        summarize(&info, &outcomes)
    } else {
        let lanes = target
            .lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| {
                let mine: Vec<Outcome> = outcomes.iter().filter(|o| o.lane == i).cloned().collect();
                let info = RunInfo {
                    url: lane.uri.to_string(),
                    sent: mine.len() as u64,
                    ..info.clone()
                };
                summarize(&info, &mine)
            })
            .collect();
        serde_json::json!({ "lanes": serde_json::Value::Array(lanes) })
    };
    let text = serde_json::to_string_pretty(&summary).context("encoding the summary")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .context("writing the summary")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{pair, parse_duration};
    use bytes::Bytes;
    use hyper::Uri;
    use std::time::Duration;

    #[test]
    fn urls_and_bodies_pair_in_order_or_one_serves_all() {
        let uri = |p: &str| format!("http://127.0.0.1:1/{p}").parse::<Uri>().unwrap();
        let body = |b: &'static str| Bytes::from_static(b.as_bytes());
        let lanes = pair(&[uri("a")], &[body("1"), body("2")]).unwrap();
        let seen: Vec<_> = lanes.iter().map(|l| (l.uri.path(), &l.body[..])).collect();
        assert_eq!(seen, [("/a", &b"1"[..]), ("/a", &b"2"[..])]);
        let lanes = pair(&[uri("a"), uri("b")], &[body("1"), body("2")]).unwrap();
        let seen: Vec<_> = lanes.iter().map(|l| (l.uri.path(), &l.body[..])).collect();
        assert_eq!(seen, [("/a", &b"1"[..]), ("/b", &b"2"[..])]);
        assert!(pair(&[uri("a"), uri("b")], &[body("1"), body("2"), body("3")]).is_err());
        assert!(pair(&[], &[]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("fast").is_err());
    }
}
