//! Simulated embeddings: a deterministic unit vector per input text.

use base64::Engine;
use http::StatusCode;
use sy_config::SimulatorSettings;
use sy_wire::openai::embeddings::*;

use super::{estimate_tokens, json_response, stable_hash};
use crate::UpstreamResponse;

pub(super) fn answer(
    settings: &SimulatorSettings,
    model: &str,
    body: &[u8],
) -> Result<UpstreamResponse, String> {
    let request: EmbeddingsRequest =
        serde_json::from_slice(body).map_err(|e| format!("invalid embeddings request: {e}"))?;
    let dims = request.dimensions.unwrap_or(settings.embedding_dimensions);
    if dims == 0 || dims > 8192 {
        return Err("`dimensions` must be between 1 and 8192".into());
    }
    let base64 = request.encoding_format.as_deref() == Some("base64");
    let items = request.input.items();
    let prompt_tokens: u64 = items.iter().map(|t| estimate_tokens(t)).sum();
    let data = items
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = vector(text, dims as usize);
            Embedding {
                object: "embedding",
                index: index as u32,
                embedding: if base64 {
                    let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                    EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    EmbeddingVector::Float(vector)
                },
            }
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model,
        usage: EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    };
    let body = serde_json::to_vec(&list).map_err(|e| e.to_string())?;
    Ok(json_response(StatusCode::OK, body))
}

/// A unit vector seeded by the text (splitmix64), so equal texts embed equally.
pub(super) fn vector(text: &str, dims: usize) -> Vec<f32> {
    let seed = stable_hash(text.as_bytes());
    let mut v: Vec<f32> = (0..dims as u64)
        .map(|i| {
            let z = sy_core::splitmix64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            ((z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}
