//! Switchyard upstream providers: how to reach each upstream (URL, auth), the pooled HTTP client,
//! how its failures are classified, and the built-in simulator.
//!
//! Boundary: providers know nothing of routing or of the caller's dialect; they take an upstream-ready
//! body and return the upstream's status, headers and body stream.

mod body;
mod client;
mod openai;
mod simulator;

pub use body::{BodyError, UpstreamBody};
pub use openai::{classify_status, retry_after};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use sy_config::{Provider as ProviderConfig, ProviderKind, Timeouts};
use sy_core::{ErrorKind, GatewayError};

/// What the caller wants the upstream to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ChatCompletions,
    Embeddings,
}

/// An upstream's answer: status and headers now, body as it arrives.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: UpstreamBody,
}

/// A configured upstream, ready to send requests.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    /// Whether the gateway asks this upstream for streamed usage when the client did not.
    pub stream_usage: bool,
    adapter: Adapter,
}

#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one adapter per configured provider, built once; boxing buys nothing"
)]
enum Adapter {
    OpenAi(openai::OpenAiUpstream),
    Simulator(simulator::Simulator),
}

impl Provider {
    pub fn new(config: &ProviderConfig) -> Result<Self, String> {
        let (adapter, stream_usage) = match &config.kind {
            ProviderKind::Simulator(settings) => (
                Adapter::Simulator(simulator::Simulator::new(settings.clone())),
                true,
            ),
            kind => {
                let upstream = openai::OpenAiUpstream::new(kind, &config.timeouts)?;
                let stream_usage = match kind {
                    ProviderKind::OpenAi { stream_usage, .. }
                    | ProviderKind::Azure { stream_usage, .. }
                    | ProviderKind::OpenAiCompatible { stream_usage, .. } => *stream_usage,
                    _ => false,
                };
                (Adapter::OpenAi(upstream), stream_usage)
            }
        };
        Ok(Self {
            name: config.name.clone(),
            stream_usage,
            adapter,
        })
    }

    pub fn is_simulator(&self) -> bool {
        matches!(self.adapter, Adapter::Simulator(_))
    }

    /// Sends an OpenAI-dialect body for `upstream_model` and waits for the response head, bounded by
    /// the first-byte timeout of `timeouts` (the deployment's, which default to the provider's). Non-2xx statuses are returned, not classified here.
    pub async fn send(
        &self,
        operation: Operation,
        upstream_model: &str,
        body: Bytes,
        timeouts: &Timeouts,
    ) -> Result<UpstreamResponse, GatewayError> {
        let send = async {
            match &self.adapter {
                Adapter::OpenAi(upstream) => {
                    upstream
                        .send(&self.name, operation, upstream_model, body)
                        .await
                }
                Adapter::Simulator(sim) => sim.send(operation, upstream_model, body).await,
            }
        };
        tokio::time::timeout(timeouts.first_byte, send)
            .await
            .map_err(|_| {
                GatewayError::new(
                    ErrorKind::UpstreamTimeout,
                    format!(
                        "upstream provider `{}` did not answer within {} ms",
                        self.name,
                        timeouts.first_byte.as_millis()
                    ),
                )
            })?
    }
}

/// Response headers `x-request-id`-style that identify the upstream's own request, for logs.
pub fn upstream_request_id(headers: &HeaderMap) -> Option<&str> {
    ["x-request-id", "apim-request-id", "request-id"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
}
