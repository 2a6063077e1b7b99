//! Switchyard test support: [`FakeUpstream`], a scriptable and recording fake OpenAI upstream;
//! [`FakeBedrock`], [`FakeAnthropic`] and [`FakeGemini`], the same for the vendors that speak their
//! own wire protocols; and [`mock`], the fixed fast responder behind the `sy-mock-upstream` binary.
//!
//! Everything binds 127.0.0.1 only and serves HTTP/1.1 and h2c (prior knowledge) on one port.

pub mod anthropic;
pub mod b64;
pub mod bedrock;
pub mod body;
mod fake;
pub mod gemini;
pub mod mock;
mod responses;
pub mod script;
mod server;

pub use anthropic::{AnthropicScript, FakeAnthropic};
pub use bedrock::{BedrockCredentials, BedrockScript, FakeBedrock};
pub use body::{KitBody, Step};
pub use gemini::{FakeGemini, GeminiScript};
pub use script::{Script, openai_error};
pub use server::{FakeUpstream, Recorded};
