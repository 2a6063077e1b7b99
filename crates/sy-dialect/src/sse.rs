//! One server-sent event for a caller whose dialect names its events (Anthropic, OpenAI Responses).

use serde::Serialize;
use serde_json::Value;

/// One SSE event for the caller: write `event: {event}` and `data: {data}`. The data is JSON text,
/// serialized once where the event is made, so that the events of every word can be written from
/// borrowed structs rather than built as a tree of maps first.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: &'static str,
    pub data: String,
}

impl SseEvent {
    pub fn new(event: &'static str, data: &impl Serialize) -> Self {
        // The encoders' data are JSON values and derived structs with string keys, which always
        // serialize; an empty object would stand in for one that did not.
        let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
        Self { event, data }
    }

    /// The data as a JSON value, for a caller that looks inside.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}
