//! One server-sent event for a caller whose dialect names its events (Anthropic, OpenAI Responses).

use serde_json::Value;

/// One SSE event for the caller: write `event: {event}` and `data: {data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: &'static str,
    pub data: Value,
}
