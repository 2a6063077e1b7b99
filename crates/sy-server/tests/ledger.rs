//! The usage ledger through the gateway: one record per request, tokens in disjoint buckets, exact
//! cost from the deployment's price, read back through `GET /admin/v1/usage`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

mod common;

use std::time::Duration;

use common::{Answer, CHAT, CHAT_STREAM, TestGateway};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sy_testkit::{FakeUpstream, Script};

const ADMIN: &str = "Bearer admin-secret";

/// Model `m` on `priced` ($2.50 in, $1.25 cached, $3 cache write, $10 out per million) and
/// `free-form` (no price).
async fn gateway(upstream: &FakeUpstream) -> TestGateway {
    let base = upstream.base_url();
    let config = format!(
        r#"
[auth]
admin_key = "admin-secret"

[providers.priced]
kind = "openai-compatible"
base_url = "{base}/v1"

[providers.free-form]
kind = "openai-compatible"
base_url = "{base}/v1"

[[models]]
name = "m"
deployments = [{{ provider = "priced", model = "upstream-m" }}]

[[models]]
name = "unpriced"
deployments = [{{ provider = "free-form", model = "upstream-u" }}]

[[prices]]
provider = "priced"
model = "upstream-m"
input = "2.50"
cache_read = "1.25"
cache_write = "3.00"
output = "10.00"
"#
    );
    TestGateway::start(&config).await
}

async fn usage(gw: &TestGateway, query: &str) -> Vec<Value> {
    let answer: Answer = gw
        .call(
            "GET",
            &format!("/admin/v1/usage?{query}"),
            &[("authorization", ADMIN)],
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["rows"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_call_leaves_one_priced_record_and_streaming_costs_the_same() {
    let upstream = FakeUpstream::start(Script::reply("one two three")).await;
    let gw = gateway(&upstream).await;
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
    let rows = usage(&gw, "group_by=model,provider").await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["model"], "m");
    assert_eq!(row["provider"], "priced");
    assert_eq!(row["requests"], 1);
    assert_eq!(row["input_tokens"], 5);
    assert_eq!(row["output_tokens"], 3);
    // 5 × $2.50 + 3 × $10 per million = $0.0000425
    assert_eq!(row["cost_usd"], "0.0000425");

    // The same answer streamed: the gateway asks for usage and prices it identically.
    upstream.set_script(Script::stream(&["one", "two", "three"]));
    let streamed = gw.post("/v1/chat/completions", CHAT_STREAM).await;
    assert_eq!(streamed.status, 200);
    let rows = usage(&gw, "group_by=status").await;
    assert_eq!(rows[0]["status"], "completed");
    assert_eq!(rows[0]["requests"], 2);
    assert_eq!(rows[0]["cost_usd"], "0.000085", "two calls, one price each");
}

#[tokio::test]
async fn cached_written_and_reasoning_tokens_are_priced_in_their_own_buckets() {
    let body = json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "upstream-m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 300, "total_tokens": 1300,
                  "prompt_tokens_details": {"cached_tokens": 500, "cache_write_tokens": 100},
                  "completion_tokens_details": {"reasoning_tokens": 200}}
    });
    let upstream = FakeUpstream::start(Script::Status {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
    })
    .await;
    let gw = gateway(&upstream).await;
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
    let row = &usage(&gw, "").await[0];
    assert_eq!(
        (
            &row["input_tokens"],
            &row["cache_read_tokens"],
            &row["cache_write_tokens"],
            &row["output_tokens"],
            &row["reasoning_tokens"]
        ),
        (
            &json!(400),
            &json!(500),
            &json!(100),
            &json!(100),
            &json!(200)
        )
    );
    // 400 × 2.50 + 500 × 1.25 + 100 × 3 + (100 + 200) × 10 = 4,925 µ$ → $0.004925
    assert_eq!(row["cost_usd"], "0.004925");
}

#[tokio::test]
async fn an_unknown_price_is_null_never_zero() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = gateway(&upstream).await;
    let body = r#"{"model":"unpriced","messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(gw.post("/v1/chat/completions", body).await.status, 200);
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
    let rows = usage(&gw, "group_by=model").await;
    let unpriced = rows.iter().find(|r| r["model"] == "unpriced").unwrap();
    assert_eq!(unpriced["cost_usd"], Value::Null);
    assert_eq!(unpriced["unpriced_requests"], 1);
    assert_eq!(
        unpriced["output_tokens"], 1,
        "tokens are counted all the same"
    );
    let total = &usage(&gw, "").await[0];
    assert_eq!(
        total["cost_usd"],
        Value::Null,
        "a total with an unknown part is unknown"
    );
    assert_eq!(total["priced_cost_usd"], "0.0000225");
}

#[tokio::test]
async fn failed_and_abandoned_calls_are_recorded_too() {
    let upstream =
        FakeUpstream::start(Script::status(500, r#"{"error":{"message":"boom"}}"#)).await;
    let gw = gateway(&upstream).await;
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 502);
    let rows = usage(&gw, "group_by=status").await;
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(rows[0]["output_tokens"], 0);
    assert_eq!(
        rows[0]["cost_usd"], "0.00",
        "a failed call consumed nothing"
    );

    // A stream the client walks away from: recorded from what was delivered, as an estimate.
    upstream.set_script(Script::stream_every(
        &["a", "b", "c", "d", "e", "f"],
        Duration::from_millis(100),
    ));
    let response = gw.post_stream("/v1/chat/completions", CHAT_STREAM).await;
    let mut body = response.into_body();
    let mut seen = 0;
    while seen < 3 {
        if let Some(Ok(frame)) = body.frame().await
            && frame.data_ref().is_some()
        {
            seen += 1;
        }
    }
    drop(body);
    let mut aborted = None;
    for _ in 0..50 {
        let rows = usage(&gw, "group_by=status").await;
        aborted = rows.into_iter().find(|r| r["status"] == "client_aborted");
        if aborted.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let aborted = aborted.expect("the abandoned stream is recorded");
    assert!(aborted["output_tokens"].as_u64().unwrap() >= 3, "{aborted}");
    assert!(aborted["input_tokens"].as_u64().unwrap() > 0, "{aborted}");
    assert_ne!(aborted["cost_usd"], "0.00", "never recorded as free");
}

#[tokio::test]
async fn usage_queries_are_checked() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = gateway(&upstream).await;
    for bad in ["group_by=colour", "since=yesterday", "frobnicate=1"] {
        let answer = gw
            .call(
                "GET",
                &format!("/admin/v1/usage?{bad}"),
                &[("authorization", ADMIN)],
                None,
            )
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text());
        assert_eq!(answer.json()["error"]["code"], "invalid_request");
    }
    let anonymous = gw.call("GET", "/admin/v1/usage", &[], None).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn with_sync_durability_the_record_is_stored_before_the_answer_ends() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let config = format!(
        "[ledger]\ndurability = \"sync\"\n{}",
        common::single(&upstream.base_url(), "")
    );
    let gw = TestGateway::start(&config).await;
    let store = gw.gateway.store().expect("store").clone();
    let total = || async {
        store
            .usage_report(&sy_store::UsageQuery::default())
            .await
            .expect("report")[0]
            .requests
    };
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status, 200);
    // No flush: the record was written before the response was.
    assert_eq!(total().await, 1);
    let streamed = gw.post("/v1/chat/completions", CHAT_STREAM).await;
    assert_eq!(streamed.status, 200);
    assert_eq!(total().await, 2);
}

#[tokio::test]
async fn a_call_abandoned_while_the_upstream_works_is_estimated_not_free() {
    let upstream = FakeUpstream::start(Script::Hang).await;
    let gw = gateway(&upstream).await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        gw.post("/v1/chat/completions", CHAT),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the upstream hangs, so the client gives up"
    );
    let mut aborted = None;
    for _ in 0..50 {
        let rows = usage(&gw, "group_by=status,provider").await;
        aborted = rows.into_iter().find(|r| r["status"] == "client_aborted");
        if aborted.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let aborted = aborted.expect("the abandoned call is recorded");
    assert_eq!(
        aborted["provider"], "priced",
        "with the deployment it was sent to"
    );
    assert!(aborted["input_tokens"].as_u64().unwrap() > 0, "{aborted}");
    assert_ne!(aborted["cost_usd"], "0.00", "{aborted}");
}
