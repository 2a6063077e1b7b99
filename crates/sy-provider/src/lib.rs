//! Switchyard upstream providers: how to reach each upstream (URL, auth), the pooled HTTP client,
//! how its failures are classified, and the built-in simulator.
//!
//! Boundary: providers know nothing of routing or of the caller's dialect; they take an upstream-ready
//! body and return the upstream's status, headers and body stream.

pub mod anthropic;
pub mod bedrock;
mod body;
mod client;
mod error;
pub mod gemini;
mod openai;
mod simulator;
#[cfg(test)]
mod tests;
mod transport;

pub use body::{BodyError, UpstreamBody};
pub use client::tls_client_config;
pub use error::{ErrorClass, UpstreamError, retry_after};
pub use openai::classify_status;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use std::time::Duration;

use sy_config::{Provider as ProviderConfig, ProviderKind};
use sy_core::{ErrorKind, GatewayError};

/// What the caller wants the upstream to do. The body is already in the upstream's dialect, so
/// each family serves its own operations and refuses the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// OpenAI `POST /chat/completions`; the body's `stream` decides the answer's shape.
    ChatCompletions,
    /// OpenAI `POST /embeddings`.
    Embeddings,
    /// Anthropic `POST /v1/messages`; the body's `stream` decides the answer's shape.
    Messages,
    /// Bedrock `POST /model/{id}/converse`, or `/converse-stream` (an event stream).
    Converse { stream: bool },
    /// Bedrock `POST /model/{id}/invoke` with a model-native body, or
    /// `/invoke-with-response-stream` (an event stream of `chunk` events).
    Invoke { stream: bool },
    /// Gemini `POST /v1beta/models/{model}:generateContent`, or
    /// `:streamGenerateContent?alt=sse` (server-sent events).
    GenerateContent { stream: bool },
    /// Token counting: Anthropic `/v1/messages/count_tokens`, Bedrock `/model/{id}/count-tokens`,
    /// Gemini `:countTokens`.
    CountTokens,
}

impl Operation {
    /// A stable name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat_completions",
            Self::Embeddings => "embeddings",
            Self::Messages => "messages",
            Self::Converse { stream: false } => "converse",
            Self::Converse { stream: true } => "converse_stream",
            Self::Invoke { stream: false } => "invoke",
            Self::Invoke { stream: true } => "invoke_stream",
            Self::GenerateContent { stream: false } => "generate_content",
            Self::GenerateContent { stream: true } => "stream_generate_content",
            Self::CountTokens => "count_tokens",
        }
    }
}

/// The API dialect an upstream speaks: what its request and answer bodies look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI Chat Completions (OpenAI, Azure OpenAI, OpenAI-compatible servers, the simulator).
    OpenAiChat,
    /// Anthropic Messages.
    Anthropic,
    /// Bedrock Converse / ConverseStream.
    Converse,
    /// Gemini generateContent.
    Gemini,
}

impl Dialect {
    /// The operation that sends a chat request in this dialect.
    pub fn chat_operation(self, stream: bool) -> Operation {
        match self {
            Dialect::OpenAiChat => Operation::ChatCompletions,
            Dialect::Anthropic => Operation::Messages,
            Dialect::Converse => Operation::Converse { stream },
            Dialect::Gemini => Operation::GenerateContent { stream },
        }
    }
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
enum Adapter {
    OpenAi(openai::OpenAiUpstream),
    Bedrock(bedrock::BedrockUpstream),
    Anthropic(anthropic::AnthropicUpstream),
    Gemini(gemini::GeminiUpstream),
    Simulator(simulator::Simulator),
}

impl Provider {
    pub fn new(config: &ProviderConfig) -> Result<Self, String> {
        let timeouts = &config.timeouts;
        let (adapter, stream_usage) = match &config.kind {
            ProviderKind::Simulator(settings) => (
                Adapter::Simulator(simulator::Simulator::new(settings.clone())),
                true,
            ),
            kind @ (ProviderKind::OpenAi { stream_usage, .. }
            | ProviderKind::Azure { stream_usage, .. }
            | ProviderKind::OpenAiCompatible { stream_usage, .. }) => (
                Adapter::OpenAi(openai::OpenAiUpstream::new(kind, timeouts)?),
                *stream_usage,
            ),
            // These always report usage in their streams; there is nothing to ask for.
            ProviderKind::Bedrock {
                region,
                endpoint,
                auth,
            } => (
                Adapter::Bedrock(bedrock::BedrockUpstream::new(
                    endpoint, region, auth, timeouts,
                )?),
                false,
            ),
            ProviderKind::Anthropic {
                base_url,
                api_key,
                version,
            } => (
                Adapter::Anthropic(anthropic::AnthropicUpstream::new(
                    base_url, api_key, version, timeouts,
                )?),
                false,
            ),
            ProviderKind::Gemini { base_url, api_key } => (
                Adapter::Gemini(gemini::GeminiUpstream::new(base_url, api_key, timeouts)?),
                false,
            ),
        };
        Ok(Self {
            name: config.name.clone(),
            stream_usage,
            adapter,
        })
    }

    /// The dialect this provider's chat endpoint speaks.
    pub fn dialect(&self) -> Dialect {
        match self.adapter {
            Adapter::OpenAi(_) | Adapter::Simulator(_) => Dialect::OpenAiChat,
            Adapter::Bedrock(_) => Dialect::Converse,
            Adapter::Anthropic(_) => Dialect::Anthropic,
            Adapter::Gemini(_) => Dialect::Gemini,
        }
    }

    pub fn is_simulator(&self) -> bool {
        matches!(self.adapter, Adapter::Simulator(_))
    }

    /// Sends a body in this provider's dialect for `upstream_model` and waits up to `head_timeout`
    /// for the response head (see [`sy_config::Timeouts::head`]). `anthropic_beta` is the
    /// caller's beta flags for Anthropic's API, which takes them as a header (Bedrock takes them
    /// in the body, where the encoder put them; other APIs have none). Non-2xx statuses are
    /// returned, not classified here: see [`classify`](Self::classify).
    pub async fn send(
        &self,
        operation: Operation,
        upstream_model: &str,
        body: Bytes,
        anthropic_beta: Option<HeaderValue>,
        head_timeout: Duration,
    ) -> Result<UpstreamResponse, GatewayError> {
        let send = async {
            match &self.adapter {
                Adapter::OpenAi(upstream) => {
                    upstream
                        .send(&self.name, operation, upstream_model, body)
                        .await
                }
                Adapter::Bedrock(upstream) => {
                    upstream
                        .send(&self.name, operation, upstream_model, body)
                        .await
                }
                Adapter::Anthropic(upstream) => {
                    upstream
                        .send(&self.name, operation, body, anthropic_beta)
                        .await
                }
                Adapter::Gemini(upstream) => {
                    upstream
                        .send(&self.name, operation, upstream_model, body)
                        .await
                }
                Adapter::Simulator(sim) => {
                    sim.send(&self.name, operation, upstream_model, body).await
                }
            }
        };
        tokio::time::timeout(head_timeout, send)
            .await
            .map_err(|_| {
                GatewayError::new(
                    ErrorKind::UpstreamTimeout,
                    format!(
                        "upstream provider `{}` did not answer within {} ms",
                        self.name,
                        head_timeout.as_millis()
                    ),
                )
            })?
    }
}

impl Provider {
    /// Parses a non-2xx answer by this provider's conventions, for rendering in the caller's dialect.
    pub fn upstream_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> UpstreamError {
        match &self.adapter {
            Adapter::OpenAi(_) | Adapter::Simulator(_) => {
                openai::parse_error(&self.name, status, headers, body)
            }
            Adapter::Bedrock(_) => bedrock::parse_error(&self.name, status, headers, body),
            Adapter::Anthropic(_) => anthropic::parse_error(&self.name, status, headers, body),
            Adapter::Gemini(_) => gemini::parse_error(&self.name, status, headers, body),
        }
    }

    /// Classifies a non-2xx answer by this provider's conventions.
    pub fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> GatewayError {
        self.upstream_error(status, headers, body)
            .to_gateway_error()
    }
}

/// Response headers `x-request-id`-style that identify the upstream's own request, for logs.
pub fn upstream_request_id(headers: &HeaderMap) -> Option<&str> {
    [
        "x-request-id",
        "apim-request-id",
        "request-id",
        "x-amzn-requestid",
    ]
    .iter()
    .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
}
