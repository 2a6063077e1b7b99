//! Switchyard test support: [`FakeUpstream`], a scriptable and recording fake OpenAI upstream, and
//! [`mock`], the fixed fast responder behind the `sy-mock-upstream` binary.
//!
//! Everything binds 127.0.0.1 only and serves HTTP/1.1 and h2c (prior knowledge) on one port.

pub mod b64;
pub mod body;
pub mod mock;
mod responses;
pub mod script;
mod server;

pub use body::{KitBody, Step};
pub use script::{Script, openai_error};
pub use server::{FakeUpstream, Recorded};
