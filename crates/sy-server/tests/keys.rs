//! Keys mode through the gateway's HTTP surface: the admin API for tenants and keys, 401/403 in
//! OpenAI's shape, revocation, per-key and per-tenant rate limits with their headers.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Answer, CHAT, TestGateway, single};
use serde_json::{Value, json};
use sy_testkit::{FakeUpstream, Script};

const ADMIN: &str = "Bearer admin-secret";

async fn keys_gateway(upstream: &FakeUpstream) -> TestGateway {
    let config = format!(
        "[auth]\nmode = \"keys\"\nadmin_key = \"admin-secret\"\n{}",
        single(&upstream.base_url(), "")
    );
    TestGateway::start(&config).await
}

async fn admin(gw: &TestGateway, method: &str, path: &str, body: Option<Value>) -> Answer {
    let body = body.map(|b| b.to_string());
    gw.call(method, path, &[("authorization", ADMIN)], body.as_deref())
        .await
}

/// Mints a key through the admin API and returns `(id, secret)`.
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

fn error_code(answer: &Answer) -> (String, String) {
    let e = &answer.json()["error"];
    (
        e["type"].as_str().unwrap_or("").to_owned(),
        e["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn calls_need_a_valid_key_and_get_openai_shaped_401s() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;

    let none = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(none.status, 401);
    assert_eq!(error_code(&none).1, "missing_api_key");
    assert!(none.headers.contains_key("x-request-id"));

    let wrong = chat(&gw, "sk-sy-not-a-real-key", CHAT).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        error_code(&wrong),
        ("invalid_request_error".into(), "invalid_api_key".into())
    );
    assert!(
        upstream.requests().is_empty(),
        "refused calls never reach an upstream"
    );

    let (_, secret) = mint(&gw, json!({"tenant": "acme", "name": "ci"})).await;
    let ok = chat(&gw, &secret, CHAT).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    // x-api-key works too (the Anthropic SDK sends it).
    let ok = gw
        .call(
            "POST",
            "/v1/chat/completions",
            &[("x-api-key", &secret)],
            Some(CHAT),
        )
        .await;
    assert_eq!(ok.status, 200);
    let models = gw
        .call(
            "GET",
            "/v1/models",
            &[("authorization", &format!("Bearer {secret}"))],
            None,
        )
        .await;
    assert_eq!(models.status, 200);
    assert_eq!(gw.get("/v1/models").await.status, 401);
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_seconds() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;
    let (id, secret) = mint(&gw, json!({"tenant": "acme"})).await;
    assert_eq!(chat(&gw, &secret, CHAT).await.status, 200);

    let revoked = admin(&gw, "POST", &format!("/admin/v1/keys/{id}/revoke"), None).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(revoked.json()["status"], "revoked");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = chat(&gw, &secret, CHAT).await;
        if answer.status == 401 {
            assert_eq!(error_code(&answer).1, "key_revoked");
            break;
        }
        assert_eq!(answer.status, 200);
        assert!(
            Instant::now() < deadline,
            "the revoked key still works after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn keys_limited_to_models_get_403_and_see_only_their_models() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;
    let (_, only_other) = mint(&gw, json!({"tenant": "acme", "models": ["other"]})).await;
    let denied = chat(&gw, &only_other, CHAT).await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        error_code(&denied),
        ("permission_error".into(), "model_not_allowed".into())
    );
    let models = gw
        .call(
            "GET",
            "/v1/models",
            &[("authorization", &format!("Bearer {only_other}"))],
            None,
        )
        .await;
    assert_eq!(models.json()["data"], json!([]));

    let (_, only_m) = mint(&gw, json!({"tenant": "acme", "models": ["m"]})).await;
    assert_eq!(chat(&gw, &only_m, CHAT).await.status, 200);
}

#[tokio::test]
async fn expired_keys_and_disabled_tenants_are_refused() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;
    let (_, expired) = mint(
        &gw,
        json!({"tenant": "acme", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let answer = chat(&gw, &expired, CHAT).await;
    assert_eq!(answer.status, 401);
    assert_eq!(error_code(&answer).1, "key_expired");

    let (_, secret) = mint(&gw, json!({"tenant": "beta"})).await;
    assert_eq!(chat(&gw, &secret, CHAT).await.status, 200);
    let disabled = admin(&gw, "DELETE", "/admin/v1/tenants/beta", None).await;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.json()["disabled"], true);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = chat(&gw, &secret, CHAT).await;
        if answer.status == 403 {
            assert_eq!(error_code(&answer).1, "tenant_disabled");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a disabled tenant's key still works"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_key_over_its_requests_per_minute_gets_429_with_openai_headers() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;
    let (_, secret) = mint(&gw, json!({"tenant": "acme", "rpm": 3})).await;
    for remaining in [2, 1, 0] {
        let ok = chat(&gw, &secret, CHAT).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("x-ratelimit-limit-requests"), "3");
        assert_eq!(
            ok.header("x-ratelimit-remaining-requests"),
            remaining.to_string()
        );
    }
    let limited = chat(&gw, &secret, CHAT).await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        error_code(&limited),
        ("requests".into(), "rate_limit_exceeded".into())
    );
    let retry_after: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert!(limited.header("retry-after-ms").parse::<u64>().is_ok());
    assert_eq!(limited.header("x-ratelimit-remaining-requests"), "0");
    assert_eq!(upstream.requests().len(), 3, "the refused call never left");
}

#[tokio::test]
async fn a_tenant_limit_is_shared_by_its_keys() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;
    let created = admin(
        &gw,
        "POST",
        "/admin/v1/tenants",
        Some(json!({"id": "acme", "rpm": 2})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let (_, a) = mint(&gw, json!({"tenant": "acme"})).await;
    let (_, b) = mint(&gw, json!({"tenant": "acme"})).await;
    assert_eq!(chat(&gw, &a, CHAT).await.status, 200);
    assert_eq!(chat(&gw, &b, CHAT).await.status, 200);
    let limited = chat(&gw, &a, CHAT).await;
    assert_eq!(limited.status, 429);
    assert!(
        limited.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenant `acme`")
    );
}

#[tokio::test]
async fn tokens_per_minute_are_estimated_then_corrected_by_usage() {
    // The upstream reports 5 + 1 tokens; the estimate holds the whole max_tokens budget.
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;
    let (_, secret) = mint(&gw, json!({"tenant": "acme", "tpm": 600})).await;
    let big = r#"{"model":"m","max_tokens":400,"messages":[{"role":"user","content":"hi"}]}"#;
    // Each call reserves ~410 tokens at admission, but gives back all but 6 when it ends, so
    // calls one after another keep fitting under 600.
    for _ in 0..5 {
        let ok = chat(&gw, &secret, big).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
    let remaining: u64 = chat(&gw, &secret, CHAT)
        .await
        .header("x-ratelimit-remaining-tokens")
        .parse()
        .unwrap();
    assert!(
        remaining > 500,
        "usage corrected the estimates: {remaining}"
    );
    // A call whose estimate alone is over what is left is refused before any upstream call.
    let huge = r#"{"model":"m","max_tokens":100000,"messages":[{"role":"user","content":"hi"}]}"#;
    let limited = chat(&gw, &secret, huge).await;
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(error_code(&limited).0, "tokens");
}

#[tokio::test]
async fn concurrent_requests_beyond_the_limit_are_refused() {
    let upstream = FakeUpstream::start(Script::stream_every(
        &["a", "b", "c"],
        Duration::from_millis(300),
    ))
    .await;
    let gw = keys_gateway(&upstream).await;
    let (_, secret) = mint(&gw, json!({"tenant": "acme", "max_concurrent": 1})).await;
    let stream = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let (first, second) = tokio::join!(chat(&gw, &secret, stream), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        chat(&gw, &secret, stream).await
    });
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 429, "{}", second.text());
    // The first stream has ended, so its lease is back.
    assert_eq!(chat(&gw, &secret, stream).await.status, 200);
}

#[tokio::test]
async fn the_admin_api_manages_tenants_and_keys_with_stable_codes() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;

    let no_key = gw.call("GET", "/admin/v1/tenants", &[], None).await;
    assert_eq!(no_key.status, 401);
    assert_eq!(no_key.json()["error"]["code"], "unauthorized");

    let t = admin(
        &gw,
        "POST",
        "/admin/v1/tenants",
        Some(json!({"id": "acme", "tpm": 1000})),
    )
    .await;
    assert_eq!(t.status, 201);
    assert_eq!(t.json()["tpm"], 1000);
    let dup = admin(
        &gw,
        "POST",
        "/admin/v1/tenants",
        Some(json!({"id": "acme"})),
    )
    .await;
    assert_eq!(
        (dup.status.as_u16(), dup.json()["error"]["code"].clone()),
        (409, json!("tenant_exists"))
    );
    let bad = admin(
        &gw,
        "POST",
        "/admin/v1/tenants",
        Some(json!({"id": "Not Valid!"})),
    )
    .await;
    assert_eq!(
        (bad.status.as_u16(), bad.json()["error"]["code"].clone()),
        (400, json!("invalid_request"))
    );
    let missing = admin(&gw, "GET", "/admin/v1/tenants/nobody", None).await;
    assert_eq!(
        (
            missing.status.as_u16(),
            missing.json()["error"]["code"].clone()
        ),
        (404, json!("tenant_not_found"))
    );
    let patched = admin(
        &gw,
        "PATCH",
        "/admin/v1/tenants/acme",
        Some(json!({"tpm": null, "rpm": 5})),
    )
    .await;
    assert_eq!(patched.json()["tpm"], Value::Null);
    assert_eq!(patched.json()["rpm"], 5);
    let list = admin(&gw, "GET", "/admin/v1/tenants", None).await;
    assert_eq!(list.json()["data"].as_array().unwrap().len(), 1);

    let created = admin(
        &gw,
        "POST",
        "/admin/v1/keys",
        Some(json!({"tenant": "acme", "name": "ci", "aws_access_key": true, "rpm": 10})),
    )
    .await;
    assert_eq!(created.status, 201);
    let key = created.json();
    let secret = key["key"].as_str().unwrap();
    assert!(
        secret.starts_with("sk-sy-") && secret.len() >= 40,
        "{secret}"
    );
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()));
    assert!(key["access_key_id"].as_str().unwrap().starts_with("AKSY"));
    assert_eq!(key["secret_access_key"].as_str().unwrap().len(), 40);
    let id = key["id"].as_str().unwrap();

    // The secret is never shown again.
    let shown = admin(&gw, "GET", &format!("/admin/v1/keys/{id}"), None).await;
    assert_eq!(shown.status, 200);
    assert!(!shown.text().contains(secret));
    assert_eq!(shown.json()["secret_access_key"], Value::Null);
    assert_eq!(shown.json()["key"], Value::Null);
    let listed = admin(&gw, "GET", "/admin/v1/keys?tenant=acme", None).await;
    assert!(!listed.text().contains(secret));
    assert_eq!(listed.json()["data"][0]["id"], id);

    let updated = admin(
        &gw,
        "PATCH",
        &format!("/admin/v1/keys/{id}"),
        Some(json!({"models": ["m"], "rpm": null})),
    )
    .await;
    assert_eq!(updated.json()["models"], json!(["m"]));
    assert_eq!(updated.json()["rpm"], Value::Null);
    let revoked = admin(&gw, "DELETE", &format!("/admin/v1/keys/{id}"), None).await;
    assert_eq!(revoked.json()["status"], "revoked");
    assert!(revoked.json()["revoked_at"].is_string());
    let active = admin(&gw, "GET", "/admin/v1/keys", None).await;
    assert_eq!(
        active.json()["data"],
        json!([]),
        "revoked keys are listed only on request"
    );
    let all = admin(&gw, "GET", "/admin/v1/keys?include_revoked=true", None).await;
    assert_eq!(all.json()["data"].as_array().unwrap().len(), 1);

    let unknown = admin(&gw, "GET", "/admin/v1/keys/key_nope", None).await;
    assert_eq!(
        (
            unknown.status.as_u16(),
            unknown.json()["error"]["code"].clone()
        ),
        (404, json!("key_not_found"))
    );
    let zero = admin(
        &gw,
        "POST",
        "/admin/v1/keys",
        Some(json!({"tenant": "acme", "rpm": 0})),
    )
    .await;
    assert_eq!(zero.status, 400);
    let garbage = gw
        .call(
            "POST",
            "/admin/v1/keys",
            &[("authorization", ADMIN)],
            Some("{not json"),
        )
        .await;
    assert_eq!(
        (
            garbage.status.as_u16(),
            garbage.json()["error"]["code"].clone()
        ),
        (400, json!("invalid_request"))
    );
}

#[tokio::test]
async fn hostile_requests_get_4xx_and_the_gateway_keeps_serving() {
    let upstream = FakeUpstream::start(Script::reply("hello")).await;
    let gw = keys_gateway(&upstream).await;
    let (_, secret) = mint(&gw, json!({"tenant": "acme"})).await;
    let bearer = format!("Bearer {secret}");

    let deep = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":{}1{}}}]}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let answer = chat(&gw, &secret, &deep).await;
    assert_eq!(answer.status, 400, "{}", answer.text());

    let huge_header = "x".repeat(200_000);
    let request = http::Request::post(gw.url("/v1/chat/completions"))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .header("x-padding", &huge_header)
        .body(http_body_util::Full::new(bytes::Bytes::from(CHAT)))
        .unwrap();
    let status = gw.send(request).await.status();
    assert_eq!(status, 431);

    let wrong_type = gw
        .call(
            "POST",
            "/v1/chat/completions",
            &[("authorization", &bearer), ("content-type", "text/plain")],
            None,
        )
        .await;
    assert_eq!(wrong_type.status, 415);

    let bad_utf8 = http::Request::post(gw.url("/v1/chat/completions"))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
        )))
        .unwrap();
    assert_eq!(gw.send(bad_utf8).await.status(), 400);

    // Still serving, and the key still works.
    assert_eq!(chat(&gw, &secret, CHAT).await.status, 200);
}

/// Two deployments of `m`: `us` (first by priority, us-east-1) and `eu-4o` (eu-west-1).
async fn regional_gateway(eu: &FakeUpstream, us: &FakeUpstream) -> TestGateway {
    let config = format!(
        r#"
[auth]
mode = "keys"
admin_key = "admin-secret"

[providers.eu]
kind = "openai-compatible"
base_url = "{}/v1"

[providers.us]
kind = "openai-compatible"
base_url = "{}/v1"

[[models]]
name = "m"
deployments = [
  {{ provider = "us", model = "gpt-4o", region = "us-east-1" }},
  {{ provider = "eu", model = "gpt-4o", region = "eu-west-1", name = "eu-4o" }},
]
"#,
        eu.base_url(),
        us.base_url()
    );
    TestGateway::start(&config).await
}

async fn chat_with(gw: &TestGateway, secret: &str, headers: &[(&str, &str)]) -> Answer {
    let bearer = format!("Bearer {secret}");
    let mut all = vec![("authorization", bearer.as_str())];
    all.extend_from_slice(headers);
    gw.call("POST", "/v1/chat/completions", &all, Some(CHAT))
        .await
}

#[tokio::test]
async fn a_tenants_residency_keeps_its_requests_in_its_regions() {
    let eu = FakeUpstream::start(Script::reply("eu")).await;
    let us = FakeUpstream::start(Script::reply("us")).await;
    let gw = regional_gateway(&eu, &us).await;
    let tenant = admin(
        &gw,
        "POST",
        "/admin/v1/tenants",
        Some(json!({"id": "eu-corp", "regions": ["eu-west-1"]})),
    )
    .await;
    assert_eq!(tenant.status, 201, "{}", tenant.text());
    assert_eq!(tenant.json()["regions"], json!(["eu-west-1"]));
    let (_, eu_key) = mint(&gw, json!({"tenant": "eu-corp"})).await;
    let (_, other_key) = mint(&gw, json!({"tenant": "anywhere"})).await;

    for _ in 0..3 {
        let answer = chat_with(&gw, &eu_key, &[]).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.header("x-switchyard-deployment"), "eu-4o");
    }
    assert_eq!(
        us.requests().len(),
        0,
        "nothing of eu-corp's left its region"
    );
    let answer = chat_with(&gw, &other_key, &[]).await;
    assert_eq!(
        answer.header("x-switchyard-provider"),
        "us",
        "others route by priority"
    );

    // A residency no deployment satisfies is refused before any upstream call, with the reasons.
    let moved = admin(
        &gw,
        "PATCH",
        "/admin/v1/tenants/eu-corp",
        Some(json!({"regions": ["ap-south-1"]})),
    )
    .await;
    assert_eq!(moved.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let answer = chat_with(&gw, &eu_key, &[]).await;
        if answer.status == 400 {
            break answer;
        }
        assert!(Instant::now() < deadline, "the new residency never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused.text().contains("ap-south-1"), "{}", refused.text());
    let served = eu.requests().len() + us.requests().len();
    assert_eq!(chat_with(&gw, &eu_key, &[]).await.status, 400);
    assert_eq!(
        eu.requests().len() + us.requests().len(),
        served,
        "a refused request reaches no upstream"
    );
}

#[tokio::test]
async fn routing_hints_are_honoured_only_for_keys_allowed_to_give_them() {
    let eu = FakeUpstream::start(Script::reply("eu")).await;
    let us = FakeUpstream::start(Script::reply("us")).await;
    let gw = regional_gateway(&eu, &us).await;
    let (_, plain) = mint(&gw, json!({"tenant": "acme"})).await;
    let (steer_id, steering) = mint(&gw, json!({"tenant": "acme", "routing_hints": true})).await;

    let refused = chat_with(&gw, &plain, &[("x-switchyard-deployment", "eu-4o")]).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(
        error_code(&refused),
        (
            "permission_error".into(),
            "routing_hints_not_allowed".into()
        )
    );
    let pinned = chat_with(&gw, &steering, &[("x-switchyard-deployment", "eu-4o")]).await;
    assert_eq!(pinned.status, 200);
    assert_eq!(pinned.header("x-switchyard-deployment"), "eu-4o");
    let by_region = chat_with(&gw, &steering, &[("x-switchyard-region", "eu-west-1")]).await;
    assert_eq!(by_region.header("x-switchyard-provider"), "eu");

    // A hint can narrow a tenant's residency, never widen it.
    admin(
        &gw,
        "PATCH",
        "/admin/v1/tenants/acme",
        Some(json!({"regions": ["eu-west-1"]})),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let widened = chat_with(&gw, &steering, &[("x-switchyard-region", "us-east-1")]).await;
        if widened.status == 400 {
            assert_eq!(widened.json()["error"]["param"], "x-switchyard-region");
            assert!(
                widened.text().contains("tenant `acme`"),
                "{}",
                widened.text()
            );
            break;
        }
        assert!(Instant::now() < deadline, "the residency never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Revoking the permission takes effect like any key change.
    let off = admin(
        &gw,
        "PATCH",
        &format!("/admin/v1/keys/{steer_id}"),
        Some(json!({"routing_hints": false})),
    )
    .await;
    assert_eq!(off.json()["routing_hints"], false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while chat_with(&gw, &steering, &[("x-switchyard-region", "eu-west-1")])
        .await
        .status
        != 403
    {
        assert!(
            Instant::now() < deadline,
            "the hint permission was never withdrawn"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
