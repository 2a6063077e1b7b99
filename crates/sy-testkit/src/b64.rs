//! Base64 helpers for embeddings in OpenAI's `encoding_format: "base64"` (little-endian f32).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The floats as little-endian f32 bytes, base64-encoded, as the OpenAI SDKs decode them.
pub fn f32s_le(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    encode(&bytes)
}
