//! Streams relayed event by event: untouched bytes, usage tapped and stripped when the gateway asked for
//! it, cut streams ending in an error event, and client disconnects cancelling the upstream.

mod common;

use std::time::{Duration, Instant};

use common::*;
use http_body_util::BodyExt;
use sy_testkit::{FakeUpstream, Script};

#[tokio::test]
async fn events_arrive_as_the_upstream_sends_them() {
    let fake = FakeUpstream::start(Script::stream_every(
        &["a", "b", "c", "d", "e"],
        Duration::from_millis(150),
    ))
    .await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let started = Instant::now();
    let response = gw.post_stream("/v1/chat/completions", CHAT_STREAM).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    assert_eq!(response.headers()["x-switchyard-provider"], "up");
    let mut body = response.into_body();
    let mut first_content = None;
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("frame");
        if let Some(data) = frame.data_ref() {
            if first_content.is_none()
                && String::from_utf8_lossy(data).contains("\"content\":\"a\"")
            {
                first_content = Some(started.elapsed());
            }
            all.extend_from_slice(data);
        }
    }
    let total = started.elapsed();
    let first = first_content.expect("saw the first piece");
    assert!(total >= Duration::from_millis(700), "total {total:?}");
    assert!(
        first < Duration::from_millis(450),
        "first piece after {first:?}, stream took {total:?}: events must not be held back"
    );
    let datas = sse_data(&all);
    assert_eq!(datas.last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn usage_the_gateway_asked_for_is_stripped() {
    let fake = FakeUpstream::start(Script::stream(&["Hel", "lo"])).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let answer = collect(gw.post_stream("/v1/chat/completions", CHAT_STREAM).await).await;
    assert_eq!(answer.status, 200);

    let sent = fake.requests()[0].json();
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "the gateway asks the upstream for usage"
    );
    let text = answer.text();
    assert!(
        !text.contains("usage"),
        "the client did not ask for usage: {text}"
    );
    let datas = sse_data(&answer.body);
    let chunks: Vec<serde_json::Value> = datas[..datas.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("json"))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| !c["choices"].as_array().is_none_or(Vec::is_empty))
    );
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello");
    assert_eq!(datas.last().map(String::as_str), Some("[DONE]"));

    // The tap still counted the tokens the upstream reported.
    let metrics = gw.get("/metrics").await.text();
    assert!(
        metrics.contains(r#"switchyard_tokens_total{model="m",provider="up",kind="output"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn usage_the_client_asked_for_is_relayed_untouched() {
    let fake = FakeUpstream::start(Script::stream(&["x"])).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let body = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    let answer = collect(gw.post_stream("/v1/chat/completions", body).await).await;
    let datas = sse_data(&answer.body);
    let usage: serde_json::Value =
        serde_json::from_str(&datas[datas.len() - 2]).expect("usage chunk");
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 5);
    assert_eq!(
        fake.requests()[0].body,
        body.replace("\"m\"", "\"upstream-m\"")
    );
}

#[tokio::test]
async fn the_stream_option_can_be_turned_off_per_provider() {
    let fake = FakeUpstream::start(Script::stream(&["x"])).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "stream_usage = false")).await;
    let _ = collect(gw.post_stream("/v1/chat/completions", CHAT_STREAM).await).await;
    assert_eq!(
        fake.requests()[0].body,
        CHAT_STREAM.replace("\"m\"", "\"upstream-m\""),
        "nothing added for servers that reject stream_options"
    );
}

#[tokio::test]
async fn raw_framing_is_preserved_crlf_and_split_events() {
    let frames: [&[u8]; 4] = [
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n: keep-alive\r\n\r\nda",
        b"ta: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xc3",
        b"\xa9\"}}]}\r\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n",
        b"data: [DONE]\r\n\r\n",
    ];
    let expected: Vec<u8> = frames.concat();
    let fake = FakeUpstream::start(Script::raw_sse(&frames, Duration::from_millis(5))).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "stream_usage = false")).await;
    let answer = collect(gw.post_stream("/v1/chat/completions", CHAT_STREAM).await).await;
    assert_eq!(
        answer.body.to_vec(),
        expected,
        "bytes relayed exactly, comments and CRLF included"
    );
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_with_an_error_event_not_done() {
    let fake = FakeUpstream::start(Script::stream_cut(&["a", "b", "c", "d"], 3)).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let answer = collect(gw.post_stream("/v1/chat/completions", CHAT_STREAM).await).await;
    assert_eq!(answer.status, 200, "the head was already sent");
    let datas = sse_data(&answer.body);
    assert!(!datas.iter().any(|d| d == "[DONE]"), "{datas:?}");
    let last: serde_json::Value =
        serde_json::from_str(datas.last().expect("events")).expect("json");
    assert_eq!(last["error"]["type"], "server_error");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("broke"),
        "{last}"
    );
    let metrics = gw.get("/metrics").await.text();
    assert!(metrics.contains(r#"outcome="failed""#), "{metrics}");
}

#[tokio::test]
async fn an_upstream_that_goes_silent_is_cut_by_the_idle_timeout() {
    let frames: [&[u8]; 2] = [
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        b"data: [DONE]\n\n",
    ];
    let fake = FakeUpstream::start(Script::raw_sse(&frames, Duration::from_secs(30))).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "idle_timeout_ms = 300")).await;
    let started = Instant::now();
    let answer = collect(gw.post_stream("/v1/chat/completions", CHAT_STREAM).await).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let datas = sse_data(&answer.body);
    assert_eq!(datas.len(), 2, "{datas:?}");
    assert!(datas[1].contains("went silent"), "{datas:?}");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_request() {
    let fake = FakeUpstream::start(Script::stream_every(
        &["a", "b", "c", "d", "e", "f"],
        Duration::from_millis(200),
    ))
    .await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let response = gw.post_stream("/v1/chat/completions", CHAT_STREAM).await;
    let mut body = response.into_body();
    let first = body.frame().await.expect("a frame").expect("ok");
    assert!(first.is_data());
    drop(body);
    assert!(
        fake.wait_for_closed_early(1, Duration::from_secs(5)).await,
        "the upstream stream must be closed when the client goes away"
    );
    // The abandoned stream is accounted as such.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = gw.get("/metrics").await.text();
        if metrics.contains(r#"outcome="client_aborted""#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.contains(r#"outcome="client_aborted""#), "{metrics}");
}

#[tokio::test]
async fn a_non_streaming_client_that_leaves_cancels_too() {
    let fake = FakeUpstream::start(Script::Hang).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let request = gw.post("/v1/chat/completions", CHAT);
    let _ = tokio::time::timeout(Duration::from_millis(300), request).await;
    let mut aborted = false;
    for _ in 0..100 {
        if gw
            .get("/metrics")
            .await
            .text()
            .contains(r#"outcome="client_aborted""#)
        {
            aborted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        aborted,
        "the dropped request is accounted as client-aborted"
    );
    assert!(
        gw.get("/metrics")
            .await
            .text()
            .contains("switchyard_in_flight_requests 0")
    );
}
