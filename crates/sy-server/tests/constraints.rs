//! Capabilities, regions and routing hints through the gateway: requests go only where they can be
//! served, and are refused with the reason, before any upstream call, when nowhere can.

mod common;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::Full;
use sy_testkit::{FakeUpstream, Script};

fn config(eu: &str, us: &str, hints: bool) -> String {
    format!(
        r#"
[server]
routing_hints = {hints}

[providers.eu]
kind = "openai-compatible"
base_url = "{eu}/v1"
[providers.us]
kind = "openai-compatible"
base_url = "{us}/v1"

[[models]]
name = "m"
deployments = [
  {{ provider = "us", model = "gpt-3.5-turbo", region = "us-east-1" }},
  {{ provider = "eu", model = "gpt-4o", region = "eu-west-1", name = "eu-4o" }},
]
"#
    )
}

async fn post_with(gw: &TestGateway, body: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request =
        Request::post(gw.url("/v1/chat/completions")).header("content-type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let Ok(request) = request.body(Full::new(Bytes::from(body.to_owned()))) else {
        panic!("cannot build the request");
    };
    collect(gw.send(request).await).await
}

const IMAGE: &str = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}"#;

#[tokio::test]
async fn requests_go_only_where_they_can_be_served() {
    let eu = FakeUpstream::start(Script::reply("eu")).await;
    let us = FakeUpstream::start(Script::reply("us")).await;
    let gw = TestGateway::start(&config(&eu.base_url(), &us.base_url(), false)).await;

    let text = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(
        text.header("x-switchyard-provider"),
        "us",
        "the first deployment, by priority"
    );

    let image = gw.post("/v1/chat/completions", IMAGE).await;
    assert_eq!(image.status, 200);
    assert_eq!(
        image.header("x-switchyard-deployment"),
        "eu-4o",
        "only gpt-4o sees images"
    );
    assert_eq!(image.header("x-switchyard-attempts"), "1");

    let long = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "word ".repeat(16_000)
    );
    let answer = gw.post("/v1/chat/completions", &long).await;
    assert_eq!(
        answer.header("x-switchyard-deployment"),
        "eu-4o",
        "too long for a 16k window"
    );

    let embed = gw
        .post("/v1/embeddings", r#"{"model":"m","input":"x"}"#)
        .await;
    assert_eq!(embed.status, 400);
    let message = embed.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        message.contains("no deployment of `m` can serve this request"),
        "{message}"
    );
    assert!(
        message.contains("us/gpt-3.5-turbo does not support embeddings"),
        "{message}"
    );
    assert_eq!(
        eu.requests().len() + us.requests().len(),
        3,
        "refused before any upstream call"
    );
}

#[tokio::test]
async fn routing_hints_need_the_operators_permission() {
    let eu = FakeUpstream::start(Script::reply("eu")).await;
    let us = FakeUpstream::start(Script::reply("us")).await;
    let closed = TestGateway::start(&config(&eu.base_url(), &us.base_url(), false)).await;
    let refused = post_with(&closed, CHAT, &[("x-switchyard-region", "eu-west-1")]).await;
    assert_eq!(refused.status, 400);
    assert!(refused.text().contains("server.routing_hints"));

    let open = TestGateway::start(&config(&eu.base_url(), &us.base_url(), true)).await;
    let resident = post_with(
        &open,
        CHAT,
        &[("x-switchyard-region", "eu-west-1, eu-central-1")],
    )
    .await;
    assert_eq!(resident.status, 200);
    assert_eq!(resident.header("x-switchyard-provider"), "eu");

    let named = post_with(&open, CHAT, &[("x-switchyard-deployment", "eu-4o")]).await;
    assert_eq!(named.header("x-switchyard-deployment"), "eu-4o");

    let unknown = post_with(&open, CHAT, &[("x-switchyard-deployment", "mars")]).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["error"]["param"], "x-switchyard-deployment");

    let nowhere = post_with(&open, IMAGE, &[("x-switchyard-region", "us-east-1")]).await;
    assert_eq!(nowhere.status, 400);
    let message = nowhere.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains("does not support images"), "{message}");
    assert!(
        message.contains("outside the requested regions (us-east-1)"),
        "{message}"
    );
}
