//! The translation lane: OpenAI Chat Completions callers answered by Anthropic, Bedrock (SigV4
//! checked by the fake on every request) and Gemini upstreams, whole and streamed, with usage in
//! the ledger, failover on the vendors' own overload answers, mid-stream failures as in-band
//! errors, and requests a target cannot express refused before anything is sent.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

mod common;

use common::{Answer, TestGateway, sse_data};
use serde_json::{Value, json};
use sy_testkit::anthropic::{AnthropicScript, FakeAnthropic};
use sy_testkit::bedrock::{BedrockScript, FakeBedrock};
use sy_testkit::gemini::{FakeGemini, GeminiScript};

const CHAT: &str = r#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}"#;
const CHAT_STREAM: &str = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;

struct Clouds {
    anthropic: FakeAnthropic,
    bedrock: FakeBedrock,
    gemini: FakeGemini,
}

async fn clouds() -> Clouds {
    Clouds {
        anthropic: FakeAnthropic::start(AnthropicScript::reply(&["Hello", " there"])).await,
        bedrock: FakeBedrock::start(BedrockScript::reply(&["Hello", " there"])).await,
        gemini: FakeGemini::start(GeminiScript::reply(&["Hello", " there"])).await,
    }
}

/// Model `m` served by the deployments named, in priority order, on the three clouds; the admin
/// API on for reading the ledger.
async fn gateway(clouds: &Clouds, deployments: &[(&str, &str)]) -> TestGateway {
    let deployments: Vec<String> = deployments
        .iter()
        .map(|(provider, model)| format!("{{ provider = \"{provider}\", model = \"{model}\" }}"))
        .collect();
    let config = format!(
        r#"
[auth]
admin_key = "admin-secret"

{clouds}

[[models]]
name = "m"
deployments = [{deployments}]

[[prices]]
provider = "anthropic"
model = "claude-x"
input = "3.00"
output = "15.00"
"#,
        clouds = common::cloud_providers(&clouds.anthropic, &clouds.bedrock, &clouds.gemini),
        deployments = deployments.join(", "),
    );
    TestGateway::start(&config).await
}

async fn ledger_rows(gw: &TestGateway) -> Value {
    let answer = gw
        .call(
            "GET",
            "/admin/v1/usage?group_by=provider",
            &[("authorization", "Bearer admin-secret")],
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["rows"].clone()
}

fn content(answer: &Answer) -> String {
    answer.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The streamed text, the finish reason and the usage chunk of an OpenAI stream.
fn streamed(body: &[u8]) -> (String, Option<String>, Option<Value>, bool) {
    let mut text = String::new();
    let (mut finish, mut usage, mut done) = (None, None, false);
    for data in sse_data(body) {
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let chunk: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        if let Some(t) = chunk["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
        if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
        if !chunk["usage"].is_null() {
            usage = Some(chunk["usage"].clone());
        }
    }
    (text, finish, usage, done)
}

#[tokio::test]
async fn each_cloud_answers_an_openai_call_whole_and_streamed() {
    let clouds = clouds().await;
    for (provider, model) in [
        ("anthropic", "claude-x"),
        ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("gemini", "gemini-x"),
    ] {
        let gw = gateway(&clouds, &[(provider, model)]).await;
        let whole = gw.post("/v1/chat/completions", CHAT).await;
        assert_eq!(whole.status, 200, "{provider}: {}", whole.text());
        assert_eq!(whole.header("x-switchyard-provider"), provider);
        let json = whole.json();
        assert_eq!(json["object"], "chat.completion", "{provider}: {json}");
        assert_eq!(json["model"], "m");
        assert_eq!(content(&whole), "Hello there", "{provider}");
        assert_eq!(json["choices"][0]["finish_reason"], "stop", "{provider}");
        assert!(
            json["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
            "{provider}: {json}"
        );
        assert_eq!(json["usage"]["completion_tokens"], 2, "{provider}: {json}");

        let stream = gw.post("/v1/chat/completions", CHAT_STREAM).await;
        assert_eq!(stream.status, 200, "{provider}: {}", stream.text());
        assert_eq!(stream.header("content-type"), "text/event-stream");
        let (text, finish, usage, done) = streamed(&stream.body);
        assert_eq!(text, "Hello there", "{provider}: {}", stream.text());
        assert_eq!(finish.as_deref(), Some("stop"), "{provider}");
        assert_eq!(usage.unwrap()["completion_tokens"], 2, "{provider}");
        assert!(done, "{provider}: ends with [DONE]");

        let rows = ledger_rows(&gw).await;
        assert_eq!(rows[0]["provider"], provider, "{rows}");
        assert_eq!(rows[0]["requests"], 2, "{provider}: {rows}");
        assert_eq!(rows[0]["output_tokens"], 4, "{provider}: {rows}");
    }
    // What each cloud received was its own dialect, with the system prompt where it belongs.
    let sent = clouds.anthropic.requests()[0].json();
    assert_eq!(sent["model"], "claude-x");
    assert_eq!(sent["system"][0]["text"], "Be brief.", "{sent}");
    assert!(
        sent["max_tokens"].as_u64().is_some(),
        "Anthropic requires max_tokens: {sent}"
    );
    let sent = clouds.bedrock.requests()[0].clone();
    assert!(
        sent.path_and_query
            .starts_with("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
        "{}",
        sent.path_and_query
    );
    assert_eq!(sent.json()["system"][0]["text"], "Be brief.");
    assert!(
        clouds.bedrock.requests()[1]
            .path_and_query
            .ends_with("/converse-stream")
    );
    let sent = clouds.gemini.requests()[0].json();
    assert_eq!(
        sent["systemInstruction"]["parts"][0]["text"], "Be brief.",
        "{sent}"
    );
    assert!(
        clouds.gemini.requests()[1]
            .path_and_query
            .contains(":streamGenerateContent?alt=sse")
    );
}

#[tokio::test]
async fn vendor_overload_fails_over_to_the_next_cloud() {
    let clouds = clouds().await;
    clouds.anthropic.set_script(AnthropicScript::overloaded());
    clouds.bedrock.set_script(BedrockScript::throttled());
    let gw = gateway(
        &clouds,
        &[
            ("anthropic", "claude-x"),
            ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
            ("gemini", "gemini-x"),
        ],
    )
    .await;
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-switchyard-provider"), "gemini");
    assert_eq!(answer.header("x-switchyard-attempts"), "3");

    // Every cloud overloaded: the caller gets OpenAI's shape, never another vendor's body.
    clouds
        .gemini
        .set_script(GeminiScript::error(503, "UNAVAILABLE", "overloaded"));
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert!(
        answer.status.is_server_error() || answer.status == 429,
        "{}",
        answer.text()
    );
    let error = &answer.json()["error"];
    assert!(error["message"].is_string(), "{}", answer.text());
    assert!(error["type"].is_string(), "{}", answer.text());
}

#[tokio::test]
async fn a_mid_stream_failure_is_an_in_band_error_without_done() {
    let clouds = clouds().await;
    clouds.anthropic.set_script(AnthropicScript::stream_error(
        &["Hel", "lo", "!"],
        1,
        "overloaded_error",
        "Overloaded",
    ));
    clouds.bedrock.set_script(BedrockScript::stream_exception(
        &["Hel", "lo", "!"],
        1,
        "throttlingException",
        "slow down",
    ));
    for provider in ["anthropic", "bedrock"] {
        let gw = gateway(&clouds, &[(provider, "claude-x")]).await;
        let stream = gw.post("/v1/chat/completions", CHAT_STREAM).await;
        assert_eq!(stream.status, 200);
        let events = sse_data(&stream.body);
        assert!(
            !events.iter().any(|e| e == "[DONE]"),
            "{provider}: {events:?}"
        );
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert!(last["error"]["message"].is_string(), "{provider}: {last}");
        let (text, _, _, _) = streamed(
            events
                .iter()
                .filter(|e| !e.contains("\"error\""))
                .map(|e| format!("data: {e}\n\n"))
                .collect::<String>()
                .as_bytes(),
        );
        assert_eq!(
            text, "Hel",
            "{provider}: what was delivered before the failure"
        );
    }
}

#[tokio::test]
async fn what_a_cloud_cannot_express_is_refused_before_sending() {
    let clouds = clouds().await;
    let gw = gateway(&clouds, &[("anthropic", "claude-x")]).await;
    // Anthropic's temperature ends at 1; OpenAI's goes to 2.
    let hot = r#"{"model":"m","temperature":1.7,"messages":[{"role":"user","content":"hi"}]}"#;
    let answer = gw.post("/v1/chat/completions", hot).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    let error = &answer.json()["error"];
    assert_eq!(error["param"], "temperature", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("anthropic"), "{message}");
    assert!(clouds.anthropic.requests().is_empty(), "nothing was sent");

    // With a cloud behind it that can take the request, that one answers.
    let gw = gateway(
        &clouds,
        &[("anthropic", "claude-x"), ("gemini", "gemini-x")],
    )
    .await;
    let answer = gw.post("/v1/chat/completions", hot).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-switchyard-provider"), "gemini");
    assert_eq!(answer.header("x-switchyard-attempts"), "1");
}

#[tokio::test]
async fn what_a_cloud_has_no_place_for_is_dropped_and_listed_to_the_caller() {
    let clouds = clouds().await;
    // `seed` is dropped by the decoder for every cloud; `user` by the Converse encoder only.
    let advisory =
        r#"{"model":"m","seed":7,"user":"u-1","messages":[{"role":"user","content":"hi"}]}"#;
    for (provider, model, listed) in [
        (
            "bedrock",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "seed, user",
        ),
        ("anthropic", "claude-x", "seed"),
    ] {
        let gw = gateway(&clouds, &[(provider, model)]).await;
        for body in [
            advisory.to_owned(),
            advisory.replace(r#""seed""#, r#""stream":true,"seed""#),
        ] {
            let answer = gw.post("/v1/chat/completions", &body).await;
            assert_eq!(answer.status, 200, "{provider}: {}", answer.text());
            assert_eq!(
                answer.header("x-switchyard-dropped-params"),
                listed,
                "{provider}: {body}"
            );
        }
        // Nothing dropped, nothing listed.
        let answer = gw.post("/v1/chat/completions", CHAT).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert!(
            answer.headers.get("x-switchyard-dropped-params").is_none(),
            "{provider}"
        );
    }
}

#[tokio::test]
async fn a_tool_call_history_reaches_each_cloud_in_its_own_shape() {
    let clouds = clouds().await;
    let history = json!({
        "model": "m",
        "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}
        ]
    })
    .to_string();
    for (provider, model) in [
        ("anthropic", "claude-x"),
        ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("gemini", "gemini-x"),
    ] {
        let gw = gateway(&clouds, &[(provider, model)]).await;
        let answer = gw.post("/v1/chat/completions", &history).await;
        assert_eq!(answer.status, 200, "{provider}: {}", answer.text());
    }
    let sent = clouds.anthropic.requests().last().unwrap().json();
    assert_eq!(sent["tools"][0]["name"], "weather", "{sent}");
    assert_eq!(
        sent["messages"][1]["content"][0]["type"], "tool_use",
        "{sent}"
    );
    assert_eq!(
        sent["messages"][2]["content"][0]["type"], "tool_result",
        "{sent}"
    );
    assert_eq!(
        sent["messages"][1]["content"][0]["id"],
        sent["messages"][2]["content"][0]["tool_use_id"]
    );
    let sent = clouds.bedrock.requests().last().unwrap().json();
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["name"], "weather",
        "{sent}"
    );
    assert!(
        sent["messages"][1]["content"][0]["toolUse"].is_object(),
        "{sent}"
    );
    assert!(
        sent["messages"][2]["content"][0]["toolResult"].is_object(),
        "{sent}"
    );
    let sent = clouds.gemini.requests().last().unwrap().json();
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["name"], "weather",
        "{sent}"
    );
    assert!(
        sent["contents"][1]["parts"][0]["functionCall"].is_object(),
        "{sent}"
    );
    assert!(
        sent["contents"][2]["parts"][0]["functionResponse"].is_object(),
        "{sent}"
    );
}

#[tokio::test]
async fn gpt_oss_on_bedrock_takes_the_chat_body_natively_through_invoke_model() {
    let clouds = clouds().await;
    let gw = gateway(&clouds, &[("bedrock", "openai.gpt-oss-120b-1:0")]).await;
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(content(&answer), "Hello there");
    assert_eq!(answer.json()["usage"]["completion_tokens"], 2);
    let sent = clouds.bedrock.requests().last().unwrap().clone();
    assert!(
        sent.path_and_query.ends_with("/invoke"),
        "{}",
        sent.path_and_query
    );
    let native = sent.json();
    assert!(native.get("model").is_none(), "{native}");
    assert_eq!(native["messages"][0]["content"], "Be brief.");
    assert_eq!(native["stream"], false);

    let answer = gw.post("/v1/chat/completions", CHAT_STREAM).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let (text, finish, usage, done) = streamed(&answer.body);
    assert_eq!(text, "Hello there");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert!(done);
    // The stream has no usage chunk of its own: Bedrock's invocation metrics stand in.
    let usage = usage.expect("a usage chunk, as the caller asked");
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(usage["completion_tokens"], 2);
    let sent = clouds.bedrock.requests().last().unwrap().clone();
    assert!(
        sent.path_and_query
            .ends_with("/invoke-with-response-stream")
    );
    assert!(sent.json().get("stream_options").is_none());

    // Bedrock's throttling, rendered in OpenAI's shape (the body was not translated, yet the
    // error is Bedrock's).
    clouds.bedrock.set_script(BedrockScript::throttled());
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 429, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "rate_limit_exceeded");
}
