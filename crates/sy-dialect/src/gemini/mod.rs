//! Gemini `generateContent`: an upstream dialect only (request encoding, answer and SSE chunk
//! decoding). The model id goes in the URL.

mod encode;
mod response;
mod stream;

pub use stream::GeminiStreamDecoder;

use crate::canonical::{Request, Response};
use crate::{DialectError, EncodeOptions, Encoded, Translation};

/// The dialect's name in refusals.
pub const TARGET: &str = "gemini";

/// Canonical request → a `generateContent` body.
pub fn encode_request(request: &Request, options: &EncodeOptions) -> Result<Encoded, DialectError> {
    encode::encode_request(request, options)
}

/// An upstream's `GenerateContentResponse` → canonical answer.
pub fn decode_response(body: &[u8], translation: &Translation) -> Result<Response, DialectError> {
    response::decode_response(body, translation)
}
