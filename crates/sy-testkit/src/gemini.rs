//! [`FakeGemini`]: Google's Gemini API on 127.0.0.1. Checks `x-goog-api-key` (or `?key=`),
//! records every request, and answers `:generateContent` with JSON, `:streamGenerateContent`
//! with server-sent events when asked for `alt=sse` (CRLF-framed, as Google sends them) or one
//! streamed JSON array when not, and `:countTokens`. Models named `gemini-3…` act as Gemini 3
//! does with function calls: a call comes with an id and a thought signature, a replayed history
//! whose model turn has a call without its signature (or Google's stand-in) is refused with 400,
//! and once a call's result comes back the answer says how its signature did.

use bytes::Bytes;
use http::Response;
use serde_json::{Value, json};

use crate::body::{KitBody, Step};
use crate::fake::{FakeServer, Steps, json as json_response, nth, respond, route_model};
use crate::server::Recorded;

/// The key a [`FakeGemini`] started with [`FakeGemini::start`] accepts.
pub const TEST_API_KEY: &str = "AIzaSy-test-key";

/// What a [`FakeGemini`] answers; the method in the path decides the shape.
#[derive(Debug, Clone)]
pub enum GeminiScript {
    /// The model says `pieces` joined (one chunk per piece when streamed, usage repeated and
    /// cumulative, `finishReason: STOP` on the last). `:countTokens` gets
    /// `{"totalTokens": prompt_tokens}`.
    Reply {
        pieces: Vec<String>,
        prompt_tokens: u64,
        candidates_tokens: u64,
    },
    /// A Google RPC error: `{"error":{"code","message","status"}}`, with a `RetryInfo` detail
    /// when `retry_delay` (e.g. `"7s"`) is given.
    Error {
        status: u16,
        rpc_status: String,
        message: String,
        retry_delay: Option<String>,
    },
    /// One `functionCall` part calling `name` with the JSON object `arguments` as `args`,
    /// `finishReason: STOP` (Gemini has no tool-call finish reason); streamed whole in one chunk,
    /// as Google sends calls.
    ToolCall {
        name: String,
        arguments: Value,
        prompt_tokens: u64,
        candidates_tokens: u64,
    },
    /// The n-th request gets the n-th script; the last one repeats.
    Sequence(Vec<GeminiScript>),
    /// The script of the route named by the model in the path, else `otherwise`. Sequences
    /// inside count the requests to the whole fake.
    ByModel {
        routes: Vec<(String, GeminiScript)>,
        otherwise: Box<GeminiScript>,
    },
}

impl GeminiScript {
    /// A reply of `pieces`; 9 prompt tokens, one candidate token per piece.
    pub fn reply(pieces: &[&str]) -> Self {
        Self::Reply {
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            prompt_tokens: 9,
            candidates_tokens: pieces.len() as u64,
        }
    }

    pub fn error(status: u16, rpc_status: &str, message: &str) -> Self {
        Self::Error {
            status,
            rpc_status: rpc_status.to_owned(),
            message: message.to_owned(),
            retry_delay: None,
        }
    }

    /// A call of tool `name` with `arguments` (a JSON object); 9 prompt tokens, 6 candidate.
    pub fn tool_call(name: &str, arguments: &Value) -> Self {
        Self::ToolCall {
            name: name.to_owned(),
            arguments: arguments.clone(),
            prompt_tokens: 9,
            candidates_tokens: 6,
        }
    }

    /// `routes` by the model in the path, `otherwise` for any other model.
    pub fn by_model(routes: Vec<(&str, GeminiScript)>, otherwise: GeminiScript) -> Self {
        Self::ByModel {
            routes: routes
                .into_iter()
                .map(|(model, script)| (model.to_owned(), script))
                .collect(),
            otherwise: Box::new(otherwise),
        }
    }

    /// 429 `RESOURCE_EXHAUSTED` asking to retry after `retry_delay` (e.g. `"7s"`).
    pub fn exhausted(retry_delay: &str) -> Self {
        Self::Error {
            status: 429,
            rpc_status: "RESOURCE_EXHAUSTED".into(),
            message: "Resource has been exhausted (e.g. check quota).".into(),
            retry_delay: Some(retry_delay.to_owned()),
        }
    }
}

impl Steps for GeminiScript {
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

/// A fake Gemini API.
#[derive(Debug)]
pub struct FakeGemini {
    server: FakeServer<GeminiScript>,
}

impl FakeGemini {
    /// Serves `script` to callers with [`TEST_API_KEY`].
    pub async fn start(script: GeminiScript) -> Self {
        Self::start_with_key(TEST_API_KEY, script).await
    }

    pub async fn start_with_key(api_key: &str, script: GeminiScript) -> Self {
        let key = api_key.to_owned();
        let server = FakeServer::start(
            script,
            Box::new(move |request: &Recorded, script, _| answer(request, &script, &key)),
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

    pub fn set_script(&self, script: GeminiScript) {
        self.server.set_script(script);
    }
}

fn error(status: u16, rpc_status: &str, message: &str, details: Vec<Value>) -> Response<KitBody> {
    let mut error = json!({ "code": status, "message": message, "status": rpc_status });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json_response(status, Vec::new(), &json!({ "error": error }))
}

fn answer(request: &Recorded, script: &GeminiScript, key: &str) -> Response<KitBody> {
    let (path, query) = request
        .path_and_query
        .split_once('?')
        .unwrap_or((&request.path_and_query, ""));
    let query_key = query.split('&').find_map(|pair| pair.strip_prefix("key="));
    match request.header("x-goog-api-key").as_deref().or(query_key) {
        None => {
            return error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                Vec::new(),
            );
        }
        // Google answers a wrong key with 400, naming the reason in an ErrorInfo detail.
        Some(given) if given != key => {
            return error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                vec![
                    json!({ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                             "domain": "googleapis.com", "metadata": { "service": "generativelanguage.googleapis.com" } }),
                ],
            );
        }
        Some(_) => {}
    }
    let Some((model, method)) = path
        .strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.rsplit_once(':'))
    else {
        return error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
            Vec::new(),
        );
    };
    if serde_json::from_slice::<Value>(&request.body).is_err() {
        return error(
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
            Vec::new(),
        );
    }
    let gemini_3 = model.starts_with("gemini-3");
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    if gemini_3 && let Err(message) = check_thought_signatures(&body) {
        return error(400, "INVALID_ARGUMENT", &message, Vec::new());
    }
    let mut script = script;
    while let GeminiScript::ByModel { routes, otherwise } = script {
        script = route_model(routes, otherwise, model);
    }
    let (pieces, prompt, candidates) = match script {
        GeminiScript::Reply {
            pieces,
            prompt_tokens,
            candidates_tokens,
        } => (pieces, *prompt_tokens, *candidates_tokens),
        GeminiScript::Error {
            status,
            rpc_status,
            message,
            retry_delay,
        } => {
            let details = retry_delay
                .iter()
                .map(|delay| json!({ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay }))
                .collect();
            return error(*status, rpc_status, message, details);
        }
        GeminiScript::ToolCall {
            name,
            arguments,
            prompt_tokens,
            candidates_tokens,
        } => {
            if gemini_3 && let Some(replayed) = replayed_signature(&body) {
                // The call's result came back: the answer says how its signature did.
                let text = format!("The call came back with {replayed}.");
                let whole = chunk(model, &text, true, *prompt_tokens, *candidates_tokens);
                return match method {
                    "streamGenerateContent" => streamed(query, &[whole]),
                    _ => json_response(200, Vec::new(), &whole),
                };
            }
            let mut whole = chunk(model, "", true, *prompt_tokens, *candidates_tokens);
            whole["candidates"][0]["content"]["parts"] = if gemini_3 {
                // Gemini 3 names its calls and signs them.
                json!([{ "functionCall": { "id": "fc-weather-1", "name": name, "args": arguments },
                         "thoughtSignature": thought_signature(name) }])
            } else {
                json!([{ "functionCall": { "name": name, "args": arguments } }])
            };
            return match method {
                "generateContent" => json_response(200, Vec::new(), &whole),
                "countTokens" => {
                    json_response(200, Vec::new(), &json!({ "totalTokens": prompt_tokens }))
                }
                "streamGenerateContent" => streamed(query, &[whole]),
                other => error(
                    404,
                    "NOT_FOUND",
                    &format!("Method `{other}` not found."),
                    Vec::new(),
                ),
            };
        }
        GeminiScript::Sequence(_) | GeminiScript::ByModel { .. } => {
            return error(500, "INTERNAL", "sy-testkit: nested sequence", Vec::new());
        }
    };
    match method {
        "generateContent" => json_response(
            200,
            Vec::new(),
            &chunk(model, &pieces.concat(), true, prompt, candidates),
        ),
        "countTokens" => json_response(200, Vec::new(), &json!({ "totalTokens": prompt })),
        "streamGenerateContent" => {
            let chunks: Vec<Value> = pieces
                .iter()
                .enumerate()
                .map(|(i, piece)| {
                    let last = i + 1 == pieces.len();
                    // Usage is repeated on every chunk and cumulative.
                    chunk(
                        model,
                        piece,
                        last,
                        prompt,
                        if last { candidates } else { i as u64 + 1 },
                    )
                })
                .collect();
            streamed(query, &chunks)
        }
        other => error(
            404,
            "NOT_FOUND",
            &format!("Method `{other}` not found."),
            Vec::new(),
        ),
    }
}

/// The thought signature this fake gives a Gemini 3 call of `name`: base64 with `+`, `/` and
/// padding, as Google's are.
pub fn thought_signature(name: &str) -> String {
    let mut bytes = vec![0xfb, 0xef, 0xff];
    bytes.extend_from_slice(b"sig:");
    bytes.extend_from_slice(name.as_bytes());
    if bytes.len() % 3 == 0 {
        bytes.push(b'!');
    }
    crate::b64::encode(&bytes)
}

/// Google's documented stand-in for a signature the caller does not have.
pub const SKIP_SIGNATURE_CHECK: &str = "skip_thought_signature_validator";

/// A signature as Google decodes it: standard or URL-safe base64, padded or not.
fn signature_bytes(signature: &str) -> String {
    signature
        .chars()
        .filter(|c| *c != '=')
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect()
}

/// Gemini 3's check of a replayed history: in every model turn with function calls, the first
/// call carries the signature it was given (or the stand-in).
fn check_thought_signatures(body: &Value) -> Result<(), String> {
    let contents = body["contents"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, content) in contents.iter().enumerate() {
        if content["role"] != "model" {
            continue;
        }
        let parts = content["parts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(first) = parts.iter().find(|p| p.get("functionCall").is_some()) else {
            continue;
        };
        let name = first["functionCall"]["name"].as_str().unwrap_or_default();
        match first["thoughtSignature"].as_str() {
            None => {
                return Err(format!(
                    "Function call `{name}` in the `{i}.` content block is missing a `thought_signature`."
                ));
            }
            Some(SKIP_SIGNATURE_CHECK) => {}
            Some(given) if signature_bytes(given) == signature_bytes(&thought_signature(name)) => {}
            Some(_) => return Err("Corrupted thought signature.".to_owned()),
        }
    }
    Ok(())
}

/// When the request ends with a function's result: how the signature of the call before it came
/// back (`its signature` or `the stand-in`).
fn replayed_signature(body: &Value) -> Option<&'static str> {
    let contents = body["contents"].as_array()?;
    let last = contents.last()?;
    let answered = last["parts"]
        .as_array()?
        .iter()
        .any(|p| p.get("functionResponse").is_some());
    if !answered {
        return None;
    }
    let call = contents
        .iter()
        .rev()
        .filter(|c| c["role"] == "model")
        .find_map(|c| {
            c["parts"]
                .as_array()?
                .iter()
                .find(|p| p.get("functionCall").is_some())
        })?;
    Some(if call["thoughtSignature"] == SKIP_SIGNATURE_CHECK {
        "the stand-in"
    } else {
        "its signature"
    })
}

/// Chunks as `:streamGenerateContent` sends them: server-sent events with `alt=sse`, else one
/// JSON array streamed element by element.
fn streamed(query: &str, chunks: &[Value]) -> Response<KitBody> {
    if query.split('&').any(|pair| pair == "alt=sse") {
        let steps = chunks
            .iter()
            .map(|c| Step::Data(Bytes::from(format!("data: {c}\r\n\r\n"))))
            .collect::<Vec<_>>();
        respond(
            200,
            &[("content-type", "text/event-stream".to_owned())],
            KitBody::steps(steps),
        )
    } else {
        // Without alt=sse Google streams one JSON array, element by element.
        let count = chunks.len();
        let steps = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let open = if i == 0 { "[" } else { "" };
                let close = if i + 1 == count { "]" } else { ",\r\n" };
                Step::Data(Bytes::from(format!("{open}{c}{close}")))
            })
            .collect::<Vec<_>>();
        respond(
            200,
            &[("content-type", "application/json; charset=UTF-8".to_owned())],
            KitBody::steps(steps),
        )
    }
}

fn chunk(model: &str, text: &str, last: bool, prompt: u64, candidates: u64) -> Value {
    let mut candidate =
        json!({ "content": { "parts": [{ "text": text }], "role": "model" }, "index": 0 });
    if last {
        candidate["finishReason"] = json!("STOP");
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": { "promptTokenCount": prompt, "candidatesTokenCount": candidates,
                           "totalTokenCount": prompt + candidates },
        "modelVersion": model,
        "responseId": "fake-response-1"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(signature: Option<&str>) -> Value {
        let mut call =
            json!({ "functionCall": { "id": "fc-1", "name": "get_weather", "args": {} } });
        if let Some(signature) = signature {
            call["thoughtSignature"] = json!(signature);
        }
        json!({ "contents": [
            { "role": "user", "parts": [{ "text": "Weather?" }] },
            { "role": "model", "parts": [call, { "functionCall": { "name": "get_weather", "args": {} } }] },
            { "role": "user", "parts": [{ "functionResponse": { "id": "fc-1", "name": "get_weather", "response": {} } }] },
        ] })
    }

    #[test]
    fn signatures_are_checked_as_gemini_3_checks_them() {
        let given = thought_signature("get_weather");
        assert!(given.contains('+') && given.contains('/') && given.ends_with('='));
        let url_safe: String = given
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        for accepted in [given.as_str(), url_safe.as_str(), SKIP_SIGNATURE_CHECK] {
            assert_eq!(check_thought_signatures(&history(Some(accepted))), Ok(()));
        }
        let missing = check_thought_signatures(&history(None)).unwrap_err();
        assert!(
            missing.contains("missing a `thought_signature`"),
            "{missing}"
        );
        let forged = check_thought_signatures(&history(Some("AAAA"))).unwrap_err();
        assert_eq!(forged, "Corrupted thought signature.");
    }

    #[test]
    fn the_answer_to_a_result_tells_how_the_signature_came_back() {
        let given = thought_signature("get_weather");
        assert_eq!(
            replayed_signature(&history(Some(&given))),
            Some("its signature")
        );
        assert_eq!(
            replayed_signature(&history(Some(SKIP_SIGNATURE_CHECK))),
            Some("the stand-in")
        );
        assert_eq!(replayed_signature(&json!({ "contents": [] })), None);
    }
}
