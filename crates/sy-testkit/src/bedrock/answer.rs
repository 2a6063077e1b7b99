//! What a [`FakeBedrock`](super::FakeBedrock) answers: routing `/model/{id}/{operation}`, the
//! JSON and event-stream bodies of each operation, and Bedrock's error shape.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::Response;
use serde_json::{Value, json};

use super::frames::{event_frame, exception_frame};
use super::{AuthRefusal, BedrockScript};
use crate::body::{KitBody, Step};
use crate::fake::{fragments, json as json_response, respond, route_model};
use crate::server::Recorded;

/// The `p` member Bedrock pads events with against length side channels; clients ignore it.
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

pub(crate) fn request_id(request_no: u64) -> String {
    format!("8f1c2a3b-0000-4000-8000-{request_no:012x}")
}

/// Bedrock's error answer: status, `x-amzn-ErrorType`, `x-amzn-RequestId`, `{"message"}`.
pub(crate) fn error(
    status: u16,
    error_type: &str,
    message: &str,
    request_no: u64,
) -> Response<KitBody> {
    json_response(
        status,
        vec![
            (
                "x-amzn-errortype",
                format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ),
            ("x-amzn-requestid", request_id(request_no)),
        ],
        &json!({ "message": message }),
    )
}

pub(crate) fn refused(refusal: &AuthRefusal, request_no: u64) -> Response<KitBody> {
    json_response(
        403,
        vec![
            (
                "x-amzn-errortype",
                format!(
                    "{}:http://internal.amazon.com/coral/com.amazon.coral.service/",
                    refusal.error_type
                ),
            ),
            ("x-amzn-requestid", request_id(request_no)),
        ],
        &json!({ "message": refusal.message }),
    )
}

/// `(model id, operation)` from the raw path: the id must be one segment, percent-decoded here.
pub(crate) fn route(path_and_query: &str) -> Option<(String, String)> {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let rest = path.strip_prefix("/model/")?;
    let (segment, operation) = rest.split_once('/')?;
    if segment.is_empty() || operation.contains('/') {
        return None;
    }
    Some((percent_decode(segment)?, operation.to_owned()))
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn answer(
    request: &Recorded,
    script: &BedrockScript,
    request_no: u64,
    frame_split: usize,
) -> Response<KitBody> {
    let Some((model, operation)) = route(&request.path_and_query) else {
        // What Bedrock says when an unencoded `/` splits an ARN across segments.
        return error(
            400,
            "ValidationException",
            "The provided model identifier is invalid.",
            request_no,
        );
    };
    let streaming = match operation.as_str() {
        "converse" | "invoke" | "count-tokens" => false,
        "converse-stream" | "invoke-with-response-stream" => true,
        _ => return error(404, "UnknownOperationException", "", request_no),
    };
    if serde_json::from_slice::<Value>(&request.body).is_err() {
        return error(
            400,
            "ValidationException",
            "Malformed input request, please reformat your input and try again.",
            request_no,
        );
    }
    let reply = |pieces: &[String], input: u64, output: u64| match operation.as_str() {
        "converse" => json_response(
            200,
            vec![("x-amzn-requestid", request_id(request_no))],
            &converse(pieces, input, output),
        ),
        "invoke" => invoke(&model, pieces, input, output, request_no),
        "count-tokens" => json_response(
            200,
            vec![("x-amzn-requestid", request_id(request_no))],
            &json!({ "inputTokens": input }),
        ),
        "converse-stream" => stream(
            converse_events(pieces, input, output),
            frame_split,
            request_no,
            &[],
        ),
        _ => stream(
            invoke_events(&model, pieces, input, output),
            frame_split,
            request_no,
            &[("x-amzn-bedrock-content-type", "application/json".to_owned())],
        ),
    };
    let mut script = script;
    while let BedrockScript::ByModel { routes, otherwise } = script {
        script = route_model(routes, otherwise, &model);
    }
    match script {
        BedrockScript::Reply {
            pieces,
            input_tokens,
            output_tokens,
        } => reply(pieces, *input_tokens, *output_tokens),
        BedrockScript::ToolCall {
            id,
            name,
            arguments,
            input_tokens,
            output_tokens,
        } => match operation.as_str() {
            "converse" => {
                let mut body = converse(&[], *input_tokens, *output_tokens);
                let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
                body["output"]["message"]["content"] =
                    json!([{ "toolUse": { "toolUseId": id, "name": name, "input": input } }]);
                body["stopReason"] = json!("tool_use");
                json_response(
                    200,
                    vec![("x-amzn-requestid", request_id(request_no))],
                    &body,
                )
            }
            "converse-stream" => stream(
                converse_tool_events(id, name, arguments, *input_tokens, *output_tokens),
                frame_split,
                request_no,
                &[],
            ),
            "invoke" => json_response(
                200,
                vec![("x-amzn-requestid", request_id(request_no))],
                &invoke_tool_call(&model, id, name, arguments, *input_tokens, *output_tokens),
            ),
            "invoke-with-response-stream" => stream(
                invoke_tool_events(&model, id, name, arguments, *input_tokens, *output_tokens),
                frame_split,
                request_no,
                &[("x-amzn-bedrock-content-type", "application/json".to_owned())],
            ),
            _ => reply(&[], *input_tokens, *output_tokens),
        },
        BedrockScript::Error {
            status,
            error_type,
            message,
        } => error(*status, error_type, message, request_no),
        BedrockScript::StreamException {
            exception_type,
            message,
            ..
        } if !streaming => error(
            exception_status(exception_type),
            &upper_first(exception_type),
            message,
            request_no,
        ),
        BedrockScript::StreamException {
            pieces,
            after,
            exception_type,
            message,
        } => {
            let mut frames = if operation == "converse-stream" {
                converse_events(pieces, 11, pieces.len() as u64)
            } else {
                invoke_events(&model, pieces, 11, pieces.len() as u64)
            };
            // messageStart (or message_start and the block start) and `after` deltas.
            let head = if operation == "converse-stream" { 1 } else { 2 };
            frames.truncate((head + after).min(frames.len()));
            frames.push(exception_frame(exception_type, message));
            stream(frames, frame_split, request_no, &[])
        }
        BedrockScript::Truncated { pieces, keep_bytes } if streaming => {
            let whole: Vec<u8> = converse_events(pieces, 11, pieces.len() as u64).concat();
            let kept = Bytes::copy_from_slice(&whole[..(*keep_bytes).min(whole.len())]);
            stream(vec![kept], frame_split, request_no, &[])
        }
        BedrockScript::Truncated { pieces, .. } => reply(pieces, 11, pieces.len() as u64),
        BedrockScript::Sequence(_) | BedrockScript::ByModel { .. } => error(
            500,
            "InternalServerException",
            "sy-testkit: nested sequence",
            request_no,
        ),
    }
}

fn converse(pieces: &[String], input: u64, output: u64) -> Value {
    json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": pieces.concat() }] } },
        "stopReason": "end_turn",
        "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output,
                   "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0 },
        "metrics": { "latencyMs": 42 }
    })
}

/// ConverseStream: `messageStart`, a `contentBlockDelta` per piece (text blocks get no start
/// event), `contentBlockStop`, `messageStop`, then `metadata` with the usage.
fn converse_events(pieces: &[String], input: u64, output: u64) -> Vec<Bytes> {
    let mut frames = vec![event_frame(
        "messageStart",
        &json!({ "role": "assistant", "p": PADDING }),
    )];
    for piece in pieces {
        frames.push(event_frame(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "text": piece }, "p": PADDING }),
        ));
    }
    frames.push(event_frame(
        "contentBlockStop",
        &json!({ "contentBlockIndex": 0, "p": PADDING }),
    ));
    frames.push(event_frame(
        "messageStop",
        &json!({ "stopReason": "end_turn", "p": PADDING }),
    ));
    frames.push(event_frame(
        "metadata",
        &json!({
            "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output },
            "metrics": { "latencyMs": 42 },
            "p": PADDING
        }),
    ));
    frames
}

/// ConverseStream of one tool call: `messageStart`, `contentBlockStart` with
/// `start.toolUse{toolUseId,name}`, a `contentBlockDelta` per `delta.toolUse.input` fragment,
/// `contentBlockStop`, `messageStop` (`tool_use`), then `metadata` with the usage.
fn converse_tool_events(
    id: &str,
    name: &str,
    arguments: &str,
    input: u64,
    output: u64,
) -> Vec<Bytes> {
    let mut frames = converse_events(&[], input, output);
    let mut middle = vec![event_frame(
        "contentBlockStart",
        &json!({ "contentBlockIndex": 0, "start": { "toolUse": { "toolUseId": id, "name": name } },
                 "p": PADDING }),
    )];
    for piece in fragments(arguments) {
        middle.push(event_frame(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "toolUse": { "input": piece } }, "p": PADDING }),
        ));
    }
    frames.splice(1..1, middle);
    // messageStart, start, deltas, contentBlockStop, then messageStop.
    let stop = frames.len() - 2;
    frames[stop] = event_frame(
        "messageStop",
        &json!({ "stopReason": "tool_use", "p": PADDING }),
    );
    frames
}

/// InvokeModel for an Anthropic model: the Messages body, with token counts in headers too.
fn invoke(
    model: &str,
    pieces: &[String],
    input: u64,
    output: u64,
    request_no: u64,
) -> Response<KitBody> {
    let body = if is_openai(model) {
        json!({
            "id": format!("chatcmpl-bdrk-{request_no:08}"), "object": "chat.completion", "created": 1_700_000_000,
            "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": pieces.concat() },
                          "finish_reason": "stop" }],
            "usage": { "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output }
        })
    } else {
        json!({
            "id": format!("msg_bdrk_{request_no:08}"), "type": "message", "role": "assistant", "model": model,
            "content": [{ "type": "text", "text": pieces.concat() }],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": { "input_tokens": input, "output_tokens": output }
        })
    };
    json_response(
        200,
        vec![
            ("x-amzn-requestid", request_id(request_no)),
            ("x-amzn-bedrock-input-token-count", input.to_string()),
            ("x-amzn-bedrock-output-token-count", output.to_string()),
            ("x-amzn-bedrock-invocation-latency", "42".to_owned()),
        ],
        &body,
    )
}

/// OpenAI's open-weight models (gpt-oss) speak the chat completions format through InvokeModel.
fn is_openai(model: &str) -> bool {
    model.contains("openai.")
}

/// InvokeModelWithResponseStream: `chunk` events whose base64 `bytes` are the model's native
/// stream events (Messages events for Anthropic models, `chat.completion.chunk` objects for
/// gpt-oss, without a usage chunk), the last carrying Bedrock's invocation metrics.
fn invoke_events(model: &str, pieces: &[String], input: u64, output: u64) -> Vec<Bytes> {
    let metrics = json!({ "inputTokenCount": input, "outputTokenCount": output,
                          "invocationLatency": 42, "firstByteLatency": 7 });
    if is_openai(model) {
        let chunk = |delta: Value, finish: Value| {
            json!({ "id": "chatcmpl-bdrk-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
                    "model": model, "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        };
        let mut events = vec![chunk(
            json!({ "role": "assistant", "content": "" }),
            Value::Null,
        )];
        for piece in pieces {
            events.push(chunk(json!({ "content": piece }), Value::Null));
        }
        let mut last = chunk(json!({}), json!("stop"));
        last["amazon-bedrock-invocationMetrics"] = metrics;
        events.push(last);
        return chunk_frames(&events);
    }
    let mut events = vec![
        json!({ "type": "message_start", "message": { "id": "msg_bdrk_1", "type": "message", "role": "assistant",
                "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": input, "output_tokens": 1 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
    ];
    for piece in pieces {
        events.push(json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": piece } }));
    }
    events.push(json!({ "type": "content_block_stop", "index": 0 }));
    events.push(json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                        "usage": { "output_tokens": output } }));
    events.push(json!({ "type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": input, "outputTokenCount": output, "invocationLatency": 42, "firstByteLatency": 7 } }));
    chunk_frames(&events)
}

/// Native events as InvokeModelWithResponseStream sends them: each one's JSON, base64 in the
/// `bytes` of a `chunk` frame, with Bedrock's padding.
fn chunk_frames(events: &[Value]) -> Vec<Bytes> {
    events
        .iter()
        .map(|event| {
            let bytes = STANDARD.encode(event.to_string());
            event_frame("chunk", &json!({ "bytes": bytes, "p": PADDING }))
        })
        .collect()
}

fn stream(
    frames: Vec<Bytes>,
    split: usize,
    request_no: u64,
    extra: &[(&'static str, String)],
) -> Response<KitBody> {
    let steps: Vec<Step> = if split == 0 {
        frames.into_iter().map(Step::Data).collect()
    } else {
        let whole = frames.concat();
        whole
            .chunks(split)
            .map(|c| Step::Data(Bytes::copy_from_slice(c)))
            .collect()
    };
    let mut headers = vec![
        (
            "content-type",
            "application/vnd.amazon.eventstream".to_owned(),
        ),
        ("x-amzn-requestid", request_id(request_no)),
    ];
    headers.extend(extra.iter().cloned());
    respond(200, &headers, KitBody::steps(steps))
}

/// The HTTP status Bedrock documents for an exception name.
fn exception_status(exception_type: &str) -> u16 {
    match upper_first(exception_type).as_str() {
        "ValidationException" => 400,
        "ModelTimeoutException" => 408,
        "ModelStreamErrorException" => 424,
        "ThrottlingException" => 429,
        "ServiceUnavailableException" => 503,
        _ => 500,
    }
}

fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// InvokeModel's answer with a tool call, in the model's native format.
fn invoke_tool_call(
    model: &str,
    id: &str,
    name: &str,
    arguments: &str,
    input: u64,
    output: u64,
) -> Value {
    if is_openai(model) {
        return json!({
            "id": "chatcmpl-bdrk-tool", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": { "role": "assistant", "content": null,
                "tool_calls": [{ "id": id, "type": "function", "function": { "name": name, "arguments": arguments } }] } }],
            "usage": { "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output }
        });
    }
    let mut message = crate::anthropic::message(model, &[], input, output, 1);
    let arguments: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
    message["content"] =
        json!([{ "type": "tool_use", "id": id, "name": name, "input": arguments }]);
    message["stop_reason"] = json!("tool_use");
    message
}

/// InvokeModelWithResponseStream with a tool call: the native tool-call stream in `chunk` frames,
/// Bedrock's metrics on the last event.
fn invoke_tool_events(
    model: &str,
    id: &str,
    name: &str,
    arguments: &str,
    input: u64,
    output: u64,
) -> Vec<Bytes> {
    let metrics = json!({ "inputTokenCount": input, "outputTokenCount": output,
                          "invocationLatency": 42, "firstByteLatency": 7 });
    let mut events: Vec<Value> = if is_openai(model) {
        let chunk = |delta: Value, finish: Value| {
            json!({ "id": "chatcmpl-bdrk-tool", "object": "chat.completion.chunk", "created": 1_700_000_000,
                    "model": model, "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        };
        let mut events = vec![chunk(
            json!({ "role": "assistant", "content": null, "tool_calls": [{ "index": 0, "id": id, "type": "function",
                    "function": { "name": name, "arguments": "" } }] }),
            Value::Null,
        )];
        for piece in fragments(arguments) {
            events.push(chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }),
                Value::Null,
            ));
        }
        events.push(chunk(json!({}), json!("tool_calls")));
        events
    } else {
        crate::anthropic::tool_events(model, id, name, arguments, input, output)
            .into_iter()
            .filter(|(event, _)| *event != "ping")
            .map(|(_, data)| data)
            .collect()
    };
    if let Some(last) = events.last_mut() {
        last["amazon-bedrock-invocationMetrics"] = metrics;
    }
    chunk_frames(&events)
}
