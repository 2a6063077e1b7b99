//! The fast fixed responder behind `sy-mock-upstream`: precomputed answers, chosen by cheap byte scans.

use std::fmt::{Display, Write as _};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::b64;
use crate::body::{KitBody, Step};

/// How the mock streams.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Content chunks per streamed chat answer (the first also carries the role).
    pub stream_chunks: usize,
    /// Pause between consecutive stream frames.
    pub chunk_interval: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            stream_chunks: 12,
            chunk_interval: Duration::ZERO,
        }
    }
}

/// Every answer the mock gives, built once.
#[derive(Debug)]
pub struct Mock {
    completion: Bytes,
    tools_completion: Bytes,
    parallel_tools_completion: Bytes,
    /// Indexed by `[tools as usize][include_usage as usize]`.
    streams: [[Arc<[Step]>; 2]; 3],
    /// The plain stream as Bedrock ConverseStream frames.
    converse_stream: Arc<[Step]>,
    errors: Vec<(u16, Bytes)>,
    not_found: Bytes,
}

const MODEL: &str = "mock-model";
const ID: &str = "chatcmpl-mock";
const CREATED: u64 = 1_700_000_000;
const WORDS: [&str; 6] = ["Hello", " from", " the", " mock", " upstream", "."];
const REPLY: &str = "Hello from the mock upstream. This is a fixed reply.";
const TOOL_ID: &str = "call_mock_weather";
const TOOL_ARGS: [&str; 3] = ["{\"city\"", ":\"Par", "is\"}"];
/// `mock-parallel-tools`: get_weather and get_time, their argument fragments interleaved, as some
/// OpenAI-compatible servers send parallel calls.
const TIME_ID: &str = "call_mock_time";
const TIME_ARGS: [&str; 2] = ["{\"tz\":", "\"Europe/Rome\"}"];

/// What a chat completion answers with.
#[derive(Clone, Copy)]
enum Tools {
    None = 0,
    /// A call of get_weather (`mock-tools`).
    One = 1,
    /// Calls of get_weather and get_time (`mock-parallel-tools`).
    Parallel = 2,
}
const EMBEDDING: [f32; 4] = [0.25, -0.5, 0.125, 1.0];

impl Mock {
    pub fn new(config: &MockConfig) -> Self {
        let n = config.stream_chunks;
        let message = json!({ "role": "assistant", "content": REPLY });
        let tool_message = json!({
            "role": "assistant", "content": null,
            "tool_calls": [{ "id": TOOL_ID, "type": "function",
                "function": { "name": "get_weather", "arguments": TOOL_ARGS.concat() } }]
        });
        let parallel_message = json!({
            "role": "assistant", "content": null,
            "tool_calls": [
                { "id": TOOL_ID, "type": "function",
                  "function": { "name": "get_weather", "arguments": TOOL_ARGS.concat() } },
                { "id": TIME_ID, "type": "function",
                  "function": { "name": "get_time", "arguments": TIME_ARGS.concat() } }]
        });
        let args = |index: u32, fragment: &str| json!({ "tool_calls": [{ "index": index, "function": { "arguments": fragment } }] });
        let stream = |tools: Tools, include_usage: bool| {
            let mut deltas = Vec::new();
            let first_call = json!({ "role": "assistant", "content": null, "tool_calls": [{
                "index": 0, "id": TOOL_ID, "type": "function",
                "function": { "name": "get_weather", "arguments": "" } }] });
            match tools {
                Tools::One => {
                    deltas.push(first_call);
                    for fragment in TOOL_ARGS {
                        deltas.push(args(0, fragment));
                    }
                }
                Tools::Parallel => {
                    deltas.push(first_call);
                    deltas.push(json!({ "tool_calls": [{
                        "index": 1, "id": TIME_ID, "type": "function",
                        "function": { "name": "get_time", "arguments": TIME_ARGS[0] } }] }));
                    deltas.push(args(0, TOOL_ARGS[0]));
                    deltas.push(args(1, TIME_ARGS[1]));
                    deltas.push(args(0, TOOL_ARGS[1]));
                    deltas.push(args(0, TOOL_ARGS[2]));
                }
                Tools::None => {
                    for i in 0..n {
                        let word = WORDS[i % WORDS.len()];
                        deltas.push(match i {
                            0 => json!({ "role": "assistant", "content": word }),
                            _ => json!({ "content": word }),
                        });
                    }
                }
            }
            let completion_tokens = deltas.len() as u64;
            let finish = match tools {
                Tools::None => "stop",
                Tools::One | Tools::Parallel => "tool_calls",
            };
            let sse = |event: &Value| format!("data: {event}\n\n");
            let mut deliveries: Vec<String> = deltas
                .into_iter()
                .map(|d| sse(&chunk(d, None, include_usage)))
                .collect();
            // The end of an answer comes at once, as OpenAI sends it: the finish chunk, the usage
            // chunk when asked for, and `[DONE]`.
            let mut end = sse(&chunk(json!({}), Some(finish), include_usage));
            if include_usage {
                let mut usage = chunk(Value::Null, None, true);
                usage["choices"] = json!([]);
                usage["usage"] = usage_json(12, completion_tokens);
                end.push_str(&sse(&usage));
            }
            end.push_str("data: [DONE]\n\n");
            deliveries.push(end);
            let mut steps = Vec::with_capacity(deliveries.len() * 2);
            for (i, delivery) in deliveries.into_iter().enumerate() {
                if i > 0 && !config.chunk_interval.is_zero() {
                    steps.push(Step::Pause(config.chunk_interval));
                }
                steps.push(Step::Data(Bytes::from(delivery)));
            }
            Arc::<[Step]>::from(steps)
        };
        let errors = [
            (
                400,
                "Invalid request (mock).",
                "invalid_request_error",
                None,
            ),
            (
                401,
                "Incorrect API key provided (mock).",
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
            (
                404,
                "The model `mock-error-404` does not exist.",
                "invalid_request_error",
                Some("model_not_found"),
            ),
            (
                429,
                "Rate limit reached (mock).",
                "requests",
                Some("rate_limit_exceeded"),
            ),
            (
                500,
                "The server had an error while processing your request (mock).",
                "server_error",
                None,
            ),
            (
                503,
                "The engine is currently overloaded (mock).",
                "server_error",
                None,
            ),
        ];
        Self {
            completion: Bytes::from(
                completion(message, "stop", REPLY.split(' ').count() as u64).to_string(),
            ),
            tools_completion: Bytes::from(completion(tool_message, "tool_calls", 9).to_string()),
            parallel_tools_completion: Bytes::from(
                completion(parallel_message, "tool_calls", 14).to_string(),
            ),
            streams: [Tools::None, Tools::One, Tools::Parallel]
                .map(|tools| [stream(tools, false), stream(tools, true)]),
            converse_stream: converse_stream(config),
            errors: errors
                .into_iter()
                .map(|(status, message, kind, code)| (status, error_body(message, kind, code)))
                .collect(),
            not_found: error_body(
                "Unknown request URL (mock).",
                "invalid_request_error",
                Some("unknown_url"),
            ),
        }
    }

    /// Reads the request body, then answers with [`respond`](Self::respond).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<KitBody>
    where
        B: hyper::body::Body,
        B::Error: Display,
    {
        let (parts, body) = req.into_parts();
        match body.collect().await {
            Ok(body) => self.respond(&parts.method, parts.uri.path(), &body.to_bytes()),
            Err(e) => {
                let message = format!("Could not read the request body: {e}");
                error_response(400, error_body(&message, "invalid_request_error", None))
            }
        }
    }

    /// The answer to `method path` with `body`.
    pub fn respond(&self, method: &Method, path: &str, body: &[u8]) -> Response<KitBody> {
        if method != Method::POST {
            return error_response(404, self.not_found.clone());
        }
        if path.ends_with("/chat/completions") {
            if let Some((status, bytes)) = self.scripted_error(body) {
                return error_response(*status, bytes.clone());
            }
            let tools = if find(body, b"\"mock-tools\"").is_some() {
                Tools::One
            } else if find(body, b"\"mock-parallel-tools\"").is_some() {
                Tools::Parallel
            } else {
                Tools::None
            };
            if json_flag(body, b"\"stream\"") {
                let steps = &self.streams[tools as usize]
                    [usize::from(json_flag(body, b"\"include_usage\""))];
                let mut resp = Response::new(KitBody::steps(Arc::clone(steps)));
                set(&mut resp, header::CONTENT_TYPE, "text/event-stream");
                set(&mut resp, header::CACHE_CONTROL, "no-cache");
                return tagged(resp);
            }
            let bytes = match tools {
                Tools::None => &self.completion,
                Tools::One => &self.tools_completion,
                Tools::Parallel => &self.parallel_tools_completion,
            };
            return json_response(StatusCode::OK, bytes.clone());
        }
        if path.ends_with("/embeddings") {
            return embeddings(body);
        }
        // Bedrock ConverseStream (no signature check: the mock measures the gateway, not AWS).
        if path.ends_with("/converse-stream") {
            let mut resp = Response::new(KitBody::steps(Arc::clone(&self.converse_stream)));
            set(
                &mut resp,
                header::CONTENT_TYPE,
                "application/vnd.amazon.eventstream",
            );
            return tagged(resp);
        }
        error_response(404, self.not_found.clone())
    }

    fn scripted_error(&self, body: &[u8]) -> Option<&(u16, Bytes)> {
        const PREFIX: &[u8] = b"\"mock-error-";
        let at = find(body, PREFIX)? + PREFIX.len();
        let code = body.get(at..at + 4)?;
        if code[3] != b'"' {
            return None;
        }
        let status = std::str::from_utf8(&code[..3]).ok()?.parse::<u16>().ok()?;
        self.errors.iter().find(|(s, _)| *s == status)
    }
}

/// Serves `mock` on `listener` (HTTP/1.1 and h2c) forever.
pub async fn run(listener: TcpListener, mock: Arc<Mock>) {
    crate::server::serve(listener, move |req| {
        let mock = Arc::clone(&mock);
        async move { mock.handle(req).await }
    })
    .await;
}

/// The same answer as a chat stream, as Bedrock's ConverseStream event frames: `messageStart`,
/// one `contentBlockDelta` per word, `contentBlockStop`, `messageStop`, `metadata` with usage.
///
/// The frames arrive at the chat stream's moments, so that comparing the two streams measures the
/// gateway rather than the mock: `messageStart` with the first word (as the role comes with the
/// first chat chunk), and the end of the answer at once (as the finish chunk, usage and `[DONE]`).
fn converse_stream(config: &MockConfig) -> Arc<[Step]> {
    use crate::bedrock::event_frame;
    let n = config.stream_chunks;
    let word = |i: usize| {
        event_frame(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "text": WORDS[i % WORDS.len()] } }),
        )
    };
    let mut deliveries = vec![vec![event_frame(
        "messageStart",
        &json!({ "role": "assistant" }),
    )]];
    for i in 0..n {
        match deliveries.last_mut() {
            Some(first) if i == 0 => first.push(word(i)),
            _ => deliveries.push(vec![word(i)]),
        }
    }
    deliveries.push(vec![
        event_frame("contentBlockStop", &json!({ "contentBlockIndex": 0 })),
        event_frame("messageStop", &json!({ "stopReason": "end_turn" })),
        event_frame(
            "metadata",
            &json!({ "usage": { "inputTokens": 12, "outputTokens": n, "totalTokens": 12 + n },
                     "metrics": { "latencyMs": 1 } }),
        ),
    ]);
    let mut steps = Vec::with_capacity(deliveries.len() * 2);
    for (i, frames) in deliveries.into_iter().enumerate() {
        if i > 0 && !config.chunk_interval.is_zero() {
            steps.push(Step::Pause(config.chunk_interval));
        }
        steps.push(Step::Data(Bytes::from(frames.concat())));
    }
    Arc::from(steps)
}

fn chunk(delta: Value, finish: Option<&str>, include_usage: bool) -> Value {
    let mut v = json!({
        "id": ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
    });
    if include_usage {
        v["usage"] = Value::Null;
    }
    v
}

fn usage_json(prompt: u64, completion: u64) -> Value {
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

fn completion(message: Value, finish: &str, completion_tokens: u64) -> Value {
    json!({
        "id": ID, "object": "chat.completion", "created": CREATED, "model": MODEL,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
        "usage": usage_json(12, completion_tokens),
    })
}

fn error_body(message: &str, kind: &str, code: Option<&str>) -> Bytes {
    let v = json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    Bytes::from(v.to_string())
}

fn set(resp: &mut Response<KitBody>, name: header::HeaderName, value: &'static str) {
    resp.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn tagged(mut resp: Response<KitBody>) -> Response<KitBody> {
    set(
        &mut resp,
        header::HeaderName::from_static("x-request-id"),
        "mock-upstream",
    );
    resp
}

fn json_response(status: StatusCode, body: Bytes) -> Response<KitBody> {
    let mut resp = Response::new(KitBody::full(body));
    *resp.status_mut() = status;
    set(&mut resp, header::CONTENT_TYPE, "application/json");
    tagged(resp)
}

fn error_response(status: u16, body: Bytes) -> Response<KitBody> {
    let mut resp = json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    );
    if status == 429 || status == 503 {
        set(&mut resp, header::RETRY_AFTER, "1");
    }
    resp
}

/// One 4-float vector per input; `encoding_format: "base64"` honoured; ~1 token per 4 bytes.
fn embeddings(body: &[u8]) -> Response<KitBody> {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return error_response(
            400,
            error_body(
                "The request body is not valid JSON.",
                "invalid_request_error",
                None,
            ),
        );
    };
    let tokens = |v: &Value| match v {
        Value::String(s) => (s.len() as u64).div_ceil(4).max(1),
        Value::Array(a) => a.len() as u64,
        _ => 1,
    };
    let (count, prompt_tokens) = match &json["input"] {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_number) => {
            (1, items.len() as u64)
        }
        Value::Array(items) => (items.len(), items.iter().map(tokens).sum()),
        Value::String(s) => (1, tokens(&Value::String(s.clone()))),
        _ => {
            return error_response(
                400,
                error_body(
                    "'input' is a required property.",
                    "invalid_request_error",
                    None,
                ),
            );
        }
    };
    let vector = if json["encoding_format"] == "base64" {
        format!("\"{}\"", b64::f32s_le(&EMBEDDING))
    } else {
        Value::from(EMBEDDING.to_vec()).to_string()
    };
    let mut out = String::with_capacity(64 + count * (48 + vector.len()));
    out.push_str("{\"object\":\"list\",\"data\":[");
    for i in 0..count {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"object\":\"embedding\",\"index\":{i},\"embedding\":{vector}}}"
        );
    }
    let _ = write!(
        out,
        "],\"model\":\"{MODEL}\",\"usage\":{{\"prompt_tokens\":{prompt_tokens},\"total_tokens\":{prompt_tokens}}}}}"
    );
    json_response(StatusCode::OK, Bytes::from(out))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether some `key` (quoted) in the JSON text is followed by `: true`, whitespace allowed.
pub fn json_flag(body: &[u8], key: &[u8]) -> bool {
    let mut rest = body;
    while let Some(at) = find(rest, key) {
        rest = &rest[at + key.len()..];
        let after = rest.trim_ascii_start();
        if let Some(value) = after.strip_prefix(b":")
            && value.trim_ascii_start().starts_with(b"true")
        {
            return true;
        }
    }
    false
}
