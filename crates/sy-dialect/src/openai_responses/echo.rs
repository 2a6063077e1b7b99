//! The request settings a Response object repeats back to its caller (`instructions`, `tools`,
//! `text`, `reasoning`, ...), kept from the caller's own request.
//!
//! Values the caller left out are echoed as `null` where the SDK types allow it, because the
//! gateway cannot know the upstream's defaults; `tool_choice`, `parallel_tool_calls`, `text` and
//! `tools` are not optional in the SDK types and echo OpenAI's documented defaults instead.

use serde_json::{Map, Number, Value, json};

/// What the answer repeats of the request. Build it with
/// [`decode_request_with_echo`](super::decode_request_with_echo); the default suits a request
/// that set nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEcho {
    pub(super) instructions: Option<String>,
    pub(super) tools: Vec<Value>,
    pub(super) tool_choice: Value,
    pub(super) parallel_tool_calls: bool,
    pub(super) temperature: Option<Number>,
    pub(super) top_p: Option<Number>,
    pub(super) max_output_tokens: Option<u32>,
    pub(super) text_format: Value,
    pub(super) reasoning: Option<Value>,
    /// The caller asked for reasoning summaries, so reasoning text is shown as `reasoning` items.
    pub(super) summaries: bool,
    pub(super) metadata: Value,
    pub(super) user: Option<String>,
}

impl Default for RequestEcho {
    fn default() -> Self {
        Self {
            instructions: None,
            tools: Vec::new(),
            tool_choice: json!("auto"),
            parallel_tool_calls: true,
            temperature: None,
            top_p: None,
            max_output_tokens: None,
            text_format: json!({ "type": "text" }),
            reasoning: None,
            summaries: false,
            metadata: json!({}),
            user: None,
        }
    }
}

impl RequestEcho {
    /// Writes the echoed fields into a Response object.
    pub(super) fn write_into(&self, object: &mut Map<String, Value>) {
        let fields = [
            ("instructions", json!(self.instructions)),
            ("tools", Value::Array(self.tools.clone())),
            ("tool_choice", self.tool_choice.clone()),
            ("parallel_tool_calls", json!(self.parallel_tool_calls)),
            ("temperature", json!(self.temperature)),
            ("top_p", json!(self.top_p)),
            ("max_output_tokens", json!(self.max_output_tokens)),
            ("text", json!({ "format": self.text_format })),
            ("reasoning", json!(self.reasoning)),
            ("metadata", self.metadata.clone()),
            ("user", json!(self.user)),
            // Nothing is stored and nothing is truncated by the gateway.
            ("store", json!(false)),
            ("previous_response_id", Value::Null),
            ("truncation", json!("disabled")),
            ("background", json!(false)),
        ];
        for (name, value) in fields {
            object.insert(name.to_owned(), value);
        }
    }
}
