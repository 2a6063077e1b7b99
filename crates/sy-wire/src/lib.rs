//! Switchyard wire formats: serde types for each dialect's JSON, and the SSE framing they stream in.
//!
//! Boundary: this crate does no I/O and knows nothing of routing or providers. Only wire types derive serde.

pub mod openai;
pub mod sse;
