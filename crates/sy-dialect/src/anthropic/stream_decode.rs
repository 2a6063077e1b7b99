//! Anthropic SSE events → canonical stream events, one event at a time.
//!
//! Block indices are Anthropic's (text, thinking and tool blocks numbered together); tool calls get
//! their own dense index. Usage is cumulative: `message_start` gives the input side, the last
//! `message_delta` the output side (and, in newer API versions, the input side again).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::response::{WireUsage, finish_reason, unforce};
use crate::Translation;
use crate::canonical::{FinishReason, StreamError, StreamErrorKind, StreamEvent};

/// What an Anthropic content block became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockRole {
    Other,
    /// A block the canonical model does not carry (a server tool's use or result, which only a
    /// same-dialect stream relays): its deltas, arguments included, are not read.
    Foreign,
    Tool(u32),
    /// The forced answer tool: its arguments are the answer text.
    Answer,
}

#[derive(Debug)]
pub struct AnthropicStreamDecoder {
    translation: Translation,
    blocks: BTreeMap<u64, BlockRole>,
    tool_calls: u32,
    answered_by_tool: bool,
    usage: WireUsage,
    finished: bool,
    done: bool,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: Fragment,
    },
    ContentBlockStop {},
    MessageDelta {
        delta: MessageDelta,
        usage: Option<Value>,
    },
    MessageStop {},
    Ping {},
    Error {
        error: WireError,
    },
}

#[derive(Deserialize)]
struct StartMessage {
    id: Option<String>,
    model: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    Thinking {
        thinking: String,
    },
    RedactedThinking {
        data: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Fragment {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    r#type: String,
    message: String,
}

impl AnthropicStreamDecoder {
    pub fn new(translation: &Translation) -> Self {
        Self {
            translation: translation.clone(),
            blocks: BTreeMap::new(),
            tool_calls: 0,
            answered_by_tool: false,
            usage: WireUsage::default(),
            finished: false,
            done: false,
        }
    }

    /// One SSE event: its `event:` name (if any; the JSON `type` decides) and its `data:`.
    pub fn push(&mut self, _event_name: Option<&str>, data: &[u8]) -> Vec<StreamEvent> {
        if self.done {
            return Vec::new();
        }
        let event: Event = match serde_json::from_slice(data) {
            Ok(event) => event,
            // New event types are ignored, as the official SDKs do.
            Err(_) if is_unknown_type(data) => return Vec::new(),
            Err(e) => {
                return self.fail(
                    StreamErrorKind::Protocol,
                    format!("unreadable Anthropic event: {e}"),
                );
            }
        };
        match event {
            Event::MessageStart { message } => {
                if let Some(usage) = message.usage {
                    self.usage = usage;
                }
                vec![StreamEvent::MessageStart {
                    upstream_id: message.id,
                    upstream_model: message.model,
                }]
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => self.start_block(index, content_block),
            Event::ContentBlockDelta { index, delta } => self.delta(index, delta),
            Event::ContentBlockStop {} | Event::Ping {} => Vec::new(),
            Event::MessageDelta { delta, usage } => self.message_delta(delta, usage),
            Event::MessageStop {} => {
                self.done = true;
                if self.finished {
                    Vec::new()
                } else {
                    self.fail(
                        StreamErrorKind::Protocol,
                        "message_stop without a stop reason",
                    )
                }
            }
            Event::Error { error } => self.fail(error_kind(&error.r#type), error.message),
        }
    }

    /// The upstream stream ended; an answer that never stopped is an error.
    pub fn end(&mut self) -> Vec<StreamEvent> {
        if self.done {
            return Vec::new();
        }
        if self.finished {
            self.done = true;
            return Vec::new();
        }
        self.fail(
            StreamErrorKind::Truncated,
            "the Anthropic stream ended before message_stop",
        )
    }

    fn start_block(&mut self, index: u64, block: StartBlock) -> Vec<StreamEvent> {
        let (role, events) = match block {
            StartBlock::ToolUse { name, .. }
                if Some(name.as_str()) == self.translation.json_tool.as_deref() =>
            {
                self.answered_by_tool = true;
                (BlockRole::Answer, Vec::new())
            }
            StartBlock::ToolUse { id, mut name } => {
                self.translation.restore_tool_name(&mut name);
                let tool = self.tool_calls;
                self.tool_calls += 1;
                (
                    BlockRole::Tool(tool),
                    vec![StreamEvent::ToolCallStart {
                        index: tool,
                        id,
                        name,
                    }],
                )
            }
            StartBlock::Text { text } => {
                (BlockRole::Other, non_empty(text, StreamEvent::TextDelta))
            }
            StartBlock::Thinking { thinking } => (
                BlockRole::Other,
                non_empty(thinking, StreamEvent::ReasoningDelta),
            ),
            StartBlock::RedactedThinking { data } => {
                (BlockRole::Other, vec![StreamEvent::RedactedReasoning(data)])
            }
            StartBlock::Other => (BlockRole::Foreign, Vec::new()),
        };
        self.blocks.insert(index, role);
        events
    }

    fn delta(&mut self, index: u64, delta: Fragment) -> Vec<StreamEvent> {
        let Some(role) = self.blocks.get(&index).copied() else {
            return self.fail(
                StreamErrorKind::Protocol,
                format!("delta for block {index}, which never started"),
            );
        };
        match (delta, role) {
            (_, BlockRole::Foreign) => Vec::new(),
            (Fragment::TextDelta { text }, _) => non_empty(text, StreamEvent::TextDelta),
            (Fragment::ThinkingDelta { thinking }, _) => {
                non_empty(thinking, StreamEvent::ReasoningDelta)
            }
            (Fragment::SignatureDelta { signature }, _) => {
                vec![StreamEvent::ReasoningSignature(signature)]
            }
            (Fragment::InputJsonDelta { partial_json }, BlockRole::Answer) => {
                non_empty(partial_json, StreamEvent::TextDelta)
            }
            (Fragment::InputJsonDelta { partial_json }, BlockRole::Tool(tool)) => {
                non_empty(partial_json, |fragment| StreamEvent::ToolCallArgsDelta {
                    index: tool,
                    fragment,
                })
            }
            (Fragment::InputJsonDelta { .. }, BlockRole::Other) => self.fail(
                StreamErrorKind::Protocol,
                format!("argument delta for block {index}, which is not a tool call"),
            ),
            (Fragment::Other, _) => Vec::new(),
        }
    }

    fn message_delta(&mut self, delta: MessageDelta, usage: Option<Value>) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if let Some(usage) = usage {
            self.merge_usage(&usage);
        }
        if let Some(reason) = delta.stop_reason {
            let reason = match finish_reason(&reason) {
                Ok(reason) => reason,
                Err(e) => return self.fail(StreamErrorKind::Protocol, e.to_string()),
            };
            let reason = unforce(reason, self.answered_by_tool, self.tool_calls > 0);
            let stop_sequence = delta
                .stop_sequence
                .filter(|_| reason == FinishReason::StopSequence);
            self.finished = true;
            events.push(StreamEvent::Finish {
                reason,
                stop_sequence,
            });
        }
        events.push(StreamEvent::Usage(self.usage.to_canonical()));
        events
    }

    /// `message_delta.usage` repeats only some fields; absent ones keep their `message_start` value.
    fn merge_usage(&mut self, usage: &Value) {
        let field = |name: &str| usage.get(name).and_then(Value::as_u64);
        if let Some(n) = field("input_tokens") {
            self.usage.input_tokens = n;
        }
        if let Some(n) = field("cache_creation_input_tokens") {
            self.usage.cache_creation_input_tokens = n;
        }
        if let Some(n) = field("cache_read_input_tokens") {
            self.usage.cache_read_input_tokens = n;
        }
        if let Some(n) = field("output_tokens") {
            self.usage.output_tokens = n;
        }
        if let Some(details) = usage.get("output_tokens_details")
            && let Ok(details) = serde_json::from_value(details.clone())
        {
            self.usage.output_tokens_details = Some(details);
        }
    }

    fn fail(&mut self, kind: StreamErrorKind, message: impl Into<String>) -> Vec<StreamEvent> {
        self.done = true;
        vec![StreamEvent::Error(StreamError::new(kind, message))]
    }
}

fn non_empty(text: String, event: impl FnOnce(String) -> StreamEvent) -> Vec<StreamEvent> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![event(text)]
    }
}

fn is_unknown_type(data: &[u8]) -> bool {
    const KNOWN: &[&str] = &[
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    ];
    serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| {
            v.get("type")
                .and_then(Value::as_str)
                .map(|t| !KNOWN.contains(&t))
        })
        .unwrap_or(false)
}

pub(crate) fn error_kind(kind: &str) -> StreamErrorKind {
    match kind {
        "rate_limit_error" => StreamErrorKind::RateLimited,
        "overloaded_error" => StreamErrorKind::Overloaded,
        "timeout_error" => StreamErrorKind::Timeout,
        "invalid_request_error"
        | "request_too_large"
        | "not_found_error"
        | "permission_error"
        | "authentication_error"
        | "billing_error" => StreamErrorKind::InvalidRequest,
        _ => StreamErrorKind::Server,
    }
}
