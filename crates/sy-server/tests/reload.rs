//! Live reconfiguration through `POST /admin/v1/reload`: atomic swap, bad configs rejected with the
//! reason while the old one keeps serving, in-flight requests unaffected, admin key required.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use sy_testkit::{FakeUpstream, Script};

fn config(base: &str, model: &str) -> String {
    format!(
        r#"
[auth]
admin_key = "admin-secret"

[providers.up]
kind = "openai-compatible"
base_url = "{base}/v1"

[[models]]
name = "{model}"
deployments = [{{ provider = "up", model = "upstream" }}]
"#
    )
}

async fn reload(gw: &TestGateway, key: Option<&str>) -> Answer {
    let mut request = Request::post(gw.url("/admin/v1/reload"));
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let Ok(request) = request.body(Full::new(Bytes::new())) else {
        panic!("cannot build the reload request");
    };
    collect(gw.send(request).await).await
}

fn model_names(gw_models: &serde_json::Value) -> Vec<String> {
    gw_models["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn reload_swaps_the_config_and_rejects_bad_ones() {
    let fake = FakeUpstream::start(Script::stream_every(
        &["a", "b", "c"],
        Duration::from_millis(100),
    ))
    .await;
    let text = Arc::new(Mutex::new(config(&fake.base_url(), "old-model")));
    let source_text = text.clone();
    let source: sy_server::ConfigSource =
        Arc::new(move || parse(&source_text.lock().expect("lock")));
    let initial = text.lock().expect("lock").clone();
    let gw = TestGateway::start_reloadable(&initial, Some(source)).await;

    assert_eq!(reload(&gw, None).await.status, 401);
    let wrong = reload(&gw, Some("admin-secreT")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "unauthorized");

    // A stream in flight when the config changes finishes on the config it started with.
    let stream = gw
        .post_stream(
            "/v1/chat/completions",
            r#"{"model":"old-model","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    let reader =
        tokio::spawn(async move { stream.into_body().collect().await.map(|c| c.to_bytes()) });

    *text.lock().expect("lock") = config(&fake.base_url(), "new-model");
    let ok = reload(&gw, Some("admin-secret")).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["status"], "reloaded");
    assert_eq!(
        model_names(&gw.get("/v1/models").await.json()),
        ["new-model"]
    );
    let old = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"old-model","messages":[{"role":"user","content":"x"}]}"#,
        )
        .await;
    assert_eq!(old.status, 404);

    let body = reader
        .await
        .expect("task")
        .expect("in-flight stream completes");
    assert!(sse_data(&body).last().is_some_and(|d| d == "[DONE]"));

    *text.lock().expect("lock") =
        config(&fake.base_url(), "newer").replace("openai-compatible", "quantum");
    let bad = reload(&gw, Some("admin-secret")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "invalid_config");
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("providers.up.kind: unknown kind `quantum`"),
        "{}",
        bad.text()
    );
    assert_eq!(
        model_names(&gw.get("/v1/models").await.json()),
        ["new-model"],
        "the running config keeps serving"
    );
    let served = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"new-model","messages":[{"role":"user","content":"x"}]}"#,
        )
        .await;
    assert_eq!(served.status, 200);
}

#[tokio::test]
async fn the_admin_api_is_off_without_an_admin_key() {
    let fake = FakeUpstream::start(Script::reply("x")).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let answer = reload(&gw, Some("anything")).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["error"]["code"], "admin_disabled");
}

#[tokio::test]
async fn reloading_under_load_fails_no_request() {
    let a = FakeUpstream::start(Script::reply("a")).await;
    let b = FakeUpstream::start(Script::reply("b")).await;
    let text = Arc::new(Mutex::new(config(&a.base_url(), "m")));
    let source_text = text.clone();
    let source: sy_server::ConfigSource =
        Arc::new(move || parse(&source_text.lock().expect("lock")));
    let initial = text.lock().expect("lock").clone();
    let gw = Arc::new(TestGateway::start_reloadable(&initial, Some(source)).await);

    let mut clients = Vec::new();
    for _ in 0..4 {
        let gw = gw.clone();
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..100 {
                statuses.push(gw.post("/v1/chat/completions", CHAT).await.status.as_u16());
            }
            statuses
        }));
    }
    for i in 0..20 {
        let base = if i % 2 == 0 {
            b.base_url()
        } else {
            a.base_url()
        };
        *text.lock().expect("lock") = config(&base, "m");
        assert_eq!(reload(&gw, Some("admin-secret")).await.status, 200);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut total = 0;
    for client in clients {
        let statuses = client.await.expect("client");
        total += statuses.len();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
    assert_eq!(total, 400);
    assert!(
        !a.requests().is_empty() && !b.requests().is_empty(),
        "both configs served traffic"
    );
}
