//! HTTPS serving: HTTP/1.1 and h2 by ALPN with a throwaway certificate, clients that speak
//! plain HTTP or nothing at all are dropped without disturbing the others, and graceful shutdown
//! still lets in-flight streams finish.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed step is a failed test"
)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;
use rustls::crypto::ring::default_provider;
use sy_testkit::{FakeUpstream, Script};

/// A self-signed certificate for 127.0.0.1 written to a directory of its own (removed on drop).
struct TestCert {
    dir: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCert {
    fn new(name: &str) -> Self {
        let generated = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let dir = std::env::temp_dir().join(format!("sy-server-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), generated.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), generated.signing_key.serialize_pem()).unwrap();
        Self {
            dir,
            der: generated.cert.der().clone(),
        }
    }

    /// The `[server]` table that serves this certificate.
    fn server_table(&self) -> String {
        format!(
            "[server]\ntls = {{ cert = \"{}\", key = \"{}\" }}\n",
            self.dir.join("cert.pem").display(),
            self.dir.join("key.pem").display()
        )
    }

    /// A client that trusts only this certificate and offers `h2` when asked to.
    fn client(&self, h2: bool) -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let builder = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1();
        let connector = if h2 {
            builder.enable_http2().build()
        } else {
            builder.build()
        };
        Client::builder(TokioExecutor::new()).build(connector)
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start(cert: &TestCert) -> (TestGateway, FakeUpstream) {
    let fake = FakeUpstream::start(Script::reply("hello")).await;
    let config = format!("{}{}", cert.server_table(), single(&fake.base_url(), ""));
    (TestGateway::start(&config).await, fake)
}

fn get(gw: &TestGateway, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("https://127.0.0.1:{}{path}", gw.addr.port()))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn chat(gw: &TestGateway, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(format!(
        "https://127.0.0.1:{}/v1/chat/completions",
        gw.addr.port()
    ))
    .header("content-type", "application/json")
    .body(Full::new(Bytes::from_static(body.as_bytes())))
    .unwrap()
}

#[tokio::test]
async fn serves_http1_over_tls() {
    let cert = TestCert::new("http1");
    let (mut gw, _fake) = start(&cert).await;
    let client = cert.client(false);

    let health = client.request(get(&gw, "/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), Version::HTTP_11);

    let answer = collect(client.request(chat(&gw, CHAT)).await.unwrap()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["choices"][0]["message"]["content"], "hello");
    gw.stop().await;
}

#[tokio::test]
async fn negotiates_h2_by_alpn() {
    let cert = TestCert::new("h2");
    let (mut gw, _fake) = start(&cert).await;
    let client = cert.client(true);

    let health = client.request(get(&gw, "/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), Version::HTTP_2);

    let answer = collect(client.request(chat(&gw, CHAT)).await.unwrap()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    gw.stop().await;
}

#[tokio::test]
async fn plain_http_on_the_tls_port_fails_and_the_server_keeps_serving() {
    let cert = TestCert::new("plain");
    let (mut gw, _fake) = start(&cert).await;

    let plain: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = Request::get(gw.url("/healthz"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), plain.request(request))
        .await
        .expect("the server hangs up promptly");
    assert!(
        outcome.is_err(),
        "plain HTTP must not be served on the TLS port: {outcome:?}"
    );

    let client = cert.client(true);
    let health = client.request(get(&gw, "/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn a_silent_client_does_not_hold_up_others() {
    let cert = TestCert::new("silent");
    let (mut gw, _fake) = start(&cert).await;
    // Connects and never starts a handshake.
    let _silent = tokio::net::TcpStream::connect(gw.addr).await.unwrap();

    let client = cert.client(false);
    let health = tokio::time::timeout(Duration::from_secs(5), client.request(get(&gw, "/healthz")))
        .await
        .expect("answered while another connection sits in its handshake")
        .unwrap();
    assert_eq!(health.status(), 200);

    let started = std::time::Instant::now();
    gw.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown does not wait for a handshake that never comes: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_reload_serves_renewed_certificate_files_to_new_connections() {
    let (first, renewed) = (TestCert::new("reload-1"), TestCert::new("reload-2"));
    let fake = FakeUpstream::start(Script::reply("hello")).await;
    let next = format!("{}{}", renewed.server_table(), single(&fake.base_url(), ""));
    let source: sy_server::ConfigSource = Arc::new(move || parse(&next));
    let initial = format!("{}{}", first.server_table(), single(&fake.base_url(), ""));
    let mut gw = TestGateway::start_reloadable(&initial, Some(source)).await;

    assert!(
        renewed
            .client(false)
            .request(get(&gw, "/healthz"))
            .await
            .is_err()
    );
    let report = gw.gateway.reload().unwrap();
    assert!(report.ignored.is_empty(), "{:?}", report.ignored);

    let health = renewed
        .client(false)
        .request(get(&gw, "/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        first
            .client(false)
            .request(get(&gw, "/healthz"))
            .await
            .is_err()
    );
    gw.stop().await;
}

#[tokio::test]
async fn in_flight_tls_streams_finish_after_shutdown_begins() {
    let cert = TestCert::new("shutdown");
    let fake = FakeUpstream::start(Script::stream_every(
        &["a", "b", "c", "d"],
        Duration::from_millis(100),
    ))
    .await;
    let config = format!("{}{}", cert.server_table(), single(&fake.base_url(), ""));
    let mut gw = TestGateway::start(&config).await;
    let client = cert.client(true);

    let response = client.request(chat(&gw, CHAT_STREAM)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), Version::HTTP_2);
    let reader =
        tokio::spawn(async move { response.into_body().collect().await.map(|c| c.to_bytes()) });
    tokio::time::sleep(Duration::from_millis(50)).await;

    gw.trigger_shutdown();
    let body = reader.await.unwrap().expect("the stream completes");
    let datas = sse_data(&body);
    assert_eq!(
        datas.last().map(String::as_str),
        Some("[DONE]"),
        "{datas:?}"
    );
    gw.join().await;
}
