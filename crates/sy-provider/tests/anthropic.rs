//! The Anthropic adapter against FakeAnthropic over real HTTP on 127.0.0.1.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::{provider, read_all, read_json, send, sse_events};
use serde_json::{Value, json};
use sy_config::ProviderKind;
use sy_core::{ErrorKind, Secret};
use sy_provider::anthropic::parse_stream_error;
use sy_provider::{Operation, Provider};
use sy_testkit::anthropic::TEST_API_KEY;
use sy_testkit::{AnthropicScript, FakeAnthropic};

fn anthropic(fake: &FakeAnthropic, key: &str) -> Provider {
    provider(
        "anthropic",
        ProviderKind::Anthropic {
            base_url: fake.base_url(),
            api_key: Secret::new(key),
            version: "2023-06-01".into(),
        },
    )
}

fn messages(stream: bool) -> Value {
    json!({ "model": "claude-sonnet-4-20250514", "max_tokens": 64, "stream": stream,
            "messages": [{ "role": "user", "content": "hi" }] })
}

#[tokio::test]
async fn messages_carry_the_key_and_version_and_answer_json() {
    let fake = FakeAnthropic::start(AnthropicScript::reply(&["Hello", " there"])).await;
    let mut response = send(
        &anthropic(&fake, TEST_API_KEY),
        Operation::Messages,
        "ignored",
        &messages(false),
    )
    .await;
    let body = read_json(&mut response).await;
    assert_eq!(response.status, 200, "{body}");
    assert_eq!(body["content"][0]["text"], "Hello there");
    assert_eq!(body["model"], "claude-sonnet-4-20250514");
    let recorded = &fake.requests()[0];
    assert_eq!(recorded.path_and_query, "/v1/messages");
    assert_eq!(recorded.header("x-api-key").as_deref(), Some(TEST_API_KEY));
    assert_eq!(
        recorded.header("anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(
        recorded.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(sy_provider::upstream_request_id(&response.headers).is_some());
}

#[tokio::test]
async fn streams_are_the_full_event_sequence() {
    let fake = FakeAnthropic::start(AnthropicScript::reply(&["Hel", "lo"])).await;
    let mut response = send(
        &anthropic(&fake, TEST_API_KEY),
        Operation::Messages,
        "",
        &messages(true),
    )
    .await;
    assert!(
        response.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&read_all(&mut response).await);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert!(
        events
            .iter()
            .all(|(name, data)| data["type"] == name.as_str()),
        "event: matches type"
    );
    assert_eq!(events[6].1["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn an_error_event_mid_stream_is_parsed_with_its_status() {
    let fake = FakeAnthropic::start(AnthropicScript::stream_error(
        &["a", "b"],
        1,
        "overloaded_error",
        "Overloaded",
    ))
    .await;
    let mut response = send(
        &anthropic(&fake, TEST_API_KEY),
        Operation::Messages,
        "",
        &messages(true),
    )
    .await;
    assert_eq!(response.status, 200);
    let events = sse_events(&read_all(&mut response).await);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
    let error = parse_stream_error("anthropic", data.to_string().as_bytes());
    assert_eq!(
        (error.status, error.code.as_deref()),
        (529, Some("overloaded_error"))
    );
    assert!(error.retryable());
}

#[tokio::test]
async fn overloaded_and_refused_keys_are_classified() {
    let fake = FakeAnthropic::start(AnthropicScript::Error {
        status: 529,
        error_type: "overloaded_error".into(),
        message: "Overloaded".into(),
        retry_after: Some(3),
    })
    .await;
    let good = anthropic(&fake, TEST_API_KEY);
    let mut response = send(&good, Operation::Messages, "", &messages(false)).await;
    let body = read_all(&mut response).await;
    assert_eq!(response.status, 529);
    let error = good.classify(response.status, &response.headers, &body);
    assert_eq!(error.status(), 503);
    assert!(error.retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    let parsed = good.upstream_error(response.status, &response.headers, &body);
    assert!(parsed.request_id.unwrap().starts_with("req_"));

    fake.set_script(AnthropicScript::reply(&["never"]));
    let wrong = anthropic(&fake, "sk-ant-wrong");
    let mut response = send(&wrong, Operation::Messages, "", &messages(false)).await;
    let body = read_all(&mut response).await;
    assert_eq!(response.status, 401);
    let error = wrong.classify(response.status, &response.headers, &body);
    assert!(
        matches!(error.kind, ErrorKind::UpstreamAuth { status: 401, .. }),
        "{error}"
    );
    assert!(
        error
            .message
            .contains("authentication_error: invalid x-api-key"),
        "{error}"
    );
}

#[tokio::test]
async fn count_tokens_has_its_own_endpoint() {
    let fake = FakeAnthropic::start(AnthropicScript::reply(&["x"])).await;
    let body = json!({ "model": "claude-sonnet-4-20250514", "messages": [{ "role": "user", "content": "hi" }] });
    let mut response = send(
        &anthropic(&fake, TEST_API_KEY),
        Operation::CountTokens,
        "",
        &body,
    )
    .await;
    assert_eq!(
        read_json(&mut response).await,
        json!({ "input_tokens": 25 })
    );
    assert_eq!(
        fake.requests()[0].path_and_query,
        "/v1/messages/count_tokens"
    );
}
