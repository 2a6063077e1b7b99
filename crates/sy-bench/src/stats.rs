//! Per-stream outcomes and their summary: counts, nearest-rank percentiles in milliseconds, error samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// How one stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// 2xx, and the body's last SSE event was `data: [DONE]`.
    Done,
    /// 2xx, but the body ended without `data: [DONE]` (truncated or malformed stream).
    Incomplete,
    /// A non-2xx status; `body` holds the start of the response body.
    Status { code: u16, body: String },
    /// Connect, write or read failure.
    Transport(String),
    /// No complete answer within the per-stream timeout.
    Timeout,
}

/// One stream, timed from its intended start.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The stream's place in the order streams were sent, from 0: with several lanes, streams
    /// `k * lanes .. (k + 1) * lanes` are one turn of the rotation, sent moments apart.
    pub seq: u64,
    /// Which of the target's requests this stream sent.
    pub lane: usize,
    /// Until the first non-empty body chunk, if one arrived.
    pub ttfb: Option<Duration>,
    /// Until the body ended (or the stream failed).
    pub total: Duration,
    /// Body bytes received.
    pub bytes: u64,
    pub ending: Ending,
}

/// Whether `tail` (the last bytes of a body) ends a complete stream, trailing blank lines allowed:
/// OpenAI's `data: [DONE]`, or Anthropic's `message_stop` event.
pub fn ends_with_done(tail: &[u8]) -> bool {
    let trimmed = tail.trim_ascii_end();
    trimmed.ends_with(b"data: [DONE]")
        || trimmed.ends_with(b"data:[DONE]")
        || trimmed.ends_with(br#"data: {"type":"message_stop"}"#)
}

/// Nearest-rank percentile `p` (0..=100) of ascending `sorted`; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil();
    // `rank` is in 0..=len, so the cast neither truncates nor wraps.
    let index = (rank.max(1.0) as usize).min(sorted.len()) - 1;
    sorted.get(index).copied()
}

/// Rounds to 3 decimals (microsecond resolution for milliseconds).
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Adds `{prefix}_p50_ms` … `{prefix}_max_ms` and `{prefix}_mean_ms` for `samples` (ms) to `out`.
fn distribution(out: &mut Map<String, Value>, prefix: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    for (name, p) in [
        ("p50", 50.0),
        ("p90", 90.0),
        ("p99", 99.0),
        ("p999", 99.9),
        ("max", 100.0),
    ] {
        let value = percentile(&samples, p).map_or(Value::Null, |v| Value::from(round3(v)));
        out.insert(format!("{prefix}_{name}_ms"), value);
    }
    let mean = if samples.is_empty() {
        Value::Null
    } else {
        Value::from(round3(samples.iter().sum::<f64>() / samples.len() as f64))
    };
    out.insert(format!("{prefix}_mean_ms"), mean);
}

/// What the run was, for the summary.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub mode: &'static str,
    pub url: String,
    /// Open loop: the target rate in streams per second.
    pub rate: Option<f64>,
    /// Closed loop: the number of streams kept open.
    pub concurrency: Option<usize>,
    /// How long new streams were started for.
    pub duration: Duration,
    /// From the first scheduled start until the last stream ended.
    pub elapsed: Duration,
    /// Streams started.
    pub sent: u64,
    /// Most streams in flight at once.
    pub max_in_flight: usize,
}

/// The completed streams one per line, in the order they were sent: `seq lane ttfb_us total_us`,
/// so that a script can pool the streams of many runs before taking percentiles.
pub fn samples(outcomes: &[Outcome]) -> String {
    let mut done: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.ending == Ending::Done && o.ttfb.is_some())
        .collect();
    done.sort_unstable_by_key(|o| o.seq);
    let mut text = String::with_capacity(done.len() * 24);
    for o in done {
        let ttfb = o.ttfb.unwrap_or_default().as_micros();
        let _ = writeln!(text, "{} {} {ttfb} {}", o.seq, o.lane, o.total.as_micros());
    }
    text
}

/// The JSON summary of a run. Latencies cover successful (`Done`) streams only.
pub fn summarize(info: &RunInfo, outcomes: &[Outcome]) -> Value {
    let mut ok = 0u64;
    let mut incomplete = 0u64;
    let mut timeouts = 0u64;
    let mut transport = 0u64;
    let mut status = 0u64;
    let mut bytes = 0u64;
    let mut ttfb = Vec::with_capacity(outcomes.len());
    let mut total = Vec::with_capacity(outcomes.len());
    let mut samples: BTreeMap<String, u64> = BTreeMap::new();
    for o in outcomes {
        bytes += o.bytes;
        match &o.ending {
            Ending::Done => {
                ok += 1;
                if let Some(t) = o.ttfb {
                    ttfb.push(ms(t));
                }
                total.push(ms(o.total));
            }
            Ending::Incomplete => {
                incomplete += 1;
                *samples
                    .entry("2xx stream without data: [DONE]".to_owned())
                    .or_default() += 1;
            }
            Ending::Status { code, body } => {
                status += 1;
                *samples.entry(format!("HTTP {code}: {body}")).or_default() += 1;
            }
            Ending::Transport(e) => {
                transport += 1;
                *samples.entry(e.clone()).or_default() += 1;
            }
            Ending::Timeout => {
                timeouts += 1;
                *samples.entry("timeout".to_owned()).or_default() += 1;
            }
        }
    }
    let count = outcomes.len() as u64;
    let elapsed = info.elapsed.as_secs_f64();
    let mut out = Map::new();
    out.insert("mode".into(), json!(info.mode));
    out.insert("url".into(), json!(info.url));
    out.insert("rate".into(), json!(info.rate));
    out.insert("concurrency".into(), json!(info.concurrency));
    out.insert(
        "duration_s".into(),
        json!(round3(info.duration.as_secs_f64())),
    );
    out.insert("elapsed_s".into(), json!(round3(elapsed)));
    out.insert("sent".into(), json!(info.sent));
    out.insert("count".into(), json!(count));
    out.insert("ok".into(), json!(ok));
    // Every stream that did not end in a 2xx `data: [DONE]`.
    out.insert(
        "errors".into(),
        json!(incomplete + timeouts + transport + status),
    );
    out.insert("incomplete".into(), json!(incomplete));
    out.insert("http_errors".into(), json!(status));
    out.insert("transport_errors".into(), json!(transport));
    out.insert("timeouts".into(), json!(timeouts));
    out.insert(
        "ok_per_s".into(),
        json!(if elapsed > 0.0 {
            round3(ok as f64 / elapsed)
        } else {
            0.0
        }),
    );
    out.insert("max_in_flight".into(), json!(info.max_in_flight));
    out.insert("bytes".into(), json!(bytes));
    distribution(&mut out, "ttfb", ttfb);
    distribution(&mut out, "total", total);
    // The most frequent distinct failures, so a report can say *what* went wrong.
    let mut samples: Vec<(String, u64)> = samples.into_iter().collect();
    samples.sort_by_key(|s| std::cmp::Reverse(s.1));
    samples.truncate(8);
    out.insert(
        "error_samples".into(),
        Value::Array(
            samples
                .into_iter()
                .map(|(message, n)| json!({ "count": n, "message": message }))
                .collect(),
        ),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.9), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn done_detection() {
        assert!(ends_with_done(b"data: {}\n\ndata: [DONE]\n\n"));
        assert!(ends_with_done(b"data: [DONE]"));
        assert!(ends_with_done(
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        ));
        assert!(!ends_with_done(
            b"event: error\ndata: {\"type\":\"error\"}\n\n"
        ));
        assert!(!ends_with_done(b"data: {\"x\":1}\n\n"));
        assert!(!ends_with_done(b""));
    }

    #[test]
    fn samples_list_completed_streams_in_the_order_sent() {
        let stream = |seq: u64, lane: usize, ttfb_us: u64, ending: Ending| Outcome {
            seq,
            lane,
            ttfb: Some(Duration::from_micros(ttfb_us)),
            total: Duration::from_micros(ttfb_us * 10),
            bytes: 10,
            ending,
        };
        let outcomes = [
            stream(3, 1, 450, Ending::Done),
            stream(0, 0, 300, Ending::Done),
            stream(1, 1, 410, Ending::Timeout),
            stream(2, 0, 320, Ending::Done),
        ];
        assert_eq!(
            samples(&outcomes),
            "0 0 300 3000\n2 0 320 3200\n3 1 450 4500\n"
        );
        assert_eq!(samples(&[]), "");
    }

    #[test]
    fn summary_counts_failures_and_times_successes() {
        let done = |ms: u64| Outcome {
            seq: ms,
            lane: 0,
            ttfb: Some(Duration::from_millis(ms)),
            total: Duration::from_millis(ms * 10),
            bytes: 10,
            ending: Ending::Done,
        };
        let mut outcomes: Vec<Outcome> = (1..=10).map(done).collect();
        outcomes.push(Outcome {
            seq: 11,
            lane: 0,
            ttfb: None,
            total: Duration::from_millis(1),
            bytes: 0,
            ending: Ending::Status {
                code: 502,
                body: "bad gateway".into(),
            },
        });
        outcomes.push(Outcome {
            seq: 12,
            lane: 0,
            ttfb: Some(Duration::from_millis(1)),
            total: Duration::from_millis(2),
            bytes: 3,
            ending: Ending::Incomplete,
        });
        let info = RunInfo {
            mode: "open",
            url: "http://127.0.0.1:1/v1/chat/completions".into(),
            rate: Some(10.0),
            concurrency: None,
            duration: Duration::from_secs(1),
            elapsed: Duration::from_secs(2),
            sent: 12,
            max_in_flight: 3,
        };
        let s = summarize(&info, &outcomes);
        assert_eq!(s["count"], 12);
        assert_eq!(s["ok"], 10);
        assert_eq!(s["errors"], 2);
        assert_eq!(s["incomplete"], 1);
        assert_eq!(s["http_errors"], 1);
        assert_eq!(s["ttfb_p50_ms"], 5.0);
        assert_eq!(s["ttfb_p90_ms"], 9.0);
        assert_eq!(s["total_max_ms"], 100.0);
        assert_eq!(s["ok_per_s"], 5.0);
        assert_eq!(s["error_samples"][0]["count"], 1);
    }
}
