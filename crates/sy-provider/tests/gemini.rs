//! The Gemini adapter against FakeGemini over real HTTP on 127.0.0.1.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::{provider, read_all, read_json, send};
use serde_json::{Value, json};
use sy_config::ProviderKind;
use sy_core::{ErrorKind, Secret};
use sy_provider::{Operation, Provider};
use sy_testkit::gemini::TEST_API_KEY;
use sy_testkit::{FakeGemini, GeminiScript};

fn gemini(fake: &FakeGemini, key: &str) -> Provider {
    provider(
        "gemini",
        ProviderKind::Gemini {
            base_url: fake.base_url(),
            api_key: Secret::new(key),
        },
    )
}

fn contents() -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] })
}

#[tokio::test]
async fn generate_content_names_the_model_and_sends_the_key_in_a_header() {
    let fake = FakeGemini::start(GeminiScript::reply(&["It is ", "18C."])).await;
    let mut response = send(
        &gemini(&fake, TEST_API_KEY),
        Operation::GenerateContent { stream: false },
        "gemini-2.5-flash",
        &contents(),
    )
    .await;
    let body = read_json(&mut response).await;
    assert_eq!(response.status, 200, "{body}");
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "It is 18C."
    );
    assert_eq!(body["usageMetadata"]["totalTokenCount"], 11);
    let recorded = &fake.requests()[0];
    assert_eq!(
        recorded.path_and_query,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        recorded.header("x-goog-api-key").as_deref(),
        Some(TEST_API_KEY)
    );
    assert!(
        !recorded.path_and_query.contains("key="),
        "the key never goes in the URL"
    );
}

#[tokio::test]
async fn streaming_asks_for_server_sent_events() {
    let fake = FakeGemini::start(GeminiScript::reply(&["a", "b", "c"])).await;
    let mut response = send(
        &gemini(&fake, TEST_API_KEY),
        Operation::GenerateContent { stream: true },
        "models/gemini-2.5-pro",
        &contents(),
    )
    .await;
    assert_eq!(response.headers["content-type"], "text/event-stream");
    let body = read_all(&mut response).await;
    let text = std::str::from_utf8(&body).unwrap();
    let chunks: Vec<Value> = text
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2]["candidates"][0]["finishReason"], "STOP");
    assert!(chunks[0]["candidates"][0].get("finishReason").is_none());
    assert_eq!(
        fake.requests()[0].path_and_query,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
}

#[tokio::test]
async fn a_wrong_key_and_throttling_are_classified() {
    let fake = FakeGemini::start(GeminiScript::reply(&["never"])).await;
    let wrong = gemini(&fake, "AIza-wrong");
    let mut response = send(
        &wrong,
        Operation::GenerateContent { stream: false },
        "gemini-2.5-flash",
        &contents(),
    )
    .await;
    let body = read_all(&mut response).await;
    assert_eq!(response.status, 400, "Gemini answers a bad key with 400");
    let error = wrong.classify(response.status, &response.headers, &body);
    assert!(
        matches!(error.kind, ErrorKind::UpstreamAuth { status: 400, .. }),
        "{error}"
    );

    fake.set_script(GeminiScript::exhausted("7s"));
    let good = gemini(&fake, TEST_API_KEY);
    let mut response = send(
        &good,
        Operation::GenerateContent { stream: true },
        "gemini-2.5-flash",
        &contents(),
    )
    .await;
    let body = read_all(&mut response).await;
    let parsed = good.upstream_error(response.status, &response.headers, &body);
    assert_eq!(parsed.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
    assert_eq!(parsed.retry_after, Some(Duration::from_secs(7)));
    let error = parsed.to_gateway_error();
    assert_eq!((error.status(), error.retryable()), (429, true));
}

#[tokio::test]
async fn count_tokens() {
    let fake = FakeGemini::start(GeminiScript::reply(&["x"])).await;
    let mut response = send(
        &gemini(&fake, TEST_API_KEY),
        Operation::CountTokens,
        "gemini-2.0-flash",
        &contents(),
    )
    .await;
    assert_eq!(read_json(&mut response).await, json!({ "totalTokens": 9 }));
    assert_eq!(
        fake.requests()[0].path_and_query,
        "/v1beta/models/gemini-2.0-flash:countTokens"
    );
}
