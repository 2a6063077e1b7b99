//! An upstream response body: bytes from the network, or from the in-process simulator.

use std::fmt;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::BodyExt;

/// Why a body stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type LocalStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// A response body read chunk by chunk. Dropping it cancels the upstream request
/// (the connection is closed, or the simulator stops).
pub enum UpstreamBody {
    Http(hyper::body::Incoming),
    Local(LocalStream),
    Empty,
}

impl fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http(_) => "UpstreamBody::Http",
            Self::Local(_) => "UpstreamBody::Local",
            Self::Empty => "UpstreamBody::Empty",
        })
    }
}

impl UpstreamBody {
    pub fn full(bytes: Bytes) -> Self {
        Self::Local(Box::pin(futures_util::stream::once(
            async move { Ok(bytes) },
        )))
    }

    /// The next chunk of data; `None` at a clean end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        match self {
            Self::Http(incoming) => loop {
                match incoming.frame().await? {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data()
                            && !data.is_empty()
                        {
                            return Some(Ok(data));
                        }
                    }
                    Err(e) => return Some(Err(BodyError(describe_hyper_error(&e)))),
                }
            },
            Self::Local(stream) => stream.next().await,
            Self::Empty => None,
        }
    }
}

/// hyper's errors print only their outer layer; include the cause chain.
pub(crate) fn describe_hyper_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
