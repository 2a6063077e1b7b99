//! Errors in OpenAI's shape and status, upstream failures classified, failover before the first byte,
//! and a gateway that keeps serving after bad input.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sy_testkit::{FakeUpstream, Script, openai_error};

fn error_of(answer: &Answer) -> serde_json::Value {
    let json = answer.json();
    assert!(
        json["error"]["message"].is_string(),
        "OpenAI error shape: {json}"
    );
    assert!(
        json["error"]["type"].is_string(),
        "OpenAI error shape: {json}"
    );
    assert!(answer.headers.contains_key("x-request-id"));
    json["error"].clone()
}

#[tokio::test]
async fn bad_requests_get_clear_400s_and_the_gateway_keeps_serving() {
    let fake = FakeUpstream::start(Script::reply("fine")).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("{\"model\": \"m\", \"messages\": [", None, "not valid JSON"),
        ("[]", None, "JSON object"),
        (
            r#"{"messages":[{"role":"user","content":"x"}]}"#,
            Some("model"),
            "model",
        ),
        (r#"{"model":"m"}"#, Some("messages"), "messages"),
        (
            r#"{"model":"m","messages":[]}"#,
            Some("messages"),
            "at least one",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
            Some("stream"),
            "invalid type",
        ),
    ];
    for (body, param, needle) in cases {
        let answer = gw.post("/v1/chat/completions", body).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text());
        let error = error_of(&answer);
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["param"].as_str(), param, "{body}");
        assert!(
            error["message"].as_str().unwrap_or("").contains(needle),
            "{body}: {error}"
        );
    }
    let invalid_utf8 = gw
        .post_raw(
            "/v1/chat/completions",
            Some("application/json"),
            &b"{\"model\":\"\xff\"}"[..],
        )
        .await;
    assert_eq!(invalid_utf8.status, 400);
    assert!(
        error_of(&invalid_utf8)["message"]
            .as_str()
            .unwrap_or("")
            .contains("UTF-8")
    );

    let form = gw
        .post_raw(
            "/v1/chat/completions",
            Some("application/x-www-form-urlencoded"),
            CHAT,
        )
        .await;
    assert_eq!(form.status, 415);
    assert_eq!(fake.requests().len(), 0, "nothing bad reached the upstream");

    assert_eq!(
        gw.post("/v1/chat/completions", CHAT).await.status,
        200,
        "still serving"
    );
}

#[tokio::test]
async fn unknown_models_and_paths_are_404() {
    let fake = FakeUpstream::start(Script::reply("x")).await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let answer = gw
        .post("/v1/chat/completions", &CHAT.replace("\"m\"", "\"gpt-9\""))
        .await;
    assert_eq!(answer.status, 404);
    let error = error_of(&answer);
    assert_eq!(error["code"], "model_not_found");
    assert!(error["message"].as_str().unwrap_or("").contains("gpt-9"));
    let path = gw.get("/v1/nothing-here").await;
    assert_eq!(path.status, 404);
    assert_eq!(error_of(&path)["code"], "unknown_url");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let fake = FakeUpstream::start(Script::reply("x")).await;
    let config = format!(
        "[server]\nmax_body_bytes = 1000\n{}",
        single(&fake.base_url(), "")
    );
    let gw = TestGateway::start(&config).await;
    let big = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(2000)
    );
    let answer = gw.post("/v1/chat/completions", &big).await;
    assert_eq!(answer.status, 413);
    assert_eq!(error_of(&answer)["code"], "request_too_large");
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
}

#[tokio::test]
async fn upstream_client_errors_pass_back_faithfully() {
    let body = r#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    let fake = FakeUpstream::start(Script::Status {
        status: 429,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("retry-after".into(), "3".into()),
            ("x-ratelimit-remaining-requests".into(), "0".into()),
            ("x-internal-upstream".into(), "secret-topology".into()),
        ],
        body: body.into(),
    })
    .await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 429);
    assert_eq!(
        answer.text(),
        body,
        "the upstream's own error body, byte for byte"
    );
    assert_eq!(answer.header("retry-after"), "3");
    assert_eq!(answer.header("x-ratelimit-remaining-requests"), "0");
    assert!(!answer.headers.contains_key("x-internal-upstream"));
    assert_eq!(answer.header("x-switchyard-provider"), "up");

    fake.set_script(openai_error(
        400,
        "Unsupported parameter: 'max_tokens'",
        "invalid_request_error",
        Some("unsupported_parameter"),
    ));
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 400);
    assert_eq!(error_of(&answer)["code"], "unsupported_parameter");
}

#[tokio::test]
async fn upstream_failures_map_to_502_503_504() {
    let fake = FakeUpstream::start(openai_error(
        401,
        "Incorrect API key provided",
        "invalid_request_error",
        Some("invalid_api_key"),
    ))
    .await;
    let gw = TestGateway::start(&single(&fake.base_url(), "first_byte_timeout_ms = 300")).await;

    let auth = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(
        auth.status, 502,
        "never 401: the caller's key is not at fault"
    );
    let error = error_of(&auth);
    assert_eq!(error["code"], "upstream_auth_failed");
    let message = error["message"].as_str().unwrap_or("");
    assert!(
        message.contains("`up`") && message.contains("credentials"),
        "{message}"
    );

    fake.set_script(openai_error(500, "boom", "server_error", None));
    let failed = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(failed.status, 502);
    assert!(
        error_of(&failed)["message"]
            .as_str()
            .unwrap_or("")
            .contains("boom")
    );

    fake.set_script(Script::Status {
        status: 503,
        headers: vec![("retry-after".into(), "2".into())],
        body: "overloaded".into(),
    });
    let unavailable = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.header("retry-after"), "2");
    assert_eq!(unavailable.header("retry-after-ms"), "2000");

    fake.set_script(Script::Hang);
    let started = Instant::now();
    let timeout = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(timeout.status, 504);
    assert_eq!(error_of(&timeout)["code"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_unreachable_upstream_is_502() {
    let gw = TestGateway::start(&single("http://127.0.0.1:9", "connect_timeout_ms = 500")).await;
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 502);
    let message = error_of(&answer)["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains("cannot connect"), "{message}");
}

fn two_deployments(primary: &str, backup: &str) -> String {
    format!(
        r#"
[providers.primary]
kind = "openai-compatible"
base_url = "{primary}/v1"
first_byte_timeout_ms = 300
connect_timeout_ms = 500

[providers.backup]
kind = "openai-compatible"
base_url = "{backup}/v1"

[[models]]
name = "m"
deployments = [
  {{ provider = "primary", model = "p-model" }},
  {{ provider = "backup", model = "b-model", name = "backup-east" }},
]
"#
    )
}

#[tokio::test]
async fn fails_over_before_the_first_byte() {
    let backup = FakeUpstream::start(Script::reply("from backup")).await;
    let primary = FakeUpstream::start(openai_error(503, "overloaded", "server_error", None)).await;

    for (script, why) in [
        (openai_error(503, "overloaded", "server_error", None), "503"),
        (
            openai_error(429, "slow down", "requests", Some("rate_limit_exceeded")),
            "429",
        ),
        (openai_error(500, "boom", "server_error", None), "500"),
        (Script::Hang, "first-byte timeout"),
    ] {
        primary.set_script(script);
        // A fresh gateway per case, so the primary's health starts clean.
        let gw =
            TestGateway::start(&two_deployments(&primary.base_url(), &backup.base_url())).await;
        let answer = gw.post("/v1/chat/completions", CHAT).await;
        assert_eq!(answer.status, 200, "{why}: {}", answer.text());
        assert_eq!(
            answer.json()["choices"][0]["message"]["content"],
            "from backup"
        );
        assert_eq!(answer.header("x-switchyard-attempts"), "2", "{why}");
        assert_eq!(answer.header("x-switchyard-provider"), "backup");
        assert_eq!(answer.header("x-switchyard-deployment"), "backup-east");
    }
    let sent = backup.requests();
    assert_eq!(
        sent[0].json()["model"],
        "b-model",
        "each target gets its own model id"
    );

    // A client error is the caller's fault: no failover.
    let gw = TestGateway::start(&two_deployments(&primary.base_url(), &backup.base_url())).await;
    primary.set_script(openai_error(400, "bad", "invalid_request_error", None));
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.header("x-switchyard-attempts"), "1");
}

#[tokio::test]
async fn fails_over_when_the_primary_refuses_connections() {
    let backup = FakeUpstream::start(Script::stream(&["ok"])).await;
    let gw = TestGateway::start(&two_deployments("http://127.0.0.1:9", &backup.base_url())).await;
    let answer = collect(gw.post_stream("/v1/chat/completions", CHAT_STREAM).await).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-switchyard-attempts"), "2");
    assert!(answer.text().ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn never_fails_over_after_the_first_byte() {
    let primary = FakeUpstream::start(Script::stream_cut(&["a", "b", "c"], 2)).await;
    let backup = FakeUpstream::start(Script::stream(&["backup"])).await;
    let gw = TestGateway::start(&two_deployments(&primary.base_url(), &backup.base_url())).await;
    let answer = collect(gw.post_stream("/v1/chat/completions", CHAT_STREAM).await).await;
    assert_eq!(answer.header("x-switchyard-attempts"), "1");
    assert!(answer.text().contains("\"error\""));
    assert!(!answer.text().contains("backup"));
    assert_eq!(backup.requests().len(), 0);
}

#[tokio::test]
async fn sheds_load_with_503_and_retry_after_when_saturated() {
    let fake = FakeUpstream::start(Script::Hang).await;
    let config = format!(
        "[server]\nmax_concurrent_requests = 2\n{}",
        single(&fake.base_url(), "")
    );
    let gw = std::sync::Arc::new(TestGateway::start(&config).await);
    let mut held = Vec::new();
    for _ in 0..2 {
        let gw = gw.clone();
        held.push(tokio::spawn(async move {
            gw.post("/v1/chat/completions", CHAT).await
        }));
    }
    for _ in 0..100 {
        if fake.requests().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shed = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(shed.status, 503);
    assert_eq!(shed.header("retry-after"), "1");
    assert_eq!(error_of(&shed)["code"], "gateway_overloaded");
    assert_eq!(
        gw.get("/healthz").await.status,
        200,
        "operations endpoints are not shed"
    );
    for h in held {
        h.abort();
    }
    // Slots come back when the held requests end.
    fake.set_script(Script::reply("ok"));
    let mut status = 0;
    for _ in 0..100 {
        status = gw.post("/v1/chat/completions", CHAT).await.status.as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_failing_deployment_is_cooled_down_and_probed_back() {
    let backup = FakeUpstream::start(Script::reply("from backup")).await;
    let primary = FakeUpstream::start(openai_error(500, "boom", "server_error", None)).await;
    let gw = TestGateway::start(&two_deployments(&primary.base_url(), &backup.base_url())).await;
    for _ in 0..3 {
        let answer = gw.post("/v1/chat/completions", CHAT).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-switchyard-attempts"), "2");
    }
    assert_eq!(primary.requests().len(), 3);
    // Three consecutive failures: the primary cools down and is not tried at all.
    for _ in 0..5 {
        let answer = gw.post("/v1/chat/completions", CHAT).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-switchyard-attempts"), "1");
        assert_eq!(answer.header("x-switchyard-provider"), "backup");
    }
    assert_eq!(
        primary.requests().len(),
        3,
        "no traffic to a cooling deployment"
    );
}

#[tokio::test]
async fn weighted_routing_splits_traffic_through_the_gateway() {
    let a = FakeUpstream::start(Script::reply("a")).await;
    let b = FakeUpstream::start(Script::reply("b")).await;
    let config = format!(
        r#"
[providers.a]
kind = "openai-compatible"
base_url = "{}/v1"
[providers.b]
kind = "openai-compatible"
base_url = "{}/v1"
[[models]]
name = "m"
routing = "weighted"
deployments = [{{ provider = "a", model = "x", weight = 3 }}, {{ provider = "b", model = "x", weight = 1 }}]
"#,
        a.base_url(),
        b.base_url()
    );
    let gw = TestGateway::start(&config).await;
    for _ in 0..400 {
        assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
    }
    assert_eq!((a.requests().len(), b.requests().len()), (300, 100));
}

#[tokio::test]
async fn retries_the_same_deployment_after_a_backoff() {
    let fake = FakeUpstream::start(Script::Sequence(vec![
        openai_error(503, "busy", "server_error", None),
        Script::reply("second time lucky"),
    ]))
    .await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let started = Instant::now();
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-switchyard-attempts"), "2");
    assert_eq!(fake.requests().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(25),
        "backed off before revisiting"
    );
}

#[tokio::test]
async fn honours_a_short_retry_after_and_returns_a_long_one_to_the_client() {
    let fake = FakeUpstream::start(Script::Sequence(vec![
        Script::Status {
            status: 429,
            headers: vec![("retry-after".into(), "1".into())],
            body: r#"{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#.into(),
        },
        Script::reply("ok"),
    ]))
    .await;
    let gw = TestGateway::start(&single(&fake.base_url(), "")).await;
    let started = Instant::now();
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited out Retry-After: 1"
    );

    fake.set_script(Script::Status {
        status: 429,
        headers: vec![("retry-after".into(), "30".into())],
        body: r#"{"error":{"message":"quota","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#.into(),
    });
    let started = Instant::now();
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("retry-after"), "30");
    assert_eq!(
        answer.header("x-switchyard-attempts"),
        "1",
        "a long wait is the client's to make"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_deployment_can_have_tighter_time_limits_than_its_provider() {
    let fake = FakeUpstream::start(Script::Hang).await;
    let config = format!(
        r#"
[providers.up]
kind = "openai-compatible"
base_url = "{}/v1"
first_byte_timeout_ms = 60000

[[models]]
name = "m"
max_attempts = 1
deployments = [{{ provider = "up", model = "x", first_byte_timeout_ms = 200 }}]
"#,
        fake.base_url()
    );
    let gw = TestGateway::start(&config).await;
    let started = Instant::now();
    let answer = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(answer.status, 504);
    assert!(
        error_of(&answer)["message"]
            .as_str()
            .unwrap_or("")
            .contains("200 ms")
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}
