//! Switchyard's shared vocabulary: error classes, request ids and secrets, used by every other crate.

mod error;
mod id;
mod secret;

pub use error::{Blame, ErrorKind, GatewayError};
pub use id::{RequestId, random_u64, splitmix64};
pub use secret::{Secret, constant_time_eq};
