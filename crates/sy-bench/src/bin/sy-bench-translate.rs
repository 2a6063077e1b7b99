//! Micro-benchmark of the translation lane's own work for one streamed chat request (OpenAI in,
//! Bedrock ConverseStream out), in process and on one thread, without the network:
//!
//! - the request: the OpenAI body decoded into the canonical model, encoded as Converse, and the
//!   upstream request built and SigV4-signed;
//! - the answer: the ConverseStream frames of a 12-word reply (with the `p` padding Bedrock adds)
//!   decoded with both CRCs checked, read as canonical events, and written as OpenAI chunks with
//!   their SSE framing, then `data: [DONE]`;
//! - cold only, the answer's first delivery alone (`messageStart` and the first word, as the
//!   benchmark's mock sends them, through a new stream's reader and encoder): the answer's part of
//!   the time to the first byte, since at a gateway idling between deliveries each delivery runs
//!   cold, not the answer as a whole.
//!
//! Everything else a request costs (HTTP, sockets, routing, the ledger) is the same in the
//! pass-through lane, which `bench/lanes.sh` compares end to end. Prints µs per request for each
//! half and in all, first warm (a tight loop), then cold (the caches filled with other data before
//! each run, as at a gateway that idles between deliveries): `sy-bench-translate [BODY.json]`
//! (default `bench/body.json`).
//!
//! `sy-bench-translate --cold-only N [BODY.json]` runs N cold rounds of each part and prints
//! nothing, for a cache simulator to count what each fetches from memory:
//! `valgrind --tool=callgrind --cache-sim=yes --toggle-collect='*cold_request*' …` (or
//! `*cold_answer*`, `*cold_first_delivery*`).

use std::hint::black_box;
use std::io::Write;
use std::time::{Instant, SystemTime};

use anyhow::Context as _;

use bytes::{BufMut, Bytes, BytesMut};
use http::Request;
use http_body_util::Full;
use serde_json::json;
use sy_config::{BedrockAuth, CredentialOrigin, Timeouts};
use sy_core::Secret;
use sy_dialect::canonical::StreamEvent;
use sy_dialect::converse::{self, ConverseStreamDecoder};
use sy_dialect::openai_chat::{self, ChunkEncoder};
use sy_dialect::{EncodeOptions, ResponseMeta, Translation};
use sy_provider::Operation;
use sy_provider::bedrock::BedrockUpstream;
use sy_provider::bedrock::eventstream::{FrameDecoder, event_frame};

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const WORDS: [&str; 12] = [
    "Thanks",
    " for",
    " your",
    " order",
    " NW-48213",
    ".",
    " Your",
    " tent",
    " ships",
    " on",
    " Friday",
    ".",
];

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let cold_only = match args.iter().position(|a| a == "--cold-only") {
        Some(at) => {
            let rounds = args
                .get(at + 1)
                .context("--cold-only needs a number of rounds")?
                .parse::<usize>()
                .context("--cold-only needs a number of rounds")?;
            args.drain(at..at + 2);
            Some(rounds)
        }
        None => None,
    };
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "bench/body.json".to_owned());
    let mut body: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    body["stream"] = json!(true);
    let body = serde_json::to_vec(&body)?;
    let bedrock = BedrockUpstream::new(
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        "us-east-1",
        &BedrockAuth::SigV4 {
            access_key_id: "AKIDBENCHMARK000000".to_owned(),
            secret_access_key: Secret::new("bench-secret-access-key".to_owned()),
            session_token: None,
            origin: CredentialOrigin::Config,
        },
        &Timeouts::default(),
    )
    .map_err(anyhow::Error::msg)?;
    let frames = answer_frames()?;

    // Check once that the lane does what it is timed doing.
    let (request, translation) = request_side(&body, &bedrock)?;
    anyhow::ensure!(
        request.headers().contains_key("authorization"),
        "the request was not signed"
    );
    let sse = answer_side(&frames, &translation)?;
    let text = String::from_utf8_lossy(&sse);
    anyhow::ensure!(
        text.contains("\"finish_reason\":\"stop\"") && text.ends_with("data: [DONE]\n\n"),
        "the answer was not translated: {text}"
    );
    let first = first_delivery(&frames, &translation)?;
    let first = String::from_utf8_lossy(&first);
    anyhow::ensure!(
        first.contains("\"role\":\"assistant\"") && first.contains(WORDS[0]),
        "the first delivery was not translated: {first}"
    );

    if let Some(rounds) = cold_only {
        let mut cache = Evictor::new();
        for _ in 0..rounds {
            cache.evict();
            black_box(cold_request(black_box(&body), &bedrock)?);
            cache.evict();
            black_box(cold_answer(black_box(&frames), &translation)?);
            cache.evict();
            black_box(cold_first_delivery(black_box(&frames), &translation)?);
        }
        return Ok(());
    }

    let rounds: u32 = 20_000;
    let warm = || -> anyhow::Result<()> {
        for _ in 0..rounds / 10 {
            black_box(request_side(&body, &bedrock)?);
            black_box(answer_side(&frames, &translation)?);
        }
        Ok(())
    };
    warm()?;
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(request_side(black_box(&body), &bedrock)?);
    }
    let request_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(answer_side(black_box(&frames), &translation)?);
    }
    let answer_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);

    let cold = ColdTimes::measure(&body, &bedrock, &frames, &translation)?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "translation lane work per streamed request (OpenAI in, Bedrock ConverseStream out), \
         {rounds} rounds, {} request bytes, {} frames ({} bytes) answered as {} bytes of SSE",
        body.len(),
        frames.len(),
        frames.iter().map(Bytes::len).sum::<usize>(),
        sse.len()
    )?;
    writeln!(
        out,
        "request  (decode, encode as Converse, sign): {request_us:>7.2} µs"
    )?;
    writeln!(
        out,
        "answer   (frames, events, OpenAI chunks):    {answer_us:>7.2} µs"
    )?;
    writeln!(
        out,
        "in all:                                      {:>7.2} µs",
        request_us + answer_us
    )?;
    writeln!(
        out,
        "cold, after evicting {} MiB of cache ({} rounds, median): request {:.2} µs, answer {:.2} µs, \
         first delivery {:.2} µs",
        Evictor::BYTES >> 20,
        ColdTimes::ROUNDS,
        cold.request_us,
        cold.answer_us,
        cold.first_delivery_us
    )?;
    Ok(())
}

/// The same work run cold: before each timed run the caches are filled with other data, as they
/// are when a request or a frame arrives at a gateway that has been idle between deliveries
/// (which is when a streamed request's work happens at any offered load).
struct ColdTimes {
    request_us: f64,
    answer_us: f64,
    first_delivery_us: f64,
}

impl ColdTimes {
    const ROUNDS: usize = 300;

    fn measure(
        body: &[u8],
        bedrock: &BedrockUpstream,
        frames: &[Bytes],
        translation: &Translation,
    ) -> anyhow::Result<Self> {
        let mut cache = Evictor::new();
        let mut request = Vec::with_capacity(Self::ROUNDS);
        let mut answer = Vec::with_capacity(Self::ROUNDS);
        let mut first = Vec::with_capacity(Self::ROUNDS);
        for _ in 0..Self::ROUNDS {
            cache.evict();
            let started = Instant::now();
            black_box(cold_request(black_box(body), bedrock)?);
            request.push(started.elapsed().as_secs_f64() * 1e6);
            cache.evict();
            let started = Instant::now();
            black_box(cold_answer(black_box(frames), translation)?);
            answer.push(started.elapsed().as_secs_f64() * 1e6);
            cache.evict();
            let started = Instant::now();
            black_box(cold_first_delivery(black_box(frames), translation)?);
            first.push(started.elapsed().as_secs_f64() * 1e6);
        }
        Ok(Self {
            request_us: median(&mut request),
            answer_us: median(&mut answer),
            first_delivery_us: median(&mut first),
        })
    }
}

/// Fills the caches, the shared last level included, with data of its own.
struct Evictor {
    junk: Vec<u8>,
    round: u8,
}

impl Evictor {
    const BYTES: usize = 64 << 20;

    fn new() -> Self {
        Self {
            junk: vec![0; Self::BYTES],
            round: 0,
        }
    }

    fn evict(&mut self) {
        self.round = self.round.wrapping_add(1);
        for line in self.junk.chunks_mut(64) {
            line[0] = line[0].wrapping_add(self.round);
        }
        black_box(&self.junk);
    }
}

/// The request half, not inlined, so a profiler can single it out.
#[inline(never)]
fn cold_request(
    body: &[u8],
    bedrock: &BedrockUpstream,
) -> anyhow::Result<(Request<Full<Bytes>>, Translation)> {
    request_side(body, bedrock)
}

/// The answer half, not inlined, so a profiler can single it out.
#[inline(never)]
fn cold_answer(frames: &[Bytes], translation: &Translation) -> anyhow::Result<Bytes> {
    answer_side(frames, translation)
}

/// The first delivery, not inlined, so a profiler can single it out.
#[inline(never)]
fn cold_first_delivery(frames: &[Bytes], translation: &Translation) -> anyhow::Result<Bytes> {
    first_delivery(frames, translation)
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// What the gateway does before the upstream call: decode, encode, and build and sign the
/// upstream request with the Bedrock provider's own builder.
fn request_side(
    body: &[u8],
    bedrock: &BedrockUpstream,
) -> anyhow::Result<(Request<Full<Bytes>>, Translation)> {
    let decoded = openai_chat::decode_request(body)?;
    let encoded = converse::encode_request(&decoded.request, &EncodeOptions::new(MODEL))?;
    let request = bedrock.request(
        Operation::Converse { stream: true },
        MODEL,
        Bytes::from(encoded.body),
        SystemTime::now(),
    )?;
    Ok((request, encoded.translation))
}

/// What the gateway does with the answer: every frame decoded and re-framed for the caller.
fn answer_side(frames: &[Bytes], translation: &Translation) -> anyhow::Result<Bytes> {
    let mut out = relay(frames, translation)?;
    out.put_slice(b"data: [DONE]\n\n");
    Ok(out.freeze())
}

/// The first delivery alone (`messageStart` and the first word, as the mock sends them): the
/// answer's part of the time to the first byte.
fn first_delivery(frames: &[Bytes], translation: &Translation) -> anyhow::Result<Bytes> {
    Ok(relay(&frames[..FIRST_DELIVERY], translation)?.freeze())
}

/// How many frames the first delivery holds.
const FIRST_DELIVERY: usize = 2;

/// `frames` through a new stream's frame reader, event decoder and chunk encoder, with the
/// stream's end after the last frame of the answer.
fn relay(frames: &[Bytes], translation: &Translation) -> anyhow::Result<BytesMut> {
    let mut decoder = FrameDecoder::new();
    let mut events = ConverseStreamDecoder::new(translation);
    let meta = ResponseMeta {
        id: "chatcmpl-bench".to_owned(),
        model: "bench-lane".to_owned(),
        created: 1_700_000_000,
    };
    let mut encoder = ChunkEncoder::new(meta, false);
    // Sized for the whole answer: the gateway writes each chunk into a buffer of its own size,
    // so growing one buffer step by step here would time work the gateway does not do.
    let mut out = BytesMut::with_capacity(4096);
    let mut write = |json: &str, _error: bool| {
        out.put_slice(b"data: ");
        out.put_slice(json.as_bytes());
        out.put_slice(b"\n\n");
    };
    for bytes in frames {
        decoder.push(bytes.clone());
        while let Some(frame) = decoder.next_frame()? {
            for event in events.push(&frame.name, &frame.payload) {
                anyhow::ensure!(!matches!(event, StreamEvent::Error(_)), "{event:?}");
                encoder.push_with(event, &mut write);
            }
        }
    }
    if frames.len() > FIRST_DELIVERY {
        decoder.finish()?;
        for event in events.end() {
            encoder.push_with(event, &mut write);
        }
        encoder.end_with(&mut write);
    }
    Ok(out)
}

/// A 12-word ConverseStream answer as Bedrock frames it, padding included.
fn answer_frames() -> anyhow::Result<Vec<Bytes>> {
    let padding =
        |n: usize| "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"[..n].to_owned();
    let mut events = vec![(
        "messageStart",
        json!({ "role": "assistant", "p": padding(20) }),
    )];
    for (i, word) in WORDS.iter().enumerate() {
        events.push((
            "contentBlockDelta",
            json!({ "contentBlockIndex": 0, "delta": { "text": word }, "p": padding(10 + i * 3) }),
        ));
    }
    events.push((
        "contentBlockStop",
        json!({ "contentBlockIndex": 0, "p": padding(30) }),
    ));
    events.push((
        "messageStop",
        json!({ "stopReason": "end_turn", "p": padding(40) }),
    ));
    events.push((
        "metadata",
        json!({ "usage": { "inputTokens": 120, "outputTokens": 12, "totalTokens": 132 },
                "metrics": { "latencyMs": 412 }, "p": padding(12) }),
    ));
    events
        .iter()
        .map(|(name, payload)| Ok(event_frame(name, &serde_json::to_vec(payload)?)?))
        .collect()
}
