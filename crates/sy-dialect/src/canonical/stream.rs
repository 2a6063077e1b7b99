//! Canonical stream events: what every upstream stream decoder produces and every ingress stream
//! encoder consumes, one upstream event at a time.

use super::{FinishReason, Usage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The answer began. Ids are the upstream's, for logs; encoders use the gateway's own.
    MessageStart {
        upstream_id: Option<String>,
        upstream_model: Option<String>,
    },
    TextDelta(String),
    ReasoningDelta(String),
    /// The signature closing a reasoning block.
    ReasoningSignature(String),
    /// A whole reasoning block the provider encrypted (Anthropic's `redacted_thinking`, Converse's
    /// `redactedContent`): opaque data the caller must send back unchanged in the next turn.
    RedactedReasoning(String),
    /// A tool call began. `index` counts tool calls in this answer from 0, in arrival order,
    /// independent of any upstream block numbering.
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    /// A fragment of a call's JSON arguments; fragments concatenate.
    ToolCallArgsDelta {
        index: u32,
        fragment: String,
    },
    Finish {
        reason: FinishReason,
        stop_sequence: Option<String>,
    },
    /// Usage so far; a later event replaces an earlier one.
    Usage(Usage),
    /// The upstream failed mid-stream; nothing follows.
    Error(StreamError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    pub kind: StreamErrorKind,
    pub message: String,
}

impl StreamError {
    pub(crate) fn new(kind: StreamErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The class of a mid-stream failure; it decides the error type each dialect shows and whether a
/// client should retry (throttling must stay retryable across translation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamErrorKind {
    /// The upstream rejected the request.
    InvalidRequest,
    RateLimited,
    Overloaded,
    /// The upstream failed internally.
    Server,
    /// The model produced output its provider could not use (malformed output or tool use).
    ModelError,
    Timeout,
    /// The upstream's stream broke its own protocol.
    Protocol,
    /// The stream ended before the answer did.
    Truncated,
}

impl StreamErrorKind {
    /// Whether the same request may succeed if retried.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Overloaded | Self::Server | Self::Timeout | Self::Truncated
        )
    }
}
