//! How an OpenAI-style upstream's non-2xx answer is parsed and classified.

use http::{HeaderMap, StatusCode};
use sy_core::GatewayError;
use sy_wire::openai::error::upstream_message;

use crate::error::{ErrorClass, UpstreamError, header_text, json, retry_after};

/// Parses an OpenAI-style error answer: `{"error":{"message","type","code"}}` or the looser shapes
/// OpenAI-compatible servers send. The class follows the status alone.
pub fn parse_error(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> UpstreamError {
    let code = json(body).and_then(|v| {
        let error = v.get("error")?;
        ["code", "type"]
            .iter()
            .find_map(|key| error.get(*key).and_then(|c| c.as_str()))
            .map(str::to_owned)
    });
    UpstreamError {
        provider: provider.to_owned(),
        status: status.as_u16(),
        code,
        message: upstream_message(body),
        retry_after: retry_after(headers),
        request_id: header_text(headers, &["x-request-id", "apim-request-id"]),
        class: ErrorClass::from_status(status.as_u16()),
    }
}

/// Classifies an upstream's non-2xx response. Client errors are passed back faithfully, except that a
/// refusal of the gateway's own credentials becomes 502 naming the provider (never 401, which would
/// blame the caller's key).
pub fn classify_status(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> GatewayError {
    parse_error(provider, status, headers, body).to_gateway_error()
}
