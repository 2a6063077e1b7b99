//! Tenants, keys and limits through the real binary: the operator's path from the command line
//! (create a tenant and a key, call with it, hit a limit, revoke it) on embedded SQLite, and two
//! gateway processes sharing PostgreSQL and Redis that enforce one limit together and see each
//! other's revocations.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const ADMIN_KEY: &str = "sy-admin-test-secret-0123456789";
const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

fn config(storage: &str) -> String {
    format!(
        r#"
[storage]
{storage}

[auth]
mode = "keys"
admin_key = "env:SY_ADMIN_KEY"

[providers.sim]
kind = "simulator"
ttft_ms = 0
tokens_per_second = 0

[[models]]
name = "m"
deployments = [{{ provider = "sim", model = "sim-m" }}]

[[models]]
name = "other"
deployments = [{{ provider = "sim", model = "sim-other" }}]
"#
    )
}

fn cli(dir: &Path, config: &Path, args: &[&str]) -> Value {
    let out = run(switchyard(dir)
        .env("SY_ADMIN_KEY", ADMIN_KEY)
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..]));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "switchyard {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or(Value::String(stdout))
}

fn chat(port: u16, key: &str) -> Reply {
    let bearer = format!("Bearer {key}");
    http_with(
        port,
        "POST",
        "/v1/chat/completions",
        &[("authorization", &bearer)],
        CHAT,
    )
}

fn admin(port: u16, method: &str, path: &str, body: &Value) -> Reply {
    let bearer = format!("Bearer {ADMIN_KEY}");
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    http_with(port, method, path, &[("authorization", &bearer)], &body)
}

/// Polls until `done` holds, for at most `limit`.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn an_operator_creates_a_tenant_and_key_from_the_cli_then_limits_and_revokes_it() {
    let dir = Scratch::new("tenancy-cli");
    let path = dir.write("switchyard.toml", &config("url = \"sqlite://state.db\""));
    let tenant = cli(&dir.0, &path, &["tenants", "create", "acme", "--rpm", "3"]);
    assert_eq!(tenant["id"], "acme");
    assert_eq!(tenant["rpm"], 3);
    let key = cli(
        &dir.0,
        &path,
        &[
            "keys", "create", "--tenant", "acme", "--name", "ci", "--models", "m",
        ],
    );
    let secret = key["key"].as_str().unwrap().to_owned();
    let id = key["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk-sy-"));
    assert!(
        dir.0.join("state.db").exists(),
        "the SQLite file sits beside the config"
    );

    let gateway = Running::start(
        switchyard(&dir.0).env("SY_ADMIN_KEY", ADMIN_KEY),
        Some(&path),
    );
    let port = gateway.port;
    assert_eq!(http(port, "POST", "/v1/chat/completions", CHAT).0, 401);
    for _ in 0..3 {
        let ok = chat(port, &secret);
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.header("x-ratelimit-limit-requests"), Some("3"));
    }
    let limited = chat(port, &secret);
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(limited.json()["error"]["code"], "rate_limit_exceeded");

    // Lift the tenant's limit from the command line while the gateway runs; it follows.
    cli(
        &dir.0,
        &path,
        &["tenants", "update", "acme", "--rpm", "none"],
    );
    assert!(
        eventually(Duration::from_secs(10), || chat(port, &secret).status
            == 200),
        "the lifted limit never took effect"
    );

    let listed = cli(&dir.0, &path, &["keys", "list"]);
    let table = listed.as_str().unwrap();
    assert!(table.contains(&id) && table.contains("active"), "{table}");
    assert!(!table.contains(&secret), "the secret is never listed");

    let revoked = cli(&dir.0, &path, &["keys", "revoke", &id]);
    assert_eq!(revoked["status"], "revoked");
    assert!(
        eventually(Duration::from_secs(10), || chat(port, &secret).status
            == 401),
        "the revoked key still works"
    );
    assert_eq!(chat(port, &secret).json()["error"]["code"], "key_revoked");
    let all = cli(
        &dir.0,
        &path,
        &["keys", "list", "--all", "--format", "json"],
    );
    assert_eq!(all["data"][0]["status"], "revoked");

    let stderr = gateway.stderr();
    assert!(
        !stderr.contains(&secret),
        "key secrets never reach the logs"
    );
    assert!(
        !stderr.contains(ADMIN_KEY),
        "the admin key never reaches the logs"
    );
}

#[test]
fn cli_errors_are_clear_and_exit_1() {
    let dir = Scratch::new("tenancy-cli-errors");
    let path = dir.write("switchyard.toml", &config("url = \"sqlite://state.db\""));
    let failing = |args: &[&str]| {
        let out = run(switchyard(&dir.0)
            .env("SY_ADMIN_KEY", ADMIN_KEY)
            .arg(args[0])
            .arg("--config")
            .arg(&path)
            .args(&args[1..]));
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = failing(&["keys", "revoke", "key_nope"]);
    assert!(stderr.contains("key_not_found"), "{stderr}");
    let stderr = failing(&["tenants", "create", "Bad Id"]);
    assert!(stderr.contains("invalid_request"), "{stderr}");
    let stderr = failing(&["keys", "update", "key_nope", "--rpm", "lots"]);
    assert!(stderr.contains("--rpm"), "{stderr}");
}

#[test]
fn the_cli_sets_residency_and_routing_hint_permission() {
    let dir = Scratch::new("tenancy-cli-residency");
    let path = dir.write("switchyard.toml", &config("url = \"sqlite://state.db\""));
    let eu = cli(
        &dir.0,
        &path,
        &[
            "tenants",
            "create",
            "eu",
            "--regions",
            "eu-west-1,eu-central-1",
        ],
    );
    assert_eq!(eu["regions"], json!(["eu-west-1", "eu-central-1"]));
    let key = cli(
        &dir.0,
        &path,
        &["keys", "create", "--tenant", "eu", "--routing-hints"],
    );
    assert_eq!(key["routing_hints"], true);
    let id = key["id"].as_str().unwrap();
    let off = cli(
        &dir.0,
        &path,
        &["keys", "update", id, "--routing-hints", "false"],
    );
    assert_eq!(off["routing_hints"], false);
    let anywhere = cli(
        &dir.0,
        &path,
        &["tenants", "update", "eu", "--regions", "any"],
    );
    assert_eq!(anywhere["regions"], Value::Null);
    let table = cli(&dir.0, &path, &["tenants", "list"]);
    assert!(table.as_str().unwrap().contains("REGIONS"), "{table}");
}

#[test]
fn secrets_stay_out_of_debug_logs() {
    let dir = Scratch::new("tenancy-logs");
    let path = dir.write("switchyard.toml", &config("url = \"sqlite://state.db\""));
    let gateway = Running::start(
        switchyard(&dir.0)
            .env("SY_ADMIN_KEY", ADMIN_KEY)
            .env("SWITCHYARD_LOG", "debug"),
        Some(&path),
    );
    let created = admin(
        gateway.port,
        "POST",
        "/admin/v1/keys",
        &json!({"tenant": "acme", "aws_access_key": true}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.json();
    let secret = key["key"].as_str().unwrap().to_owned();
    let aws_secret = key["secret_access_key"].as_str().unwrap().to_owned();
    assert_eq!(chat(gateway.port, &secret).status, 200);
    assert_eq!(chat(gateway.port, "sk-sy-wrong-key-value").status, 401);
    let stderr = gateway.stderr();
    assert!(
        stderr.contains("request finished"),
        "debug logging is on: {stderr}"
    );
    for leaked in [
        secret.as_str(),
        aws_secret.as_str(),
        ADMIN_KEY,
        "sk-sy-wrong-key-value",
    ] {
        assert!(!stderr.contains(leaked), "a secret reached the logs");
    }
}

/// The Redis and PostgreSQL this machine runs; tests use their own database and key prefix.
fn redis_url() -> String {
    std::env::var("SWITCHYARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[test]
fn two_nodes_sharing_postgres_and_redis_enforce_one_limit_and_see_revocations() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime
        .block_on(sy_store::scratch::ScratchPostgres::create())
        .expect("scratch database");
    let prefix = format!("sy-test-{}-{}", std::process::id(), sy_core_random());
    let dir = Scratch::new("tenancy-two-nodes");
    let storage = format!(
        "url = \"{}\"\nredis_url = \"{}\"\nredis_prefix = \"{prefix}\"",
        db.url(),
        redis_url()
    );
    let path = dir.write("switchyard.toml", &config(&storage));
    let a = Running::start(
        switchyard(&dir.0).env("SY_ADMIN_KEY", ADMIN_KEY),
        Some(&path),
    );
    let b = Running::start(
        switchyard(&dir.0).env("SY_ADMIN_KEY", ADMIN_KEY),
        Some(&path),
    );

    let created = admin(
        a.port,
        "POST",
        "/admin/v1/keys",
        &json!({"tenant": "acme", "rpm": 10}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.json();
    let secret = key["key"].as_str().unwrap().to_owned();
    let id = key["id"].as_str().unwrap().to_owned();

    // Node B knows the key node A minted, at once (a cache miss reads the shared store).
    assert_eq!(chat(b.port, &secret).status, 200);
    // 30 calls at once, spread over both nodes: together they admit exactly the 9 left.
    let ports = [a.port, b.port];
    let handles: Vec<_> = (0..30)
        .map(|i| {
            let (port, secret) = (ports[i % 2], secret.clone());
            std::thread::spawn(move || chat(port, &secret).status)
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (9, 21), "{statuses:?}");

    let ready = http_with(b.port, "GET", "/readyz", &[], "").json();
    assert_eq!(ready["store"]["backend"], "postgres");
    assert_eq!(ready["limits"]["backend"], "redis");
    assert_eq!(ready["limits"]["reachable"], true);

    let revoked = admin(
        a.port,
        "DELETE",
        &format!("/admin/v1/keys/{id}"),
        &Value::Null,
    );
    assert_eq!(revoked.status, 200);
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || chat(b.port, &secret).status
            == 401),
        "node B never saw the revocation"
    );
    eprintln!(
        "node B refused the revoked key after {:?}",
        started.elapsed()
    );

    drop(a);
    drop(b);
    runtime.block_on(async {
        sy_limits::testing::clear_prefix(&redis_url(), &prefix)
            .await
            .expect("clear the test's redis keys");
        db.drop_database().await.expect("drop the scratch database");
    });
}

/// Two nodes sharing PostgreSQL hold one budget: a key minted from the CLI with room for 20
/// calls, 50 slow calls at once spread over both nodes, exactly 20 admitted; then every hold
/// settles and the money the calls really cost is what the key has spent.
#[test]
fn two_nodes_sharing_postgres_never_overspend_one_budget() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime
        .block_on(sy_store::scratch::ScratchPostgres::create())
        .expect("scratch database");
    let dir = Scratch::new("tenancy-two-node-budget");
    let storage = format!("url = \"{}\"", db.url());
    // Slow answers keep all fifty calls in flight together; the price makes each call's upper
    // bound 8 × $2.50 + 100 × $10 per million = $0.00102.
    let config = config(&storage).replace("ttft_ms = 0", "ttft_ms = 2000")
        + "\n[[prices]]\nprovider = \"sim\"\nmodel = \"sim-m\"\ninput = \"2.50\"\noutput = \"10.00\"\n";
    let path = dir.write("switchyard.toml", &config);
    let key = cli(
        &dir.0,
        &path,
        &[
            "keys",
            "create",
            "--tenant",
            "acme",
            "--budget-usd",
            "0.02091",
            "--budget-period",
            "day",
            "--budget-tz",
            "America/New_York",
        ],
    );
    assert_eq!(
        key["budget"],
        json!({"usd": "0.02091", "period": "day", "tz": "America/New_York", "enforcement": "hard"})
    );
    let secret = key["key"].as_str().unwrap().to_owned();
    let id = key["id"].as_str().unwrap().to_owned();
    let a = Running::start(
        switchyard(&dir.0).env("SY_ADMIN_KEY", ADMIN_KEY),
        Some(&path),
    );
    let b = Running::start(
        switchyard(&dir.0).env("SY_ADMIN_KEY", ADMIN_KEY),
        Some(&path),
    );
    let body = r#"{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#;
    let ports = [a.port, b.port];
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (port, bearer) = (ports[i % 2], format!("Bearer {secret}"));
            std::thread::spawn(move || {
                let reply = http_with(
                    port,
                    "POST",
                    "/v1/chat/completions",
                    &[("authorization", &bearer)],
                    body,
                );
                (reply.status, reply.body)
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<&String> = answers
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, body)| body)
        .collect();
    assert_eq!((ok, refused.len()), (20, 30), "{answers:?}");
    assert!(refused[0].contains("budget_exceeded"), "{}", refused[0]);

    // Every hold settles (the ledger writes within about a second) to the calls' real cost.
    let settled = eventually(Duration::from_secs(10), || {
        let shown = admin(a.port, "GET", &format!("/admin/v1/keys/{id}"), &Value::Null).json();
        shown["budget"]["held_usd"] == "0.00"
    });
    assert!(settled, "holds were not settled");
    let shown = admin(b.port, "GET", &format!("/admin/v1/keys/{id}"), &Value::Null).json();
    let spent = shown["budget"]["spent_usd"].as_str().unwrap().to_owned();
    let usage = cli(&dir.0, &path, &["usage", "--key", &id, "--format", "json"]);
    assert_eq!(usage["rows"][0]["requests"], 50, "{usage}");
    assert_eq!(
        usage["rows"][0]["cost_usd"], spent,
        "the budget spent exactly what the ledger priced: {usage}"
    );
    assert!(
        shown["budget"]["resets_at"]
            .as_str()
            .unwrap()
            .ends_with(":00-05:00"),
        "{shown}"
    );

    drop(a);
    drop(b);
    runtime.block_on(async {
        db.drop_database().await.expect("drop the scratch database");
    });
}

#[test]
fn with_redis_unreachable_fail_open_serves_per_node_and_fail_closed_refuses() {
    for (policy, ready_status, call_status) in [("fail-open", 200, 200), ("fail-closed", 503, 503)]
    {
        let dir = Scratch::new(&format!("tenancy-redis-{policy}"));
        let storage = format!(
            "url = \"sqlite://state.db\"\nredis_url = \"redis://127.0.0.1:1\"\nredis_policy = \"{policy}\""
        );
        let path = dir.write("switchyard.toml", &config(&storage));
        let gateway = Running::start(
            switchyard(&dir.0).env("SY_ADMIN_KEY", ADMIN_KEY),
            Some(&path),
        );
        let created = admin(
            gateway.port,
            "POST",
            "/admin/v1/keys",
            &json!({"tenant": "acme", "rpm": 2}),
        );
        let secret = created.json()["key"].as_str().unwrap().to_owned();
        let first = chat(gateway.port, &secret);
        assert_eq!(first.status, call_status, "{policy}: {}", first.body);
        let ready = http_with(gateway.port, "GET", "/readyz", &[], "");
        assert_eq!(ready.status, ready_status, "{policy}: {}", ready.body);
        assert_eq!(ready.json()["limits"]["reachable"], false);
        if policy == "fail-open" {
            // Limits still hold, per node.
            assert_eq!(chat(gateway.port, &secret).status, 200);
            assert_eq!(chat(gateway.port, &secret).status, 429);
        }
        let stderr = gateway.stderr();
        assert!(
            stderr.to_lowercase().contains("redis"),
            "the outage is logged: {stderr}"
        );
    }
}

fn sy_core_random() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
}

#[test]
fn usage_survives_sigterm_and_reads_back_from_the_cli() {
    let dir = Scratch::new("ledger-sigterm");
    let text = config("url = \"sqlite://state.db\"").replace("mode = \"keys\"", "mode = \"open\"")
        + "\n[[prices]]\nprovider = \"sim\"\nmodel = \"sim-m\"\ninput = \"1.00\"\noutput = \"2.00\"\n";
    let path = dir.write("switchyard.toml", &text);
    let mut gateway = Running::start(
        switchyard(&dir.0).env("SY_ADMIN_KEY", ADMIN_KEY),
        Some(&path),
    );
    let other = r#"{"model":"other","messages":[{"role":"user","content":"hi"}]}"#;
    for i in 0..20 {
        let body = if i % 4 == 0 { other } else { CHAT };
        assert_eq!(
            http(gateway.port, "POST", "/v1/chat/completions", body).0,
            200
        );
    }
    // Straight to SIGTERM: the records still queued must reach the store on the way out.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &gateway.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while gateway.child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the gateway did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stderr = gateway.stderr();
    assert!(stderr.contains("usage ledger flushed"), "{stderr}");

    let json = cli(
        &dir.0,
        &path,
        &["usage", "--group-by", "model", "--format", "json"],
    );
    let rows = json["rows"].as_array().unwrap();
    let requests: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests, 20, "nothing lost: {json}");
    let m = rows.iter().find(|r| r["model"] == "m").unwrap();
    assert_eq!(m["requests"], 15);
    assert!(m["cost_usd"].is_string(), "{m}");
    let other = rows.iter().find(|r| r["model"] == "other").unwrap();
    assert_eq!(other["cost_usd"], Value::Null, "no price for sim-other");

    let csv = cli(
        &dir.0,
        &path,
        &["usage", "--group-by", "model", "--format", "csv"],
    );
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("model,requests,input_tokens,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("m,15,")), "{csv}");
    let table = cli(&dir.0, &path, &["usage", "--model", "m"]);
    assert!(table.as_str().unwrap().contains("REQUESTS"), "{table}");
}

#[test]
fn store_commands_need_only_the_storage_settings() {
    let dir = Scratch::new("tenancy-cli-storage-only");
    // The admin key and provider keys come from variables this shell does not set.
    let text = config("url = \"sqlite://state.db\"")
        + "\n[providers.openai]\nkind = \"openai\"\napi_key = \"env:UNSET_OPENAI_KEY\"\n";
    let path = dir.write("switchyard.toml", &text);
    let out = run(switchyard(&dir.0)
        .args(["tenants", "--config"])
        .arg(&path)
        .args(["create", "acme"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.0.join("state.db").exists());
    // A storage problem is still reported, with its path.
    let bad = dir.write("bad.toml", "[storage]\nurl = \"mysql://db\"\n");
    let out = run(switchyard(&dir.0)
        .args(["keys", "--config"])
        .arg(&bad)
        .arg("list"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage.url"));
}
