//! Shared helpers for the integration tests: a loopback hyper client and SSE splitting.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn h1() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn h2c() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

pub async fn post(client: &TestClient, url: &str, body: &Value) -> Response<Incoming> {
    let req = Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    client.request(req).await.unwrap()
}

/// The whole body, and whether it ended with an error instead of cleanly.
pub async fn read_all(resp: Response<Incoming>) -> (Bytes, bool) {
    let mut body = resp.into_body();
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Err(_) => return (buf.freeze(), true),
        }
    }
    (buf.freeze(), false)
}

/// The `data:` payloads of an LF-framed SSE body, in order.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "unterminated event in {text:?}"
    );
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap().to_owned())
        .collect()
}

/// Every `data:` payload but `[DONE]`, parsed.
pub fn chunks(data: &[String]) -> Vec<Value> {
    data.iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}
