//! Switchyard dialects: the canonical model every request and answer passes through when the caller
//! and the upstream speak different dialects, and one codec per dialect to and from it.
//!
//! Hub and spoke: each dialect has one codec to and from [`canonical`], never a converter to another
//! dialect. A translation has three steps, all pure functions:
//!
//! 1. an ingress codec decodes the caller's body into a [`canonical::Request`] (`openai_chat`,
//!    `openai_responses`, `anthropic`, `converse`), reporting fields it dropped as harmless;
//! 2. an upstream codec encodes it into the upstream's body (all four dialects), or refuses with
//!    [`DialectError::Untranslatable`] before anything is sent; the [`Translation`] it returns travels
//!    with the call and is needed to read the answer back;
//! 3. the upstream codec decodes the answer (whole, or event by event through a stream decoder) and
//!    the ingress codec encodes it in the caller's dialect.
//!
//! What is refused and what is dropped follows the reject-vs-drop policy of the protocol reference:
//! anything that would change the meaning of a request is refused; advisory fields (`user` where
//! the target has no slot, `metadata`, `seed`, penalties, `logit_bias`, `service_tier`, image
//! `detail`, `top_k` where unsupported, ...) are dropped and named in the decoder's or encoder's
//! `dropped` list, so the edge can report them in a warning header.

pub mod anthropic;
pub mod canonical;
pub mod converse;
mod error;
pub mod gemini;
mod ids;
mod limits;
mod media;
pub mod openai_chat;
pub mod openai_responses;
mod options;
mod sse;
mod tool_names;
mod turns;

pub use error::DialectError;
pub use options::{
    Decoded, EncodeOptions, Encoded, ResponseMeta, StructuredOutputMode, Translation,
};
pub use sse::SseEvent;
