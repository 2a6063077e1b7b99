//! The OpenAI dialect's ingress: Chat Completions, Embeddings, Models, and its error shape.

mod error;
mod models;
mod proxy;

pub use error::{not_found, pass_back, respond};
pub use models::list_models;
pub use proxy::{chat_completions, embeddings};
