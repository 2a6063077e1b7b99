//! Anthropic's Messages API: `POST {base}/v1/messages` (and `/v1/messages/count_tokens`) with
//! `x-api-key` and `anthropic-version`; its error bodies and in-stream `error` events.

mod error;
#[cfg(test)]
mod tests;

pub use error::{parse_error, parse_stream_error};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::Full;
use sy_config::Timeouts;
use sy_core::{GatewayError, Secret};

use crate::client::{self, HttpClient};
use crate::transport::{USER_AGENT_VALUE, exchange, not_served, sensitive};
use crate::{Operation, UpstreamResponse};

static API_KEY: HeaderName = HeaderName::from_static("x-api-key");
static VERSION: HeaderName = HeaderName::from_static("anthropic-version");
static BETA: HeaderName = HeaderName::from_static("anthropic-beta");

#[derive(Debug)]
pub struct AnthropicUpstream {
    messages: Uri,
    count_tokens: Uri,
    /// Marked sensitive, so it never shows in debug output.
    api_key: HeaderValue,
    version: HeaderValue,
    client: HttpClient,
}

impl AnthropicUpstream {
    pub fn new(
        base_url: &str,
        api_key: &Secret,
        version: &str,
        timeouts: &Timeouts,
    ) -> Result<Self, String> {
        let base = base_url.trim_end_matches('/');
        let uri = |path: &str| {
            format!("{base}{path}")
                .parse::<Uri>()
                .map_err(|e| format!("cannot build the Anthropic URL from `{base}`: {e}"))
        };
        Ok(Self {
            messages: uri("/v1/messages")?,
            count_tokens: uri("/v1/messages/count_tokens")?,
            api_key: sensitive(api_key.expose())?,
            version: HeaderValue::from_str(version)
                .map_err(|_| format!("`{version}` cannot be an anthropic-version header"))?,
            client: client::build(timeouts.connect)?,
        })
    }

    pub fn uri(&self, operation: Operation) -> Option<&Uri> {
        match operation {
            Operation::Messages => Some(&self.messages),
            Operation::CountTokens => Some(&self.count_tokens),
            _ => None,
        }
    }

    /// Sends a Messages body, with the caller's beta flags if any; the body names its model
    /// itself, so the deployment's model id is not used.
    pub async fn send(
        &self,
        provider: &str,
        operation: Operation,
        body: Bytes,
        beta: Option<HeaderValue>,
    ) -> Result<UpstreamResponse, GatewayError> {
        let uri = self
            .uri(operation)
            .ok_or_else(|| not_served(provider, "anthropic", operation))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .header(USER_AGENT, USER_AGENT_VALUE.clone())
            .header(&API_KEY, self.api_key.clone())
            .header(&VERSION, self.version.clone())
            .body(Full::new(body))
            .map_err(|e| {
                GatewayError::internal(format!("cannot build the upstream request: {e}"))
            })?;
        if let Some(beta) = beta {
            request.headers_mut().insert(&BETA, beta);
        }
        exchange(&self.client, provider, request).await
    }
}
