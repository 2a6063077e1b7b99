//! Canonical stream events → Anthropic SSE events (`event:` name + JSON data), one event at a time.
//!
//! Order the SDK enforces: `message_start` first, block indices dense from 0, every delta inside a
//! started block, `message_delta` then `message_stop` last. Blocks cannot interleave, so a new
//! kind of content closes the open block, and parallel tool calls whose fragments interleave are
//! put one after another ([`ToolCallOrder`]). The stop reason is held until the upstream ends,
//! because some upstreams (Converse) send usage after the stop and `message_delta` carries both.

use serde::Serialize;
use serde_json::{Value, json};

use super::response::{WireUsage, stop_reason_name};
use crate::ResponseMeta;
use crate::canonical::{
    FinishReason, StreamError, StreamErrorKind, StreamEvent, ToolCallOrder, Usage,
};
use crate::ids::{ANTHROPIC_CALLER_ID, rewrite_id};
use crate::sse::SseEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    Thinking,
    Tool(u32),
}

#[derive(Debug)]
pub struct AnthropicStreamEncoder {
    meta: ResponseMeta,
    started: bool,
    failed: bool,
    next_block: u64,
    open: Option<(u64, OpenBlock)>,
    finish: Option<(FinishReason, Option<String>)>,
    usage: Usage,
    tool_order: ToolCallOrder,
}

impl AnthropicStreamEncoder {
    pub fn new(meta: ResponseMeta) -> Self {
        Self {
            meta,
            started: false,
            failed: false,
            next_block: 0,
            open: None,
            finish: None,
            usage: Usage::default(),
            tool_order: ToolCallOrder::default(),
        }
    }

    pub fn push(&mut self, event: StreamEvent) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut tool_order = std::mem::take(&mut self.tool_order);
        tool_order.order(event, |event| self.push_ordered(event, &mut out));
        self.tool_order = tool_order;
        out
    }

    fn push_ordered(&mut self, event: StreamEvent, out: &mut Vec<SseEvent>) {
        if self.failed {
            return;
        }
        if let StreamEvent::Error(error) = event {
            self.failed = true;
            out.push(error_event(&error));
            return;
        }
        if let StreamEvent::Usage(usage) = event {
            self.usage = usage;
            return;
        }
        if self.finish.is_some() {
            return;
        }
        self.start(out);
        match event {
            StreamEvent::TextDelta(text) => {
                self.ensure_open(OpenBlock::Text, json!({ "type": "text", "text": "" }), out);
                out.push(self.delta(Delta::Text { text: &text }));
            }
            StreamEvent::ReasoningDelta(text) => {
                self.ensure_open(OpenBlock::Thinking, thinking_start(), out);
                out.push(self.delta(Delta::Thinking { thinking: &text }));
            }
            StreamEvent::ReasoningSignature(signature) => {
                self.ensure_open(OpenBlock::Thinking, thinking_start(), out);
                out.push(self.delta(Delta::Signature {
                    signature: &signature,
                }));
            }
            StreamEvent::RedactedReasoning(data) => {
                // A block of its own, whole at its start, as Anthropic streams it.
                self.close(out);
                let block = json!({ "type": "redacted_thinking", "data": data });
                self.open_block(OpenBlock::Thinking, block, out);
                self.close(out);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.close(out);
                let block = json!({ "type": "tool_use", "id": rewrite_id(&id, ANTHROPIC_CALLER_ID), "name": name, "input": {} });
                self.open_block(OpenBlock::Tool(index), block, out);
            }
            StreamEvent::ToolCallArgsDelta { index, fragment } => {
                if self.open.map(|(_, b)| b) == Some(OpenBlock::Tool(index)) {
                    out.push(self.delta(Delta::InputJson {
                        partial_json: &fragment,
                    }));
                } else {
                    let error = StreamError::new(
                        StreamErrorKind::Protocol,
                        format!(
                            "arguments for tool call {index} arrived after its block was closed"
                        ),
                    );
                    self.push_ordered(StreamEvent::Error(error), out);
                }
            }
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => {
                self.close(out);
                self.finish = Some((reason, stop_sequence));
            }
            _ => {}
        }
    }

    /// The upstream stream ended: `message_delta` and `message_stop`, or an error if the answer
    /// never finished.
    pub fn end(&mut self) -> Vec<SseEvent> {
        if self.failed {
            return Vec::new();
        }
        let Some((reason, stop_sequence)) = self.finish.take() else {
            let error = StreamError::new(
                StreamErrorKind::Truncated,
                "the upstream stream ended before the answer finished",
            );
            return self.push(StreamEvent::Error(error));
        };
        self.failed = true; // nothing may follow message_stop
        let usage = WireUsage::from_canonical(&self.usage);
        vec![
            SseEvent::new(
                "message_delta",
                &json!({
                    "type": "message_delta",
                    "delta": { "stop_reason": stop_reason_name(reason), "stop_sequence": stop_sequence },
                    "usage": usage,
                }),
            ),
            SseEvent::new("message_stop", &json!({ "type": "message_stop" })),
        ]
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "type": "message_start",
            "message": {
                "id": self.meta.id, "type": "message", "role": "assistant", "model": self.meta.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": 0, "output_tokens": 0 },
            },
        });
        out.push(SseEvent::new("message_start", &message));
        out.push(SseEvent::new("ping", &json!({ "type": "ping" })));
    }

    fn ensure_open(&mut self, kind: OpenBlock, block: Value, out: &mut Vec<SseEvent>) {
        if self.open.map(|(_, b)| b) != Some(kind) {
            self.close(out);
            self.open_block(kind, block, out);
        }
    }

    fn open_block(&mut self, kind: OpenBlock, block: Value, out: &mut Vec<SseEvent>) {
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, kind));
        out.push(SseEvent::new(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index, "content_block": block }),
        ));
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(SseEvent::new(
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": index }),
            ));
        }
    }

    /// A delta of the open block, written from borrowed text: one of these goes out per word.
    fn delta(&self, delta: Delta<'_>) -> SseEvent {
        let index = self.open.map_or(0, |(i, _)| i);
        SseEvent::new(
            "content_block_delta",
            &BlockDelta {
                kind: "content_block_delta",
                index,
                delta,
            },
        )
    }
}

/// `content_block_delta`, with its fields in the order Anthropic sends them.
#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u64,
    delta: Delta<'a>,
}

/// The `delta` of a `content_block_delta`, named by its `type`.
#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

fn thinking_start() -> Value {
    json!({ "type": "thinking", "thinking": "", "signature": "" })
}

fn error_event(error: &StreamError) -> SseEvent {
    let kind = match error.kind {
        StreamErrorKind::InvalidRequest => "invalid_request_error",
        StreamErrorKind::RateLimited => "rate_limit_error",
        StreamErrorKind::Overloaded => "overloaded_error",
        StreamErrorKind::Timeout => "timeout_error",
        StreamErrorKind::Server
        | StreamErrorKind::ModelError
        | StreamErrorKind::Protocol
        | StreamErrorKind::Truncated => "api_error",
    };
    SseEvent::new(
        "error",
        &json!({ "type": "error", "error": { "type": kind, "message": error.message } }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder() -> AnthropicStreamEncoder {
        AnthropicStreamEncoder::new(ResponseMeta {
            id: "msg_1".to_owned(),
            model: "claude".to_owned(),
            created: 0,
        })
    }

    #[test]
    fn word_deltas_are_written_in_anthropics_field_order() {
        let mut encoder = encoder();
        let events = encoder.push(StreamEvent::TextDelta("Hi \"there\"".to_owned()));
        let names: Vec<&str> = events.iter().map(|e| e.event).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta"
            ]
        );
        assert_eq!(
            events[3].data,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \"there\""}}"#
        );
        let call = StreamEvent::ToolCallStart {
            index: 0,
            id: "toolu_1".to_owned(),
            name: "f".to_owned(),
        };
        encoder.push(call);
        let args = encoder.push(StreamEvent::ToolCallArgsDelta {
            index: 0,
            fragment: "{\"a\":".to_owned(),
        });
        assert_eq!(
            args[0].data,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#
        );
        assert_eq!(args[0].value()["delta"]["partial_json"], "{\"a\":");
    }
}
