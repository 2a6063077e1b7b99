//! Black-box tests through the real `switchyard` binary: `check`, the offline quickstart, serving a
//! configured upstream, and graceful exit on SIGTERM.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const CONFIG: &str = r#"
[providers.azure-eastus]
kind = "azure"
base_url = "https://contoso.openai.azure.com"
api_key = "sk-literal-secret-value"
api_version = "2024-10-21"

[providers.openai]
kind = "openai"
api_key = "env:SY_TEST_OPENAI_KEY"

[[models]]
name = "gpt-4o"
deployments = [
  { provider = "azure-eastus", model = "gpt-4o-prod" },
  { provider = "openai", model = "gpt-4o" },
]
"#;

#[test]
fn check_prints_the_routing_table_without_secrets() {
    let dir = Scratch::new("check-ok");
    let path = dir.write("switchyard.toml", CONFIG);
    let out = run(switchyard(&dir.0)
        .env("SY_TEST_OPENAI_KEY", "sk-env-secret-value")
        .args(["check", "--config"])
        .arg(&path));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("gpt-4o (priority)"), "{stdout}");
    assert!(
        stdout.contains(
            "1. primary  azure-eastus/gpt-4o-prod -> provider azure-eastus model gpt-4o-prod"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("2. failover openai/gpt-4o"), "{stdout}");
    // OpenAI's gpt-4o is in the built-in price book; an Azure deployment name is not.
    assert!(
        stdout.contains("price per M tokens: input $2.50, cache read $1.25"),
        "{stdout}"
    );
    assert!(stdout.contains("price: unknown"), "{stdout}");
    assert!(!stdout.contains("sk-literal-secret-value") && !stdout.contains("sk-env-secret-value"));
}

#[test]
fn check_reports_every_problem_and_exits_1() {
    let dir = Scratch::new("check-bad");
    let path = dir.write(
        "bad.toml",
        &CONFIG.replace("kind = \"azure\"", "kind = \"azur\""),
    );
    let out = run(switchyard(&dir.0).args(["check", "--config"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}: providers.azure-eastus.kind: unknown kind `azur`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}: providers.openai.api_key: environment variable SY_TEST_OPENAI_KEY is not set"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("sk-literal-secret-value"));
}

#[test]
fn check_finds_switchyard_toml_in_the_working_directory() {
    let dir = Scratch::new("check-default");
    dir.write("switchyard.toml", "[server]\nlisten = \"bad\"\n");
    let out = run(switchyard(&dir.0).arg("check"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("switchyard.toml: server.listen"));
}

#[test]
fn check_names_tls_files_beside_the_config_file() {
    let dir = Scratch::new("check-tls");
    std::fs::create_dir_all(dir.0.join("conf")).unwrap();
    dir.write("conf/cert.pem", "not a certificate\n");
    let path = dir.write(
        "conf/switchyard.toml",
        &format!("[server]\ntls = {{ cert = \"cert.pem\", key = \"key.pem\" }}\n{CONFIG}"),
    );
    let out = run(switchyard(&dir.0)
        .env("SY_TEST_OPENAI_KEY", "sk-env-secret-value")
        .args(["check", "--config"])
        .arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    let cert = dir.0.join("conf/cert.pem").display().to_string();
    let key = dir.0.join("conf/key.pem").display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}: server.tls.cert: `{cert}` holds no PEM certificate"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}: server.tls.key: cannot read `{key}`")),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_a_bad_config_clearly() {
    let dir = Scratch::new("serve-bad");
    let path = dir.write("c.toml", "[providers.x]\nkind = \"openai\"\n");
    let out = run(switchyard(&dir.0).args(["serve", "--config"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("providers.x.api_key: is required"));
}

#[test]
fn open_mode_refuses_a_non_loopback_listen_override() {
    let dir = Scratch::new("serve-open-public");
    let out = run(switchyard(&dir.0).args(["serve", "--listen", "0.0.0.0:0"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}

#[test]
fn the_quickstart_streams_from_the_simulator_offline() {
    let dir = Scratch::new("quickstart");
    let gateway = Running::start(&mut switchyard(&dir.0), None);
    let (status, body) = http(
        gateway.port,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Hello!"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"role\":\"assistant\""), "{body}");
    assert!(body.contains("Hello!"), "{body}");
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    let (status, models) = http(gateway.port, "GET", "/v1/models", "");
    assert_eq!(status, 200);
    assert!(models.contains("\"id\":\"gpt-4o\""));
    let stderr = gateway.stderr();
    assert!(
        stderr.contains("SIMULATOR"),
        "the simulator is announced loudly: {stderr}"
    );
}

#[test]
fn serve_relays_a_configured_upstream_with_its_key() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fake = runtime.block_on(sy_testkit::FakeUpstream::start(sy_testkit::Script::reply(
        "from upstream",
    )));
    let dir = Scratch::new("serve-upstream");
    let path = dir.write(
        "switchyard.toml",
        &format!(
            "[providers.oai]\nkind = \"openai\"\nbase_url = \"{}/v1\"\napi_key = \"env:SY_TEST_KEY\"\n\n[[models]]\nname = \"gpt-4o\"\ndeployments = [{{ provider = \"oai\", model = \"gpt-4o-2024-11-20\" }}]\n",
            fake.base_url()
        ),
    );
    let gateway = Running::start(
        switchyard(&dir.0).env("SY_TEST_KEY", "sk-from-env"),
        Some(&path),
    );
    let (status, body) = http(
        gateway.port,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("from upstream"));
    let sent = fake.requests();
    assert_eq!(
        sent[0].header("authorization").as_deref(),
        Some("Bearer sk-from-env")
    );
    assert_eq!(sent[0].json()["model"], "gpt-4o-2024-11-20");
    let stderr = gateway.stderr();
    assert!(
        !stderr.contains("SIMULATOR"),
        "no simulator when a real provider is configured"
    );
    assert!(
        !stderr.contains("sk-from-env"),
        "secrets never reach the logs"
    );
}

#[test]
fn sigterm_lets_in_flight_streams_finish_then_exits_cleanly() {
    let dir = Scratch::new("sigterm");
    let path = dir.write(
        "switchyard.toml",
        "[providers.sim]\nkind = \"simulator\"\nttft_ms = 0\ntokens_per_second = 10\n\n[[models]]\nname = \"m\"\ndeployments = [{ provider = \"sim\", model = \"m\" }]\n",
    );
    let mut gateway = Running::start(&mut switchyard(&dir.0), Some(&path));
    let port = gateway.port;
    let stream = std::thread::spawn(move || {
        http(
            port,
            "POST",
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three"}]}"#,
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &gateway.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (status, body) = stream.join().expect("stream thread");
    assert_eq!(status, 200);
    assert!(
        body.ends_with("data: [DONE]\n\n"),
        "the in-flight stream completed: {body}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(code) = gateway.child.try_wait().expect("wait") {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
}

#[test]
fn sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_one_is_bad() {
    let dir = Scratch::new("sighup");
    let sim = |model: &str| {
        format!(
            "[providers.sim]\nkind = \"simulator\"\nttft_ms = 0\ntokens_per_second = 0\n\n[[models]]\nname = \"{model}\"\ndeployments = [{{ provider = \"sim\", model = \"{model}\" }}]\n"
        )
    };
    let path = dir.write("switchyard.toml", &sim("first"));
    let gateway = Running::start(&mut switchyard(&dir.0), Some(&path));
    let pid = gateway.child.id().to_string();
    let hangup = || {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .expect("kill")
                .success()
        );
    };
    let models = || http(gateway.port, "GET", "/v1/models", "").1;
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !models().contains(needle) {
            assert!(Instant::now() < deadline, "no {needle} in {}", models());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(models().contains("\"first\""));

    dir.write("switchyard.toml", &sim("second"));
    hangup();
    wait_for("\"second\"");
    assert!(!models().contains("\"first\""));

    dir.write("switchyard.toml", "[providers.sim]\nkind = \"nope\"\n");
    hangup();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        models().contains("\"second\""),
        "the running config keeps serving"
    );
    let (status, _) = http(
        gateway.port,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"second","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(status, 200);
    let stderr = gateway.stderr();
    assert!(stderr.contains("reload rejected"), "{stderr}");
    assert!(
        stderr.contains("providers.sim.kind: unknown kind `nope`"),
        "{stderr}"
    );
}

#[test]
fn check_shows_agreements_and_what_is_not_licensed_now() {
    let dir = Scratch::new("check-agreements");
    let path = dir.write(
        "switchyard.toml",
        r#"
[providers.azure]
kind = "simulator"
[providers.bedrock]
kind = "simulator"

[agreements.azure-primary]
providers = ["azure"]
primary = true
licensed_from = "2019-07-22"
licensed_until = "2100-01-01"
revenue_share = "0.20"

[agreements.bedrock-old]
providers = ["bedrock"]
licensed_until = "2020-01-01"

[[models]]
name = "gpt-4o"
deployments = [{ provider = "azure", model = "gpt-4o" }, { provider = "bedrock", model = "gpt-4o" }]
"#,
    );
    let out = run(switchyard(&dir.0).args(["check", "--config"]).arg(&path));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "azure/gpt-4o -> provider azure model gpt-4o [agreement azure-primary, primary]"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("[agreement bedrock-old, NOT LICENSED NOW]"),
        "{stdout}"
    );
}
