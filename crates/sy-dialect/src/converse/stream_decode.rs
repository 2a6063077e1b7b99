//! ConverseStream events (an event-stream frame's `:event-type` or `:exception-type` and its JSON
//! payload) → canonical stream events, one frame at a time.
//!
//! Text and reasoning blocks have no start event, so a delta for an unseen block index is text or
//! reasoning by its own shape; tool calls start with `contentBlockStart` and get their own dense
//! index. `metadata` (usage) arrives after `messageStop`. The `p` padding field is ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::response::{WireUsage, finish_reason};
use crate::Translation;
use crate::anthropic::unforce;
use crate::canonical::{FinishReason, StreamError, StreamErrorKind, StreamEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockRole {
    Tool(u32),
    Answer,
}

#[derive(Debug)]
pub struct ConverseStreamDecoder {
    translation: Translation,
    tools: BTreeMap<u64, BlockRole>,
    tool_calls: u32,
    answered_by_tool: bool,
    finished: bool,
    done: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart {
    content_block_index: u64,
    start: Start,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Start {
    tool_use: Option<ToolUseStart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart {
    tool_use_id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta {
    content_block_index: u64,
    delta: Delta,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delta {
    text: Option<String>,
    tool_use: Option<ToolUseDelta>,
    reasoning_content: Option<ReasoningDelta>,
}

#[derive(Deserialize)]
struct ToolUseDelta {
    input: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningDelta {
    text: Option<String>,
    signature: Option<String>,
    redacted_content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    stop_reason: String,
    additional_model_response_fields: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Metadata {
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Exception {
    #[serde(alias = "Message")]
    message: Option<String>,
}

impl ConverseStreamDecoder {
    pub fn new(translation: &Translation) -> Self {
        Self {
            translation: translation.clone(),
            tools: BTreeMap::new(),
            tool_calls: 0,
            answered_by_tool: false,
            finished: false,
            done: false,
        }
    }

    /// One frame: its event type (or exception type) and JSON payload.
    pub fn push(&mut self, event_type: &str, payload: &[u8]) -> Vec<StreamEvent> {
        if self.done {
            return Vec::new();
        }
        let result = match event_type {
            "messageStart" => Ok(vec![StreamEvent::MessageStart {
                upstream_id: None,
                upstream_model: None,
            }]),
            "contentBlockStart" => parse(payload).map(|start| self.start(start)),
            "contentBlockDelta" => parse(payload).map(|delta| self.delta(delta)),
            "contentBlockStop" => Ok(Vec::new()),
            "messageStop" => parse(payload).map(|stop| self.stop(stop)),
            "metadata" => parse::<Metadata>(payload).map(|m| {
                self.done = self.finished;
                m.usage
                    .map(|u| StreamEvent::Usage(u.to_canonical()))
                    .into_iter()
                    .collect()
            }),
            other => match exception_kind(other) {
                Some(kind) => {
                    let message = parse::<Exception>(payload).ok().and_then(|e| e.message);
                    return self.fail(kind, message.unwrap_or_else(|| other.to_owned()));
                }
                // Unknown event types are ignored, as the AWS SDKs do.
                None => Ok(Vec::new()),
            },
        };
        result.unwrap_or_else(|e| {
            self.fail(
                StreamErrorKind::Protocol,
                format!("unreadable {event_type} event: {e}"),
            )
        })
    }

    /// A generic event-stream error frame (`:message-type error`, named by `:error-code`, its
    /// `:error-message` as `message`): the stream failed, whatever event it would have carried.
    /// Codes that name a modeled exception keep its meaning; others are server failures.
    pub fn error(&mut self, code: &str, message: &[u8]) -> Vec<StreamEvent> {
        let mut member = code.to_owned();
        if let Some(first) = member.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        let kind = exception_kind(&member).unwrap_or(StreamErrorKind::Server);
        let message = String::from_utf8_lossy(message);
        let message = if message.trim().is_empty() {
            code.to_owned()
        } else {
            format!("{code}: {message}")
        };
        self.fail(kind, message)
    }

    /// The upstream stream ended. Without `messageStop` the answer is cut short; without
    /// `metadata` only the usage is missing.
    pub fn end(&mut self) -> Vec<StreamEvent> {
        if self.done || self.finished {
            self.done = true;
            return Vec::new();
        }
        self.fail(
            StreamErrorKind::Truncated,
            "the Converse stream ended before messageStop",
        )
    }

    fn start(&mut self, start: BlockStart) -> Vec<StreamEvent> {
        let Some(tool) = start.start.tool_use else {
            return Vec::new();
        };
        if Some(tool.name.as_str()) == self.translation.json_tool.as_deref() {
            self.answered_by_tool = true;
            self.tools
                .insert(start.content_block_index, BlockRole::Answer);
            return Vec::new();
        }
        let index = self.tool_calls;
        self.tool_calls += 1;
        self.tools
            .insert(start.content_block_index, BlockRole::Tool(index));
        let mut name = tool.name;
        self.translation.restore_tool_name(&mut name);
        vec![StreamEvent::ToolCallStart {
            index,
            id: tool.tool_use_id,
            name,
        }]
    }

    fn delta(&mut self, delta: BlockDelta) -> Vec<StreamEvent> {
        let block = delta.content_block_index;
        let delta = delta.delta;
        let mut out = Vec::new();
        if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::TextDelta(text));
        }
        if let Some(reasoning) = delta.reasoning_content {
            out.extend(
                reasoning
                    .text
                    .filter(|t| !t.is_empty())
                    .map(StreamEvent::ReasoningDelta),
            );
            out.extend(reasoning.signature.map(StreamEvent::ReasoningSignature));
            out.extend(
                reasoning
                    .redacted_content
                    .map(StreamEvent::RedactedReasoning),
            );
        }
        if let Some(tool) = delta.tool_use {
            match self.tools.get(&block) {
                Some(_) if tool.input.is_empty() => {}
                Some(BlockRole::Answer) => out.push(StreamEvent::TextDelta(tool.input)),
                Some(BlockRole::Tool(index)) => out.push(StreamEvent::ToolCallArgsDelta {
                    index: *index,
                    fragment: tool.input,
                }),
                None => {
                    return self.fail(
                        StreamErrorKind::Protocol,
                        format!("tool input for block {block}, which never started as a tool call"),
                    );
                }
            }
        }
        out
    }

    fn stop(&mut self, stop: MessageStop) -> Vec<StreamEvent> {
        let reason = match finish_reason(&stop.stop_reason) {
            Ok(reason) => unforce(reason, self.answered_by_tool, self.tool_calls > 0),
            Err(e) => {
                let kind = if stop.stop_reason.starts_with("malformed") {
                    StreamErrorKind::ModelError
                } else {
                    StreamErrorKind::Protocol
                };
                return self.fail(kind, e.to_string());
            }
        };
        self.finished = true;
        let stop_sequence = stop
            .additional_model_response_fields
            .and_then(|f| serde_json::from_str::<serde_json::Value>(f.get()).ok())
            .and_then(|f| {
                f.get("stop_sequence")
                    .and_then(|s| s.as_str().map(str::to_owned))
            })
            .filter(|_| reason == FinishReason::StopSequence);
        vec![StreamEvent::Finish {
            reason,
            stop_sequence,
        }]
    }

    fn fail(&mut self, kind: StreamErrorKind, message: impl Into<String>) -> Vec<StreamEvent> {
        self.done = true;
        vec![StreamEvent::Error(StreamError::new(kind, message))]
    }
}

/// The payload checked as UTF-8 once, whole, rather than string by string as `from_slice` does:
/// one pass over a hundred bytes costs less than a call for every key and value.
fn parse<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, serde_json::Error> {
    let text = std::str::from_utf8(payload).map_err(serde::de::Error::custom)?;
    serde_json::from_str(text)
}

/// The ConverseStream exception members and what they mean across dialects (throttling stays
/// retryable).
fn exception_kind(name: &str) -> Option<StreamErrorKind> {
    Some(match name {
        "throttlingException" => StreamErrorKind::RateLimited,
        "serviceUnavailableException" => StreamErrorKind::Overloaded,
        "internalServerException" => StreamErrorKind::Server,
        "modelStreamErrorException" => StreamErrorKind::ModelError,
        "validationException" => StreamErrorKind::InvalidRequest,
        "modelTimeoutException" => StreamErrorKind::Timeout,
        _ => return None,
    })
}
