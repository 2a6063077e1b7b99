//! The OpenAI dialect: Chat Completions, Embeddings, Models, and its error shape.

pub mod chat;
pub mod embeddings;
pub mod error;
pub mod head;
pub mod models;
pub mod usage;

pub use error::{ErrorBody, ErrorObject};
pub use head::{BodyEdit, ChatHead, EmbeddingsHead, HeadError};
pub use usage::{Usage, UsageProbe};
