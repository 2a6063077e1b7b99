//! Embeddings request and response bodies, typed, for components that produce embeddings themselves.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    pub input: EmbeddingInput,
    #[serde(default)]
    pub dimensions: Option<u32>,
    #[serde(default)]
    pub encoding_format: Option<String>,
}

/// Every input shape the API accepts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// Each input as text (token ids are rendered as their numbers), in order.
    pub fn items(&self) -> Vec<String> {
        match self {
            Self::Text(t) => vec![t.clone()],
            Self::Texts(ts) => ts.clone(),
            Self::Tokens(ids) => vec![join_ids(ids)],
            Self::TokenLists(lists) => lists.iter().map(|ids| join_ids(ids)).collect(),
        }
    }
}

fn join_ids(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Serialize)]
pub struct EmbeddingList<'a> {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    pub model: &'a str,
    pub usage: EmbeddingUsage,
}

#[derive(Debug, Serialize)]
pub struct Embedding {
    pub object: &'static str,
    pub index: u32,
    pub embedding: EmbeddingVector,
}

/// Floats, or (`encoding_format: "base64"`) little-endian f32 bytes in base64, as the SDKs expect.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Serialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}
