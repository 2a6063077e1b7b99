//! The sy-mock-upstream responder: direct calls to `Mock::respond`, loopback, and the real binary.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{chunks, h1, h2c, post, read_all, sse_data};
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sy_testkit::KitBody;
use sy_testkit::mock::{Mock, MockConfig, json_flag, run};

/// Every body frame separately, and whether the body ended with an error.
async fn frames(resp: Response<KitBody>) -> (Vec<Bytes>, bool) {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => out.push(f.into_data().unwrap()),
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

async fn json_of(resp: Response<KitBody>) -> Value {
    serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

fn post_chat(mock: &Mock, body: &str) -> Response<KitBody> {
    mock.respond(&Method::POST, "/v1/chat/completions", body.as_bytes())
}

#[tokio::test]
async fn default_non_stream_completion() {
    let mock = Mock::new(&MockConfig::default());
    let resp = post_chat(&mock, r#"{"model":"gpt-x","messages":[]}"#);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let len = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes()
        .len();
    assert!((200..400).contains(&len), "~300 bytes, got {len}");
    let v = json_of(post_chat(&mock, "{}")).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "mock-model");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"]["total_tokens"],
        12 + v["usage"]["completion_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn default_stream_frames_and_include_usage() {
    let mock = Mock::new(&MockConfig::default());
    let (frames_plain, failed) = frames(post_chat(&mock, r#"{"model":"m", "stream": true}"#)).await;
    assert!(!failed);
    assert_eq!(
        frames_plain.len(),
        12 + 1,
        "12 chunks, one frame each, then finish and [DONE] in one"
    );
    assert!(
        frames_plain
            .iter()
            .all(|f| f.starts_with(b"data: ") && f.ends_with(b"\n\n"))
    );
    let data = sse_data(&frames_plain.concat());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let plain = chunks(&data);
    assert!(plain.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(plain[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(plain[12]["choices"][0]["finish_reason"], "stop");

    let body = r#"{"model":"m","stream":true,"stream_options":{"include_usage" : true}}"#;
    let (frames_usage, _) = frames(post_chat(&mock, body)).await;
    assert_eq!(
        frames_usage.len(),
        12 + 1,
        "finish, usage and [DONE] in one frame"
    );
    let usage = chunks(&sse_data(&frames_usage.concat()));
    let (last, rest) = usage.split_last().unwrap();
    assert!(rest.iter().all(|c| c.get("usage") == Some(&Value::Null)));
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        last["usage"],
        json!({ "prompt_tokens": 12, "completion_tokens": 12, "total_tokens": 24 })
    );

    // stream:false and include_usage:false are not streams / usage requests.
    let resp = post_chat(
        &mock,
        r#"{"stream":false,"stream_options":{"include_usage":false}}"#,
    );
    assert_eq!(resp.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn stream_chunks_and_interval_are_configurable() {
    let config = MockConfig {
        stream_chunks: 3,
        chunk_interval: Duration::from_millis(20),
    };
    let mock = Mock::new(&config);
    let started = std::time::Instant::now();
    let (frames, _) = frames(post_chat(&mock, r#"{"stream":true}"#)).await;
    // Three words, then the finish chunk and [DONE] together.
    assert_eq!(frames.len(), 4);
    assert!(frames[3].ends_with(b"data: [DONE]\n\n"));
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "3 pauses of 20 ms"
    );
}

/// ConverseStream arrives at the chat stream's moments: as many deliveries, as many pauses.
#[tokio::test]
async fn converse_stream_is_paced_like_the_chat_stream() {
    let config = MockConfig {
        stream_chunks: 3,
        chunk_interval: Duration::from_millis(1),
    };
    let mock = Mock::new(&config);
    let (chat, _) = frames(post_chat(
        &mock,
        r#"{"stream":true,"stream_options":{"include_usage":true}}"#,
    ))
    .await;
    let resp = mock.respond(
        &Method::POST,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
        b"{}",
    );
    let (deliveries, failed) = frames(resp).await;
    assert!(!failed);
    assert_eq!(deliveries.len(), chat.len());
    let names = |bytes: &Bytes| -> Vec<String> {
        sy_testkit::bedrock::decode_frames(bytes)
            .unwrap()
            .into_iter()
            .map(|(_, name, _)| name)
            .collect()
    };
    let grouped: Vec<Vec<String>> = deliveries.iter().map(names).collect();
    assert_eq!(
        grouped,
        [
            vec!["messageStart", "contentBlockDelta"],
            vec!["contentBlockDelta"],
            vec!["contentBlockDelta"],
            vec!["contentBlockStop", "messageStop", "metadata"],
        ]
    );
}

#[tokio::test]
async fn tools_model() {
    let mock = Mock::new(&MockConfig::default());
    let v = json_of(post_chat(&mock, r#"{"model":"mock-tools"}"#)).await;
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let function = &choice["message"]["tool_calls"][0]["function"];
    assert_eq!(
        *function,
        json!({ "name": "get_weather", "arguments": r#"{"city":"Paris"}"# })
    );

    let (frames, _) = frames(post_chat(
        &mock,
        r#"{"model": "mock-tools", "stream": true}"#,
    ))
    .await;
    let chunks = chunks(&sse_data(&frames.concat()));
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .map(|t| &t[0])
        .collect();
    assert!(calls.len() >= 3);
    assert!(calls.iter().all(|c| c["index"] == 0));
    assert_eq!(calls[0]["id"], "call_mock_weather");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: String = calls
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(args, r#"{"city":"Paris"}"#);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn parallel_tools_model_interleaves_its_calls() {
    let mock = Mock::new(&MockConfig::default());
    let v = json_of(post_chat(&mock, r#"{"model":"mock-parallel-tools"}"#)).await;
    let names: Vec<&Value> = v["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["function"]["name"])
        .collect();
    assert_eq!(names, [&json!("get_weather"), &json!("get_time")]);

    let (frames, _) = frames(post_chat(
        &mock,
        r#"{"model": "mock-parallel-tools", "stream": true}"#,
    ))
    .await;
    let chunks = chunks(&sse_data(&frames.concat()));
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .map(|t| &t[0])
        .collect();
    let order: Vec<u64> = deltas
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        order,
        [0, 1, 0, 1, 0, 0],
        "call 1 starts before call 0 is done"
    );
    let args = |index: u64| -> String {
        deltas
            .iter()
            .filter(|c| c["index"] == index)
            .map(|c| c["function"]["arguments"].as_str().unwrap())
            .collect()
    };
    assert_eq!(args(0), r#"{"city":"Paris"}"#);
    assert_eq!(args(1), r#"{"tz":"Europe/Rome"}"#);
}

#[tokio::test]
async fn error_models() {
    let mock = Mock::new(&MockConfig::default());
    for status in [400u16, 401, 404, 429, 500, 503] {
        let resp = post_chat(
            &mock,
            &format!(r#"{{"model":"mock-error-{status}","stream":true}}"#),
        );
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            retry.as_deref(),
            if matches!(status, 429 | 503) {
                Some("1")
            } else {
                None
            }
        );
        let v = json_of(resp).await;
        assert!(v["error"]["message"].is_string() && v["error"]["type"].is_string());
        assert!(v["error"]["param"].is_null());
    }
    // Unknown error codes fall back to the default answer.
    assert_eq!(
        post_chat(&mock, r#"{"model":"mock-error-418"}"#).status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn embeddings_and_not_found() {
    let mock = Mock::new(&MockConfig::default());
    let embed =
        |body: Value| mock.respond(&Method::POST, "/v1/embeddings", body.to_string().as_bytes());
    let v = json_of(embed(
        json!({ "model": "e", "input": ["one", "two", "three"] }),
    ))
    .await;
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert_eq!(v["data"][2]["index"], 2);
    assert_eq!(v["data"][0]["embedding"], json!([0.25, -0.5, 0.125, 1.0]));
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let v = json_of(embed(
        json!({ "input": "one", "encoding_format": "base64" }),
    ))
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let expected: Vec<u8> = [0.25f32, -0.5, 0.125, 1.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    assert_eq!(
        v["data"][0]["embedding"],
        sy_testkit::b64::encode(&expected)
    );

    assert_eq!(
        embed(json!({ "model": "e" })).status(),
        StatusCode::BAD_REQUEST
    );
    for (method, path) in [
        (Method::GET, "/v1/chat/completions"),
        (Method::POST, "/v1/completions"),
    ] {
        let resp = mock.respond(&method, path, b"{}");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert!(json_of(resp).await["error"]["message"].is_string());
    }
}

#[test]
fn json_flag_tolerates_whitespace() {
    assert!(json_flag(br#"{"stream":true}"#, b"\"stream\""));
    assert!(json_flag(b"{\"stream\" :\n true}", b"\"stream\""));
    assert!(json_flag(
        br#"{"stream_options":{},"stream": true}"#,
        b"\"stream\""
    ));
    assert!(!json_flag(br#"{"stream":false}"#, b"\"stream\""));
    assert!(!json_flag(
        br#"{"stream_options":{"include_usage":true}}"#,
        b"\"stream\""
    ));
}

#[tokio::test]
async fn serves_over_loopback_h1_and_h2c() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(run(listener, Arc::new(Mock::new(&MockConfig::default()))));
    for client in [h1(), h2c()] {
        let url = format!("http://{addr}/v1/chat/completions");
        let resp = post(&client, &url, &json!({ "model": "m", "stream": true })).await;
        let (body, failed) = read_all(resp).await;
        assert!(!failed);
        assert_eq!(sse_data(&body).len(), 14);
    }
    server.abort();
}

/// Kills the spawned binary even when an assertion fails first.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_address_and_answers() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_sy-mock-upstream"))
            .args(["--listen", "127.0.0.1:0", "--stream-chunks", "2"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let url = format!("http://{addr}/v1/chat/completions");
    let resp = post(&h1(), &url, &json!({ "model": "m", "stream": true })).await;
    let data = sse_data(&read_all(resp).await.0);
    assert_eq!(data.len(), 4, "2 chunks, finish, [DONE]");
    let resp = post(&h2c(), &url, &json!({ "model": "mock-error-429" })).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    drop(child);

    let status = Command::new(env!("CARGO_BIN_EXE_sy-mock-upstream"))
        .arg("--bogus")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
