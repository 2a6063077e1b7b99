//! Bedrock Converse: an ingress dialect (request decoding, answer and ConverseStream encoding, for
//! callers using the AWS SDKs) and an upstream dialect (request encoding, answer and
//! ConverseStream decoding). Event-stream framing itself is not here; these codecs take and give
//! each frame's event type and JSON payload.

mod decode;
mod encode;
mod response;
mod stream_decode;
mod stream_encode;

pub use stream_decode::ConverseStreamDecoder;
pub use stream_encode::{ConverseEvent, ConverseStreamEncoder};

use crate::canonical::{Request, Response};
use crate::{Decoded, DialectError, EncodeOptions, Encoded, Translation};

/// The dialect's name in refusals.
pub const TARGET: &str = "converse";

/// A caller's Converse body → canonical request. The model id is in the caller's URL.
pub fn decode_request(body: &[u8]) -> Result<Decoded, DialectError> {
    decode::decode_request(body)
}

/// Canonical request → a Converse body; `options.model` only decides model-specific fields
/// (Claude's thinking and `top_k`), as the id itself goes in the URL.
pub fn encode_request(request: &Request, options: &EncodeOptions) -> Result<Encoded, DialectError> {
    encode::encode_request(request, options)
}

/// An upstream's Converse answer → canonical answer (Converse answers carry no id or model).
pub fn decode_response(body: &[u8], translation: &Translation) -> Result<Response, DialectError> {
    response::decode_response(body, translation)
}

/// Canonical answer → the caller's Converse answer, with the gateway's latency in `metrics`.
pub fn encode_response(response: &Response, latency_ms: u64) -> Result<Vec<u8>, DialectError> {
    response::encode_response(response, latency_ms)
}
