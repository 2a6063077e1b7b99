//! Canonical stream events → `chat.completion.chunk` objects, one event at a time.
//!
//! The rules the official clients depend on: `role` only in the first chunk; a tool call's `id`,
//! `type` and `name` only in its first delta; tool-call `index` dense from 0 in call order;
//! `choices[].index` always 0; one `finish_reason`; `"usage":null` on every chunk and one final
//! usage chunk with empty `choices` only when the caller asked for usage. The caller writes
//! `data: [DONE]` after [`ChunkEncoder::end`] unless a [`Chunk::Error`] was produced.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::response::{WireUsage, finish_reason_name};
use crate::ResponseMeta;
use crate::canonical::{StreamError, StreamErrorKind, StreamEvent, Usage};

/// One `data:` payload for the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// A `chat.completion.chunk` object.
    Data(Value),
    /// An in-band error object; the stream ends after it, without `[DONE]`.
    Error(Value),
}

impl Chunk {
    pub fn into_value(self) -> Value {
        match self {
            Self::Data(v) | Self::Error(v) => v,
        }
    }
}

/// The state of one answer being re-framed as chat completion chunks.
#[derive(Debug)]
pub struct ChunkEncoder {
    meta: ResponseMeta,
    include_usage: bool,
    started: bool,
    finished: bool,
    failed: bool,
    /// Upstream tool index → (our dense index, whether any argument text was sent).
    tools: BTreeMap<u32, (u32, bool)>,
    usage: Option<Usage>,
}

impl ChunkEncoder {
    /// `include_usage`: the caller's `stream_options.include_usage`.
    pub fn new(meta: ResponseMeta, include_usage: bool) -> Self {
        Self {
            meta,
            include_usage,
            started: false,
            finished: false,
            failed: false,
            tools: BTreeMap::new(),
            usage: None,
        }
    }

    pub fn push(&mut self, event: StreamEvent) -> Vec<Chunk> {
        if self.failed {
            return Vec::new();
        }
        let mut out = Vec::new();
        match event {
            StreamEvent::Error(error) => {
                self.failed = true;
                out.push(Chunk::Error(error_object(&error)));
                return out;
            }
            StreamEvent::Usage(usage) => {
                self.usage = Some(usage);
                return out;
            }
            // Reasoning has no place in a chat completion.
            StreamEvent::ReasoningDelta(_) | StreamEvent::ReasoningSignature(_) => return out,
            _ => {}
        }
        if self.finished {
            return out;
        }
        self.start(&mut out);
        match event {
            StreamEvent::TextDelta(text) if !text.is_empty() => {
                out.push(self.chunk(json!({ "content": text }), None));
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let dense = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                self.tools.insert(index, (dense, false));
                let call = json!({
                    "index": dense, "id": id, "type": "function",
                    "function": { "name": name, "arguments": "" }
                });
                out.push(self.chunk(json!({ "tool_calls": [call] }), None));
            }
            StreamEvent::ToolCallArgsDelta { index, fragment } if !fragment.is_empty() => {
                match self.tools.get_mut(&index) {
                    Some((dense, sent)) => {
                        *sent = true;
                        let call =
                            json!({ "index": *dense, "function": { "arguments": fragment } });
                        out.push(self.chunk(json!({ "tool_calls": [call] }), None));
                    }
                    None => {
                        let error = StreamError::new(
                            StreamErrorKind::Protocol,
                            "tool call arguments arrived before the call started",
                        );
                        return self.push(StreamEvent::Error(error));
                    }
                }
            }
            StreamEvent::Finish { reason, .. } => {
                // A call that never got arguments gets `{}`, so clients do not parse "".
                let empty: Vec<u32> = self
                    .tools
                    .values()
                    .filter(|(_, sent)| !sent)
                    .map(|(dense, _)| *dense)
                    .collect();
                for dense in empty {
                    let call = json!({ "index": dense, "function": { "arguments": "{}" } });
                    out.push(self.chunk(json!({ "tool_calls": [call] }), None));
                }
                self.finished = true;
                out.push(self.chunk(json!({}), Some(finish_reason_name(reason))));
            }
            _ => {}
        }
        out
    }

    /// The upstream stream ended: the usage chunk if asked for, or an error if the answer never
    /// finished. The caller then writes `[DONE]` unless the last chunk was an error.
    pub fn end(&mut self) -> Vec<Chunk> {
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
        if !self.include_usage {
            return Vec::new();
        }
        let usage = WireUsage::from_canonical(&self.usage.unwrap_or_default());
        vec![Chunk::Data(json!({
            "id": self.meta.id,
            "object": "chat.completion.chunk",
            "created": self.meta.created,
            "model": self.meta.model,
            "choices": [],
            "usage": usage,
        }))]
    }

    fn start(&mut self, out: &mut Vec<Chunk>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({ "role": "assistant", "content": "" }), None));
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Chunk {
        let mut chunk = json!({
            "id": self.meta.id,
            "object": "chat.completion.chunk",
            "created": self.meta.created,
            "model": self.meta.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }],
        });
        if self.include_usage
            && let Some(object) = chunk.as_object_mut()
        {
            object.insert("usage".to_owned(), Value::Null);
        }
        Chunk::Data(chunk)
    }
}

/// OpenAI's in-band error object. Types follow OpenAI's own (`invalid_request_error`,
/// `server_error`); the code tells the class, so throttling stays recognisable as retryable.
fn error_object(error: &StreamError) -> Value {
    let (kind, code) = error_type_and_code(error.kind);
    json!({ "error": { "message": error.message, "type": kind, "code": code, "param": null } })
}

/// OpenAI's error `type` and `code` for a mid-stream failure; shared with the Responses dialect.
pub(crate) fn error_type_and_code(kind: StreamErrorKind) -> (&'static str, &'static str) {
    match kind {
        StreamErrorKind::InvalidRequest => ("invalid_request_error", "invalid_request"),
        StreamErrorKind::RateLimited => ("rate_limit_error", "rate_limit_exceeded"),
        StreamErrorKind::Overloaded => ("server_error", "overloaded"),
        StreamErrorKind::Server => ("server_error", "upstream_error"),
        StreamErrorKind::ModelError => ("server_error", "model_error"),
        StreamErrorKind::Timeout => ("server_error", "timeout"),
        StreamErrorKind::Protocol => ("server_error", "upstream_protocol_error"),
        StreamErrorKind::Truncated => ("server_error", "stream_truncated"),
    }
}
