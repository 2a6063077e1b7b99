//! Relaying an upstream's answer back to the client: whole bodies, and SSE streams event by event.

mod client;
mod egress;
mod sse;
mod tapped;
mod translated;

pub use client::{deadline, read_whole, streamed};
pub use egress::{Egress, InvokeStream, Native};

pub use sse::{SseRelay, StreamEnd};
pub use tapped::TappedSse;
pub use translated::TranslatedStream;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sy_provider::UpstreamBody;

/// Why a body could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    TooLarge,
    Idle,
    Broken(String),
}

/// Reads a whole body, at most `limit` bytes, failing if the upstream goes silent for `idle`.
pub async fn read_bounded(
    body: &mut UpstreamBody,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, ReadError> {
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    loop {
        let next = tokio::time::timeout(idle, body.chunk())
            .await
            .map_err(|_| ReadError::Idle)?;
        match next {
            None => break,
            Some(Err(e)) => return Err(ReadError::Broken(e.0)),
            Some(Ok(chunk)) => {
                let total = buf.len() + first.as_ref().map_or(0, Bytes::len) + chunk.len();
                if total > limit {
                    return Err(ReadError::TooLarge);
                }
                // Most bodies arrive in one chunk: keep it without copying.
                match first.take() {
                    None if buf.is_empty() => first = Some(chunk),
                    Some(f) => {
                        buf.extend_from_slice(&f);
                        buf.extend_from_slice(&chunk);
                    }
                    None => buf.extend_from_slice(&chunk),
                }
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// Whether an answer is AWS event-stream frames (Bedrock's streams) rather than SSE.
pub fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .starts_with(b"application/vnd.amazon.eventstream")
    })
}
