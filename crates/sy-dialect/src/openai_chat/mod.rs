//! OpenAI Chat Completions: an ingress dialect (request decoding, answer and chunk encoding) and an
//! upstream dialect (request encoding, answer and chunk decoding) for OpenAI, Azure OpenAI and
//! OpenAI-compatible servers.

mod decode;
mod encode;
mod response;
mod stream;
mod stream_decode;

pub use stream::{Chunk, ChunkEncoder};
pub use stream_decode::ChunkDecoder;

pub(crate) use decode::decode_effort;
pub(crate) use stream::error_type_and_code;

use crate::canonical::{Request, Response};
use crate::{Decoded, DialectError, EncodeOptions, Encoded, ResponseMeta, Translation};

/// The dialect's name in refusals.
pub const TARGET: &str = "openai_chat";

/// The target named when a field has no equivalent in the canonical model at all.
pub(crate) const TARGET_CANONICAL: &str = "canonical";

/// A vendor's reasoning text (`reasoning`): servers that send it as text (vLLM, Groq,
/// OpenRouter) give the text; any other JSON there is not text to show and reads as none, rather
/// than failing the answer.
fn vendor_text<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    Ok(match serde_json::Value::deserialize(value)? {
        serde_json::Value::String(text) => Some(text),
        _ => None,
    })
}

/// A caller's `/v1/chat/completions` body → canonical request.
pub fn decode_request(body: &[u8]) -> Result<Decoded, DialectError> {
    decode::decode_request(body)
}

/// Canonical request → a chat completions body for `options.model`.
pub fn encode_request(request: &Request, options: &EncodeOptions) -> Result<Encoded, DialectError> {
    encode::encode_request(request, options)
}

/// An upstream's chat completion → canonical answer.
pub fn decode_response(body: &[u8], translation: &Translation) -> Result<Response, DialectError> {
    response::decode_response(body, translation)
}

/// Canonical answer → the caller's chat completion.
pub fn encode_response(response: &Response, meta: &ResponseMeta) -> Result<Vec<u8>, DialectError> {
    response::encode_response(response, meta)
}
