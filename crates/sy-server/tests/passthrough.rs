//! The pass-through lane against fake OpenAI-style upstreams: bytes forwarded with only `model`
//! rewritten, the right URL and auth per provider kind, answers relayed untouched.

mod common;

use common::*;
use sy_testkit::{FakeUpstream, Script};

#[tokio::test]
async fn forwards_the_body_with_only_model_rewritten() {
    let fake = FakeUpstream::start(Script::reply("Hello")).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let body = r#"{ "model" : "m",  "messages":[{"role":"user","content":"hi \"model\": \"m\""}], "x_vendor": {"keep": [1, 2.50, null]}, "seed": 7 }"#;
    let answer = gw.post("/v1/chat/completions", body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path_and_query, "/v1/chat/completions");
    assert_eq!(
        String::from_utf8_lossy(&sent.body),
        body.replacen("\"m\",", "\"upstream-m\",", 1),
        "only the model value changes; unknown fields, spacing and numbers survive"
    );
    assert_eq!(
        sent.header("authorization").as_deref(),
        Some("Bearer sk-test-secret")
    );
    assert_eq!(
        sent.header("content-type").as_deref(),
        Some("application/json")
    );

    let json = answer.json();
    assert_eq!(json["choices"][0]["message"]["content"], "Hello");
    assert_eq!(
        json["model"], "upstream-m",
        "the upstream's answer is relayed as it came"
    );
    assert!(answer.header("x-request-id").starts_with("req_"));
    assert_eq!(answer.header("x-switchyard-provider"), "up");
    assert_eq!(answer.header("x-switchyard-deployment"), "up/upstream-m");
    assert_eq!(answer.header("x-switchyard-attempts"), "1");
    assert_eq!(
        answer.header("x-switchyard-upstream-request-id"),
        "upstream-1"
    );
}

#[tokio::test]
async fn azure_deployment_urls_and_api_key() {
    let fake = FakeUpstream::start(Script::reply("ok")).await;
    let config = format!(
        r#"
[providers.az]
kind = "azure"
base_url = "{}"
api_key = "env:TEST_KEY"
api_version = "2024-10-21"

[[models]]
name = "m"
deployments = [{{ provider = "az", model = "gpt-4o-prod" }}]
[[models]]
name = "e"
deployments = [{{ provider = "az", model = "emb-prod" }}]
"#,
        fake.base_url()
    );
    let gw = TestGateway::start(&config).await;
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
    assert_eq!(
        gw.post("/v1/embeddings", r#"{"model":"e","input":"x"}"#)
            .await
            .status,
        200
    );
    let requests = fake.requests();
    assert_eq!(
        requests[0].path_and_query,
        "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        requests[1].path_and_query,
        "/openai/deployments/emb-prod/embeddings?api-version=2024-10-21"
    );
    for r in &requests {
        assert_eq!(r.header("api-key").as_deref(), Some("sk-test-secret"));
        assert_eq!(
            r.header("authorization"),
            None,
            "Azure keys go in api-key only"
        );
    }
}

#[tokio::test]
async fn azure_v1_and_keyless_compatible_servers() {
    let fake = FakeUpstream::start(Script::reply("ok")).await;
    let config = format!(
        r#"
[providers.az]
kind = "azure"
base_url = "{base}"
api_key = "k"

[providers.local]
kind = "openai-compatible"
base_url = "{base}/v1"

[[models]]
name = "m"
deployments = [{{ provider = "az", model = "dep" }}]
[[models]]
name = "local"
deployments = [{{ provider = "local", model = "llama" }}]
"#,
        base = fake.base_url()
    );
    let gw = TestGateway::start(&config).await;
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
    let local = CHAT.replace("\"m\"", "\"local\"");
    assert_eq!(gw.post("/v1/chat/completions", &local).await.status, 200);
    let requests = fake.requests();
    assert_eq!(requests[0].path_and_query, "/openai/v1/chat/completions");
    assert_eq!(requests[0].json()["model"], "dep");
    assert_eq!(requests[1].path_and_query, "/v1/chat/completions");
    assert_eq!(requests[1].header("authorization"), None);
    assert_eq!(requests[1].json()["model"], "llama");
}

#[tokio::test]
async fn embeddings_pass_through_with_the_clients_encoding() {
    let fake = FakeUpstream::start(Script::reply("unused")).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let answer = gw
        .post(
            "/v1/embeddings",
            r#"{"model":"m","input":["a","b"],"encoding_format":"base64"}"#,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["data"].as_array().map(Vec::len), Some(2));
    assert!(
        json["data"][0]["embedding"].is_string(),
        "base64 kept as the upstream sent it"
    );
    let sent = fake.requests()[0].json();
    assert_eq!(sent["encoding_format"], "base64");
    assert_eq!(sent["model"], "upstream-m");
    assert_eq!(fake.requests()[0].path_and_query, "/v1/embeddings");
}

#[tokio::test]
async fn models_health_readiness_and_metrics() {
    let fake = FakeUpstream::start(Script::reply("ok")).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let models = gw.get("/v1/models").await.json();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "m");
    assert_eq!(models["data"][0]["object"], "model");
    assert_eq!(gw.get("/healthz").await.status, 200);
    let ready = gw.get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");

    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
    let metrics = gw.get("/metrics").await.text();
    assert!(
        metrics.contains(r#"switchyard_requests_total{endpoint="chat_completions",status="200",outcome="completed"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"switchyard_tokens_total{model="m",provider="up",kind="input"} 5"#),
        "{metrics}"
    );
}
