//! Budgets through the gateway's HTTP surface: set through the admin API, held at admission from an
//! upper bound of the request's cost, refused in OpenAI's shape when spent, settled to the actual
//! cost by the usage ledger, and never overspent by concurrent requests.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Answer, CHAT, TestGateway};
use serde_json::{Value, json};
use sy_testkit::{FakeUpstream, Script};

const ADMIN: &str = "Bearer admin-secret";

/// Keys mode, model `m` priced at $2.50 in and $10 out per million tokens.
async fn gateway(upstream: &FakeUpstream, extra: &str) -> TestGateway {
    let base = upstream.base_url();
    let config = format!(
        r#"
[auth]
mode = "keys"
admin_key = "admin-secret"

[ledger]
{extra}

[providers.up]
kind = "openai-compatible"
base_url = "{base}/v1"

[[models]]
name = "m"
deployments = [{{ provider = "up", model = "upstream-m" }}]

[[prices]]
provider = "up"
model = "upstream-m"
input = "2.50"
output = "10.00"
"#
    );
    TestGateway::start(&config).await
}

async fn admin(gw: &TestGateway, method: &str, path: &str, body: Option<Value>) -> Answer {
    let body = body.map(|b| b.to_string());
    gw.call(method, path, &[("authorization", ADMIN)], body.as_deref())
        .await
}

async fn mint(gw: &TestGateway, request: Value) -> (String, String) {
    let answer = admin(gw, "POST", "/admin/v1/keys", Some(request)).await;
    assert_eq!(answer.status, 201, "{}", answer.text());
    let key = answer.json();
    (
        key["id"].as_str().unwrap().to_owned(),
        key["key"].as_str().unwrap().to_owned(),
    )
}

async fn chat(gw: &TestGateway, secret: &str, body: &str) -> Answer {
    let bearer = format!("Bearer {secret}");
    gw.call(
        "POST",
        "/v1/chat/completions",
        &[("authorization", &bearer)],
        Some(body),
    )
    .await
}

/// 32 bytes of messages (an estimate of 8 input tokens) and at most 100 output tokens: an upper
/// bound of 8 × $2.50 + 100 × $10 per million = $0.00102.
const BOUNDED: &str =
    r#"{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#;
const BOUNDED_STREAM: &str =
    r#"{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

async fn budget_of(gw: &TestGateway, path: &str) -> Value {
    gw.gateway.ledger().unwrap().flush().await;
    let answer = admin(gw, "GET", path, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["budget"].clone()
}

#[tokio::test]
async fn fifty_calls_at_once_against_a_budget_for_twenty_admit_exactly_twenty() {
    // Streams that take two seconds: all fifty are in flight together.
    let upstream =
        FakeUpstream::start(Script::stream_every(&["a", "b"], Duration::from_secs(1))).await;
    let gw = Arc::new(gateway(&upstream, "").await);
    // 20.5 upper bounds: room for 20 requests, not 21.
    let (id, secret) = mint(&gw, json!({"tenant": "acme", "budget_usd": "0.02091"})).await;
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let (gw, secret) = (Arc::clone(&gw), secret.clone());
            tokio::spawn(async move { chat(&gw, &secret, BOUNDED_STREAM).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!((ok, refused.len()), (20, 30));

    let refusal = refused[0];
    let error = &refusal.json()["error"];
    assert_eq!(error["type"], "insufficient_quota");
    assert_eq!(error["code"], "budget_exceeded");
    assert_eq!(refusal.header("x-should-retry"), "false");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&id), "{message}");
    assert!(message.contains("0.02091 USD per month (UTC)"), "{message}");
    assert!(message.contains("resets at"), "{message}");

    // Settled to what the twenty streams really cost: 5 × $2.50 + 2 × $10 per million each. The
    // rest of the twenty bounds ($0.0204) stays leased to this node until it idles.
    let budget = budget_of(&gw, &format!("/admin/v1/keys/{id}")).await;
    assert_eq!(budget["spent_usd"], "0.00065", "{budget}");
    assert_eq!(budget["held_usd"], "0.01975", "{budget}");

    // The money freed by settling admits more calls again.
    assert_eq!(chat(&gw, &secret, BOUNDED).await.status, 200);
}

#[tokio::test]
async fn a_failed_call_gives_its_hold_back_and_a_tenant_budget_binds_every_key() {
    let upstream = FakeUpstream::start(Script::status(500, "{}")).await;
    let gw = gateway(&upstream, "").await;
    let created = admin(
        &gw,
        "POST",
        "/admin/v1/tenants",
        Some(json!({"id": "acme", "budget_usd": "0.00106", "budget_period": "day", "budget_tz": "America/New_York"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        created.json()["budget"],
        json!({"usd": "0.00106", "period": "day", "tz": "America/New_York", "enforcement": "hard"})
    );
    let (_, first) = mint(&gw, json!({"tenant": "acme"})).await;
    let (_, second) = mint(&gw, json!({"tenant": "acme"})).await;
    assert_eq!(chat(&gw, &first, BOUNDED).await.status, 502);
    // Nothing spent; the failed call's bound went back to the node's lease.
    let budget = budget_of(&gw, "/admin/v1/tenants/acme").await;
    assert_eq!(
        (&budget["spent_usd"], &budget["held_usd"]),
        (&json!("0.00"), &json!("0.00102"))
    );
    assert!(
        budget["resets_at"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00-05:00"),
        "local midnight: {budget}"
    );

    upstream.set_script(Script::reply("one two"));
    assert_eq!(chat(&gw, &first, BOUNDED).await.status, 200);
    gw.gateway.ledger().unwrap().flush().await;
    // Each call holds its $0.00102 bound and settles to $0.0000325: the tenant's $0.00106 covers
    // the bound after one call's spending, not after two, whichever key calls.
    assert_eq!(chat(&gw, &second, BOUNDED).await.status, 200);
    gw.gateway.ledger().unwrap().flush().await;
    let over = chat(&gw, &second, BOUNDED).await;
    assert_eq!(over.status, 429, "{}", over.text());
    assert!(over.text().contains("the tenant `acme`"), "{}", over.text());
}

#[tokio::test]
async fn soft_budgets_warn_and_let_calls_through() {
    let upstream = FakeUpstream::start(Script::reply("one two")).await;
    let gw = gateway(&upstream, "").await;
    let (id, secret) = mint(
        &gw,
        json!({"tenant": "acme", "budget_usd": "0.001", "budget_enforcement": "soft"}),
    )
    .await;
    let over = chat(&gw, &secret, BOUNDED).await;
    assert_eq!(over.status, 200, "{}", over.text());
    assert_eq!(
        over.header("x-switchyard-budget-warning"),
        format!("soft budget exceeded: key {id}")
    );
}

#[tokio::test]
async fn the_cost_header_reports_the_exact_cost_when_enabled() {
    let upstream = FakeUpstream::start(Script::reply("one two three")).await;
    let gw = gateway(&upstream, "cost_header = true").await;
    let (_, secret) = mint(&gw, json!({"tenant": "acme"})).await;
    let answer = chat(&gw, &secret, CHAT).await;
    // 5 × $2.50 + 3 × $10 per million.
    assert_eq!(answer.header("x-switchyard-cost-usd"), "0.0000425");

    let off = gateway(&upstream, "").await;
    let (_, secret) = mint(&off, json!({"tenant": "acme"})).await;
    let answer = chat(&off, &secret, CHAT).await;
    assert!(!answer.headers.contains_key("x-switchyard-cost-usd"));
}

#[tokio::test]
async fn budget_fields_are_checked_patched_and_cleared() {
    let upstream = FakeUpstream::start(Script::reply("hi")).await;
    let gw = gateway(&upstream, "").await;
    let bad = [
        (json!({"tenant": "acme", "budget_usd": 5}), "decimal string"),
        (
            json!({"tenant": "acme", "budget_usd": "5.1234567891"}),
            "nine decimals",
        ),
        (
            json!({"tenant": "acme", "budget_usd": "-1"}),
            "amount of dollars",
        ),
        (
            json!({"tenant": "acme", "budget_usd": "5", "budget_period": "30d"}),
            "unknown period",
        ),
        (
            json!({"tenant": "acme", "budget_usd": "5", "budget_tz": "Mars/Base"}),
            "Mars/Base",
        ),
        (
            json!({"tenant": "acme", "budget_usd": "5", "budget_enforcement": "maybe"}),
            "hard or soft",
        ),
        (
            json!({"tenant": "acme", "budget_period": "day"}),
            "need `budget_usd`",
        ),
    ];
    for (request, says) in bad {
        let answer = admin(&gw, "POST", "/admin/v1/keys", Some(request.clone())).await;
        assert_eq!(answer.status, 400, "{request}: {}", answer.text());
        assert_eq!(answer.json()["error"]["code"], "invalid_request");
        assert!(answer.text().contains(says), "{request}: {}", answer.text());
    }

    let (id, _) = mint(
        &gw,
        json!({"tenant": "acme", "budget_usd": "25", "budget_period": "week"}),
    )
    .await;
    let path = format!("/admin/v1/keys/{id}");
    let patched = admin(
        &gw,
        "PATCH",
        &path,
        Some(json!({"budget_tz": "Europe/Berlin"})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(
        patched.json()["budget"],
        json!({"usd": "25.00", "period": "week", "tz": "Europe/Berlin", "enforcement": "hard"}),
        "fields left out keep their values"
    );
    let cleared = admin(&gw, "PATCH", &path, Some(json!({"budget_usd": null}))).await;
    assert_eq!(cleared.json()["budget"], Value::Null);
}
