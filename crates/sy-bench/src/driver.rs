//! The load driver: start streams at a fixed rate (open loop) or keep N open (closed loop), timing each.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::stats::{Ending, Outcome, RunInfo, ends_with_done};

/// How many bytes of a failed response's body an error sample keeps.
const ERROR_BODY_BYTES: usize = 240;
/// How many trailing body bytes are kept to look for `data: [DONE]`.
const TAIL_BYTES: usize = 64;
/// The first stream is scheduled this long after setup, so setup never counts as latency.
const LEAD_IN: Duration = Duration::from_millis(50);
/// Tokio's timer rounds deadlines up to the next millisecond; waking this much early keeps that
/// rounding out of the measurements (an early stream is timed from when it was actually sent).
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// Where and what to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// One request, or several taken in turn (the `i`th stream started sends request `i mod n`):
    /// lanes measured in one run share every moment of the machine, so its drift cancels out
    /// of their difference.
    pub lanes: Vec<Lane>,
    /// Per-stream limit, from the intended start to the end of the body.
    pub timeout: Duration,
}

/// One request: where to send it and its body.
#[derive(Debug, Clone)]
pub struct Lane {
    pub uri: Uri,
    pub body: Bytes,
}

/// How to load the target.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// Start `rate` streams per second for `duration`, whatever the server does.
    Open {
        rate: f64,
        duration: Duration,
        arrivals: Arrivals,
    },
    /// Keep `concurrency` streams open for `duration`; the workers start spread over `ramp_up`.
    Closed {
        concurrency: usize,
        duration: Duration,
        ramp_up: Duration,
    },
}

/// When an open loop's streams start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrivals {
    /// Evenly spaced, `1 / rate` apart.
    Even,
    /// At random (a Poisson process: exponential gaps of mean `1 / rate`), from `seed`. Evenly
    /// spaced streams meet a paced upstream's deliveries at the same phase every time (streams
    /// 5 ms apart, words 2 ms apart: each request lands on the deliveries of the streams started
    /// 10 and 20 ms before it, which in a rotation of lanes are the same lanes' every time);
    /// random ones meet every phase.
    Random { seed: u64 },
}

/// The start times of an open loop's streams, as offsets from its start.
#[derive(Debug)]
pub struct Schedule {
    rate: f64,
    count: u32,
    next: Duration,
    random: Option<fastrand::Rng>,
}

impl Schedule {
    pub fn new(rate: f64, arrivals: Arrivals) -> Self {
        Self {
            rate,
            count: 0,
            next: Duration::ZERO,
            random: match arrivals {
                Arrivals::Even => None,
                Arrivals::Random { seed } => Some(fastrand::Rng::with_seed(seed)),
            },
        }
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let due = match &mut self.random {
            // From the count, not summed, so that rounding never accumulates.
            None => Duration::try_from_secs_f64(f64::from(self.count) / self.rate).ok()?,
            Some(rng) => {
                let due = self.next;
                // 1 - u lies in (0, 1], so the logarithm is finite.
                let gap = -(1.0 - rng.f64()).ln() / self.rate;
                self.next += Duration::try_from_secs_f64(gap).ok()?;
                due
            }
        };
        self.count = self.count.checked_add(1)?;
        Some(due)
    }
}

#[derive(Debug)]
struct Shared {
    client: Client<HttpConnector, Full<Bytes>>,
    target: Target,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    sent: AtomicU64,
}

/// Runs `load` against `target` and returns what happened to every stream started.
pub async fn run(target: Target, load: Load) -> anyhow::Result<(RunInfo, Vec<Outcome>)> {
    if target.lanes.is_empty() {
        bail!("nothing to send");
    }
    if let Some(lane) = target
        .lanes
        .iter()
        .find(|l| l.uri.scheme_str() != Some("http"))
    {
        bail!("only http:// URLs are supported, not {}", lane.uri);
    }
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector);
    let shared = Arc::new(Shared {
        client,
        target,
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
    });
    let start = Instant::now() + LEAD_IN;
    let (mode, rate, concurrency, duration, outcomes) = match load {
        Load::Open {
            rate,
            duration,
            arrivals,
        } => {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("--rate must be a positive number, not {rate}");
            }
            let schedule = Schedule::new(rate, arrivals);
            let outcomes = open_loop(&shared, start, schedule, duration).await?;
            ("open", Some(rate), None, duration, outcomes)
        }
        Load::Closed {
            concurrency,
            duration,
            ramp_up,
        } => {
            if concurrency == 0 {
                bail!("--concurrency must be at least 1");
            }
            let outcomes = closed_loop(&shared, start, concurrency, duration, ramp_up).await?;
            ("closed", None, Some(concurrency), duration, outcomes)
        }
    };
    let info = RunInfo {
        mode,
        url: shared.target.lanes[0].uri.to_string(),
        rate,
        concurrency,
        duration,
        elapsed: start.elapsed(),
        sent: shared.sent.load(Ordering::Relaxed),
        max_in_flight: shared.max_in_flight.load(Ordering::Relaxed),
    };
    Ok((info, outcomes))
}

/// Each stream starts when `schedule` says; a late scheduler does not move that time.
async fn open_loop(
    shared: &Arc<Shared>,
    start: Instant,
    schedule: Schedule,
    duration: Duration,
) -> anyhow::Result<Vec<Outcome>> {
    let end = start + duration;
    let mut tasks = JoinSet::new();
    let mut outcomes = Vec::new();
    for offset in schedule {
        let intended = start + offset;
        if intended >= end {
            break;
        }
        tokio::time::sleep_until(intended.checked_sub(TIMER_SLACK).unwrap_or(intended)).await;
        let shared = Arc::clone(shared);
        tasks.spawn(async move { one_stream(&shared, intended).await });
        while let Some(done) = tasks.try_join_next() {
            outcomes.push(done.context("a stream task failed")?);
        }
    }
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.context("a stream task failed")?);
    }
    Ok(outcomes)
}

/// `concurrency` workers, each running one stream after another until `start + duration`.
async fn closed_loop(
    shared: &Arc<Shared>,
    start: Instant,
    concurrency: usize,
    duration: Duration,
    ramp_up: Duration,
) -> anyhow::Result<Vec<Outcome>> {
    let end = start + duration;
    let ramp_up = ramp_up.min(duration / 2);
    let mut workers = JoinSet::new();
    for w in 0..concurrency {
        let shared = Arc::clone(shared);
        let offset = ramp_up.mul_f64(w as f64 / concurrency as f64);
        workers.spawn(async move {
            tokio::time::sleep_until(start + offset).await;
            let mut outcomes = Vec::new();
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                outcomes.push(one_stream(&shared, now).await);
            }
            outcomes
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = workers.join_next().await {
        outcomes.extend(done.context("a worker task failed")?);
    }
    Ok(outcomes)
}

/// Decrements the in-flight gauge however the stream ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Sends one streaming request and reads its body to the end, timed from [`timed_from`].
async fn one_stream(shared: &Shared, intended: Instant) -> Outcome {
    let intended = timed_from(intended, Instant::now());
    let sent = shared.sent.fetch_add(1, Ordering::Relaxed);
    let lanes = &shared.target.lanes;
    let lane_index = usize::try_from(sent).unwrap_or_default() % lanes.len();
    let lane = &lanes[lane_index];
    let now_in_flight = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    shared
        .max_in_flight
        .fetch_max(now_in_flight, Ordering::Relaxed);
    let _gauge = InFlight(&shared.in_flight);

    let mut ttfb = None;
    let mut bytes = 0u64;
    let exchange = async {
        let mut request = Request::new(Full::new(lane.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = lane.uri.clone();
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = shared
            .client
            .request(request)
            .await
            .map_err(|e| Ending::Transport(format!("request: {}", chain(&e))))?;
        let status = response.status();
        let mut body = response.into_body();
        let mut tail: Vec<u8> = Vec::with_capacity(TAIL_BYTES * 2);
        let mut error_body: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Ending::Transport(format!("body: {}", chain(&e))))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            if ttfb.is_none() {
                ttfb = Some(intended.elapsed());
            }
            bytes += data.len() as u64;
            if status.is_success() {
                tail.extend_from_slice(data);
                if tail.len() > TAIL_BYTES {
                    tail.drain(..tail.len() - TAIL_BYTES);
                }
            } else if error_body.len() < ERROR_BODY_BYTES {
                let room = ERROR_BODY_BYTES - error_body.len();
                error_body.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        if !status.is_success() {
            return Err(Ending::Status {
                code: status.as_u16(),
                body: String::from_utf8_lossy(&error_body).trim().to_owned(),
            });
        }
        Ok(if ends_with_done(&tail) {
            Ending::Done
        } else {
            Ending::Incomplete
        })
    };
    let ending = match tokio::time::timeout_at(intended + shared.target.timeout, exchange).await {
        Ok(Ok(ending) | Err(ending)) => ending,
        Err(_elapsed) => Ending::Timeout,
    };
    Outcome {
        seq: sent,
        lane: lane_index,
        ttfb,
        total: intended.elapsed(),
        bytes,
        ending,
    }
}

/// Where a stream's latency counts from: the moment it was due, or the moment it was sent when
/// that is earlier. A stream sent late (a busy load generator) counts the wait, as an open loop
/// must; a stream sent early (the timer wakes up to [`TIMER_SLACK`] ahead) counts from when it
/// left, so that its latency is never shortened by the early start.
fn timed_from(intended: Instant, sent: Instant) -> Instant {
    intended.min(sent)
}

/// `error: cause: cause…`, since hyper's top-level messages ("client error (Connect)") say little.
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Arrivals, Schedule, timed_from};

    #[test]
    fn even_arrivals_are_one_period_apart() {
        let due: Vec<Duration> = Schedule::new(200.0, Arrivals::Even).take(4).collect();
        let ms = Duration::from_millis;
        assert_eq!(due, [ms(0), ms(5), ms(10), ms(15)]);
    }

    #[test]
    fn random_arrivals_keep_the_rate_and_repeat_with_their_seed() {
        let draw = |seed| -> Vec<Duration> {
            Schedule::new(200.0, Arrivals::Random { seed })
                .take(20_000)
                .collect()
        };
        let due = draw(7);
        assert_eq!(due, draw(7), "a seed gives the same schedule");
        assert_ne!(due, draw(8));
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
        // 20,000 streams at 200/s: 100 s, give or take a few percent.
        let last = due.last().expect("streams").as_secs_f64();
        assert!((97.0..103.0).contains(&last), "{last} s");
        // Exponential gaps: about two in five below half the mean (1 - e^-0.5), none if even.
        let short = due
            .windows(2)
            .filter(|w| w[1] - w[0] < Duration::from_micros(2_500))
            .count();
        assert!((7_000..8_700).contains(&short), "{short} short gaps");
    }

    #[test]
    fn a_stream_counts_from_its_due_time_or_from_its_earlier_send() {
        let due = Instant::now() + Duration::from_secs(10);
        let early = due - Duration::from_micros(700);
        let late = due + Duration::from_micros(300);
        assert_eq!(
            timed_from(due, early),
            early,
            "an early stream counts from its send"
        );
        assert_eq!(timed_from(due, late), due, "a late stream counts its wait");
        assert_eq!(timed_from(due, due), due);
    }
}
