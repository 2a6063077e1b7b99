//! Turns a [`Script`] and the request it answers into an OpenAI-shaped response.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::b64;
use crate::body::{EarlyClose, KitBody, Step};
use crate::script::{DEFAULT_PROMPT_TOKENS, Script};

/// What the response depends on, read once from the request.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub request_no: u64,
    pub embeddings: bool,
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub base64: bool,
    pub inputs: usize,
    pub created: u64,
}

impl Ctx {
    pub fn new(request_no: u64, path: &str, body: &[u8]) -> Self {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let inputs = match json.get("input") {
            Some(Value::Array(items))
                if items.iter().all(Value::is_number) && !items.is_empty() =>
            {
                1
            }
            Some(Value::Array(items)) => items.len(),
            _ => 1,
        };
        Self {
            request_no,
            embeddings: path
                .split('?')
                .next()
                .unwrap_or("")
                .ends_with("/embeddings"),
            model: json["model"].as_str().unwrap_or("fake-model").to_owned(),
            stream: json["stream"] == Value::Bool(true),
            include_usage: json["stream_options"]["include_usage"] == Value::Bool(true),
            base64: json["encoding_format"] == "base64",
            inputs,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    fn id(&self) -> String {
        format!("chatcmpl-upstream-{}", self.request_no)
    }
}

/// The response for `script`, or `None` when the script never answers ([`Script::Hang`]).
pub(crate) fn respond(
    script: &Script,
    ctx: &Ctx,
    on_early_close: EarlyClose,
) -> Option<Response<KitBody>> {
    let streamed = |steps: Vec<Step>| {
        let mut resp = Response::new(KitBody::steps_inner(
            steps.into(),
            Some(on_early_close.clone()),
        ));
        set(&mut resp, header::CONTENT_TYPE, "text/event-stream");
        set(&mut resp, header::CACHE_CONTROL, "no-cache");
        resp
    };
    let mut resp = match script {
        // The server picks one step of a sequence per request before answering.
        Script::Hang | Script::Sequence(_) => return None,
        Script::Status {
            status,
            headers,
            body,
        } => status_response(*status, headers, body),
        Script::RawSse { frames, interval } => {
            let mut steps = Vec::with_capacity(frames.len() * 2);
            for (i, frame) in frames.iter().enumerate() {
                if i > 0 {
                    steps.push(Step::Pause(*interval));
                }
                steps.push(Step::Data(Bytes::from(frame.clone())));
            }
            streamed(steps)
        }
        Script::StreamCut { pieces, after } => {
            if ctx.embeddings || !ctx.stream {
                let full = if ctx.embeddings {
                    embeddings(ctx, DEFAULT_PROMPT_TOKENS)
                } else {
                    completion(
                        ctx,
                        text_message(&pieces.concat()),
                        "stop",
                        DEFAULT_PROMPT_TOKENS,
                        pieces.len() as u64,
                    )
                };
                let bytes = Bytes::from(full.to_string());
                let mut resp =
                    streamed(vec![Step::Data(bytes.slice(..bytes.len() / 2)), Step::Fail]);
                set(&mut resp, header::CONTENT_TYPE, "application/json");
                resp
            } else {
                let events = text_events(
                    ctx,
                    pieces,
                    Duration::ZERO,
                    DEFAULT_PROMPT_TOKENS,
                    pieces.len() as u64,
                );
                let mut steps: Vec<Step> = events
                    .into_iter()
                    .filter(|s| matches!(s, Step::Data(_)))
                    .collect();
                steps.truncate((*after).min(steps.len() - 1)); // never [DONE]
                steps.push(Step::Fail);
                streamed(steps)
            }
        }
        Script::Reply { prompt_tokens, .. } | Script::Stream { prompt_tokens, .. }
            if ctx.embeddings =>
        {
            json_response(&embeddings(ctx, *prompt_tokens))
        }
        Script::ToolCall { .. } if ctx.embeddings => {
            json_response(&embeddings(ctx, DEFAULT_PROMPT_TOKENS))
        }
        Script::Reply {
            text,
            prompt_tokens,
            completion_tokens,
        } => {
            if ctx.stream {
                streamed(text_events(
                    ctx,
                    std::slice::from_ref(text),
                    Duration::ZERO,
                    *prompt_tokens,
                    *completion_tokens,
                ))
            } else {
                json_response(&completion(
                    ctx,
                    text_message(text),
                    "stop",
                    *prompt_tokens,
                    *completion_tokens,
                ))
            }
        }
        Script::Stream {
            pieces,
            interval,
            prompt_tokens,
            completion_tokens,
        } => {
            if ctx.stream {
                streamed(text_events(
                    ctx,
                    pieces,
                    *interval,
                    *prompt_tokens,
                    *completion_tokens,
                ))
            } else {
                let message = text_message(&pieces.concat());
                json_response(&completion(
                    ctx,
                    message,
                    "stop",
                    *prompt_tokens,
                    *completion_tokens,
                ))
            }
        }
        Script::ToolCall {
            id,
            name,
            arguments,
        } => {
            if ctx.stream {
                streamed(tool_events(ctx, id, name, arguments))
            } else {
                let message = json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "id": id, "type": "function",
                        "function": { "name": name, "arguments": arguments }
                    }]
                });
                json_response(&completion(
                    ctx,
                    message,
                    "tool_calls",
                    DEFAULT_PROMPT_TOKENS,
                    3,
                ))
            }
        }
    };
    let request_id = format!("upstream-{}", ctx.request_no);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    Some(resp)
}

fn set(resp: &mut Response<KitBody>, name: HeaderName, value: &'static str) {
    resp.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn status_response(status: u16, headers: &[(String, String)], body: &str) -> Response<KitBody> {
    let mut resp = Response::new(KitBody::full(body.to_owned()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or_else(|_| {
        tracing::warn!(status, "sy-testkit: invalid scripted status, answering 500");
        StatusCode::INTERNAL_SERVER_ERROR
    });
    for (name, value) in headers {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(n), Ok(v)) => {
                resp.headers_mut().append(n, v);
            }
            _ => tracing::warn!(%name, %value, "sy-testkit: skipping invalid scripted header"),
        }
    }
    resp
}

fn json_response(value: &Value) -> Response<KitBody> {
    let mut resp = Response::new(KitBody::full(value.to_string()));
    set(&mut resp, header::CONTENT_TYPE, "application/json");
    resp
}

fn text_message(text: &str) -> Value {
    json!({ "role": "assistant", "content": text })
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

fn completion(ctx: &Ctx, message: Value, finish: &str, prompt: u64, completion: u64) -> Value {
    json!({
        "id": ctx.id(),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
        "usage": usage(prompt, completion),
    })
}

fn embeddings(ctx: &Ctx, prompt: u64) -> Value {
    let data: Vec<Value> = (0..ctx.inputs)
        .map(|i| {
            let vector = [i as f32, 0.5, -0.25];
            let embedding = if ctx.base64 {
                json!(b64::f32s_le(&vector))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": ctx.model,
        "usage": { "prompt_tokens": prompt, "total_tokens": prompt },
    })
}

/// `data: {json}\n\n`.
fn event(value: &Value) -> Step {
    Step::Data(Bytes::from(format!("data: {value}\n\n")))
}

fn chunk(ctx: &Ctx, delta: Value, finish: Option<&str>) -> Step {
    let mut v = json!({
        "id": ctx.id(),
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
    });
    if ctx.include_usage {
        v["usage"] = Value::Null;
    }
    event(&v)
}

/// The finish chunk, the usage chunk when asked for, and `[DONE]`.
fn tail(ctx: &Ctx, steps: &mut Vec<Step>, finish: &str, prompt: u64, completion: u64) {
    steps.push(chunk(ctx, json!({}), Some(finish)));
    if ctx.include_usage {
        steps.push(event(&json!({
            "id": ctx.id(),
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [],
            "usage": usage(prompt, completion),
        })));
    }
    steps.push(Step::Data(Bytes::from_static(b"data: [DONE]\n\n")));
}

fn text_events(
    ctx: &Ctx,
    pieces: &[String],
    interval: Duration,
    prompt: u64,
    completion: u64,
) -> Vec<Step> {
    let mut steps = vec![chunk(
        ctx,
        json!({ "role": "assistant", "content": "" }),
        None,
    )];
    for piece in pieces {
        steps.push(Step::Pause(interval));
        steps.push(chunk(ctx, json!({ "content": piece }), None));
    }
    tail(ctx, &mut steps, "stop", prompt, completion);
    steps
}

fn tool_events(ctx: &Ctx, id: &str, name: &str, arguments: &str) -> Vec<Step> {
    let mut mid = arguments.len() / 2;
    while !arguments.is_char_boundary(mid) {
        mid += 1;
    }
    let (first, second) = arguments.split_at(mid);
    let mut steps = vec![
        chunk(ctx, json!({ "role": "assistant", "content": null }), None),
        chunk(
            ctx,
            json!({ "tool_calls": [{
                "index": 0, "id": id, "type": "function",
                "function": { "name": name, "arguments": "" }
            }] }),
            None,
        ),
    ];
    for fragment in [first, second] {
        steps.push(chunk(
            ctx,
            json!({ "tool_calls": [{ "index": 0, "function": { "arguments": fragment } }] }),
            None,
        ));
    }
    tail(ctx, &mut steps, "tool_calls", DEFAULT_PROMPT_TOKENS, 3);
    steps
}
