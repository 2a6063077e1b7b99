//! Black-box tests through the real `switchyard` binary: `check`, the offline quickstart, serving a
//! configured upstream, and graceful exit on SIGTERM.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A scratch directory removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("switchyard-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment: no provider credentials leak in from the machine.
fn switchyard(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run switchyard")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running gateway process, killed if the test ends early.
struct Running {
    child: Child,
    port: u16,
}

impl Running {
    fn start(cmd: &mut Command, config: Option<&Path>) -> Self {
        let port = free_port();
        cmd.arg("serve");
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let child = cmd
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let running = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if http(port, "GET", "/healthz", "").0 == 200 {
                return running;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the gateway did not become healthy");
    }

    fn stderr(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut out = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 exchange; returns the status and the raw body (chunked framing removed).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line).is_err() {
        return (0, String::new());
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if line
            .to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
        {
            chunked = true;
        }
    }
    let mut raw = Vec::new();
    let _ = reader.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    (status, if chunked { dechunk(&text) } else { text })
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        text = rest[n..].trim_start_matches("\r\n");
    }
    out
}

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
fn serve_refuses_a_bad_config_clearly() {
    let dir = Scratch::new("serve-bad");
    let path = dir.write("c.toml", "[providers.x]\nkind = \"openai\"\n");
    let out = run(switchyard(&dir.0).args(["serve", "--config"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("providers.x.api_key: is required"));
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
