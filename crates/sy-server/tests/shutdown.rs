//! Graceful shutdown: stop accepting, let in-flight streams finish within the grace period, then exit.

mod common;

use std::time::{Duration, Instant};

use common::*;
use http_body_util::BodyExt;
use sy_testkit::{FakeUpstream, Script};

#[tokio::test]
async fn in_flight_streams_finish_after_shutdown_begins() {
    let fake = FakeUpstream::start(Script::stream_every(
        &["a", "b", "c", "d"],
        Duration::from_millis(100),
    ))
    .await;
    let mut gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let response = gw.post_stream("/v1/chat/completions", CHAT_STREAM).await;
    assert_eq!(response.status(), 200);
    let reader =
        tokio::spawn(async move { response.into_body().collect().await.map(|c| c.to_bytes()) });
    tokio::time::sleep(Duration::from_millis(50)).await;

    gw.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(gw.gateway.is_draining());
    let refused = tokio::net::TcpStream::connect(gw.addr).await;
    assert!(refused.is_err(), "no new connections once shutdown begins");

    let body = reader.await.expect("task").expect("the stream completes");
    let datas = sse_data(&body);
    assert_eq!(
        datas.last().map(String::as_str),
        Some("[DONE]"),
        "{datas:?}"
    );
    gw.join().await;
}

#[tokio::test]
async fn the_grace_period_bounds_shutdown() {
    let fake =
        FakeUpstream::start(Script::stream_every(&["a", "b"], Duration::from_secs(30))).await;
    let config = format!(
        "[server]\nshutdown_grace_ms = 300\n{}",
        single(&fake.base_url(), "")
    );
    let mut gw = TestGateway::start(&config).await;
    let response = gw.post_stream("/v1/chat/completions", CHAT_STREAM).await;
    let reader =
        tokio::spawn(async move { response.into_body().collect().await.map(|c| c.to_bytes()) });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    gw.trigger_shutdown();
    gw.join().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    drop(reader);
}
