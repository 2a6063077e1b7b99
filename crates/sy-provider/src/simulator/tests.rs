//! The simulator answers deterministically, streams in OpenAI's framing, and fails on demand.

use std::time::Duration;

use bytes::Bytes;
use sy_config::SimulatorSettings;
use sy_wire::openai::chat::ChatRequest;
use sy_wire::sse::SseParser;

use super::chat::{concat, decide, stream_events};
use super::embeddings::vector;
use super::*;
use crate::Operation;

fn fast() -> SimulatorSettings {
    SimulatorSettings {
        ttft: Duration::ZERO,
        tokens_per_second: 0.0,
        ..SimulatorSettings::default()
    }
}

async fn body_of(mut response: UpstreamResponse) -> (Vec<Bytes>, Option<String>) {
    let mut chunks = Vec::new();
    while let Some(chunk) = response.body.chunk().await {
        match chunk {
            Ok(c) => chunks.push(c),
            Err(e) => return (chunks, Some(e.0)),
        }
    }
    (chunks, None)
}

const CHAT: &[u8] = br#"{"model":"m","messages":[{"role":"user","content":"Hello there"}]}"#;

#[test]
fn same_request_same_answer() {
    let req: ChatRequest<'_> = serde_json::from_slice(CHAT).expect("request");
    let a = decide(&req, CHAT).expect("reply");
    let b = decide(&req, CHAT).expect("reply");
    assert_eq!(a, b);
    assert!(a.pieces.concat().contains("Hello there"));
    assert_eq!(a.usage.completion_tokens, a.pieces.len() as u64);
    assert_eq!(
        a.usage.total_tokens,
        a.usage.prompt_tokens + a.usage.completion_tokens
    );
}

#[test]
fn max_tokens_cuts_with_length() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":2}"#;
    let req: ChatRequest<'_> = serde_json::from_slice(body).expect("request");
    let reply = decide(&req, body).expect("reply");
    assert_eq!(reply.pieces.len(), 2);
    assert_eq!(reply.finish_reason, "length");
}

#[test]
fn forced_tool_choice_calls_the_tool() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"weather in Paris"}],
        "tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}}],"tool_choice":"required"}"#;
    let req: ChatRequest<'_> = serde_json::from_slice(body).expect("request");
    let reply = decide(&req, body).expect("reply");
    let (_, name, args) = reply.tool_call.clone().expect("tool call");
    assert_eq!(name, "get_weather");
    assert_eq!(args, r#"{"input":"weather in Paris"}"#);
    assert_eq!(reply.finish_reason, "tool_calls");

    let events = stream_events(&reply, "m", 1, false);
    let mut parser = SseParser::new();
    parser.push(&concat(&events));
    let mut args_seen = String::new();
    while let Some(e) = parser.next_event() {
        if &e.data[..] == b"[DONE]" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&e.data).expect("json");
        if let Some(calls) = v["choices"][0]["delta"]["tool_calls"].as_array() {
            assert_eq!(calls[0]["index"], 0);
            args_seen.push_str(calls[0]["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(args_seen, args);
}

#[test]
fn stream_follows_openai_framing() {
    let req: ChatRequest<'_> = serde_json::from_slice(CHAT).expect("request");
    let reply = decide(&req, CHAT).expect("reply");
    let mut parser = SseParser::new();
    parser.push(&concat(&stream_events(&reply, "m", 1, true)));
    let mut datas = Vec::new();
    while let Some(e) = parser.next_event() {
        datas.push(e.data);
    }
    assert_eq!(datas.last().map(|d| &d[..]), Some(&b"[DONE]"[..]));
    let chunks: Vec<serde_json::Value> = datas[..datas.len() - 1]
        .iter()
        .map(|d| serde_json::from_slice(d).expect("json"))
        .collect();
    let roles = chunks
        .iter()
        .filter(|c| !c["choices"][0]["delta"]["role"].is_null())
        .count();
    assert_eq!(roles, 1, "role only in the first chunk");
    let usage = chunks.last().expect("usage chunk");
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], reply.pieces.len());
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null())
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, reply.pieces.concat());
}

#[tokio::test]
async fn fails_on_demand() {
    let sim = Simulator::new(SimulatorSettings {
        fail_status: Some(429),
        ..fast()
    });
    let response = sim
        .send(
            "sim",
            Operation::ChatCompletions,
            "m",
            Bytes::from_static(CHAT),
        )
        .await
        .expect("response");
    assert_eq!(response.status, 429);
    assert_eq!(response.headers["retry-after"], "1");
}

#[tokio::test]
async fn cuts_streams_after_n_chunks() {
    let sim = Simulator::new(SimulatorSettings {
        fail_after_chunks: Some(2),
        ..fast()
    });
    let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three four"}]}"#;
    let response = sim
        .send(
            "sim",
            Operation::ChatCompletions,
            "m",
            Bytes::from_static(body),
        )
        .await
        .expect("response");
    let (chunks, error) = body_of(response).await;
    assert_eq!(chunks.len(), 3, "role chunk + 2 content chunks");
    assert!(error.expect("cut").contains("after 2 chunks"));
}

#[tokio::test(start_paused = true)]
async fn streams_at_the_configured_pace() {
    let sim = Simulator::new(SimulatorSettings {
        ttft: Duration::from_millis(200),
        tokens_per_second: 10.0,
        ..SimulatorSettings::default()
    });
    let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut response = sim
        .send(
            "sim",
            Operation::ChatCompletions,
            "m",
            Bytes::from_static(body),
        )
        .await
        .expect("response");
    let start = tokio::time::Instant::now();
    response.body.chunk().await.expect("first").expect("ok");
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    response.body.chunk().await.expect("second").expect("ok");
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[tokio::test]
async fn embeddings_are_deterministic_unit_vectors() {
    let sim = Simulator::new(fast());
    let body = br#"{"model":"e","input":["a","b","a"],"dimensions":8,"encoding_format":"base64"}"#;
    let response = sim
        .send("sim", Operation::Embeddings, "e", Bytes::from_static(body))
        .await
        .expect("response");
    let (chunks, _) = body_of(response).await;
    let v: serde_json::Value = serde_json::from_slice(&chunks.concat()).expect("json");
    let decode = |i: usize| -> Vec<f32> {
        let b64 = v["data"][i]["embedding"].as_str().expect("base64 string");
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).expect("b64");
        bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    assert_eq!(decode(0), vector("a", 8));
    assert_eq!(decode(0), decode(2));
    assert_ne!(decode(0), decode(1));
    let norm: f32 = decode(1).iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-4);
    assert_eq!(v["data"][2]["index"], 2);
}
