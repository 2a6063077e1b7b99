//! Google's Gemini API: `POST {base}/v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:countTokens`, authenticated by `x-goog-api-key`.

mod error;
#[cfg(test)]
mod tests;

pub use error::parse_error;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::Full;
use sy_config::Timeouts;
use sy_core::{GatewayError, Secret};

use crate::client::{self, HttpClient};
use crate::transport::{USER_AGENT_VALUE, encode_path_segment, exchange, not_served, sensitive};
use crate::{Operation, UpstreamResponse};

static API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

#[derive(Debug)]
pub struct GeminiUpstream {
    base_url: String,
    /// Marked sensitive, so it never shows in debug output.
    api_key: HeaderValue,
    client: HttpClient,
}

impl GeminiUpstream {
    pub fn new(base_url: &str, api_key: &Secret, timeouts: &Timeouts) -> Result<Self, String> {
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: sensitive(api_key.expose())?,
            client: client::build(timeouts.connect)?,
        })
    }

    /// The request URL. Streaming asks for `alt=sse`: without it Gemini streams one JSON array
    /// rather than server-sent events. A model may be given as `gemini-2.5-flash` or as the
    /// resource name `models/gemini-2.5-flash` (`tunedModels/...` too).
    pub fn uri(&self, operation: Operation, upstream_model: &str) -> Result<Uri, GatewayError> {
        let method = match operation {
            Operation::GenerateContent { stream: false } => ":generateContent",
            Operation::GenerateContent { stream: true } => ":streamGenerateContent?alt=sse",
            Operation::CountTokens => ":countTokens",
            other => {
                return Err(GatewayError::internal(format!(
                    "no Gemini endpoint for `{}`",
                    other.name()
                )));
            }
        };
        let resource = match upstream_model.split_once('/') {
            Some((collection @ ("models" | "tunedModels"), id)) if !id.is_empty() => {
                format!("{collection}/{}", encode_path_segment(id))
            }
            _ => format!("models/{}", encode_path_segment(upstream_model)),
        };
        let text = format!("{}/v1beta/{resource}{method}", self.base_url);
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
            Operation::GenerateContent { .. } | Operation::CountTokens
        ) {
            return Err(not_served(provider, "gemini", operation));
        }
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri(operation, upstream_model)?)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .header(USER_AGENT, USER_AGENT_VALUE.clone())
            .header(&API_KEY, self.api_key.clone())
            .body(Full::new(body))
            .map_err(|e| {
                GatewayError::internal(format!("cannot build the upstream request: {e}"))
            })?;
        exchange(&self.client, provider, request).await
    }
}
