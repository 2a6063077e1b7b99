//! Canonical stream events → ConverseStream events (event type + JSON payload), one event at a
//! time, for callers using the AWS SDKs. The caller frames each as an event-stream message
//! (`:message-type event`, or `exception` for errors).
//!
//! Text and reasoning blocks start directly with a delta; tool blocks need `contentBlockStart`.
//! Blocks do not interleave: parallel tool calls whose fragments do are put one after another
//! ([`ToolCallOrder`]).
//! `messageStop` goes out at the finish; `metadata` (usage) when the upstream ends, as Converse
//! itself sends it last.

use serde_json::{Value, json};

use super::response::{Metrics, WireUsage, stop_reason_name};
use crate::canonical::{StreamError, StreamErrorKind, StreamEvent, ToolCallOrder, Usage};
use crate::ids::{CONVERSE_ID, rewrite_id};

/// One ConverseStream event for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseEvent {
    /// The `:event-type` (or `:exception-type` when `exception`).
    pub event_type: &'static str,
    pub exception: bool,
    pub payload: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Text,
    Reasoning,
    Tool(u32),
}

#[derive(Debug)]
pub struct ConverseStreamEncoder {
    started: bool,
    failed: bool,
    finished: bool,
    next_block: u64,
    open: Option<(u64, OpenBlock)>,
    usage: Usage,
    latency_ms: u64,
    tool_order: ToolCallOrder,
}

impl Default for ConverseStreamEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConverseStreamEncoder {
    pub fn new() -> Self {
        Self {
            started: false,
            failed: false,
            finished: false,
            next_block: 0,
            open: None,
            usage: Usage::default(),
            latency_ms: 0,
            tool_order: ToolCallOrder::default(),
        }
    }

    /// The gateway's latency, reported in the final `metadata` event's `metrics`.
    pub fn set_latency_ms(&mut self, latency_ms: u64) {
        self.latency_ms = latency_ms;
    }

    pub fn push(&mut self, event: StreamEvent) -> Vec<ConverseEvent> {
        let mut out = Vec::new();
        let mut tool_order = std::mem::take(&mut self.tool_order);
        tool_order.order(event, |event| self.push_ordered(event, &mut out));
        self.tool_order = tool_order;
        out
    }

    fn push_ordered(&mut self, event: StreamEvent, out: &mut Vec<ConverseEvent>) {
        if self.failed {
            return;
        }
        match event {
            StreamEvent::Error(error) => {
                self.failed = true;
                out.push(exception(&error));
                return;
            }
            StreamEvent::Usage(usage) => {
                self.usage = usage;
                return;
            }
            _ if self.finished => return,
            _ => {}
        }
        self.start(out);
        match event {
            StreamEvent::TextDelta(text) => {
                self.ensure_open(OpenBlock::Text, out);
                out.push(self.delta(json!({ "text": text })));
            }
            StreamEvent::ReasoningDelta(text) => {
                self.ensure_open(OpenBlock::Reasoning, out);
                out.push(self.delta(json!({ "reasoningContent": { "text": text } })));
            }
            StreamEvent::ReasoningSignature(signature) => {
                self.ensure_open(OpenBlock::Reasoning, out);
                out.push(self.delta(json!({ "reasoningContent": { "signature": signature } })));
            }
            StreamEvent::RedactedReasoning(data) => {
                // A reasoning block of its own: Converse does not mix redacted and readable
                // reasoning in one block.
                self.close(out);
                self.open_block(OpenBlock::Reasoning);
                out.push(self.delta(json!({ "reasoningContent": { "redactedContent": data } })));
                self.close(out);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.close(out);
                let block = self.open_block(OpenBlock::Tool(index));
                out.push(frame(
                    "contentBlockStart",
                    json!({
                        "contentBlockIndex": block,
                        "start": { "toolUse": { "toolUseId": rewrite_id(&id, CONVERSE_ID), "name": name } },
                    }),
                ));
            }
            StreamEvent::ToolCallArgsDelta { index, fragment } => {
                if self.open.map(|(_, b)| b) != Some(OpenBlock::Tool(index)) {
                    let error = StreamError::new(
                        StreamErrorKind::Protocol,
                        format!(
                            "arguments for tool call {index} arrived after its block was closed"
                        ),
                    );
                    self.push_ordered(StreamEvent::Error(error), out);
                    return;
                }
                out.push(self.delta(json!({ "toolUse": { "input": fragment } })));
            }
            StreamEvent::Finish { reason, .. } => {
                self.close(out);
                self.finished = true;
                out.push(frame(
                    "messageStop",
                    json!({ "stopReason": stop_reason_name(reason) }),
                ));
            }
            _ => {}
        }
    }

    /// The upstream stream ended: `metadata` with usage, or an exception if the answer never
    /// finished.
    pub fn end(&mut self) -> Vec<ConverseEvent> {
        if self.failed {
            return Vec::new();
        }
        if !self.finished {
            let error = StreamError::new(
                StreamErrorKind::Truncated,
                "the upstream stream ended before the answer finished",
            );
            return self.push(StreamEvent::Error(error));
        }
        self.failed = true; // nothing follows metadata
        vec![frame(
            "metadata",
            json!({
                "usage": WireUsage::from_canonical(&self.usage),
                "metrics": Metrics { latency_ms: self.latency_ms },
            }),
        )]
    }

    fn start(&mut self, out: &mut Vec<ConverseEvent>) {
        if !self.started {
            self.started = true;
            out.push(frame("messageStart", json!({ "role": "assistant" })));
        }
    }

    fn ensure_open(&mut self, kind: OpenBlock, out: &mut Vec<ConverseEvent>) {
        if self.open.map(|(_, b)| b) != Some(kind) {
            self.close(out);
            self.open_block(kind);
        }
    }

    fn open_block(&mut self, kind: OpenBlock) -> u64 {
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, kind));
        index
    }

    fn close(&mut self, out: &mut Vec<ConverseEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(frame(
                "contentBlockStop",
                json!({ "contentBlockIndex": index }),
            ));
        }
    }

    fn delta(&self, delta: Value) -> ConverseEvent {
        let index = self.open.map_or(0, |(i, _)| i);
        frame(
            "contentBlockDelta",
            json!({ "contentBlockIndex": index, "delta": delta }),
        )
    }
}

fn frame(event_type: &'static str, payload: Value) -> ConverseEvent {
    ConverseEvent {
        event_type,
        exception: false,
        payload,
    }
}

/// Exceptions keep their class: throttling stays `throttlingException`, which the AWS SDKs retry.
fn exception(error: &StreamError) -> ConverseEvent {
    let event_type = match error.kind {
        StreamErrorKind::InvalidRequest => "validationException",
        StreamErrorKind::RateLimited => "throttlingException",
        StreamErrorKind::Overloaded => "serviceUnavailableException",
        StreamErrorKind::ModelError => "modelStreamErrorException",
        StreamErrorKind::Server
        | StreamErrorKind::Timeout
        | StreamErrorKind::Protocol
        | StreamErrorKind::Truncated => "internalServerException",
    };
    ConverseEvent {
        event_type,
        exception: true,
        payload: json!({ "message": error.message }),
    }
}
