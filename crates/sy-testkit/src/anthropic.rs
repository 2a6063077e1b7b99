//! [`FakeAnthropic`]: Anthropic's Messages API on 127.0.0.1. Checks `x-api-key` and
//! `anthropic-version`, records every request, and answers from an [`AnthropicScript`]: a message
//! as JSON, or the full server-sent event sequence (with `event:` lines and a `ping`) when the
//! body asks to stream.

use bytes::Bytes;
use http::Response;
use serde_json::{Value, json};

use crate::body::{KitBody, Step};
use crate::fake::{FakeServer, Steps, fragments, json as json_response, nth, respond, route_model};
use crate::server::Recorded;

/// The key a [`FakeAnthropic`] started with [`FakeAnthropic::start`] accepts.
pub const TEST_API_KEY: &str = "sk-ant-test-key";

/// What a [`FakeAnthropic`] answers; the request's `"stream": true` decides JSON or SSE.
#[derive(Debug, Clone)]
pub enum AnthropicScript {
    /// The assistant says `pieces` joined (one `text_delta` per piece when streamed), stop reason
    /// `end_turn`. `/v1/messages/count_tokens` gets `{"input_tokens": input_tokens}`.
    Reply {
        pieces: Vec<String>,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// A stream that fails after `message_start`, the block start and `after` deltas with
    /// `event: error` (e.g. `overloaded_error`), and no `message_stop`. A non-streaming request
    /// gets the same error as an HTTP answer.
    StreamError {
        pieces: Vec<String>,
        after: usize,
        error_type: String,
        message: String,
    },
    /// An HTTP error: `{"type":"error","error":{"type","message"},"request_id"}`, with
    /// `retry-after` when given.
    Error {
        status: u16,
        error_type: String,
        message: String,
        retry_after: Option<u32>,
    },
    /// One `tool_use` block calling `name` with the JSON `arguments`, stop reason `tool_use`;
    /// streamed as a `tool_use` block start and `input_json_delta` fragments (an empty one first).
    ToolCall {
        id: String,
        name: String,
        arguments: String,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// The n-th request gets the n-th script; the last one repeats.
    Sequence(Vec<AnthropicScript>),
    /// The script of the route named by the body's `model`, else `otherwise`. Sequences inside
    /// count the requests to the whole fake.
    ByModel {
        routes: Vec<(String, AnthropicScript)>,
        otherwise: Box<AnthropicScript>,
    },
}

impl AnthropicScript {
    /// A reply of `pieces`; 25 input tokens, one output token per piece.
    pub fn reply(pieces: &[&str]) -> Self {
        Self::Reply {
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            input_tokens: 25,
            output_tokens: pieces.len() as u64,
        }
    }

    pub fn error(status: u16, error_type: &str, message: &str) -> Self {
        Self::Error {
            status,
            error_type: error_type.to_owned(),
            message: message.to_owned(),
            retry_after: None,
        }
    }

    /// A call of tool `name` with `arguments` (a JSON object); 25 input tokens, 17 output.
    pub fn tool_call(name: &str, arguments: &Value) -> Self {
        Self::ToolCall {
            id: "toolu_01TestToolCall0000000001".to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_string(),
            input_tokens: 25,
            output_tokens: 17,
        }
    }

    /// `routes` by the requested model, `otherwise` for any other model.
    pub fn by_model(routes: Vec<(&str, AnthropicScript)>, otherwise: AnthropicScript) -> Self {
        Self::ByModel {
            routes: routes
                .into_iter()
                .map(|(model, script)| (model.to_owned(), script))
                .collect(),
            otherwise: Box::new(otherwise),
        }
    }

    /// 529 `overloaded_error`, what Anthropic answers under load.
    pub fn overloaded() -> Self {
        Self::error(529, "overloaded_error", "Overloaded")
    }

    pub fn stream_error(pieces: &[&str], after: usize, error_type: &str, message: &str) -> Self {
        Self::StreamError {
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            after,
            error_type: error_type.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl Steps for AnthropicScript {
    fn for_turn(&self, turn: usize) -> Self {
        match self {
            Self::Sequence(steps) => nth(steps, turn)
                .map(|s| s.for_turn(0))
                .unwrap_or_else(|| Self::reply(&[""])),
            Self::ByModel { routes, otherwise } => Self::ByModel {
                routes: routes
                    .iter()
                    .map(|(model, script)| (model.clone(), script.for_turn(turn)))
                    .collect(),
                otherwise: Box::new(otherwise.for_turn(turn)),
            },
            other => other.clone(),
        }
    }
}

/// A fake Anthropic API.
#[derive(Debug)]
pub struct FakeAnthropic {
    server: FakeServer<AnthropicScript>,
}

impl FakeAnthropic {
    /// Serves `script` to callers with [`TEST_API_KEY`].
    pub async fn start(script: AnthropicScript) -> Self {
        Self::start_with_key(TEST_API_KEY, script).await
    }

    pub async fn start_with_key(api_key: &str, script: AnthropicScript) -> Self {
        let key = api_key.to_owned();
        let server = FakeServer::start(
            script,
            Box::new(move |request: &Recorded, script, request_no| {
                answer(request, &script, &key, request_no)
            }),
        )
        .await;
        Self { server }
    }

    /// `http://127.0.0.1:PORT`, the API root to configure as `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }

    pub fn set_script(&self, script: AnthropicScript) {
        self.server.set_script(script);
    }
}

fn request_id(request_no: u64) -> String {
    format!("req_011CTest{request_no:012}")
}

fn error(
    status: u16,
    error_type: &str,
    message: &str,
    retry_after: Option<u32>,
    request_no: u64,
) -> Response<KitBody> {
    let mut headers = vec![("request-id", request_id(request_no))];
    if let Some(seconds) = retry_after {
        headers.push(("retry-after", seconds.to_string()));
    }
    json_response(
        status,
        headers,
        &json!({ "type": "error", "error": { "type": error_type, "message": message },
                 "request_id": request_id(request_no) }),
    )
}

fn answer(
    request: &Recorded,
    script: &AnthropicScript,
    key: &str,
    request_no: u64,
) -> Response<KitBody> {
    match request.header("x-api-key") {
        None => {
            return error(
                401,
                "authentication_error",
                "x-api-key header is required",
                None,
                request_no,
            );
        }
        Some(given) if given != key => {
            return error(
                401,
                "authentication_error",
                "invalid x-api-key",
                None,
                request_no,
            );
        }
        Some(_) => {}
    }
    if request.header("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
            None,
            request_no,
        );
    }
    let path = request.path_and_query.split('?').next().unwrap_or_default();
    let counting = match path {
        "/v1/messages" => false,
        "/v1/messages/count_tokens" => true,
        _ => return error(404, "not_found_error", "Not Found", None, request_no),
    };
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(e) => {
            return error(
                400,
                "invalid_request_error",
                &format!("invalid JSON: {e}"),
                None,
                request_no,
            );
        }
    };
    let model = body["model"].as_str().unwrap_or("claude-test").to_owned();
    let stream = !counting && body["stream"] == Value::Bool(true);
    let ok_headers = || vec![("request-id", request_id(request_no))];
    let mut script = script;
    while let AnthropicScript::ByModel { routes, otherwise } = script {
        script = route_model(routes, otherwise, &model);
    }
    match script {
        AnthropicScript::Reply { input_tokens, .. }
        | AnthropicScript::ToolCall { input_tokens, .. }
            if counting =>
        {
            json_response(200, ok_headers(), &json!({ "input_tokens": input_tokens }))
        }
        AnthropicScript::ToolCall {
            id,
            name,
            arguments,
            input_tokens,
            output_tokens,
        } if stream => sse(
            request_no,
            tool_events(&model, id, name, arguments, *input_tokens, *output_tokens),
        ),
        AnthropicScript::ToolCall {
            id,
            name,
            arguments,
            input_tokens,
            output_tokens,
        } => {
            let mut message = message(&model, &[], *input_tokens, *output_tokens, request_no);
            let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
            message["content"] =
                json!([{ "type": "tool_use", "id": id, "name": name, "input": input }]);
            message["stop_reason"] = json!("tool_use");
            json_response(200, ok_headers(), &message)
        }
        AnthropicScript::Reply {
            pieces,
            input_tokens,
            output_tokens,
        } if stream => sse(
            request_no,
            events(&model, pieces, *input_tokens, *output_tokens),
        ),
        AnthropicScript::Reply {
            pieces,
            input_tokens,
            output_tokens,
        } => json_response(
            200,
            ok_headers(),
            &message(&model, pieces, *input_tokens, *output_tokens, request_no),
        ),
        AnthropicScript::StreamError {
            pieces,
            after,
            error_type,
            message,
        } if stream => {
            let mut events = events(&model, pieces, 25, pieces.len() as u64);
            // message_start, content_block_start, ping, then `after` deltas.
            events.truncate((3 + after).min(events.len()));
            events.push((
                "error",
                json!({ "type": "error", "error": { "type": error_type, "message": message } }),
            ));
            sse(request_no, events)
        }
        AnthropicScript::StreamError {
            error_type,
            message,
            ..
        } => error(status_of(error_type), error_type, message, None, request_no),
        AnthropicScript::Error {
            status,
            error_type,
            message,
            retry_after,
        } => error(*status, error_type, message, *retry_after, request_no),
        AnthropicScript::Sequence(_) | AnthropicScript::ByModel { .. } => error(
            500,
            "api_error",
            "sy-testkit: nested sequence",
            None,
            request_no,
        ),
    }
}

pub(crate) fn message(
    model: &str,
    pieces: &[String],
    input: u64,
    output: u64,
    request_no: u64,
) -> Value {
    json!({
        "id": format!("msg_{request_no:024}"), "type": "message", "role": "assistant", "model": model,
        "content": [{ "type": "text", "text": pieces.concat() }],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": { "input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                   "output_tokens": output, "service_tier": "standard" }
    })
}

/// The Messages stream: `message_start`, `content_block_start`, `ping`, a `content_block_delta`
/// per piece, `content_block_stop`, `message_delta` (cumulative usage), `message_stop`.
fn events(model: &str, pieces: &[String], input: u64, output: u64) -> Vec<(&'static str, Value)> {
    let mut events = vec![
        (
            "message_start",
            json!({ "type": "message_start", "message": {
            "id": "msg_stream", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1 } } }),
        ),
        (
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ),
        ("ping", json!({ "type": "ping" })),
    ];
    for piece in pieces {
        events.push(("content_block_delta", json!({ "type": "content_block_delta", "index": 0,
                                                    "delta": { "type": "text_delta", "text": piece } })));
    }
    events.push((
        "content_block_stop",
        json!({ "type": "content_block_stop", "index": 0 }),
    ));
    events.push(("message_delta", json!({ "type": "message_delta",
        "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": { "output_tokens": output } })));
    events.push(("message_stop", json!({ "type": "message_stop" })));
    events
}

/// The Messages stream of one tool call: `message_start`, a `tool_use` `content_block_start`
/// (input `{}`), `ping`, `input_json_delta` fragments (the first empty), `content_block_stop`,
/// `message_delta` with stop reason `tool_use`, `message_stop`.
pub(crate) fn tool_events(
    model: &str,
    id: &str,
    name: &str,
    arguments: &str,
    input: u64,
    output: u64,
) -> Vec<(&'static str, Value)> {
    let mut events = events(model, &[], input, output);
    events[1].1 = json!({ "type": "content_block_start", "index": 0,
        "content_block": { "type": "tool_use", "id": id, "name": name, "input": {} } });
    let mut pieces = vec![String::new()];
    pieces.extend(fragments(arguments));
    let deltas = pieces.into_iter().map(|piece| {
        (
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0,
                    "delta": { "type": "input_json_delta", "partial_json": piece } }),
        )
    });
    events.splice(3..3, deltas);
    for (name, data) in &mut events {
        if *name == "message_delta" {
            data["delta"]["stop_reason"] = json!("tool_use");
        }
    }
    events
}

/// Each event its own body frame: `event: NAME`, `data: JSON`, a blank line.
fn sse(request_no: u64, events: Vec<(&'static str, Value)>) -> Response<KitBody> {
    let steps: Vec<Step> = events
        .into_iter()
        .map(|(name, data)| Step::Data(Bytes::from(format!("event: {name}\ndata: {data}\n\n"))))
        .collect();
    respond(
        200,
        &[
            (
                "content-type",
                "text/event-stream; charset=utf-8".to_owned(),
            ),
            ("cache-control", "no-cache".to_owned()),
            ("request-id", request_id(request_no)),
        ],
        KitBody::steps(steps),
    )
}

/// The HTTP status Anthropic documents for an error type.
fn status_of(error_type: &str) -> u16 {
    match error_type {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}
