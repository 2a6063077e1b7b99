//! The Anthropic, Bedrock Runtime and OpenAI Responses ingress lanes through HTTP: every ingress
//! dialect to every upstream dialect (OpenAI, Anthropic, Bedrock, Gemini), whole and streamed,
//! checked in the caller's own wire format (event names and order, event-stream frames and their
//! CRCs) with usage in the ledger; the Anthropic pass-through lane; errors in each dialect's shape;
//! and Bedrock callers signing with SigV4.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use common::{Answer, TestGateway, collect};
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};
use sy_testkit::anthropic::{AnthropicScript, FakeAnthropic};
use sy_testkit::bedrock::{BedrockScript, FakeBedrock, decode_frames};
use sy_testkit::gemini::{FakeGemini, GeminiScript};
use sy_testkit::{FakeUpstream, Script};

struct Upstreams {
    openai: FakeUpstream,
    azure: FakeUpstream,
    anthropic: FakeAnthropic,
    bedrock: FakeBedrock,
    gemini: FakeGemini,
}

async fn upstreams() -> Upstreams {
    Upstreams {
        openai: FakeUpstream::start(Script::stream(&["Hello", " there"])).await,
        azure: FakeUpstream::start(Script::stream(&["Hello", " there"])).await,
        anthropic: FakeAnthropic::start(AnthropicScript::reply(&["Hello", " there"])).await,
        bedrock: FakeBedrock::start(BedrockScript::reply(&["Hello", " there"])).await,
        gemini: FakeGemini::start(GeminiScript::reply(&["Hello", " there"])).await,
    }
}

/// The gateway models, each served by one upstream (the scripted fakes all say "Hello there").
const MODELS: [(&str, &str); 6] = [
    ("via-openai", "openai"),
    ("via-azure", "azure"),
    ("via-anthropic", "anthropic"),
    ("via-bedrock", "bedrock"),
    ("via-gpt-oss", "bedrock"),
    ("via-gemini", "gemini"),
];

fn config(up: &Upstreams, extra: &str) -> String {
    format!(
        r#"
{extra}

[providers.openai]
kind = "openai"
base_url = "{openai}/v1"
api_key = "sk-up"

[providers.azure]
kind = "azure"
base_url = "{azure}"
api_key = "sk-azure"
api_version = "2024-10-21"

[providers.simulator]
kind = "simulator"

{clouds}

[[models]]
name = "via-openai"
deployments = [{{ provider = "openai", model = "gpt-x" }}]

[[models]]
name = "via-anthropic"
deployments = [{{ provider = "anthropic", model = "claude-x" }}]

[[models]]
name = "via-bedrock"
deployments = [{{ provider = "bedrock", model = "anthropic.claude-3-5-sonnet-20240620-v1:0" }}]

[[models]]
name = "via-gemini"
deployments = [{{ provider = "gemini", model = "gemini-x" }}]

[[models]]
name = "via-azure"
deployments = [{{ provider = "azure", model = "gpt-4o-prod" }}]

[[models]]
name = "via-gpt-oss"
deployments = [{{ provider = "bedrock", model = "openai.gpt-oss-120b-1:0" }}]

[[models]]
name = "team:chat"
deployments = [{{ provider = "gemini", model = "gemini-x" }}]

[[models]]
name = "via-simulator"
deployments = [{{ provider = "simulator", model = "sim" }}]
"#,
        openai = up.openai.base_url(),
        azure = up.azure.base_url(),
        clouds = common::cloud_providers(&up.anthropic, &up.bedrock, &up.gemini),
    )
}

const ADMIN: &str = "[auth]\nadmin_key = \"admin-secret\"";

/// The ingress dialects a caller may speak.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Anthropic,
    Converse,
    InvokeAnthropic,
    InvokeChat,
    Responses,
}

const CALLERS: [Caller; 5] = [
    Caller::Anthropic,
    Caller::Converse,
    Caller::InvokeAnthropic,
    Caller::InvokeChat,
    Caller::Responses,
];

impl Caller {
    /// The path and body asking `model` to say hi.
    fn request(self, model: &str, stream: bool) -> (String, Value) {
        let user = "hi";
        match self {
            Self::Anthropic => (
                "/v1/messages".to_owned(),
                json!({ "model": model, "max_tokens": 64, "stream": stream,
                        "system": "Be brief.",
                        "messages": [{ "role": "user", "content": user }] }),
            ),
            Self::Converse => (
                format!(
                    "/model/{model}/{}",
                    if stream {
                        "converse-stream"
                    } else {
                        "converse"
                    }
                ),
                json!({ "system": [{ "text": "Be brief." }],
                        "messages": [{ "role": "user", "content": [{ "text": user }] }],
                        "inferenceConfig": { "maxTokens": 64 } }),
            ),
            Self::InvokeAnthropic | Self::InvokeChat => {
                let path = format!(
                    "/model/{model}/{}",
                    if stream {
                        "invoke-with-response-stream"
                    } else {
                        "invoke"
                    }
                );
                let body = if let Self::InvokeAnthropic = self {
                    json!({ "anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                            "messages": [{ "role": "user", "content": user }] })
                } else {
                    json!({ "max_completion_tokens": 64,
                            "messages": [{ "role": "user", "content": user }] })
                };
                (path, body)
            }
            Self::Responses => (
                "/v1/responses".to_owned(),
                json!({ "model": model, "stream": stream, "instructions": "Be brief.",
                        "input": user, "max_output_tokens": 64 }),
            ),
        }
    }

    /// The answer's text, checking the dialect's framing on the way.
    fn text(self, answer: &Answer, stream: bool) -> String {
        assert_eq!(answer.status, 200, "{self:?}: {}", answer.text());
        match (self, stream) {
            (Self::Anthropic | Self::InvokeAnthropic, false) => {
                let body = answer.json();
                assert_eq!(body["type"], "message");
                assert_eq!(body["stop_reason"], "end_turn");
                assert!(
                    body["usage"]["output_tokens"].as_u64().unwrap() > 0,
                    "{body}"
                );
                body["content"][0]["text"].as_str().unwrap().to_owned()
            }
            (Self::Converse, false) => {
                let body = answer.json();
                assert_eq!(body["stopReason"], "end_turn");
                assert!(
                    body["usage"]["outputTokens"].as_u64().unwrap() > 0,
                    "{body}"
                );
                body["output"]["message"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
            (Self::InvokeChat, false) => {
                let body = answer.json();
                assert_eq!(body["choices"][0]["finish_reason"], "stop");
                body["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
            (Self::Responses, false) => {
                let body = answer.json();
                assert_eq!(body["object"], "response");
                assert_eq!(body["status"], "completed");
                assert!(
                    body["usage"]["output_tokens"].as_u64().unwrap() > 0,
                    "{body}"
                );
                body["output"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|item| item["type"] == "message")
                    .flat_map(|item| item["content"].as_array().unwrap().iter())
                    .filter_map(|part| part["text"].as_str())
                    .collect()
            }
            (Self::Anthropic, true) => anthropic_stream_text(&named_events(&answer.body)),
            (Self::Responses, true) => {
                let events = named_events(&answer.body);
                assert_eq!(events[0].0, "response.created");
                let (last, data) = events.last().unwrap();
                assert_eq!(last, "response.completed");
                assert!(data["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0);
                assert!(events.iter().all(|(name, data)| data["type"] == *name));
                events
                    .iter()
                    .filter(|(name, _)| name == "response.output_text.delta")
                    .map(|(_, data)| data["delta"].as_str().unwrap().to_owned())
                    .collect()
            }
            (Self::Converse, true) => {
                assert_eq!(
                    answer.header("content-type"),
                    "application/vnd.amazon.eventstream"
                );
                let frames = decode_frames(&answer.body).expect("valid event-stream frames");
                let names: Vec<&str> = frames.iter().map(|(_, name, _)| name.as_str()).collect();
                assert_eq!(names.first(), Some(&"messageStart"), "{names:?}");
                assert_eq!(names.last(), Some(&"metadata"), "{names:?}");
                assert!(names.contains(&"messageStop"), "{names:?}");
                assert!(frames.iter().all(|(kind, _, _)| kind == "event"));
                let metadata: Value = serde_json::from_slice(&frames.last().unwrap().2).unwrap();
                assert!(metadata["usage"]["outputTokens"].as_u64().unwrap() > 0);
                frames
                    .iter()
                    .filter(|(_, name, _)| name == "contentBlockDelta")
                    .map(|(_, _, payload)| {
                        let event: Value = serde_json::from_slice(payload).unwrap();
                        event["delta"]["text"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect()
            }
            (Self::InvokeAnthropic | Self::InvokeChat, true) => {
                let events = invoke_chunks(&answer.body);
                let last = events.last().unwrap();
                let metrics = &last["amazon-bedrock-invocationMetrics"];
                assert!(metrics["outputTokenCount"].as_u64().unwrap() > 0, "{last}");
                // As Bedrock sends them: on the last native event only.
                let with_metrics = events
                    .iter()
                    .filter(|e| e.get("amazon-bedrock-invocationMetrics").is_some())
                    .count();
                assert_eq!(with_metrics, 1, "{events:?}");
                if let Self::InvokeAnthropic = self {
                    let named: Vec<(String, Value)> = events
                        .into_iter()
                        .map(|e| (e["type"].as_str().unwrap().to_owned(), e))
                        .collect();
                    anthropic_stream_text(&named)
                } else {
                    events
                        .iter()
                        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
                        .collect()
                }
            }
        }
    }
}

/// `(event name, data)` of a named-event SSE body; every event must have both.
fn named_events(body: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(body).unwrap();
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("an event without a name: {block}"));
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("an event without data: {block}"));
            (name.to_owned(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

/// Checks an Anthropic event sequence and returns its text.
fn anthropic_stream_text(events: &[(String, Value)]) -> String {
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    let delta = events
        .iter()
        .find(|(n, _)| n == "message_delta")
        .expect("a message_delta");
    assert_eq!(delta.1["delta"]["stop_reason"], "end_turn");
    assert!(delta.1["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert!(
        events
            .iter()
            .all(|(name, data)| data["type"] == name.as_str())
    );
    events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .filter_map(|(_, d)| d["delta"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// The native events of an InvokeModelWithResponseStream body.
fn invoke_chunks(body: &[u8]) -> Vec<Value> {
    decode_frames(body)
        .expect("valid event-stream frames")
        .into_iter()
        .map(|(kind, name, payload)| {
            assert_eq!((kind.as_str(), name.as_str()), ("event", "chunk"));
            let chunk: Value = serde_json::from_slice(&payload).unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(chunk["bytes"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        })
        .collect()
}

async fn send(gw: &TestGateway, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    gw.call("POST", path, headers, Some(&body.to_string()))
        .await
}

#[tokio::test]
async fn every_ingress_reaches_every_upstream_whole_and_streamed() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, ADMIN)).await;
    for caller in CALLERS {
        for (model, provider) in MODELS {
            for stream in [false, true] {
                let (path, body) = caller.request(model, stream);
                let answer = send(&gw, &path, &body, &[]).await;
                let text = caller.text(&answer, stream);
                assert_eq!(
                    text, "Hello there",
                    "{caller:?} via {provider}, stream {stream}"
                );
                assert_eq!(answer.header("x-switchyard-provider"), provider);
            }
        }
        // The built-in simulator, which says something of its own.
        for stream in [false, true] {
            let (path, body) = caller.request("via-simulator", stream);
            let text = caller.text(&send(&gw, &path, &body, &[]).await, stream);
            assert!(text.starts_with("Simulated"), "{caller:?}: {text}");
        }
    }
    // Every call reached the ledger with its upstream's own counts.
    let mut polls = 0;
    let rows = loop {
        polls += 1;
        assert!(polls < 200, "the ledger never showed all 70 calls");
        let usage = gw
            .call(
                "GET",
                "/admin/v1/usage?group_by=provider",
                &[("authorization", "Bearer admin-secret")],
                None,
            )
            .await
            .json();
        let rows = usage["rows"].as_array().unwrap().clone();
        let total: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
        if total == 70 {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for row in rows {
        let expected = match row["provider"].as_str().unwrap() {
            "bedrock" => 20,
            _ => 10,
        };
        assert_eq!(row["requests"], expected, "{row}");
        assert!(row["output_tokens"].as_u64().unwrap() > 0, "{row}");
    }
}

#[tokio::test]
async fn the_system_prompt_reaches_each_upstream_in_its_own_place() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    for caller in [Caller::Anthropic, Caller::Converse, Caller::Responses] {
        for (model, _) in MODELS {
            let (path, body) = caller.request(model, false);
            caller.text(&send(&gw, &path, &body, &[]).await, false);
        }
    }
    let last = |requests: Vec<sy_testkit::Recorded>| requests.last().unwrap().json();
    let body = last(up.openai.requests());
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], "Be brief.");
    assert_eq!(body["model"], "gpt-x");
    assert_eq!(
        last(up.anthropic.requests())["system"][0]["text"],
        "Be brief."
    );
    assert_eq!(
        last(up.bedrock.requests())["system"][0]["text"],
        "Be brief."
    );
    assert_eq!(
        last(up.gemini.requests())["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
}

#[tokio::test]
async fn anthropic_callers_pass_through_to_anthropic_with_only_the_model_changed() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    let body = r#"{"model":"via-anthropic","max_tokens":64,"metadata":{"user_id":"u-1"},"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],"stream":false}"#;
    let answer = gw.call("POST", "/v1/messages", &[], Some(body)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(!answer.header("request-id").is_empty());
    let sent = up.anthropic.requests().last().unwrap().body.clone();
    assert_eq!(
        std::str::from_utf8(&sent).unwrap(),
        body.replace("via-anthropic", "claude-x"),
        "the caller's bytes, cache_control included, with only the model edited"
    );
    // The upstream's answer is relayed as it was sent, usage and all.
    assert_eq!(answer.json()["model"], "claude-x");

    let stream = body.replace(r#""stream":false"#, r#""stream":true"#);
    let answer = gw.call("POST", "/v1/messages", &[], Some(&stream)).await;
    let events = named_events(&answer.body);
    assert_eq!(anthropic_stream_text(&events), "Hello there");
}

#[tokio::test]
async fn anthropic_beta_flags_reach_claude_wherever_it_is_served_and_are_listed_elsewhere() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    let flags = [
        "context-1m-2025-08-07",
        "interleaved-thinking-2025-05-14",
        "fine-grained-tool-streaming-2025-05-14",
    ];
    // Two header lines, one a list with a blank and a repeat, as clients send them.
    let headers = [
        (
            "anthropic-beta",
            "context-1m-2025-08-07, interleaved-thinking-2025-05-14,,",
        ),
        (
            "anthropic-beta",
            "fine-grained-tool-streaming-2025-05-14,context-1m-2025-08-07",
        ),
    ];
    let ask = |model: &str| {
        json!({ "model": model, "max_tokens": 64,
                "messages": [{ "role": "user", "content": "hi" }] })
    };

    // Anthropic's API: the header, on the pass-through lane and on count_tokens.
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let answer = send(&gw, path, &ask("via-anthropic"), &headers).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        assert!(answer.headers.get("x-switchyard-dropped-params").is_none());
        let sent = up.anthropic.requests().last().unwrap().clone();
        assert_eq!(
            sent.header("anthropic-beta").as_deref(),
            Some(flags.join(",").as_str()),
            "{path}"
        );
    }
    // Without flags, no header.
    let answer = send(&gw, "/v1/messages", &ask("via-anthropic"), &[]).await;
    assert_eq!(answer.status, 200);
    assert!(
        up.anthropic
            .requests()
            .last()
            .unwrap()
            .header("anthropic-beta")
            .is_none()
    );

    // Claude on Bedrock: in the InvokeModel body.
    let answer = send(&gw, "/v1/messages", &ask("via-bedrock"), &headers).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let sent = up.bedrock.requests().last().unwrap().json();
    assert_eq!(sent["anthropic_beta"], json!(flags));

    // Models that are not Claude: left out and listed.
    for model in ["via-gemini", "via-openai"] {
        let answer = send(&gw, "/v1/messages", &ask(model), &headers).await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        assert_eq!(
            answer.header("x-switchyard-dropped-params"),
            "anthropic-beta",
            "{model}"
        );
    }

    // A Bedrock caller's flags, in its InvokeModel body, reach Anthropic's API as the header.
    let (path, mut body) = Caller::InvokeAnthropic.request("via-anthropic", false);
    body["anthropic_beta"] = json!(["context-1m-2025-08-07"]);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(Caller::InvokeAnthropic.text(&answer, false), "Hello there");
    let sent = up.anthropic.requests().last().unwrap().clone();
    assert_eq!(
        sent.header("anthropic-beta").as_deref(),
        Some("context-1m-2025-08-07")
    );
    assert!(
        sent.json().get("anthropic_beta").is_none(),
        "not in Anthropic's body"
    );
    body["anthropic_beta"] = json!("context-1m-2025-08-07");
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("anthropic_beta"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn errors_come_in_each_callers_shape() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;

    // An unknown model.
    let (path, body) = Caller::Anthropic.request("nope", false);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["type"], "error");
    assert_eq!(answer.json()["error"]["type"], "not_found_error");
    assert_eq!(answer.json()["request_id"], answer.header("request-id"));
    for caller in [Caller::Converse, Caller::InvokeAnthropic] {
        let (path, body) = caller.request("nope", false);
        let answer = send(&gw, &path, &body, &[]).await;
        assert_eq!(answer.status, 404, "{}", answer.text());
        assert_eq!(
            answer.header("x-amzn-errortype"),
            "ResourceNotFoundException"
        );
        assert!(answer.json()["message"].as_str().unwrap().contains("nope"));
        assert!(!answer.header("x-amzn-requestid").is_empty());
    }
    let (path, body) = Caller::Responses.request("nope", false);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"]["code"], "model_not_found");

    // A malformed request.
    let answer = send(
        &gw,
        "/v1/messages",
        &json!({ "model": "via-openai", "messages": [] }),
        &[],
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
    assert!(answer.text().contains("max_tokens"));
    let answer = send(
        &gw,
        "/model/via-openai/invoke",
        &json!({ "prompt": "hi" }),
        &[],
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.header("x-amzn-errortype"), "ValidationException");

    // Stored responses are not enabled.
    let answer = send(
        &gw,
        "/v1/responses",
        &json!({ "model": "via-openai", "input": "hi", "previous_response_id": "resp_1" }),
        &[],
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.text().contains("previous_response_id"),
        "{}",
        answer.text()
    );

    // Upstream throttling stays retryable in each dialect.
    up.bedrock.set_script(BedrockScript::throttled());
    let (path, body) = Caller::Anthropic.request("via-bedrock", false);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(answer.status, 429, "{}", answer.text());
    assert_eq!(answer.json()["error"]["type"], "rate_limit_error");
    // A Converse caller gets Bedrock's own answer, as Bedrock sent it.
    let (path, body) = Caller::Converse.request("via-bedrock", false);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(answer.status, 429);
    assert!(
        answer
            .header("x-amzn-errortype")
            .starts_with("ThrottlingException")
    );
    // Any other Bedrock-dialect caller gets the gateway's rendering of it.
    let (path, body) = Caller::InvokeChat.request("via-bedrock", false);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("x-amzn-errortype"), "ThrottlingException");

    // Anthropic's overload: passed through to an Anthropic caller, translated for the others.
    up.anthropic.set_script(AnthropicScript::overloaded());
    let (path, body) = Caller::Anthropic.request("via-anthropic", false);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(answer.status, 529);
    assert_eq!(answer.json()["error"]["type"], "overloaded_error");
    let (path, body) = Caller::Converse.request("via-anthropic", false);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.header("x-amzn-errortype"),
        "ServiceUnavailableException"
    );
}

#[tokio::test]
async fn a_mid_stream_failure_ends_each_stream_with_its_dialects_error() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    up.anthropic.set_script(AnthropicScript::stream_error(
        &["Hello", " there", " again"],
        2,
        "overloaded_error",
        "Overloaded",
    ));
    // Same dialect: the upstream's error event, relayed.
    let (path, body) = Caller::Anthropic.request("via-anthropic", true);
    let events = named_events(&send(&gw, &path, &body, &[]).await.body);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "overloaded_error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));

    let (path, body) = Caller::Converse.request("via-anthropic", true);
    let frames = decode_frames(&send(&gw, &path, &body, &[]).await.body).unwrap();
    let (kind, name, _) = frames.last().unwrap();
    assert_eq!(kind, "exception");
    assert_eq!(name, "serviceUnavailableException");
    assert!(!frames.iter().any(|(_, n, _)| n == "messageStop"));

    let (path, body) = Caller::Responses.request("via-anthropic", true);
    let events = named_events(&send(&gw, &path, &body, &[]).await.body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[names.len() - 2..], ["error", "response.failed"]);

    let (path, body) = Caller::InvokeAnthropic.request("via-anthropic", true);
    let frames = decode_frames(&send(&gw, &path, &body, &[]).await.body).unwrap();
    let (kind, name, _) = frames.last().unwrap();
    assert_eq!(
        (kind.as_str(), name.as_str()),
        ("exception", "serviceUnavailableException")
    );
}

#[tokio::test]
async fn a_tool_call_round_trips_through_each_ingress() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    up.openai.set_script(Script::tool_call(
        "call_1",
        "weather",
        r#"{"city":"Paris"}"#,
    ));
    let tool = json!({ "name": "weather", "description": "Weather in a city",
                       "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } } });
    let body = json!({ "model": "via-openai", "max_tokens": 64, "tools": [tool],
                       "messages": [{ "role": "user", "content": "weather in Paris?" }] });
    let answer = send(&gw, "/v1/messages", &body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let message = answer.json();
    assert_eq!(message["stop_reason"], "tool_use");
    let call = message["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "weather");
    assert_eq!(call["input"], json!({ "city": "Paris" }));
    // The result goes back; the upstream sees the call and its result in its own shape.
    up.openai.set_script(Script::stream(&["Sunny"]));
    let body = json!({ "model": "via-openai", "max_tokens": 64, "tools": [tool],
        "messages": [
            { "role": "user", "content": "weather in Paris?" },
            { "role": "assistant", "content": [call] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": call["id"], "content": "sunny" }] }
        ] });
    let answer = send(&gw, "/v1/messages", &body, &[]).await;
    assert_eq!(answer.json()["content"][0]["text"], "Sunny");
    let sent = up.openai.requests().last().unwrap().json();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages[1]["tool_calls"][0]["function"]["name"], "weather");
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(
        messages[2]["tool_call_id"],
        messages[1]["tool_calls"][0]["id"]
    );

    // Streamed through ConverseStream: toolUse start and input fragments.
    up.openai.set_script(Script::tool_call(
        "call_1",
        "weather",
        r#"{"city":"Paris"}"#,
    ));
    let body = json!({
        "messages": [{ "role": "user", "content": [{ "text": "weather in Paris?" }] }],
        "toolConfig": { "tools": [{ "toolSpec": { "name": "weather", "inputSchema": { "json": tool["input_schema"] } } }] } });
    let frames = decode_frames(
        &send(&gw, "/model/via-openai/converse-stream", &body, &[])
            .await
            .body,
    )
    .unwrap();
    let events: Vec<(String, Value)> = frames
        .iter()
        .map(|(_, n, p)| (n.clone(), serde_json::from_slice(p).unwrap()))
        .collect();
    let start = events
        .iter()
        .find(|(n, _)| n == "contentBlockStart")
        .unwrap();
    assert_eq!(start.1["start"]["toolUse"]["name"], "weather");
    let input: String = events
        .iter()
        .filter(|(n, _)| n == "contentBlockDelta")
        .filter_map(|(_, e)| e["delta"]["toolUse"]["input"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({ "city": "Paris" })
    );
    let stop = events.iter().find(|(n, _)| n == "messageStop").unwrap();
    assert_eq!(stop.1["stopReason"], "tool_use");
}

/// Parallel calls whose argument fragments interleave, as some OpenAI-compatible servers send
/// them: block callers get each call whole in its own block, one after another.
#[tokio::test]
async fn interleaved_parallel_calls_reach_block_callers_one_after_another() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    let chunk = |delta: Value, finish: Value| {
        let chunk = json!({ "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
        format!("data: {chunk}\n\n").into_bytes()
    };
    let call = |index: u32, head: Option<(&str, &str)>, args: &str| {
        let mut call = json!({ "index": index, "function": { "arguments": args } });
        if let Some((id, name)) = head {
            call["id"] = json!(id);
            call["type"] = json!("function");
            call["function"]["name"] = json!(name);
        }
        chunk(json!({ "tool_calls": [call] }), Value::Null)
    };
    let frames = [
        chunk(json!({ "role": "assistant", "content": null }), Value::Null),
        call(0, Some(("call_a", "weather")), "{\"city\":"),
        call(1, Some(("call_b", "clock")), "{\"tz\":"),
        call(0, None, "\"Pa"),
        call(1, None, "\"Europe/Rome\"}"),
        call(0, None, "ris\"}"),
        chunk(json!({}), json!("tool_calls")),
        b"data: [DONE]\n\n".to_vec(),
    ];
    let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let script = Script::raw_sse(&frames, Duration::ZERO);
    let tool = |name: &str| json!({ "name": name, "input_schema": { "type": "object" } });
    let expected = [
        ("weather", json!({ "city": "Paris" })),
        ("clock", json!({ "tz": "Europe/Rome" })),
    ];

    up.openai.set_script(script.clone());
    let body = json!({ "model": "via-openai", "max_tokens": 64, "stream": true,
        "tools": [tool("weather"), tool("clock")],
        "messages": [{ "role": "user", "content": "weather in Paris, time in Rome?" }] });
    let answer = send(&gw, "/v1/messages", &body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let events = named_events(&answer.body);
    assert!(!events.iter().any(|(n, _)| n == "error"), "{events:?}");
    let mut calls = Vec::new();
    for (name, data) in &events {
        match name.as_str() {
            "content_block_start" => {
                calls.push((data["content_block"]["name"].clone(), String::new()));
            }
            "content_block_delta" => {
                assert_eq!(
                    data["index"],
                    calls.len() - 1,
                    "a delta outside the open block"
                );
                let fragment = data["delta"]["partial_json"].as_str().unwrap();
                calls.last_mut().unwrap().1.push_str(fragment);
            }
            _ => {}
        }
    }
    let calls = with_parsed_inputs(calls);
    let want: Vec<(Value, Value)> = expected
        .iter()
        .map(|(name, input)| (json!(name), input.clone()))
        .collect();
    assert_eq!(calls, want);
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    up.openai.set_script(script);
    let spec = |name: &str| json!({ "toolSpec": { "name": name, "inputSchema": { "json": { "type": "object" } } } });
    let body = json!({
        "messages": [{ "role": "user", "content": [{ "text": "weather in Paris, time in Rome?" }] }],
        "toolConfig": { "tools": [spec("weather"), spec("clock")] } });
    let answer = send(&gw, "/model/via-openai/converse-stream", &body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let mut calls: Vec<(Value, String)> = Vec::new();
    for (kind, name, payload) in decode_frames(&answer.body).unwrap() {
        assert_eq!(kind, "event", "{name}");
        let event: Value = serde_json::from_slice(&payload).unwrap();
        match name.as_str() {
            "contentBlockStart" => {
                calls.push((event["start"]["toolUse"]["name"].clone(), String::new()));
            }
            "contentBlockDelta" => {
                assert_eq!(event["contentBlockIndex"], calls.len() - 1);
                let fragment = event["delta"]["toolUse"]["input"].as_str().unwrap();
                calls.last_mut().unwrap().1.push_str(fragment);
            }
            _ => {}
        }
    }
    assert_eq!(with_parsed_inputs(calls), want);
}

/// `(name, input)` of tool calls whose input was gathered as JSON text.
fn with_parsed_inputs(calls: Vec<(Value, String)>) -> Vec<(Value, Value)> {
    calls
        .into_iter()
        .map(|(name, input)| (name, serde_json::from_str(&input).unwrap()))
        .collect()
}

/// Prompt-cache breakpoints cross between the two dialects that have them (Anthropic's
/// `cache_control` on a block, Converse's `cachePoint` after it), and are listed where the model
/// has no prompt caching.
#[tokio::test]
async fn cache_breakpoints_cross_between_anthropic_and_converse_and_are_listed_elsewhere() {
    let nova = r#"
[[models]]
name = "via-nova"
deployments = [{ provider = "bedrock", model = "us.amazon.nova-pro-v1:0" }]
"#;
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, nova)).await;
    let point = json!({ "cachePoint": { "type": "default" } });
    let ephemeral = json!({ "type": "ephemeral" });
    let converse = json!({
        "system": [{ "text": "Long instructions." }, point],
        "messages": [{ "role": "user",
                       "content": [{ "text": "Big document." }, point, { "text": "Question?" }] }] });

    // A Converse caller's points become Claude's marks on Anthropic's API.
    let answer = send(&gw, "/model/via-anthropic/converse", &converse, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.headers.get("x-switchyard-dropped-params").is_none());
    let sent = up.anthropic.requests().last().unwrap().json();
    assert_eq!(sent["system"][0]["cache_control"], ephemeral, "{sent}");
    let content = &sent["messages"][0]["content"];
    assert_eq!(content[0]["cache_control"], ephemeral, "{sent}");
    assert!(content[1].get("cache_control").is_none(), "{sent}");

    // An Anthropic caller's marks become points for Nova on Converse.
    let anthropic = json!({ "model": "via-nova", "max_tokens": 64,
        "system": [{ "type": "text", "text": "Long instructions.", "cache_control": ephemeral }],
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "Question?", "cache_control": ephemeral }] }] });
    let answer = send(&gw, "/v1/messages", &anthropic, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.headers.get("x-switchyard-dropped-params").is_none());
    let sent = up.bedrock.requests().pop().unwrap();
    assert!(
        sent.path_and_query.ends_with("/converse"),
        "{}",
        sent.path_and_query
    );
    let sent = sent.json();
    assert_eq!(
        sent["system"],
        json!([{ "text": "Long instructions." }, point])
    );
    assert_eq!(
        sent["messages"][0]["content"],
        json!([{ "text": "Question?" }, point])
    );

    // OpenAI caches prompts on its own: the points are left out and listed.
    let answer = send(&gw, "/model/via-openai/converse", &converse, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("x-switchyard-dropped-params"),
        "system[1].cachePoint, messages[0].content[1].cachePoint"
    );
    let sent = up.openai.requests().last().unwrap().json();
    assert!(!sent.to_string().contains("cache"), "{sent}");
}

#[tokio::test]
async fn count_tokens_asks_anthropic_or_estimates() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    let body =
        json!({ "model": "via-anthropic", "messages": [{ "role": "user", "content": "hi" }] });
    let answer = send(&gw, "/v1/messages/count_tokens", &body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.json()["input_tokens"].as_u64().unwrap() > 0);
    assert!(answer.headers.get("x-switchyard-estimated").is_none());
    let sent = up.anthropic.requests().last().unwrap().clone();
    assert_eq!(sent.path_and_query, "/v1/messages/count_tokens");
    assert_eq!(sent.json()["model"], "claude-x");

    let body = json!({ "model": "via-gemini", "messages": [{ "role": "user", "content": "hi" }] });
    let answer = send(&gw, "/v1/messages/count_tokens", &body, &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-switchyard-estimated"), "true");
    assert!(answer.json()["input_tokens"].as_u64().unwrap() > 0);
}

/// A key with an AWS access key pair, minted through the admin API.
async fn mint_aws_key(gw: &TestGateway) -> (String, String, String) {
    let key = json!({ "tenant": "acme", "name": "boto", "aws_access_key": true }).to_string();
    let answer = gw
        .call(
            "POST",
            "/admin/v1/keys",
            &[("authorization", "Bearer admin-secret")],
            Some(&key),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let key = answer.json();
    let field = |name: &str| key[name].as_str().unwrap().to_owned();
    (
        field("key"),
        field("access_key_id"),
        field("secret_access_key"),
    )
}

/// A Converse call signed with SigV4 by the AWS SDK's signer, as boto3 sends it.
async fn signed_converse(gw: &TestGateway, akid: &str, secret: &str, model_path: &str) -> Answer {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;

    let body =
        json!({ "messages": [{ "role": "user", "content": [{ "text": "hi" }] }] }).to_string();
    let url = gw.url(&format!("/model/{model_path}/converse"));
    let identity: Identity = Credentials::new(akid, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = url.split('/').nth(2).unwrap().to_owned();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
    ];
    let signable = SignableRequest::new(
        "POST",
        url.clone(),
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    instructions.apply_to_request_http1x(&mut request);
    collect(gw.send(request).await).await
}

#[tokio::test]
async fn bedrock_callers_sign_with_sigv4_or_send_a_bearer_key() {
    let up = upstreams().await;
    let extra = "[auth]\nmode = \"keys\"\nadmin_key = \"admin-secret\"";
    let gw = TestGateway::start(&config(&up, extra)).await;
    let (key, akid, secret) = mint_aws_key(&gw).await;

    let answer = signed_converse(&gw, &akid, &secret, "via-bedrock").await;
    assert_eq!(Caller::Converse.text(&answer, false), "Hello there");
    // A model id with a colon, percent-encoded as boto3 does, signed over the raw path.
    let answer = signed_converse(&gw, &akid, &secret, "via%3Aunknown").await;
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert_eq!(
        answer.header("x-amzn-errortype"),
        "ResourceNotFoundException"
    );

    let answer = signed_converse(&gw, &akid, "wrong-secret", "via-bedrock").await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.header("x-amzn-errortype"),
        "InvalidSignatureException"
    );
    let answer = signed_converse(&gw, "AKSYUNKNOWN234567ABC", &secret, "via-bedrock").await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.header("x-amzn-errortype"),
        "UnrecognizedClientException"
    );

    let (path, body) = Caller::Converse.request("via-gemini", false);
    let bearer = format!("Bearer {key}");
    let answer = send(&gw, &path, &body, &[("authorization", &bearer)]).await;
    assert_eq!(Caller::Converse.text(&answer, false), "Hello there");
    let answer = send(
        &gw,
        &path,
        &body,
        &[("authorization", "Bearer sk-sy-wrong")],
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.header("x-amzn-errortype"),
        "UnrecognizedClientException"
    );

    // The Anthropic SDK's two ways of sending a key.
    let (path, body) = Caller::Anthropic.request("via-openai", false);
    for header in [
        ("x-api-key", key.as_str()),
        ("authorization", bearer.as_str()),
    ] {
        let answer = send(&gw, &path, &body, &[header]).await;
        assert_eq!(Caller::Anthropic.text(&answer, false), "Hello there");
    }
    let answer = send(&gw, &path, &body, &[("x-api-key", "sk-sy-wrong")]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn anthropic_callers_reach_claude_on_bedrock_through_invoke_model_natively() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    let body = json!({ "model": "via-bedrock", "max_tokens": 64, "stream": false,
        "messages": [{ "role": "user", "content": [{ "type": "text", "text": "hi",
                                                     "cache_control": { "type": "ephemeral" } }] }] });
    let answer = send(&gw, "/v1/messages", &body, &[]).await;
    assert_eq!(Caller::Anthropic.text(&answer, false), "Hello there");
    let sent = up.bedrock.requests().last().unwrap().clone();
    assert!(
        sent.path_and_query.ends_with("/invoke"),
        "{}",
        sent.path_and_query
    );
    let native = sent.json();
    assert_eq!(native["anthropic_version"], "bedrock-2023-05-31");
    assert!(native.get("model").is_none() && native.get("stream").is_none());
    // Anthropic-only fields survive, as Converse could not carry them.
    assert_eq!(
        native["messages"][0]["content"][0]["cache_control"]["type"],
        "ephemeral"
    );

    let mut body = body;
    body["stream"] = json!(true);
    let answer = send(&gw, "/v1/messages", &body, &[]).await;
    assert_eq!(Caller::Anthropic.text(&answer, true), "Hello there");
    assert_eq!(answer.header("content-type"), "text/event-stream");
    let sent = up.bedrock.requests().last().unwrap().clone();
    assert!(
        sent.path_and_query
            .ends_with("/invoke-with-response-stream")
    );

    // A Bedrock exception mid-stream becomes Anthropic's error event.
    up.bedrock.set_script(BedrockScript::stream_exception(
        &["Hello", " there"],
        2,
        "throttlingException",
        "Too many requests",
    ));
    let events = named_events(&send(&gw, "/v1/messages", &body, &[]).await.body);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "rate_limit_error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
}

const SCHEMA: &str =
    r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#;

impl Caller {
    /// A question with the `weather` tool offered, or (with `call`) the conversation continued
    /// with that call and its result, `sunny`.
    fn tool_turn(self, model: &str, call: Option<&(String, String, Value)>) -> (String, Value) {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let question = "weather in Paris?";
        let (path, _) = self.request(model, false);
        let body = match self {
            Self::Anthropic | Self::InvokeAnthropic => {
                let mut messages = vec![json!({ "role": "user", "content": question })];
                if let Some((id, name, input)) = call {
                    messages.push(json!({ "role": "assistant", "content": [
                        { "type": "tool_use", "id": id, "name": name, "input": input }] }));
                    messages.push(json!({ "role": "user", "content": [
                        { "type": "tool_result", "tool_use_id": id, "content": "sunny" }] }));
                }
                let mut body = json!({ "max_tokens": 64, "messages": messages,
                    "tools": [{ "name": "weather", "description": "Weather in a city", "input_schema": schema }] });
                if let Self::Anthropic = self {
                    body["model"] = json!(model);
                } else {
                    body["anthropic_version"] = json!("bedrock-2023-05-31");
                }
                body
            }
            Self::Converse => {
                let mut messages =
                    vec![json!({ "role": "user", "content": [{ "text": question }] })];
                if let Some((id, name, input)) = call {
                    messages.push(json!({ "role": "assistant", "content": [
                        { "toolUse": { "toolUseId": id, "name": name, "input": input } }] }));
                    messages.push(json!({ "role": "user", "content": [
                        { "toolResult": { "toolUseId": id, "content": [{ "text": "sunny" }] } }] }));
                }
                json!({ "messages": messages, "toolConfig": { "tools": [{ "toolSpec": {
                    "name": "weather", "description": "Weather in a city", "inputSchema": { "json": schema } } }] } })
            }
            Self::InvokeChat => {
                let mut messages = vec![json!({ "role": "user", "content": question })];
                if let Some((id, name, input)) = call {
                    messages.push(json!({ "role": "assistant", "content": null, "tool_calls": [
                        { "id": id, "type": "function", "function": { "name": name, "arguments": input.to_string() } }] }));
                    messages
                        .push(json!({ "role": "tool", "tool_call_id": id, "content": "sunny" }));
                }
                json!({ "messages": messages, "max_completion_tokens": 64, "tools": [{ "type": "function",
                    "function": { "name": "weather", "description": "Weather in a city", "parameters": schema } }] })
            }
            Self::Responses => {
                let mut input = vec![json!({ "role": "user", "content": question })];
                if let Some((id, name, arguments)) = call {
                    input.push(
                        json!({ "type": "function_call", "call_id": id, "name": name,
                                       "arguments": arguments.to_string() }),
                    );
                    input.push(
                        json!({ "type": "function_call_output", "call_id": id, "output": "sunny" }),
                    );
                }
                json!({ "model": model, "input": input, "tools": [{ "type": "function", "name": "weather",
                    "description": "Weather in a city", "parameters": schema }] })
            }
        };
        (path, body)
    }

    /// The tool call in an answer: id, name and arguments.
    fn tool_call(self, answer: &Answer) -> (String, String, Value) {
        assert_eq!(answer.status, 200, "{self:?}: {}", answer.text());
        let body = answer.json();
        let text = |v: &Value| v.as_str().unwrap().to_owned();
        let parse = |v: &Value| serde_json::from_str::<Value>(v.as_str().unwrap()).unwrap();
        match self {
            Self::Anthropic | Self::InvokeAnthropic => {
                assert_eq!(body["stop_reason"], "tool_use", "{body}");
                let call = body["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b["type"] == "tool_use")
                    .unwrap();
                (
                    text(&call["id"]),
                    text(&call["name"]),
                    call["input"].clone(),
                )
            }
            Self::Converse => {
                assert_eq!(body["stopReason"], "tool_use", "{body}");
                let call = body["output"]["message"]["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find_map(|b| b.get("toolUse"))
                    .unwrap();
                (
                    text(&call["toolUseId"]),
                    text(&call["name"]),
                    call["input"].clone(),
                )
            }
            Self::InvokeChat => {
                assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{body}");
                let call = &body["choices"][0]["message"]["tool_calls"][0];
                (
                    text(&call["id"]),
                    text(&call["function"]["name"]),
                    parse(&call["function"]["arguments"]),
                )
            }
            Self::Responses => {
                let call = body["output"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|item| item["type"] == "function_call")
                    .unwrap_or_else(|| panic!("no function_call in {body}"));
                (
                    text(&call["call_id"]),
                    text(&call["name"]),
                    parse(&call["arguments"]),
                )
            }
        }
    }
}

#[tokio::test]
async fn a_tool_call_round_trips_from_every_ingress_through_every_upstream() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    let arguments = json!({ "city": "Paris" });
    let tool_scripts = || {
        up.openai.set_script(Script::tool_call(
            "call_w",
            "weather",
            &arguments.to_string(),
        ));
        up.azure.set_script(Script::tool_call(
            "call_w",
            "weather",
            &arguments.to_string(),
        ));
        up.anthropic
            .set_script(AnthropicScript::tool_call("weather", &arguments));
        up.bedrock
            .set_script(BedrockScript::tool_call("weather", &arguments));
        up.gemini
            .set_script(GeminiScript::tool_call("weather", &arguments));
    };
    let reply_scripts = || {
        up.openai.set_script(Script::stream(&["Sunny"]));
        up.azure.set_script(Script::stream(&["Sunny"]));
        up.anthropic.set_script(AnthropicScript::reply(&["Sunny"]));
        up.bedrock.set_script(BedrockScript::reply(&["Sunny"]));
        up.gemini.set_script(GeminiScript::reply(&["Sunny"]));
    };
    let last_sent = |provider: &str| -> String {
        let requests = match provider {
            "openai" => up.openai.requests(),
            "azure" => up.azure.requests(),
            "anthropic" => up.anthropic.requests(),
            "bedrock" => up.bedrock.requests(),
            _ => up.gemini.requests(),
        };
        String::from_utf8(requests.last().unwrap().body.to_vec()).unwrap()
    };
    for caller in CALLERS {
        for (model, provider) in MODELS {
            let case = format!("{caller:?} via {model}");
            tool_scripts();
            let (path, body) = caller.tool_turn(model, None);
            let sent_tools = send(&gw, &path, &body, &[]).await;
            let call = caller.tool_call(&sent_tools);
            assert_eq!(call.1, "weather", "{case}");
            assert_eq!(call.2, arguments, "{case}");
            assert!(
                last_sent(provider).contains("weather"),
                "{case}: the tool reached the upstream"
            );

            reply_scripts();
            let (path, body) = caller.tool_turn(model, Some(&call));
            let answer = send(&gw, &path, &body, &[]).await;
            assert_eq!(caller.text(&answer, false), "Sunny", "{case}");
            // The call and its result reached the upstream in its own shape.
            let sent = last_sent(provider);
            assert!(
                sent.contains("sunny") && sent.contains("weather"),
                "{case}: {sent}"
            );
        }
    }
}

#[tokio::test]
async fn bedrock_model_ids_are_decoded_as_aws_encodes_them() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    let (_, body) = Caller::Converse.request("team:chat", false);
    // boto3 percent-encodes the colon; the Anthropic SDK's Bedrock client leaves it raw.
    for path in [
        "/model/team%3Achat/converse",
        "/model/team:chat/converse",
        "/model/team%3achat/converse",
    ] {
        let answer = send(&gw, path, &body, &[]).await;
        assert_eq!(
            Caller::Converse.text(&answer, false),
            "Hello there",
            "{path}"
        );
        assert_eq!(answer.header("x-switchyard-provider"), "gemini");
    }
    // An ARN-shaped id with its slash encoded stays one path segment, and is a model name.
    let answer = send(
        &gw,
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fteam/converse",
        &body,
        &[],
    )
    .await;
    assert_eq!(answer.status, 404);
    assert!(
        answer
            .text()
            .contains("arn:aws:bedrock:us-east-1:1:inference-profile/team"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn invoke_model_callers_reach_their_models_own_family_natively() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    for (caller, model) in [
        (Caller::InvokeAnthropic, "via-bedrock"),
        (Caller::InvokeChat, "via-gpt-oss"),
    ] {
        for stream in [false, true] {
            let (path, mut body) = caller.request(model, stream);
            // A field only the native format has survives (Converse has no `top_k` for chat
            // models, nor `cache_control` anywhere).
            body["messages"][0]["content"] = if let Caller::InvokeAnthropic = caller {
                json!([{ "type": "text", "text": "hi", "cache_control": { "type": "ephemeral" } }])
            } else {
                json!("hi")
            };
            let answer = send(&gw, &path, &body, &[]).await;
            assert_eq!(caller.text(&answer, stream), "Hello there", "{caller:?}");
            let sent = up.bedrock.requests().last().unwrap().clone();
            let operation = if stream {
                "/invoke-with-response-stream"
            } else {
                "/invoke"
            };
            assert!(
                sent.path_and_query.ends_with(operation),
                "{}",
                sent.path_and_query
            );
            let native = sent.json();
            assert_eq!(native["messages"][0]["role"], "user");
            if let Caller::InvokeAnthropic = caller {
                assert_eq!(native["anthropic_version"], "bedrock-2023-05-31");
                assert_eq!(
                    native["messages"][0]["content"][0]["cache_control"]["type"],
                    "ephemeral"
                );
            } else {
                assert_eq!(native["stream"], stream);
                assert_eq!(native["max_completion_tokens"], 64);
            }
        }
    }
    // Another family on Bedrock still goes through Converse.
    let (path, body) = Caller::InvokeAnthropic.request("via-gpt-oss", false);
    let answer = send(&gw, &path, &body, &[]).await;
    assert_eq!(Caller::InvokeAnthropic.text(&answer, false), "Hello there");
    let sent = up.bedrock.requests().last().unwrap().clone();
    assert!(
        sent.path_and_query.ends_with("/converse"),
        "{}",
        sent.path_and_query
    );
    assert!(sent.json().get("anthropic_version").is_none());
}

#[tokio::test]
async fn what_only_the_callers_own_vendor_has_passes_through_to_it_and_is_refused_elsewhere() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    // An Anthropic server tool: no other dialect has one.
    let tools = json!([{ "type": "web_search_20250305", "name": "web_search", "max_uses": 1 }]);
    let mut body = json!({ "model": "via-anthropic", "max_tokens": 64, "tools": tools,
                           "messages": [{ "role": "user", "content": "news?" }] });
    let answer = send(&gw, "/v1/messages", &body, &[]).await;
    assert_eq!(Caller::Anthropic.text(&answer, false), "Hello there");
    let sent = up.anthropic.requests().last().unwrap().json();
    assert_eq!(sent["tools"][0]["type"], "web_search_20250305");
    body["model"] = json!("via-gemini");
    let answer = send(&gw, "/v1/messages", &body, &[]).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("tools[0]") && message.contains("gemini"),
        "{message}"
    );

    // A Bedrock guardrail: Converse callers reach Bedrock with it, and nothing else.
    let body = json!({ "messages": [{ "role": "user", "content": [{ "text": "hi" }] }],
                       "guardrailConfig": { "guardrailIdentifier": "gr-1", "guardrailVersion": "1" },
                       "projectIdentifier": "proj-1" });
    let answer = send(&gw, "/model/via-bedrock/converse", &body, &[]).await;
    assert_eq!(Caller::Converse.text(&answer, false), "Hello there");
    let sent = up.bedrock.requests().last().unwrap().json();
    assert_eq!(sent["guardrailConfig"]["guardrailIdentifier"], "gr-1");
    assert_eq!(sent["projectIdentifier"], "proj-1");
    let answer = send(&gw, "/model/via-gemini/converse", &body, &[]).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.header("x-amzn-errortype"), "ValidationException");
    assert!(
        answer.text().contains("guardrailConfig"),
        "{}",
        answer.text()
    );
    // Bedrock's own error reaches a Converse caller as Bedrock sent it.
    up.bedrock.set_script(BedrockScript::error(
        400,
        "ValidationException",
        "The guardrail gr-1 does not exist",
    ));
    let answer = send(&gw, "/model/via-bedrock/converse", &body, &[]).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer
            .header("x-amzn-errortype")
            .starts_with("ValidationException")
    );
    assert!(
        answer.text().contains("gr-1 does not exist"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn bedrock_count_tokens_asks_bedrock_or_estimates_and_unknown_operations_answer_as_bedrock() {
    let up = upstreams().await;
    let gw = TestGateway::start(&config(&up, "")).await;
    let body = json!({ "input": { "converse": {
        "messages": [{ "role": "user", "content": [{ "text": "hi" }] }] } } });
    let answer = send(&gw, "/model/via-bedrock/count-tokens", &body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.json()["inputTokens"].as_u64().unwrap() > 0);
    assert!(answer.headers.get("x-switchyard-estimated").is_none());
    let sent = up.bedrock.requests().last().unwrap().clone();
    assert!(
        sent.path_and_query.ends_with("/count-tokens"),
        "{}",
        sent.path_and_query
    );
    assert_eq!(sent.json(), body);

    let answer = send(&gw, "/model/via-gemini/count-tokens", &body, &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-switchyard-estimated"), "true");
    assert!(answer.json()["inputTokens"].as_u64().unwrap() > 0);

    let answer = send(
        &gw,
        "/model/via-bedrock/count-tokens",
        &json!({ "x": 1 }),
        &[],
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.header("x-amzn-errortype"), "ValidationException");

    let answer = send(&gw, "/model/via-bedrock/apply-guardrail", &body, &[]).await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.header("x-amzn-errortype"),
        "ResourceNotFoundException"
    );
    assert!(
        answer.text().contains("apply-guardrail"),
        "{}",
        answer.text()
    );
}
