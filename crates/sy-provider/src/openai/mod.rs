//! Upstreams that speak the OpenAI dialect: OpenAI itself, Azure OpenAI (deployment and v1 URLs),
//! and OpenAI-compatible servers (vLLM, Ollama, llama.cpp, ...).

mod error;
#[cfg(test)]
mod tests;

pub use error::{classify_status, parse_error};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::Full;
use sy_config::{AzureApi, ProviderKind, Timeouts};
use sy_core::GatewayError;

use crate::client::{self, HttpClient};
use crate::transport::{USER_AGENT_VALUE, encode_path_segment, exchange, not_served, sensitive};
use crate::{Operation, UpstreamResponse};

/// Where requests go and how they authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UrlStyle {
    /// `{base}/chat/completions`
    Root(String),
    /// `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`
    AzureDeployments {
        endpoint: String,
        api_version: String,
    },
    /// `{endpoint}/openai/v1/chat/completions`
    AzureV1 { endpoint: String },
}

#[derive(Debug)]
pub struct OpenAiUpstream {
    url: UrlStyle,
    /// Chat and embeddings URLs built once, for the URL styles that do not name the model.
    fixed: Option<(Uri, Uri)>,
    /// The auth header, marked sensitive so it never shows in debug output.
    auth: Option<(HeaderName, HeaderValue)>,
    client: HttpClient,
}

impl OpenAiUpstream {
    pub fn new(kind: &ProviderKind, timeouts: &Timeouts) -> Result<Self, String> {
        let bearer = |key: &str| -> Result<(HeaderName, HeaderValue), String> {
            sensitive(&format!("Bearer {key}")).map(|v| (AUTHORIZATION, v))
        };
        let (url, auth) = match kind {
            ProviderKind::OpenAi {
                base_url, api_key, ..
            } => (
                UrlStyle::Root(base_url.clone()),
                Some(bearer(api_key.expose())?),
            ),
            ProviderKind::OpenAiCompatible {
                base_url, api_key, ..
            } => (
                UrlStyle::Root(base_url.clone()),
                api_key.as_ref().map(|k| bearer(k.expose())).transpose()?,
            ),
            ProviderKind::Azure {
                endpoint,
                api_key,
                api,
                ..
            } => {
                let url = match api {
                    AzureApi::Deployments { api_version } => UrlStyle::AzureDeployments {
                        endpoint: endpoint.clone(),
                        api_version: api_version.clone(),
                    },
                    AzureApi::V1 => UrlStyle::AzureV1 {
                        endpoint: endpoint.clone(),
                    },
                };
                let key = sensitive(api_key.expose())?;
                (url, Some((HeaderName::from_static("api-key"), key)))
            }
            ProviderKind::Simulator(_)
            | ProviderKind::Bedrock { .. }
            | ProviderKind::Anthropic { .. }
            | ProviderKind::Gemini { .. } => {
                return Err(format!(
                    "a `{}` provider does not speak the OpenAI dialect",
                    kind.name()
                ));
            }
        };
        let mut upstream = Self {
            url,
            fixed: None,
            auth,
            client: client::build(timeouts.connect)?,
        };
        if !matches!(upstream.url, UrlStyle::AzureDeployments { .. }) {
            let chat = upstream
                .build_uri(Operation::ChatCompletions, "")
                .map_err(|e| e.message)?;
            let embeddings = upstream
                .build_uri(Operation::Embeddings, "")
                .map_err(|e| e.message)?;
            upstream.fixed = Some((chat, embeddings));
        }
        Ok(upstream)
    }

    fn uri(&self, operation: Operation, upstream_model: &str) -> Result<Uri, GatewayError> {
        match (&self.fixed, operation) {
            (Some((chat, _)), Operation::ChatCompletions) => Ok(chat.clone()),
            (Some((_, embeddings)), Operation::Embeddings) => Ok(embeddings.clone()),
            _ => self.build_uri(operation, upstream_model),
        }
    }

    fn build_uri(&self, operation: Operation, upstream_model: &str) -> Result<Uri, GatewayError> {
        let path = match operation {
            Operation::ChatCompletions => "chat/completions",
            Operation::Embeddings => "embeddings",
            other => {
                return Err(GatewayError::internal(format!(
                    "no OpenAI endpoint for `{}`",
                    other.name()
                )));
            }
        };
        let text = match &self.url {
            UrlStyle::Root(base) => format!("{base}/{path}"),
            UrlStyle::AzureV1 { endpoint } => format!("{endpoint}/openai/v1/{path}"),
            UrlStyle::AzureDeployments {
                endpoint,
                api_version,
            } => format!(
                "{endpoint}/openai/deployments/{}/{path}?api-version={}",
                encode_path_segment(upstream_model),
                encode_path_segment(api_version)
            ),
        };
        text.parse().map_err(|e| {
            GatewayError::internal(format!("cannot build the upstream URL {text:?}: {e}"))
        })
    }

    pub async fn send(
        &self,
        provider: &str,
        operation: Operation,
        upstream_model: &str,
        body: Bytes,
    ) -> Result<UpstreamResponse, GatewayError> {
        if !matches!(
            operation,
            Operation::ChatCompletions | Operation::Embeddings
        ) {
            return Err(not_served(provider, "OpenAI-style", operation));
        }
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.uri(operation, upstream_model)?)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .header(USER_AGENT, USER_AGENT_VALUE.clone())
            .body(Full::new(body))
            .map_err(|e| {
                GatewayError::internal(format!("cannot build the upstream request: {e}"))
            })?;
        if let Some((name, value)) = &self.auth {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        exchange(&self.client, provider, request).await
    }
}
