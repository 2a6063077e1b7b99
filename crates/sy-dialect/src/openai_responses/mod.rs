//! OpenAI Responses (`POST /v1/responses`): an ingress dialect. Requests decode to the canonical
//! model; answers encode as a Response object, or as the named SSE events of a streamed one.
//!
//! Requests are stateless in this release: stored responses (`store: true` set explicitly,
//! `previous_response_id`, `conversation`, `item_reference` items, `background`) are refused as
//! invalid, so the caller gets a 400 saying storage is not enabled rather than a silent amnesia.

mod decode;
mod echo;
mod input;
mod object;
mod response;
mod stream;

pub use crate::sse::SseEvent;
pub use echo::RequestEcho;
pub use stream::ResponsesStreamEncoder;

use crate::canonical::Response;
use crate::{Decoded, DialectError, ResponseMeta};

/// The dialect's name in refusals.
pub const TARGET: &str = "openai_responses";

/// The target named when a field has no equivalent in the canonical model at all.
const TARGET_CANONICAL: &str = "canonical";

/// A caller's `/v1/responses` body → canonical request.
pub fn decode_request(body: &[u8]) -> Result<Decoded, DialectError> {
    decode::decode_request(body).map(|(decoded, _)| decoded)
}

/// Like [`decode_request`], also returning what the answer must repeat of the request.
pub fn decode_request_with_echo(body: &[u8]) -> Result<(Decoded, RequestEcho), DialectError> {
    decode::decode_request(body)
}

/// Canonical answer → the caller's Response object.
pub fn encode_response(
    response: &Response,
    meta: &ResponseMeta,
    echo: &RequestEcho,
) -> Result<Vec<u8>, DialectError> {
    response::encode_response(response, meta, echo)
}
