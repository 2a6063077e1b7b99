//! Gemini SSE (`alt=sse`) chunks → canonical stream events, one `data:` payload at a time.
//!
//! Each chunk holds only new parts; function calls arrive whole (start + one argument fragment),
//! each with its own tool index in arrival order even when parallel calls share a chunk or a name.
//! `usageMetadata` is cumulative: it is reported with the finish and again if a later chunk
//! changes it. A stream that ends without a finish reason is an error (Gemini has no in-band one).

use crate::Translation;
use crate::canonical::{FinishReason, StreamError, StreamErrorKind, StreamEvent, Usage};

use super::response::{Chunk, finish_reason, tool_call};

#[derive(Debug)]
pub struct GeminiStreamDecoder {
    translation: Translation,
    started: bool,
    tool_calls: u32,
    finished: bool,
    done: bool,
    usage: Option<Usage>,
}

impl GeminiStreamDecoder {
    pub fn new(translation: &Translation) -> Self {
        Self {
            translation: translation.clone(),
            started: false,
            tool_calls: 0,
            finished: false,
            done: false,
            usage: None,
        }
    }

    /// One SSE `data:` payload (a `GenerateContentResponse`).
    pub fn push(&mut self, data: &[u8]) -> Vec<StreamEvent> {
        if self.done {
            return Vec::new();
        }
        let chunk: Chunk = match serde_json::from_slice(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                return self.fail(
                    StreamErrorKind::Protocol,
                    format!("unreadable Gemini chunk: {e}"),
                );
            }
        };
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                upstream_id: chunk.response_id.clone(),
                upstream_model: chunk.model_version.clone(),
            });
        }
        let usage = chunk.usage_metadata.map(|u| u.to_canonical());
        let answer_id = chunk.response_id.unwrap_or_default();
        let Some(candidate) = chunk.candidates.into_iter().next() else {
            if chunk.prompt_feedback.and_then(|f| f.block_reason).is_some() {
                self.finish(FinishReason::ContentFilter, usage, &mut out);
            } else {
                self.update_usage(usage, &mut out);
            }
            return out;
        };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                let index = self.tool_calls;
                let position = usize::try_from(index).unwrap_or(usize::MAX);
                let signature = part.thought_signature.as_deref();
                let call = match tool_call(call, signature, &answer_id, position, &self.translation)
                {
                    Ok(call) => call,
                    Err(e) => {
                        out.extend(self.fail(StreamErrorKind::Protocol, e));
                        return out;
                    }
                };
                self.tool_calls += 1;
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id: call.id,
                    name: call.name,
                });
                out.push(StreamEvent::ToolCallArgsDelta {
                    index,
                    fragment: call.arguments.as_str().to_owned(),
                });
            } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                out.push(if part.thought {
                    StreamEvent::ReasoningDelta(text)
                } else {
                    StreamEvent::TextDelta(text)
                });
            }
        }
        match candidate.finish_reason {
            Some(reason) if !self.finished => match finish_reason(&reason, self.tool_calls > 0) {
                Ok(reason) => self.finish(reason, usage, &mut out),
                Err(message) => {
                    out.extend(self.fail(StreamErrorKind::ModelError, message));
                }
            },
            _ => self.update_usage(usage, &mut out),
        }
        out
    }

    /// The upstream stream ended; without a finish reason the answer was cut short.
    pub fn end(&mut self) -> Vec<StreamEvent> {
        if self.done || self.finished {
            self.done = true;
            return Vec::new();
        }
        self.fail(
            StreamErrorKind::Truncated,
            "the Gemini stream ended without a finish reason",
        )
    }

    fn finish(&mut self, reason: FinishReason, usage: Option<Usage>, out: &mut Vec<StreamEvent>) {
        self.finished = true;
        out.push(StreamEvent::Finish {
            reason,
            stop_sequence: None,
        });
        if let Some(usage) = usage.or(self.usage) {
            self.usage = Some(usage);
            out.push(StreamEvent::Usage(usage));
        }
    }

    /// Before the finish, usage is only remembered; after it, a change is reported.
    fn update_usage(&mut self, usage: Option<Usage>, out: &mut Vec<StreamEvent>) {
        let Some(usage) = usage else { return };
        let changed = self.usage != Some(usage);
        self.usage = Some(usage);
        if self.finished && changed {
            out.push(StreamEvent::Usage(usage));
        }
    }

    fn fail(&mut self, kind: StreamErrorKind, message: impl Into<String>) -> Vec<StreamEvent> {
        self.done = true;
        vec![StreamEvent::Error(StreamError::new(kind, message))]
    }
}
