//! Shared helpers: providers pointed at a fake, and reading whole bodies.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use bytes::Bytes;
use serde_json::Value;
use sy_config::{Provider as ProviderConfig, ProviderKind, Timeouts};
use sy_provider::{Operation, Provider, UpstreamResponse};

pub fn provider(name: &str, kind: ProviderKind) -> Provider {
    Provider::new(&ProviderConfig {
        name: name.into(),
        kind,
        timeouts: Timeouts::default(),
    })
    .unwrap()
}

pub async fn send(
    provider: &Provider,
    operation: Operation,
    model: &str,
    body: &Value,
) -> UpstreamResponse {
    provider
        .send(
            operation,
            model,
            Bytes::from(body.to_string()),
            None,
            Timeouts::default().head(true),
        )
        .await
        .unwrap()
}

/// The whole body; panics if it breaks.
pub async fn read_all(response: &mut UpstreamResponse) -> Bytes {
    let mut out = Vec::new();
    while let Some(chunk) = response.body.chunk().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    Bytes::from(out)
}

pub async fn read_json(response: &mut UpstreamResponse) -> Value {
    serde_json::from_slice(&read_all(response).await).unwrap()
}

/// `(event, data)` of an LF-framed SSE body with `event:` lines.
pub fn sse_events(body: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(body).unwrap();
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in event.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).unwrap();
                }
            }
            (name, data)
        })
        .collect()
}
