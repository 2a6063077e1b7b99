//! The built-in simulator: an in-process upstream that speaks the OpenAI dialect, answers
//! deterministically from the request, streams at a configured pace, and fails on demand.
//! For demos, load tests and CI; the gateway announces it loudly whenever it is configured.

mod chat;
mod embeddings;
#[cfg(test)]
mod tests;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use sy_config::SimulatorSettings;
use sy_core::GatewayError;
use sy_wire::openai::ErrorBody;

use crate::body::UpstreamBody;
use crate::transport::not_served;
use crate::{Operation, UpstreamResponse};

#[derive(Debug)]
pub struct Simulator {
    settings: SimulatorSettings,
}

impl Simulator {
    pub fn new(settings: SimulatorSettings) -> Self {
        Self { settings }
    }

    pub async fn send(
        &self,
        provider: &str,
        operation: Operation,
        upstream_model: &str,
        body: Bytes,
    ) -> Result<UpstreamResponse, GatewayError> {
        if let Some(status) = self.settings.fail_status {
            tokio::time::sleep(self.settings.ttft).await;
            return Ok(failure(status));
        }
        let answer = match operation {
            Operation::ChatCompletions => chat::answer(&self.settings, upstream_model, &body).await,
            Operation::Embeddings => embeddings::answer(&self.settings, upstream_model, &body),
            other => return Err(not_served(provider, "simulator", other)),
        };
        Ok(answer.unwrap_or_else(|message| {
            json_response(
                StatusCode::BAD_REQUEST,
                ErrorBody::new(message, "invalid_request_error", None, None).to_json(),
            )
        }))
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> UpstreamResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    UpstreamResponse {
        status,
        headers,
        body: UpstreamBody::full(Bytes::from(body)),
    }
}

/// The error a real OpenAI upstream would send for `status`.
fn failure(status: u16) -> UpstreamResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (kind, code) = match status.as_u16() {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        429 => ("requests", Some("rate_limit_exceeded")),
        400..=499 => ("invalid_request_error", None),
        _ => ("server_error", None),
    };
    let body = ErrorBody::new(
        format!("simulated failure (HTTP {})", status.as_u16()),
        kind,
        None,
        code,
    );
    let mut response = json_response(status, body.to_json());
    if matches!(status.as_u16(), 429 | 503) {
        response
            .headers
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A stable 64-bit hash (FNV-1a), so answers do not change between runs or builds.
fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A rough token count: about four characters per token, at least one.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}
