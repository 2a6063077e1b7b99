//! Image URLs for targets that take only inline images: fetched over https from a loopback image
//! server (allowed only through the code-level fetcher override) and sent inline to fake Gemini
//! and Bedrock upstreams; oversized, non-image, redirected, slow and plain-http images refused
//! with a 400; nothing fetched when the config does not allow it, nor from loopback by default.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::TestGateway;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use sy_server::ImageFetcher;
use sy_testkit::anthropic::{AnthropicScript, FakeAnthropic};
use sy_testkit::bedrock::{BedrockScript, FakeBedrock};
use sy_testkit::gemini::{FakeGemini, GeminiScript};
use tokio::net::TcpListener;

/// A PNG signature and a few bytes: enough for the gateway's checks.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-a-real-image";
const MAX_BYTES: usize = 1024;

/// An HTTPS server on loopback with a throwaway certificate for `localhost`, serving a few paths.
struct ImageServer {
    addr: SocketAddr,
    roots: rustls::RootCertStore,
    served: Arc<AtomicUsize>,
}

impl ImageServer {
    async fn start() -> Self {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            generated.signing_key.serialize_der(),
        ));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(generated.cert.der().clone()).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![generated.cert.der().clone()], key)
        .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&served);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |request: Request<Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            if request.uri().path() == "/slow.png" {
                                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                            }
                            Ok::<_, Infallible>(answer(request.uri().path()))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            roots,
            served,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// What tests alone may do: fetch from loopback, trusting the throwaway certificate.
    fn fetcher(&self) -> ImageFetcher {
        ImageFetcher::with_policy(|ip| ip.is_loopback(), self.roots.clone()).unwrap()
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn answer(path: &str) -> Response<Body> {
    let whole = |status: StatusCode, content_type: &str, body: &[u8]| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::copy_from_slice(body)).boxed())
            .unwrap()
    };
    match path {
        "/cat.png" | "/slow.png" => whole(StatusCode::OK, "image/png", PNG),
        "/big.png" => {
            let mut big = PNG.to_vec();
            big.resize(MAX_BYTES + 1, 0);
            whole(StatusCode::OK, "image/png", &big)
        }
        // No Content-Length: only counting the streamed bytes catches it.
        "/big-chunked.png" => {
            let chunks = (0..4).map(|_| Ok(Frame::data(Bytes::from(vec![0u8; MAX_BYTES / 2]))));
            Response::builder()
                .header("content-type", "image/png")
                .body(StreamBody::new(futures_util::stream::iter(chunks)).boxed())
                .unwrap()
        }
        "/page.png" => whole(StatusCode::OK, "text/html", b"<html></html>"),
        "/disguised.png" => whole(StatusCode::OK, "image/png", b"<html></html>"),
        "/moved.png" => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "/cat.png")
            .body(Full::new(Bytes::new()).boxed())
            .unwrap(),
        _ => whole(StatusCode::NOT_FOUND, "text/plain", b"not found"),
    }
}

struct Clouds {
    anthropic: FakeAnthropic,
    bedrock: FakeBedrock,
    gemini: FakeGemini,
}

async fn clouds() -> Clouds {
    Clouds {
        anthropic: FakeAnthropic::start(AnthropicScript::reply(&["A cat."])).await,
        bedrock: FakeBedrock::start(BedrockScript::reply(&["A cat."])).await,
        gemini: FakeGemini::start(GeminiScript::reply(&["A cat."])).await,
    }
}

/// Model `m` on the one provider named; `images` is the `[images]` table's body.
async fn gateway(clouds: &Clouds, provider: &str, images: &str) -> TestGateway {
    let config = format!(
        r#"
[images]
{images}

{clouds}

[[models]]
name = "m"
deployments = [{{ provider = "{provider}", model = "vision-x" }}]
"#,
        clouds = common::cloud_providers(&clouds.anthropic, &clouds.bedrock, &clouds.gemini),
    );
    TestGateway::start(&config).await
}

const FETCHING: &str = "fetch_urls = true\nmax_bytes = 1024\ntimeout_ms = 5000";

fn chat_with_image(url: &str) -> String {
    json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}]
    })
    .to_string()
}

fn png_base64() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(PNG)
}

#[tokio::test]
async fn an_image_url_is_fetched_and_sent_inline_to_gemini() {
    let images = ImageServer::start().await;
    let clouds = clouds().await;
    let gw = gateway(&clouds, "gemini", FETCHING).await;
    assert!(gw.gateway.set_image_fetcher(images.fetcher()));
    let answer = gw
        .post(
            "/v1/chat/completions",
            &chat_with_image(&images.url("/cat.png")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(images.served(), 1);
    let sent = clouds.gemini.requests()[0].json();
    let parts = &sent["contents"][0]["parts"];
    let inline = parts
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p.get("inlineData"))
        .unwrap_or_else(|| panic!("no inline image in {sent}"));
    assert_eq!(inline["mimeType"], "image/png");
    assert_eq!(inline["data"], png_base64().as_str());
}

#[tokio::test]
async fn an_image_url_is_fetched_and_sent_inline_to_bedrock() {
    let images = ImageServer::start().await;
    let clouds = clouds().await;
    let gw = gateway(&clouds, "bedrock", FETCHING).await;
    assert!(gw.gateway.set_image_fetcher(images.fetcher()));
    let answer = gw
        .post(
            "/v1/chat/completions",
            &chat_with_image(&images.url("/cat.png")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let sent = clouds.bedrock.requests()[0].json();
    let image = sent["messages"][0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|c| c.get("image"))
        .unwrap_or_else(|| panic!("no image in {sent}"))
        .clone();
    assert_eq!(image["format"], "png");
    assert_eq!(image["source"]["bytes"], png_base64().as_str());
}

#[tokio::test]
async fn a_target_that_takes_urls_gets_the_url_and_nothing_is_fetched() {
    let images = ImageServer::start().await;
    let clouds = clouds().await;
    let gw = gateway(&clouds, "anthropic", FETCHING).await;
    assert!(gw.gateway.set_image_fetcher(images.fetcher()));
    let url = images.url("/cat.png");
    let answer = gw
        .post("/v1/chat/completions", &chat_with_image(&url))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(images.served(), 0);
    let sent: Value = clouds.anthropic.requests()[0].json();
    assert!(sent.to_string().contains(&url), "{sent}");
}

/// Posts an image at `path` to a Gemini-only gateway that may fetch; the 400's message.
async fn refused(images: &ImageServer, url: &str) -> (String, usize) {
    let clouds = clouds().await;
    let gw = gateway(&clouds, "gemini", FETCHING).await;
    assert!(gw.gateway.set_image_fetcher(images.fetcher()));
    let answer = gw.post("/v1/chat/completions", &chat_with_image(url)).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        clouds.gemini.requests().is_empty(),
        "nothing reaches the upstream"
    );
    let error = &answer.json()["error"];
    assert_eq!(error["param"], "messages[0].content[1]", "{error}");
    (
        error["message"].as_str().unwrap().to_owned(),
        images.served(),
    )
}

#[tokio::test]
async fn unfit_images_are_refused_with_a_400_naming_the_host_and_the_reason() {
    let images = ImageServer::start().await;
    for (path, reason) in [
        ("/big.png", "larger than the gateway's limit of 1024 bytes"),
        (
            "/big-chunked.png",
            "larger than the gateway's limit of 1024 bytes",
        ),
        (
            "/page.png",
            "`text/html`, not a PNG, JPEG, GIF or WebP image",
        ),
        ("/disguised.png", "not a image/png image"),
        ("/moved.png", "redirects are not followed"),
        ("/missing.png", "status 404"),
    ] {
        let (message, _) = refused(&images, &images.url(path)).await;
        assert!(message.contains("`localhost`"), "{path}: {message}");
        assert!(message.contains(reason), "{path}: {message}");
    }
    assert_eq!(
        images.served(),
        6,
        "each was asked for once, the redirect not followed"
    );
}

#[tokio::test]
async fn a_plain_http_url_is_refused_without_a_connection() {
    let images = ImageServer::start().await;
    let url = format!("http://localhost:{}/cat.png", images.addr.port());
    let (message, served) = refused(&images, &url).await;
    assert!(message.contains("only https://"), "{message}");
    assert_eq!(served, 0);
}

#[tokio::test]
async fn without_fetch_urls_the_url_image_is_refused_as_before() {
    let images = ImageServer::start().await;
    let clouds = clouds().await;
    let gw = gateway(&clouds, "gemini", "fetch_urls = false").await;
    gw.gateway.set_image_fetcher(images.fetcher());
    let answer = gw
        .post(
            "/v1/chat/completions",
            &chat_with_image(&images.url("/cat.png")),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("does not fetch them"),
        "{}",
        answer.text()
    );
    assert_eq!(images.served(), 0);
    assert!(clouds.gemini.requests().is_empty());
}

#[tokio::test]
async fn by_default_the_gateway_fetches_nothing_from_loopback() {
    let images = ImageServer::start().await;
    let clouds = clouds().await;
    let gw = gateway(&clouds, "gemini", FETCHING).await;
    // No override: the fetcher the gateway builds for itself.
    for url in [
        images.url("/cat.png"),
        format!("https://127.0.0.1:{}/cat.png", images.addr.port()),
    ] {
        let answer = gw
            .post("/v1/chat/completions", &chat_with_image(&url))
            .await;
        assert_eq!(answer.status, 400, "{}", answer.text());
        assert!(
            answer.text().contains("not a public address"),
            "{}",
            answer.text()
        );
    }
    assert_eq!(images.served(), 0, "no connection was made");
    assert!(clouds.gemini.requests().is_empty());
}

#[tokio::test]
async fn a_slow_image_is_refused_at_the_time_limit() {
    let images = ImageServer::start().await;
    let clouds = clouds().await;
    let gw = gateway(&clouds, "gemini", "fetch_urls = true\ntimeout_ms = 200").await;
    assert!(gw.gateway.set_image_fetcher(images.fetcher()));
    let started = std::time::Instant::now();
    let answer = gw
        .post(
            "/v1/chat/completions",
            &chat_with_image(&images.url("/slow.png")),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.text().contains("within 200 ms"), "{}", answer.text());
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(clouds.gemini.requests().is_empty());
}
