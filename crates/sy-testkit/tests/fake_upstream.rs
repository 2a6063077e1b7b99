//! FakeUpstream over real loopback connections: shapes, framing, recording and disconnects.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::{chunks, h1, h2c, post, read_all, sse_data};
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sy_testkit::{FakeUpstream, Script, openai_error};

fn chat(stream: bool, include_usage: Option<bool>) -> Value {
    let mut body =
        json!({ "model": "gpt-test", "messages": [{ "role": "user", "content": "hi" }] });
    if stream {
        body["stream"] = json!(true);
    }
    if let Some(flag) = include_usage {
        body["stream_options"] = json!({ "include_usage": flag });
    }
    body
}

#[tokio::test]
async fn non_stream_reply_has_openai_shape() {
    let up = FakeUpstream::start(Script::reply("hello there")).await;
    let resp = post(
        &h1(),
        &format!("{}/v1/chat/completions", up.base_url()),
        &chat(false, None),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["x-request-id"], "upstream-1");
    let (body, failed) = read_all(resp).await;
    assert!(!failed);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-test");
    assert!(v["id"].is_string() && v["created"].is_u64());
    assert_eq!(
        v["choices"][0]["message"],
        json!({ "role": "assistant", "content": "hello there" })
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({ "prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7 })
    );
}

#[tokio::test]
async fn stream_without_include_usage() {
    let up = FakeUpstream::start(Script::stream(&["Hel", "lo"])).await;
    for include_usage in [None, Some(false)] {
        let resp = post(
            &h1(),
            &format!("{}/v1/chat/completions", up.base_url()),
            &chat(true, include_usage),
        )
        .await;
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let (body, failed) = read_all(resp).await;
        assert!(!failed);
        let data = sse_data(&body);
        assert_eq!(data.len(), 5, "role, 2 pieces, finish, [DONE]: {data:?}");
        assert_eq!(data.last().unwrap(), "[DONE]");
        let chunks = chunks(&data);
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "gpt-test")
        );
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({ "role": "assistant", "content": "" })
        );
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hel");
        assert_eq!(chunks[2]["choices"][0]["delta"]["content"], "lo");
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    }
}

#[tokio::test]
async fn stream_with_include_usage_over_h1_and_h2c() {
    let up = FakeUpstream::start(Script::stream(&["a", "b", "c"])).await;
    for client in [h1(), h2c()] {
        let resp = post(
            &client,
            &format!("{}/v1/chat/completions", up.base_url()),
            &chat(true, Some(true)),
        )
        .await;
        let (body, failed) = read_all(resp).await;
        assert!(!failed);
        let data = sse_data(&body);
        assert_eq!(
            data.len(),
            7,
            "role, 3 pieces, finish, usage, [DONE]: {data:?}"
        );
        assert_eq!(data[6], "[DONE]");
        let chunks = chunks(&data);
        let (usage, rest) = chunks.split_last().unwrap();
        assert!(
            rest.iter()
                .all(|c| c["usage"].is_null() && c.get("usage").is_some())
        );
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(
            usage["usage"],
            json!({ "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8 })
        );
    }
}

#[tokio::test]
async fn stream_cut_ends_with_error_and_no_done() {
    let up = FakeUpstream::start(Script::stream_cut(&["a", "b", "c"], 2)).await;
    for client in [h1(), h2c()] {
        let resp = post(
            &client,
            &format!("{}/v1/chat/completions", up.base_url()),
            &chat(true, None),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let (body, failed) = read_all(resp).await;
        assert!(failed, "the body must end with an error");
        let data = sse_data(&body);
        assert_eq!(data.len(), 2);
        assert!(!data.iter().any(|d| d == "[DONE]"));
    }
    // A cut larger than the stream still never sends [DONE].
    up.set_script(Script::stream_cut(&["a"], 100));
    let resp = post(
        &h1(),
        &format!("{}/v1/chat/completions", up.base_url()),
        &chat(true, None),
    )
    .await;
    let (body, failed) = read_all(resp).await;
    assert!(failed);
    assert_eq!(sse_data(&body).len(), 3);
    assert_eq!(
        up.closed_early(),
        0,
        "a scripted cut is not a client disconnect"
    );
}

#[tokio::test]
async fn records_requests_in_order() {
    let up = FakeUpstream::start(Script::reply("ok")).await;
    let req = http::Request::post(format!("{}/v1/chat/completions?x=1", up.base_url()))
        .header("authorization", "Bearer sk-upstream")
        .header("x-custom", "yes")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            chat(false, None).to_string(),
        )))
        .unwrap();
    let resp = h1().request(req).await.unwrap();
    resp.into_body().collect().await.unwrap();
    let get = http::Request::get(format!("{}/v1/models", up.base_url()))
        .body(http_body_util::Full::default())
        .unwrap();
    let resp = h1().request(get).await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "upstream-2");
    resp.into_body().collect().await.unwrap();

    let recorded = up.requests();
    assert_eq!(recorded.len(), 2);
    let first = &recorded[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path_and_query, "/v1/chat/completions?x=1");
    assert_eq!(
        first.header("authorization").as_deref(),
        Some("Bearer sk-upstream")
    );
    assert_eq!(first.header("X-Custom").as_deref(), Some("yes"));
    assert_eq!(first.header("missing"), None);
    assert_eq!(first.json(), chat(false, None));
    assert_eq!(recorded[1].method, "GET");
    assert_eq!(recorded[1].path_and_query, "/v1/models");
    assert!(recorded[1].body.is_empty());
    assert_eq!(recorded[1].json(), Value::Null);
}

#[tokio::test]
async fn closed_early_counts_client_disconnects() {
    let up = FakeUpstream::start(Script::stream_every(&["x"; 40], Duration::from_millis(25))).await;
    for (i, client) in [h1(), h2c()].into_iter().enumerate() {
        let resp = post(
            &client,
            &format!("{}/v1/chat/completions", up.base_url()),
            &chat(true, None),
        )
        .await;
        let mut body = resp.into_body();
        body.frame().await.unwrap().unwrap();
        drop(body);
        drop(client);
        assert!(
            up.wait_for_closed_early(i + 1, Duration::from_secs(5))
                .await,
            "disconnect {i} not seen"
        );
    }
    assert_eq!(up.closed_early(), 2);
    // A stream read to the end is not counted.
    up.set_script(Script::stream(&["a"]));
    let resp = post(
        &h1(),
        &format!("{}/v1/chat/completions", up.base_url()),
        &chat(true, None),
    )
    .await;
    read_all(resp).await;
    assert!(
        !up.wait_for_closed_early(3, Duration::from_millis(100))
            .await
    );
}

#[tokio::test]
async fn status_and_openai_error() {
    let up = FakeUpstream::start(openai_error(
        429,
        "slow down",
        "requests",
        Some("rate_limit_exceeded"),
    ))
    .await;
    let resp = post(
        &h1(),
        &format!("{}/v1/chat/completions", up.base_url()),
        &chat(false, None),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let (body, _) = read_all(resp).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    let expected = json!({ "message": "slow down", "type": "requests", "param": null, "code": "rate_limit_exceeded" });
    assert_eq!(v["error"], expected);

    up.set_script(Script::Status {
        status: 503,
        headers: vec![("retry-after".into(), "7".into())],
        body: "busy".into(),
    });
    let resp = post(
        &h1(),
        &format!("{}/v1/chat/completions", up.base_url()),
        &chat(true, None),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.headers()["x-request-id"], "upstream-2");
    assert_eq!(read_all(resp).await.0, "busy");
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let up = FakeUpstream::start(Script::reply("unused")).await;
    let url = format!("{}/v1/embeddings", up.base_url());
    let resp = post(&h1(), &url, &json!({ "model": "emb", "input": ["a", "b"] })).await;
    let v: Value = serde_json::from_slice(&read_all(resp).await.0).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "emb");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["data"][1],
        json!({ "object": "embedding", "index": 1, "embedding": [1.0, 0.5, -0.25] })
    );
    assert_eq!(v["usage"], json!({ "prompt_tokens": 5, "total_tokens": 5 }));

    let body = json!({ "model": "emb", "input": "a", "encoding_format": "base64" });
    let v: Value =
        serde_json::from_slice(&read_all(post(&h1(), &url, &body).await).await.0).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // [0.0, 0.5, -0.25] as f32 LE.
    assert_eq!(v["data"][0]["embedding"], "AAAAAAAAAD8AAIC+");
}

#[tokio::test]
async fn tool_call_stream_and_non_stream() {
    let up = FakeUpstream::start(Script::tool_call(
        "call_1",
        "get_weather",
        r#"{"city":"Paris"}"#,
    ))
    .await;
    let url = format!("{}/v1/chat/completions", up.base_url());
    let v: Value = serde_json::from_slice(
        &read_all(post(&h1(), &url, &chat(false, None)).await)
            .await
            .0,
    )
    .unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["type"], "function");
    assert_eq!(
        call["function"],
        json!({ "name": "get_weather", "arguments": r#"{"city":"Paris"}"# })
    );

    let data = sse_data(
        &read_all(post(&h1(), &url, &chat(true, Some(true))).await)
            .await
            .0,
    );
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks = chunks(&data);
    assert_eq!(chunks.len(), 6, "role, open, 2 fragments, finish, usage");
    assert_eq!(
        chunks[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        ""
    );
    let args: String = chunks[2..4]
        .iter()
        .map(|c| {
            let call = &c["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(call["index"], 0);
            call["function"]["arguments"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(args, r#"{"city":"Paris"}"#);
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[5]["usage"]["total_tokens"], 8);
}

#[tokio::test]
async fn raw_sse_bytes_pass_through() {
    let frames: [&[u8]; 3] = [b"data: {\"a\":1}\r\n", b"\r\ndata: [DO", b"NE]\r\n\r\n"];
    let up = FakeUpstream::start(Script::raw_sse(&frames, Duration::from_millis(5))).await;
    let resp = post(
        &h1(),
        &format!("{}/v1/chat/completions", up.base_url()),
        &chat(true, None),
    )
    .await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (body, failed) = read_all(resp).await;
    assert!(!failed);
    assert_eq!(body, frames.concat());
}

#[tokio::test]
async fn hang_never_answers() {
    let up = FakeUpstream::start(Script::Hang).await;
    let url = format!("{}/v1/chat/completions", up.base_url());
    let pending = tokio::time::timeout(
        Duration::from_millis(200),
        post(&h1(), &url, &chat(false, None)),
    )
    .await;
    assert!(pending.is_err(), "Hang must not answer");
    assert_eq!(up.requests().len(), 1);
}
