//! Anthropic Messages: an ingress dialect (request decoding, answer and SSE encoding) and an
//! upstream dialect (request encoding, answer and SSE decoding).

mod decode;
mod encode;
mod response;
mod stream_decode;
mod stream_encode;

pub use crate::sse::SseEvent;
pub use stream_decode::AnthropicStreamDecoder;
pub use stream_encode::AnthropicStreamEncoder;

pub(crate) use encode::{JSON_TOOL, check_forced_answer_tool};
pub(crate) use response::unforce;

use crate::canonical::{Request, Response};
use crate::{Decoded, DialectError, EncodeOptions, Encoded, ResponseMeta, Translation};

/// The dialect's name in refusals.
pub const TARGET: &str = "anthropic";

/// A caller's `/v1/messages` body → canonical request.
pub fn decode_request(body: &[u8]) -> Result<Decoded, DialectError> {
    decode::decode_request(body)
}

/// Canonical request → a Messages body for `options.model`.
pub fn encode_request(request: &Request, options: &EncodeOptions) -> Result<Encoded, DialectError> {
    encode::encode_request(request, options)
}

/// An upstream's message → canonical answer.
pub fn decode_response(body: &[u8], translation: &Translation) -> Result<Response, DialectError> {
    response::decode_response(body, translation)
}

/// Canonical answer → the caller's message.
pub fn encode_response(response: &Response, meta: &ResponseMeta) -> Result<Vec<u8>, DialectError> {
    response::encode_response(response, meta)
}

/// The beta flags of `anthropic-beta` header values (each a comma-separated list), in order,
/// without blanks or repeats.
pub fn betas_from_header<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut betas: Vec<String> = Vec::new();
    for flag in values.into_iter().flat_map(|value| value.split(',')) {
        let flag = flag.trim();
        if !flag.is_empty() && !betas.iter().any(|b| b == flag) {
            betas.push(flag.to_owned());
        }
    }
    betas
}

/// The beta flags of an `anthropic_beta` body field (where Bedrock takes them): an array of
/// strings.
pub fn betas_from_json(
    value: &serde_json::Value,
    field: &str,
) -> Result<Vec<String>, DialectError> {
    let flags = value
        .as_array()
        .and_then(|flags| flags.iter().map(|f| f.as_str()).collect::<Option<Vec<_>>>())
        .ok_or_else(|| DialectError::invalid(field, "expected an array of strings"))?;
    Ok(betas_from_header(flags))
}
