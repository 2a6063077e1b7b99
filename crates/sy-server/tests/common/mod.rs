//! Test harness: a gateway on a loopback port, built from TOML text, and a small HTTP client.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sy_config::{MapEnv, load_str};
use sy_server::{Gateway, Server};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestGateway {
    pub addr: SocketAddr,
    pub gateway: Gateway,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no header {name} in {:?}", self.headers))
    }
}

impl TestGateway {
    pub async fn start(config: &str) -> Self {
        Self::start_reloadable(config, None).await
    }

    /// A gateway whose reloads read the config text from `source`.
    pub async fn start_reloadable(config: &str, source: Option<sy_server::ConfigSource>) -> Self {
        let config = parse(config).unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        // Every test gateway keeps its tenants and keys in its own in-memory database.
        let store = sy_store::Store::open("sqlite::memory:", None)
            .await
            .expect("store");
        let gateway = Gateway::with_source(config, source, Some(store)).expect("gateway");
        let server = Server::bind(gateway.clone(), Some("127.0.0.1:0".parse().expect("addr")))
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        Self {
            addr,
            gateway,
            shutdown: Some(tx),
            handle: Some(handle),
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request and returns the response head with its streaming body.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> http::Response<Incoming> {
        self.client.request(request).await.expect("request")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut builder = Request::post(self.url(path));
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let response = self
            .send(builder.body(Full::new(body.into())).expect("request"))
            .await;
        collect(response).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Answer {
        self.post_raw(path, Some("application/json"), body.to_owned())
            .await
    }

    /// Any request, with extra headers (a JSON content type is added when there is a body).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let body = Full::new(Bytes::from(body.unwrap_or("").to_owned()));
        collect(self.send(builder.body(body).expect("request")).await).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        let request = Request::get(self.url(path))
            .body(Full::new(Bytes::new()))
            .expect("request");
        collect(self.send(request).await).await
    }

    /// Starts a streaming POST and returns the live response.
    pub async fn post_stream(&self, path: &str, body: &str) -> http::Response<Incoming> {
        let request = Request::post(self.url(path))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        self.send(request).await
    }

    /// Triggers graceful shutdown and waits for the server to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("server stops in time")
                .expect("server task");
        }
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn join(&mut self) {
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("server stops in time")
                .expect("server task");
        }
    }
}

/// Parses test config text with the test environment.
pub fn parse(config: &str) -> Result<sy_config::Config, String> {
    load_str(config, None, &MapEnv::new([("TEST_KEY", "sk-test-secret")]))
        .map_err(|e| e.to_string())
}

pub async fn collect(response: http::Response<Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// The SSE `data:` payloads of a whole stream body.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    let mut parser = sy_wire::sse::SseParser::new();
    parser.push(body);
    let mut out = Vec::new();
    while let Some(e) = parser.next_event() {
        out.push(String::from_utf8_lossy(&e.data).into_owned());
    }
    out.extend(
        parser
            .finish()
            .map(|e| String::from_utf8_lossy(&e.data).into_owned()),
    );
    out
}

/// A config with one OpenAI-compatible provider at `base` serving model `m` as `upstream-m`.
pub fn single(base: &str, extra_provider_keys: &str) -> String {
    format!(
        r#"
[providers.up]
kind = "openai-compatible"
base_url = "{base}/v1"
api_key = "env:TEST_KEY"
{extra_provider_keys}

[[models]]
name = "m"
deployments = [{{ provider = "up", model = "upstream-m" }}]
"#
    )
}

pub const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
pub const CHAT_STREAM: &str =
    r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// The `[providers.anthropic]`, `[providers.bedrock]` and `[providers.gemini]` sections for the
/// three fake clouds (Bedrock signed with the fake's own credentials).
pub fn cloud_providers(
    anthropic: &sy_testkit::FakeAnthropic,
    bedrock: &sy_testkit::FakeBedrock,
    gemini: &sy_testkit::FakeGemini,
) -> String {
    let creds = bedrock.credentials();
    format!(
        r#"
[providers.anthropic]
kind = "anthropic"
base_url = "{anthropic}"
api_key = "{anthropic_key}"

[providers.bedrock]
kind = "bedrock"
base_url = "{bedrock}"
region = "{region}"
access_key_id = "{akid}"
secret_access_key = "{secret}"
session_token = "{token}"

[providers.gemini]
kind = "gemini"
base_url = "{gemini}"
api_key = "{gemini_key}"
"#,
        anthropic = anthropic.base_url(),
        anthropic_key = sy_testkit::anthropic::TEST_API_KEY,
        bedrock = bedrock.base_url(),
        region = creds.region,
        akid = creds.access_key_id,
        secret = creds.secret_access_key,
        token = creds.session_token.clone().unwrap_or_default(),
        gemini = gemini.base_url(),
        gemini_key = sy_testkit::gemini::TEST_API_KEY,
    )
}
