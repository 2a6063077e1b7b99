//! Runs every fixture in `tests/fixtures/`: each names a direction (ingress dialect → upstream
//! dialect for requests, upstream → ingress for answers and streams), an input, options, and the
//! exact expected output or error. Outputs are compared as JSON values.

use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use sy_dialect::anthropic::{AnthropicStreamDecoder, AnthropicStreamEncoder};
use sy_dialect::canonical::{Response, StreamEvent};
use sy_dialect::converse::{ConverseStreamDecoder, ConverseStreamEncoder};
use sy_dialect::gemini::GeminiStreamDecoder;
use sy_dialect::openai_chat::{Chunk, ChunkDecoder, ChunkEncoder};
use sy_dialect::openai_responses::{RequestEcho, ResponsesStreamEncoder};
use sy_dialect::{
    Decoded, DialectError, EncodeOptions, ResponseMeta, SseEvent, StructuredOutputMode,
    Translation, anthropic, converse, gemini, openai_chat, openai_responses,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    description: String,
    direction: String,
    input: Value,
    #[serde(default)]
    options: Options,
    expect: Option<Value>,
    expect_error: Option<ExpectedError>,
    expect_dropped: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    model: Option<String>,
    default_max_tokens: Option<u32>,
    #[serde(default)]
    allow_url_fetch: bool,
    #[serde(default)]
    forced_tool: bool,
    json_tool: Option<String>,
    /// Tools the target was sent under another name: (name sent, caller's name).
    #[serde(default)]
    renamed_tools: Vec<(String, String)>,
    id: Option<String>,
    created: Option<u64>,
    #[serde(default)]
    include_usage: bool,
    latency_ms: Option<u64>,
    /// The caller's Responses request, whose settings a Responses answer echoes.
    request: Option<Value>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    kind: String,
    field: Option<String>,
    target: Option<String>,
}

/// What a run produced: a JSON output (and dropped fields, for requests) or an error.
type Outcome = Result<(Value, Option<Vec<String>>), DialectError>;

#[test]
fn every_fixture_holds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
    paths.sort();

    let mut failures = Vec::new();
    for path in &paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = fs::read_to_string(path).unwrap_or_default();
        let fixture: Fixture = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{name}: unreadable fixture: {e}"));
                continue;
            }
        };
        if let Err(problem) = check(&fixture) {
            failures.push(format!("{name} ({}): {problem}", fixture.description));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n\n")
    );
    assert!(
        paths.len() >= 60,
        "expected at least 60 fixtures, found {}",
        paths.len()
    );
}

fn check(fixture: &Fixture) -> Result<(), String> {
    let outcome = run(fixture)?;
    match (&fixture.expect, &fixture.expect_error, outcome) {
        (Some(expected), None, Ok((actual, dropped))) => {
            if &actual != expected {
                return Err(format!(
                    "output differs\n  expected: {}\n  actual:   {}",
                    pretty(expected),
                    pretty(&actual)
                ));
            }
            if let (Some(want), Some(got)) = (&fixture.expect_dropped, dropped)
                && want != &got
            {
                return Err(format!("dropped differs: expected {want:?}, got {got:?}"));
            }
            Ok(())
        }
        (None, Some(expected), Err(error)) => {
            let actual = describe(&error);
            if &actual != expected {
                return Err(format!(
                    "error differs: expected {expected:?}, got {actual:?} ({error})"
                ));
            }
            Ok(())
        }
        (_, Some(expected), Ok((actual, _))) => Err(format!(
            "expected error {expected:?}, got {}",
            pretty(&actual)
        )),
        (Some(_), _, Err(error)) => Err(format!("unexpected error: {error:?}")),
        (None, None, _) => Err("fixture has neither expect nor expect_error".to_owned()),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn describe(error: &DialectError) -> ExpectedError {
    match error {
        DialectError::Invalid { field, .. } => ExpectedError {
            kind: "invalid".to_owned(),
            field: Some(field.clone()),
            target: None,
        },
        DialectError::Untranslatable { field, target, .. } => ExpectedError {
            kind: "untranslatable".to_owned(),
            field: Some(field.clone()),
            target: Some((*target).to_owned()),
        },
        DialectError::Upstream { .. } => ExpectedError {
            kind: "upstream".to_owned(),
            field: None,
            target: None,
        },
    }
}

fn run(fixture: &Fixture) -> Result<Outcome, String> {
    let (from, to) = fixture
        .direction
        .split_once("->")
        .ok_or_else(|| format!("bad direction `{}`", fixture.direction))?;
    let options = &fixture.options;
    let input = &fixture.input;
    Ok(
        match from.split_once('_').map_or((from, ""), |(a, b)| (a, b)) {
            (dialect, "response") => {
                decode_answer(dialect, input, options).and_then(|r| encode_answer(to, &r, options))
            }
            (dialect, "stream") => Ok((relay(dialect, to, input, options)?, None)),
            _ => encode_request(from, to, input, options),
        },
    )
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// A body given as a JSON string is used verbatim (to test key order and spelling); otherwise the
/// JSON value is serialized.
fn body_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(text) => text.as_bytes().to_vec(),
        other => bytes(other),
    }
}

fn parse(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn encode_request(from: &str, to: &str, input: &Value, options: &Options) -> Outcome {
    let body = body_bytes(input);
    let Decoded {
        request,
        mut dropped,
    } = match from {
        "openai_chat" => openai_chat::decode_request(&body)?,
        "openai_responses" => openai_responses::decode_request(&body)?,
        "anthropic" => anthropic::decode_request(&body)?,
        "converse" => converse::decode_request(&body)?,
        other => panic!("unknown ingress dialect {other}"),
    };
    let mut encode_options = EncodeOptions::new(
        options
            .model
            .clone()
            .unwrap_or_else(|| "model-x".to_owned()),
    );
    if let Some(max) = options.default_max_tokens {
        encode_options.default_max_tokens = max;
    }
    encode_options.allow_url_fetch = options.allow_url_fetch;
    if options.forced_tool {
        encode_options.structured_output = StructuredOutputMode::ForcedTool;
    }
    let encoded = match to {
        "openai_chat" => openai_chat::encode_request(&request, &encode_options)?,
        "anthropic" => anthropic::encode_request(&request, &encode_options)?,
        "converse" => converse::encode_request(&request, &encode_options)?,
        "gemini" => gemini::encode_request(&request, &encode_options)?,
        other => panic!("unknown upstream dialect {other}"),
    };
    dropped.extend(encoded.dropped);
    Ok((parse(&encoded.body), Some(dropped)))
}

fn translation(options: &Options) -> Translation {
    Translation {
        json_tool: options.json_tool.clone(),
        renamed_tools: options.renamed_tools.clone(),
    }
}

fn meta(options: &Options) -> ResponseMeta {
    ResponseMeta {
        id: options.id.clone().unwrap_or_else(|| "gw-1".to_owned()),
        model: options
            .model
            .clone()
            .unwrap_or_else(|| "model-x".to_owned()),
        created: options.created.unwrap_or(1_767_225_600),
    }
}

/// The echo of `options.request`; a fixture with a broken request fails loudly.
fn echo(options: &Options) -> RequestEcho {
    match &options.request {
        None => RequestEcho::default(),
        Some(request) => match openai_responses::decode_request_with_echo(&bytes(request)) {
            Ok((_, echo)) => echo,
            Err(error) => panic!("the fixture's request does not decode: {error}"),
        },
    }
}

fn decode_answer(
    dialect: &str,
    input: &Value,
    options: &Options,
) -> Result<Response, DialectError> {
    let body = body_bytes(input);
    let translation = translation(options);
    match dialect {
        "openai" => openai_chat::decode_response(&body, &translation),
        "anthropic" => anthropic::decode_response(&body, &translation),
        "converse" => converse::decode_response(&body, &translation),
        "gemini" => gemini::decode_response(&body, &translation),
        other => panic!("unknown upstream dialect {other}"),
    }
}

fn encode_answer(dialect: &str, response: &Response, options: &Options) -> Outcome {
    let body = match dialect {
        "openai_chat" => openai_chat::encode_response(response, &meta(options))?,
        "anthropic" => anthropic::encode_response(response, &meta(options))?,
        "openai_responses" => {
            openai_responses::encode_response(response, &meta(options), &echo(options))?
        }
        "converse" => converse::encode_response(response, options.latency_ms.unwrap_or(0))?,
        other => panic!("unknown ingress dialect {other}"),
    };
    Ok((parse(&body), None))
}

/// Drives an upstream stream decoder and an ingress stream encoder one event at a time, as a
/// relay would, ending both when the input runs out.
fn relay(from: &str, to: &str, input: &Value, options: &Options) -> Result<Value, String> {
    let events = input
        .as_array()
        .ok_or("a stream input is a list of events")?;
    let translation = translation(options);
    let mut canonical: Vec<StreamEvent> = Vec::new();
    let mut out: Vec<Value> = Vec::new();
    let mut sink = Sink::new(to, options)?;
    match from {
        "anthropic" => {
            let mut decoder = AnthropicStreamDecoder::new(&translation);
            for event in events {
                let name = event.get("event").and_then(Value::as_str);
                let data = event.get("data").ok_or("an Anthropic event needs data")?;
                canonical.extend(decoder.push(name, &bytes(data)));
                sink.feed(canonical.drain(..), &mut out);
            }
            canonical.extend(decoder.end());
        }
        "converse" => {
            let mut decoder = ConverseStreamDecoder::new(&translation);
            for event in events {
                let kind = event
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or("a Converse event needs a type")?;
                let payload = event
                    .get("payload")
                    .ok_or("a Converse event needs a payload")?;
                canonical.extend(decoder.push(kind, &bytes(payload)));
                sink.feed(canonical.drain(..), &mut out);
            }
            canonical.extend(decoder.end());
        }
        "gemini" => {
            let mut decoder = GeminiStreamDecoder::new(&translation);
            for event in events {
                let data = event.get("data").ok_or("a Gemini event needs data")?;
                canonical.extend(decoder.push(&bytes(data)));
                sink.feed(canonical.drain(..), &mut out);
            }
            canonical.extend(decoder.end());
        }
        "openai" => {
            let mut decoder = ChunkDecoder::new(&translation);
            for event in events {
                // A string payload (`[DONE]`, garbage) is sent verbatim.
                let data = event.get("data").ok_or("an OpenAI event needs data")?;
                canonical.extend(decoder.push(&body_bytes(data)));
                sink.feed(canonical.drain(..), &mut out);
            }
            canonical.extend(decoder.end());
        }
        other => return Err(format!("unknown upstream stream {other}")),
    }
    sink.feed(canonical.drain(..), &mut out);
    sink.end(&mut out);
    Ok(Value::Array(out))
}

enum Sink {
    OpenAi(ChunkEncoder),
    Anthropic(AnthropicStreamEncoder),
    Converse(ConverseStreamEncoder),
    /// Boxed: it holds the request echo and is much larger than the others.
    Responses(Box<ResponsesStreamEncoder>),
}

impl Sink {
    fn new(to: &str, options: &Options) -> Result<Self, String> {
        Ok(match to {
            "openai_chat" => Self::OpenAi(ChunkEncoder::new(meta(options), options.include_usage)),
            "anthropic" => Self::Anthropic(AnthropicStreamEncoder::new(meta(options))),
            "openai_responses" => Self::Responses(Box::new(ResponsesStreamEncoder::new(
                meta(options),
                echo(options),
            ))),
            "converse" => {
                let mut encoder = ConverseStreamEncoder::new();
                encoder.set_latency_ms(options.latency_ms.unwrap_or(0));
                Self::Converse(encoder)
            }
            other => return Err(format!("unknown ingress stream {other}")),
        })
    }

    fn feed(&mut self, events: impl Iterator<Item = StreamEvent>, out: &mut Vec<Value>) {
        for event in events {
            match self {
                Self::OpenAi(e) => out.extend(e.push(event).iter().map(Chunk::to_value)),
                Self::Anthropic(e) => out.extend(e.push(event).into_iter().map(sse_value)),
                Self::Converse(e) => out.extend(e.push(event).into_iter().map(converse_value)),
                Self::Responses(e) => out.extend(e.push(event).into_iter().map(sse_value)),
            }
        }
    }

    fn end(&mut self, out: &mut Vec<Value>) {
        match self {
            Self::OpenAi(e) => out.extend(e.end().iter().map(Chunk::to_value)),
            Self::Anthropic(e) => out.extend(e.end().into_iter().map(sse_value)),
            Self::Converse(e) => out.extend(e.end().into_iter().map(converse_value)),
            Self::Responses(e) => out.extend(e.end().into_iter().map(sse_value)),
        }
    }
}

fn sse_value(event: SseEvent) -> Value {
    json!({ "event": event.event, "data": event.value() })
}

fn converse_value(event: sy_dialect::converse::ConverseEvent) -> Value {
    if event.exception {
        json!({ "type": event.event_type, "exception": true, "payload": event.payload })
    } else {
        json!({ "type": event.event_type, "payload": event.payload })
    }
}
