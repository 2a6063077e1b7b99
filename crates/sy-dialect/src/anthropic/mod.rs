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
